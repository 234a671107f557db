"""A Python model of the flow table (as Faucet's fakeoftable): apply the
decisions' operations to it and ask "would packet X hit entry Y?", with
time injected."""

from __future__ import annotations

from dataclasses import dataclass, field

from wirematch.classify.decide import Decision, FlowKey, Install, Op, Remove, SetRate


@dataclass
class FlowModel:
    max_flows: int = 1 << 16
    entries: dict[FlowKey, Decision] = field(default_factory=dict)
    active: dict[FlowKey, int] = field(default_factory=dict)  # last activity (ticks)
    rates: dict[int, tuple[int, int]] = field(default_factory=dict)
    touched: list[Op] = field(default_factory=list)

    def apply(self, ops: list[Op], now: int) -> None:
        for op in ops:
            self.touched.append(op)
            if isinstance(op, Install):
                if op.key not in self.entries:
                    if len(self.entries) >= self.max_flows:
                        continue
                    self.active[op.key] = now
                self.entries[op.key] = op.decision
            elif isinstance(op, Remove):
                self.entries.pop(op.key, None)
                self.active.pop(op.key, None)
            elif isinstance(op, SetRate):
                self.rates[op.session] = (op.rate, op.burst)

    def packet(self, key: FlowKey, now: int) -> Decision | None:
        """The entry packet `key` hits at `now`, or None (a miss)."""
        d = self.entries.get(key)
        if d is not None:
            self.active[key] = now
        return d

    def expire(self, now: int, idle: int) -> list[FlowKey]:
        gone = [k for k, t in self.active.items() if now - t > idle]
        for k in gone:
            self.apply([Remove(k)], now)
        return gone
