"""`wirematch replay ...`: generate, send, capture, compare, measure.

    wirematch replay gen flow.pcap --seed 7 --sessions 32 --packets 20000
    wirematch replay gen adv.pcap --adversarial            (+ adv.pcap.json sidecar)
    wirematch replay send flow.pcap --iface veth0 --pps 50000 --sent-pcap sent.pcap
    wirematch replay capture veth0 out.pcap --seconds 5
    wirematch replay golden flow.pcap --output out.pcap            (model vs capture)
    wirematch replay golden flow.pcap --inprocess --record g.json  (C parts in process)
    wirematch replay golden flow.pcap --output out.pcap --check g.json
    wirematch replay report --sent sent.pcap --output out.pcap --dir report/
    wirematch replay run flow.pcap --backend af_xdp [--record g.json | --check g.json]

Every command takes --config CFG (the appliance's configuration: address,
instruments, flow rules, market-data destination) and --json.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from wirematch.nic.caps import backend_names
from wirematch.output import CliError, Command
from wirematch.output import emit as _emit


def _setup(args: argparse.Namespace) -> Any:
    from wirematch.replay.setup import Setup

    if not getattr(args, "config", None):
        return Setup()
    from wirematch.pipeline.config import ConfigError, load_config

    try:
        return Setup.from_config(load_config(args.config))
    except ConfigError as exc:
        raise CliError(str(exc)) from exc


def _read(path: str) -> list[Any]:
    from wirematch.replay.pcapio import PcapError, read_pcap

    try:
        return read_pcap(path)
    except (OSError, PcapError) as exc:
        raise CliError(str(exc)) from exc


def cmd_gen(args: argparse.Namespace) -> None:
    from wirematch.replay.gen import GenSpec, addresses, adversarial, generate

    setup = _setup(args)
    spec = GenSpec(
        seed=args.seed,
        sessions=args.sessions,
        packets=args.packets,
        pps=args.pps,
        client_addrs=addresses(args.client, args.clients),
        first_port=args.first_port,
    )
    cap = adversarial(spec, setup, flood=args.flood) if args.adversarial else generate(spec, setup)
    pcap, side = cap.write(args.out)
    info = {"pcap": str(pcap), "sidecar": str(side), "packets": len(cap.records)}
    if args.adversarial:
        info["expected_counts"] = cap.sidecar["expected_counts"]
    _emit(args, info, f"wrote {pcap} ({len(cap.records)} packets) and {side}")


def cmd_send(args: argparse.Namespace) -> None:
    from wirematch.replay.send import Pace, ReplayError, replay_argv, run_replay

    if bool(args.iface) == bool(args.udp):
        raise CliError("give one of --iface IF or --udp HOST:PORT")
    pace = Pace(pps=args.pps or 0.0, topspeed=args.topspeed, speed=args.speed)
    try:
        argv = replay_argv(
            args.pcap,
            iface=args.iface,
            udp=args.udp,
            pace=pace,
            loops=args.loop,
            count=args.count,
            duration=args.duration,
            batch=args.batch,
            keep_sport=args.keep_sport,
            dst_mac=args.dst_mac,
            sent_pcap=args.sent_pcap,
            cpu=args.cpu,
            fifo=args.fifo,
        )
        s = run_replay(argv, netns=args.netns, timeout=args.timeout)
    except ReplayError as exc:
        raise CliError(str(exc)) from exc
    _emit(args, s, s.pop("text") if not args.json else "")


def cmd_capture(args: argparse.Namespace) -> None:
    from wirematch.replay.capture import capture

    try:
        got = capture(args.iface, args.seconds, args.max_packets, args.netns)
    except OSError as exc:
        raise CliError(f"capture on {args.iface}: {exc}") from exc
    got.write(args.out)
    s = got.summary()
    _emit(
        args,
        {"pcap": args.out, **s},
        f"wrote {args.out}: {s['packets']} packets ({s['outgoing']} outgoing), "
        f"kernel drops {s['kernel_drops']}"
        + (" (stopped at --max-packets)" if s["truncated"] else ""),
    )


def _divergence_text(d: dict[str, Any]) -> str:
    lines = [
        f"first divergence in {d['stream']} at message {d['index']} "
        f"(expected {d['expected_count']} messages, got {d['actual_count']})",
        f"  expected: {d['expected']}",
        f"  actual:   {d['actual']}",
    ]
    if "cause" in d:
        lines.append(f"  caused by input packet {d['cause']['input_record']}: "
                     f"{d['cause'].get('input', '')}")  # fmt: skip
    lines.append("  context (expected):")
    lines += [f"    {m}" for m in d["expected_context"]]
    lines.append("  context (actual):")
    lines += [f"    {m}" for m in d["actual_context"]]
    return "\n".join(lines)


def cmd_golden(args: argparse.Namespace) -> None:
    from wirematch.replay import compare, inprocess, model

    setup = _setup(args)
    inputs = _read(args.input)
    exp = model.expected(inputs, setup)
    if args.inprocess:
        actual = compare.from_capture(inprocess.run(inputs, setup).records, setup)
        source = "in-process C gateway + matcher"
    elif args.output:
        actual = compare.from_capture(_read(args.output), setup)
        source = args.output
    else:
        actual = None
        source = "the golden model"
    if args.check:
        try:
            expected, doc = compare.read_golden(args.check)
        except (OSError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        causes = None
        against = f"golden file {args.check}"
    else:
        expected, causes = compare.from_expected(exp), compare.causes_of(exp)
        against = "the golden model"
    result: dict[str, Any] = {"input": args.input, "against": against, "actual": source}
    if actual is not None:
        rep = compare.compare(expected, actual, causes, compare.input_messages(inputs))
        result.update(rep)
    else:
        result.update(
            hash=expected.hash(), streams={k: len(v) for k, v in expected.messages.items()}
        )
    if args.record:
        streams = actual if actual is not None else expected
        meta = {"input": args.input, "source": source}
        compare.write_golden(args.record, streams, meta)
        result["recorded"] = args.record
    result["counters"] = dict(sorted(exp.counters.items()))
    if "identical" in result and result["identical"]:
        text = f"identical ({source} vs {against}); event-stream hash {result['hash']}"
    elif "identical" in result:
        parts = [f"DIFFERENT ({source} vs {against})"] + result["problems"]
        parts += [_divergence_text(d) for d in result["divergences"][:1]]
        parts.append(f"{len(result['divergences'])} stream(s) diverge")
        text = "\n".join(parts)
    else:
        text = f"expected event-stream hash {result['hash']}"
    text += "\nignored: " + "; ".join(compare.IGNORED)
    if args.record:
        text += f"\nrecorded {args.record}"
    _emit(args, result, text)
    if "identical" in result and not result["identical"]:
        raise CliError("the output differs")


def cmd_report(args: argparse.Namespace) -> None:
    from wirematch.replay.measure import report

    rep = report(
        _read(args.sent), _read(args.output), _setup(args), args.dir, args.bin_ms * 1_000_000
    )
    r = rep["latency"]["reply"]
    text = (
        f"{r.get('count', 0)} replies matched, p50 {r.get('p50_ns', 0) / 1e3:.1f} µs, "
        f"p99 {r.get('p99_ns', 0) / 1e3:.1f} µs, max {r.get('max_ns', 0) / 1e3:.1f} µs; "
        f"unmatched {rep['latency']['unmatched_replies']}; golden identical: "
        f"{rep['golden']['identical']}\nfiles: {', '.join(rep['files'])}"
    )
    _emit(args, rep, text)


def cmd_run(args: argparse.Namespace) -> None:
    from wirematch.replay import compare
    from wirematch.replay.run import RunError, golden_run
    from wirematch.replay.send import Pace, ReplayError

    pace = Pace(pps=args.pps or 0.0, topspeed=False, speed=args.speed)
    try:
        res = golden_run(args.pcap, args.backend, pace=pace, settle_s=args.settle)
    except (RunError, ReplayError, OSError) as exc:
        raise CliError(f"replay run: {exc}") from exc
    out = res.summary()
    text_parts = []
    if args.check:
        try:
            golden, _ = compare.read_golden(args.check)
        except (OSError, ValueError) as exc:
            raise CliError(str(exc)) from exc
        rep = compare.compare(golden, compare.from_capture(res.output, res.setup))
        out.update(checked=args.check, identical=rep["identical"], hash=rep["hash"],
                   expected_hash=rep["expected_hash"], divergences=rep["divergences"])  # fmt: skip
        against = f"golden file {args.check}"
    else:
        against = "the golden model"
    if args.record:
        compare.write_golden(
            args.record,
            compare.from_capture(res.output, res.setup),
            {"input": args.pcap, "source": f"appliance, backend {args.backend}"},
        )
        out["recorded"] = args.record
    if args.report:
        from wirematch.replay.measure import report

        pace = f"{args.pps:,.0f} packets/s" if args.pps else f"recorded pace x{args.speed:g}"
        rep2 = report(
            res.sent, res.output, res.setup, args.report, details=f"{args.backend}, {pace}"
        )
        out["report"] = rep2["files"]
        text_parts.append(f"report: {', '.join(rep2['files'])}")
    if out["identical"]:
        head = (
            f"identical (appliance, backend {args.backend}, vs {against}); "
            f"event-stream hash {out['hash']}"
        )
    else:
        head = "\n".join(
            [f"DIFFERENT (appliance, backend {args.backend}, vs {against})"]
            + out["problems"]
            + [_divergence_text(d) for d in out["divergences"][:1]]
            + [f"{len(out['divergences'])} stream(s) diverge"]
        )
    _emit(args, out, "\n".join([head, *text_parts]))
    if not out["identical"]:
        raise CliError("the appliance's output differs")


def register_commands(register: Callable[[Command], None]) -> None:
    """Add the `replay` commands to the CLI's command table."""
    for path, func, help_, arguments in COMMANDS:
        register(Command(path, func, help_, arguments))


