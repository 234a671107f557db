"""`wirematch run CONFIG`: the appliance in the foreground.

Logs to stderr; stops cleanly (every ring drained) on SIGINT or SIGTERM, or
after --duration seconds; prints the run's summary.  While it runs, another
process can `wirematch status` it (shared memory, read-only), scrape its
metrics, and use the operator API.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from typing import Any

from pipeline.appliance import Appliance, ApplianceError
from pipeline.config import ConfigError, default_config, load_config
from pipeline.summary import render, summarize


def serve_surfaces(app: Appliance) -> list[Any]:
    """Metrics endpoint and operator API, when their modules are present."""
    handles: list[Any] = []
    try:
        from pipeline.metrics import serve_metrics
    except ImportError:
        serve_metrics = None  # type: ignore[assignment]
    if serve_metrics is not None:
        handles.append(serve_metrics(app.name, app.config["metrics"]["address"]))
        app.log(f"metrics on http://{app.config['metrics']['address']}/metrics")
    try:
        from pipeline.api import serve_api
    except ImportError:
        serve_api = None  # type: ignore[assignment]
    if serve_api is not None:
        token = app.write_token()
        handles.append(serve_api(app, app.config["api"]["address"], token))
        app.log(
            f"operator API on http://{app.config['api']['address']}/v1 "
            f"(token in /run/wirematch/{app.name}.token)"
        )
    return handles


def run(config_path: str | None, duration: float = 0.0, json_out: bool = False) -> int:
    try:
        cfg = load_config(config_path) if config_path else default_config()
    except ConfigError as exc:
        raise SystemExit(f"wirematch: {exc}") from None
    app = Appliance(cfg)
    stop = threading.Event()
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            app.start()
        except (ApplianceError, OSError) as exc:
            raise SystemExit(f"wirematch: {exc}") from None
        handles = serve_surfaces(app)
        app.log(
            f"running: {app.backend} on {app.ifname} {app.addr}:{app.port}, "
            f"{len(app.workers)} worker(s): "
            + ", ".join(f"{w.name} (core {w.core}, tid {w.tid})" for w in app.workers)
        )
        t0 = time.monotonic()
        while not stop.wait(0.2):
            if duration and time.monotonic() - t0 >= duration:
                break
        app.log("stopping: draining the rings")
        final = app.stop()
        for h in handles:
            h.close()
        s = summarize(final, time.monotonic() - t0)
        print(json.dumps(s, indent=2) if json_out else render(s))
        return 0 if final.get("drained") else 1
    finally:
        app.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)


def cmd_run(args: argparse.Namespace) -> None:
    raise SystemExit(run(args.config, args.duration, args.json))
