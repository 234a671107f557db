"""Seeded, reproducible captures of OUCH 5.0 order entry in MoldUDP64 (Scapy).

`generate(spec, setup)` gives a realistic session mix from many clients:
each client is a flow (source address:port, its own MoldUDP64 session
name, sequence numbers from 1, UserRefNums increasing); it opens with a
heartbeat, then sends passive adds around a moving mid, cancels (full and
partial) and replaces of its own recent orders (some of which have traded
away by then: Cancel Reject, as in real flow), aggressive IOC orders that
cross the spread, and a few bad orders (off-tick prices, unknown symbols)
that the appliance must reject.  Arrivals are Poisson at `pps` with bursts
(`burst_prob`, `burst_len` packets a microsecond apart); some packets carry
several messages.

`adversarial(spec, setup)` is a normal flow with injected faults, each
recorded in the sidecar (`Capture.sidecar`): malformed frames, truncated
and inconsistent MoldUDP64, undecodable OUCH, duplicate, overlapping and
gapped MoldUDP64 sequence numbers, a UserRefNum going backwards, and a
flood from a flow the rules deny.  Every injected packet says what the
appliance must do with it and why (reason names are the appliance's
counter names).

Same spec and setup, same bytes: nothing reads the clock or an unseeded
random source, timestamps come from `spec.start_ns` and the seed.
"""

from __future__ import annotations

import ipaddress
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw, raw

from wirematch.pipeline.protocols.layers import MoldOuchIn, mold_packet
from wirematch.pipeline.protocols.ouch import CancelOrder, EnterOrder, ReplaceOrder
from wirematch.replay.pcapio import write_pcap
from wirematch.replay.setup import Instrument, Setup

CLIENT_MAC = "02:00:00:00:00:02"
APPLIANCE_MAC = "02:00:00:00:00:01"
OPEN_GAP_NS = 20_000_000  # after the sessions' opening heartbeats


@dataclass
class GenSpec:
    seed: int = 1
    sessions: int = 16
    packets: int = 2000  # order-entry packets after the opening heartbeats
    pps: float = 20_000.0  # mean recorded rate
    client_addrs: list[str] = field(default_factory=lambda: ["10.199.0.2"])
    first_port: int = 40000
    burst_prob: float = 0.02
    burst_len: int = 16
    multi_msg_prob: float = 0.1  # a packet carries 2..4 messages
    start_ns: int = 1_704_205_800_000_000_000  # 2024-01-02 14:30:00 UTC
    mix: dict[str, float] = field(
        default_factory=lambda: {
            "passive": 0.50,
            "cancel": 0.17,
            "reduce": 0.05,
            "replace": 0.10,
            "aggressive": 0.15,
            "bad": 0.03,
        }
    )


@dataclass
class Capture:
    records: list[tuple[int, bytes]]
    sidecar: dict[str, Any]

    def write(self, path: str | Path) -> tuple[Path, Path]:
        """The pcap and its sidecar (same name + .json)."""
        path = Path(path)
        write_pcap(path, self.records)
        side = path.with_name(path.name + ".json")
        side.write_text(json.dumps(self.sidecar, indent=1, sort_keys=True) + "\n")
        return path, side


@dataclass
class _Client:
    addr: str
    port: int
    name: str
    seq: int = 1
    ref: int = 1
    recent: list[tuple[int, int, str, int]] = field(default_factory=list)  # ref, iid, side, px
    sent: list[int] = field(default_factory=list)  # indices of its packets
    orders: list[int] = field(default_factory=list)  # ... of its plain order packets


