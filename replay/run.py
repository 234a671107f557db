"""A golden run through the real appliance: a capture replayed over a veth
pair into `pipeline.appliance.Appliance`, its replies and market data
captured on the client side and compared with the golden model.

    res = golden_run("flow.pcap", "socket")       # or "io_uring", "af_xdp"
    res.identical, res.hash, res.report["divergences"][0]

The steps (docs/replay.md, "Golden runs through the appliance"):

1. A veth pair (`nic.testhost.veth_host`): the appliance on the host end,
   the replayer and the capture in the pair's namespace.
2. The capture is re-addressed to the pair: the capture's appliance address
   becomes the host end's, its one client address the peer's (frames that
   are not IPv4/UDP are sent unchanged; sources no rule allows, such as an
   adversarial flood's, keep their address).  The run's Setup is the
   capture's (its sidecar) with the same substitution in the flow rules;
   the market-data destination is the peer, so the feed is captured too.
3. The appliance's configuration is written from that Setup (`config_toml`),
   started with the given backend; the capture is replayed (`wm_replay
   --iface`, recorded pace by default) while `replay.capture.Capturer`
   records both directions on the peer interface.
4. When the engine has taken every message the rx stage accepted, the
   appliance is stopped cleanly (every session is sent System Event 'E'),
   the capture stopped, and `compare.compare` decides: "identical" with
   the event-stream hash, or each stream's first divergence.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from wirematch.replay import compare, model
from wirematch.replay.pcapio import Record, parse_udp, read_pcap, udp_frame, write_pcap
from wirematch.replay.send import Pace, replay_argv, run_replay
from wirematch.replay.setup import Setup

MD_PORT_DEFAULT = 26400


class RunError(RuntimeError):
    """The run could not be made (capture, veth, appliance, replayer)."""


@dataclass
class RunResult:
    """What a golden run found."""

    backend: str
    identical: bool
    hash: str
    expected_hash: str
    report: dict[str, Any]  # compare.compare's answer
    final: dict[str, Any]  # the appliance's final status (all counters)
    expected: model.Expected
    setup: Setup
    inputs: list[tuple[int, bytes]]  # the capture (its own addresses)
    output: list[tuple[int, bytes]]  # what the peer interface saw, in the capture's addresses
    sent: list[Record] = field(default_factory=list)  # wm_replay --sent-pcap, capture's addresses
    replay: dict[str, Any] = field(default_factory=dict)  # wm_replay's summary

    def summary(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "identical": self.identical,
            "hash": self.hash,
            "expected_hash": self.expected_hash,
            "problems": self.report.get("problems", []),
            "divergences": self.report.get("divergences", []),
            "sent": self.replay.get("sent"),
            "output_packets": len(self.output),
            "predicted_counters": predicted_counters(self.expected),
            "counters": {
                k: v
                for k, v in self.final.get("counters", {}).items()
                if k in ("rx.q0", "codec.q0", "gateway.s0", "matcher.s0", "engine.s0", "nic.q0")
            },
            "classifier": self.final.get("classifier", {}),
        }


# ---- the Setup of a run and the appliance's configuration ------------------


def setup_of_capture(pcap: str | Path) -> tuple[Setup, list[str]]:
    """The Setup and client addresses a capture was generated for (its
    sidecar), or the harness default."""
    side = Path(str(pcap) + ".json")
    if not side.exists():
        return Setup(), ["10.199.0.2"]
    doc = json.loads(side.read_text())
    setup = Setup.from_dict(doc["setup"]) if "setup" in doc else Setup()
    return setup, list(doc.get("spec", {}).get("client_addrs", ["10.199.0.2"]))


def readdress(
    records: list[Record] | list[tuple[int, bytes]],
    setup: Setup,
    clients: list[str],
    host_addr: str,
    peer_addr: str,
    host_mac: str,
    peer_mac: str,
) -> tuple[list[tuple[int, bytes]], Setup]:
    """The capture moved onto a veth pair, and the Setup that goes with it."""
    if len(set(clients)) != 1:
        raise RunError(
            f"the capture has {len(set(clients))} client addresses; a veth run needs one "
            "(generate with one --clients)"
        )
    client = clients[0]
    app_addr, app_port = setup.appliance
    out: list[tuple[int, bytes]] = []
    for rec in records:
        ts, frame = (rec.ts_ns, rec.data) if isinstance(rec, Record) else rec
        u = parse_udp(frame)
        if isinstance(u, str):
            out.append((ts, frame))
            continue
        src = peer_addr if u.src == client else u.src
        dst = host_addr if u.dst == app_addr else u.dst
        out.append((ts, udp_frame(src, dst, u.sport, u.dport, u.payload, peer_mac, host_mac)))
    rules = setup.rules_text.replace(client, peer_addr).replace(app_addr, host_addr)
    run_setup = replace(
        setup,
        appliance=(host_addr, app_port),
        feed=(peer_addr, setup.feed[1] or MD_PORT_DEFAULT),
        rules_text=rules,
        _rules=None,
    )
    return out, run_setup


def readdress_back(
    records: list[tuple[int, bytes]], run: Setup, orig: Setup, client: str
) -> list[tuple[int, bytes]]:
    """Frames seen on the pair (what was sent, what came back) in the
    capture's addresses: the inverse of readdress."""
    host_addr, peer_addr = run.appliance[0], run.feed[0]
    out = []
    for ts, frame in records:
        u = parse_udp(frame)
        if isinstance(u, str):
            out.append((ts, frame))
            continue
        src = orig.appliance[0] if u.src == host_addr else client if u.src == peer_addr else u.src
        dst, dport = u.dst, u.dport
        if (u.dst, u.dport) == run.feed:
            dst, dport = orig.feed
        elif u.dst == peer_addr:
            dst = client
        elif u.dst == host_addr:
            dst = orig.appliance[0]
        out.append((ts, udp_frame(src, dst, u.sport, dport, u.payload)))
    return out


