"""Codec throughput: messages per second on one core, decode and encode.

Runs build/<variant>/bench/codec_bench `repeats` times and reports the
median of each case in millions of messages per second.  Two cases also
carry a hand-coded reference (fixed offsets, no validation, no tables) as the
peer, so the ratio shows what the table-driven, validating codec costs
(ratio < 1: the reference is faster).  Figures taken on a shared machine are
noisy: re-run on a quiet one for final numbers.
"""

from __future__ import annotations

from collections import defaultdict

from tools.bench.common import BenchContext, Row, median, run_json_lines

SECONDS_PER_CASE = "0.3"


def run(ctx: BenchContext) -> list[Row]:
    binary = ctx.binary("codec_bench")
    values: dict[str, list[float]] = defaultdict(list)
    refs: dict[str, list[float]] = defaultdict(list)
    order: list[str] = []
    for _ in range(ctx.repeats):
        for rec in run_json_lines([str(binary), SECONDS_PER_CASE]):
            case = rec["case"]
            if case not in values:
                order.append(case)
            values[case].append(rec["mps"] / 1e6)
            if "ref_mps" in rec:
                refs[case].append(rec["ref_mps"] / 1e6)
    rows = []
    for case in order:
        row = Row(
            bench="codec", case=case, metric="throughput", unit="M/s", value=median(values[case])
        )
        if refs[case]:
            row.with_peer("hand_coded_unvalidated", median(refs[case]))
        rows.append(row)
    return rows
