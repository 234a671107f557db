"""The operator API over HTTP, serving a controller backed by the real matcher
(and a real flow table), and the CLI client commands that call it."""

from __future__ import annotations

import http.client
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests import ROOT, opsregion
from wirematch.classify.decide import ALLOW, Decision
from wirematch.classify.table import FlowTable
from wirematch.pipeline.cli import main
from wirematch.pipeline.native import matcher as mt
from wirematch.pipeline.ops import api

TOKEN = "s3cret-token-0123456789"
SYMBOLS = {"WMTA": 1, "WMTB": 2}


class MatcherController:
    """The controller the appliance provides, over a real matcher and flow table."""

    def __init__(self) -> None:
        self.matcher = mt.Matcher(max_instruments=4, max_orders=1024, max_sessions=64)
        for iid in SYMBOLS.values():
            self.matcher.add_instrument(mt.InstrumentRules(id=iid, ref_price=1000, max_levels=64))
        self.table = FlowTable.create(16)
        self.table.install(
            (opsregion.ip("10.0.0.1"), opsregion.ip("10.0.0.254"), 40001, 15000, 0, 17),
            Decision(ALLOW, session=1),
            1,
        )
        self.next_cid = 1

    def _id(self, symbol: str) -> int:
        if symbol not in SYMBOLS:
            raise KeyError(f"no instrument {symbol!r}")
        return SYMBOLS[symbol]

    def new(self, session: int, symbol: str, side: int, price: int, qty: int) -> np.ndarray:
        self.next_cid += 1
        return self.matcher.submit(
            type=mt.CMD_NEW,
            session=session,
            account=session,
            client_id=self.next_cid,
            instrument=self._id(symbol),
            side=side,
            ord_type=mt.LIMIT,
            tif=mt.DAY,
            price=price,
            qty=qty,
        )

    def status(self) -> dict[str, Any]:
        return {"live_orders": self.matcher.live_orders, "matcher": self.matcher.counters()}

    def flows(self) -> list[dict[str, Any]]:
        return [
            {"session": int(e["decision"]["session"]), "packets": int(e["packets"])}
            for e in self.table.flows()
        ]

    def instruments(self) -> list[dict[str, Any]]:
        return [
            {"symbol": s, "id": i, "state": api.state_name(self.matcher.status(i)["state"])}
            for s, i in SYMBOLS.items()
        ]

    def halt(self, symbol: str) -> dict[str, Any]:
        self.matcher.halt(self._id(symbol))
        return {
            "symbol": symbol,
            "state": api.state_name(self.matcher.status(SYMBOLS[symbol])["state"]),
        }

    def resume(self, symbol: str) -> dict[str, Any]:
        self.matcher.resume(self._id(symbol))
        return {
            "symbol": symbol,
            "state": api.state_name(self.matcher.status(SYMBOLS[symbol])["state"]),
        }

    def cancel_all(self, session: int) -> dict[str, Any]:
        ev = self.matcher.mass_cancel(session)
        done = ev[ev["type"] == mt.EV["mass_cancelled"]]
        return {"session": session, "cancelled": int(done["qty"].sum())}

    def book(self, symbol: str, depth: int) -> dict[str, Any]:
        return api.book_from_matcher(self.matcher, self._id(symbol), symbol, depth)

    def snapshot(self) -> dict[str, Any]:
        return {"seq": self.matcher.last_seq, "hash": f"{self.matcher.hash:016x}"}


@pytest.fixture
def ctl() -> MatcherController:
    c = MatcherController()
    c.new(1, "WMTA", mt.BUY, 999, 10)
    c.new(2, "WMTA", mt.BUY, 999, 5)
    c.new(1, "WMTA", mt.BUY, 998, 7)
    c.new(2, "WMTA", mt.SELL, 1001, 3)
    c.new(1, "WMTA", mt.SELL, 1003, 4)
    c.new(1, "WMTB", mt.SELL, 1010, 1)
    return c


@pytest.fixture
def server(ctl: MatcherController) -> Iterator[api.ApiServer]:
    with api.serve_api(ctl, "127.0.0.1:0", TOKEN) as s:
        yield s


def call(
    server: api.ApiServer,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = TOKEN,
    auth: str | None = None,
) -> tuple[int, Any, dict[str, str]]:
    conn = http.client.HTTPConnection(*server.address, timeout=10)
    headers = {}
    if auth is not None:
        headers["Authorization"] = auth
    elif token is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = json.loads(resp.read())
    conn.close()
    return resp.status, data, dict(resp.getheaders())


def test_token_required(server: api.ApiServer) -> None:
    for kwargs in (
        {"token": None},
        {"token": "wrong"},
        {"token": TOKEN[:-1]},
        {"token": TOKEN + "x"},
        {"auth": f"Basic {TOKEN}"},
        {"auth": TOKEN},
    ):
        for method, path in (("GET", "/v1/status"), ("POST", "/v1/instruments/WMTA/halt")):
            st, data, headers = call(server, method, path, **kwargs)
            assert st == 401, (kwargs, path)
            assert data == {"error": "missing or wrong bearer token"}
            assert headers["WWW-Authenticate"].startswith("Bearer")
    st, _, _ = call(server, "GET", "/nowhere", token="wrong")  # no route leaks without a token
    assert st == 401


