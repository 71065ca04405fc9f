"""The performance targets of issue 13 ("one meaning, one trace"), all printed by one run.

    python benchmarks/run_targets.py            # the end-to-end rows at N=20,000, the rest at small sizes
    python benchmarks/run_targets.py --all      # every row at the issue's sizes (1,000,000 for RSS: ~15 min)
    python benchmarks/run_targets.py --quick    # N=2,000 smoke run of every row

Every figure is a ratio measured in this one run against its yardstick (the machine is shared and noisy:
absolute times of two runs are not comparable, ratios from one run are):

* ``policy.decide`` / ``policy.evaluate`` against the shared hand-written function: from
  ``benchmarks/run_bench.py`` run as a child (it checks agreement on every application first);
* ``bando score --no-letters --jobs 1`` against ``benchmarks/pipeline_handwritten.py`` doing the same job
  on the same JSON Lines, both as child processes, interleaved; with letters against the same pipeline
  rendering one plain Jinja2 letter per application;
* peak RSS of ``bando score --no-letters`` on ``--rss-n`` applications (the child's ``ru_maxrss``);
* ``--jobs 2`` against ``--jobs 1`` on ``--scale-n`` applications;
* the floor (not a target): ``benchmarks/bench_floor.py``, the yardstick's rules by hand with every field
  checked and money in Decimal, against the shared function and against ``policy.decide``; and the pipeline
  deciding with that function (``--checked``) against ``bando score``;
* ``load_policy`` of each shipped policy (best of 5, in a child process) and ``check`` of a generated
  policy of about 2,000 lines (``benchmarks/bench_parse.py``'s generator).

The table goes to stdout and, with the raw figures, to ``benchmarks/results/targets-latest.{txt,json}``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_BENCH = REPO.parent / "shared" / "bench"
POLICY = HERE / "bench.bando"


def generate(path: Path, n: int, bench_dir: Path) -> None:
    """``n`` yardstick applications as JSON Lines (application i depends only on the seed and i)."""
    sys.path.insert(0, str(bench_dir))
    import workload  # noqa: E402 - the shared yardstick's generator

    with path.open("w", encoding="utf-8") as fh:
        for app in workload.iter_applications(n):
            fh.write(json.dumps(app, separators=(",", ":")) + "\n")


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds of ``cmd`` in a child process, and the largest child's peak RSS so far (KiB)."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def bando_score(batch: Path, out: Path, *, letters: bool, jobs: int = 1) -> list[str]:
    cmd = [sys.executable, "-m", "engine.cli", "score", str(POLICY), str(batch), "-o", str(out), "--jobs", str(jobs)]
    return cmd + ([] if letters else ["--no-letters"])


def pipeline(batch: Path, out: Path, *, letters: bool, bench_dir: Path, checked: bool = False) -> list[str]:
    cmd = [sys.executable, str(HERE / "pipeline_handwritten.py"), str(batch), str(out), "--bench-dir", str(bench_dir)]
    return cmd + (["--letters"] if letters else []) + (["--checked"] if checked else [])


def best_of(reps: int, cmds: list[list[str]]) -> list[float]:
    """The best wall time of each command over ``reps`` rounds, the commands interleaved in every round
    (so that a burst of load on the shared machine hits both sides of a ratio)."""
    best = [float("inf")] * len(cmds)
    for _ in range(reps):
        for i, cmd in enumerate(cmds):
            best[i] = min(best[i], timed(cmd)[0])
    return best


def end_to_end(tmp: Path, n: int, reps: int, bench_dir: Path) -> dict:
    batch = tmp / "e2e.jsonl"
    generate(batch, n, bench_dir)
    hw, bando, hw_l, bando_l, hw_c = best_of(reps, [
        pipeline(batch, tmp / "hw", letters=False, bench_dir=bench_dir),
        bando_score(batch, tmp / "bando", letters=False),
        pipeline(batch, tmp / "hw-l", letters=True, bench_dir=bench_dir),
        bando_score(batch, tmp / "bando-l", letters=True),
        pipeline(batch, tmp / "hw-c", letters=False, bench_dir=bench_dir, checked=True),
    ])
    return {"n": n, "pipeline_s": hw, "bando_s": bando, "pipeline_letters_s": hw_l, "bando_letters_s": bando_l,
            "pipeline_checked_s": hw_c}


def floor(tmp: Path, n: int, bench_dir: Path) -> dict:
    """``benchmarks/bench_floor.py``: the yardstick's rules by hand with bando's checks and exact money."""
    out = tmp / "floor.json"
    proc = subprocess.run([sys.executable, str(HERE / "bench_floor.py"), "--n", str(n), "--bench-dir",
                           str(bench_dir), "--json", str(out)], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"bench_floor.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


def peak_rss(tmp: Path, n: int, bench_dir: Path) -> dict:
    batch = tmp / "rss.jsonl"
    generate(batch, n, bench_dir)
    cmd = bando_score(batch, tmp / "rss-out", letters=False)
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far: measure in a grandchild of its own
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"peak RSS run failed:\n{proc.stderr[-2000:]}")
    return {"n": n, "peak_rss_mib": int(proc.stdout.split()[-1]) / 1024, "wall_s": time.perf_counter() - t}


def scaling(tmp: Path, n: int, reps: int, bench_dir: Path) -> dict:
    batch = tmp / "scale.jsonl"
    generate(batch, n, bench_dir)
    one, two = best_of(reps, [bando_score(batch, tmp / "j1", letters=False, jobs=1),
                              bando_score(batch, tmp / "j2", letters=False, jobs=2)])
    same = (tmp / "j1" / "results.jsonl").read_bytes() == (tmp / "j2" / "results.jsonl").read_bytes()
    return {"n": n, "jobs1_s": one, "jobs2_s": two, "identical": same}


LOAD_CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from engine.evaluate.policy import load_policy
from dsl.checker import check
from dsl.parser import parse_source
from dsl.source import Source
def load_time(f):
    t = time.perf_counter()
    load_policy(f)
    return time.perf_counter() - t
out = {Path(f).name: min(load_time(f) for _ in range(5)) for f in sys.argv[3:]}
text = Path(sys.argv[2]).read_text(encoding="utf-8")
def check_generated():
    from dsl.limits import Budget
    t = time.perf_counter()
    src = Source(text, "generated.bando")
    check(parse_source(src, Budget(max_tokens=10**9, max_bytes=10**10)), src)
    return time.perf_counter() - t
out["generated"] = min(check_generated() for _ in range(3))
print(json.dumps(out))
"""


