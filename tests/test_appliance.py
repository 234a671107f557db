"""End to end over veth: the appliance (C data plane, Python control) in the
root namespace, clients and a market-data listener in the pair's namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.appliance_host import (
    Reference,
    cancel,
    client,
    drain_md,
    enter,
    md_listener,
    replace,
    running_appliance,
    strip,
    wait_for,
)
from tests.needs import program
from wirematch.nic.testhost import VethHost
from wirematch.pipeline.protocols import codec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _name(tag: str) -> str:
    return f"wme2e{tag}{os.getpid()}"


def _counters(app: Any, block: str) -> dict[str, int]:
    return app.counters()[block]


def _run_against_reference(h, app, ref, script, c1, c2, md):
    """Send each (client, messages) packet of the script, one at a time (the
    appliance applies them in this order), feed the same to the reference,
    and check both clients' replies and the market data against it."""
    sent = 0
    for c, msgs in script:
        c.send(h, msgs)
        for m in msgs:
            ref.submit(c.session, m)
        sent += len(msgs)
        assert wait_for(lambda n=sent: _counters(app, "engine.s0")["messages"] == n)
    got1, got2 = c1.drain(0.3), c2.drain(0.3)
    assert [strip(m) for m in got1] == [strip(m) for m in ref.replies(1)]
    assert [strip(m) for m in got2] == [strip(m) for m in ref.replies(2)]
    md_got = drain_md(md, 0.3)
    assert [strip(m) for m in md_got] == [strip(m) for m in ref.market_data()]
    return got1, got2, md_got


def test_sessions_get_the_reference_replies_and_market_data(veth_pair: VethHost) -> None:
    h = veth_pair
    with running_appliance(h, _name("ref")) as app:
        md = md_listener(h)
        c1, c2 = client(h, 21001, 1), client(h, 21002, 2)
        for c in (c1, c2):
            c.hello(h)
        assert wait_for(lambda: len(app.flows()) == 2)
        ref = Reference()
        script = [
            (c1, [enter(1), enter(2, price=1_000_100), enter(3, side="S", price=1_001_000)]),
            (c2, [enter(1, side="S", qty=150, price=1_000_000)]),
            (c1, [cancel(3), replace(1, 4, qty=300, price=1_000_200)]),
            (c2, [enter(2, side="B", qty=50, price=1_000_000, sym="WMTB"), cancel(99)]),
            (c2, [enter(3, side="S", qty=500, price=1_000_000)]),  # crosses c1's rest
            (c1, [enter(5, price=1_300_000)]),  # outside the price band: rejected
        ]
        got1, got2, _ = _run_against_reference(h, app, ref, script, c1, c2, md)
        types = [m["type"] for m in got1]
        assert "E" in types and "C" in types and "U" in types and "J" in types
        # Timestamps are today's time in ns since midnight.
        assert all(0 < m["timestamp"] < 86_400 * 10**9 for m in got1 + got2)


def test_unknown_flow_denied_and_rate_limit_throttles(veth_pair: VethHost) -> None:
    h = veth_pair
    with running_appliance(h, _name("deny")) as app:
        stranger, denied, slow = client(h, 21500, 0), client(h, 21009, 0), client(h, 21003, 3)
        for c in (stranger, denied, slow):
            c.hello(h)
        assert wait_for(lambda: len(app.flows()) == 3)
        for i in range(5):
            stranger.send(h, [enter(i + 1)])
            denied.send(h, [enter(i + 1)])
        # Session 3: 20/s with a burst of 5: 30 single-order packets at once.
        for i in range(30):
            slow.send(h, [enter(i + 1, price=900_000 + i * 100)])
        assert wait_for(lambda: _counters(app, "rx.q0")["drop_rate_limited"] > 0)
        flows = {f["src"].split(":")[1]: f for f in app.flows()}
        assert flows["21500"]["action"] == "deny" and flows["21500"]["rule"] == 0xFFFFFFFF
        assert flows["21009"]["action"] == "deny" and flows["21009"]["rule"] != 0xFFFFFFFF
        # the hello too: held until the flow was decided, then denied
        assert flows["21500"]["drops"] == 6 and flows["21009"]["drops"] == 6
        assert stranger.drain(0.2) == [] and denied.drain(0.2) == []
        final = app.stop()
    rx = final["counters"]["rx.q0"]
    m = final["counters"]["matcher.s0"]
    assert rx["drop_flow_denied"] == 12 and rx["heartbeats"] == 1  # slow's hello
    assert 5 <= m["cmd_new"] <= 8  # the burst, plus what refilled meanwhile
    assert rx["drop_rate_limited"] == 30 - m["cmd_new"]
    assert final["classifier"]["denied_default"] == 1
    assert final["classifier"]["denied_by_rule"] == 1


