"""The appliance: the C data plane (native/app) started, pinned, fed flow
decisions and stopped from Python.

    Appliance(config).start()   region, flow table, rate buckets, matcher,
                                NIC queues, C stages, worker threads pinned
                                to their cores, the classifier thread
    .status() .flows() .instruments() .halt() .resume() .cancel_all()
    .book() .snapshot()         operator control: what the operator API serves,
                                in the shapes wirematch.pipeline.ops.api declares
    .set_rules(text)            change the flow rules at run time
    .stop()                     drain every ring, then a summary

Python owns decisions only: which flows are allowed (classify/), where
threads run, what the operator asked for.  Every packet is handled in C.
"""

from __future__ import annotations

import grp
import ipaddress
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wirematch.classify import decide
from wirematch.classify.rules import AUTO, RuleSet, parse_rules
from wirematch.classify.table import MISS_DTYPE, FlowTable, RateTable
from wirematch.classify.table import apply as apply_ops
from wirematch.nic.queue import Queue
from wirematch.pipeline.config import Config, split_host_port
from wirematch.pipeline.native import ffi, lib
from wirematch.pipeline.native import matcher as mt
from wirematch.pipeline.native.counters import appliance_counter_blocks
from wirematch.pipeline.native.shm import Region
from wirematch.pipeline.ops.api import (
    Book,
    Cancelled,
    Flow,
    Instrument,
    InstrumentState,
    Level,
    RestingOrder,
    Snapshot,
    Status,
)
from wirematch.pipeline.ops.status import APPLIANCE_BLOCK, APPLIANCE_COUNTERS, RUNNING

IDLE = {"spin": 0, "spin_yield": 1, "sleep": 2, "adaptive": 3}
MAX_SESSIONS = 1 << 16
SIDE_BUY, SIDE_SELL = 1, 2
STATE_NAMES = {1: "open", 2: "halted", 3: "closed"}


class ApplianceError(RuntimeError):
    """The appliance cannot start or do what was asked; the message says why."""


def _c_error(rc: int, what: str) -> ApplianceError:
    detail = ffi.string(lib.wm_app_last_error()).decode(errors="replace")
    return ApplianceError(f"{what}: {detail or os.strerror(-rc)}")


def _ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def _mac(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":")) if text else bytes(6)


def _if_mac(ifname: str) -> str:
    try:
        return Path(f"/sys/class/net/{ifname}/address").read_text().strip()
    except OSError:
        return ""


