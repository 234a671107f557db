"""An appliance on a veth pair for end-to-end tests, and a client side in
the pair's namespace: OUCH sessions over MoldUDP64, a market-data listener,
and the reference (the same gateway and matcher run in-process) that says
what the replies and the market data must be."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from wirematch.nic.testhost import TestHostError, VethHost, check_privileges, veth_host
from wirematch.pipeline.appliance import Appliance
from wirematch.pipeline.config import parse_config
from wirematch.pipeline.native.matcher import InstrumentRules, Matcher
from wirematch.pipeline.protocols import codec
from wirematch.pipeline.protocols.gateway import Gateway, Stream

PORT = 15000
MD_PORT = 26400
TICK = 100


def config_toml(
    h: VethHost,
    name: str,
    backend: str = "socket",
    rules: str = "",
    rx_backlog: int = 32,
    burst: int = 32,
    surfaces: str = "127.0.0.1:9108,127.0.0.1:8780",
) -> str:
    metrics, api = surfaces.split(",")
    rules = rules or (
        f"allow src {h.peer_addr} sport 21001 as session 1\n"
        f"allow src {h.peer_addr} sport 21002 as session 2\n"
        f"allow src {h.peer_addr} sport 21003 as session 3 rate 20/s burst 5\n"
        f"deny src {h.peer_addr} sport 21009\n"
    )
    return f"""
[appliance]
name = "{name}"
hugepages = false
shm_size = 134217728

[[interfaces]]
name = "{h.host_if}"
backend = "{backend}"
address = "{h.host_addr}:{PORT}"

[matcher]
idle = "sleep"
rx_backlog = {rx_backlog}
burst = {burst}

[[instruments]]
symbol = "WMTA"
id = 1
tick_size = {TICK}
ref_price = 1000000
band = 100000

[[instruments]]
symbol = "WMTB"
id = 2
tick_size = {TICK}
ref_price = 2000000

[[sessions]]
id = 1
name = "one"

[[sessions]]
id = 2
name = "two"

[[sessions]]
id = 3
name = "three"

[[sessions]]
id = 7
name = "seven"

[flows]
rules = '''
{rules}'''

[market_data]
destination = "{h.peer_addr}:{MD_PORT}"

[metrics]
address = "{metrics}"

