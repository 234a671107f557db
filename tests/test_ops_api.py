"""The operator API over HTTP and the CLI client commands that call it, against
the real thing: an appliance on a veth pair (tests/appliance_host.py), its
metrics and API served as `wirematch run` serves them, orders entered by OUCH
clients.  Every answer is checked against the shape api.py declares."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import ROOT, opsregion
from tests.appliance_host import (
    Traffic,
    appliance_on_veth,
    enter,
    free_port,
    running_appliance,
    wait_for,
)
from wirematch.nic.testhost import VethHost
from wirematch.pipeline.appliance import Appliance
from wirematch.pipeline.cli import main
from wirematch.pipeline.ops import api, httpserve
from wirematch.pipeline.run import serve_surfaces

S1, S2 = 21001, 21002  # client ports of sessions 1 and 2 (appliance_host's rules)


@dataclass
class Live:
    name: str
    h: VethHost
    app: Appliance
    traffic: Traffic
    server: api.ApiServer
    token: str


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """One appliance for the module, its API and metrics served by
    `serve_surfaces` (what `wirematch run` does), its token file written by it."""
    name = f"wmopsapi{os.getpid()}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WIREMATCH_RUN_DIR", str(tmp_path_factory.mktemp("run")))
        mp.delenv("WIREMATCH_TOKEN", raising=False)
        with appliance_on_veth(name) as (h, app):
            handles = serve_surfaces(app)
            try:
                (server,) = [x for x in handles if isinstance(x, api.ApiServer)]
                path = api.token_path(name)
                assert (path.stat().st_mode & 0o777) == 0o600
                yield Live(name, h, app, Traffic(h, app), server, api.read_token_file(name))
            finally:
                for x in handles:
                    x.close()


def _reset(live: Live) -> None:
    for sym in ("WMTA", "WMTB"):
        live.app.resume(sym)
    for session in live.app.sessions():
        live.app.cancel_all(session)


@pytest.fixture
def book(live: Live) -> dict[str, tuple[int, int]]:
    """A known book entered by OUCH clients: name -> (order_ref, user_ref)."""
    _reset(live)
    t = live.traffic
    return {
        "b1": t.order(S1, 1, "B", 10, 999_900),
        "b2": t.order(S2, 2, "B", 5, 999_900),
        "b3": t.order(S1, 1, "B", 7, 999_800),
        "a1": t.order(S2, 2, "S", 3, 1_000_100),
        "a2": t.order(S1, 1, "S", 4, 1_000_300),
        "x1": t.order(S1, 1, "S", 1, 2_001_000, sym="WMTB"),
    }


def call(
    server: api.ApiServer,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = "",
    auth: str | None = None,
    live_token: str = "",
) -> tuple[int, Any, dict[str, str]]:
    conn = http.client.HTTPConnection(*server.address, timeout=10)
    headers = {}
    if auth is not None:
        headers["Authorization"] = auth
    elif token is not None:
        headers["Authorization"] = f"Bearer {token or live_token}"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, data, dict(resp.getheaders())


def ok(live: Live, method: str, path: str, shape: Any, body: bytes | None = None) -> Any:
    """A 200 answer that has the declared shape."""
    st, data, headers = call(live.server, method, path, body, live_token=live.token)
    assert st == 200, data
    assert headers["Content-Type"] == "application/json"
    assert api.shape_errors(data, shape) == [], data
    return data


def order(live: Live, refs: dict[str, tuple[int, int]], key: str, session: int) -> dict[str, Any]:
    """The RestingOrder the book must show for order `key`."""
    price = {"b1": 999_900, "b2": 999_900, "b3": 999_800, "a1": 1_000_100, "a2": 1_000_300}[key]
    qty = {"b1": 10, "b2": 5, "b3": 7, "a1": 3, "a2": 4}[key]
    order_ref, user_ref = refs[key]
    return {
        "order_ref": order_ref,
        "session": session,
        "user_ref": user_ref,
        "price": price,
        "qty": qty,
    }


# -- the shapes ---------------------------------------------------------------------------


def test_shape_check_catches_drift() -> None:
    assert api.shape_errors({"session": 1, "cancelled": 4}, api.Cancelled) == []
    assert api.shape_errors({"session": 1, "events": 5}, api.Cancelled) == [
        "answer: missing 'cancelled'",
        "answer: unexpected 'events'",
    ]
    assert api.shape_errors({"session": True, "cancelled": 1}, api.Cancelled) == [
        "answer.session: expected int, got True"
    ]
    bad_book = {"symbol": "X", "bids": [], "asks": []}
    errors = api.shape_errors(bad_book, api.Book)
    assert "answer: missing 'l2'" in errors and "answer: unexpected 'bids'" in errors
    inst = {"symbol": "X", "id": 1, "state": "open", "tick_size": 1, "best_bid": None}
    assert api.shape_errors(inst, api.Instrument) == ["answer: missing 'best_ask'"]
    assert api.shape_errors({**inst, "best_ask": "1"}, api.Instrument) == [
        "answer.best_ask: '1' is none of int | null"
    ]


# -- the API over HTTP --------------------------------------------------------------------


def test_token_required(live: Live) -> None:
    token = live.token
    for kwargs in (
        {"token": None},
        {"token": "wrong"},
        {"token": token[:-1]},
        {"token": token + "x"},
        {"auth": f"Basic {token}"},
        {"auth": token},
    ):
        for method, path in (("GET", "/v1/status"), ("POST", "/v1/instruments/WMTA/halt")):
            st, data, headers = call(live.server, method, path, **kwargs)
            assert st == 401, (kwargs, path)
            assert data == {"error": "missing or wrong bearer token"}
            assert headers["WWW-Authenticate"].startswith("Bearer")
    st, _, _ = call(live.server, "GET", "/nowhere", token="wrong")  # no route leaks
    assert st == 401
    assert live.app.book("WMTA", 1)["state"] == "open"  # the refused halt did nothing


def test_read_routes(live: Live, book: dict[str, tuple[int, int]]) -> None:
    status = ok(live, "GET", "/v1/status", api.Status)
    assert status["name"] == live.name and status["running"] is True
    assert status["pid"] == os.getpid() and status["backend"] == "socket"
    assert status["counters"]["matcher.s0"]["cmd_new"] == live.traffic.sent

    flows = ok(live, "GET", "/v1/flows", dict[str, list[api.Flow]])["flows"]
    by_port = {f["src"]: f for f in flows}
    for port, session in ((S1, 1), (S2, 2)):
        f = by_port[f"{live.h.peer_addr}:{port}"]
        assert (f["action"], f["session"], f["proto"]) == ("allow", session, 17)
        assert f["packets"] > 0 and f["drops"] == 0

    data = ok(live, "GET", "/v1/instruments", dict[str, list[api.Instrument]])
    assert data["instruments"] == [
        {
            "symbol": "WMTA",
            "id": 1,
            "state": "open",
            "tick_size": 100,
            "best_bid": 999_900,
            "best_ask": 1_000_100,
        },
        {
            "symbol": "WMTB",
            "id": 2,
            "state": "open",
            "tick_size": 100,
            "best_bid": None,
            "best_ask": 2_001_000,
        },
    ]

    snap = ok(live, "POST", "/v1/snapshot", api.Snapshot)
    assert snap["live_orders"] == 6 and re.fullmatch(r"[0-9a-f]{16}", snap["event_hash"])
    assert snap["books"]["WMTA"] == ok(live, "GET", "/v1/book/WMTA?depth=256", api.Book)
    assert snap == ok(live, "POST", "/v1/snapshot", api.Snapshot)  # reading changes nothing


def test_book(live: Live, book: dict[str, tuple[int, int]]) -> None:
    data = ok(live, "GET", "/v1/book/WMTA?depth=1", api.Book)
    assert data == {
        "symbol": "WMTA",
        "instrument": 1,
        "state": "open",
        "depth": 1,
        "live_orders": 5,
        "l2": {
            "bids": [{"price": 999_900, "qty": 15, "orders": 2}],
            "asks": [{"price": 1_000_100, "qty": 3, "orders": 1}],
        },
        # L3: the orders at the levels shown, time priority (session 1's first).
        "l3": {
            "bids": [order(live, book, "b1", 1), order(live, book, "b2", 2)],
            "asks": [order(live, book, "a1", 2)],
        },
        "truncated": False,
    }
    data = ok(live, "GET", "/v1/book/WMTA", api.Book)  # default depth 10
    assert data["depth"] == 10
    assert [lv["price"] for lv in data["l2"]["bids"]] == [999_900, 999_800]
    assert [lv["price"] for lv in data["l2"]["asks"]] == [1_000_100, 1_000_300]
    assert data["l3"]["bids"][-1] == order(live, book, "b3", 1)
    assert data["l3"]["asks"] == [order(live, book, "a1", 2), order(live, book, "a2", 1)]
    assert ok(live, "GET", "/v1/book/WMTB?depth=1000", api.Book)["l2"] == {
        "bids": [],
        "asks": [{"price": 2_001_000, "qty": 1, "orders": 1}],
    }


def test_halt_and_resume(live: Live, book: dict[str, tuple[int, int]]) -> None:
    t = live.traffic
    data = ok(live, "POST", "/v1/instruments/WMTA/halt", api.InstrumentState)
    assert data == {"symbol": "WMTA", "state": "halted"}
    # Halted: the matcher refuses a new order (OUCH Rejected).
    ref = t.next_ref(S2)
    t.send(S2, 2, [enter(ref, side="B", qty=1, price=999_900)])
    c = t.clients[S2]
    assert wait_for(lambda: any(m["type"] == "J" for m in c.drain(0.01)))
    instruments = ok(live, "GET", "/v1/instruments", dict[str, list[api.Instrument]])
    assert [i["state"] for i in instruments["instruments"]] == ["halted", "open"]
    assert ok(live, "GET", "/v1/book/WMTA", api.Book)["state"] == "halted"
    # Halting a halted instrument answers the same state.
    assert ok(live, "POST", "/v1/instruments/WMTA/halt", api.InstrumentState)["state"] == "halted"

    data = ok(live, "POST", "/v1/instruments/WMTA/resume", api.InstrumentState, b'{"why": "ok"}')
    assert data == {"symbol": "WMTA", "state": "open"}
    t.order(S2, 2, "B", 1, 999_900)  # accepted again
    assert ok(live, "GET", "/v1/book/WMTA?depth=1", api.Book)["l2"]["bids"][0]["qty"] == 16


def test_cancel_all(live: Live, book: dict[str, tuple[int, int]]) -> None:
    c = live.traffic.clients[S1]
    c.drain(0.01)

    def told_cancelled() -> int:
        c.drain(0.01)
        return sum(m["type"] == "C" for m in c.received)

    before = told_cancelled()
    data = ok(live, "POST", "/v1/sessions/1/cancel-all", api.Cancelled)
    assert data == {"session": 1, "cancelled": 4}  # three WMTA orders and one WMTB
    assert wait_for(lambda: told_cancelled() == before + 4)  # OUCH Canceled, one per order
    wmta = ok(live, "GET", "/v1/book/WMTA", api.Book)
    assert {o["session"] for side in ("bids", "asks") for o in wmta["l3"][side]} == {2}
    assert wmta["live_orders"] == 2
    assert ok(live, "GET", "/v1/book/WMTB", api.Book)["live_orders"] == 0
    assert ok(live, "POST", "/v1/sessions/1/cancel-all", api.Cancelled)["cancelled"] == 0
    # Session 3 is configured but has no orders.
    assert ok(live, "POST", "/v1/sessions/3/cancel-all", api.Cancelled) == {
        "session": 3,
        "cancelled": 0,
    }


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "reason"),
    [
        ("GET", "/v1/book/WMTA?depth=0", None, 400, "bad depth '0'"),
        ("GET", "/v1/book/WMTA?depth=1001", None, 400, "bad depth '1001'"),
        ("GET", "/v1/book/WMTA?depth=abc", None, 400, "bad depth 'abc'"),
        ("GET", "/v1/book/WMTA?depth=-1", None, 400, "bad depth '-1'"),
        ("GET", "/v1/book/WMTA?deep=3", None, 400, "unexpected query parameter(s): deep"),
        ("GET", "/v1/status?x=1", None, 400, "unexpected query parameter(s): x"),
        ("GET", "/v1/book/NOPE", None, 404, "no instrument 'NOPE'"),
        ("POST", "/v1/instruments/NOPE/halt", None, 404, "no instrument 'NOPE'"),
        ("POST", "/v1/instruments/A%20B/halt", None, 400, "bad symbol 'A B'"),
        ("POST", "/v1/instruments/%00/resume", None, 400, "bad symbol"),
        ("POST", "/v1/sessions/abc/cancel-all", None, 400, "bad session id 'abc'"),
        ("POST", "/v1/sessions/-1/cancel-all", None, 400, "bad session id '-1'"),
        ("POST", "/v1/sessions/4294967296/cancel-all", None, 400, "bad session id"),
        ("POST", "/v1/sessions/99/cancel-all", None, 404, "no session 99; this appliance has"),
        ("POST", "/v1/sessions/0/cancel-all", None, 404, "no session 0"),
        ("POST", "/v1/snapshot", b"{not json", 400, "body is not JSON"),
        ("POST", "/v1/snapshot", b"[1, 2]", 400, "body must be a JSON object"),
        ("POST", "/v1/snapshot", b"[" * 60_000, 400, "body nests deeper than 32 levels"),
        ("POST", "/v1/instruments/WMTA/halt", b"\xff\xfe", 400, "body is not JSON"),
        ("GET", "/v1/nothing", None, 404, "no such path '/v1/nothing'"),
        ("GET", "/", None, 404, "no such path '/'"),
        ("GET", "/v1/instruments/WMTA/halt", None, 405, "GET is not allowed"),
        ("POST", "/v1/status", None, 405, "POST is not allowed on /v1/status; use GET"),
        ("DELETE", "/v1/book/WMTA", None, 405, "DELETE is not allowed"),
        ("PUT", "/v1/snapshot", b"{}", 405, "PUT is not allowed"),
    ],
)
def test_bad_requests(
    live: Live, method: str, path: str, body: bytes | None, status: int, reason: str
) -> None:
    before = live.app.snapshot()
    st, data, headers = call(live.server, method, path, body=body, live_token=live.token)
    assert st == status
    assert set(data) == {"error"} and reason in data["error"], data
    if status == 405:
        assert headers["Allow"] in ("GET", "POST")
    assert live.app.snapshot() == before  # a refused request changed nothing


def test_json_nesting_skips_strings() -> None:
    assert api.json_nesting(b'{"a": [1, {"b": []}]}') == 4
    assert api.json_nesting(b'{"a": "[[[[\\"[["}') == 1
    assert api.json_nesting(b"[" * 100) == 100


def test_many_simultaneous_requests_are_all_answered(live: Live) -> None:
    """200 clients at once: every one answered 200, none timed out."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_: int) -> int:
        return call(live.server, "GET", "/v1/status", live_token=live.token)[0]

    with ThreadPoolExecutor(max_workers=200) as pool:
        codes = list(pool.map(one, range(200)))
    assert codes.count(200) + codes.count(503) == 200, codes
    assert codes.count(200) >= httpserve.MAX_CONNECTIONS, codes


