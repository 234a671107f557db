"""The flow rule language: one rule per line, first match wins, default deny.

    # comment
    allow src 10.0.0.0/24 dport 15000 as session 3 rate 50000/s burst 1000
    deny src 10.0.0.66
    allow vlan 100 src 10.1.0.0/16 proto udp as session auto shard 1

Matches (all optional, all must hold): `src`/`dst` an IPv4 address or
prefix, `sport`/`dport` a port or range `lo-hi`, `vlan` a VID (0 = untagged),
`proto` `udp`, `tcp` or a number.  `allow` needs `as session N` (or `auto`:
each new flow its own session); it may add `shard N` (instrument shard, 0 by
default), `rate N/s` and `burst N` (the session's token bucket; burst
defaults to rate/10, at least 1).  `deny` takes no options.

A rule's id is the CRC-32 of its canonical text, so that ids survive edits
elsewhere in the file (rule-change diffing compares ids, not positions).
"""

from __future__ import annotations

import ipaddress
import zlib
from dataclasses import dataclass, field

PROTOS = {"udp": 17, "tcp": 6}
MAX_SESSION = (1 << 32) - 2
MAX_RATE = (1 << 32) - 1
MAX_BURST = 1 << 30  # WM_RATE_MAX_BURST
AUTO = -1  # Rule.session for `as session auto`


