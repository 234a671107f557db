"""The appliance's configuration file (TOML), declared as data.

Every key is declared once below with its type, default and a sentence
(Faucet's conf.py style); the loader fills defaults, rejects unknown keys
and bad values with one error type, ConfigError, whose message starts with
the key's path (`instruments[2].tick_size: must be > 0, got 0`).
docs/config.md is generated from these declarations (`python3 -m
wirematch.pipeline.config --markdown`), and a test keeps the two identical.
"""

from __future__ import annotations

import argparse
import grp
import ipaddress
import json
import os
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REQUIRED = object()  # a key with no default


class ConfigError(ValueError):
    """A bad configuration: str() is `key.path: what is wrong`."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


Check = Callable[[Any], str | None]  # returns a complaint, or None


@dataclass(frozen=True)
class Key:
    name: str
    type: type | tuple[type, ...]
    default: Any
    doc: str
    check: Check | None = None


@dataclass(frozen=True)
class Section:
    name: str
    doc: str
    keys: tuple[Key, ...]
    array: bool = False  # [[name]]: a list of tables


# -- value checks --------------------------------------------------------------


def positive(v: Any) -> str | None:
    return None if v > 0 else f"must be > 0, got {v}"


def at_least(lo: int | float) -> Check:
    return lambda v: None if v >= lo else f"must be >= {lo}, got {v}"


def in_range(lo: int, hi: int) -> Check:
    return lambda v: None if lo <= v <= hi else f"must be {lo}..{hi}, got {v}"


def power_of_two(lo: int, hi: int) -> Check:
    def check(v: int) -> str | None:
        if v < lo or v > hi or v & (v - 1):
            return f"must be a power of two in {lo}..{hi}, got {v}"
        return None

    return check


def one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(choices)}; got {v!r}"


def memory_bytes() -> int:
    """This machine's physical memory (MemTotal), 0 if unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def region_size(v: int) -> str | None:
    """At least 1 MiB, and at most half of this machine's memory: the region is
    populated when it is created, so a larger one takes memory from others."""
    if v < 1 << 20:
        return f"must be >= {1 << 20}, got {v}"
    total = memory_bytes()
    if total and v > total // 2:
        return (
            f"{v} bytes is more than half of this machine's memory "
            f"({total >> 20} MiB); the region is populated when it is created"
        )
    return None


def group_name(v: str) -> str | None:
    if not v:
        return None
    try:
        grp.getgrnam(v)
    except KeyError:
        return f"no group named {v!r} on this machine"
    return None


def nonempty(v: str) -> str | None:
    return None if v.strip() else "must not be empty"


def host_port(v: str) -> str | None:
    host, sep, port = v.rpartition(":")
    if not sep:
        return f"must be address:port, got {v!r}"
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return f"{host!r} is not an IPv4 address (in {v!r})"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return f"port must be 1..65535 (in {v!r})"
    return None


def split_host_port(v: str) -> tuple[str, int]:
    """An "address:port" value (checked by host_port) as (address, port)."""
    host, _, port = v.rpartition(":")
    return host, int(port)


def machine_cores() -> set[int]:
    return set(os.sched_getaffinity(0))


def core(v: int) -> str | None:
    cores = machine_cores()
    if v not in cores:
        return f"core {v} is not available to this process (cores {sorted(cores)})"
    return None


def cores(v: list[Any]) -> str | None:
    for c in v:
        if not isinstance(c, int) or isinstance(c, bool):
            return f"must be a list of core numbers, got {v!r}"
        msg = core(c)
        if msg:
            return msg
    return None


def backend(v: str) -> str | None:
    from wirematch.nic.caps import backend_names

    names = backend_names()
    return None if v in names else f"unknown backend {v!r}: choose one of {', '.join(names)}"


# -- the declarations ----------------------------------------------------------