def config_toml(
    setup: Setup, ifname: str, backend: str, name: str, on_sequence_gap: str = "drop"
) -> str:
    """The appliance configuration a Setup describes (one queue, one shard)."""
    addr, port = setup.appliance
    lines = [
        "[appliance]",
        f'name = "{name}"',
        "hugepages = false",
        "shm_size = 134217728",
        f'on_sequence_gap = "{on_sequence_gap}"',
        "",
        "[[interfaces]]",
        f'name = "{ifname}"',
        f'backend = "{backend}"',
        f'address = "{addr}:{port}"',
        "",
        "[matcher]",
        'idle = "sleep"',
        f"max_orders = {setup.max_orders}",
        "",
    ]
    for i in setup.instruments:
        lines += [
            "[[instruments]]",
            f'symbol = "{i.symbol}"',
            f"id = {i.id}",
            f"tick_size = {i.tick}",
            f"lot_size = {i.lot}",
            f"min_qty = {i.min_qty}",
            f"max_qty = {i.max_qty}",
            f"ref_price = {i.ref_price}",
            f"band = {i.band}",
            "",
        ]
    lines += ["[flows]", "rules = '''", setup.rules_text.rstrip("\n"), "'''", ""]
    lines += ["[market_data]", f'destination = "{setup.feed[0]}:{setup.feed[1]}"', ""]
    return "\n".join(lines)


def predicted_counters(exp: model.Expected) -> dict[str, dict[str, int]]:
    """The appliance counters (block -> name -> value) the model predicts for
    what reaches the appliance (model.appliance_counters maps its reasons)."""
    out: dict[str, dict[str, int]] = {}
    for reason, n in sorted(exp.counters.items()):
        for block, name in model.appliance_counters(reason):
            out.setdefault(block, {})
            out[block][name] = out[block].get(name, 0) + n
    return out


# ---- running it --------------------------------------------------------------


@contextmanager
def _appliance(cfg_text: str, name: str, md_mac: str) -> Iterator[Any]:
    from wirematch.pipeline.appliance import Appliance
    from wirematch.pipeline.config import parse_config
    from wirematch.pipeline.native.shm import Region

    app = Appliance(parse_config(cfg_text, "<replay run>"), md_mac=md_mac)
    try:
        app.start()
        yield app
    finally:
        app.close()
        Region.unlink(name, missing_ok=True)


def _where_it_stopped(final: dict, got: Any, n_inputs: int) -> str:
    """One line for a run that differs: how far the packets got."""
    c = final.get("counters", {})

    def n(block: str, key: str) -> int:
        return int(c.get(block, {}).get(key, 0))

    return (
        f"inputs {n_inputs} packets; appliance: rx {n('rx.q0', 'packets')} packets / "
        f"{n('rx.q0', 'messages')} messages, engine {n('engine.s0', 'messages')} messages, "
        f"tx {n('tx.q0', 'packets')} packets; capture {len(got.records)} frames "
        f"({got.outgoing} sent by the peer)"
    )


def _rx_reasons(final: dict) -> str:
    """One line for a run that differs: where the rx stage's packets went
    that did not become messages (drops by reason, held packets, the
    slow-path gate), so that a failure names its cause."""
    c = final.get("counters", {})
    rx, sp = c.get("rx.q0", {}), c.get("slowpath.q0", {})
    drops = sorted((k, v) for k, v in rx.items() if k.startswith("drop_") and v)
    flow = [f"{k} {rx[k]}" for k in ("flow_misses", "held", "hold_full_waits") if rx.get(k)]
    gate = [f"{k} {v}" for k, v in sp.items() if k != "flow_misses" and v]
    return (
        "rx drops by reason: "
        + (", ".join(f"{k} {v}" for k, v in drops) or "none")
        + "; new flows: "
        + (", ".join(flow) or "none")
        + "; slow-path gate: "
        + (", ".join(gate) or "nothing pushed")
    )


