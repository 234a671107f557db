"""`make bench [BENCH=name]`: run one benchmark or all of them.

Each benchmark is tools/bench/bench_<name>.py exposing run(ctx) -> list[Row].
"""

from __future__ import annotations

import argparse
import importlib
import sys

from tools.bench.common import ROOT, BenchContext, format_table, raise_priority, write_rows
from wirematch.pipeline.native import build_dir

ORDER = ["ring", "matcher", "codec", "nic", "e2e", "replay"]


def available() -> list[str]:
    found = {p.stem.removeprefix("bench_") for p in (ROOT / "tools" / "bench").glob("bench_*.py")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", nargs="?", default="", help="one benchmark (default: all)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    names = available()
    if args.name:
        if args.name not in names:
            print(f"bench: unknown benchmark {args.name!r}; available: {', '.join(names)}")
            return 2
        names = [args.name]
    print(f"bench: priority: {raise_priority()}")
    for name in names:
        module = importlib.import_module(f"tools.bench.bench_{name}")
        ctx = BenchContext(name=name, build_dir=build_dir(), repeats=args.repeats)
        print(f"\n== {name} ==", flush=True)
        rows = module.run(ctx)
        path = write_rows(name, rows)
        print(format_table(rows))
        print(f"-> {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