def test_idle_connections_are_bounded_and_time_out(live: Live) -> None:
    """Clients that connect and promise a body they never send hold at most
    MAX_CONNECTIONS threads; beyond that they are refused (503) at once, and
    the API serves again once the idle ones time out."""
    import socket
    import threading
    import time

    threads_before = threading.active_count()
    held = []
    promise = (
        f"POST /v1/snapshot HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {live.token}\r\n"
        "Content-Length: 100\r\n\r\n"
    ).encode()
    try:
        for _ in range(httpserve.MAX_CONNECTIONS + 150):
            c = socket.create_connection(live.server.address, timeout=5)
            c.sendall(promise)
            held.append(c)
        time.sleep(0.5)
        assert threading.active_count() <= threads_before + httpserve.MAX_CONNECTIONS + 2
        t0 = time.monotonic()
        st, data, _ = call(live.server, "GET", "/v1/status", live_token=live.token)
        assert st == 503 and "too many connections" in data["error"]
        assert time.monotonic() - t0 < 2, "a refusal must be immediate"
        deadline = time.monotonic() + httpserve.IDLE_TIMEOUT_S + 5
        while True:
            st, _, _ = call(live.server, "GET", "/v1/status", live_token=live.token)
            if st == 200:
                break
            assert time.monotonic() < deadline, "the idle connections never timed out"
            time.sleep(0.5)
    finally:
        for c in held:
            c.close()


