"""``bando score`` before and after a change, against the hand-written pipeline, in one run.

    python benchmarks/bench_batch.py --before ../main [--n 20000] [--jobs-n 20000] [--reps 2]

Every command runs in a child process (each pays for starting Python and its imports), the commands
interleaved in every round so that a burst of load on the shared machine hits all of them; the best
wall time of each is kept. Rows:

* ``pipeline``: ``benchmarks/pipeline_handwritten.py`` (the yardstick of issue 13);
* ``before`` / ``after``: ``bando score --no-letters --jobs 1`` of the checkout given by ``--before``
  and of this one, on the same JSON Lines; their results.jsonl must be the same bytes;
* ``after --jobs 2`` on ``--jobs-n`` applications, against ``after --jobs 1`` on the same file;
  results.jsonl of both must be the same bytes;
* the peak RSS of each ``bando score`` (the child's ``ru_maxrss``).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from run_targets import DEFAULT_BENCH, POLICY, generate  # noqa: E402 - the same yardstick files

PROBE = ("import resource, subprocess, sys; subprocess.run(sys.argv[2:], check=True, capture_output=True, "
         "cwd=sys.argv[1]); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def run(cwd: Path, cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of ``cmd`` run in ``cwd`` (in a grandchild of its own)."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PROBE, str(cwd), *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed in {cwd}: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, int(proc.stdout.split()[-1]) / 1024


def score(batch: Path, out: Path, jobs: int = 1) -> list[str]:
    return [sys.executable, "-m", "engine.cli", "score", str(POLICY), str(batch), "-o", str(out), "--no-letters",
            "--jobs", str(jobs)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="a checkout of bando before the change (e.g. ../main)")
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--jobs-n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--bench-dir", default=str(DEFAULT_BENCH))
    args = ap.parse_args(argv)
    before = Path(args.before).resolve()
    with tempfile.TemporaryDirectory(prefix="bando-bench-batch-") as tmp:
        tmp = Path(tmp)
        batch = tmp / "batch.jsonl"
        generate(batch, args.n, Path(args.bench_dir))
        big = batch
        if args.jobs_n != args.n:
            big = tmp / "big.jsonl"
            generate(big, args.jobs_n, Path(args.bench_dir))
        rows = {
            "pipeline": (REPO, [sys.executable, str(HERE / "pipeline_handwritten.py"), str(batch), str(tmp / "hw"),
                                "--bench-dir", args.bench_dir]),
            "before": (before, score(batch, tmp / "before")),
            "after": (REPO, score(batch, tmp / "after")),
            "after --jobs 1 (jobs file)": (REPO, score(big, tmp / "j1")),
            "after --jobs 2 (jobs file)": (REPO, score(big, tmp / "j2", jobs=2)),
        }
        best = {k: (float("inf"), 0.0) for k in rows}
        for _ in range(args.reps):
            for k, (cwd, cmd) in rows.items():
                wall, rss = run(cwd, cmd)
                best[k] = (min(best[k][0], wall), max(best[k][1], rss))
        same = (tmp / "before" / "results.jsonl").read_bytes() == (tmp / "after" / "results.jsonl").read_bytes()
        same_jobs = (tmp / "j1" / "results.jsonl").read_bytes() == (tmp / "j2" / "results.jsonl").read_bytes()
    hw = best["pipeline"][0]
    print(f"N={args.n:,} (jobs rows: {args.jobs_n:,}), best of {args.reps}")
    print("| run | wall s | vs pipeline | peak RSS MiB |")
    print("|---|---|---|---|")
    for k, (wall, rss) in best.items():
        print(f"| {k} | {wall:.1f} | {wall / hw:.2f}× | {rss:.0f} |")
    print(f"after vs before: {best['before'][0] / best['after'][0]:.2f}× faster; results.jsonl "
          f"{'byte-identical' if same else 'DIFFER'}")
    speedup = best["after --jobs 1 (jobs file)"][0] / best["after --jobs 2 (jobs file)"][0]
    print(f"--jobs 2 vs --jobs 1: {speedup:.2f}× "
          f"faster; results.jsonl {'byte-identical' if same_jobs else 'DIFFER'}")
    return 0 if same and same_jobs else 1


if __name__ == "__main__":
    raise SystemExit(main())
