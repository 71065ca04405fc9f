"""dsl/literals.py: the one reader of literal values (for the checker, call parameters, the compiler,
the interval arithmetic and the validator's defaults).

The table tests pin what counts as a literal and the value it stands for; the property test writes
random literals as a policy would, and checks that the reader gives the value they were written for
and the value the engine computes for the same text."""
from __future__ import annotations

import datetime as _dt
import pickle
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import ast
from dsl.literals import NOT_LITERAL, expect_literal, literal_number, literal_value
from dsl.parser import parse
from engine import load_policy

HEAD = 'call "P" version "1" { budget 1_000 EUR }\ninput { id: text, n: int in 0..10 }\n'
GATE = 'eligibility { gate g "G": id == "A" }\n'


def _lets(*texts: str) -> str:
    return HEAD + "".join(f"let x{i} = {t}\n" for i, t in enumerate(texts)) + GATE


def expr(text: str):
    """The tree of one expression, as the parser gives it in a policy (`let x0 = TEXT`)."""
    [let] = [i for i in parse(_lets(text), "p.bando").items if isinstance(i, ast.LetDef)]
    return let.expr


@pytest.mark.parametrize("text, value", [
    ("12", Decimal(12)),
    ("0.25", Decimal("0.25")),
    ("1_000_000", Decimal(1_000_000)),
    ("(7)", Decimal(7)),
    ("-5", Decimal(-5)),
    ("30%", Decimal("0.3")),
    ("-5%", Decimal("-0.05")),
    ("- -5%", Decimal("0.05")),
    ("200_000 EUR", Decimal(200_000)),
    ("-(3 EUR)", Decimal(-3)),
    ('"Lecce"', "Lecce"),
    ('"a \\"quoted\\" word"', 'a "quoted" word'),
    ("2025-06-30", _dt.date(2025, 6, 30)),
    ("2025-06-30 12:00", _dt.datetime(2025, 6, 30, 12, 0)),
    ("true", True),
    ("false", False),
    ('{"A", "K"}', frozenset({"A", "K"})),
    ("{0, 5, -10}", frozenset({Decimal(0), Decimal(5), Decimal(-10)})),
])
def test_what_a_literal_stands_for(text, value):
    got = literal_value(expr(text))
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", [
    "n", "2 * 3", "1 + 1", "not true", '-"a"', "-2025-06-30", "-true", "3 years", "{n, 1}", "{1 + 1}",
    "min(1, 2)", "if true then 1 else 2",
])
def test_what_is_not_a_literal(text):
    e = expr(text)
    assert literal_value(e) is NOT_LITERAL
    assert literal_value(e, whole_as_int=True) is NOT_LITERAL
    assert literal_number(e) is None
    with pytest.raises(ValueError, match="not a literal"):
        expect_literal(e)


@pytest.mark.parametrize("text, value", [
    ("12", 12), ("-3", -3), ("1_000", 1000), ("- -4", 4), ("0", 0),
    # not written whole: Decimals as they are
    ("12.0", Decimal("12.0")), ("12 EUR", Decimal(12)), ("100%", Decimal(1)), ("-2%", Decimal("-0.02")),
])
def test_whole_numbers_as_application_data(text, value):
    got = literal_value(expr(text), whole_as_int=True)
    assert got == value and type(got) is type(value)
    assert expect_literal(expr(text), whole_as_int=True) == value


def test_whole_numbers_as_ints_inside_a_set():
    assert literal_value(expr("{1, 2.5}"), whole_as_int=True) == frozenset({1, Decimal("2.5")})


@pytest.mark.parametrize("text, number", [
    ("12", Decimal(12)), ("-5%", Decimal("-0.05")), ("250 EUR", Decimal(250)), ('"12"', None),
    ("2025-06-30", None), ("true", None), ("{1, 2}", None), ("n", None),
])
def test_the_number_a_literal_stands_for(text, number):
    assert literal_number(expr(text)) == number


def test_nodes_built_without_the_parser():
    """Bound parameters and the checker build literals directly (``dsl.params.literal``)."""
    assert literal_value(ast.Unary("-", ast.Unary("-", ast.Money(Decimal(5), "EUR")))) == Decimal(5)
    assert literal_value(ast.Unary("not", ast.Bool(True))) is NOT_LITERAL
    assert literal_value(ast.Unary("-", ast.String("x"))) is NOT_LITERAL
    assert literal_value(ast.Number(Decimal("1E+3")), whole_as_int=True) == 1000
    assert literal_value(ast.SetLit(())) == frozenset()
    assert literal_value(None) is NOT_LITERAL