def _settle(app: Any, timeout: float) -> None:
    """Until the engine has taken every message rx accepted and nothing moves."""
    end = time.monotonic() + timeout
    last: tuple[int, ...] = ()
    while time.monotonic() < end:
        c = app.counters()
        now = (
            c["rx.q0"]["packets"],
            c["rx.q0"]["messages"],
            c["engine.s0"]["messages"],
            c["tx.q0"]["packets"],
        )
        if now == last and now[1] == now[2]:
            return
        last = now
        time.sleep(0.05)


def golden_run(
    capture: str | Path,
    backend: str = "socket",
    *,
    host: Any = None,
    pace: Pace | None = None,
    name: str = "",
    work_dir: str | Path | None = None,  # keeps input.pcap and sent.pcap there
    on_sequence_gap: str = "drop",
    settle_s: float = 10.0,
) -> RunResult:
    """Replay `capture` into a real appliance on `backend` and compare its
    output with the golden model.  `host`: a nic.testhost.VethHost to use
    (else one is made and removed)."""
    if host is None:
        from wirematch.nic.testhost import veth_host

        with veth_host() as h:
            return golden_run(
                capture, backend, host=h, pace=pace, name=name, work_dir=work_dir,
                on_sequence_gap=on_sequence_gap, settle_s=settle_s,
            )  # fmt: skip
    if on_sequence_gap != "drop":
        raise RunError("the golden model knows on_sequence_gap = drop only")
    if work_dir is None:  # the re-addressed input and the sent pcap: removed after
        with tempfile.TemporaryDirectory(prefix="wm-replay-run-") as tmp:
            return golden_run(
                capture, backend, host=host, pace=pace, name=name, work_dir=tmp,
                on_sequence_gap=on_sequence_gap, settle_s=settle_s,
            )  # fmt: skip
    from wirematch.replay.capture import Capturer

    setup, clients = setup_of_capture(capture)
    records = read_pcap(capture)
    inputs, run_setup = readdress(
        records, setup, clients, host.host_addr, host.peer_addr, host.host_mac, host.peer_mac
    )
    span_s = (inputs[-1][0] - inputs[0][0]) / 1e9 if inputs else 0.0
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    pcap_in, sent_pcap = work / "input.pcap", work / "sent.pcap"
    write_pcap(pcap_in, inputs)
    name = name or f"wmreplay{host.netns.split('-')[-1]}"
    cfg = config_toml(run_setup, host.host_if, backend, name, on_sequence_gap)
    with _appliance(cfg, name, host.peer_mac) as app:
        cap = Capturer(host.peer_if, seconds=span_s + settle_s + 60, netns=host.netns).start()
        try:
            argv = replay_argv(
                pcap_in, iface=host.peer_if, pace=pace, dst_mac=host.host_mac,
                sent_pcap=sent_pcap,
            )  # fmt: skip
            summary = run_replay(argv, netns=host.netns, timeout=span_s + 120)
            _settle(app, settle_s)
            final = app.stop()
            time.sleep(0.2)  # the System Events 'E' reach the capture
        finally:
            got = cap.stop()
    # Compared in the capture's own addresses, so that the hash is the one
    # `wirematch replay golden` gives for the capture, whatever pair ran it.
    output = readdress_back(got.records, run_setup, setup, clients[0])
    exp = model.expected(records, setup)
    actual = compare.from_capture(output, setup)
    rep = compare.compare(
        compare.from_expected(exp), actual, compare.causes_of(exp), compare.input_messages(records)
    )
    lost = final.get("counters", {}).get("nic.q0", {}).get("drop_socket_full", 0)
    if lost:
        rep["problems"].append(
            f"the appliance's NIC queue lost {lost} packets (receive socket full): "
            "replay slower (--pps, --speed) for a golden run"
        )
        rep["identical"] = False
    if got.kernel_drops:
        rep["problems"].append(f"the capture lost {got.kernel_drops} packets (kernel drops)")
        rep["identical"] = False
    if not rep["identical"]:
        rep["problems"].append(_where_it_stopped(final, got, len(records)))
        rep["problems"].append(_rx_reasons(final))
    return RunResult(
        backend=backend,
        identical=bool(rep["identical"]),
        hash=rep["hash"],
        expected_hash=rep["expected_hash"],
        report=rep,
        final=final,
        expected=exp,
        setup=setup,
        inputs=[(r.ts_ns, r.data) for r in records],
        output=output,
        sent=[
            Record(ts, data, len(data))
            for ts, data in readdress_back(
                [(r.ts_ns, r.data) for r in read_pcap(sent_pcap)], run_setup, setup, clients[0]
            )
        ]
        if sent_pcap.exists()
        else [],
        replay=summary,
    )