SECTIONS: tuple[Section, ...] = (
    Section(
        "appliance",
        "The instance as a whole.",
        (
            Key(
                "name",
                str,
                "wirematch",
                "shared-memory region name (`wirematch shm show NAME`)",
                nonempty,
            ),
            Key(
                "shm_size",
                int,
                64 << 20,
                "bytes of the shared-memory region (at most half of the machine's memory)",
                region_size,
            ),
            Key(
                "shm_group",
                str,
                "",
                "a group that may read the region (mode 0640); empty: its owner only (0600). "
                "The region holds clients' orders",
                group_name,
            ),
            Key(
                "hugepages",
                bool,
                True,
                "back the region with 2 MiB pages when a hugetlbfs mount has room",
            ),
            Key(
                "on_sequence_gap",
                str,
                "accept",
                "a client's MoldUDP64 gap: apply what arrives and give the missing messages "
                "up, counted (accept), or drop what follows until it resends from the gap (drop)",
                one_of("drop", "accept"),
            ),
        ),
    ),
    Section(
        "interfaces",
        "Where order-entry packets arrive; one table per interface.",
        (
            Key(
                "name",
                str,
                REQUIRED,
                "interface name (`wirematch nic list`), or a pcap path for backend pcap",
                nonempty,
            ),
            Key(
                "backend",
                str,
                "socket",
                "packet I/O backend: one of the backends this build has",
                backend,
            ),
            Key(
                "address",
                str,
                "0.0.0.0:15000",
                "local address:port the order-entry traffic is sent to",
                host_port,
            ),
            Key("queues", int, 1, "receive queues (one rx worker each)", in_range(1, 64)),
            Key(
                "rcvbuf",
                int,
                8 << 20,
                "socket and io_uring backends: receive buffer bytes per queue (absorbs bursts "
                "while the worker is busy; 0 = the kernel's default)",
                in_range(0, 1 << 30),
            ),
            Key(
                "rx_cores",
                list,
                [],
                "core of each rx worker, one per queue ([] = not pinned)",
                cores,
            ),
        ),
        array=True,
    ),
    Section(
        "matcher",
        "The matching engine's thread and its rings.",
        (
            Key("core", int, -1, "core the matcher thread is pinned to (-1 = not pinned)"),
            Key(
                "idle",
                str,
                "adaptive",
                "idle strategy of every worker thread: spin (busy-poll, a full core), "
                "spin_yield (spin, then sched_yield: still a busy core when alone), sleep "
                "(spin, then 50 us sleeps) or adaptive (spin idle_spin_us, yield "
                "idle_yield_us, then sleep from 50 us doubling to idle_max_sleep_us; "
                'docs/appliance.md, "Idle strategies")',
                one_of("spin", "spin_yield", "sleep", "adaptive"),
            ),
            Key(
                "idle_spin_us",
                int,
                50,
                "adaptive: microseconds of spinning after the last work",
                in_range(1, 1_000_000),
            ),
            Key(
                "idle_yield_us",
                int,
                200,
                "adaptive: microseconds of sched_yield after the spinning",
                in_range(1, 1_000_000),
            ),
            Key(
                "idle_max_sleep_us",
                int,
                200,
                "adaptive: the longest sleep, in microseconds (the worst wake-up delay)",
                in_range(1, 1_000_000),
            ),
            Key(
                "burst",
                int,
                32,
                "packets per receive burst and commands per ring dequeue",
                in_range(1, 256),
            ),
            Key(
                "rx_backlog",
                int,
                32,
                "commands waiting in the command ring at which the rx stages stop taking "
                "packets until the matcher catches up: low = each order matched before later "
                "packets are parsed (latency); 0 = receive until the ring is full",
                in_range(0, 1 << 24),
            ),
            Key(
                "cmd_ring",
                int,
                1 << 14,
                "command ring slots (power of two)",
                power_of_two(64, 1 << 24),
            ),
            Key(
                "event_ring",
                int,
                1 << 18,
                "event ring slots (power of two)",
                power_of_two(64, 1 << 26),
            ),
            Key(
                "max_orders", int, 1 << 20, "live orders over all instruments", in_range(1, 1 << 26)
            ),
        ),
    ),
    Section(
        "instruments",
        "What is traded; one table per instrument.",
        (
            Key(
                "symbol",
                str,
                REQUIRED,
                "ticker (up to 8 characters, the ITCH stock field)",
                lambda v: None if 0 < len(v) <= 8 else f"must be 1..8 characters, got {v!r}",
            ),
            Key(
                "id",
                int,
                REQUIRED,
                "instrument id, the ITCH stock locate (1..65535)",
                in_range(1, 65535),
            ),
            Key("tick_size", int, 1, "prices are multiples of this (price units)", positive),
            Key("lot_size", int, 1, "quantities are multiples of this", positive),
            Key("min_qty", int, 1, "smallest order quantity", positive),
            Key("max_qty", int, 1_000_000, "largest order quantity", positive),
            Key(
                "ref_price",
                int,
                REQUIRED,
                "reference price: centre of the price band (on tick)",
                positive,
            ),
            Key(
                "band",
                int,
                0,
                "orders priced farther than this from ref_price are rejected (0 = no band)",
                at_least(0),
            ),
        ),
        array=True,
    ),
    Section(
        "sessions",
        "Client sessions the flow rules allow in; one table per session.",
        (
            Key(
                "id",
                int,
                REQUIRED,
                "session id used by the flow rules (`as session ID`)",
                in_range(0, (1 << 16) - 1),
            ),
            Key("name", str, REQUIRED, "operator's name for the session", nonempty),
            Key("account", str, "", "account the session trades for"),
            Key(
                "rate",
                int,
                0,
                "messages per second allowed (0 = no limit; a rule's rate overrides)",
                at_least(0),
            ),
            Key("burst", int, 0, "token-bucket depth (0 = rate / 10)", in_range(0, 1 << 30)),
        ),
        array=True,
    ),
    Section(
        "flows",
        "Flow classification: rules, table size, slow-path protection (docs/flows.md).",
        (
            Key(
                "rules",
                str,
                "",
                "rule text, one rule per line (docs/flows.md); unknown flows are denied",
            ),
            Key(
                "rules_file",
                str,
                "",
                "read the rules from this file instead (relative to the config file)",
            ),
            Key("capacity", int, 65536, "flows in the table at most", in_range(1, 1 << 24)),
            Key(
                "max_new_per_sec",
                int,
                10000,
                "new flows per second sent to the classifier (0 = no limit)",
                at_least(0),
            ),
            Key(
                "idle_timeout",
                (int, float),
                300,
                "seconds without a packet before a flow ages out",
                positive,
            ),
            Key(
                "slow_path_ring",
                int,
                4096,
                "slow-path ring slots (power of two)",
                power_of_two(64, 1 << 20),
            ),
        ),
    ),
    Section(
        "market_data",
        "Where market data (MoldUDP64 + ITCH) is sent.",
        (
            Key(
                "destination",
                str,
                "239.1.1.1:26400",
                "address:port (multicast or unicast)",
                host_port,
            ),
            Key("ttl", int, 1, "multicast TTL", in_range(0, 255)),
        ),
    ),
    Section(
        "metrics",
        "Prometheus export.",
        (
            Key(
                "address",
                str,
                "127.0.0.1:9108",
                "address:port of the /metrics endpoint and the dashboard",
                host_port,
            ),
            Key(
                "rx_to_match_p99_slo_us",
                float,
                1000.0,
                "receive-to-match p99 objective in µs, exported as "
                "wirematch_slo_rx_to_match_p99_seconds for the alert rules",
                at_least(0.001),
            ),
        ),
    ),
    Section(
        "api",
        "The operator API.",
        (
            Key("address", str, "127.0.0.1:8780", "address:port the API listens on", host_port),
            Key(
                "allow_remote",
                bool,
                False,
                "let the API listen on a non-loopback address (it speaks plain HTTP: put "
                "it behind TLS)",
            ),
            Key(
                "token",
                str,
                "",
                "bearer token the API requires (empty = a random one, written 0600 to "
                "/run/wirematch/NAME.token)",
            ),
        ),
    ),
)

