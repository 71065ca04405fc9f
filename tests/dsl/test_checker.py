"""The checker: names, types, and every problem collected (not just the first)."""
from __future__ import annotations

import pytest

from dsl import ast
from dsl.checker import check
from dsl.parser import parse
from dsl.source import Source

HEADER = '''call "Bando reti" version "1" {
  authority "Regione Puglia"
  budget 1_000_000 EUR
  opens 2025-03-01 09:00
  closes 2025-06-30 12:00
}

record Firm { name: text, employees: int, turnover: money, region: text, founded: date, iso: bool = false }

input {
  id: text
  sent: datetime
  firms: list of Firm
  cost: money
  requested: money
  innovation: int in 0..5
  signed: date
  marks: list of decimal in 0..5 step 0.5
  kind: one of {"rete-soggetto", "rete-contratto"}
  turnover: money optional
}

'''


def checked(body, header=HEADER):
    text = header + body
    return check(parse(text, "p.bando"), Source(text, "p.bando"))


def messages(body, header=HEADER):
    return [d.message for d in checked(body, header).errors]


def type_of(expr):
    cp = checked(f"let probe = {expr}\n")
    assert not cp.errors, [d.render() for d in cp.errors]
    return cp.let_types["probe"]


@pytest.mark.parametrize("expr,kind,optional", [
    ("count(firms)", "int", False),
    ("count(f in firms where f.iso)", "int", False),
    ("share(f in firms where f.iso)", "percent", True),
    ("sum(f.turnover for f in firms)", "money", False),
    ("sum(f.employees for f in firms)", "int", False),
    ("median(marks)", "decimal", True),
    ("mean(m for m in marks)", "decimal", True),
    ("spread(marks)", "decimal", True),
    ("lowest(f.founded for f in firms)", "date", True),
    ("50% of cost", "money", False),
    ("cost / 2", "money", True),
    ("cost / requested", "decimal", True),
    ("cost - requested", "money", False),
    ("signed + 3 years", "date", True),
    ("days_between(signed, date_of(sent))", "int", False),
    ("sent <= call.closes", "bool", False),
    ("turnover <= 1_000 EUR", "bool", True),
    ("turnover is missing", "bool", False),
    ("min(requested, 50% of cost, 200_000 EUR)", "money", False),
    ("if kind == \"rete-soggetto\" then 80% else 50%", "percent", False),
    ("all f in firms: f.employees < 250", "bool", False),
    ("innovation between 1 and 3", "bool", False),
])
def test_types(expr, kind, optional):
    t = type_of(expr)
    assert (t.kind, t.optional) == (kind, optional)


def test_all_problems_are_reported_not_only_the_first():
    found = messages('''let a = membres + 1
eligibility {
  gate g1: cost <= 200_000
  gate g2: kind == "rete"
  gate g3: signed + cost > 2025-01-01
  gate g1: count(firms) > "3"
}
''')
    assert len(found) == 6, found
    assert "`membres` is not defined" in found
    assert "gate `g1` is defined twice" in found


def test_between_with_money_and_numbers_is_an_error_not_a_crash():
    """Regression: the checker raised AttributeError on `money between number and number`."""
    cp = checked("eligibility {\n  gate g: cost between 50_000 and 200_000\n}\n")
    assert [d.message for d in cp.errors] == ["cannot compare money with a number"]
    assert cp.errors[0].hint == "write `50_000 EUR`"


def test_money_hint_only_suggests_a_currency_after_a_written_number():
    cp = checked("eligibility {\n  gate g: cost <= count(firms) * 40_000\n}\n")
    assert "multiply it by `1 EUR`" in cp.errors[0].hint


def test_did_you_mean():
    cp = checked("eligibility {\n  gate g: all f in firms: f.employes < 250\n}\n")
    assert cp.errors[0].message == "record `Firm` has no field `employes`"
    assert cp.errors[0].hint == "did you mean `employees`?"


def test_unused_inputs_are_warnings_only_when_nothing_else_is_wrong():
    ok = checked("eligibility {\n  gate g: count(firms) >= 3\n}\n")
    assert not ok.errors
    assert any("`cost` is never used" in w.message for w in ok.warnings)
    bad = checked("eligibility {\n  gate g: count(firm) >= 3\n}\n")
    assert bad.errors and not any("never used" in w.message for w in bad.warnings)


