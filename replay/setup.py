"""What a replay run assumes about the appliance: its order-entry address,
the market-data destination, the instruments, the flow rules and the
matcher's limits.  Built from an appliance configuration
(`Setup.from_config`) or the harness's default, so that the generator, the
golden model and the in-process reference all read one description.

Units: prices are OUCH/ITCH Price(4) (1_000_000 is 100.0000); `tick` is in
the same unit.  The matcher works in ticks (docs/protocol.md, "Prices inside
the appliance"): its instrument rules get ref_price // tick and band // tick.
"""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any

from wirematch.classify.rules import AUTO, RuleSet, parse_rules
from wirematch.pipeline.config import split_host_port
from wirematch.replay import refbook as rb

AUTO_FIRST = 1 << 15  # classify.decide.Policy.auto_first: ids of `as session auto`


@dataclass(frozen=True)
class Instrument:
    symbol: str
    id: int
    tick: int = 100
    lot: int = 1
    min_qty: int = 1
    max_qty: int = 1_000_000
    ref_price: int = 1_000_000
    band: int = 0  # Price(4) units from ref_price; 0 = none

    @property
    def locate(self) -> int:
        """ITCH Stock Locate (the config's instrument id)."""
        return self.id

    def matcher_rules(self, max_levels: int) -> dict[str, int]:
        """Keyword arguments of RefBook.add_instrument / InstrumentRules, in ticks."""
        return dict(
            id=self.id,
            tick_size=1,
            lot_size=self.lot,
            min_order_qty=self.min_qty,
            max_order_qty=self.max_qty,
            ref_price=self.ref_price // self.tick,
            price_band=self.band // self.tick,
            max_levels=max_levels,
        )


@dataclass
class Setup:
    appliance: tuple[str, int] = ("10.199.0.1", 15000)  # order entry: address, UDP port
    feed: tuple[str, int] = ("239.1.1.1", 26400)  # market data destination
    instruments: list[Instrument] = field(
        default_factory=lambda: [
            Instrument("WMTA", 1, tick=100, ref_price=1_000_000, band=100_000),
            Instrument("WMTB", 2, tick=500, lot=100, min_qty=100, ref_price=2_500_000),
        ]
    )
    rules_text: str = "allow src 10.0.0.0/8 dport 15000 proto udp as session auto\n"
    max_orders: int = 1 << 16
    max_levels: int = 4096
    max_sessions: int = 1024
    stp: int = 0
    account_per_session: bool = True  # as the appliance's engine sets its gateway
    _rules: RuleSet | None = field(default=None, repr=False, compare=False)

    @property
    def rules(self) -> RuleSet:
        if self._rules is None:
            self._rules = parse_rules(self.rules_text)
        return self._rules

    def by_symbol(self, symbol: str) -> Instrument | None:
        s = symbol.rstrip(" ")
        return next((i for i in self.instruments if i.symbol == s), None)

    def by_id(self, iid: int) -> Instrument | None:
        return next((i for i in self.instruments if i.id == iid), None)

    def refbook(self) -> rb.RefBook:
        book = rb.RefBook(self.max_orders, self.max_sessions)
        for ins in self.instruments:
            book.add_instrument(**ins.matcher_rules(self.max_levels))
        return book

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("_rules")
        d["instruments"] = [asdict(i) for i in self.instruments]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Setup:
        d = dict(d)
        d["instruments"] = [Instrument(**i) for i in d["instruments"]]
        d["appliance"] = tuple(d["appliance"])
        d["feed"] = tuple(d["feed"])
        return cls(**d)

    @classmethod
    def from_config(cls, cfg: Any) -> Setup:
        """From a pipeline.config.Config: the first interface's address, the
        market-data destination, [[instruments]] (tick_size in Price(4)
        units), the flow rules and the matcher's max_orders."""
        return cls(
            appliance=split_host_port(cfg["interfaces"][0]["address"]),
            feed=split_host_port(cfg["market_data"]["destination"]),
            instruments=[
                Instrument(
                    symbol=i["symbol"],
                    id=i["id"],
                    tick=i["tick_size"],
                    lot=i["lot_size"],
                    min_qty=i["min_qty"],
                    max_qty=i["max_qty"],
                    ref_price=i["ref_price"],
                    band=i["band"],
                )
                for i in cfg["instruments"]
            ],
            rules_text="".join(r.text + "\n" for r in cfg.rules.rules),
            max_orders=cfg["matcher"]["max_orders"],
        )


class SessionMap:
    """Flow -> matcher session by the flow rules (first match, default deny;
    `as session auto` takes fresh ids from AUTO_FIRST in first-seen order),
    as classify.decide does for the appliance."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.next_auto = AUTO_FIRST
        self.sessions: dict[tuple[str, int, str, int], int | None] = {}

    def session_of(self, src: str, sport: int, dst: str, dport: int) -> int | None:
        """The session of the flow, or None when the rules deny it."""
        key = (src, sport, dst, dport)
        if key in self.sessions:
            return self.sessions[key]
        from wirematch.classify.match import first_match_scalar

        k = {
            "src_addr": int(ipaddress.IPv4Address(src)),
            "dst_addr": int(ipaddress.IPv4Address(dst)),
            "src_port": sport,
            "dst_port": dport,
            "vlan": 0,
            "proto": 17,
        }
        rules = self.setup.rules.rules
        i = first_match_scalar(self.setup.rules, k)
        session: int | None = None
        if 0 <= i < len(rules) and rules[i].allow:
            if rules[i].session == AUTO:
                session, self.next_auto = self.next_auto, self.next_auto + 1
            else:
                session = rules[i].session
        self.sessions[key] = session
        return session
