#!/usr/bin/env python3
"""Fuzz the flow-rule language (atheris, coverage-guided): any text either
parses into a rule set or raises RuleError naming the line; a parsed rule set
classifies keys the same way through the vectorised matcher (numpy, what the
slow path uses) and the plain-Python reference.

The input is the rule text, then (after a NUL) bytes that become the keys.

    .venv/bin/python tools/fuzz/fuzz_rules.py tools/fuzz/corpus/fuzz_rules -runs=100000
"""

from __future__ import annotations

import sys

import atheris
import numpy as np

with atheris.instrument_imports():
    from wirematch.classify.match import first_match, first_match_scalar
    from wirematch.classify.rules import RuleError, parse_rules
    from wirematch.classify.table import KEY_DTYPE

KEY_FIELDS = [name for name in KEY_DTYPE.names if name != "zero"]


def one_input(data: bytes) -> None:
    text_part, _, key_part = data.partition(b"\0")
    try:
        rules = parse_rules(text_part.decode("utf-8", "replace"))
    except RuleError:
        return
    n = len(key_part) // KEY_DTYPE.itemsize
    keys = np.frombuffer(key_part[: n * KEY_DTYPE.itemsize], dtype=KEY_DTYPE)
    got = first_match(rules, keys)
    for i, key in enumerate(keys):
        ref = first_match_scalar(rules, {f: int(key[f]) for f in KEY_FIELDS})
        if int(got[i]) != ref:
            raise AssertionError(f"key {key}: vectorised rule {int(got[i])}, reference {ref}")


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
