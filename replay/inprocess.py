"""The appliance's real C parts, in process, over a capture: what the golden
model is validated against until (and besides) the running appliance.

Per input frame: Ethernet/IPv4/UDP parse, the flow rules (the appliance's
Python classifier decides flows too), the C MoldUDP64 decoder
(`wm_mold_decode`), the C inbound sequence tracker (`wm_mold_seq_check`),
then per applied message `pipeline.gateway.Gateway` (the C OUCH decoder,
`wm_gw_ouch_to_cmd`, the C matcher, `wm_gw_publish_itch/ouch` into
MoldUDP64 builders).  After each input frame every stream is flushed, and
the packets become frames from the appliance (replies to the client's flow)
or to the market-data destination, stamped 1 µs after the input frame: an
output capture of the same shape the appliance's is, which compare.py and
measure.py read the same way.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from wirematch.pipeline.native import check, ffi, lib
from wirematch.pipeline.native.matcher import InstrumentRules, Matcher
from wirematch.pipeline.protocols import codec
from wirematch.pipeline.protocols.gateway import Gateway, Stream
from wirematch.replay.pcapio import Record, parse_udp, udp_frame
from wirematch.replay.setup import SessionMap, Setup

APPLIANCE_MAC = "02:00:00:00:00:01"
CLIENT_MAC = "02:00:00:00:00:02"
FEED_SESSION = "WMFEED"


@dataclass
class Result:
    records: list[tuple[int, bytes]] = field(default_factory=list)  # the output capture
    counters: Counter = field(default_factory=Counter)


def _seq_counters(table: object) -> dict[str, int]:
    out = {}
    for i in range(lib.wm_mold_seq_counter_count()):
        v = int(table.counts[i])  # type: ignore[attr-defined]
        if v:
            out[ffi.string(lib.wm_mold_seq_counter_name(i)).decode()] = v
    return out


def run(records: Iterable[Record | tuple[int, bytes]], setup: Setup) -> Result:
    res = Result()
    m = Matcher(
        max_instruments=max(16, len(setup.instruments)),
        max_orders=setup.max_orders,
        max_sessions=setup.max_sessions,
    )
    for ins in setup.instruments:
        m.add_instrument(InstrumentRules(**ins.matcher_rules(setup.max_levels)))
    feed = Stream(FEED_SESSION)
    gw = Gateway(m, feed, account_per_session=setup.account_per_session, stp=setup.stp)
    for ins in setup.instruments:
        gw.add_instrument(ins.symbol, ins.id, ins.locate, ins.tick)
    flows = SessionMap(setup)
    flow_of: dict[int, tuple[str, int]] = {}
    seen: set[str] = set()
    started: list[int] = []  # sessions told System Event 'S' (the engine's order)
    tout = ffi.new("struct wm_mold_seq_table **")
    check(lib.wm_mold_seq_create(4096, lib.WM_MOLD_SEQ_GAP_DROP, tout), "wm_mold_seq_create")
    seq = ffi.gc(tout[0], lib.wm_mold_seq_destroy)
    pkt = ffi.new("struct wm_mold_packet *")
    sres = ffi.new("struct wm_mold_seq_result *")
    stats = codec.new_stats()
    app_addr, app_port = setup.appliance
    sent = {id(feed): 0}
    ip_id = 0
    ts = 0

    def emit(out_ts: int) -> None:
        nonlocal ip_id
        gw.flush()
        for s, stream in gw.sessions.items():
            dst, dport = flow_of[s]
            for data in stream.packets[sent[id(stream)] :]:
                ip_id += 1
                frame_out = udp_frame(
                    app_addr, dst, app_port, dport, data, APPLIANCE_MAC, CLIENT_MAC, ip_id
                )
                res.records.append((out_ts, frame_out))
                out_ts += 1
            sent[id(stream)] = len(stream.packets)
        for data in feed.packets[sent[id(feed)] :]:
            ip_id += 1
            fdst, fport = setup.feed
            fr = udp_frame(app_addr, fdst, app_port, fport, data, APPLIANCE_MAC, ip_id=ip_id)
            res.records.append((out_ts, fr))
            out_ts += 1
        sent[id(feed)] = len(feed.packets)

    for rec in records:
        ts, frame = (rec.ts_ns, rec.data) if isinstance(rec, Record) else rec
        u = parse_udp(frame)
        if isinstance(u, str):
            res.counters[u] += 1
            continue
        if u.dport != app_port or (app_addr != "0.0.0.0" and u.dst != app_addr):
            res.counters["not_order_entry"] += 1
            continue
        session = flows.session_of(u.src, u.sport, u.dst, u.dport)
        if u.flow not in seen:  # the slow path decides the flow; the packet waits for it
            seen.add(u.flow)
            res.counters["flow_misses"] += 1
        if session is None:
            res.counters["flow_denied"] += 1
            continue
        if session not in gw.sessions:
            stream = gw.add_session(session)
            sent[id(stream)] = 0
            flow_of[session] = (u.src, u.sport)
        r = lib.wm_mold_decode(u.payload, len(u.payload), pkt, stats)
        if r:
            continue  # counted in stats
        key = int(ipaddress.IPv4Address(u.src)) << 16 | u.sport
        n = lib.wm_mold_seq_check(seq, key, pkt, sres)
        blen = ffi.new("uint16_t *")
        k = 0
        while True:
            p = lib.wm_mold_next_block(pkt, blen)
            if p == ffi.NULL:
                break
            if sres.skip <= k < sres.skip + n:
                msg = bytes(ffi.buffer(p, blen[0]))
                try:
                    codec.decode_ouch_in(msg)  # the rx stage drops what does not decode
                except codec.CodecError as exc:
                    res.counters[exc.reason_name] += 1
                else:
                    if session not in started:  # the engine's new session
                        started.append(session)
                        gw.system_event(session, "S", 0)
                    gw.submit(session, ts % 86_400_000_000_000, msg)
            k += 1
        emit(ts + 1000)
    for session in started:  # a clean stop: System Event 'E' to every session
        gw.system_event(session, "E", 0)
    emit(ts + 1000 if started else 0)
    res.counters.update(codec.stats_dict(stats))
    res.counters.update(_seq_counters(seq))
    res.counters.update(gw.counters())
    res.counters.pop("ok", None)
    return res