_CONFIG = (("--config",), {"help": "appliance configuration (default: the harness's setup)"})
_NETNS = (("--netns",), {"help": "run inside this network namespace"})

COMMANDS: list[tuple[Any, ...]] = [
    (
        ("replay", "gen"),
        cmd_gen,
        "generate a seeded OUCH-in-MoldUDP64 capture (byte-identical for the same seed)",
        (
            (("out",), {"help": "pcap to write (sidecar: OUT.json)"}),
            (("--seed",), {"type": int, "default": 1, "help": "same seed, same bytes"}),
            (("--sessions",), {"type": int, "default": 16, "help": "client flows"}),
            (("--packets",), {"type": int, "default": 10_000, "help": "order packets"}),
            (("--pps",), {"type": float, "default": 20_000.0, "help": "mean recorded rate"}),
            (("--client",), {"default": "10.199.0.2", "help": "first client address"}),
            (("--clients",), {"type": int, "default": 1, "help": "client addresses"}),
            (("--first-port",), {"type": int, "default": 40000, "help": "first client port"}),
            (("--adversarial",), {"action": "store_true", "help": "inject faults (sidecar)"}),
            (("--flood",), {"type": int, "default": 200, "help": "packets of the denied flood"}),
            _CONFIG,
        ),
    ),
    (
        ("replay", "send"),
        cmd_send,
        "replay a capture at its recorded pace, --pps or --topspeed (tools/replay/wm_replay)",
        (
            (("pcap",), {"help": "the capture to replay"}),
            (("--iface",), {"help": "send the frames on this interface (AF_PACKET)"}),
            (("--udp",), {"help": "send the UDP payloads to HOST:PORT"}),
            (("--pps",), {"type": float, "help": "packets/s instead of the recorded pace"}),
            (("--topspeed",), {"action": "store_true", "help": "as fast as it can send"}),
            (("--speed",), {"type": float, "default": 1.0, "help": "recorded pace multiplier"}),
            (("--loop",), {"type": int, "default": 1, "help": "times through the capture"}),
            (("--count",), {"type": int, "default": 0, "help": "stop after N packets (0: all)"}),
            (("--duration",), {"type": float, "default": 0.0, "help": "stop after S s (0: none)"}),
            (("--batch",), {"type": int, "default": 32, "help": "packets per send call"}),
            (
                ("--keep-sport",),
                {"action": "store_true", "help": "keep the recorded UDP source ports (--udp)"},
            ),
            (("--dst-mac",), {"help": "rewrite the destination MAC (--iface)"}),
            (("--sent-pcap",), {"help": "write what was sent, stamped at hand-over"}),
            (("--cpu",), {"type": int, "default": -1, "help": "pin the sender (-1: no)"}),
            (("--fifo",), {"action": "store_true", "help": "SCHED_FIFO during the run"}),
            (("--timeout",), {"type": float, "default": 600.0, "help": "give up after S s"}),
            _NETNS,
        ),
    ),
    (
        ("replay", "capture"),
        cmd_capture,
        "capture an interface's traffic (both directions) to a pcap, bounded in time",
        (
            (("iface",), {"help": "interface to capture on"}),
            (("out",), {"help": "pcap to write"}),
            (("--seconds",), {"type": float, "default": 5.0, "help": "capture for S seconds"}),
            (
                ("--max-packets",),
                {"type": int, "default": 1_000_000, "help": "stop after N packets"},
            ),
            _NETNS,
        ),
    ),
    (
        ("replay", "golden"),
        cmd_golden,
        "compare output with the golden model or a golden file; record golden files",
        (
            (("input",), {"help": "the input capture"}),
            (("--output",), {"help": "the captured output of the appliance"}),
            (
                ("--inprocess",),
                {"action": "store_true", "help": "output of the C parts, in process"},
            ),
            (("--check",), {"help": "compare against this golden file instead of the model"}),
            (("--record",), {"help": "write a golden file of the output (or the model)"}),
            _CONFIG,
        ),
    ),
    (
        ("replay", "run"),
        cmd_run,
        "golden run through the real appliance on a veth pair: replay, capture, compare",
        (
            (("pcap",), {"help": "the input capture (its sidecar gives the setup)"}),
            (
                ("--backend",),
                {
                    "default": "socket",
                    "choices": backend_names(),
                    "help": "the appliance's NIC backend (default: socket)",
                },
            ),
            (("--pps",), {"type": float, "help": "replay at this rate (default: recorded)"}),
            (("--speed",), {"type": float, "default": 1.0, "help": "recorded pace multiplier"}),
            (("--settle",), {"type": float, "default": 10.0, "help": "max s to wait for drain"}),
            (("--check",), {"help": "compare against this golden file instead of the model"}),
            (("--record",), {"help": "write a golden file of the appliance's output"}),
            (("--report",), {"help": "write the measurement report (JSON, PNG) here"}),
        ),
    ),
    (
        ("replay", "report"),
        cmd_report,
        "latency (wire-in to reply-out) and throughput: report.json and PNG plots",
        (
            (("--sent",), {"required": True, "help": "what was sent (wm_replay --sent-pcap)"}),
            (("--output",), {"required": True, "help": "what came back (a capture)"}),
            (("--dir",), {"default": "replay-report", "help": "where the report goes"}),
            (("--bin-ms",), {"type": int, "default": 10, "help": "throughput bin"}),
            _CONFIG,
        ),
    ),
]
