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
QUANTILES = (0.5, 0.9, 0.99, 0.999)
_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_]")


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
        from prometheus_client.core import InfoMetricFamily

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
        labels = on.labels
        for name, value in values.items():
            if name.startswith(DROP_PREFIX):
                fams.add(
                    metric_name(on.stage, "drops"),
                    "counter",
                    f"units the {on.stage} stage dropped, by reason",
                    {**labels, "reason": name[len(DROP_PREFIX) :]},
                    value,
                )
                continue
            fams.add(
                metric_name(on.stage, _counter_base(name)),
                "counter",
                f"{on.stage} stage counter {name}",
                labels,
                value,
            )
            if name == BUSY_COUNTER and self.tsc_hz:
                fams.add(
                    metric_name(on.stage, "busy_seconds"),
                    "counter",
                    f"time the {on.stage} stage spent working (busy_cycles / TSC rate)",
                    labels,
                    value / self.tsc_hz,
                )

    def _histogram(self, fams: _Families, name: str, hist: Any) -> None:
        on = parse_object_name(name)
        metric = on.metric or on.stage
        stage = on.stage if on.metric else ""
        snap = hist.snapshot()
        total = snap.total
        if metric.endswith("_ns"):
            base, scale, unit = metric[:-3], 1e-9, "seconds"
            doc = f"{name} in seconds (cumulative since start)"
        else:
            base, scale, unit = metric, 1.0, ""
            doc = f"{name} (cumulative since start)"
        fam = metric_name(stage, base, unit)
        values = snap.percentiles([q * 100 for q in QUANTILES])
        for q, v in zip(QUANTILES, values, strict=True):
            fams.add(fam, "summary", doc, {**on.labels, "quantile": f"{q:g}"}, v * scale)
        fams.add(fam, "summary", doc, on.labels, total, "_count")
        fams.add(fam, "summary", doc, on.labels, int(hist.ptr.sum) * scale, "_sum")
        fams.add(
            metric_name(stage, base, "max", unit),
            "gauge",
            f"largest value recorded in {name}",
            on.labels,
            snap.max * scale,
        )

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
        st = table.stats()
        for name, value, doc in (
            ("flows", st["n_live"], "live flows in the fast-path table"),
            ("max_flows", table.max_flows, "live flows the table accepts at most"),
            ("slots", table.capacity, "slots of the table"),
            ("tombstones", st["n_tombstones"], "removed slots not yet reclaimed"),
            ("longest_probe", st["max_probe"], "longest probe distance ever inserted at"),
        ):
            fams.add(metric_name("flow_table", name), "gauge", doc, {}, value)
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