def test_serve_api_refuses_unsafe_setups(live: Live) -> None:
    with pytest.raises(ValueError, match="non-empty token"):
        api.serve_api(live.app, "127.0.0.1:0", "")
    with pytest.raises(ValueError, match="not a loopback address"):
        api.serve_api(live.app, "0.0.0.0:0", live.token)
    with api.serve_api(live.app, "[::1]:0", live.token) as s6:
        assert s6.address[0] == "::1"
        st, data, _ = call(s6, "GET", "/v1/instruments", live_token=live.token)
        assert st == 200 and len(data["instruments"]) == 2


def test_stopped_appliance_answers_errors(veth_pair: VethHost) -> None:
    """A controller that fails is an answer (500 with the reason); the API goes on."""
    name = f"wmopsstop{os.getpid()}"
    with running_appliance(veth_pair, name) as app, api.serve_api(app, "127.0.0.1:0", "t") as s:
        st, data, _ = call(s, "GET", "/v1/book/WMTA", token="t")
        assert st == 200 and api.shape_errors(data, api.Book) == []
        app.stop()
        st, data, _ = call(s, "POST", "/v1/sessions/1/cancel-all", token="t")
        assert st == 500 and "ApplianceError: control request" in data["error"], data
        st, data, _ = call(s, "GET", "/v1/status", token="t")
        assert st == 200 and data["running"] is False
        assert api.shape_errors(data, api.Status) == []