def test_read_routes(server: api.ApiServer, ctl: MatcherController) -> None:
    st, data, headers = call(server, "GET", "/v1/status")
    assert st == 200 and headers["Content-Type"] == "application/json"
    assert data["live_orders"] == 6 and data == json.loads(json.dumps(ctl.status()))
    st, data, _ = call(server, "GET", "/v1/flows")
    assert st == 200 and data == {"flows": [{"session": 1, "packets": 0}]}
    st, data, _ = call(server, "GET", "/v1/instruments")
    assert st == 200
    assert data["instruments"] == [
        {"symbol": "WMTA", "id": 1, "state": "open"},
        {"symbol": "WMTB", "id": 2, "state": "open"},
    ]
    st, data, _ = call(server, "POST", "/v1/snapshot")
    assert st == 200 and data["seq"] == ctl.matcher.last_seq > 0


def test_book(server: api.ApiServer, ctl: MatcherController) -> None:
    st, data, _ = call(server, "GET", "/v1/book/WMTA?depth=1")
    assert st == 200 and data["symbol"] == "WMTA" and data["state"] == "open"
    assert data["l2"]["bids"] == [{"price": 999, "qty": 15, "orders": 2}]
    assert data["l2"]["asks"] == [{"price": 1001, "qty": 3, "orders": 1}]
    # L3: the orders at the shown levels, time priority (session 1's first).
    assert [(o["session"], o["qty"]) for o in data["l3"]["bids"]] == [(1, 10), (2, 5)]
    assert [(o["session"], o["price"]) for o in data["l3"]["asks"]] == [(2, 1001)]
    st, data, _ = call(server, "GET", "/v1/book/WMTA")  # default depth 10
    assert [lv["price"] for lv in data["l2"]["bids"]] == [999, 998]
    assert [lv["price"] for lv in data["l2"]["asks"]] == [1001, 1003]
    assert len(data["l3"]["bids"]) == 3
    l2 = ctl.matcher.l2(1, mt.BUY, 10)
    assert [(lv["price"], lv["qty"]) for lv in data["l2"]["bids"]] == [
        (int(x["price"]), int(x["qty"])) for x in l2
    ]


def test_halt_and_resume(server: api.ApiServer, ctl: MatcherController) -> None:
    st, data, _ = call(server, "POST", "/v1/instruments/WMTA/halt")
    assert st == 200 and data == {"symbol": "WMTA", "state": "halted"}
    assert ctl.matcher.status(1)["state"] == mt.HALTED
    ev = ctl.new(3, "WMTA", mt.BUY, 999, 1)  # the matcher refuses orders while halted
    assert mt.EV["rejected"] in ev["type"]
    st, data, _ = call(server, "GET", "/v1/instruments")
    assert data["instruments"][0]["state"] == "halted"
    st, data, _ = call(server, "POST", "/v1/instruments/WMTA/resume", body=b'{"reason": "ok"}')
    assert st == 200 and data == {"symbol": "WMTA", "state": "open"}
    assert ctl.matcher.status(1)["state"] == mt.OPEN
    assert mt.EV["accepted"] in ctl.new(3, "WMTA", mt.BUY, 999, 1)["type"]


def test_cancel_all(server: api.ApiServer, ctl: MatcherController) -> None:
    st, data, _ = call(server, "POST", "/v1/sessions/1/cancel-all")
    assert st == 200 and data == {"session": 1, "cancelled": 4}
    _, book, _ = call(server, "GET", "/v1/book/WMTA")
    assert {o["session"] for side in ("bids", "asks") for o in book["l3"][side]} == {2}
    assert ctl.matcher.status(2)["live_orders"] == 0
    st, data, _ = call(server, "POST", "/v1/sessions/1/cancel-all")
    assert st == 200 and data["cancelled"] == 0


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
        ("POST", "/v1/snapshot", b"{not json", 400, "body is not JSON"),
        ("POST", "/v1/snapshot", b"[1, 2]", 400, "body must be a JSON object"),
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
    server: api.ApiServer,
    ctl: MatcherController,
    method: str,
    path: str,
    body: bytes | None,
    status: int,
    reason: str,
) -> None:
    seq = ctl.matcher.last_seq
    st, data, headers = call(server, method, path, body=body)
    assert st == status
    assert set(data) == {"error"} and reason in data["error"], data
    if status == 405:
        assert headers["Allow"] in ("GET", "POST")
    assert ctl.matcher.last_seq == seq  # a refused request changed nothing
    assert ctl.matcher.status(1)["state"] == mt.OPEN


def test_controller_errors_are_answers(server: api.ApiServer, ctl: MatcherController) -> None:
    def broken() -> dict[str, Any]:
        raise RuntimeError("matcher thread is gone")

    def refused() -> dict[str, Any]:
        raise ValueError("snapshot already running")

    ctl.status = broken  # type: ignore[method-assign]
    st, data, _ = call(server, "GET", "/v1/status")
    assert st == 500 and "RuntimeError: matcher thread is gone" in data["error"]
    ctl.snapshot = refused  # type: ignore[method-assign]
    st, data, _ = call(server, "POST", "/v1/snapshot")
    assert st == 400 and data == {"error": "snapshot already running"}
    st, _, _ = call(server, "GET", "/v1/instruments")  # and the API goes on
    assert st == 200