def test_not_literal_is_one_value_that_says_what_it_is():
    assert repr(NOT_LITERAL) == "NOT_LITERAL"
    assert pickle.loads(pickle.dumps(NOT_LITERAL)) is NOT_LITERAL


# --- property: the reader, the intended value and the engine agree ---------------------------------

def _grouped(n: int, draw) -> str:
    digits = str(n)
    if not draw(st.booleans()):
        return digits
    groups = []
    while digits:
        groups.insert(0, digits[-3:])
        digits = digits[:-3]
    return "_".join(groups)


@st.composite
def numbers(draw, decimals=6):
    """(text, value) of a number as a policy writes it: `7`, `1_000`, `0.250`."""
    n = draw(st.integers(0, 10 ** 12))
    text = _grouped(n, draw)
    frac = draw(st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=decimals)))
    if frac:
        text += "." + frac
    return text, Decimal(text.replace("_", ""))


@st.composite
def numeric_atoms(draw, kinds=("number", "percent", "money")):
    kind = draw(st.sampled_from(kinds))
    if kind == "percent":
        text, value = draw(numbers())
        return text + "%", value / 100
    if kind == "money":  # `1.000 EUR` is refused (E018: a dot grouping thousands), so cents at most
        text, value = draw(numbers(decimals=2))
        return text + " EUR", value
    return draw(numbers())


@st.composite
def negated(draw, kinds=("number", "percent", "money")):
    text, value = draw(numeric_atoms(kinds))
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            text = f"({text})"
        text, value = draw(st.sampled_from(["-", "- "])) + text, -value
    return text, value


_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters='"\\')
_ESCAPES = {'\\"': '"', "\\\\": "\\", "\\n": "\n", "\\t": "\t"}


@st.composite
def texts(draw):
    pieces = draw(st.lists(st.one_of(_CHARS.map(lambda c: (c, c)), st.sampled_from(sorted(_ESCAPES.items()))),
                           max_size=12))
    return '"' + "".join(p[0] for p in pieces) + '"', "".join(p[1] for p in pieces)


DATES = st.dates(_dt.date(1900, 1, 1), _dt.date(2099, 12, 31)).map(lambda d: (d.isoformat(), d))


@st.composite
def datetimes(draw):
    d = draw(st.datetimes(_dt.datetime(1900, 1, 1), _dt.datetime(2099, 12, 31)).map(
        lambda t: t.replace(microsecond=0)))
    seconds = draw(st.booleans())
    if not seconds:
        d = d.replace(second=0)
    text = d.date().isoformat() + draw(st.sampled_from([" ", "T"])) + d.strftime("%H:%M:%S" if seconds else "%H:%M")
    return text, d


@st.composite
def sets(draw):
    item = draw(st.sampled_from([st.one_of(numbers(), negated(kinds=("number",))), texts()]))
    items = draw(st.lists(item, min_size=1, max_size=4))
    return "{" + ", ".join(t for t, _ in items) + "}", frozenset(v for _, v in items)


LITERALS = st.one_of(numbers(), numeric_atoms(), negated(), texts(), DATES, datetimes(),
                     st.sampled_from([("true", True), ("false", False)]), sets())


def _kind(v) -> str:
    """What sort of value: a bool is not the number 1, a date is not a date and time."""
    for t, name in ((bool, "bool"), ((int, Decimal), "number"), (str, "text"), (_dt.datetime, "datetime"),
                    (_dt.date, "date"), ((set, frozenset), "set")):
        if isinstance(v, t):
            return name
    raise AssertionError(f"unexpected value {v!r}")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LITERALS, min_size=1, max_size=6))
def test_the_reader_agrees_with_the_engine(written):
    text = _lets(*(t for t, _ in written))
    lets = [i.expr for i in parse(text, "p.bando").items if isinstance(i, ast.LetDef)]
    policy = load_policy(text, "p.bando")
    value, errors = policy.validate({"id": "A", "n": 1})
    assert not errors
    env = policy.env(value)
    for i, ((source, intended), e) in enumerate(zip(written, lets)):
        got = literal_value(e)
        engine = env[f"x{i}"]
        assert got == intended and _kind(got) == _kind(intended), source
        assert got == engine and _kind(got) == _kind(engine), source
        as_data = literal_value(e, whole_as_int=True)
        assert as_data == engine and _kind(as_data) == _kind(engine), source
        assert literal_number(e) == (got if _kind(got) == "number" else None)