DEFAULT_TOML = """\
# The configuration `wirematch` runs with when none is given
# (`wirematch config default` prints it; docs/config.md lists every key).

[appliance]
name = "wirematch"
shm_size = 67108864
hugepages = true

[[interfaces]]
name = "lo"
backend = "socket"
address = "127.0.0.1:15000"
queues = 1

[matcher]
idle = "adaptive"

[[instruments]]
symbol = "WMTA"
id = 1
tick_size = 1
lot_size = 1
ref_price = 100000
band = 10000

[[instruments]]
symbol = "WMTB"
id = 2
tick_size = 5
lot_size = 100
min_qty = 100
ref_price = 250000

[[sessions]]
id = 1
name = "demo-client"
account = "DEMO"
rate = 100000

[flows]
rules = '''
allow src 127.0.0.0/8 dport 15000 proto udp as session 1
'''
capacity = 65536
max_new_per_sec = 10000
idle_timeout = 300

[market_data]
destination = "239.1.1.1:26400"
ttl = 1

[metrics]
address = "127.0.0.1:9108"

[api]
address = "127.0.0.1:8780"
"""


# -- loading ---------------------------------------------------------------------


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "an integer",
        bool: "true or false",
        list: "a list",
        float: "a number",
    }
    if isinstance(t, tuple):
        return " or ".join(names[x] for x in t)
    return names[t]