def test_serve_api_refuses_unsafe_setups(ctl: MatcherController) -> None:
    with pytest.raises(ValueError, match="non-empty token"):
        api.serve_api(ctl, "127.0.0.1:0", "")
    with pytest.raises(ValueError, match="not a loopback address"):
        api.serve_api(ctl, "0.0.0.0:0", TOKEN)
    with api.serve_api(ctl, "[::1]:0", TOKEN) as s6:
        assert s6.address[0] == "::1"
        st, _, _ = call(s6, "GET", "/v1/instruments")
        assert st == 200


# -- the CLI client --------------------------------------------------------------------


@pytest.fixture
def instance(
    server: api.ApiServer, shm_name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A region advertising the API, and its token file in a run directory."""
    monkeypatch.setenv("WIREMATCH_RUN_DIR", str(tmp_path))
    monkeypatch.delenv("WIREMATCH_TOKEN", raising=False)
    host, port = server.address
    o = opsregion.build(shm_name, api=f"{host}:{port}")
    path = api.write_token_file(shm_name, TOKEN)
    assert path == tmp_path / f"{shm_name}.token"
    assert (path.stat().st_mode & 0o777) == 0o600
    yield shm_name
    o.close()


def test_cli_book_halt_resume_cancel(
    instance: str, ctl: MatcherController, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["book", "WMTA", "--name", instance, "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("WMTA (open)")
    assert re.search(r"^ +2 +15 +999 \| 1001 +3 +1$", out, re.M), out
    assert re.search(r"^ +1 +7 +998 \| 1003 +4 +1$", out, re.M), out
    assert main(["book", "WMTA", "--name", instance, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["l2"]["asks"][0] == {"price": 1001, "qty": 3, "orders": 1}

    assert main(["halt", "WMTA", "--name", instance]) == 0
    assert capsys.readouterr().out.strip() == "WMTA: halted"
    assert ctl.matcher.status(1)["state"] == mt.HALTED
    assert main(["resume", "WMTA", "--name", instance, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "open"
    assert main(["cancel-all", "2", "--name", instance]) == 0
    assert capsys.readouterr().out.strip() == "session 2: 2 order(s) cancelled"


def test_cli_errors(
    instance: str,
    server: api.ApiServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["halt", "WMTA", "--name", instance, "--token", "wrong"]) == 1
    assert "refused the token (401)" in capsys.readouterr().err
    monkeypatch.setenv("WIREMATCH_TOKEN", "also-wrong")
    assert main(["halt", "WMTA", "--name", instance]) == 1
    assert "refused the token" in capsys.readouterr().err
    monkeypatch.delenv("WIREMATCH_TOKEN")
    assert main(["halt", "NOPE", "--name", instance]) == 1
    assert "no instrument 'NOPE'" in capsys.readouterr().err
    assert main(["cancel-all", "x1", "--name", instance]) == 1
    assert "bad session id 'x1': an integer 0..4294967295 (400)" in capsys.readouterr().err
    assert main(["book", "WMTA", "--name", instance, "--depth", "0"]) == 1
    assert "--depth must be" in capsys.readouterr().err

    os.chmod(api.token_path(instance), 0o644)
    assert main(["halt", "WMTA", "--name", instance]) == 1
    assert "readable by others" in capsys.readouterr().err
    api.token_path(instance).unlink()
    assert main(["halt", "WMTA", "--name", instance]) == 1
    assert "no token file" in capsys.readouterr().err

    assert main(["halt", "WMTA", "--name", "absent-x", "--token", TOKEN]) == 1
    assert "no running wirematch instance named 'absent-x'" in capsys.readouterr().err
    host, port = server.address
    assert main(["halt", "WMTA", "--api", f"{host}:{port}", "--token", TOKEN]) == 0  # no region
    capsys.readouterr()
    server.close()
    assert main(["resume", "WMTA", "--api", f"{host}:{port}", "--token", TOKEN]) == 1
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
        assert main(["halt", "WMTA", "--name", shm_name, "--token", TOKEN]) == 1
        assert "runs without the operator API" in capsys.readouterr().err
        appliance = o.counters["appliance"]
        appliance.values[appliance.names.index("running")] = 0
        assert main(["halt", "WMTA", "--name", shm_name, "--token", TOKEN]) == 1
        assert "has stopped" in capsys.readouterr().err
    finally:
        o.close()


def test_cli_from_another_process(instance: str, tmp_path: Path) -> None:
    env = dict(os.environ, WIREMATCH_RUN_DIR=str(tmp_path))
    p = subprocess.run(
        [sys.executable, "-m", "wirematch", "book", "WMTB", "--name", instance, "--json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["l2"]["asks"] == [{"price": 1010, "qty": 1, "orders": 1}]
