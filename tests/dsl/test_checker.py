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

from hypothesis import assume, event, given, settings  # noqa: E402
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
        assert not [d for d in cp.diagnostics if d.code in ("W110", "W111", "W112", "W113")], path.name


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


# --- W113 an `otherwise` the bands above it leave nothing to -----------------------------------------

_W113_HEADER = PLAIN + ("input { markets: int in 0..3  free: int  ratio: decimal in 0..1  even: int in 0..10 step 2  "
                        "mark: int in {0, 3, 7}  cost: money in 0..100  maybe: int in 0..3 optional  x: int in 0..5 }\n")


def _bands(*bands, points="otherwise -> 0"):
    return ("score max 10 pass 1 { criterion m max 10 {\n" + "".join(f" {b}\n" for b in bands)
            + f" {points} }} }}\n")


def test_an_otherwise_the_bands_above_leave_nothing_to_is_a_warning():
    cp = checked(_bands("markets >= 2 -> 10", "markets < 2 -> 4"), _W113_HEADER)
    [w] = codes(cp, "W113")
    assert w.message == ("`otherwise` can never be reached: the bands above it match every value `markets` can "
                         "take (declared `in 0..3`)")
    assert w.severity == "warning" and not cp.errors and not codes(cp, "W111")
    assert (w.span.line, w.span.column) == (6, 2)  # the `otherwise` band, after the header and two bands
    assert w.hint.startswith("remove `otherwise`")


@pytest.mark.parametrize("bands, subject", [
    (("markets >= 2 -> 10", "markets <= 1 -> 4"), "`markets` can take (declared `in 0..3`)"),
    (("markets >= 2 -> 10", "markets == 1 -> 4", "markets == 0 -> 1"), "`markets`"),
    (("markets between 1 and 3 -> 10", "markets == 0 -> 4"), "`markets`"),
    (("markets >= 1 and markets <= 3 -> 10", "markets == 0 -> 4"), "`markets`"),
    (("markets in {0, 1} -> 10", "markets >= 2 -> 4"), "`markets`"),
    (("markets not in {2} -> 10", "markets == 2 -> 4"), "`markets`"),
    (("3 <= markets -> 10", "1 > markets -> 4", "markets == 1 or markets == 2 -> 2"), "`markets`"),
    (("free >= 3 -> 10", "free < 3 -> 4"), "`free` can take"),  # no declared range: every number
    (("ratio >= 0.5 -> 10", "ratio < 0.5 -> 4"), "(declared `in 0..1`)"),
    (("even >= 4 -> 10", "even > 0 -> 6", "even == 0 -> 1"), "(declared `in 0..10 step 2`)"),
    (("even >= 3 -> 10", "even <= 2 -> 6"), "`even`"),  # nothing between 2 and 4 on the step
    (("mark >= 3 -> 10", "mark == 0 -> 4"), "(declared `in {0, 3, 7}`)"),
    (("cost >= 50 EUR -> 10", "cost < 50 EUR -> 4"), "(declared `in 0..100`)"),
    (("markets + x >= 3 -> 10", "markets + x < 3 -> 4"), "`markets + x` can take"),
    (("markets >= 0 -> 10",), "`markets`"),
    # a missing value stops the table before `otherwise` (docs/language.md, "Missing values")
    (("maybe >= 2 -> 10", "maybe < 2 -> 4"), "`maybe`"),
    (("maybe is missing -> 10", "maybe >= 0 -> 4"), "`maybe`"),
    (("x >= 4 or free > 1 -> 10", "x < 4 -> 4"), "`x`"),
])
def test_bands_that_match_every_value_leave_otherwise_unreachable(bands, subject):
    cp = checked(_bands(*bands, points="otherwise -> 2"), _W113_HEADER)
    [w] = codes(cp, "W113")
    assert subject in w.message
    assert not cp.errors


@pytest.mark.parametrize("bands", [
    ("markets >= 2 -> 10", "markets < 1 -> 4"),  # 1 is left
    ("markets >= 1 -> 10",),
    ("ratio > 0.5 -> 10", "ratio < 0.5 -> 4"),  # 0.5 is left
    ("ratio >= 0.5 -> 10", "ratio <= 0.4 -> 4"),  # 0.45 is left
    ("even >= 4 -> 10", "even > 1 -> 6"),  # 0 is left
    ("mark >= 4 -> 10", "mark == 0 -> 4"),  # 3 is left
    ("cost >= 50 EUR -> 10", "cost < 40 EUR -> 4"),
    ("markets >= 1 and x <= 3 -> 10", "markets == 0 -> 4"),  # two fields: not certain
    ("markets + x >= 3 -> 10", "markets + x <= 2 -> 4"),  # a sum is not read as a whole number
    ("markets not in {2} -> 10",),
    ("maybe is missing -> 10", "maybe >= 1 -> 4"),  # 0 is left
    ("total >= 2 -> 10", "total < 1 -> 4"),
    ("count(items) >= 3 -> 10", "count(items) <= 2 -> 4"),  # not read as a whole number: silent
])
def test_no_otherwise_warning_when_a_value_is_left_or_nothing_is_certain(bands):
    header = _W113_HEADER.replace(" x: int in 0..5 ", " x: int in 0..5  items: list of record { v: int } ") \
        + "let total = markets\n"
    cp = checked(_bands(*bands), header)
    assert not codes(cp, "W113"), cp.diagnostics
    assert not cp.errors


