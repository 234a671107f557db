"""Prometheus metrics of a running instance, read from its shared-memory region.

`RegionCollector` is a prometheus-client custom collector: every scrape
attaches the region read-only, reads it generically (the names of
docs/operations.md) and detaches, so it works from the appliance process and
from any other one (`wirematch metrics`), and a restarted instance is picked
up at the next scrape.  `serve_metrics(region_name, address)` serves
/metrics over HTTP in a daemon thread.

Conventions (prometheus.io/docs/practices/naming): base units (latency in
seconds, converted from ns; busy time also as seconds via the TSC rate),
`_total` on counters, stage in the name, queue/shard/reason/ring as labels.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from wirematch.pipeline.ops.httpserve import BackgroundServer
from wirematch.pipeline.ops.status import (
    APPLIANCE_BLOCK,
    BUSY_COUNTER,
    DEFAULT_NAME,
    DROP_PREFIX,
    RUNNING,
    attach_flow_table,
    parse_object_name,
    read_instance,
    tsc_hz,
)

if TYPE_CHECKING:
    from wirematch.output import Command

PREFIX = "wirematch"
_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_]")


# Histogram bucket bounds: seconds for latencies, counts for batch sizes.
SECONDS_BUCKETS = (
    250e-9, 500e-9, 1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 200e-6, 500e-6,
    1e-3, 2e-3, 5e-3, 10e-3, 50e-3, 100e-3, 1.0,
)  # fmt: skip
COUNT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

# Counter-name prefixes that become a label (codec: the protocol; gateway: the
# stream), so that e.g. gateway's gw_in_drop_unknown_session is
# wirematch_gateway_drops_total{stream="in", reason="unknown_session"}.
LABEL_PREFIXES: dict[str, tuple[str, tuple[str, ...]]] = {
    "codec": ("protocol", ("mold_", "ouch_", "itch_")),
    "gateway": ("stream", ("gw_in_", "gw_itch_", "gw_ouch_")),
}
# A stage's name as its counters spell it, where that differs.
STAGE_SPELLINGS = {"slowpath": "slow_path_"}
# Reason families: counter prefix -> (metric, label, what it counts).
REASON_FAMILIES = (
    ("tx_drop_", "tx_drops", "reason", "units not transmitted, by reason"),
    (DROP_PREFIX, "drops", "reason", "units dropped, by reason"),
    ("reject_", "rejects", "reason", "commands rejected, by reason"),
    ("cancel_", "cancels", "reason", "orders cancelled, by reason"),
    ("cmd_", "commands", "type", "commands applied, by type"),
)


def counter_metric(stage: str, name: str) -> tuple[str, dict[str, str], str] | None:
    """(metric name without prefix and _total, extra labels, help) of counter
    `name` of a `stage` block; None for a placeholder (reject_none)."""
    labels: dict[str, str] = {}
    label, prefixes = LABEL_PREFIXES.get(stage, ("", ()))
    for prefix in prefixes:
        if name.startswith(prefix):
            labels[label] = prefix.removeprefix("gw_").rstrip("_")
            name = name[len(prefix) :]
            break
    for stutter in (f"{stage}_", STAGE_SPELLINGS.get(stage, "")):
        if stutter and name.startswith(stutter):  # slowpath's slow_path_pushed
            name = name[len(stutter) :]
    for prefix, metric, key, doc in REASON_FAMILIES:
        if name.startswith(prefix):
            value = name[len(prefix) :]
            if value == "none":
                return None
            return f"{stage}_{metric}", {**labels, key: value}, f"{stage}: {doc}"
    return f"{stage}_{_counter_base(name)}", labels, f"{stage} stage counter {name}"


def metric_name(*parts: str) -> str:
    return "_".join(_BAD_CHARS.sub("_", p) for p in (PREFIX, *parts) if p)


class _Families:
    """Metric families by name, created on first use (blocks share families)."""

    def __init__(self) -> None:
        from prometheus_client.core import Metric

        self._metric = Metric
        self.by_name: dict[str, Any] = {}

    def add(
        self, name: str, kind: str, doc: str, labels: dict[str, str], value: float, sample: str = ""
    ) -> None:
        fam = self.by_name.get(name)
        if fam is None:
            fam = self.by_name[name] = self._metric(name, doc, kind)
        sample_name = name + sample
        if kind == "counter" and not sample:
            sample_name = name + "_total"
        fam.add_sample(sample_name, labels, value)


def _counter_base(name: str) -> str:
    return name[: -len("_total")] if name.endswith("_total") else name


class RegionCollector:
    """Collects the metrics of instance `region_name` at every scrape."""

    def __init__(self, region_name: str = DEFAULT_NAME) -> None:
        self.region_name = region_name
        self.tsc_hz = tsc_hz()

    def describe(self) -> list[Any]:
        return []  # names depend on the region's contents; nothing to check up front

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from wirematch.pipeline.native.shm import Region, RegionError

        up = GaugeMetricFamily(
            metric_name("up"),
            "1 when the instance's region is attached and the appliance reports running",
        )
        try:
            region = Region.attach(self.region_name, readonly=True)
        except RegionError:
            up.add_metric([], 0)
            yield up
            return
        fams = _Families()
        try:
            with region:
                instance, running = self._read(region, fams)
        except (OSError, ValueError, KeyError):
            # The region went away or changed under the scrape: report down
            # rather than a half-read instance.
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1 if running else 0)
        yield up
        yield from self._instance(instance)
        yield from fams.by_name.values()

    def _read(self, region: Any, fams: _Families) -> tuple[dict[str, Any], int]:
        """Everything in the region into `fams`; (instance facts, running)."""
        instance = read_instance(region) or {}
        running = 0
        for obj in region.objects():
            if obj.type == "counters" and obj.name == APPLIANCE_BLOCK:
                values = region.counters(obj.name).snapshot()
                running = values.get(RUNNING, 0)
            elif obj.type == "counters":
                self._counters(fams, obj.name, region.counters(obj.name).snapshot())
            elif obj.type == "histogram":
                self._histogram(fams, obj.name, region.histogram(obj.name))
            elif obj.type == "ring":
                self._ring(fams, obj.name, region.ring_info(obj.name))
        try:
            table = attach_flow_table(region)
        except ValueError:
            table = None
        if table is not None:
            self._flow_table(fams, table)
        return instance, running

    def _instance(self, instance: dict[str, Any]) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

        if instance and "error" not in instance and "slo_rx_to_match_p99_ns" in instance:
            slo = GaugeMetricFamily(
                metric_name("slo_rx_to_match_p99_seconds"),
                "the configured receive-to-match p99 objective ([metrics] rx_to_match_p99_slo_us)",
            )
            slo.add_metric([], instance["slo_rx_to_match_p99_ns"] * 1e-9)
            yield slo
        if instance and "error" not in instance:
            info = InfoMetricFamily(metric_name("instance"), "facts about the running instance")
            info.add_metric(
                [],
                {
                    "name": self.region_name,
                    "pid": str(instance.get("pid", "")),
                    "backend": str(instance.get("backend", "")),
                    "queues": str(instance.get("queues", "")),
                    "shards": str(instance.get("shards", "")),
                    "config": str(instance.get("config", "")),
                },
            )
            yield info
            workers = instance.get("workers") or []
            if workers:
                w = InfoMetricFamily(
                    metric_name("worker"), "worker threads: stages, pinned core, thread id, idle"
                )
                for wk in workers:
                    stages = wk.get("stages", "")
                    w.add_metric(
                        [],
                        {
                            "worker": str(wk.get("name", "")),
                            "stages": ",".join(stages) if isinstance(stages, list) else str(stages),
                            "core": str(wk.get("core", "")),
                            "tid": str(wk.get("tid", "")),
                            "idle": str(wk.get("idle", "")),
                        },
                    )
                yield w

    # -- one object each ---------------------------------------------------
    def _counters(self, fams: _Families, block: str, values: dict[str, int]) -> None:
        on = parse_object_name(block)
        for name, value in values.items():
            mapped = counter_metric(on.stage, name)
            if mapped is None:
                continue
            base, extra, doc = mapped
            fams.add(metric_name(base), "counter", doc, {**on.labels, **extra}, value)
            if name == BUSY_COUNTER and self.tsc_hz:
                fams.add(
                    metric_name(on.stage, "busy_seconds"),
                    "counter",
                    f"time the {on.stage} stage spent working (busy_cycles / TSC rate)",
                    on.labels,
                    value / self.tsc_hz,
                )

    def _histogram(self, fams: _Families, name: str, hist: Any) -> None:
        """A Prometheus histogram: cumulative counts at fixed bucket bounds
        (seconds for the _ns histograms, counts for the others)."""
        from wirematch.pipeline.native.hist import highest_values

        on = parse_object_name(name)
        metric = on.metric or on.stage
        stage = on.stage if on.metric else ""
        snap = hist.snapshot()
        if metric.endswith("_ns"):
            base, scale, unit, bounds = metric[:-3], 1e-9, "seconds", SECONDS_BUCKETS
            doc = f"{name}: latency in seconds"
        else:
            base, scale, unit, bounds = metric, 1.0, "", COUNT_BUCKETS
            doc = f"{name}: values per sample"
        fam = metric_name(stage, base, unit)
        highs = highest_values(len(snap.counts)) * scale
        cum = np.cumsum(snap.counts)
        for le in bounds:
            i = int(np.searchsorted(highs, le, side="right"))  # buckets wholly <= le
            below = int(cum[i - 1]) if i > 0 else 0
            fams.add(fam, "histogram", doc, {**on.labels, "le": f"{le:g}"}, below, "_bucket")
        fams.add(fam, "histogram", doc, {**on.labels, "le": "+Inf"}, snap.total, "_bucket")
        fams.add(fam, "histogram", doc, on.labels, snap.total, "_count")
        fams.add(fam, "histogram", doc, on.labels, int(hist.ptr.sum) * scale, "_sum")

    def _ring(self, fams: _Families, name: str, info: dict[str, int]) -> None:
        labels = {"ring": name}
        fams.add(
            metric_name("ring_used_elements"),
            "gauge",
            "elements in the ring",
            labels,
            info["count"],
        )
        fams.add(
            metric_name("ring_capacity_elements"),
            "gauge",
            "elements the ring can hold",
            labels,
            info["capacity"],
        )
        for key, doc in (
            ("enqueued", "elements enqueued"),
            ("dequeued", "elements dequeued"),
            ("enqueue_refused", "elements refused because the ring was full"),
        ):
            fams.add(metric_name("ring", key), "counter", doc, labels, info[key])

    def _flow_table(self, fams: _Families, table: Any) -> None:
        from wirematch.pipeline.native import lib

        st = table.stats()
        for name, value, doc in (
            ("flows", st["n_live"], "live flows in the fast-path table"),
            ("max_flows", table.max_flows, "live flows the table accepts at most"),
            ("slots", table.capacity, "slots of the table"),
            ("tombstones", st["n_tombstones"], "removed slots not yet reclaimed"),
            ("longest_probe", st["max_probe"], "longest probe distance ever inserted at"),
        ):
            fams.add(metric_name("flow_table", name), "gauge", doc, {}, value)
        sessions: dict[int, list[int]] = {}
        for e in table.flows():
            if int(e["decision"]["action"]) != lib.WM_FLOW_ALLOW:  # a deny entry has no session
                continue
            agg = sessions.setdefault(int(e["decision"]["session"]), [0, 0, 0])
            agg[0] += 1
            agg[1] += int(e["packets"])
            agg[2] += int(e["drops"])
        for sid, (flows, packets, drops) in sorted(sessions.items()):
            labels = {"session": str(sid)}
            fams.add(
                metric_name("session_flows"), "gauge", "live flows of a session", labels, flows
            )
            fams.add(
                metric_name("session_packets"),
                "counter",
                "packets received on a session's live flows",
                labels,
                packets,
            )
            fams.add(
                metric_name("session_dropped_packets"),
                "counter",
                "packets of a session's live flows dropped in the data plane",
                labels,
                drops,
            )
        for key in ("inserts", "updates", "removes", "expired", "insert_full", "reclaimed"):
            fams.add(
                metric_name("flow_table", key),
                "counter",
                f"flow table {key.replace('_', ' ')} (control plane)",
                {},
                st[key],
            )


def parse_address(address: str | tuple[str, int]) -> tuple[str, int]:
    """ "host:port" (IPv6 as "[::1]:port") or (host, port) -> (host, port)."""
    if isinstance(address, tuple):
        return address
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"address {address!r}: expected host:port")
    return host.strip("[]") or "127.0.0.1", int(port)


class MetricsServer(BackgroundServer):
    """A running /metrics endpoint; close() stops it."""

    path = "/metrics"


def make_registry(region_name: str) -> Any:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry(auto_describe=False)
    registry.register(RegionCollector(region_name))
    return registry


def serve_metrics(region_name: str, address: str | tuple[str, int]) -> MetricsServer:
    """Serve instance `region_name`'s metrics at http://address/metrics (port 0: any)."""
    from prometheus_client import start_http_server

    host, port = parse_address(address)
    httpd, thread = start_http_server(port, addr=host, registry=make_registry(region_name))
    return MetricsServer(httpd, thread)


