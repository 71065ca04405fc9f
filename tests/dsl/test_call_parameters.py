"""Call parameters in the language: `parameters { ... }`, `param.x`, a weight's `if (...)`, a case's
`with`: parsed, formatted back to the same AST, checked (docs/language.md, "Call parameters")."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import ast
from dsl import params as dparams
from dsl.checker import check
from dsl.fmt import format_policy
from dsl.parser import parse
from dsl.source import Source

POLICY = '''call "P" version "1" {
  authority "A"
  budget param.budget
}

parameters {
  action "Tipo di azione" en "Type of action": one of {"IA", "RIA"} = "RIA"
  budget "Dotazione" en "Budget": money in 0..1_000_000_000 = 400_000 EUR
  rate "Aliquota": percent in 0..1 = 50%
}

input {
  id: text
  a "A": int in 0..5
  b "B": int in 0..5
  cost "Costo": money in 0..1_000_000
}

eligibility {
  gate small "Entro la dotazione": cost <= param.budget
}

score max 10 pass 2 {
  criterion a "A" max 5 weight 1.5 for ranking if (param.action == "IA" and param.rate >= 50%) = a
  criterion b "B" max 5 = b
}

grant = param.rate of cost rounded down to 1 EUR

ranking {
  order by ranking_score desc, (if param.action == "IA" then points(a) else points(b)) desc
}
'''


def _check(text):
    return check(parse(text, "p.bando"), Source(text, "p.bando"))


def _codes(text):
    return [d.code for d in _check(text).diagnostics]


def test_the_constructs_parse_into_their_nodes():
    p = parse(POLICY, "p.bando")
    block = p.of_type(ast.Parameters)[0]
    assert [f.name for f in block.fields] == ["action", "budget", "rate"]
    crit = p.of_type(ast.ScoreDef)[0].criteria[0]
    assert crit.ranking_weight == Decimal("1.5")
    assert isinstance(crit.ranking_weight_if, ast.Binary) and crit.ranking_weight_if.op == "and"
    assert crit.weight_if is None


def test_fmt_round_trips_parameters_weights_and_cases():
    text = POLICY + 'examples {\n  case "x.json" with action = "IA", budget = 5 EUR expect admitted score 3\n}\n'
    p = parse(text, "p.bando")
    out = format_policy(p)
    assert parse(out, "q.bando") == p
    assert format_policy(parse(out, "q.bando")) == out
    assert 'case "x.json" with action = "IA", budget = 5 EUR expect admitted score 3' in out
    assert 'weight 1.5 for ranking if (param.action == "IA" and param.rate >= 50%)' in out


def test_a_policy_with_parameters_checks_clean():
    cp = _check(POLICY)
    assert cp.diagnostics == []
    assert list(cp.parameters.fields) == ["action", "budget", "rate"]
    assert cp.parameters.fields["budget"].type.kind == "money"


@pytest.mark.parametrize("change, code", [
    (('rate "Aliquota": percent in 0..1 = 50%', 'rate "Aliquota": list of int'), "E420"),
    (('rate "Aliquota": percent in 0..1 = 50%', 'rate "Aliquota": percent in 0..1 optional'), "E420"),
    (('if (param.action == "IA" and param.rate >= 50%)', 'if (a > 3)'), "E421"),
    (('if (param.action == "IA" and param.rate >= 50%)', 'if (param.action == "IA" and points(b) > 2)'), "E421"),
    (('budget param.budget', 'budget param.action'), "E422"),
    (('budget param.budget', 'budget param.budget\n  language param.action'), "E422"),
    (('cost <= param.budget', 'cost <= param.budgte'), "E423"),
    (('criterion b "B" max 5 = b', 'criterion b "B" max 5 weight 1 if (param.action == "IA") = b'), "E426"),
])
def test_misuses_have_their_codes(change, code):
    old, new = change
    assert old in POLICY
    assert code in _codes(POLICY.replace(old, new))


def test_unknown_parameter_suggests_the_close_one():
    cp = _check(POLICY.replace("cost <= param.budget", "cost <= param.budgte"))
    e = next(d for d in cp.diagnostics if d.code == "E423")
    assert "did you mean `budget`?" in e.hint


def test_param_without_a_parameters_block_is_an_error():
    text = 'call "P" version "1" { authority "A" }\ninput { a: int in 0..5 }\neligibility { gate g "G": a > param.x }\n'
    assert "E423" in _codes(text)


def test_unread_parameter_is_a_warning():
    text = POLICY.replace('  rate "Aliquota": percent in 0..1 = 50%\n', '  rate "Aliquota": percent in 0..1 = 50%\n'
                          '  unused "Mai letto": int in 0..5 = 1\n')
    cp = _check(text)
    assert [d.code for d in cp.diagnostics] == ["W140"]


@pytest.mark.parametrize("case, code", [
    ('case "x.json" with actio = "IA" expect admitted', "E423"),
    ('case "x.json" with action = "XA" expect admitted', "E424"),
    ('case "x.json" with budget = 2_000_000_000 EUR expect admitted', "E424"),
    ('case "x.json" with budget = 5 expect admitted', "E424"),
    ('case "x.json" with action = "IA", action = "RIA" expect admitted', "E424"),
])
def test_case_values_are_checked(case, code):
    assert code in _codes(POLICY + "examples {\n  " + case + "\n}\n")


def test_a_parameter_without_default_must_be_given_by_each_case():
    text = POLICY.replace('one of {"IA", "RIA"} = "RIA"', 'one of {"IA", "RIA"}')
    assert "E425" in _codes(text + 'examples {\n  case "x.json" expect admitted\n}\n')
    assert "E425" not in _codes(text + 'examples {\n  case "x.json" with action = "IA" expect admitted\n}\n')


def _bound(values):
    cp = _check(POLICY)
    literals = {k: dparams.literal(v, cp.parameters.fields[k].type) for k, v in values.items()}
    return dparams.bind(cp.policy, literals)


def test_bind_writes_the_values_in_and_decides_the_weight():
    ia = _bound({"action": "IA", "budget": Decimal(500), "rate": Decimal("0.5")})
    ria = _bound({"action": "RIA", "budget": Decimal(500), "rate": Decimal("0.5")})
    crit_ia = ia.of_type(ast.ScoreDef)[0].criteria[0]
    crit_ria = ria.of_type(ast.ScoreDef)[0].criteria[0]
    assert (crit_ia.ranking_weight, crit_ia.ranking_weight_if) == (Decimal("1.5"), None)
    assert (crit_ria.ranking_weight, crit_ria.ranking_weight_if) == (None, None)
    assert not any(dparams.param_ref(n) for n in ast.walk(ia))
    assert ia.of_type(ast.CallDef)[0].items[1].value == ast.Money(Decimal(500), "EUR")
    assert _check(format_policy(ia)).errors == []


def test_bind_keeps_what_reads_no_parameter():
    p = parse(POLICY, "p.bando")
    bound = dparams.bind(p, {"action": ast.String("IA")})
    assert bound.of_type(ast.InputDef)[0] is p.of_type(ast.InputDef)[0]
    assert bound.of_type(ast.Eligibility)[0] is p.of_type(ast.Eligibility)[0]  # reads budget: not given here


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["IA", "RIA"]), st.decimals(min_value=0, max_value=1, places=2))
def test_the_weight_holds_exactly_when_its_condition_does(action, rate):
    bound = _bound({"action": action, "budget": Decimal(1), "rate": rate})
    crit = bound.of_type(ast.ScoreDef)[0].criteria[0]
    assert (crit.ranking_weight is not None) == (action == "IA" and rate >= Decimal("0.5"))


@pytest.mark.parametrize("kind, text, value", [
    ("enum", "IA", "IA"), ("money", "500_000", Decimal(500000)), ("money", "500000 EUR", Decimal(500000)),
    ("percent", "30%", Decimal("0.3")), ("int", "12", Decimal(12)), ("bool", "true", True),
])
def test_values_from_the_command_line(kind, text, value):
    from dsl.types import Type
    t = Type(kind, currency="EUR", options=("IA", "RIA")) if kind in ("money", "enum") else Type(kind)
    assert dparams.from_text(text, t) == (value, None)


@pytest.mark.parametrize("kind, text", [("money", "abc"), ("money", "5 USD"), ("percent", "30"), ("int", "1.5"),
                                        ("bool", "yes"), ("date", "17/09/2025")])
def test_values_of_the_wrong_type_say_what_was_expected(kind, text):
    from dsl.types import Type
    value, expected = dparams.from_text(text, Type(kind, currency="EUR"))
    assert value is None and expected
