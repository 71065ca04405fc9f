"""``policy.decide`` against the hand-written function, for two source trees in one run (before/after a change).

    python benchmarks/bench_decide_ab.py --before /path/to/other/tree      # this tree is "after"
    python benchmarks/bench_decide_ab.py --before /tmp/old --rounds 5 --n 500

The shared machine is noisy, so absolute times of two runs say little. This script alternates child
processes of the two trees (before, after, before, after, ...); each child times, on the same yardstick
applications and in the same process, the hand-written function and ``policy.decide`` by *process CPU
time* (less sensitive to other jobs than wall time), best of many interleaved passes, and prints the
ratio. The table gives each tree's median ratio over its children. Both trees must load
``benchmarks/bench.bando`` and agree with the hand-written function (the child checks every application).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_BENCH = REPO.parent / "shared" / "bench"

CHILD = r"""
import gc, json, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[2])
import workload
from peers import handwritten
from engine.evaluate.policy import load_policy
tree, n, passes = sys.argv[1], int(sys.argv[3]), int(sys.argv[4])
policy = load_policy(open(tree + "/benchmarks/bench.bando", encoding="utf-8").read(), name="bench.bando")
apps = list(workload.iter_applications(n))
gc.freeze()
hw, decide = handwritten.load(), policy.decide
for a in apps:  # the same decisions as the hand-written function, or no figure
    want, got = hw(a), decide(a)
    assert (got.status != "ineligible") == want["eligible"] and list(got.failed) == want["failed_gates"], a
def once(f):
    t = time.process_time()
    for a in apps:
        f(a)
    return time.process_time() - t
best = [float("inf"), float("inf")]
for _ in range(passes):
    for i, f in enumerate((hw, decide)):
        best[i] = min(best[i], once(f))
print(json.dumps({"hw_us": best[0] * 1e6 / n, "decide_us": best[1] * 1e6 / n, "ratio": best[1] / best[0]}))
"""


def child(tree: Path, bench: Path, n: int, passes: int) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tree), str(bench), str(n), str(passes)],
                          capture_output=True, text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"})
    if proc.returncode != 0:
        raise SystemExit(f"{tree}: the child failed\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", required=True, type=Path, help="the other source tree (e.g. `git archive main`)")
    ap.add_argument("--after", default=REPO, type=Path, help="default: this tree")
    ap.add_argument("--bench-dir", default=DEFAULT_BENCH, type=Path)
    ap.add_argument("--n", type=int, default=300, help="applications per pass (default 300)")
    ap.add_argument("--passes", type=int, default=30, help="interleaved passes per child (default 30)")
    ap.add_argument("--rounds", type=int, default=3, help="children per tree, alternated (default 3)")
    args = ap.parse_args(argv)
    figures: dict = {"before": [], "after": []}
    for _ in range(args.rounds):
        for name in ("before", "after"):
            figures[name].append(child(getattr(args, name), args.bench_dir, args.n, args.passes))
    print("| tree | hand-written µs/app | decide µs/app | decide / hand-written (median of children) |")
    print("|---|---|---|---|")
    for name, runs in figures.items():
        print(f"| {name} | {statistics.median(r['hw_us'] for r in runs):.1f} | "
              f"{statistics.median(r['decide_us'] for r in runs):.1f} | "
              f"{statistics.median(r['ratio'] for r in runs):.2f}x "
              f"({', '.join(format(r['ratio'], '.2f') for r in runs)}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