[api]
address = "{api}"
"""


def enter(ref: int, side: str = "B", qty: int = 100, price: int = 1_000_000, sym: str = "WMTA",
          **over: Any) -> bytes:  # fmt: skip
    fields: dict[str, Any] = dict(
        user_ref_num=ref, side=side, quantity=qty, symbol=sym, price=price, time_in_force="0",
        display="Y", capacity="A", iso="N", cross_type="N", cl_ord_id=f"C{ref}",
    )  # fmt: skip
    fields.update(over)
    return codec.encode_ouch_in("O", **fields)


def cancel(ref: int, qty: int = 0) -> bytes:
    return codec.encode_ouch_in("X", user_ref_num=ref, quantity=qty)


def replace(orig: int, new: int, qty: int = 100, price: int = 1_000_000) -> bytes:
    return codec.encode_ouch_in(
        "U", orig_user_ref_num=orig, user_ref_num=new, quantity=qty, price=price,
        time_in_force="0", display="Y", iso="N", cl_ord_id=f"C{new}",
    )  # fmt: skip


def strip(msg: dict[str, Any]) -> dict[str, Any]:
    """A decoded message without what legitimately differs run to run."""
    return {k: v for k, v in msg.items() if k != "timestamp"}


@dataclass
class Client:
    sock: socket.socket
    port: int
    session: int
    name: str
    seq: int = 1
    received: list[dict[str, Any]] = field(default_factory=list)

    def send(self, h: VethHost, messages: list[bytes], seq: int | None = None) -> None:
        seq = self.seq if seq is None else seq
        self.sock.sendto(codec.mold_pack(self.name, seq, messages), (h.host_addr, PORT))
        self.seq = max(self.seq, seq + len(messages))

    def hello(self, h: VethHost) -> None:
        """A heartbeat: the appliance learns the flow (its first packet is the slow path's)."""
        self.sock.sendto(codec.mold_pack(self.name, self.seq, []), (h.host_addr, PORT))

    def drain(self, wait: float = 0.05) -> list[dict[str, Any]]:
        got = []
        self.sock.settimeout(wait)
        try:
            while True:
                data = self.sock.recv(65536)
                _, _, _, msgs = codec.mold_unpack(data)
                got += [codec.decode_ouch_out(m) for m in msgs]
        except TimeoutError:
            pass
        self.received += got
        return got


class Reference:
    """The expected replies and market data: the same C gateway and matcher,
    in-process, fed the same messages in the same order."""

    def __init__(self) -> None:
        self.m = Matcher(max_instruments=3, max_orders=1 << 12, max_sessions=1 << 16)
        self.m.add_instrument(
            InstrumentRules(id=1, ref_price=10_000, price_band=1_000, max_levels=4096)
        )
        self.m.add_instrument(InstrumentRules(id=2, ref_price=20_000, max_levels=4096))
        self.gw = Gateway(self.m, Stream("WMITCH0000"), account_per_session=True)
        self.gw.add_instrument("WMTA", 1, 1, TICK)
        self.gw.add_instrument("WMTB", 2, 2, TICK)

    def submit(self, session: int, ouch: bytes) -> None:
        if session not in self.gw.sessions:
            self.gw.add_session(session, Stream(f"O{session:09d}"))
            self.gw.system_event(session, "S", 0)
        self.gw.submit(session, 0, ouch)

    def replies(self, session: int) -> list[dict[str, Any]]:
        self.gw.flush()
        out = []
        for p in self.gw.sessions[session].packets:
            out += [codec.decode_ouch_out(m) for m in codec.mold_unpack(p)[3]]
        return out

    def market_data(self) -> list[dict[str, Any]]:
        self.gw.flush()
        out = []
        for p in self.gw.feed.packets:
            out += [codec.decode_itch(m) for m in codec.mold_unpack(p)[3]]
        return out


@contextmanager
def running_appliance(h: VethHost, name: str, backend: str = "socket",
                      rules: str = "", rx_backlog: int = 32, burst: int = 32,
                      surfaces: str = "127.0.0.1:9108,127.0.0.1:8780",
                      ) -> Iterator[Appliance]:  # fmt: skip
    """surfaces: "metrics address,API address" the configuration names (the
    instance record publishes them; the appliance itself serves neither)."""
    text = config_toml(h, name, backend, rules, rx_backlog, burst, surfaces)
    app = Appliance(parse_config(text, "<test>"), md_mac=h.peer_mac)
    try:
        app.start()
        yield app
    finally:
        app.close()
        from wirematch.pipeline.native.shm import Region

        Region.unlink(name, missing_ok=True)


def client(h: VethHost, port: int, session: int) -> Client:
    s = h.socket()
    s.bind((h.peer_addr, port))
    return Client(s, port, session, f"CL{port}")


def md_listener(h: VethHost) -> socket.socket:
    s = h.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((h.peer_addr, MD_PORT))
    return s


def drain_md(s: socket.socket, wait: float = 0.05) -> list[dict[str, Any]]:
    out = []
    s.settimeout(wait)
    try:
        while True:
            _, _, _, msgs = codec.mold_unpack(s.recv(65536))
            out += [codec.decode_itch(m) for m in msgs]
    except TimeoutError:
        pass
    return out


def wait_for(pred: Any, timeout: float = 3.0, step: float = 0.01) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def appliance_on_veth(name: str, surfaces: str = "") -> Iterator[tuple[VethHost, Appliance]]:
    """A veth pair and an appliance on it, for a module's tests (a fixture of
    wider scope than `veth_pair`); fails with the reason where none can be made.
    surfaces: as running_appliance's (default: free ports)."""
    try:
        check_privileges()
    except TestHostError as exc:
        pytest.fail(str(exc), pytrace=False)
    surfaces = surfaces or f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    with veth_host() as h, running_appliance(h, name, surfaces=surfaces) as app:
        yield h, app


class Traffic:
    """Clients of one appliance whose OUCH user references and Mold sequence
    numbers carry on across tests, and a count of the messages sent, which
    send() waits for the engine to have taken."""

    def __init__(self, h: VethHost, app: Appliance) -> None:
        self.h, self.app = h, app
        self.clients: dict[int, Client] = {}
        self.refs: dict[int, int] = {}
        self.sent = 0

    def client(self, port: int, session: int) -> Client:
        if port not in self.clients:
            c = client(self.h, port, session)
            c.hello(self.h)
            self.clients[port] = c
            assert wait_for(lambda: any(f["src"].endswith(f":{port}") for f in self.app.flows()))
        return self.clients[port]

    def next_ref(self, port: int) -> int:
        self.refs[port] = self.refs.get(port, 0) + 1
        return self.refs[port]

    def send(self, port: int, session: int, messages: list[bytes]) -> None:
        """Send to the appliance and wait until its engine took them (allowed flows)."""
        c = self.client(port, session)
        c.send(self.h, messages)
        self.sent += len(messages)
        engine = lambda: self.app.counters()["engine.s0"]["messages"]  # noqa: E731
        assert wait_for(lambda: engine() == self.sent), (engine(), self.sent)

    def order(self, port: int, session: int, side: str, qty: int, price: int,
              sym: str = "WMTA") -> tuple[int, int]:  # fmt: skip
        """Enter one order; returns (the order reference the client was told,
        the client's user reference)."""
        ref = self.next_ref(port)
        self.send(port, session, [enter(ref, side=side, qty=qty, price=price, sym=sym)])
        c = self.clients[port]

        def accepted() -> list[dict[str, Any]]:
            c.drain(0.01)
            return [m for m in c.received if m["type"] == "A" and m["user_ref_num"] == ref]

        assert wait_for(lambda: len(accepted()) == 1), c.received[-3:]
        return int(accepted()[0]["order_ref"]), ref


DENIED_PORT = 21009  # config_toml's rules deny this client port


@contextmanager
def appliance_with_traffic(name: str) -> Iterator[tuple[VethHost, Appliance, Traffic]]:
    """An appliance on a veth pair that has seen known traffic: session 1
    entered three orders in one packet (one rests on each side, a third
    crosses nothing), and the denied flow sent its opening heartbeat and two
    packets: rx holds the first until the classifier denies the flow, then
    drops all 3 as flow_denied."""
    with appliance_on_veth(name) as (h, app):
        t = Traffic(h, app)
        t.send(21001, 1, [
            enter(t.next_ref(21001), side="B", qty=10, price=999_900),
            enter(t.next_ref(21001), side="S", qty=10, price=1_000_100),
            enter(t.next_ref(21001), side="B", qty=5, price=999_800),
        ])  # fmt: skip
        denied = client(h, DENIED_PORT, 0)
        denied.hello(h)
        assert wait_for(lambda: any(f["action"] == "deny" for f in app.flows()))
        denied.send(h, [enter(1)])
        denied.send(h, [enter(2)])
        assert wait_for(lambda: app.counters()["rx.q0"]["drop_flow_denied"] == 3)
        yield h, app, t