class RuleError(ValueError):
    """A rule file that does not parse: `line N: what was expected, got what`."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class Rule:
    allow: bool
    src: tuple[int, int] = (0, 0)  # (network, prefix length), host order
    dst: tuple[int, int] = (0, 0)
    sport: tuple[int, int] = (0, 65535)
    dport: tuple[int, int] = (0, 65535)
    vlan: int | None = None
    proto: int | None = None
    session: int = 0  # AUTO for `auto`
    shard: int = 0
    rate: int = 0  # tokens per second; 0 = no limit
    burst: int = 0
    line: int = field(default=0, compare=False)

    @property
    def text(self) -> str:
        """Canonical text (what the rule id hashes)."""
        parts = ["allow" if self.allow else "deny"]
        for name, (net, plen) in (("src", self.src), ("dst", self.dst)):
            if plen:
                parts.append(f"{name} {ipaddress.IPv4Address(net)}/{plen}")
        for name, (lo, hi) in (("sport", self.sport), ("dport", self.dport)):
            if (lo, hi) != (0, 65535):
                parts.append(f"{name} {lo}" if lo == hi else f"{name} {lo}-{hi}")
        if self.vlan is not None:
            parts.append(f"vlan {self.vlan}")
        if self.proto is not None:
            parts.append(f"proto {self.proto}")
        if self.allow:
            parts.append("as session " + ("auto" if self.session == AUTO else str(self.session)))
            if self.shard:
                parts.append(f"shard {self.shard}")
            if self.rate:
                parts.append(f"rate {self.rate}/s burst {self.burst}")
        return " ".join(parts)

    @property
    def id(self) -> int:
        return zlib.crc32(self.text.encode())


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...]

    def session_rates(self) -> dict[int, tuple[int, int]]:
        """(rate, burst) per fixed session that has one."""
        return {r.session: (r.rate, r.burst) for r in self.rules if r.allow and r.rate}


def _int(tok: str, line: int, what: str, lo: int, hi: int) -> int:
    try:
        v = int(tok, 10)
    except ValueError:
        raise RuleError(line, f"expected {what} (an integer {lo}..{hi}), got {tok!r}") from None
    if not lo <= v <= hi:
        raise RuleError(line, f"{what} must be {lo}..{hi}, got {v}")
    return v


def _prefix(tok: str, line: int, what: str) -> tuple[int, int]:
    try:
        net = ipaddress.IPv4Network(tok, strict=True)
    except ValueError as exc:
        raise RuleError(
            line, f"expected an IPv4 address or prefix after {what}, got {tok!r} ({exc})"
        ) from None
    return int(net.network_address), net.prefixlen if net.prefixlen else 0


def _ports(tok: str, line: int, what: str) -> tuple[int, int]:
    lo_s, sep, hi_s = tok.partition("-")
    lo = _int(lo_s, line, f"{what} port", 0, 65535)
    hi = _int(hi_s, line, f"{what} port", 0, 65535) if sep else lo
    if hi < lo:
        raise RuleError(line, f"{what} range {tok!r} is empty (low above high)")
    return lo, hi


def parse_rule(text: str, line: int = 1) -> Rule | None:
    """One line; None for a blank or comment line."""
    toks = text.split("#", 1)[0].split()
    if not toks:
        return None
    if toks[0] not in ("allow", "deny"):
        raise RuleError(line, f"expected 'allow' or 'deny', got {toks[0]!r}")
    allow = toks[0] == "allow"
    kw: dict[str, object] = {}
    seen: set[str] = set()
    i = 1

    def take(what: str) -> str:
        nonlocal i
        if i >= len(toks):
            raise RuleError(line, f"expected {what} at the end of the rule")
        tok = toks[i]
        i += 1
        return tok

    while i < len(toks):
        word = take("a match or option")
        if word in seen:
            raise RuleError(line, f"{word!r} given twice")
        seen.add(word)
        if word in ("src", "dst"):
            net, plen = _prefix(take(f"an address after {word}"), line, word)
            kw[word] = (net, plen) if plen else (0, 0)
            if plen == 0 and net != 0:
                raise RuleError(line, f"{word} prefix /0 must be 0.0.0.0/0")
            if plen == 0:
                kw[word] = (0, 0)
        elif word in ("sport", "dport"):
            kw[word] = _ports(take(f"a port after {word}"), line, word)
        elif word == "vlan":
            kw["vlan"] = _int(take("a VLAN id after vlan"), line, "vlan", 0, 4095)
        elif word == "proto":
            tok = take("a protocol after proto")
            kw["proto"] = PROTOS[tok] if tok in PROTOS else _int(tok, line, "proto", 0, 255)
        elif word == "as":
            if take("'session' after 'as'") != "session":
                raise RuleError(line, f"expected 'session' after 'as', got {toks[i - 1]!r}")
            tok = take("a session id or 'auto' after 'as session'")
            kw["session"] = AUTO if tok == "auto" else _int(tok, line, "session", 0, MAX_SESSION)
        elif word == "shard":
            kw["shard"] = _int(take("a shard after shard"), line, "shard", 0, 65535)
        elif word == "rate":
            tok = take("a rate like 50000/s after rate")
            if not tok.endswith("/s"):
                raise RuleError(line, f"expected a rate like 50000/s, got {tok!r}")
            kw["rate"] = _int(tok[:-2], line, "rate", 1, MAX_RATE)
        elif word == "burst":
            kw["burst"] = _int(take("a burst after burst"), line, "burst", 1, MAX_BURST)
        else:
            raise RuleError(
                line,
                f"expected one of src, dst, sport, dport, vlan, proto, as, shard, rate, burst; "
                f"got {word!r}",
            )
    options = {"as", "shard", "rate", "burst"} & seen
    if not allow and options:
        raise RuleError(line, f"deny takes no options ({', '.join(sorted(options))} given)")
    if allow and "as" not in seen:
        raise RuleError(line, "allow needs 'as session N' or 'as session auto'")
    if "burst" in seen and "rate" not in seen:
        raise RuleError(line, "burst without rate")
    if "rate" in kw and "burst" not in kw:
        kw["burst"] = max(1, min(MAX_BURST, int(kw["rate"]) // 10))  # type: ignore[call-overload]
    return Rule(allow=allow, line=line, **kw)  # type: ignore[arg-type]


def parse_rules(text: str) -> RuleSet:
    """A whole rule file.  Raises RuleError naming the first bad line."""
    rules: list[Rule] = []
    by_text: dict[str, int] = {}
    rates: dict[int, tuple[tuple[int, int], int]] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        rule = parse_rule(raw, n)
        if rule is None:
            continue
        if rule.text in by_text:
            raise RuleError(n, f"same rule as line {by_text[rule.text]} (it can never match)")
        by_text[rule.text] = n
        if rule.allow and rule.rate and rule.session != AUTO:
            prev = rates.get(rule.session)
            if prev is not None and prev[0] != (rule.rate, rule.burst):
                raise RuleError(
                    n,
                    f"session {rule.session} has rate {rule.rate}/s burst {rule.burst} here but "
                    f"{prev[0][0]}/s burst {prev[0][1]} at line {prev[1]}",
                )
            rates[rule.session] = ((rule.rate, rule.burst), n)
        rules.append(rule)
    return RuleSet(tuple(rules))
