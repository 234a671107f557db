"""Rule evaluation: vectorised over numpy batches of flow keys, and a scalar
reference the tests compare it with.

A batch is any numpy structured array with the key fields of
`struct wm_flow_key` (src_addr, dst_addr, src_port, dst_port, vlan, proto),
host byte order.  A prefix match is a masked integer compare:
(addr & mask) == network.
"""

from __future__ import annotations

import numpy as np

from wirematch.classify.rules import Rule, RuleSet

DEFAULT_DENY = -1  # index returned when no rule matches


def _prefix_mask(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0


def rule_mask(rule: Rule, keys: np.ndarray) -> np.ndarray:
    """Bool per key: does the rule match it?"""
    m = np.ones(len(keys), dtype=bool)
    for field, (net, plen) in (("src_addr", rule.src), ("dst_addr", rule.dst)):
        if plen:
            m &= (keys[field] & np.uint32(_prefix_mask(plen))) == np.uint32(net)
    for field, (lo, hi) in (("src_port", rule.sport), ("dst_port", rule.dport)):
        if (lo, hi) != (0, 65535):
            v = keys[field]
            m &= (v >= lo) & (v <= hi)
    if rule.vlan is not None:
        m &= keys["vlan"] == rule.vlan
    if rule.proto is not None:
        m &= keys["proto"] == rule.proto
    return m


def first_match(rules: RuleSet, keys: np.ndarray) -> np.ndarray:
    """Index of the first matching rule per key (int32), DEFAULT_DENY if none."""
    out = np.full(len(keys), DEFAULT_DENY, dtype=np.int32)
    undecided = np.ones(len(keys), dtype=bool)
    for i, rule in enumerate(rules.rules):
        if not undecided.any():
            break
        hit = undecided & rule_mask(rule, keys)
        out[hit] = i
        undecided &= ~hit
    return out


def matches_scalar(rule: Rule, key: dict[str, int]) -> bool:
    """The reference: one rule against one key, plain Python."""
    for field, (net, plen) in (("src_addr", rule.src), ("dst_addr", rule.dst)):
        if plen and key[field] >> (32 - plen) != net >> (32 - plen):
            return False
    for field, (lo, hi) in (("src_port", rule.sport), ("dst_port", rule.dport)):
        if not lo <= key[field] <= hi:
            return False
    if rule.vlan is not None and key["vlan"] != rule.vlan:
        return False
    return not (rule.proto is not None and key["proto"] != rule.proto)


def first_match_scalar(rules: RuleSet, key: dict[str, int]) -> int:
    for i, rule in enumerate(rules.rules):
        if matches_scalar(rule, key):
            return i
    return DEFAULT_DENY
