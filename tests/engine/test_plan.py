"""The plan of a compiled policy (engine/compile/plan.py): each rewrite against its fixture file, and the plan's promise.

The fixture files (``tests/engine/fixtures/plan/<rewrite>.txt``) hold policies and the plan a rewrite gives,
in the manner of sqlglot's optimizer fixtures.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.compile import plan as P
from engine.evaluate.policy import load_policy

FIXTURES = Path(__file__).parent / "fixtures" / "plan"
ROOT = Path(__file__).parents[2]
HEADER = 'call "Prova" version "1" {\n  authority "Regione di prova"\n  language it\n  closes 2025-06-30 12:00\n' \
         '  budget 1_000_000 EUR\n}\n'


def cases(name):
    """(policy, expected plan) pairs of one fixture file; ``#`` lines are the fixture's comments."""
    text = (FIXTURES / f"{name}.txt").read_text(encoding="utf-8")
    out = []
    for i, case in enumerate(text.split("\n===\n")):
        source, expected = case.split("\n---\n")
        source = "\n".join(ln for ln in source.splitlines() if not ln.startswith("#"))
        out.append(pytest.param(source, expected.strip(), id=f"{name}-{i}"))
    return out


def checked(source):
    policy = load_policy(HEADER + source, name="fixture.bando")
    return policy.checked


@pytest.mark.parametrize("source,expected", cases("settle_forms"))
def test_settle_forms(source, expected):
    cp = checked(source)
    got = P.settle_forms(P.optimistic(cp))
    assert got.describe() == expected
    assert P.settle_forms(got) == got  # a fixed point


@pytest.mark.parametrize("source,expected", cases("show_values"))
def test_show_values(source, expected):
    got = P.show_values(P.lower(checked(source)))
    assert got.describe() == expected


def test_the_optimistic_plan_fuses_every_list_and_keeps_every_number_raw():
    cp = checked((FIXTURES / "settle_forms.txt").read_text().split("\n===\n")[2].split("\n---\n")[0])
    optimistic = P.optimistic(cp)
    assert optimistic.form(("firms",)) == "loop"
    assert P.lower(cp).form(("firms",)) == "typed"  # the let in the loop's condition


def test_rewrites_are_pure():
    cp = checked((FIXTURES / "show_values.txt").read_text().split("\n---\n")[0])
    before = P.lower(cp)
    snapshot = (before.typed, before.decimal, before.reads)
    P.show_values(before)
    assert (before.typed, before.decimal, before.reads) == snapshot


def test_a_policy_without_input_has_no_fast_path():
    plan = P.lower(checked('eligibility {\n  gate always: true\n}\n'))
    assert not plan.fast and plan.reason == "no input"
    assert plan.describe() == "no fast path: no input"


@pytest.mark.parametrize("path", sorted(str(p.relative_to(ROOT)) for d in ("policies", "benchmarks")
                                        for p in (ROOT / d).glob("*.bando")))
def test_the_emitter_meets_nothing_its_plan_did_not_foresee(path):
    policy = load_policy(ROOT / path)
    compiler = policy.compiler
    if compiler.plan.fast:
        policy._build_explainer()  # one explaining form for every language (it records facts, not sentences)
        assert compiler.unit.plan_miss is None
        assert compiler.fast_source is not None