def render_metrics(region_name: str) -> bytes:
    """The exposition text of one scrape (what /metrics serves)."""
    from prometheus_client import generate_latest

    return generate_latest(make_registry(region_name))


def cmd_metrics(args: argparse.Namespace) -> None:
    from wirematch.output import CliError

    if args.address is None:
        print(render_metrics(args.name).decode(), end="")
        return
    try:
        server = serve_metrics(args.name, args.address)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot serve metrics on {args.address}: {exc}") from exc
    print(f"serving {args.name}'s metrics at {server.url} (Ctrl-C stops)", flush=True)
    try:
        deadline = time.monotonic() + args.seconds if args.seconds > 0 else None
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


def register_commands(register: Callable[[Command], None]) -> None:
    from wirematch.output import Command

    register(
        Command(
            ("metrics",),
            cmd_metrics,
            "print one Prometheus scrape of a running instance, or serve /metrics "
            "with --address (for an instance running without [metrics])",
            (
                (("--name",), {"default": DEFAULT_NAME, "help": "instance name"}),
                (("--address",), {"default": None, "help": "host:port to serve /metrics on"}),
                (
                    ("--seconds",),
                    {"type": float, "default": 0.0, "help": "serve this long (0: until Ctrl-C)"},
                ),
            ),
        )
    )
