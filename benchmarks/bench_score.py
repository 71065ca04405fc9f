"""Scale benchmark for `bando score` (a script, not a test).

Generates N applications of the shared yardstick's workload (../shared/bench,
seeded; application i depends only on (seed, i)) as JSON Lines in a temporary
folder, runs `bando score benchmarks/bench.bando` on them in a child process
and prints wall time, throughput and the child's peak RSS. Run it at two sizes
to see whether memory is bounded:

    python benchmarks/bench_score.py --n 100000
    python benchmarks/bench_score.py --n 1000000 --no-letters --no-explain-check

Outputs go to a temporary folder (or --out), never to ../shared.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def generate(path: Path, n: int, bench_dir: Path) -> float:
    sys.path.insert(0, str(bench_dir))
    import workload  # noqa: E402 - the shared yardstick's generator

    t = time.perf_counter()
    with path.open("w", encoding="utf-8") as fh:
        for app in workload.iter_applications(n):
            fh.write(json.dumps(app, separators=(",", ":")) + "\n")
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--no-letters", action="store_true")
    ap.add_argument("--bench-dir", default=str(ROOT.parent / "shared" / "bench"))
    ap.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    ap.add_argument("--no-explain-check", action="store_true", help="accepted for symmetry; unused")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bando-bench-") as tmp:
        tmp = Path(tmp)
        batch = tmp / "batch.jsonl"
        gen = generate(batch, args.n, Path(args.bench_dir))
        size = batch.stat().st_size
        out = Path(args.out) if args.out else tmp / "out"
        cmd = ["bando", "score", str(ROOT / "benchmarks" / "bench.bando"), str(batch), "-o", str(out),
               "--jobs", str(args.jobs)]
        if args.no_letters:
            cmd.append("--no-letters")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if proc.returncode != 0:
            print(proc.stdout, proc.stderr, sep="\n")
            return 1
        lines = sum(1 for _ in (out / "results.jsonl").open(encoding="utf-8"))
        print(f"applications: {args.n:,} ({size / 2**20:,.1f} MiB of JSON Lines, generated in {gen:.1f} s)")
        print(f"bando score --jobs {args.jobs}{' --no-letters' if args.no_letters else ''}: {wall:.1f} s wall, "
              f"{args.n / wall:,.0f} applications/s end to end")
        print(f"peak RSS of the largest child process: {peak_kib / 1024:,.0f} MiB"
              f" (before: {before / 1024:,.0f} MiB)")
        print(f"results.jsonl lines: {lines:,} (must equal the applications)")
        print(proc.stdout.strip())
        return 0 if lines == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
