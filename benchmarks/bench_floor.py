"""What full validation and exact money cost by themselves: the floor under ``policy.decide``'s target.

    python benchmarks/bench_floor.py            # N=20,000 yardstick applications
    python benchmarks/bench_floor.py --n 2000   # smoke run

Times, in one run and interleaved (each row's best of ``--reps`` passes), on the same applications:

* the shared hand-written function (``../shared/bench/peers/handwritten.py``): reads what the rules use;
* ``handwritten_validated.evaluate_validated``: the same rules by hand, every declared field checked;
* ``handwritten_validated.evaluate_exact``: also money as Decimal, as bando computes it;
* ``policy.decide`` of ``benchmarks/bench.bando``, and its generated function alone (the fused fast path,
  before the :class:`Decision` is built).

Every row is first checked to give the shared function's four outputs on every application. The ratios
say how much of ``policy.decide``'s time is the job itself (checks, Decimals) and how much is bando.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench-dir", default=os.path.join(REPO, "..", "shared", "bench"))
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--json", help="also write the figures (seconds per pass, best of the passes) to this file")
    args = ap.parse_args(argv)
    sys.path.insert(0, os.path.abspath(args.bench_dir))
    sys.path.insert(0, HERE)
    import workload  # noqa: E402 - the shared yardstick
    from peers import handwritten  # noqa: E402
    from verify import normalise  # noqa: E402
    import handwritten_validated as hv  # noqa: E402
    import peer_bando  # noqa: E402

    apps = workload.generate(args.n, workload.DEFAULT_SEED)
    gc.collect()
    gc.freeze()
    policy = peer_bando.load_from_source(peer_bando.read_source())
    fast = policy.validator.fast_path
    if fast is None:
        print("bench.bando has no fused fast path: nothing to measure", file=sys.stderr)
        return 1
    rows = [("shared hand-written (reads what the rules use)", handwritten.load()),
            ("hand-written, every field checked", hv.evaluate_validated),
            ("hand-written, every field checked, money as Decimal", hv.evaluate_exact),
            ("bando generated function alone (fast path)", fast),
            ("bando policy.decide", policy.decide)]
    expected = [normalise(rows[0][1](a)) for a in apps]
    decide_peer = peer_bando.load("compiled")
    for label, fn in rows[1:3] + [("bando policy.decide", decide_peer)]:
        bad = sum(normalise(fn(a)) != e for a, e in zip(apps, expected))
        if bad:
            print(f"{label}: {bad} applications disagree with the shared hand-written function", file=sys.stderr)
            return 1
    best = [float("inf")] * len(rows)
    for _ in range(args.reps):
        for i, (_label, fn) in enumerate(rows):
            gc.collect()
            t0 = time.perf_counter()
            for a in apps:
                fn(a)
            best[i] = min(best[i], time.perf_counter() - t0)
    if args.json:
        keys = ("shared", "validated", "exact", "fast_path", "decide")
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"n": args.n, "reps": args.reps, "best_s": dict(zip(keys, best))}, fh, indent=1)
    print(f"N={args.n:,} yardstick applications, best of {args.reps} interleaved passes; all rows agree")
    print(f"| {'what':<54} | µs/app | vs shared | vs checked+Decimal |")
    print(f"|{'-' * 56}|--------|-----------|--------------------|")
    for (label, _fn), t in zip(rows, best):
        print(f"| {label:<54} | {t / args.n * 1e6:6.1f} | {t / best[0]:8.2f}× | {t / best[2]:17.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
