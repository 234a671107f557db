"""`wirematch`: the appliance's command line.

Subcommands are declared in one table (COMMANDS); every one takes --json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from typing import Any

from wirematch import __version__
from wirematch.output import CliError, Command
from wirematch.output import emit as _emit

__all__ = ["COMMANDS", "CliError", "Command", "build_parser", "main", "register"]


def cmd_shm_ls(args: argparse.Namespace) -> None:
    from wirematch.pipeline.native.shm import Region, RegionError

    rows = []
    for name in Region.list_names():
        try:
            with Region.attach(name) as r:
                rows.append(r.info())
        except RegionError as exc:
            rows.append({"name": name, "error": str(exc)})
    lines = [f"{'name':24} {'size':>10} {'used':>10} {'objects':>7} {'hugepages':>9} creator"]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['name']:24} unreadable: {r['error']}")
        else:
            lines.append(
                f"{r['name']:24} {r['size']:>10} {r['used']:>10} {r['objects']:>7} "
                f"{'yes' if r['hugepages'] else 'no':>9} pid {r['creator_pid']}"
            )
    _emit(args, rows, "\n".join(lines) if rows else "no wirematch regions")


def describe_region(name: str) -> dict[str, Any]:
    """Everything readable in a region, attached read-only."""
    from wirematch.pipeline.native.shm import Region

    with Region.attach(name) as r:
        out: dict[str, Any] = {"region": r.info(), "objects": []}
        for obj in r.objects():
            entry: dict[str, Any] = asdict(obj)
            if obj.type == "counters":
                entry["values"] = r.counters(obj.name).snapshot()
            elif obj.type == "histogram":
                entry["summary"] = r.histogram(obj.name).summary()
            elif obj.type == "ring":
                entry.update(r.ring_info(obj.name))
            out["objects"].append(entry)
        return out


def cmd_shm_show(args: argparse.Namespace) -> None:
    from wirematch.pipeline.native.shm import RegionError

    try:
        data = describe_region(args.name)
    except RegionError as exc:
        raise CliError(str(exc)) from exc
    info = data["region"]
    lines = [
        f"region {info['name']}: {info['used']}/{info['size']} bytes, "
        f"{info['objects']} objects, {'hugepages' if info['hugepages'] else '/dev/shm'}, "
        f"created by pid {info['creator_pid']}"
    ]
    for obj in data["objects"]:
        lines.append(f"  {obj['type']:9} {obj['name']}")
        for k, v in obj.get("values", {}).items():
            lines.append(f"      {k:40} {v}")
        if "summary" in obj:
            lines.append("      " + "  ".join(f"{k}={v:g}" for k, v in obj["summary"].items()))
        if "capacity" in obj:
            lines.append(
                f"      {obj['count']}/{obj['capacity']} elements of {obj['elem_size']} bytes"
            )
    _emit(args, data, "\n".join(lines))


def cmd_shm_rm(args: argparse.Namespace) -> None:
    from wirematch.pipeline.native.shm import Region, RegionError

    try:
        Region.unlink(args.name)
    except RegionError as exc:
        raise CliError(str(exc)) from exc
    _emit(args, {"removed": args.name}, f"removed region {args.name}")


def cmd_clock(args: argparse.Namespace) -> None:
    import time

    from wirematch.pipeline.native.clock import Clock

    clk = Clock()
    time.sleep(args.seconds)
    drift = clk.recalibrate()
    info = asdict(clk.info())
    info["drift_ppb"] = drift
    text = (
        f"source {info['source']}, invariant TSC: {'yes' if info['invariant_tsc'] else 'no'}\n"
        f"TSC {info['tsc_hz'] / 1e9:.6f} GHz, drift over {args.seconds:g} s: {drift} ppb "
        f"(error {info['last_error_ns']} ns)"
    )
    _emit(args, info, text)


def cmd_nic_list(args: argparse.Namespace) -> None:
    from wirematch.nic.inventory import cmd_nic_list as run

    run(args)


def cmd_nic_detach(args: argparse.Namespace) -> None:
    from wirematch.nic.xdp import cmd_nic_detach as run

    run(args)


def cmd_demo_rings(args: argparse.Namespace) -> None:
    from wirematch.pipeline.demo import cmd_demo as run

    run(args)


def cmd_demo(args: argparse.Namespace) -> None:
    from wirematch.pipeline.quickstart import cmd_demo as run

    run(args)


def cmd_run(args: argparse.Namespace) -> None:
    from wirematch.pipeline.run import cmd_run as run

    run(args)


def cmd_config_check(args: argparse.Namespace) -> None:
    from wirematch.pipeline.config import cmd_config_check as run

    run(args)


def cmd_config_default(args: argparse.Namespace) -> None:
    from wirematch.pipeline.config import cmd_config_default as run

    run(args)


COMMANDS: list[Command] = [
    Command(
        ("run",),
        cmd_run,
        "run the appliance in the foreground (Ctrl-C stops it cleanly and prints a summary)",
        (
            (("config",), {"nargs": "?", "help": "TOML configuration (default: the built-in)"}),
            (("--duration",), {"type": float, "default": 0.0, "help": "stop after S seconds"}),
        ),
    ),
    Command(
        ("demo",),
        cmd_demo,
        "the appliance on a veth pair driven by the load generator: a paced phase at a "
        "rate it sustains, then a short overload test; what it did and how fast",
        (
            (
                ("--seconds",),
                {"type": float, "default": 3.0, "help": "length of the paced phase"},
            ),
            (
                ("--pps",),
                {
                    "type": float,
                    "default": 10_000.0,
                    "help": "packets/s of the paced phase (0: top speed)",
                },
            ),
            (
                ("--overload-seconds",),
                {
                    "type": float,
                    "default": 1.5,
                    "help": "length of the top-speed overload test that follows (0: none)",
                },
            ),
            (("--sessions",), {"type": int, "default": 8, "help": "client sessions"}),
            (("--msgs",), {"type": int, "default": 16, "help": "orders per packet"}),
            (
                ("--backend",),
                {
                    "default": None,
                    "choices": ["af_xdp", "io_uring", "socket"],
                    "help": "only this backend (default: the best that works here)",
                },
            ),
        ),
    ),
    Command(
        ("demo-rings",),
        cmd_demo_rings,
        "run a seeded order flow through the rings and the matcher thread; print a summary",
        (
            (("--commands",), {"type": int, "default": 2_000_000, "help": "order commands"}),
            (("--seed",), {"type": int, "default": 1, "help": "same seed, same order flow"}),
            (("--sessions",), {"type": int, "default": 16, "help": "client sessions"}),
            (("--batch",), {"type": int, "default": 256, "help": "commands per ring enqueue"}),
            (
                ("--max-inflight",),
                {"type": int, "default": 1024, "help": "commands queued for the matcher, at most"},
            ),
            (
                ("--idle",),
                {
                    "choices": ["spin", "spin_yield", "sleep", "adaptive"],
                    "default": "adaptive",
                    "help": "what the matcher thread does when its ring is empty",
                },
            ),
        ),
    ),
    Command(("shm", "ls"), cmd_shm_ls, "list the shared-memory regions on this machine"),
    Command(
        ("shm", "show"),
        cmd_shm_show,
        "attach read-only to a region and show its counters, histograms and rings",
        ((("name",), {"help": "region name"}),),
    ),
    Command(
        ("shm", "rm"), cmd_shm_rm, "remove a region by name", ((("name",), {"help": "region"}),)
    ),
    Command(
        ("clock",),
        cmd_clock,
        "calibrate the TSC clock and measure its drift",
        ((("--seconds",), {"type": float, "default": 1.0, "help": "drift window"}),),
    ),
    Command(
        ("config", "check"),
        cmd_config_check,
        "validate a configuration file; the first bad key is named",
        ((("file",), {"help": "TOML configuration file"}),),
    ),
    Command(("config", "default"), cmd_config_default, "print the built-in configuration"),
    Command(
        ("nic", "list"),
        cmd_nic_list,
        "network interfaces: queues, drivers, XDP support; RDMA devices",
    ),
    Command(
        ("nic", "detach"),
        cmd_nic_detach,
        "detach wirematch's XDP program from an interface (after a crashed run)",
        (
            (("ifname",), {"help": "interface"}),
            (("--force",), {"action": "store_true", "help": "even if its owner still runs"}),
        ),
    ),
]


def register(command: Command) -> None:
    """Add a subcommand to the table (the operator and replay modules declare theirs)."""
    COMMANDS.append(command)


def _register_commands() -> None:
    """status, top, flows, metrics, book, halt, resume, cancel-all; replay ..."""
    from wirematch.pipeline.ops import api, metrics, status
    from wirematch.replay import cli as replay_cli

    for module in (status, metrics, api, replay_cli):
        module.register_commands(register)


_registered = False


def build_parser() -> argparse.ArgumentParser:
    global _registered
    if not _registered:  # the operator and replay modules load the native core
        _register_commands()
        _registered = True
    parser = argparse.ArgumentParser(prog="wirematch", description=__doc__)
    parser.add_argument("--version", action="version", version=f"wirematch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction] = {}
    for cmd in COMMANDS:
        if len(cmd.path) == 1:
            p = sub.add_parser(cmd.path[0], help=cmd.help, description=cmd.help)
        else:
            group = cmd.path[0]
            if group not in groups:
                gp = sub.add_parser(group, help=f"{group} commands")
                groups[group] = gp.add_subparsers(dest="subcommand", required=True)
            p = groups[group].add_parser(cmd.path[1], help=cmd.help, description=cmd.help)
        for flags, kwargs in cmd.arguments:
            p.add_argument(*flags, **kwargs)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        p.set_defaults(func=cmd.func)
    return parser


def _report(args: argparse.Namespace, exc: CliError) -> None:
    """An error as one line on stderr, or as a JSON object on stdout (--json)."""
    if getattr(args, "json", False):
        words = [args.command, getattr(args, "subcommand", None)]
        cmd = " ".join(w for w in words if w)
        print(json.dumps({"error": str(exc), "command": cmd}))
    else:
        print(f"wirematch: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()
    except ImportError as exc:  # NativeBuildMissing: the native core is not built
        print(f"wirematch: {exc}", file=sys.stderr)
        return 1
    return run_command(parser.parse_args(argv))


def run_command(args: argparse.Namespace) -> int:
    try:
        args.func(args)
        sys.stdout.flush()
    except CliError as exc:
        _report(args, exc)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`wirematch ... | head`): stop quietly, and keep
        # the interpreter's own flush at exit from raising it again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a killed writer
    return 0
