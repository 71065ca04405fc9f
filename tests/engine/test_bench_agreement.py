"""bando agrees with the hand-written peer of the shared yardstick (``../shared/bench``).

The yardstick's POLICY.md is encoded in ``benchmarks/bench.bando``; its
``peers/handwritten.py`` is the reference. On 2,000 generated applications the
four outputs (eligible, failed gates in POLICY.md order, score, grant) must be
equal as exact decimals, through ``policy.decide`` (fused fast path), the full
validator + typed rules, and ``policy.evaluate``.

The yardstick lives outside this repository: set ``BANDO_BENCH_DIR`` to point at
it when it is not at ``../shared/bench`` from the repository root.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from decimal import Decimal

import pytest

from engine.evaluate.policy import _app_id, load_policy

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH_DIR = os.environ.get("BANDO_BENCH_DIR") or os.path.join(REPO, "..", "shared", "bench")
N = 2_000

if not os.path.isfile(os.path.join(BENCH_DIR, "workload.py")):
    pytest.skip(f"the shared yardstick is not at {os.path.abspath(BENCH_DIR)} (set BANDO_BENCH_DIR)",
                allow_module_level=True)


def _load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses and friends look modules up by name
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def bench():
    workload = _load_module("bench_workload", os.path.join(BENCH_DIR, "workload.py"))
    handwritten = _load_module("bench_handwritten", os.path.join(BENCH_DIR, "peers", "handwritten.py"))
    apps = workload.generate(N)
    policy = load_policy(os.path.join(REPO, "benchmarks", "bench.bando"))
    return apps, handwritten.evaluate, policy


def _num(x):
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


def _expected(res):
    return bool(res["eligible"]), list(res["failed_gates"]), _num(res["score"]), _num(res["grant"])


def _ours(d):
    assert d.status != "invalid", d.errors
    return (d.status != "ineligible", list(d.failed), d.score,
            d.grant if d.status == "admitted" else Decimal(0))


def _diffs(apps, expected, got):
    return [f"{a['id']}: hand-written {e}, bando {g}" for a, e, g in zip(apps, expected, got) if e != g]


def test_decide_agrees_with_the_hand_written_peer(bench):
    apps, reference, policy = bench
    assert policy.validator.fast_path is not None, "bench.bando should compile to the fused fast path"
    expected = [_expected(reference(a)) for a in apps]
    got = [_ours(policy.decide(a)) for a in apps]
    diffs = _diffs(apps, expected, got)
    assert not diffs, f"{len(diffs)} disagreements, first: " + "; ".join(diffs[:5])
    # the sample exercises every gate and both outcomes
    failed = {g for _, gates, _, _ in expected for g in gates}
    assert len(failed) == 9
    assert any(grant > 0 for *_, grant in expected) and any(not e for e, *_ in expected)


def test_full_path_agrees_too(bench):
    apps, reference, policy = bench
    expected = [_expected(reference(a)) for a in apps[:500]]
    got = []
    for a in apps[:500]:
        value, errors = policy.validator.validate_full(a)
        assert errors == []
        got.append(_ours(policy.decide_valid(_app_id(a), value)))
    assert not _diffs(apps, expected, got)


def test_evaluate_agrees_too(bench):
    apps, reference, policy = bench
    sample = apps[:200]
    expected = [_expected(reference(a)) for a in sample]
    got = []
    for a in sample:
        r = policy.evaluate(a)
        got.append((r.status != "ineligible", [g.id for g in r.gates if not g.passed], r.score,
                    r.grant if r.status == "admitted" else Decimal(0)))
    assert not _diffs(sample, expected, got)


def test_the_benchmark_peer_module(bench):
    """benchmarks/peer_bando.py (what run_bench.py measures) gives the same four outputs."""
    apps, reference, _ = bench
    peer = _load_module("peer_bando", os.path.join(REPO, "benchmarks", "peer_bando.py"))
    for variant in ("compiled", "explained"):
        evaluate = peer.load(variant)
        for a in apps[:100]:
            assert _expected(evaluate(a)) == _expected(reference(a)), (variant, a["id"])


# --- the floor of benchmarks/bench_floor.py: the same job by hand, so it must agree and refuse alike ----------

def _floor():
    return _load_module("bench_handwritten_validated", os.path.join(REPO, "benchmarks", "handwritten_validated.py"))


def test_the_checked_hand_written_floor_gives_the_yardsticks_outputs(bench):
    apps, handwritten, _policy = bench
    hv = _floor()
    for app in apps[:500]:
        expected = _expected(handwritten(app))
        for fn in (hv.evaluate_validated, hv.evaluate_exact):
            assert _expected(fn(app)) == expected, app["id"]


@pytest.mark.parametrize("where, bad", [
    (("network", "firms", 0, "vat_id"), ""),               # a field no rule reads: bando checks it all the same
    (("network", "firms", 0, "founded"), 1990.5),
    (("network", "firms", 1, "employees"), 2_000_000),
    (("network", "firms", 2, "turnover_eur"), -1),
    (("network", "firms", 0, "export_share"), 1.5),
    (("network", "firms", 0, "has_iso9001"), "yes"),
    (("network", "contract_type"), "consorzio"),
    (("project", "innovation_level"), 6),
    (("project", "title"), 7),
])
def test_the_floor_refuses_what_bando_calls_invalid(bench, where, bad):
    import copy

    apps, _handwritten, policy = bench
    app = copy.deepcopy(apps[0])
    node = app
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = bad
    assert policy.decide(app).status == "invalid"
    hv = _floor()
    for fn in (hv.evaluate_validated, hv.evaluate_exact):
        with pytest.raises(hv.Invalid):
            fn(app)