# -- the CLI client ------------------------------------------------------------------------


def test_cli_book_halt_resume_cancel(
    live: Live, book: dict[str, tuple[int, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    name = live.name
    assert main(["book", "WMTA", "--name", name, "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("WMTA (open), 5 live order(s)\n")
    assert re.search(r"^ +2 +15 +999900 \| 1000100 +3 +1$", out, re.M), out
    assert re.search(r"^ +1 +7 +999800 \| 1000300 +4 +1$", out, re.M), out
    b1_ref, b1_user = book["b1"]
    assert re.search(rf"^  ref {b1_ref} +session 1 +user ref {b1_user} +10 @ 999900$", out, re.M)
    assert "truncated" not in out
    assert main(["book", "WMTA", "--name", name, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert api.shape_errors(data, api.Book) == []
    assert data["l2"]["asks"][0] == {"price": 1_000_100, "qty": 3, "orders": 1}

    assert main(["halt", "WMTA", "--name", name]) == 0
    assert capsys.readouterr().out.strip() == "WMTA: halted"
    assert live.app.book("WMTA", 1)["state"] == "halted"
    assert main(["instruments", "--name", name]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^WMTA +1 +halted +100 +999,900 +1,000,100$", out, re.M), out
    assert main(["instruments", "--name", name, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert api.shape_errors(rows, list[api.Instrument]) == []
    assert {r["symbol"]: r["state"] for r in rows}["WMTA"] == "halted"
    assert main(["resume", "WMTA", "--name", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"symbol": "WMTA", "state": "open"}
    assert live.app.book("WMTA", 1)["state"] == "open"

    assert main(["cancel-all", "2", "--name", name]) == 0
    assert capsys.readouterr().out.strip() == "session 2: 2 order(s) cancelled"
    assert main(["cancel-all", "2", "--name", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"session": 2, "cancelled": 0}
    assert main(["cancel-all", "99", "--name", name]) == 1  # not a session of this appliance
    err = capsys.readouterr().err
    assert "no session 99; this appliance has sessions 1, 2, 3, 7 (404)" in err


def test_cli_errors(
    live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    name = live.name
    assert main(["halt", "WMTA", "--name", name, "--token", "wrong"]) == 1
    assert "refused the token (401)" in capsys.readouterr().err
    monkeypatch.setenv("WIREMATCH_TOKEN", "also-wrong")
    assert main(["halt", "WMTA", "--name", name]) == 1
    assert "refused the token" in capsys.readouterr().err
    monkeypatch.delenv("WIREMATCH_TOKEN")
    assert main(["halt", "NOPE", "--name", name]) == 1
    assert "no instrument 'NOPE'" in capsys.readouterr().err
    assert main(["cancel-all", "x1", "--name", name]) == 1
    assert "bad session id 'x1': an integer 0..4294967295 (400)" in capsys.readouterr().err
    assert main(["book", "WMTA", "--name", name, "--depth", "0"]) == 1
    assert "--depth must be" in capsys.readouterr().err

    # The token file in another run directory: readable by others, then gone.
    monkeypatch.setenv("WIREMATCH_RUN_DIR", str(tmp_path))
    path = api.write_token_file(name, live.token)
    assert path == tmp_path / f"{name}.token" and (path.stat().st_mode & 0o777) == 0o600
    assert main(["book", "WMTB", "--name", name]) == 0
    capsys.readouterr()
    os.chmod(path, 0o644)
    assert main(["halt", "WMTA", "--name", name]) == 1
    assert "readable by others" in capsys.readouterr().err
    path.unlink()
    assert main(["halt", "WMTA", "--name", name]) == 1
    assert "no token file" in capsys.readouterr().err

    assert main(["halt", "WMTA", "--name", "absent-x", "--token", live.token]) == 1
    assert "no running wirematch instance named 'absent-x'" in capsys.readouterr().err
    host, port = live.server.address
    argv = ["--api", f"{host}:{port}", "--token", live.token]
    assert main(["resume", "WMTA", "--name", "absent-x", *argv]) == 0  # no region needed
    assert capsys.readouterr().out.strip() == "WMTA: open"
    nobody = f"127.0.0.1:{free_port()}"
    assert main(["resume", "WMTA", "--api", nobody, "--token", live.token]) == 1
    assert "cannot reach the operator API" in capsys.readouterr().err


def test_cli_without_api_or_stopped(
    shm_name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WIREMATCH_RUN_DIR", str(tmp_path))
    o = opsregion.build(shm_name, api="")
    try:
        assert main(["halt", "WMTA", "--name", shm_name, "--token", "t"]) == 1
        assert "runs without the operator API" in capsys.readouterr().err
        appliance = o.counters["appliance"]
        appliance.values[appliance.names.index("running")] = 0
        assert main(["halt", "WMTA", "--name", shm_name, "--token", "t"]) == 1
        assert "has stopped" in capsys.readouterr().err
    finally:
        o.close()


def test_cli_from_another_process(live: Live, book: dict[str, tuple[int, int]]) -> None:
    p = subprocess.run(
        [sys.executable, "-m", "wirematch", "book", "WMTB", "--name", live.name, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert api.shape_errors(data, api.Book) == []
    assert data["l2"]["asks"] == [{"price": 2_001_000, "qty": 1, "orders": 1}]
    assert data["l3"]["asks"][0]["order_ref"] == book["x1"][0]