@pytest.mark.parametrize("body,message", [
    ("let count = 3\n", "`count` is a word of the language and cannot be used as a name"),
    ("let round = 3\n", "`round` is a built-in function and cannot be redefined"),
    ("let f(sum: int) = 1\n", "`sum` is a word of the language and cannot be used as a name"),
])
def test_reserved_names(body, message):
    assert message in messages(body)


def test_functions_see_only_their_parameters():
    found = messages("let too_big(f: Firm) = f.turnover > cost\n"
                     "eligibility {\n  gate g: none f in firms: too_big(f)\n}\n")
    assert any("cannot be used inside the function `too_big`" in m for m in found)


def test_empty_and_headerless_files():
    empty = check(parse(""), Source("", "e.bando"))
    assert [d.message for d in empty.errors] == ["this file is empty: a policy starts with a `call` header"]
    no_call = check(parse("input { a: int }"), Source("input { a: int }", "n.bando"))
    assert [d.message for d in no_call.errors] == ["the policy has no `call` header"]
    # only records and lets: a shared module (`use "common/eu.bando"`), checked without a header
    module = check(parse("let x = 1"), Source("let x = 1", "m.bando"))
    assert module.errors == []


def test_closes_before_opens_points_at_closes():
    header = 'call "X" version "1" {\n  opens 2025-09-01\n  closes 2025-06-30\n}\n'
    cp = checked("", header)
    assert cp.errors[0].span.line == 3
    assert cp.errors[0].message == "the call closes (2025-06-30) before it opens (2025-09-01)"


def test_score_structure():
    found = messages('''score max 100 pass 60 {
  criterion a max 40 {
    innovation >= 2 -> 20
    innovation >= 4 -> 40
    otherwise -> 0
    innovation >= 5 -> 50
  }
  criterion b max 30 {
    sub b1 max 10 = innovation
    sub b2 max 10 = innovation
  }
}
''')
    assert any(m.startswith("this band can never be reached: every value with innovation >= 4") for m in found)
    assert "this band can never be reached: it comes after `otherwise`" in found
    assert "50 points exceed the maximum of `a` (40)" in found
    assert "the parts of `b` add up to 20, but its maximum is 30" in found
    assert "the criteria add up to 70 (40 + 30), but the score's maximum is 100" in found


def test_weights_count_in_the_total():
    ok = checked("score max 100 pass 60 {\n  criterion a max 30 weight 2 = innovation\n"
                 "  criterion b max 40 weight 1.5 for ranking = innovation\n}\n")
    assert not ok.errors


def test_ranking_names():
    ok = checked("submitted = sent\ngrant = requested\nscore max 5 pass 1 {\n  criterion a max 5 = innovation\n}\n"
                 "ranking {\n  order by score desc, points(a) desc, grant asc, submitted asc\n}\n")
    assert not ok.errors, [d.render() for d in ok.errors]
    bad = messages("eligibility {\n  gate g: score > 3 and points(a) > 1\n}\n")
    assert "`score` can only be used in the ranking and in an output" in bad


def test_every_diagnostic_renders_with_its_line():
    cp = checked("eligibility {\n  gate g: kind == \"rete\"\n}\n")
    text = cp.errors[0].render()
    assert text.startswith("p.bando:")
    assert 'gate g: kind == "rete"' in text
    assert "^" in text


def test_the_checker_answers_on_the_nodes_outside_equality():
    text = HEADER + "let total = sum(f.turnover for f in firms)\nlet big = total > cost\n"
    tree = parse(text, "p.bando")
    cp = check(tree, Source(text, "p.bando"))
    big = cp.lets["big"].expr
    assert big.checked_type.kind == "bool" and cp.type_of(big) is big.checked_type
    assert big.left.ref == ("let", "total") and cp.ref_of(big.left) == ("let", "total")
    assert cp.ref_of(big.right) == ("input", "cost") and cp.kind_of(big.right) == "input"
    fresh = parse(text, "p.bando")  # never checked: no answers, and still equal to the checked tree
    assert fresh.items[-1].expr.checked_type is None and fresh == tree and hash(fresh) == hash(tree)
    assert "checked_type" not in repr(big) and "ref=" not in repr(big)
    # an answer is never mistaken for a child node by the generic walks
    assert all(not isinstance(n, type(big.checked_type)) for n in ast.walk(tree))


