"""The appliance's read-only web page: live rates, drops by reason, latency
histograms, sessions.  Served with /metrics on the [metrics] address.

A sampler thread snapshots the instance's shared-memory region once a
second (read-only, like `wirematch status`: the data plane never answers a
query) and keeps the last WINDOWS windowed reports; the page polls
/dashboard/status.json and draws them.  Nothing is fetched from outside the
appliance (the page, its script and its charts are one file).

    /                       -> /dashboard
    /dashboard              the page (dashboard.html beside this module)
    /dashboard/status.json  the newest window, the rate history, the flows
    /metrics                the Prometheus exposition (RegionCollector)
"""

from __future__ import annotations

import importlib.resources
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler
from typing import Any

import numpy as np

from wirematch.pipeline.native.hist import HistSnapshot
from wirematch.pipeline.native.shm import RegionError
from wirematch.pipeline.ops.httpserve import IDLE_TIMEOUT_S, BackgroundServer, BoundedHTTPServer
from wirematch.pipeline.ops.metrics import make_registry, parse_address
from wirematch.pipeline.ops.status import (
    attach,
    build_report,
    read_flows,
    read_instance,
    take_snapshot,
    tsc_hz,
)

WINDOWS = 120  # seconds of rate history the page shows
RATE_SERIES = {  # series name -> (stage prefix, counter)
    "orders_in": ("rx.", "messages"),
    "packets_in": ("rx.", "packets"),
    "commands": ("engine.", "commands"),
    "replies": ("engine.", "replies"),
    "md_messages": ("engine.", "md_messages"),
}


def _rate(report: dict[str, Any], prefix: str, key: str) -> float:
    win = report.get("window_s") or 0.0
    total = sum(
        st.get("delta", {}).get(key, 0)
        for st in report["stages"]
        if st["object"].startswith(prefix)
    )
    return total / win if win > 0 else 0.0


def _log2_buckets(h: HistSnapshot) -> list[dict[str, float]]:
    """A histogram's counts regrouped by powers of two of its values (ns)."""
    from wirematch.pipeline.native.hist import highest_values

    if h.total == 0:
        return []
    highs = highest_values(len(h.counts))
    groups: dict[int, int] = {}
    for i in np.flatnonzero(h.counts):
        groups[int(highs[i]).bit_length()] = groups.get(int(highs[i]).bit_length(), 0) + int(
            h.counts[i]
        )
    return [{"le_ns": float(1 << b), "count": c} for b, c in sorted(groups.items())]


class Sampler:
    """Snapshots region `name` every `period` s in a daemon thread; the newest
    windowed report and the history of rates, for the page."""

    def __init__(self, name: str, period: float = 1.0) -> None:
        self.name = name
        self.period = period
        self.lock = threading.Lock()
        self.history: deque[dict[str, float]] = deque(maxlen=WINDOWS)
        self.latest: dict[str, Any] = {"name": name, "error": "no window yet"}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dashboard-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        before = None
        while not self._stop.is_set():
            try:
                with attach(self.name) as region:
                    after = take_snapshot(region)
                    instance = read_instance(region)
                if before is not None:
                    self._publish(before, after, instance)
                before = after
            except Exception as exc:  # noqa: BLE001 (the page shows it; the sampler goes on)
                with self.lock:
                    self.latest = {"name": self.name, "error": str(exc)}
                before = None
            self._stop.wait(self.period)

    def _publish(self, before: Any, after: Any, instance: Any) -> None:
        report = build_report(before, after, tsc_hz(), instance, self.name)
        point = {"t": time.time()}
        point.update({k: _rate(report, p, c) for k, (p, c) in RATE_SERIES.items()})
        m = next((st for st in report["stages"] if st["object"] == "matcher.s0"), None)
        delta = (m or {}).get("delta", {})
        win = report.get("window_s") or 1.0
        point["accepted"] = delta.get("accepted", 0) / win
        point["trades"] = delta.get("trades", 0) / win
        point["rejected"] = sum(v for k, v in delta.items() if k.startswith("reject_")) / win
        point["dropped"] = (
            sum(sum(st.get("drops_delta", {}).values()) for st in report["stages"]) / win
        )
        for h in report["histograms"]:
            name = h["object"]
            if name in after.hists and name in before.hists:
                h["window_buckets"] = _log2_buckets(after.hists[name] - before.hists[name])
        with self.lock:
            self.history.append(point)
            self.latest = report

    def state(self) -> dict[str, Any]:
        with self.lock:
            out = {"report": self.latest, "history": list(self.history)}
        try:
            out["flows"] = read_flows(self.name)["flows"][:50]
        except (RegionError, LookupError, ValueError, OSError):
            out["flows"] = []
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def page() -> bytes:
    return (
        importlib.resources.files("wirematch.pipeline.ops").joinpath("dashboard.html").read_bytes()
    )


class _Handler(BaseHTTPRequestHandler):
    timeout = IDLE_TIMEOUT_S  # a silent client is dropped (the socket's timeout)
    sampler: Sampler
    registry: Any
    server_version = "wirematch-dashboard"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        path = self.path.split("?", 1)[0]
        if path == "/":
            self.send_response(302)
            self.send_header("Location", "/dashboard")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif path == "/dashboard":
            self._send(200, page(), "text/html; charset=utf-8")
        elif path == "/dashboard/status.json":
            body = json.dumps(self.sampler.state(), default=str).encode()
            self._send(200, body, "application/json")
        elif path == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            self._send(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        else:
            self._send(404, b'{"error": "no such page"}', "application/json")

    def do_POST(self) -> None:  # noqa: N802
        self._send(405, b'{"error": "read-only"}', "application/json")


class DashboardServer(BackgroundServer):
    """The page, its data and /metrics; close() stops the server and the sampler."""

    path = "/dashboard"

    def __init__(self, httpd: Any, thread: Any, sampler: Sampler) -> None:
        super().__init__(httpd, thread)
        self.sampler = sampler

    def close(self) -> None:
        super().close()
        self.sampler.close()


def serve_dashboard(region_name: str, address: str | tuple[str, int]) -> DashboardServer:
    """Serve instance `region_name`'s page and /metrics at address (port 0: any)."""
    host, port = parse_address(address)
    sampler = Sampler(region_name)
    handler = type(
        "Handler", (_Handler,), {"sampler": sampler, "registry": make_registry(region_name)}
    )
    try:
        httpd = BoundedHTTPServer((host, port), handler)
    except OSError:
        sampler.close()
        raise
    thread = threading.Thread(target=httpd.serve_forever, name="dashboard", daemon=True)
    thread.start()
    return DashboardServer(httpd, thread, sampler)
