"""``bando score`` of two source trees in one run (before/after a change), against the hand-written pipeline.

    python benchmarks/bench_score_ab.py --before /path/to/other/tree          # this tree is "after"
    python benchmarks/bench_score_ab.py --before /tmp/old --n 20000 --rounds 3 --letters

The shared machine is noisy: the runs of the two trees, of ``--jobs 1`` and ``--jobs 2`` and of the
hand-written pipeline (``benchmarks/pipeline_handwritten.py``, the yardstick of issue 13) are interleaved
in every round, and the best wall time of each is kept. Each tree runs its own code (``python -m
engine.cli`` from its own folder, its own ``benchmarks/bench.bando``) on the same JSON Lines file; the
script checks that both trees wrote the same results.jsonl and ranking.csv, and that ``--jobs 2`` wrote
the same bytes as ``--jobs 1``. The parser cache is turned off (``BANDO_CACHE_DIR=``) for a tree only
with ``--cold``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_BENCH = REPO.parent / "shared" / "bench"


def wall(cmd, cwd, env=None) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}) in {cwd}: {' '.join(map(str, cmd))}\n{proc.stderr[-2000:]}")
    return took


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="the other source tree (a git worktree of an older commit)")
    ap.add_argument("--bench-dir", default=str(DEFAULT_BENCH))
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--letters", action="store_true", help="also time the runs with letters")
    ap.add_argument("--cold", action="store_true", help="no parser cache (BANDO_CACHE_DIR=) for either tree")
    args = ap.parse_args(argv)
    trees = {"before": Path(args.before).resolve(), "after": REPO}
    env = dict(os.environ, **({"BANDO_CACHE_DIR": ""} if args.cold else {}))
    with tempfile.TemporaryDirectory(prefix="bando-ab-") as tmp:
        tmp = Path(tmp)
        batch = tmp / "batch.jsonl"
        sys.path.insert(0, args.bench_dir)
        import workload  # noqa: E402 - the shared yardstick's generator

        with batch.open("w", encoding="utf-8") as fh:
            for app in workload.iter_applications(args.n):
                fh.write(json.dumps(app, separators=(",", ":")) + "\n")
        runs = {}
        for letters in ([False, True] if args.letters else [False]):
            tail = [] if letters else ["--no-letters"]
            runs[("pipeline", letters)] = ([sys.executable, str(HERE / "pipeline_handwritten.py"), str(batch),
                                            str(tmp / f"hw-{letters}"), "--bench-dir", args.bench_dir]
                                           + (["--letters"] if letters else []), REPO)
            for name, tree in trees.items():
                for jobs in (1, 2):
                    out = tmp / f"{name}-j{jobs}-{letters}"
                    runs[(f"{name} --jobs {jobs}", letters)] = (
                        [sys.executable, "-m", "engine.cli", "score", "benchmarks/bench.bando", str(batch), "-o",
                         str(out), "--jobs", str(jobs)] + tail, tree)
        best = {k: float("inf") for k in runs}
        for _ in range(args.rounds):
            for key, (cmd, cwd) in runs.items():
                best[key] = min(best[key], wall(cmd, cwd, env))
        for letters in ([False, True] if args.letters else [False]):
            outs = [tmp / f"{name}-j{jobs}-{letters}" for name in trees for jobs in (1, 2)]
            for f in ("results.jsonl", "ranking.csv"):
                blobs = {(o / f).read_bytes() for o in outs}
                if len(blobs) != 1:
                    print(f"WARNING: {f} differs between the runs ({'with' if letters else 'without'} letters)")
    print(f"bando score, {args.n:,} yardstick applications, best of {args.rounds} interleaved rounds, "
          f"{os.cpu_count()} cores")
    print("| run | letters | wall | vs pipeline | after vs before |")
    print("|---|---|---|---|---|")
    for (label, letters), t in best.items():
        hw = best[("pipeline", letters)]
        other = label.replace("after", "before") if label.startswith("after") else None
        change = f"{t / best[(other, letters)]:.2f}×" if other else ""
        print(f"| {label} | {'yes' if letters else 'no'} | {t:.1f} s | {t / hw:.2f}× | {change} |")
    for name in trees:
        for letters in ([False, True] if args.letters else [False]):
            one, two = best[(f"{name} --jobs 1", letters)], best[(f"{name} --jobs 2", letters)]
            print(f"{name}: --jobs 2 is {one / two:.2f}× faster than --jobs 1 ({'with' if letters else 'no'} letters)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