def test_let_deps_name_what_each_let_reads_and_let_order_follows_them():
    cp = checked("let c = b + a\nlet a = count(firms) + innovation\nlet b = a * 2 + innovation\n"
                 "let d = if signed > 2025-01-01 then c else 0\nlet loop1 = loop2\nlet loop2 = loop1\n")
    assert cp.let_deps["a"].lets == () and cp.let_deps["a"].inputs == ("firms", "innovation")
    assert cp.let_deps["b"].lets == ("a",) and cp.let_deps["b"].inputs == ("innovation",)
    assert cp.let_deps["c"].lets == ("b", "a")
    assert cp.let_deps["d"].lets == ("c",) and cp.let_deps["d"].inputs == ("signed",)
    assert cp.let_order() == ["a", "b", "c", "d", "loop2", "loop1"]  # the cycle (an error) is cut
    assert cp.let_order(["d"]) == ["a", "b", "c", "d"] and cp.let_order(["b", "a"]) == ["a", "b"]


# --- W110 unused lets, W111 bands out of range, W112 criteria below their maximum ---------------

import itertools  # noqa: E402
from decimal import Decimal  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PLAIN = 'call "Bando" version "1" { budget 1_000 EUR }\n'


def codes(cp, code):
    return [d for d in cp.diagnostics if d.code == code]


def test_an_unused_let_is_a_warning_and_a_let_used_only_by_an_unused_let_too():
    cp = checked("let half = count(firms) / 2\nlet quarter = half / 2\nlet n = count(firms)\n"
                 "eligibility { gate g: n >= 3 }\n", PLAIN + "record Firm { vat: text }\ninput { firms: list of Firm }\n")
    assert [d.message for d in codes(cp, "W110")] == ["let `half` is never used", "let `quarter` is never used"]
    assert not cp.errors


@pytest.mark.parametrize("use", [
    "eligibility { gate g: big }",
    "score max 10 pass 1 { criterion c max 10 { big -> 10\n otherwise -> 0 } }",
    "score max 10 pass 1 { criterion c max 10 = if big then 10 else 0 }",
    "grant = if big then 10 EUR else 0 EUR",
    "ranking { reserve 10% \"Grandi\" for big }",
    "let other = big\neligibility { gate g: other }",
    "let f(x: int) = x > 3\nlet big2 = f(n)\neligibility { gate g: big2 and big }",
])
def test_a_let_read_anywhere_that_counts_is_used(use):
    cp = checked(f"let n = 5\nlet big = n > 3\n{use}\n", PLAIN + "input { x: int in 0..1 }\n")
    assert not [d for d in codes(cp, "W110") if "`big`" in d.message or "`n`" in d.message], cp.diagnostics


def test_a_let_named_in_a_letter_template_is_used():
    text = PLAIN + "input { x: int in 0..1 }\nlet shown = x * 2\neligibility { gate g: x >= 0 }\n"
    assert codes(check(parse(text, "p.bando"), Source(text, "p.bando")), "W110")
    cp = check(parse(text, "p.bando"), Source(text, "p.bando"), template_words={"shown", "result"})
    assert not codes(cp, "W110")


def test_letter_templates_beside_the_policy_are_read_by_check_source(tmp_path):
    from engine.evaluate.policy import check_source, read_source
    (tmp_path / "p.bando").write_text(PLAIN + "input { x: int in 0..1 }\nlet shown = x * 2\n"
                                      "eligibility { gate g: x >= 0 }\n", encoding="utf-8")
    assert codes(check_source(read_source(str(tmp_path / "p.bando"))), "W110")
    (tmp_path / "p.letters").mkdir()
    (tmp_path / "p.letters" / "funded.it.j2").write_text("Valore: {{ values.shown }}", encoding="utf-8")
    assert not codes(check_source(read_source(str(tmp_path / "p.bando"))), "W110")


def test_no_unused_let_warning_after_an_error():
    cp = checked("let half = 2\neligibility { gate g: nope >= 3 }\n", PLAIN + "input { x: int in 0..1 }\n")
    assert cp.errors and not codes(cp, "W110")


