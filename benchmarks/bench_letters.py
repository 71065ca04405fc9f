"""Benchmark: how many letters per second bando renders and writes.

Renders N letters (default 10,000) by cycling through the sample results of
tests/golden/letters/samples/ with a fresh application id each time, writes
them with ``write_letters`` into a temporary folder, and prints letters per
second for each format. Not a test; run it by hand:

    python benchmarks/bench_letters.py            # 10,000 letters, txt and html
    python benchmarks/bench_letters.py -n 2000 --formats txt md html --lang en

The first letter of each format is rendered before the clock starts, so the
figures are for a warm renderer (templates compiled), as in a batch.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.letters.letters import STATUSES, LetterRenderer, write_letters  # noqa: E402

SAMPLES = ROOT / "tests" / "golden" / "letters" / "samples"


def results(n: int) -> list[dict]:
    """``n`` results cycling through the six sample outcomes, ids A-000001..."""
    base = [json.loads((SAMPLES / f"{s}.json").read_text(encoding="utf-8")) for s in STATUSES]
    return [dict(base[i % len(base)], application=f"A-{i + 1:06d}") for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="letters per format")
    parser.add_argument("--formats", nargs="+", default=["txt", "html"])
    parser.add_argument("--lang", default="it")
    args = parser.parse_args(argv)

    call = json.loads((SAMPLES / "call.json").read_text(encoding="utf-8"))
    batch = results(args.n)
    date = dt.date(2014, 3, 14)
    print(f"{args.n:,} letters per format, language {args.lang}, Python {sys.version.split()[0]}")
    for fmt in args.formats:
        renderer = LetterRenderer(lang=args.lang, fmt=fmt)
        renderer.render(batch[0], call, date=date)               # warm-up: compile templates
        start = time.perf_counter()
        for result in batch:
            renderer.render(result, call, date=date)
        rendered = time.perf_counter() - start
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            paths = write_letters(batch, call, out, renderer=renderer, date=date)
            written = time.perf_counter() - start
            size = sum(p.stat().st_size for p in paths)
        print(f"  {fmt:<4}  render only {args.n / rendered:8,.0f} letters/s   "
              f"render+write {args.n / written:8,.0f} letters/s   "
              f"({size / len(paths) / 1024:.1f} KiB per letter)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
