#!/usr/bin/env python3
"""Fuzz the configuration loader (atheris, coverage-guided): any text either
loads or raises ConfigError naming a key; anything else (KeyError, TypeError,
an overflow...) is a crash.  The rule language inside [flows] rules is
reached through it too.

    .venv/bin/python tools/fuzz/fuzz_config.py tools/fuzz/corpus/fuzz_config -runs=100000
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from wirematch.pipeline.config import ConfigError, parse_config


def one_input(data: bytes) -> None:
    text = data.decode("utf-8", "replace")
    try:
        parse_config(text, "<fuzz>", None)
    except ConfigError:
        pass


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
