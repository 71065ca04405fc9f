"""bando measured against the shared rules-engine yardstick, in one run.

    python benchmarks/run_bench.py                 # N=20,000 (about 2 minutes on 2 cores)
    python benchmarks/run_bench.py --quick         # N=2,000 smoke run
    python benchmarks/run_bench.py --bench-dir /path/to/shared/bench --n 5000

The yardstick (``../shared/bench`` from the repository root, read-only) provides
the workload generator, the hand-written Python baseline and the other peers;
this script imports them from there (nothing is copied) and adds bando
(``benchmarks/peer_bando.py``) as two more rows:

* ``bando compiled``  -- ``policy.decide(app)``: validation + compiled rules;
* ``bando explained`` -- ``policy.evaluate(app)``: the same plus every
  explanation sentence, in Italian;
* ``bando traced``    -- ``policy.trace(app)``: the decision plus the facts of
  every rule, no sentence.

Steps, all in this one process:

1. generate the N applications once (seeded, as the shared run.py) and
   ``gc.freeze()`` them;
2. check that both bando variants agree with the hand-written peer on *every*
   one of the N applications (eligible, failed gates in order, score, grant,
   compared exactly with the yardstick's own ``verify.normalise``); any
   disagreement prints the first few and the script exits 1 before timing;
3. time each peer like the shared run.py: load from source (cold, then median
   of 5 warm), an untimed warm-up over 200 applications, then the median of
   several one-by-one passes; a peer timed on a prefix is compared with the
   hand-written peer timed on the same prefix;
4. print one table and write it with the raw numbers under
   ``benchmarks/results/``.

The zen-engine and json-logic peers need ``pip install -r
../shared/bench/requirements.txt``; when they are not installed their rows are
skipped and the script says so.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_BENCH_DIR = os.path.join(REPO, "..", "shared", "bench")
RESULTS_DIR = os.path.join(HERE, "results")

# (key, module, variant): module "bando" is benchmarks/peer_bando.py, the others live in the shared peers/
ROWS = (
    ("handwritten", "handwritten", None),
    ("bando:compiled", "bando", "compiled"),
    ("bando:explained", "bando", "explained"),
    ("bando:traced", "bando", "traced"),
    ("zen:static", "zen", "static"),
    ("jsonlogic", "jsonlogic", None),
)
REPS = {"handwritten": 7, "zen:static": 5}   # default 3, as the shared run.py
PACKAGES = {"zen": "zen-engine", "jsonlogic": "panzi-json-logic"}


def _import_peer(module: str):
    if module == "bando":
        sys.path.insert(0, HERE)
        try:
            return importlib.import_module("peer_bando")
        finally:
            sys.path.remove(HERE)
    return importlib.import_module(f"peers.{module}")


def _label(mod, variant):
    return mod.label(variant) if hasattr(mod, "label") else mod.NAME


def _load(mod, variant):
    return mod.load(variant) if variant else mod.load()


def _diff_text(app_id, exp, got):
    return f"    {app_id}: hand-written {exp}\n    {' ' * len(app_id)}  bando        {got}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench-dir", default=DEFAULT_BENCH_DIR,
                    help="the shared yardstick folder (default: ../shared/bench from the repository root)")
    ap.add_argument("--n", type=int, default=20_000, help="applications in the sample (default 20,000)")
    ap.add_argument("--explained-n", type=int, default=None,
                    help="time the explained variant on the first K applications only (default: all N)")
    ap.add_argument("--seed", type=int, default=None, help="workload seed (default: the yardstick's)")
    ap.add_argument("--quick", action="store_true", help="smoke run: N=2,000, 3 passes for every peer")
    ap.add_argument("--out", default=os.path.join(RESULTS_DIR, "latest"),
                    help="write OUT.txt (the table) and OUT.json (raw numbers); default benchmarks/results/latest")
    args = ap.parse_args(argv)

    bench_dir = os.path.abspath(args.bench_dir)
    if not os.path.isfile(os.path.join(bench_dir, "workload.py")):
        print(f"error: no yardstick at {bench_dir} (expected workload.py and peers/ there); "
              f"pass --bench-dir", file=sys.stderr)
        return 2
    sys.path.insert(0, bench_dir)
    import workload  # noqa: E402  (shared, read-only)
    from verify import normalise  # noqa: E402

    n_total = 2_000 if args.quick else args.n
    seed = workload.DEFAULT_SEED if args.seed is None else args.seed
    out_lines: list[str] = []

    def say(line=""):
        print(line, flush=True)
        out_lines.append(line)

    versions = {}
    for pkg in ("zen-engine", "panzi-json-logic", "bando"):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    say(f"Python {platform.python_version()} ({platform.python_implementation()}) on {platform.platform()}")
    say(f"CPU: {cpu}, {os.cpu_count()} logical cores; yardstick: {bench_dir}")
    say("packages: " + ", ".join(f"{k}=={v}" for k, v in versions.items()))

    # ---- peers available? ------------------------------------------------------------------
    rows = []
    missing = []
    for key, module, variant in ROWS:
        t0 = time.perf_counter()
        try:
            mod = _import_peer(module)
        except ImportError as e:
            missing.append(f"{key} ({e}; install with `pip install -r {os.path.relpath(bench_dir)}/requirements.txt`)")
            continue
        rows.append({"key": key, "module": module, "variant": variant, "mod": mod, "label": _label(mod, variant),
                     "import_s": time.perf_counter() - t0})
    for m in missing:
        say(f"peer missing, row skipped: {m}")

    # ---- workload ------------------------------------------------------------------------------
    t0 = time.perf_counter()
    apps = workload.generate(n_total, seed)
    gc.collect()
    gc.freeze()
    firms = sum(len(a["network"]["firms"]) for a in apps)
    say(f"workload: {n_total:,} applications (seed {seed}), {firms / n_total:.1f} firms/app on average, "
        f"generated in {time.perf_counter() - t0:.1f}s")

    # ---- agreement with the hand-written peer, on every application ---------------------------------
    by_key = {r["key"]: r for r in rows}
    reference = _load(by_key["handwritten"]["mod"], None)
    expected = [normalise(reference(a)) for a in apps]
    disagreements = 0
    for key in ("bando:compiled", "bando:explained"):
        r = by_key[key]
        evaluate = _load(r["mod"], r["variant"])
        bad = []
        t0 = time.perf_counter()
        for app, exp in zip(apps, expected):
            try:
                got = normalise(evaluate(app))
            except Exception as exc:  # an engine crash is a disagreement too
                got = ("error", repr(exc)[:200])
            if got != exp:
                bad.append((app["id"], exp, got))
        dt = time.perf_counter() - t0
        r["agreement"] = {"n": len(apps), "disagreements": len(bad)}
        say(f"agreement {r['label']}: {len(apps):,} applications, "
            + ("all agree with the hand-written peer" if not bad else f"{len(bad)} DISAGREEMENTS")
            + f" ({dt:.1f}s)")
        for app_id, exp, got in bad[:5]:
            say(_diff_text(app_id, exp, got))
        disagreements += len(bad)
    if disagreements:
        say("bando disagrees with the hand-written peer: not timing (exit 1)")
        _write(args.out, out_lines, {"disagreements": disagreements})
        return 1

    # ---- timing ----------------------------------------------------------------------------------
    def time_passes(evaluate, n, reps):
        sample = apps[:n]
        for app in apps[:200]:  # warm-up, untimed
            evaluate(app)
        times = []
        for _ in range(reps):
            gc.collect()
            t0 = time.perf_counter()
            for app in sample:
                evaluate(app)
            times.append(time.perf_counter() - t0)
        return times

    hw_times: dict[int, float] = {}
    for r in rows:
        mod, variant = r["mod"], r["variant"]
        t0 = time.perf_counter()
        evaluate = _load(mod, variant)
        r["load_cold_s"] = time.perf_counter() - t0
        warm = []
        for _ in range(5):
            t0 = time.perf_counter()
            _load(mod, variant)
            warm.append(time.perf_counter() - t0)
        r["load_warm_s"] = statistics.median(warm)
        if r["key"] not in ("handwritten", "bando:compiled", "bando:explained"):
            got = [normalise(evaluate(a)) for a in apps[:200]]
            r["sanity_mismatches_200"] = sum(g != e for g, e in zip(got, expected))
        n = n_total
        if r["key"] == "bando:explained" and args.explained_n:
            n = min(n_total, args.explained_n)
        reps = 3 if args.quick else REPS.get(r["key"], 3)
        times = time_passes(evaluate, n, reps)
        med = statistics.median(times)
        r.update(n=n, reps=reps, pass_s=times, median_pass_s=med, apps_per_s=n / med, us_per_app=med / n * 1e6)
        if r["key"] == "handwritten":
            hw_times[n] = med
        print(f"  {r['label']:46s} {r['apps_per_s']:>9,.0f} apps/s ({r['us_per_app']:,.1f} us/app) "
              f"over {n:,} x {reps}", flush=True)
        del evaluate
    hw_eval = _load(by_key["handwritten"]["mod"], None)
    for n in sorted({r["n"] for r in rows} - set(hw_times)):
        hw_times[n] = statistics.median(time_passes(hw_eval, n, 7))
    for r in rows:
        r["hw_pass_s_same_n"] = hw_times[r["n"]]
        r["time_vs_hw"] = r["median_pass_s"] / hw_times[r["n"]]

    # ---- table ---------------------------------------------------------------------------------
    say()
    say(f"Results ({os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; N={n_total:,}, seed {seed}; "
        f"{_dt.datetime.now().isoformat(timespec='seconds')})")
    say("| peer | load ms cold / warm | apps timed x passes | apps/s (median) | µs/app | time per app vs hand-written |")
    say("|---|---|---|---|---|---|")
    for r in rows:
        say(f"| {r['label']} | {_ms(r['load_cold_s'])} / {_ms(r['load_warm_s'])} | {r['n']:,} x {r['reps']} "
            f"| {r['apps_per_s']:,.0f} | {r['us_per_app']:,.1f} | {r['time_vs_hw']:.2f}x |")
    targets = []
    c, x = by_key["bando:compiled"], by_key["bando:explained"]
    targets.append(f"compiled <= 2x hand-written: {'met' if c['time_vs_hw'] <= 2 else 'NOT met'} "
                   f"({c['time_vs_hw']:.2f}x)")
    if "zen:static" in by_key:
        z = by_key["zen:static"]
        targets.append(f"compiled faster than zen static: {'met' if c['us_per_app'] < z['us_per_app'] else 'NOT met'} "
                       f"({c['us_per_app']:.1f} vs {z['us_per_app']:.1f} µs/app)")
    targets.append(f"explained <= 4x hand-written: {'met' if x['time_vs_hw'] <= 4 else 'NOT met'} "
                   f"({x['time_vs_hw']:.2f}x)")
    say("targets: " + "; ".join(targets))
    if missing:
        say("missing peers: " + ", ".join(m.split(" ")[0] for m in missing))
    bad = {r["label"]: r["sanity_mismatches_200"] for r in rows if r.get("sanity_mismatches_200")}
    if bad:
        say(f"!! peers disagreeing with the hand-written one on the first 200 applications: {bad}")
    raw = {"n": n_total, "seed": seed, "cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(),
           "packages": versions, "missing": missing,
           "rows": [{k: v for k, v in r.items() if k != "mod"} for r in rows]}
    _write(args.out, out_lines, raw)
    return 0


def _ms(s: float) -> str:
    return f"{s * 1e3:.2f}" if s < 0.1 else f"{s * 1e3:.0f}"


def _write(out, lines, raw):
    os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
    with open(out + ".txt", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    with open(out + ".json", "w", encoding="utf-8") as fh:
        json.dump(raw, fh, indent=1, default=str)
    print(f"written: {os.path.relpath(out + '.txt')}, {os.path.relpath(out + '.json')}")


if __name__ == "__main__":
    sys.exit(main())