def loading(tmp: Path, lines: int) -> dict:
    sys.path.insert(0, str(HERE))
    from bench_parse import generate as generate_policy  # noqa: E402 - the same generator as bench_parse.py
    from dsl.parser import count_tokens

    text = generate_policy(lines)
    gen = tmp / "generated.bando"
    gen.write_text(text, encoding="utf-8")
    policies = sorted(str(p) for p in (REPO / "policies").glob("*.bando"))
    proc = subprocess.run([sys.executable, "-c", LOAD_CHILD, str(REPO), str(gen), *policies],
                          capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"load_policy timing failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"load_s": {k: v for k, v in out.items() if k != "generated"}, "generated_check_s": out["generated"],
            "generated_lines": text.count("\n"), "generated_tokens": count_tokens(text)}


def decide_evaluate(tmp: Path, n: int, bench_dir: Path) -> dict:
    out = tmp / "run_bench"
    proc = subprocess.run([sys.executable, str(HERE / "run_bench.py"), "--n", str(n), "--bench-dir", str(bench_dir),
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise SystemExit(f"run_bench.py failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    rows = {r["label"]: r for r in json.loads(Path(str(out) + ".json").read_text(encoding="utf-8"))["rows"]}
    find = lambda word: next(r for label, r in rows.items() if word in label)  # noqa: E731
    return {"n": n, "decide_x": find("decide")["time_vs_hw"], "evaluate_x": find("evaluate")["time_vs_hw"],
            "trace_x": find("policy.trace")["time_vs_hw"]}


def table(r: dict) -> list[str]:
    def row(what, target, value, met):
        return f"| {what} | {target} | {value} | {'met' if met else 'NOT met'} |"

    de, e2e, rss, sc, ld = r["decide_evaluate"], r["end_to_end"], r["rss"], r["scaling"], r["loading"]
    e2e_x = e2e["bando_s"] / e2e["pipeline_s"]
    letters_x = e2e["bando_letters_s"] / e2e["pipeline_letters_s"]
    speedup = sc["jobs1_s"] / sc["jobs2_s"]
    slowest = max(ld["load_s"].items(), key=lambda kv: kv[1])
    lines = [
        "| target (issue 13) | limit | measured | |",
        "|---|---|---|---|",
        row(f"`policy.decide` vs hand-written (N={de['n']:,})", "≤ 1.6×", f"{de['decide_x']:.2f}×", de["decide_x"] <= 1.6),
        row(f"`policy.evaluate`, every sentence (N={de['n']:,})", "≤ 3×", f"{de['evaluate_x']:.2f}×",
            de["evaluate_x"] <= 3),
        row(f"`policy.trace`, trace only, no sentences (N={de['n']:,})", "≤ 2×", f"{de['trace_x']:.2f}×",
            de["trace_x"] <= 2),
        row(f"`bando score --no-letters --jobs 1` vs pipeline (N={e2e['n']:,})", "≤ 2×",
            f"{e2e_x:.2f}× ({e2e['bando_s']:.1f} s vs {e2e['pipeline_s']:.1f} s)", e2e_x <= 2),
        row(f"`bando score` with letters vs pipeline with letters (N={e2e['n']:,})", "≤ 2×",
            f"{letters_x:.2f}× ({e2e['bando_letters_s']:.1f} s vs {e2e['pipeline_letters_s']:.1f} s)", letters_x <= 2),
        row(f"peak RSS, `--no-letters`, {rss['n']:,} applications", "< 500 MB",
            f"{rss['peak_rss_mib']:,.0f} MiB", rss["peak_rss_mib"] * 1.048576 < 500),
        row(f"`--jobs 2` vs `--jobs 1` ({sc['n']:,} applications)", "≥ 1.7× faster",
            f"{speedup:.2f}× ({'byte-identical' if sc['identical'] else 'RESULTS DIFFER'})",
            speedup >= 1.7 and sc["identical"]),
        row("`load_policy`, slowest shipped policy", "< 150 ms", f"{slowest[1] * 1000:.0f} ms ({slowest[0]})",
            slowest[1] < 0.150),
        row(f"check of a generated {ld['generated_lines']:,}-line policy ({ld['generated_tokens']:,} words and "
            f"symbols; the hardening limit is 12,000)", "< 1 s", f"{ld['generated_check_s'] * 1000:.0f} ms",
            ld["generated_check_s"] < 1),
    ]
    fl = r.get("floor")
    if fl is not None:  # not targets: what the job itself costs, measured in the same run
        b = fl["best_s"]
        lines += [
            "",
            "| the floor under the targets (not targets) | measured |",
            "|---|---|",
            f"| the rules by hand with every field checked and money in Decimal, vs the shared hand-written "
            f"function (N={fl['n']:,}; benchmarks/bench_floor.py) | {b['exact'] / b['shared']:.2f}× |",
            f"| `policy.decide` vs that checked hand-written function (same run) | {b['decide'] / b['exact']:.2f}× |",
            f"| `bando score --no-letters` vs the pipeline deciding with that function (N={e2e['n']:,}) | "
            f"{e2e['bando_s'] / e2e['pipeline_checked_s']:.2f}× ({e2e['bando_s']:.1f} s vs "
            f"{e2e['pipeline_checked_s']:.1f} s) |",
        ]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-dir", default=str(DEFAULT_BENCH))
    ap.add_argument("--n", type=int, default=20_000, help="applications for the ratio rows")
    ap.add_argument("--rss-n", type=int, default=100_000)
    ap.add_argument("--scale-n", type=int, default=50_000)
    ap.add_argument("--reps", type=int, default=2, help="interleaved rounds of the end-to-end runs (best kept)")
    ap.add_argument("--all", action="store_true", help="the issue's sizes: RSS on 1,000,000, --jobs on 200,000")
    ap.add_argument("--quick", action="store_true", help="N=2,000 for every row, one round")
    ap.add_argument("--out", default=str(HERE / "results" / "targets-latest"))
    args = ap.parse_args(argv)
    if args.all:
        args.rss_n, args.scale_n = 1_000_000, 200_000
    if args.quick:
        args.n = args.rss_n = args.scale_n = 2_000
        args.reps = 1
    bench_dir = Path(args.bench_dir)
    started = _dt.datetime.now().isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="bando-targets-") as tmp:
        tmp = Path(tmp)
        r = {"started": started, "python": platform.python_version(), "cpus": os.cpu_count()}
        for key, step in [("decide_evaluate", lambda: decide_evaluate(tmp, args.n, bench_dir)),
                          ("floor", lambda: floor(tmp, args.n, bench_dir)),
                          ("end_to_end", lambda: end_to_end(tmp, args.n, args.reps, bench_dir)),
                          ("scaling", lambda: scaling(tmp, args.scale_n, args.reps, bench_dir)),
                          ("rss", lambda: peak_rss(tmp, args.rss_n, bench_dir)),
                          ("loading", lambda: loading(tmp, 2000))]:
            t = time.perf_counter()
            r[key] = step()
            print(f"{key}: done in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    lines = [f"issue 13 targets, {started}, Python {r['python']}, {r['cpus']} cores"] + table(r)
    print("\n".join(lines))
    Path(args.out + ".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    Path(args.out + ".json").write_text(json.dumps(r, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
