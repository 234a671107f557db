"""Flow decisions as pure functions (Faucet style): (now, rules, batch, state)
in, operations out.  Nothing here touches C; classify.table.apply does.

- classify_misses: a batch of slow-path misses -> Install ops (allow, or
  deny: a deny entry makes the data plane drop the flow without asking
  again) and SetRate ops for sessions first seen with a rate.
- reclassify: installed flows under new rules -> Install ops only for flows
  whose decision changed, SetRate ops only for sessions whose rate changed.

Buckets: the bucket of (session, rx queue) is session * n_queues + queue, so
each bucket has one writer (the queue's thread): a session's rate applies
per rx queue.  Sessions are < Policy.max_sessions; `as session auto` takes
fresh ids from [auto_first, max_sessions) (not recycled).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from wirematch.classify.match import DEFAULT_DENY, first_match
from wirematch.classify.rules import AUTO, Rule, RuleSet

FlowKey = tuple[int, int, int, int, int, int]  # src, dst, sport, dport, vlan, proto
KEY_FIELDS = ("src_addr", "dst_addr", "src_port", "dst_port", "vlan", "proto")
ALLOW, DENY = 1, 0
NO_BUCKET = 0xFFFFFFFF
DEFAULT_RULE = 0xFFFFFFFF  # decision.rule of a default deny (WM_FLOW_NO_RULE)


@dataclass(frozen=True)
class Decision:
    action: int
    session: int = 0
    shard: int = 0
    bucket: int = NO_BUCKET
    rule: int = DEFAULT_RULE
    queue: int = 0


@dataclass(frozen=True)
class Install:
    key: FlowKey
    decision: Decision


@dataclass(frozen=True)
class Remove:
    key: FlowKey


@dataclass(frozen=True)
class SetRate:
    session: int
    rate: int  # 0 with burst 0: unlimited
    burst: int


Op = Install | Remove | SetRate


@dataclass(frozen=True)
class Policy:
    n_queues: int = 1
    max_sessions: int = 1 << 16
    auto_first: int = 1 << 15


@dataclass(frozen=True)
class State:
    next_auto: int = -1  # -1: Policy.auto_first


OUTCOMES = ("allowed", "denied_by_rule", "denied_default", "duplicate", "no_auto_session")


@dataclass
class Classified:
    ops: list[Op]
    state: State
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    rule_hits: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def keys_of(keys: np.ndarray) -> list[FlowKey]:
    cols = [keys[f].tolist() for f in KEY_FIELDS]
    return [tuple(t) for t in zip(*cols, strict=True)]  # type: ignore[misc]


def _decide(
    rule: Rule | None, queue: int, policy: Policy, next_auto: int
) -> tuple[Decision, int, bool]:
    """(decision, next_auto, auto session allocated?)."""
    if rule is None:
        return Decision(DENY), next_auto, False
    if not rule.allow:
        return Decision(DENY, rule=rule.id), next_auto, False
    session = rule.session
    fresh = False
    if session == AUTO:
        if next_auto >= policy.max_sessions:
            return Decision(DENY, rule=rule.id), next_auto, False
        session, next_auto, fresh = next_auto, next_auto + 1, True
    if session >= policy.max_sessions:
        return Decision(DENY, rule=rule.id), next_auto, False
    bucket = session * policy.n_queues + queue
    return Decision(ALLOW, session, rule.shard, bucket, rule.id, queue), next_auto, fresh


def classify_misses(
    now: int, rules: RuleSet, misses: np.ndarray, policy: Policy, state: State
) -> Classified:
    """Decide every distinct flow of a batch of misses (MISS_DTYPE records)."""
    next_auto = policy.auto_first if state.next_auto < 0 else state.next_auto
    out = Classified(ops=[], state=state, rule_hits=np.zeros(len(rules.rules) + 1, np.int64))
    if len(misses) == 0:
        return out
    keys = misses["key"]
    flat = np.ascontiguousarray(keys).view(np.dtype((np.void, keys.dtype.itemsize)))
    _, first = np.unique(flat, return_index=True)
    first.sort()
    out.outcomes["duplicate"] = len(misses) - len(first)
    uniq = keys[first]
    idx = first_match(rules, uniq)
    np.add.at(out.rule_hits, np.where(idx == DEFAULT_DENY, len(rules.rules), idx), 1)
    queues = misses["queue"][first].tolist()
    rates: dict[int, tuple[int, int]] = {}
    for key, i, q in zip(keys_of(uniq), idx.tolist(), queues, strict=True):
        rule = rules.rules[i] if i != DEFAULT_DENY else None
        d, next_auto, fresh = _decide(rule, q, policy, next_auto)
        if rule is None:
            out.outcomes["denied_default"] += 1
        elif d.action == ALLOW:
            out.outcomes["allowed"] += 1
            if fresh and rule.rate:
                rates[d.session] = (rule.rate, rule.burst)
        elif rule.allow:
            out.outcomes["no_auto_session"] += 1
        else:
            out.outcomes["denied_by_rule"] += 1
        out.ops.append(Install(key, d))
    out.ops[:0] = [SetRate(s, r, b) for s, (r, b) in sorted(rates.items())]
    out.state = replace(state, next_auto=next_auto)
    return out


def rate_changes(old: RuleSet, new: RuleSet) -> list[SetRate]:
    """SetRate ops for fixed sessions whose (rate, burst) differs."""
    a, b = old.session_rates(), new.session_rates()
    ops = []
    for s in sorted(set(a) | set(b)):
        if a.get(s) != b.get(s):
            rate, burst = b.get(s, (0, 0))
            ops.append(SetRate(s, rate, burst))
    return ops


def initial_rates(rules: RuleSet) -> list[SetRate]:
    return rate_changes(RuleSet(()), rules)


def reclassify(
    now: int,
    old: RuleSet,
    new: RuleSet,
    flows: np.ndarray,
    policy: Policy,
    state: State,
) -> Classified:
    """Installed flows (ENTRY_DTYPE records, or anything with `key` and
    `decision` fields) under new rules: ops for what changed only."""
    next_auto = policy.auto_first if state.next_auto < 0 else state.next_auto
    out = Classified(ops=list(rate_changes(old, new)), state=state)
    out.rule_hits = np.zeros(len(new.rules) + 1, np.int64)
    if len(flows) == 0:
        return out
    idx = first_match(new, flows["key"])
    dec = flows["decision"]
    old_rates = {r.id: (r.rate, r.burst) for r in old.rules if r.session == AUTO}
    rate_sessions: dict[int, tuple[int, int]] = {}
    for key, i, od in zip(keys_of(flows["key"]), idx.tolist(), dec.tolist(), strict=True):
        session, shard, action, queue, bucket, rule_id = od
        current = Decision(action, session, shard, bucket, rule_id, queue)
        rule = new.rules[i] if i != DEFAULT_DENY else None
        if (
            rule is not None
            and rule.allow
            and rule.session == AUTO
            and action == ALLOW
            and rule_id == rule.id
        ):
            # Same auto rule as before: the flow keeps its session.
            d = current
            if old_rates.get(rule.id) != (rule.rate, rule.burst):
                rate_sessions[session] = (rule.rate, rule.burst)
        else:
            d, next_auto, fresh = _decide(rule, queue, policy, next_auto)
            if fresh and rule is not None and rule.rate:
                rate_sessions[d.session] = (rule.rate, rule.burst)
        out.rule_hits[i if i != DEFAULT_DENY else len(new.rules)] += 1
        if d != current:
            out.ops.append(Install(key, d))
    out.ops[:0] = [SetRate(s, r, b) for s, (r, b) in sorted(rate_sessions.items())]
    out.state = replace(state, next_auto=next_auto)
    return out
