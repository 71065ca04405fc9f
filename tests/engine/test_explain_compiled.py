"""The trace recorded in the fast path (``engine/compile/tracegen.py``).

The fused form reads the facts from the decision's locals; the typed tracer
reads them from the typed application. Both must record the same facts, so that
the one renderer (``engine/explain/explain.py``) writes the same sentences whichever
path an application takes: checked here on every application the repository
ships (hand-written examples and the 500-row batches of every policy), on the
shared yardstick's workload, and on policies written to send some rules to the
typed tracer. The random applications of ``test_evaluate.py`` (valid and
mutated) check the same on the rendered results.
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.evaluate import stages
from engine.explain import explain
from engine.evaluate.policy import load_policy

from test_evaluate import full_path, reference_result  # tests/engine is on sys.path (rootdir-less layout)

REPO = Path(__file__).resolve().parents[2]
POLICIES = sorted((REPO / "policies").glob("*.bando"))


def _applications(policy_path: Path):
    folder = REPO / "examples" / policy_path.stem
    apps = [json.loads(p.read_text(encoding="utf-8"), parse_float=Decimal) for p in sorted(folder.glob("*.json"))]
    batch = folder / "batch.jsonl"
    if batch.exists():
        apps += [json.loads(line) for line in batch.read_text(encoding="utf-8").splitlines() if line.strip()]
    return apps


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.stem)
def test_shipped_applications_are_traced_as_the_typed_tracer_does(path):
    policy = load_policy(path)
    apps = _applications(path)
    # a generated batch has 500 applications; distretto_commissione has its cases only (its batch is a CSV)
    assert len(apps) >= (500 if (REPO / "examples" / path.stem / "batch.jsonl").exists() else 30)
    compiled = 0
    for data in apps:
        decision, trace = policy.trace(data)
        if decision.status == "invalid":
            assert trace is None
            continue
        judged = stages.split(policy.marks, data)[0]  # a call with a panel: the rules read the judged marks
        value = policy.validator.validate_full(judged)[0]
        assert trace == explain.typed_trace(policy, value, full_path(policy, judged)), data.get("id")
        compiled += _compiled_output(policy, judged) is not None
    assert policy._explainers[None] is not None  # the compiled form exists and was used
    assert compiled > len(apps) // 2  # most applications are valid: they take the compiled path
    for lang in ("it", "en"):  # and the sentences are those of the typed path, rendered from the same facts
        for data in apps[:60]:
            got = policy.evaluate(data, lang=lang).to_dict()
            assert got == reference_result(policy, data, lang).to_dict(), (lang, data.get("id"))


def _compiled_output(policy, data):
    try:
        return policy._explainers[None](data)
    except Exception:  # invalid or unusual data: the typed path traces it
        return None


def test_the_yardstick_policy_needs_no_typed_rule():
    policy = load_policy(REPO / "benchmarks" / "bench.bando")
    data = _bench_like_application()
    policy.trace(data)
    _dec, gates, criteria, lets, _grant = policy._explainers[None](data)
    assert None not in gates and None not in criteria and lets is None


def _bench_like_application():
    firms = [{"vat_id": f"IT{i:011d}", "employees": 10 + i, "turnover_eur": 1_000_000.5, "sector": "C25",
              "region": "Puglia" if i % 3 else "Basilicata", "founded": 2001, "signed_pact": i != 4,
              "export_share": 0.3 if i % 2 else 0.1, "has_iso9001": i % 2 == 0} for i in range(7)]
    return {"id": "B-1", "submitted_at": "2025-06-30T11:59:59",
            "network": {"name": "Rete", "contract_type": "rete-soggetto", "firms": firms},
            "project": {"title": "P", "requested_amount_eur": 40_000.5, "eligible_costs_eur": 100_000,
                        "innovation_level": 3, "international_markets": 4, "months": 24,
                        "women_led_share": 0.3}}


def test_yardstick_workload_sample():
    bench = REPO.parent / "shared" / "bench" / "workload.py"
    if not bench.exists():
        pytest.skip("the shared yardstick is not beside the repository")
    import importlib.util
    spec = importlib.util.spec_from_file_location("bench_workload", bench)
    workload = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(workload)
    policy = load_policy(REPO / "benchmarks" / "bench.bando")
    for data in workload.generate(400):
        for lang in ("it", "en"):
            assert policy.evaluate(data, lang=lang).to_dict() == reference_result(policy, data, lang).to_dict()


MIXED = '''
call "Misto" version "1" {
  language it
  closes 2025-06-30 12:00
}
record Firm "Impresa {aderente}" {
  name "Nome «ragione» {sociale}": text
  employees "Addetti": int
  turnover "Fatturato": money = 0 EUR
}
input {
  id: text
  submitted_at: datetime
  limit "Soglia dichiarata": int = 3
  firms: list of Firm
  cost "Costo": money
  quality "Qualità": decimal in 0..5 step 0.5 = 0
}
let n "imprese" = count(firms)
eligibility {
  gate many "Almeno due {imprese}": n >= 2
  gate small "Tutte piccole": all f in firms: f.employees < 50 and f.turnover <= 10_000_000 EUR
  gate on_time "Nei termini": submitted_at <= call.closes
}
score max 30 pass 10 {
  criterion declared "Sopra la soglia dichiarata" max 10 {
    n >= limit -> 10
    otherwise -> 0
  }
  criterion parts "Qualità e dimensione" max 10 {
    sub q "Qualità" max 5 = quality
    sub d "Dimensione" max 5 {
      n >= 3 -> 5
      otherwise -> 1
    }
  }
  criterion cost_points "Costo" max 10 minimum 2 = cost / 10_000 EUR
}
'''


def _mixed_app(**kw):
    data = {"id": "M-1", "submitted_at": "2025-06-30T12:00:00", "cost": 45_000.5, "quality": 3.5,
            "firms": [{"name": "Alfa {srl}", "employees": 60, "turnover": 12_000_000},
                      {"name": "Beta", "employees": 5}]}
    data.update(kw)
    return data


SMALL = [{"name": "Beta", "employees": 5}, {"name": "Gamma", "employees": 7, "turnover": 1000},
         {"name": "Delta", "employees": 9}]


@pytest.mark.parametrize("kw", [{}, {"limit": 2}, {"cost": 5_000}, {"firms": []}, {"quality": None},
                                {"submitted_at": "2025-06-30T12:00:01"},
                                # eligible, so scored: parts, a capped formula, a minimum not reached
                                {"firms": SMALL}, {"firms": SMALL[:2], "limit": 2, "quality": 5},
                                {"firms": SMALL, "cost": 150_000.5}, {"firms": SMALL, "cost": 10_000}])
def test_bands_with_bounds_from_the_data_and_sub_criteria(kw):
    policy = load_policy(MIXED)
    data = _mixed_app(**kw)
    for lang in ("it", "en"):
        assert policy.evaluate(data, lang=lang).to_dict() == reference_result(policy, data, lang).to_dict()
    _dec, gates, criteria, lets, _grant = policy._explainers[None](data)
    assert None not in gates  # every gate is recorded in the fused form
    if _dec[1] is not None:
        points, parts, _values = criteria[1]
        assert points is not None and len(parts) == 2  # scored, with the facts of its parts
        # a band compared with the data (not a constant) records that bound: no rule is left to the typed tracer
        assert None not in criteria and lets is None
        assert criteria[0][1][4][0] == (data.get("limit", 3),)
    else:
        assert criteria is None  # not scored: no criterion has facts


def test_failing_items_are_named_from_typed_values():
    policy = load_policy(MIXED)
    data = _mixed_app()
    small = next(g for g in policy.evaluate(data).gates if g.id == "small")
    assert small.because == ("1 su 2 non soddisfa «Addetti < 50 e Fatturato ≤ € 10.000.000,00»: "
                             "#1 Alfa {srl} (Addetti = 60, richiesto meno di 50; "
                             "Fatturato = € 12.000.000,00, richiesto al massimo € 10.000.000,00)")
    assert small.because == explain.explain(policy, policy.validator.validate_full(data)[0],
                                            full_path(policy, data), "it").gates[1].because


# --- random applications for every policy the repository has ----------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_evaluate import _schema_strategy, mutated  # noqa: E402

ALL_POLICIES = POLICIES + [REPO / "benchmarks" / "bench.bando", REPO / "docs" / "sample-all-constructs.bando"]
_LOADED: dict = {}


def _loaded(path):
    if path not in _LOADED:
        policy = load_policy(path)
        schema = policy.json_schema()
        valid = _schema_strategy(schema, schema.get("$defs", {}))
        _LOADED[path] = policy, st.one_of(valid, mutated(valid))
    return _LOADED[path]


@pytest.mark.parametrize("path", ALL_POLICIES, ids=lambda p: p.stem)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_applications_are_explained_as_the_typed_path_does(path, data):
    policy, applications = _loaded(path)
    app = data.draw(applications)
    for lang in ("it", "en"):
        assert policy.evaluate(app, lang=lang).to_dict() == reference_result(policy, app, lang).to_dict()


def test_one_policy_shared_by_threads_gives_the_same_results():
    """The explaining forms are built on first use, under a lock, while other threads evaluate."""
    from concurrent.futures import ThreadPoolExecutor

    path = REPO / "policies" / "salentonet.bando"
    apps = _applications(path)[:200]
    alone = load_policy(path)  # evaluated by one thread: what every thread must get
    expected = [alone.evaluate(a, lang=lang).to_dict() for lang in ("it", "en") for a in apps]
    shared = load_policy(path)  # nothing built yet: the threads race to build both languages

    def run(offset):
        out = []
        for lang in ("it", "en")[offset % 2:] + ("it", "en")[:offset % 2]:
            out.append((lang, [shared.evaluate(a, lang=lang).to_dict() for a in apps]))
        return dict(out)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(4)))
    for got in results:
        assert got["it"] + got["en"] == expected


def test_a_policy_that_is_dropped_leaves_nothing_behind():
    """Its generated source leaves linecache with it; its rule caches live on the policy, not in modules."""
    import gc
    import linecache
    import weakref

    policy = load_policy(REPO / "policies" / "salentonet.bando")
    data = _applications(REPO / "policies" / "salentonet.bando")[0]
    policy.evaluate(data, lang="it")
    policy.evaluate(data, lang="en")
    name = policy.compiler.filename
    assert name in linecache.cache and "def " in policy.compiler.source
    alive = weakref.ref(policy)
    del policy
    gc.collect()
    assert alive() is None
    assert name not in linecache.cache