def test_without_otherwise_there_is_nothing_to_warn_about():
    cp = checked(_bands("markets >= 2 -> 10", points="markets < 2 -> 4"), _W113_HEADER)
    assert not codes(cp, "W113") and not cp.errors


def test_an_unreachable_otherwise_does_not_count_for_the_best_band():
    """W112 reads the bands that can be reached: an `otherwise` that cannot gives nothing."""
    cp = checked(_bands("markets >= 2 -> 6", "markets < 2 -> 4", points="otherwise -> 10"), _W113_HEADER)
    assert codes(cp, "W113")
    [w] = codes(cp, "W112")
    assert "its best band gives 6 (of those that can be reached)" in w.message


# the analysis must never warn falsely: checked against every value of small declared ranges
_SUBJECTS = {"x": lambda v: v["x"], "y": lambda v: v["y"], "d": lambda v: v["d"], "z": lambda v: v["z"],
             "x + y": lambda v: v["x"] + v["y"], "2 * x": lambda v: 2 * v["x"]}
_CMP = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, "<": lambda a, b: a < b,
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b}
_CONSTS = st.sampled_from(["-1", "0", "0.25", "0.5", "1", "2", "2.5", "3", "4", "6", "7", "9"])


@st.composite
def _conditions(draw, depth=0):
    """(text, test on a dict of values) of a band's condition."""
    kind = draw(st.sampled_from(["cmp", "cmp", "cmp", "between", "in"] + (["and", "or"] if depth < 2 else [])))
    if kind in ("and", "or"):
        (a, fa), (b, fb) = draw(_conditions(depth + 1)), draw(_conditions(depth + 1))
        join = (lambda v: fa(v) and fb(v)) if kind == "and" else (lambda v: fa(v) or fb(v))
        return f"({a}) {kind} ({b})", join
    subject = draw(st.sampled_from(sorted(_SUBJECTS)))
    term = _SUBJECTS[subject]
    if kind == "between":
        lo, hi = sorted((Decimal(draw(_CONSTS)), Decimal(draw(_CONSTS))))
        return f"{subject} between {lo} and {hi}", lambda v: lo <= term(v) <= hi
    if kind == "in":
        values = draw(st.lists(_CONSTS.map(Decimal), min_size=1, max_size=3, unique=True))
        negated = draw(st.booleans())
        written = "{" + ", ".join(str(c) for c in values) + "}"
        return (f"{subject} {'not in' if negated else 'in'} {written}",
                lambda v: (term(v) in values) != negated)
    op, c = draw(st.sampled_from(sorted(_CMP))), Decimal(draw(_CONSTS))
    if draw(st.booleans()):  # the constant on the left
        flipped = {">=": "<=", ">": "<", "<=": ">=", "<": ">", "==": "==", "!=": "!="}[op]
        return f"({c}) {flipped} {subject}", lambda v: _CMP[op](term(v), c)  # `-1` on a new line would go on the last
    return f"{subject} {op} {c}", lambda v: _CMP[op](term(v), c)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2), st.integers(0, 3), st.integers(1, 2),
       st.lists(_conditions(), min_size=1, max_size=4, unique_by=lambda c: c[0]))
def test_the_otherwise_warning_is_never_false(xlo, xspan, step, conds):
    xhi = xlo + xspan * step
    header = PLAIN + (f"input {{ x: int in {xlo}..{xhi} step {step}  y: int in 0..2  d: decimal in 0..1 step 0.25  "
                      "z: int in {0, 3, 7} }\n")
    cp = checked(_bands(*(f"{text} -> 1" for text, _ in conds)), header)
    assume(not cp.errors)  # E310: a band the one above shadows (`x >= 3` after `x >= 2`)
    event("W113" if codes(cp, "W113") else "no W113")
    if codes(cp, "W113"):
        quarters = [Decimal(i) / 4 for i in range(5)]
        for x, y, d, z in itertools.product(range(xlo, xhi + 1, step), range(3), quarters, (0, 3, 7)):
            v = {"x": Decimal(x), "y": Decimal(y), "d": d, "z": Decimal(z)}
            assert any(test(v) for _, test in conds), ([t for t, _ in conds], v)