def _check_type(v: Any, t: type | tuple[type, ...]) -> bool:
    ts = t if isinstance(t, tuple) else (t,)
    if isinstance(v, bool) and bool not in ts:
        return False
    return isinstance(v, ts)


def _table(sec: Section, raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(path, f"must be a table, got {type(raw).__name__}")
    known = {k.name for k in sec.keys}
    for name in raw:
        if name not in known:
            raise ConfigError(
                f"{path}.{name}",
                f"unknown key; {path.split('[')[0]} has {', '.join(sorted(known))}",
            )
    out: dict[str, Any] = {}
    for key in sec.keys:
        kp = f"{path}.{key.name}"
        if key.name not in raw:
            if key.default is REQUIRED:
                raise ConfigError(kp, "is required")
            out[key.name] = key.default
            continue
        v = raw[key.name]
        if not _check_type(v, key.type):
            raise ConfigError(kp, f"must be {_type_name(key.type)}, got {v!r}")
        if key.check is not None:
            msg = key.check(v)
            if msg:
                raise ConfigError(kp, msg)
        out[key.name] = v
    return out


@dataclass
class Config:
    data: dict[str, Any]
    source: str = "<default>"
    rules: Any = field(default=None)  # classify.rules.RuleSet

    def __getitem__(self, section: str) -> Any:
        return self.data[section]


def _cross_checks(cfg: dict[str, Any], base: Path | None) -> Any:
    from wirematch.classify.rules import AUTO, RuleError, parse_rules

    api_host = cfg["api"]["address"].rpartition(":")[0]
    if not cfg["api"]["allow_remote"] and not ipaddress.IPv4Address(api_host).is_loopback:
        raise ConfigError(
            "api.address",
            f"{api_host} is not a loopback address: the API speaks plain HTTP; "
            "set api.allow_remote = true to listen there anyway",
        )
    for sec, key in (("instruments", "id"), ("instruments", "symbol"), ("sessions", "id")):
        seen: dict[Any, int] = {}
        for i, item in enumerate(cfg[sec]):
            if item[key] in seen:
                raise ConfigError(
                    f"{sec}[{i}].{key}", f"{item[key]!r} is also {sec}[{seen[item[key]]}].{key}"
                )
            seen[item[key]] = i
    for i, ins in enumerate(cfg["instruments"]):
        p = f"instruments[{i}]"
        if ins["max_qty"] < ins["min_qty"]:
            raise ConfigError(
                f"{p}.max_qty", f"must be >= min_qty ({ins['min_qty']}), got {ins['max_qty']}"
            )
        if ins["ref_price"] % ins["tick_size"]:
            raise ConfigError(
                f"{p}.ref_price",
                f"must be a multiple of tick_size ({ins['tick_size']}), got {ins['ref_price']}",
            )
        if ins["min_qty"] % ins["lot_size"]:
            raise ConfigError(
                f"{p}.min_qty",
                f"must be a multiple of lot_size ({ins['lot_size']}), got {ins['min_qty']}",
            )
    for i, itf in enumerate(cfg["interfaces"]):
        if itf["rx_cores"] and len(itf["rx_cores"]) != itf["queues"]:
            raise ConfigError(
                f"interfaces[{i}].rx_cores",
                f"needs one core per queue ({itf['queues']}), got {itf['rx_cores']}",
            )
    flows = cfg["flows"]
    if flows["rules"] and flows["rules_file"]:
        raise ConfigError("flows.rules_file", "give either rules or rules_file, not both")
    text, where = flows["rules"], "flows.rules"
    if flows["rules_file"]:
        path = Path(flows["rules_file"])
        if base is not None and not path.is_absolute():
            path = base / path
        where = "flows.rules_file"
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(where, f"cannot read {path}: {exc.strerror}") from None
    try:
        rules = parse_rules(text)
    except RuleError as exc:
        raise ConfigError(where, str(exc)) from None
    declared = {s["id"] for s in cfg["sessions"]}
    for r in rules.rules:
        if r.allow and r.session != AUTO and r.session not in declared:
            raise ConfigError(
                where, f"line {r.line}: session {r.session} is not declared in [[sessions]]"
            )
    return rules


# What SIGHUP applies to a running appliance; any other change needs a restart.
LIVE_KEYS = ("flows.rules", "flows.rules_file")


def changed_keys(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(key path, old value, new value) of every leaf that differs."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            sub = f"{path}.{k}" if path else k
            out += changed_keys(old.get(k), new.get(k), sub)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [c for i, (a, b) in enumerate(zip(old, new, strict=True))
                for c in changed_keys(a, b, f"{path}[{i}]")]  # fmt: skip
    return [] if old == new else [(path, old, new)]


def parse_config(text: str, source: str = "<string>", base: Path | None = None) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, f"not valid TOML: {exc}") from None
    names = {s.name for s in SECTIONS}
    for name in raw:
        if name not in names:
            raise ConfigError(
                name, f"unknown section; sections are {', '.join(s.name for s in SECTIONS)}"
            )
    data: dict[str, Any] = {}
    for sec in SECTIONS:
        if sec.array:
            items = raw.get(sec.name, [])
            if not isinstance(items, list):
                raise ConfigError(sec.name, f"must be an array of tables ([[{sec.name}]])")
            data[sec.name] = [_table(sec, it, f"{sec.name}[{i}]") for i, it in enumerate(items)]
        else:
            data[sec.name] = _table(sec, raw.get(sec.name, {}), sec.name)
    if not data["interfaces"]:
        raise ConfigError("interfaces", "at least one [[interfaces]] is needed")
    if not data["instruments"]:
        raise ConfigError("instruments", "at least one [[instruments]] is needed")
    rules = _cross_checks(data, base)
    return Config(data, source, rules)


def load_config(path: str | Path) -> Config:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(str(p), f"cannot read: {exc.strerror}") from None
    return parse_config(text, str(p), p.resolve().parent)


def default_config() -> Config:
    return parse_config(DEFAULT_TOML, "<default>")


def config_markdown() -> str:
    """docs/config.md, generated from SECTIONS."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from pipeline/config.py by"
        " `.venv/bin/python -m wirematch.pipeline.config --markdown`;",
        "     tests/test_config.py checks that it is up to date. -->",
        "",
        "The appliance reads one TOML file (`wirematch config check FILE` validates it;",
        "`wirematch config default` prints the built-in one).  Unknown sections and keys",
        "are errors; every error names the key, e.g.",
        "`instruments[2].tick_size: must be > 0, got 0`.",
        "",
    ]
    for sec in SECTIONS:
        head = f"[[{sec.name}]]" if sec.array else f"[{sec.name}]"
        lines += [
            f"## `{head}`",
            "",
            sec.doc,
            "",
            "| key | type | default | meaning |",
            "|---|---|---|---|",
        ]
        for k in sec.keys:
            default = "required" if k.default is REQUIRED else f"`{json.dumps(k.default)}`"
            lines.append(f"| `{k.name}` | {_type_name(k.type)} | {default} | {k.doc} |")
        lines.append("")
    return "\n".join(lines)


# -- CLI --------------------------------------------------------------------------


def cmd_config_check(args: argparse.Namespace) -> None:
    try:
        cfg = load_config(args.file)
    except ConfigError as exc:
        if args.json:
            print(json.dumps({"ok": False, "key": exc.path, "error": str(exc)}, indent=2))
        else:
            print(f"wirematch: {args.file}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    summary = {
        "ok": True,
        "file": args.file,
        "interfaces": len(cfg["interfaces"]),
        "instruments": len(cfg["instruments"]),
        "sessions": len(cfg["sessions"]),
        "rules": len(cfg.rules.rules),
        "config": cfg.data,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"{args.file}: ok ({summary['interfaces']} interfaces, {summary['instruments']} "
        f"instruments, {summary['sessions']} sessions, {summary['rules']} flow rules)"
    )


def cmd_config_default(args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(default_config().data, indent=2))
    else:
        sys.stdout.write(DEFAULT_TOML)


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(config_markdown())
    else:
        print("usage: .venv/bin/python -m wirematch.pipeline.config --markdown", file=sys.stderr)
        sys.exit(2)
