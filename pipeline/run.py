"""`wirematch run CONFIG`: the appliance in the foreground.

Logs to stderr; stops cleanly (every ring drained) on SIGINT or SIGTERM, or
after --duration seconds; prints the run's summary.  SIGHUP re-reads the
configuration file's flow rules and applies them: only flows whose decision
changes are rewritten.  While it runs, another
process can `wirematch status` it (shared memory, read-only), scrape its
metrics, and use the operator API.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
import time
from typing import Any

from wirematch.pipeline.appliance import Appliance, ApplianceError
from wirematch.pipeline.config import (
    LIVE_KEYS,
    ConfigError,
    changed_keys,
    default_config,
    load_config,
)
from wirematch.pipeline.ops.api import token_path
from wirematch.pipeline.summary import render, summarize


def serve_surfaces(app: Appliance, handles: list[Any] | None = None) -> list[Any]:
    """The metrics endpoint (with the dashboard) and the operator API of a
    started appliance, appended to `handles` as each starts (so the caller
    can close what started when a later one fails)."""
    import secrets

    from wirematch.pipeline.ops.api import serve_api, write_token_file
    from wirematch.pipeline.ops.dashboard import serve_dashboard

    handles = [] if handles is None else handles
    maddr = app.config["metrics"]["address"]
    web = serve_dashboard(app.name, maddr)
    handles.append(web)
    app.log(f"metrics on http://{maddr}/metrics, the dashboard on {web.url}")
    token = app.config["api"]["token"] or secrets.token_urlsafe(24)
    path = write_token_file(app.name, token)
    aaddr = app.config["api"]["address"]
    handles.append(serve_api(app, aaddr, token, allow_remote=app.config["api"]["allow_remote"]))
    app.log(f"operator API on http://{aaddr}/v1 (bearer token in {path})")
    return handles


def reload_rules(app: Appliance, config_path: str | None) -> dict[str, Any]:
    """SIGHUP: re-read the file; apply the flow rules (LIVE_KEYS) and say
    which other changes were not applied (they need a restart).  A bad file
    changes nothing.  Returns what it logged, as data."""
    if not config_path:
        app.log("SIGHUP: no configuration file to re-read (built-in configuration)")
        return {"error": "built-in configuration"}
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        app.log(f"SIGHUP: nothing changed: {exc}")
        return {"error": str(exc)}
    changes = changed_keys(app.config.data, cfg.data)
    if cfg.rules != app.rules and not any(c[0] in LIVE_KEYS for c in changes):
        # The same rules_file path, its content edited.
        n_old, n_new = len(app.rules.rules), len(cfg.rules.rules)
        changes.append(("flows.rules_file (its content)", n_old, n_new))
    live = [c for c in changes if c[0] in LIVE_KEYS or c[0].startswith("flows.rules_file")]
    restart = [c for c in changes if c not in live]
    out: dict[str, Any] = {"applied": [c[0] for c in live], "need_restart": [c[0] for c in restart]}
    if live:
        try:
            done = app.set_ruleset(cfg.rules)
        except ValueError as exc:
            app.log(f"SIGHUP: rules not changed: {exc}")
            return {"error": str(exc)}
        app.config.data["flows"].update({k: cfg["flows"][k] for k in ("rules", "rules_file")})
        app.log(
            f"SIGHUP: flow rules reloaded from {config_path} ({len(cfg.rules.rules)} rules): {done}"
        )
        out["flows"] = done
    if restart:
        shown = "; ".join(f"{k} {old!r} -> {new!r}" for k, old, new in restart[:8])
        more = f" and {len(restart) - 8} more" if len(restart) > 8 else ""
        app.log(f"SIGHUP: NOT applied, they need a restart: {shown}{more}")
    if not changes:
        app.log(f"SIGHUP: {config_path} has no changes")
    return out


def run(config_path: str | None, duration: float = 0.0, json_out: bool = False) -> int:
    try:
        cfg = load_config(config_path) if config_path else default_config()
    except ConfigError as exc:
        raise SystemExit(f"wirematch: {exc}") from None
    app = Appliance(cfg)
    stop = threading.Event()
    reload = threading.Event()
    old = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    old[signal.SIGHUP] = signal.signal(signal.SIGHUP, lambda *_: reload.set())
    handles: list[Any] = []
    try:
        try:
            app.start()
        except (ApplianceError, OSError) as exc:
            raise SystemExit(f"wirematch: {exc}") from None
        try:
            serve_surfaces(app, handles)
        except OSError as exc:
            raise SystemExit(f"wirematch: cannot serve metrics/API: {exc}") from None
        app.log(
            f"running: {app.backend} on {app.ifname} {app.addr}:{app.port}, "
            f"{len(app.workers)} worker(s): "
            + ", ".join(f"{w.name} (core {w.core}, tid {w.tid})" for w in app.workers)
        )
        t0 = time.monotonic()
        while not stop.wait(0.2):
            if duration and time.monotonic() - t0 >= duration:
                break
            if reload.is_set():
                reload.clear()
                reload_rules(app, config_path)
        app.log("stopping: draining the rings")
        final = app.stop()
        s = summarize(final, time.monotonic() - t0)
        print(json.dumps(s, indent=2) if json_out else render(s))
        return 0 if final.get("drained") else 1
    finally:
        for h in handles:
            h.close()
        with contextlib.suppress(OSError):
            token_path(app.name).unlink(missing_ok=True)
        app.close()
        for sig, handler in old.items():
            signal.signal(sig, handler)


def cmd_run(args: argparse.Namespace) -> None:
    raise SystemExit(run(args.config, args.duration, args.json))