def test_rules_change_at_run_time(veth_pair: VethHost) -> None:
    h = veth_pair
    with running_appliance(h, _name("rules")) as app:
        c1, c2 = client(h, 21001, 1), client(h, 21777, 0)
        c1.hello(h)
        c2.hello(h)
        assert wait_for(lambda: len(app.flows()) == 2)
        c1.send(h, [enter(1)])
        assert wait_for(lambda: [m["type"] for m in c1.drain()] == ["S", "A"])
        c2.send(h, [enter(1)])
        assert c2.drain(0.2) == []
        done = app.set_rules(
            f"deny src {h.peer_addr} sport 21001\n"
            f"allow src {h.peer_addr} sport 21777 as session 7\n"
        )
        assert done["installed"] == 2  # exactly the two flows whose decision changed
        c1.send(h, [enter(2)])
        # Its first packet was dropped (denied) before sequencing: resend from 1.
        c2.send(h, [enter(1)], seq=1)
        assert wait_for(lambda: [m["type"] for m in c2.drain()] == ["S", "A"])
        assert c1.drain(0.2) == []
        by_port = {f["src"].split(":")[1]: f for f in app.flows()}
        assert by_port["21777"]["session"] == 7 and by_port["21001"]["action"] == "deny"


def test_status_from_another_process_metrics_and_api(veth_pair: VethHost) -> None:
    h = veth_pair
    promtool = program("promtool", "apt-get install prometheus (make deps)")
    name = _name("ops")
    with running_appliance(h, name) as app:
        from wirematch.pipeline.ops.api import serve_api
        from wirematch.pipeline.ops.metrics import serve_metrics

        c1 = client(h, 21001, 1)
        c1.hello(h)
        assert wait_for(lambda: len(app.flows()) == 1)
        c1.send(h, [enter(1), enter(2, side="S", price=1_000_000)])
        assert wait_for(lambda: len(c1.drain()) >= 2)
        out = subprocess.run(
            [sys.executable, "-m", "wirematch", "status", "--name", name, "--json",
             "--interval", "0"],
            capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        status = json.loads(out.stdout)
        text = json.dumps(status)
        assert "rx" in text and "engine" in text
        metrics = serve_metrics(name, "127.0.0.1:0")
        api = serve_api(app, "127.0.0.1:0", "s3cret")
        try:
            body = urllib.request.urlopen(f"{metrics.url}", timeout=10).read()
            assert b"wirematch_rx_packets_total" in body
            chk = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
            assert chk.returncode == 0, chk.stdout + chk.stderr
            base = f"http://{api.address[0]}:{api.address[1]}/v1"
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                req = urllib.request.Request(f"{base}/status", headers=headers)
                try:
                    urllib.request.urlopen(req, timeout=10)
                    raise AssertionError("no 401")
                except urllib.error.HTTPError as e:
                    assert e.code == 401
            auth = {"Authorization": "Bearer s3cret"}
            req = urllib.request.Request(
                f"{base}/instruments/WMTA/halt", method="POST", headers=auth
            )
            assert json.loads(urllib.request.urlopen(req, timeout=10).read())["state"] == "halted"
            req = urllib.request.Request(f"{base}/book/NOPE", headers=auth)
            try:
                urllib.request.urlopen(req, timeout=10)
                raise AssertionError("unknown symbol accepted")
            except urllib.error.HTTPError as e:
                assert e.code in (400, 404) and "NOPE" in json.loads(e.read())["error"]
            # Halted: a new order is rejected by the matcher.
            c1.send(h, [enter(3)])
            assert wait_for(lambda: any(m["type"] == "J" for m in c1.drain()))
            book = app.book("WMTA")
            assert book["state"] == "halted"
        finally:
            metrics.close()
            api.close()


@pytest.mark.parametrize(("rx_backlog", "burst"), [(32, 32), (1, 4), (0, 32)])
def test_clean_stop_loses_nothing(veth_pair: VethHost, rx_backlog: int, burst: int) -> None:
    """rx_backlog 1 with engine bursts of 4: after each 10-order packet the
    engine is behind and the rx stage waits; 0: it receives until the in
    ring is full.  Either way nothing is lost."""
    h = veth_pair
    name = _name(f"drain{rx_backlog}")
    with running_appliance(h, name, rx_backlog=rx_backlog, burst=burst) as app:
        cs = [client(h, 21001, 1), client(h, 21002, 2)]
        for c in cs:
            c.hello(h)
        assert wait_for(lambda: len(app.flows()) == 2)
        ref = 1
        for _ in range(100):
            for c in cs:
                c.send(h, [enter(r, price=900_000 + (r % 50) * 100) for r in range(ref, ref + 10)])
            ref += 10
        final = app.stop()
    c = final["counters"]
    assert final["drained"]
    accepted_in = c["rx.q0"]["messages"]
    lost_by_kernel = c["nic.q0"]["drop_socket_full"]
    assert accepted_in + lost_by_kernel * 10 == 2000 or accepted_in == 2000
    # Everything the rx stage accepted was applied, answered and sent.
    assert c["engine.s0"]["messages"] == accepted_in
    assert c["matcher.s0"]["cmd_new"] == accepted_in
    # One Accepted each (nothing crosses), and System Events S and E per session.
    assert c["engine.s0"]["replies"] == accepted_in + 2 * 2
    assert c["tx.q0"]["packets"] == c["engine.s0"]["reply_packets"] + c["engine.s0"]["md_packets"]
    if rx_backlog == 0:
        assert c["rx.q0"]["backlog_waits"] == 0
    elif burst < 10:
        assert c["rx.q0"]["backlog_waits"] > 0


@pytest.mark.parametrize("backend", ["socket", "io_uring", "af_xdp"])
def test_a_new_sessions_first_packets_wait_for_the_classifier_and_are_matched(
    backend: str, veth_pair: VethHost
) -> None:
    """A new session that opens with orders (no heartbeat) while the
    classifier cannot install its flow: every packet is held, none dropped,
    and all are matched in the client's order once the flow is decided."""
    h = veth_pair
    with running_appliance(h, _name(f"first{backend[:2]}"), backend) as app:
        c = client(h, 21002, 2)
        with app._lock:  # the control plane busy (as during a rules change): no install
            for ref in range(1, 21):
                c.send(h, [enter(ref, price=1_000_000 - ref * 100)])
            assert wait_for(lambda: _counters(app, "rx.q0")["held"] == 20)
            rx = _counters(app, "rx.q0")
            assert rx["messages"] == 0 and rx["flow_misses"] >= 1
        got: list[dict[str, Any]] = []
        assert wait_for(lambda: len(got.extend(c.drain()) or got) == 21), got
        assert [m["type"] for m in got] == ["S"] + ["A"] * 20
        assert [m["user_ref_num"] for m in got[1:]] == list(range(1, 21))
        final = app.stop()
    rx = final["counters"]["rx.q0"]
    assert rx["messages"] == 20 and rx["held"] == 20
    assert {k: v for k, v in rx.items() if k.startswith("drop_") and v} == {}
    assert final["counters"]["matcher.s0"]["cmd_new"] == 20


def test_a_sequence_gap_is_counted_and_does_not_cut_the_session_off(veth_pair: VethHost) -> None:
    """Default on_sequence_gap ("accept"): a lost packet costs its own
    messages only; the gap is counted and the session goes on."""
    h = veth_pair
    with running_appliance(h, _name("gap")) as app:
        c = client(h, 21001, 1)
        c.send(h, [enter(1)], seq=1)
        c.send(h, [enter(3), enter(4)], seq=3)  # sequence number 2 never arrives
        c.send(h, [enter(5)], seq=5)
        got: list[dict[str, Any]] = []
        assert wait_for(lambda: len(got.extend(c.drain()) or got) == 5), got
        assert [m.get("user_ref_num") for m in got if m["type"] == "A"] == [1, 3, 4, 5]
        final = app.stop()
    rx = final["counters"]["rx.q0"]
    assert rx["seq_gaps"] == 1 and rx["gap_messages_missing"] == 1
    assert rx["messages"] == 4 and rx["drop_after_gap"] == 0


FULL_ENTER_APPENDAGE = dict(
    firm="WMCH", min_qty=100, customer_type="R", max_floor=0, price_type="L", peg_offset=-100,
    discretion_price=999_900, discretion_price_type="L", discretion_peg_offset=100,
    post_only="N", random_reserves=0, route="RTE1", expire_time=3600, trade_now="N",
    handle_inst="I", group_id=7, shares_located="N", user_ref_idx=1,
)  # fmt: skip


def test_entry_edges_through_the_appliance(veth_pair: VethHost) -> None:
    """The longest legal Enter Order (every tag it may carry, 133 bytes)
    reaches the matcher; a price the feed cannot carry and a second
    UserRefNum 2^32-1 are refused with the reference's Rejected Order, and
    the feed announces every order that trades."""
    h = veth_pair
    with running_appliance(h, _name("edge")) as app:
        md = md_listener(h)
        c1, c2 = client(h, 21001, 1), client(h, 21002, 2)
        for c in (c1, c2):
            c.hello(h)
        assert wait_for(lambda: len(app.flows()) == 2)
        ref = Reference()
        longest = enter(1, qty=300, app=FULL_ENTER_APPENDAGE)
        assert len(longest) == 133
        last = 0xFFFFFFFF
        script = [
            (c2, [enter(1, side="S", qty=300)]),
            (c1, [longest]),  # MinQty 100: fills against c2's order at once
            (c2, [enter(2, side="S", qty=100, price=2_000_000_100, sym="WMTB")]),
            (c2, [enter(3, side="S", qty=100, price=2_000_000_000, sym="WMTB")]),
            (c1, [enter(last, side="S", qty=100, price=1_000_200)]),
            (c1, [enter(last, side="S", qty=100, price=1_000_300)]),
            (c1, [codec.encode_ouch_in("C", user_ref_num=last, firm="", symbol="")]),
        ]
        got1, got2, md_got = _run_against_reference(h, app, ref, script, c1, c2, md)
        accepted = [m for m in got1 if m["type"] == "A"]
        assert accepted[0]["user_ref_num"] == 1 and accepted[0]["app"]["firm"] == "WMCH"
        assert any(m["type"] == "E" for m in got1)
        rejects = [(m["user_ref_num"], m["reason"]) for m in got1 + got2 if m["type"] == "J"]
        assert sorted(rejects) == sorted([(2, 0x1D), (last, 0x0F), (last, 0x0F)])
        adds = [m for m in md_got if m["type"] == "A"]
        assert 2_000_000_000 in [a["price"] for a in adds]
        rx = _counters(app, "rx.q0")
        assert rx.get("drop_message_too_long", 0) == 0 and rx.get("drop_bad_ouch", 0) == 0
        gw = _counters(app, "gateway.s0")
        assert gw["gw_in_drop_price_over_feed_max"] == 1
        assert gw["gw_in_drop_user_ref_not_increasing"] == 2
        assert gw.get("gw_itch_drop_unencodable", 0) == 0