def _ns_since_midnight() -> int:
    """Local wall-clock time of day in ns (OUCH and ITCH timestamps)."""
    now = time.time_ns()
    lt = time.localtime(now // 1_000_000_000)
    return ((lt.tm_hour * 60 + lt.tm_min) * 60 + lt.tm_sec) * 1_000_000_000 + now % 1_000_000_000


@dataclass
class Worker:
    name: str
    queues: list[int]
    shards: list[int]
    core: int
    idle: str
    tid: int = 0


@dataclass
class Placement:
    workers: list[Worker]
    warnings: list[str] = field(default_factory=list)


def _siblings(core: int) -> set[int]:
    p = Path(f"/sys/devices/system/cpu/cpu{core}/topology/thread_siblings_list")
    out: set[int] = set()
    try:
        for part in p.read_text().strip().split(","):
            lo, _, hi = part.partition("-")
            out.update(range(int(lo), int(hi or lo) + 1))
    except OSError:
        out.add(core)
    return out


def _isolated() -> set[int]:
    out: set[int] = set()
    try:
        text = Path("/sys/devices/system/cpu/isolated").read_text().strip()
    except OSError:
        return out
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def _numa_node(core: int) -> int:
    for p in Path(f"/sys/devices/system/cpu/cpu{core}").glob("node*"):
        return int(p.name[4:])
    return 0


def place(rx_cores: list[int], matcher_core: int, idle: str) -> Placement:
    """Group the stages into worker threads: stages given the same core (or
    both unpinned) share one thread, run to completion.  Warns about
    placements that hurt: busy-polling workers sharing a core or SMT
    siblings, pinned workers on non-isolated cores, workers on other NUMA
    nodes than the first."""
    groups: dict[int, Worker] = {}
    for q, core in enumerate(rx_cores):
        w = groups.setdefault(core, Worker("", [], [], core, idle))
        w.queues.append(q)
    groups.setdefault(matcher_core, Worker("", [], [], matcher_core, idle)).shards.append(0)
    workers = list(groups.values())
    for w in workers:
        parts = [f"rx{q}" for q in w.queues] + [f"engine{s}" for s in w.shards]
        w.name = "+".join(parts)
    warnings = []
    pinned = [w for w in workers if w.core >= 0]
    if len(workers) > 1 and len(pinned) < len(workers) and idle == "spin":
        warnings.append(
            "unpinned busy-polling workers may share a core: pin them (rx_cores, matcher.core)"
        )
    iso = _isolated()
    nodes = {_numa_node(w.core) for w in pinned}
    for i, a in enumerate(pinned):
        for b in pinned[i + 1 :]:
            if b.core in _siblings(a.core) and b.core != a.core and idle == "spin":
                warnings.append(
                    f"workers {a.name} (core {a.core}) and {b.name} (core {b.core}) are SMT "
                    "siblings: both busy-poll one physical core"
                )
        if iso and a.core not in iso:
            warnings.append(
                f"worker {a.name} runs on core {a.core}, which is not isolated (isolcpus): "
                "other tasks will interrupt it under load"
            )
    if len(nodes) > 1:
        warnings.append(f"workers span NUMA nodes {sorted(nodes)}: rings cross the interconnect")
    if not iso and pinned and idle == "spin":
        warnings.append(
            "no isolated cores on this machine: spinning workers compete with the system"
        )
    return Placement(workers, warnings)


class Appliance:
    """One running instance (one per region name)."""

    def __init__(
        self,
        config: Config,
        *,
        log: Callable[[str], None] | None = None,
        ifname: str | None = None,
        local_address: str | None = None,
        backend: str | None = None,
        md_mac: str = "",
    ) -> None:
        self.config = config
        self.log = log or (lambda msg: print(f"wirematch: {msg}", file=sys.stderr, flush=True))
        iface = config["interfaces"][0]
        self.ifname = ifname or iface["name"]
        self.backend = backend or iface["backend"]
        addr, port = split_host_port(iface["address"])
        self.addr = local_address or addr
        self.port = port
        self.n_queues = iface["queues"]
        self.md_mac = md_mac
        self.name = config["appliance"]["name"]
        self.rules: RuleSet = config.rules if config.rules is not None else parse_rules("")
        self.policy = decide.Policy(n_queues=self.n_queues, max_sessions=MAX_SESSIONS)
        self.cstate = decide.State()
        self.classified = dict.fromkeys(decide.OUTCOMES, 0)
        self.region: Region | None = None
        self.app: Any = None
        self.queues: list[Queue] = []
        self.workers: list[Worker] = []
        self.warnings: list[str] = []
        self.started_ns = 0
        self.stopped = False
        self._lock = threading.Lock()  # control requests and table writes
        self._stop_classifier = threading.Event()
        self._classifier: threading.Thread | None = None
        self.symbols: dict[str, int] = {}
        self.instrument_cfg: dict[int, dict[str, Any]] = {}

    # -- start --------------------------------------------------------------
    def start(self) -> Appliance:
        cfg = self.config
        acfg = cfg["appliance"]
        self.region = Region.create(
            self.name, acfg["shm_size"], max_objects=512, hugepages=acfg["hugepages"], replace=True
        )
        if acfg["shm_group"]:
            backing = self.region.info()["backing"]
            os.chown(backing, -1, grp.getgrnam(acfg["shm_group"]).gr_gid)
            os.chmod(backing, 0o640)
        clock = lib.wm_clock_default()
        self.tick_hz = int(clock.tsc_hz) or 1_000_000_000
        flows = cfg["flows"]
        self.flow_table = FlowTable.in_region(self.region, "flows", flows["capacity"])
        self.rates = RateTable(MAX_SESSIONS * self.n_queues, self.tick_hz)
        self._install_rates()
        self.matcher = self._matcher()
        self._create_app(clock)
        self._open_queues()
        self._start_workers()
        self._publish_instance()
        self._keep_python_off_workers()
        self._classifier = threading.Thread(
            target=self._classify_loop, name="wm-classifier", daemon=True
        )
        self._classifier.start()
        return self

    def _install_rates(self) -> None:
        ops: list[decide.Op] = [
            decide.SetRate(s["id"], s["rate"], s["burst"] or max(1, s["rate"] // 10))
            for s in self.config["sessions"]
            if s["rate"]
        ]
        ops += decide.initial_rates(self.rules)
        apply_ops(ops, self.flow_table, self.rates, self.n_queues, 0)

    def _matcher(self) -> mt.Matcher:
        ins = self.config["instruments"]
        m = mt.Matcher(
            max_instruments=max(i["id"] for i in ins) + 1,
            max_orders=self.config["matcher"]["max_orders"],
            max_sessions=MAX_SESSIONS,
        )
        for i in ins:
            tick = i["tick_size"]
            # Matcher prices are in ticks; the gateway converts Price(4) <-> ticks.
            m.add_instrument(
                mt.InstrumentRules(
                    id=i["id"],
                    tick_size=1,
                    lot_size=i["lot_size"],
                    min_order_qty=i["min_qty"],
                    max_order_qty=i["max_qty"],
                    ref_price=i["ref_price"] // tick,
                    price_band=i["band"] // tick,
                    max_levels=4096,
                )
            )
            self.symbols[i["symbol"]] = i["id"]
            self.instrument_cfg[i["id"]] = i
        return m

    def _create_app(self, clock: Any) -> None:
        cfg = self.config
        c = ffi.new("struct wm_app_config *")
        c.size = ffi.sizeof("struct wm_app_config")
        c.n_queues = self.n_queues
        c.n_shards = 1
        c.burst = cfg["matcher"]["burst"]
        c.in_ring = cfg["matcher"]["cmd_ring"]
        c.slowpath_ring = cfg["flows"]["slow_path_ring"]
        c.max_new_flows_per_sec = cfg["flows"]["max_new_per_sec"]
        c.local_addr = _ip(self.addr) if self.addr != "0.0.0.0" else 0
        c.local_port = self.port
        md_host, md_port = split_host_port(cfg["market_data"]["destination"])
        c.md_addr = _ip(md_host)
        c.md_port = md_port
        c.md_queue = 0
        c.ttl = max(1, cfg["market_data"]["ttl"])
        c.max_orders = cfg["matcher"]["max_orders"]
        c.rx_backlog = cfg["matcher"]["rx_backlog"]
        c.gap_accept = int(cfg["appliance"]["on_sequence_gap"] == "accept")
        mac = _mac(_if_mac(self.ifname))
        ffi.memmove(c.local_mac, mac, 6)
        ffi.memmove(c.md_mac, _mac(self.md_mac) if self.md_mac else b"\xff" * 6, 6)
        c.ts_offset_ns = _ns_since_midnight() - int(lib.wm_clock_now_ns(clock))
        c.shm = self.region.handle if self.region else ffi.NULL
        c.flows = self.flow_table.ptr
        c.rates = self.rates.ptr
        c.clock = clock
        out = ffi.new("struct wm_app **")
        rc = lib.wm_app_create(c, out)
        if rc < 0:
            raise _c_error(rc, "cannot create the data plane")
        self.app = out[0]
        rc = lib.wm_app_set_matcher(self.app, 0, mt.matcher_ptr(self.matcher))
        if rc < 0:
            raise _c_error(rc, "matcher")
        for i in cfg["instruments"]:
            rc = lib.wm_app_add_instrument(
                self.app, 0, i["symbol"].encode(), i["id"], i["id"], i["tick_size"]
            )
            if rc < 0:
                raise _c_error(rc, f"instrument {i['symbol']}")

    def _open_queues(self) -> None:
        # The nic blocks are ours to make (wm_app_create makes the others).
        _, nic_names = appliance_counter_blocks()["nic"]
        for q in range(self.n_queues):
            assert self.region is not None
            ctr = self.region.create_counters(f"nic.q{q}", nic_names)
            kw: dict[str, Any] = {
                "queue": q,
                "n_queues": self.n_queues,
                "port": self.port,
                "counters": ctr.ptr,
            }
            if self.backend in ("socket", "io_uring"):
                rcvbuf = self.config["interfaces"][0]["rcvbuf"]
                if rcvbuf:
                    kw["rcvbuf"] = rcvbuf
                if self.addr != "0.0.0.0":
                    kw["addr"] = self.addr
                if self.ifname and self.ifname != "lo":
                    kw["ifname"] = self.ifname
            elif self.backend == "af_xdp":
                kw["ifname"] = self.ifname
                if self.addr != "0.0.0.0":
                    kw["addr"] = self.addr
            elif self.backend == "pcap":
                kw["path"] = self.ifname
            else:
                kw["ifname"] = self.ifname
            try:
                nq = Queue(self.backend, **kw)
            except Exception as exc:
                raise ApplianceError(f"cannot open {self.backend} queue {q}: {exc}") from None
            self.queues.append(nq)
            rc = lib.wm_app_set_queue(self.app, q, nq._q)
            if rc < 0:
                raise _c_error(rc, f"queue {q}")

    def _start_workers(self) -> None:
        iface = self.config["interfaces"][0]
        rx_cores = list(iface["rx_cores"]) or [-1] * self.n_queues
        rx_cores += [-1] * (self.n_queues - len(rx_cores))
        idle = self.config["matcher"]["idle"]
        placement = place(rx_cores, self.config["matcher"]["core"], idle)
        self.warnings = placement.warnings
        for msg in placement.warnings:
            self.log(f"warning: {msg}")
        for w in placement.workers:
            qmask = sum(1 << q for q in w.queues)
            smask = sum(1 << s for s in w.shards)
            pol = ffi.new("struct wm_idle_policy *")
            pol.strategy = IDLE[w.idle]
            pol.spin_us = self.config["matcher"]["idle_spin_us"]
            pol.yield_us = self.config["matcher"]["idle_yield_us"]
            pol.max_sleep_us = self.config["matcher"]["idle_max_sleep_us"]
            tid = ffi.new("int *")
            rc = lib.wm_app_start_worker(self.app, qmask, smask, pol, tid)
            if rc < 0:
                raise _c_error(rc, f"worker {w.name}")
            w.tid = int(tid[0])
            if w.core >= 0:
                os.sched_setaffinity(w.tid, {w.core})
            self.workers.append(w)
        self.started_ns = time.time_ns()

    def _keep_python_off_workers(self) -> None:
        """This thread (and the classifier it starts) runs on the cores no
        worker is pinned to, so that Python never preempts a worker."""
        busy = {w.core for w in self.workers if w.core >= 0}
        free = set(os.sched_getaffinity(0)) - busy
        if busy and free:
            self._saved_affinity = os.sched_getaffinity(0)
            os.sched_setaffinity(0, free)

    def _publish_instance(self) -> None:
        assert self.region is not None
        ctr = self.region.create_counters(APPLIANCE_BLOCK, list(APPLIANCE_COUNTERS))
        ctr.add(RUNNING, 1)
        ctr.add("started_ns", self.started_ns)
        self.app_counters = ctr
        api = self.config["api"]
        info = {
            "pid": os.getpid(),
            "started_ns": self.started_ns,
            "config": self.config.source,
            "backend": self.backend,
            "interface": self.ifname,
            "address": f"{self.addr}:{self.port}",
            "queues": self.n_queues,
            "shards": 1,
            "api": api["address"],
            "tsc_hz": self.tick_hz,
            "metrics": self.config["metrics"]["address"],
            "slo_rx_to_match_p99_ns": int(self.config["metrics"]["rx_to_match_p99_slo_us"] * 1000),
            "instruments": [{"symbol": s, "id": i} for s, i in self.symbols.items()],
            "workers": [
                {
                    "name": w.name,
                    "stages": [f"rx.q{q}" for q in w.queues] + [f"engine.s{s}" for s in w.shards],
                    "core": w.core,
                    "tid": w.tid,
                    "idle": w.idle,
                }
                for w in self.workers
            ],
            "warnings": self.warnings,
        }
        raw = json.dumps(info).encode()
        size = (len(raw) + 1024 + 63) & ~63
        mem = lib.wm_shm_alloc(self.region.handle, lib.WM_OBJ_BLOB, b"instance", size, 64)
        if mem == ffi.NULL:
            raise ApplianceError("cannot place the instance record in the region")
        ffi.memmove(mem, raw, len(raw))

    # -- the classifier (slow path) -----------------------------------------
    def _classify_loop(self) -> None:
        assert self.region is not None
        ring = self.region.ring("slowpath", MISS_DTYPE)
        idle_ticks = int(self.config["flows"]["idle_timeout"] * self.tick_hz)
        last_expire = time.monotonic()
        while not self._stop_classifier.is_set():
            misses = ring.dequeue(1024)
            if len(misses):
                self.classify(misses)
                continue
            if time.monotonic() - last_expire > 1.0:
                last_expire = time.monotonic()
                with self._lock:
                    self.flow_table.expire(self._ticks(), idle_ticks)
            self._stop_classifier.wait(0.0005)

    def _ticks(self) -> int:
        return int(lib.wm_clock_read_tsc())

    def classify(self, misses: np.ndarray) -> dict[str, int]:
        with self._lock:
            out = decide.classify_misses(
                self._ticks(), self.rules, misses, self.policy, self.cstate
            )
            self.cstate = out.state
            apply_ops(out.ops, self.flow_table, self.rates, self.n_queues, self._ticks())
            for k, v in out.outcomes.items():
                self.classified[k] += v
        return out.outcomes

    def set_rules(self, text: str) -> dict[str, int]:
        """New flow rules (rule text), effective now: only flows whose decision changes
        are rewritten.  A rule that does not parse raises RuleError, changing nothing."""
        return self.set_ruleset(parse_rules(text))

    def set_ruleset(self, new: RuleSet) -> dict[str, int]:
        with self._lock:
            out = decide.reclassify(
                self._ticks(), self.rules, new, self.flow_table.flows(), self.policy, self.cstate
            )
            self.cstate = out.state
            done = apply_ops(out.ops, self.flow_table, self.rates, self.n_queues, self._ticks())
            self.rules = new
        return done

    # -- operator control ----------------------------------------------------
    def _control(self, op: int, arg: int, timeout_ms: int = 2000) -> Any:
        ans = ffi.new("struct wm_app_ctl_answer *")
        with self._lock:
            rc = lib.wm_app_control(self.app, 0, op, arg, timeout_ms, ans)
        if rc < 0:
            raise _c_error(rc, "control request")
        if ans.rc < 0:
            raise ApplianceError(os.strerror(-ans.rc))
        return ans

    def instrument_id(self, symbol: str) -> int:
        if symbol not in self.symbols:
            raise KeyError(f"unknown symbol {symbol!r}; known: {', '.join(sorted(self.symbols))}")
        return self.symbols[symbol]

    def _state(self, code: int) -> str:
        return STATE_NAMES.get(code, f"state{code}")

    def halt(self, symbol: str) -> InstrumentState:
        ans = self._control(lib.WM_APP_CTL_HALT, self.instrument_id(symbol))
        return {"symbol": symbol, "state": self._state(int(ans.state))}

    def resume(self, symbol: str) -> InstrumentState:
        ans = self._control(lib.WM_APP_CTL_RESUME, self.instrument_id(symbol))
        return {"symbol": symbol, "state": self._state(int(ans.state))}

    def sessions(self) -> list[int]:
        """The sessions this appliance has: declared in [[sessions]], named by
        the flow rules, or given to a flow by `as session auto`."""
        fixed = {s["id"] for s in self.config["sessions"]}
        fixed |= {r.session for r in self.rules.rules if r.allow and r.session != AUTO}
        first = self.policy.auto_first
        auto = range(first, max(first, self.cstate.next_auto))
        return sorted(fixed | set(auto))

    def cancel_all(self, session: int) -> Cancelled:
        """Cancel every resting order of `session` (every instrument)."""
        known = self.sessions()
        if session not in known:
            listed = ", ".join(map(str, known[:16])) or "none"
            more = f" ... ({len(known)} in all)" if len(known) > 16 else ""
            raise KeyError(f"no session {session}; this appliance has sessions {listed}{more}")
        ans = self._control(lib.WM_APP_CTL_CANCEL_ALL, session)
        return {"session": session, "cancelled": int(ans.cancelled)}

    def book(self, symbol: str, depth: int = 10) -> Book:
        """The best `depth` levels per side (at most WM_APP_BOOK_MAX) and the
        orders resting at them, in the engine's view."""
        iid = self.instrument_id(symbol)
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        a = self._control(lib.WM_APP_CTL_BOOK, iid)
        tick = self.instrument_cfg[iid]["tick_size"]
        most = lib.WM_APP_BOOK_MAX

        def levels(arr: Any, n: int) -> list[Level]:
            return [
                {
                    "price": int(arr[i].price) * tick,
                    "qty": int(arr[i].qty),
                    "orders": int(arr[i].orders),
                }
                for i in range(min(n, depth))
            ]

        def orders(arr: Any, n: int, shown: list[Level]) -> list[RestingOrder]:
            prices = {lv["price"] for lv in shown}
            return [
                {
                    "order_ref": int(arr[i].order_ref),
                    "session": int(arr[i].session),
                    "user_ref": int(arr[i].client_id),
                    "price": int(arr[i].price) * tick,
                    "qty": int(arr[i].qty),
                }
                for i in range(n)
                if int(arr[i].price) * tick in prices
            ]

        bids, asks = levels(a.bids, a.n_bids), levels(a.asks, a.n_asks)
        bid_orders = orders(a.bid_orders, a.n_bid_orders, bids)
        ask_orders = orders(a.ask_orders, a.n_ask_orders, asks)
        truncated = (
            (depth > most and most in (a.n_bids, a.n_asks))
            or len(bid_orders) < sum(lv["orders"] for lv in bids)
            or len(ask_orders) < sum(lv["orders"] for lv in asks)
        )
        return {
            "symbol": symbol,
            "instrument": iid,
            "state": self._state(int(a.state)),
            "depth": depth,
            "live_orders": int(a.value),
            "l2": {"bids": bids, "asks": asks},
            "l3": {"bids": bid_orders, "asks": ask_orders},
            "truncated": bool(truncated),
        }

    def snapshot(self) -> Snapshot:
        a = self._control(lib.WM_APP_CTL_STATUS, 0)
        books = {s: self.book(s, lib.WM_APP_BOOK_MAX) for s in self.symbols}
        return {
            "event_hash": f"{int(a.hash):016x}",
            "last_seq": int(a.seq),
            "live_orders": int(a.value),
            "books": books,
        }

    def instruments(self) -> list[Instrument]:
        out: list[Instrument] = []
        for sym, iid in self.symbols.items():
            b = self.book(sym, 1)
            bids, asks = b["l2"]["bids"], b["l2"]["asks"]
            out.append(
                {
                    "symbol": sym,
                    "id": iid,
                    "state": b["state"],
                    "tick_size": self.instrument_cfg[iid]["tick_size"],
                    "best_bid": bids[0]["price"] if bids else None,
                    "best_ask": asks[0]["price"] if asks else None,
                }
            )
        return out

    def flows(self) -> list[Flow]:
        out: list[Flow] = []
        for e in self.flow_table.flows():
            k, d = e["key"], e["decision"]
            out.append(
                {
                    "src": f"{ipaddress.IPv4Address(int(k['src_addr']))}:{int(k['src_port'])}",
                    "dst": f"{ipaddress.IPv4Address(int(k['dst_addr']))}:{int(k['dst_port'])}",
                    "vlan": int(k["vlan"]),
                    "proto": int(k["proto"]),
                    "action": "allow" if int(d["action"]) == 1 else "deny",
                    "session": int(d["session"]),
                    "shard": int(d["shard"]),
                    "rule": int(d["rule"]),
                    "packets": int(e["packets"]),
                    "bytes": int(e["bytes"]),
                    "drops": int(e["drops"]),
                }
            )
        return out

    def counters(self) -> dict[str, dict[str, int]]:
        """Every counters block of the region, by name."""
        assert self.region is not None
        out = {}
        for obj in self.region.objects():
            if obj.type == "counters":
                out[obj.name] = self.region.counters(obj.name).snapshot()
        return out

    def latency(self) -> dict[str, dict[str, float]]:
        assert self.region is not None
        out = {}
        for obj in self.region.objects():
            if obj.type == "histogram":
                h = self.region.histogram(obj.name)
                if h.total:
                    out[obj.name] = h.summary()
        return out

    def status(self) -> Status:
        c = self.counters()
        return {
            "name": self.name,
            "pid": os.getpid(),
            "running": bool(self.app is not None and lib.wm_app_running(self.app)),
            "backend": self.backend,
            "interface": self.ifname,
            "address": f"{self.addr}:{self.port}",
            "uptime_s": (time.time_ns() - self.started_ns) / 1e9 if self.started_ns else 0,
            "workers": [w.__dict__ for w in self.workers],
            "warnings": self.warnings,
            "classifier": dict(self.classified),
            "flow_table": self.flow_table.stats(),
            "counters": c,
            "latency_ns": self.latency(),
        }

    def wait_idle(self, quiet_s: float = 0.05, timeout_s: float = 5.0) -> bool:
        """Wait until nothing moves through the stages (received packets,
        applied commands, sent packets) for quiet_s; False after timeout_s."""
        assert self.region is not None

        def moved() -> tuple[int, ...]:
            c = self.counters()
            return tuple(
                sum(v.get(key, 0) for name, v in c.items() if name.startswith(prefix))
                for prefix, key in (("rx.", "packets"), ("engine.", "commands"), ("tx.", "packets"))
            )

        deadline = time.monotonic() + timeout_s
        last, since = moved(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(quiet_s / 5)
            now = moved()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return True
        return False

    # -- stop ------------------------------------------------------------------
    def stop(self, quiet_us: int = 2000, timeout_ms: int = 10000) -> dict[str, Any]:
        """Drain and stop; returns the final status.  Idempotent."""
        if self.stopped or self.app is None:
            return {}
        rc = lib.wm_app_stop(self.app, quiet_us, timeout_ms)
        if rc < 0:
            self.log(f"stop: {ffi.string(lib.wm_app_last_error()).decode()}")
        self._stop_classifier.set()
        if self._classifier:
            self._classifier.join(5)
        saved = getattr(self, "_saved_affinity", None)
        if saved:
            os.sched_setaffinity(0, saved)
        final: dict[str, Any] = dict(self.status())
        final["drained"] = rc == 0
        if hasattr(self, "app_counters"):
            self.app_counters.add(RUNNING, (1 << 64) - 1)  # back to 0
            self.app_counters.add("stopped_ns", time.time_ns())
        self.stopped = True
        return final

    def close(self) -> None:
        """Stop, free the data plane and close the queues (the region stays
        until unlinked, so that `wirematch status` can read the final counts)."""
        self.stop()
        if self.app is not None:
            lib.wm_app_destroy(self.app)
            self.app = None
        for q in self.queues:
            q.close()
        self.queues = []

    def __enter__(self) -> Appliance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