class _Flow:
    """The state a generated flow keeps: clients, mids, the clock."""

    def __init__(self, spec: GenSpec, setup: Setup) -> None:
        self.spec, self.setup = spec, setup
        self.rng = random.Random(spec.seed)
        self.t = spec.start_ns
        self.records: list[tuple[int, bytes]] = []
        self.ip_id = 0
        addrs = spec.client_addrs
        self.clients = [
            _Client(addrs[i % len(addrs)], spec.first_port + i // len(addrs), f"C{i:05d}")
            for i in range(spec.sessions)
        ]
        self.mid = {i.id: i.ref_price // i.tick for i in setup.instruments}  # in ticks
        self.burst_left = 0

    # ---- frames ----

    def frame(
        self, src: str, sport: int, payload: Packet | bytes, dport: int | None = None
    ) -> bytes:
        self.ip_id = (self.ip_id + 1) & 0xFFFF
        dst, port = self.setup.appliance
        pkt = (
            Ether(src=CLIENT_MAC, dst=APPLIANCE_MAC)
            / IP(src=src, dst=dst, id=self.ip_id, flags="DF", ttl=64)
            / UDP(sport=sport, dport=port if dport is None else dport, chksum=0)
            / (Raw(payload) if isinstance(payload, bytes) else payload)
        )
        return raw(pkt)

    def advance(self) -> None:
        if self.burst_left:
            self.burst_left -= 1
            self.t += 1000
            return
        if self.rng.random() < self.spec.burst_prob:
            self.burst_left = self.spec.burst_len - 1
        self.t += max(1000, int(self.rng.expovariate(self.spec.pps) * 1e9))

    def emit(self, frame: bytes, client: _Client | None = None) -> int:
        self.records.append((self.t, frame))
        if client is not None:
            client.sent.append(len(self.records) - 1)
        return len(self.records) - 1

    def mold(self, c: _Client, msgs: list[Packet], seq: int | None = None) -> bytes:
        payload = mold_packet(MoldOuchIn, c.name, c.seq if seq is None else seq, msgs)
        if seq is None:
            c.seq += len(msgs)
        return self.frame(c.addr, c.port, payload)

    # ---- messages ----

    def price(self, ins: Instrument, ticks: int) -> int:
        lo = (ins.ref_price - ins.band) // ins.tick + 1 if ins.band else 1
        hi = (ins.ref_price + ins.band) // ins.tick - 1 if ins.band else 10 * ins.ref_price
        return max(lo, min(hi, ticks)) * ins.tick

    def qty(self, ins: Instrument) -> int:
        lots = max(1, ins.min_qty // ins.lot)
        return ins.lot * self.rng.randint(lots, lots + 9)

    def enter(self, c: _Client, ins: Instrument, side: str, px: int, tif: str = "0") -> Packet:
        ref = c.ref
        c.ref += 1
        if tif == "0":
            c.recent.append((ref, ins.id, side, px))
            del c.recent[:-50]
        return EnterOrder(
            user_ref_num=ref,
            side=side,
            quantity=self.qty(ins),
            symbol=ins.symbol,
            price=px,
            time_in_force=tif,
            cl_ord_id=f"{c.name}-{ref}",
        )

    def message(self, c: _Client) -> Packet:
        kinds = list(self.spec.mix)
        kind = self.rng.choices(kinds, [self.spec.mix[k] for k in kinds])[0]
        if kind in ("cancel", "reduce", "replace") and not c.recent:
            kind = "passive"
        ins = self.rng.choice(self.setup.instruments)
        mid = self.mid[ins.id] = self.mid[ins.id] + self.rng.choice((-1, 0, 0, 1))
        side = self.rng.choice("BS")
        if kind == "passive":
            off = self.rng.randint(1, 8)
            px = self.price(ins, mid - off if side == "B" else mid + off)
            return self.enter(c, ins, side, px)
        if kind == "aggressive":
            off = self.rng.randint(2, 12)
            px = self.price(ins, mid + off if side == "B" else mid - off)
            return self.enter(c, ins, side, px, tif="3")
        if kind == "bad":
            if self.rng.random() < 0.5:  # off the tick (when the tick allows it)
                px = mid * ins.tick + (1 if ins.tick > 1 else 0)
                return self.enter(c, ins, side, px if ins.tick > 1 else mid * ins.tick)
            msg = self.enter(c, ins, side, mid * ins.tick)
            msg.symbol = "ZZNOPE"  # not traded here: Invalid symbol
            c.recent.pop()
            return msg
        i = self.rng.randrange(len(c.recent))
        ref, iid, oside, px = c.recent[i]
        ins = self.setup.by_id(iid) or ins
        if kind == "cancel":
            del c.recent[i]
            return CancelOrder(user_ref_num=ref, quantity=0)
        if kind == "reduce":
            return CancelOrder(user_ref_num=ref, quantity=ins.lot * self.rng.randint(1, 3))
        new = c.ref
        c.ref += 1
        npx = self.price(ins, px // ins.tick + self.rng.choice((-2, -1, 1, 2)))
        c.recent[i] = (new, iid, oside, npx)
        return ReplaceOrder(
            orig_user_ref_num=ref,
            user_ref_num=new,
            quantity=self.qty(ins),
            price=npx,
            time_in_force="0",
            cl_ord_id=f"{c.name}-{new}",
        )

    def emit_orders(self, c: _Client, msgs: list[Packet]) -> int:
        i = self.emit(self.mold(c, msgs), c)
        c.orders.append(i)
        return i

    def open_sessions(self) -> None:
        for c in self.clients:
            self.emit(self.mold(c, [], seq=1), c)
            self.t += 10_000
        self.t += OPEN_GAP_NS

    def order_packet(self) -> tuple[_Client, list[Packet]]:
        c = self.rng.choice(self.clients)
        n = self.rng.randint(2, 4) if self.rng.random() < self.spec.multi_msg_prob else 1
        return c, [self.message(c) for _ in range(n)]


def _sidecar(kind: str, spec: GenSpec, setup: Setup, flow: _Flow) -> dict[str, Any]:
    return {
        "kind": kind,
        "spec": asdict(spec),
        "setup": setup.to_dict(),
        "packets": len(flow.records),
        "clients": [
            {"flow": f"{c.addr}:{c.port}", "mold_session": c.name, "messages": c.seq - 1}
            for c in flow.clients
        ],
    }


def generate(spec: GenSpec, setup: Setup | None = None) -> Capture:
    setup = setup or Setup()
    f = _Flow(spec, setup)
    f.open_sessions()
    for _ in range(spec.packets):
        c, msgs = f.order_packet()
        f.emit_orders(c, msgs)
        f.advance()
    return Capture(f.records, _sidecar("orderflow", spec, setup, f))


def _unknown_source(setup: Setup) -> str:
    """An address no allow rule admits (the flood's source)."""
    from wirematch.replay.setup import SessionMap

    app, port = setup.appliance
    for cand in ("192.0.2.66", "198.51.100.66", "203.0.113.66"):
        if SessionMap(setup).session_of(cand, 50000, app, port) is None:
            return cand
    raise ValueError("every candidate source is allowed by the rules; add a deny-able one")


def adversarial(spec: GenSpec, setup: Setup | None = None, flood: int = 200) -> Capture:
    """A normal flow of spec.packets with faults injected; see the module doc."""
    setup = setup or Setup()
    f = _Flow(spec, setup)
    expect: list[dict[str, Any]] = []

    def mark(index: int, verdict: str, reason: str, why: str, **extra: Any) -> None:
        expect.append({"index": index, "verdict": verdict, "reason": reason, "why": why, **extra})

    f.open_sessions()
    faults = [
        "not_ipv4",
        "short_header",
        "truncated_count",
        "empty_block",
        "bad_ouch_type",
        "bad_side",
        "duplicate",
        "overlap",
        "gap",
        "ref_backwards",
        "flood",
        "other_port",
    ]
    every = max(1, spec.packets // (len(faults) + 1))
    fault_at = {every * (i + 1): name for i, name in enumerate(faults)}
    for n in range(spec.packets):
        name = fault_at.get(n)
        c, msgs = f.order_packet()
        if name == "not_ipv4":  # an ARP-typed frame on the wire: not order entry
            i = f.emit(bytes.fromhex("02000000000102000000000208060001") + bytes(40))
            mark(i, "drop", "not_ipv4", "Ethernet type 0x0806: not an IPv4 datagram")
        elif name == "short_header":
            i = f.emit(f.frame(c.addr, c.port, b"C0000 1234"))
            mark(i, "drop", "mold_drop_short_header", "10 bytes of UDP payload, header is 20")
        elif name == "truncated_count":  # count 3, one block present
            body = raw(mold_packet(MoldOuchIn, c.name, c.seq, msgs[:1]))
            body = body[:18] + (3).to_bytes(2, "big") + body[20:]
            i = f.emit(f.frame(c.addr, c.port, body))
            mark(i, "drop", "mold_drop_truncated_length", "count 3, one block in the packet")
        elif name == "empty_block":
            body = raw(mold_packet(MoldOuchIn, c.name, c.seq, [])) + b"\x00\x00"
            body = body[:18] + (1).to_bytes(2, "big") + body[20:]
            i = f.emit(f.frame(c.addr, c.port, body))
            mark(i, "drop", "mold_drop_empty_block", "a block of length 0")
        elif name == "bad_ouch_type":  # a valid Mold packet whose message is not OUCH in
            body = raw(mold_packet(MoldOuchIn, c.name, c.seq, [])) + b"\x00\x05Zabcd"
            body = body[:18] + (1).to_bytes(2, "big") + body[20:]
            c.seq += 1
            i = f.emit(f.frame(c.addr, c.port, body), c)
            mark(i, "drop", "ouch_drop_unknown_type", "message type 'Z' (sequence consumed)")
        elif name == "bad_side":
            bad = f.enter(c, setup.instruments[0], "B", setup.instruments[0].ref_price)
            c.recent.pop()
            data = bytearray(raw(bad))
            data[5] = ord("Q")
            i = f.emit(f.mold(c, [Raw(bytes(data))]), c)
            mark(i, "drop", "ouch_drop_bad_side", "Enter Order with side 'Q'")
        elif name == "duplicate" and c.orders:  # the client's last packet, sent again
            last = c.orders[-1]
            i = f.emit(f.records[last][1], c)
            mark(i, "drop", "seq_duplicate_packets", f"a resend of packet {last}")
        elif name == "overlap" and c.orders:  # [last message again, a new one]
            from wirematch.pipeline.protocols import codec

            _, seq, count, old = codec.mold_unpack(f.records[c.orders[-1]][1][42:])
            if seq + count == c.seq:
                body = raw(mold_packet(MoldOuchIn, c.name, seq + count - 1, [Raw(old[-1])]))
                new = raw(msgs[0])
                body = body[:18] + (2).to_bytes(2, "big") + body[20:]
                body += len(new).to_bytes(2, "big") + new
                c.seq += 1
                i = f.emit(f.frame(c.addr, c.port, body), c)
                mark(i, "partial", "seq_overlap_packets", "first message repeated, second new")
                f.advance()
                continue
        elif name == "gap":  # the next packet numbered 3 ahead (dropped), then resent right
            ahead = f.mold(c, msgs, seq=c.seq + 3)
            i = f.emit(ahead, c)
            mark(i, "drop", "seq_drop_after_gap_messages", "3 sequence numbers missing before it")
            f.advance()
            f.emit_orders(c, msgs)
            f.advance()
            continue
        elif name == "ref_backwards":
            ins = setup.instruments[0]
            back = EnterOrder(
                user_ref_num=1,
                side="B",
                quantity=ins.lot * 2,
                symbol=ins.symbol,
                price=ins.ref_price,
                cl_ord_id="again-1",
            )
            i = f.emit(f.mold(c, [back]), c)
            mark(
                i,
                "reject",
                "gw_in_drop_user_ref_not_increasing",
                "UserRefNum 1 again: Rejected Order 0x0F",
                user_ref_num=1,
                flow=f"{c.addr}:{c.port}",
            )
        elif name == "flood":  # well-formed orders from flows the rules deny
            # Each ghost flow's first packet is a flow miss: held until the slow
            # path decides the flow, then denied like the rest.
            src = _unknown_source(setup)
            ins = setup.instruments[0]
            ghosts = min(64, flood)
            for k in range(flood):
                if k == ghosts:
                    f.t += OPEN_GAP_NS
                ghost = _Client(src, 50000 + k % ghosts, f"G{k % ghosts:05d}")
                msg = f.enter(ghost, ins, "B", ins.ref_price)
                ghost.seq = 1 + k // ghosts
                i = f.emit(f.mold(ghost, [msg]))
                f.t += 2_000
                why = f"source {src} is not allowed by the flow rules"
                if k < ghosts:
                    mark(i, "drop", "flow_denied", why, flow_miss=True)
                else:
                    mark(i, "drop", "flow_denied", why)
            f.t += OPEN_GAP_NS
        elif name == "other_port":  # to the appliance's address, not its order-entry port
            app_port = setup.appliance[1]
            i = f.emit(f.frame(c.addr, c.port, raw(msgs[0]), dport=app_port + 1))
            mark(i, "drop", "not_order_entry", f"UDP port {app_port + 1} is not order entry")
            f.advance()
            continue
        f.emit_orders(c, msgs)
        f.advance()
    side = _sidecar("adversarial", spec, setup, f)
    side["expect"] = expect
    counts: dict[str, int] = {}
    for e in expect:
        counts[e["reason"]] = counts.get(e["reason"], 0) + 1
        if e.get("flow_miss"):  # the first packet of a new flow
            counts["flow_misses"] = counts.get("flow_misses", 0) + 1
    side["expected_counts"] = counts
    side["appliance_counts"] = _appliance_counts(expect, f.records)
    return Capture(f.records, side)


# Faults the appliance's rx stage never sees on its backends (a socket bound
# to the order-entry port, or the AF_XDP program that redirects only that UDP
# port): the kernel or the XDP program passes them elsewhere.
NOT_SEEN_BY_RX = {"not_ipv4", "not_order_entry"}


def _appliance_counts(expect: list[dict[str, Any]], records: list[Any]) -> dict[str, Any]:
    """The appliance counters the faults must move (block -> counter ->
    count; message counters count the packet's messages)."""
    from wirematch.pipeline.protocols import codec
    from wirematch.replay.model import appliance_counters

    out: dict[str, dict[str, int]] = {}
    for e in expect:
        if e["reason"] in NOT_SEEN_BY_RX:
            continue
        n = 1
        if e["reason"] == "seq_duplicate_packets":  # drop_duplicate counts messages
            n = codec.mold_unpack(records[e["index"]][1][42:])[2]
        reason = {
            "seq_duplicate_packets": "seq_duplicate_messages",
            "seq_overlap_packets": "seq_duplicate_messages",  # the repeated message
        }.get(e["reason"], e["reason"])
        reasons = [(reason, n)] + ([("flow_misses", 1)] if e.get("flow_miss") else [])
        for r, k in reasons:
            for block, counter in appliance_counters(r):
                out.setdefault(block, {})
                out[block][counter] = out[block].get(counter, 0) + k
    return out


def addresses(base: str, n: int) -> list[str]:
    """n consecutive IPv4 addresses from base."""
    b = int(ipaddress.IPv4Address(base))
    return [str(ipaddress.IPv4Address(b + i)) for i in range(n)]