def test_a_band_out_of_the_declared_range_is_a_warning_with_the_range():
    cp = checked("score max 10 pass 1 { criterion m max 10 {\n markets >= 10 -> 10\n markets >= 2 -> 10\n"
                 " otherwise -> 0 } }\n", PLAIN + "input { markets: int in 0..3 }\n")
    [w] = codes(cp, "W111")
    assert w.message == ("this band can never be reached: `markets` is declared `in 0..3`, so `markets >= 10` "
                         "never holds")
    assert w.severity == "warning" and not cp.errors and not codes(cp, "W112")


@pytest.mark.parametrize("band", [
    "total >= 10",  # a let: silent
    "x + y >= 10",  # several fields that can reach it
    "free >= 10",  # no declared range
    "count(items) >= 10",
    "x >= 3 or x >= 100",
    "quota >= 50%",
])
def test_no_range_warning_when_the_band_can_hold_or_nothing_is_certain(band):
    header = (PLAIN + "record Item { v: int }\ninput { x: int in 0..5  y: int in 0..5  free: int  "
              "items: list of Item  quota: percent in 0..1 }\nlet total = x\n")
    cp = checked(f"score max 10 pass 1 {{ criterion m max 10 {{\n {band} -> 10\n otherwise -> 0 }} }}\n", header)
    assert not codes(cp, "W111") and not codes(cp, "W112"), cp.diagnostics
    assert not cp.errors


@pytest.mark.parametrize("formula,warned", [
    ("2 * level", True), ("2.5 * level", False), ("min(level, 3) * 3", True), ("level + bonus", False),
    ("level * level", False), ("10 - level", False), ("level / 2", True), ("free", False), ("marks.q * 2", False),
])
def test_a_formula_that_cannot_reach_its_maximum(formula, warned):
    header = (PLAIN + "input { level: int in 0..4  free: int in 0..1000 }\n"
              "panel { scale 0..5 mark q \"Qualità\" }\nlet bonus = level\n")
    cp = checked(f"score max 10 pass 1 {{ criterion c max 10 = {formula} }}\n", header)
    assert bool(codes(cp, "W112")) == warned, cp.diagnostics
    assert not cp.errors


def test_the_shipped_policies_have_none_of_the_new_warnings():
    from pathlib import Path

    from engine.evaluate.policy import check_source, read_source
    for path in sorted((Path(__file__).resolve().parents[2] / "policies").glob("*.bando")):
        cp = check_source(read_source(str(path)))
        assert not [d for d in cp.diagnostics if d.code in ("W110", "W111", "W112")], path.name


# the analysis must never warn falsely: checked against every value of small declared ranges
_OPS = [">=", ">", "<=", "<", "=="]
_TERMS = st.sampled_from(["x", "y", "2 * x", "x + y", "x - y", "min(x, y)", "max(x, 3)", "x * y", "-x",
                          "abs(x - 2)", "x / 2"])


@settings(max_examples=150, deadline=None)
@given(st.integers(-3, 3), st.integers(0, 4), st.integers(0, 2), st.integers(0, 4), _TERMS, st.sampled_from(_OPS),
       st.integers(-8, 12), st.integers(1, 3))
def test_range_warnings_are_never_false(xlo, xspan, ylo, yspan, term, op, threshold, step):
    xhi, yhi = xlo + xspan, ylo + yspan
    header = PLAIN + f"input {{ x: int in {xlo}..{xhi} step {step}  y: int in {ylo}..{yhi} }}\n"
    cp = checked(f"score max 20 pass 1 {{\n criterion a max 10 {{\n  {term} {op} {threshold} -> 10\n"
                 f"  otherwise -> 0 }}\n criterion b max 10 = {term}\n}}\n", header)
    assert not cp.errors, cp.diagnostics

    def value(x, y):
        env = {"x": Decimal(x), "y": Decimal(y), "min": min, "max": max, "abs": abs}
        return eval(term.replace("/", "/ Decimal(1) /"), {"Decimal": Decimal}, env)  # noqa: S307 (our own text)

    xs = range(xlo, xhi + 1, step)
    values = [value(x, y) for x, y in itertools.product(xs, range(ylo, yhi + 1))]
    holds = {">=": lambda v: v >= threshold, ">": lambda v: v > threshold, "<=": lambda v: v <= threshold,
             "<": lambda v: v < threshold, "==": lambda v: v == threshold}[op]
    if codes(cp, "W111"):
        assert not any(holds(v) for v in values), (term, op, threshold)
    if [w for w in codes(cp, "W112") if "`b`" in w.message]:
        assert max(values) < 10, term
