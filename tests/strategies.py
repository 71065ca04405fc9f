"""Hypothesis strategies for the bando language (used by tests/dsl/test_fuzz.py).

Two families:

* **mutations** of real policy texts (characters or tokens deleted, inserted,
  swapped) and random text, to show that the parser and the checker only ever
  answer with a :class:`~dsl.errors.PolicyError` or diagnostics;
* **generated ASTs**: random policies built from the AST classes, in the shapes
  the parser can produce, over a fixed schema of input fields of every type.
  Their expressions are not always well typed on purpose (the checker must
  cope), but they always print to text that parses back to the same AST.
"""
from __future__ import annotations

import copy
import functools
import datetime as _dt
import re
from decimal import Decimal
from pathlib import Path

from hypothesis import strategies as st

from dsl import ast
from dsl.types import Type

ROOT = Path(__file__).resolve().parent.parent


def shipped_policies() -> dict[str, str]:
    """The real policies in the repository: the benchmark, the samples, policies/*.bando."""
    paths = [ROOT / "benchmarks" / "bench.bando", ROOT / "docs" / "sample-all-constructs.bando"]
    paths += sorted((ROOT / "policies").glob("*.bando"))
    return {p.name: p.read_text(encoding="utf-8") for p in paths if p.is_file()}


# --- mutations -----------------------------------------------------------------------------

TOKEN_RE = re.compile(r'\s+|"(?:[^"\\\n]|\\.)*"|\w+|->|\.\.|[<>=!]=|\S')
#: characters that are likely to confuse a parser or a renderer
NASTY = ["{", "}", "(", ")", '"', "'", "#", "\n", "\x00", "\t", "\r", "€", "é", "\\", "->", "..", ":", ",",
         "=", "==", "%", "-", "not ", "and ", " or", "1_", "2025-02-30", "9" * 30, "\u202e", "\ufeff", "😀"]


@st.composite
def char_mutation(draw, text: str) -> str:
    """``text`` with 1 to 5 characters deleted, inserted or swapped."""
    chars = list(text)
    for _ in range(draw(st.integers(1, 5))):
        if not chars:
            chars = list(draw(st.sampled_from(NASTY)))
            continue
        i = draw(st.integers(0, len(chars) - 1))
        op = draw(st.sampled_from(["delete", "insert", "swap", "nasty"]))
        if op == "delete":
            del chars[i]
        elif op == "insert":
            chars.insert(i, draw(st.characters()))
        elif op == "nasty":
            chars[i:i] = list(draw(st.sampled_from(NASTY)))
        else:
            j = draw(st.integers(0, len(chars) - 1))
            chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)


@st.composite
def token_mutation(draw, text: str) -> str:
    """``text`` with 1 to 4 tokens deleted, duplicated elsewhere, swapped or replaced."""
    toks = TOKEN_RE.findall(text)
    words = [t for t in toks if not t.isspace()]
    for _ in range(draw(st.integers(1, 4))):
        if not toks:
            break
        i = draw(st.integers(0, len(toks) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "replace"]))
        if op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, " " + draw(st.sampled_from(words)) + " ")
        elif op == "swap":
            j = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[j] = toks[j], toks[i]
        else:
            toks[i] = draw(st.sampled_from(NASTY + words))
    return "".join(toks)


def mutated_policy():
    """A shipped policy with a few characters or tokens changed."""
    texts = list(shipped_policies().values())
    return st.sampled_from(texts).flatmap(lambda t: st.one_of(char_mutation(t), token_mutation(t)))


def random_text():
    """Arbitrary text, and soups of bando-like tokens."""
    words = ["call", "version", "input", "record", "let", "eligibility", "gate", "score", "max", "pass",
             "criterion", "sub", "otherwise", "->", "{", "}", "(", ")", ":", "=", "==", ">=", "and", "or",
             "not", "in", "of", "all", "any", "count", "sum", "share", "where", "for", "x", "n", "f",
             "1", "0.5", "50%", "100 EUR", "2025-06-30", '"a"', "#c\n", "\n", ",", ".", "..", "if", "then",
             "else", "between", "is", "missing", "ranking", "order", "by", "desc", "examples", "case", "grant"]
    soup = st.lists(st.sampled_from(words), max_size=60).map(" ".join)
    return st.one_of(st.text(max_size=300), soup)


# --- generated ASTs --------------------------------------------------------------------------

#: the schema every generated policy shares (see :data:`SCHEMA_TEXT`): name -> kind
INPUT_FIELDS = {
    "n": "int", "x": "decimal", "m": "money", "p": "percent", "t": "text", "b": "bool", "d": "date",
    "dt": "datetime", "e": "enum", "o": "int?", "marks": "list decimal", "firms": "list Firm", "r": "Firm",
    "groups": "list list record",
}
FIRM_FIELDS = {"vat": "text", "employees": "int", "turnover": "money", "iso": "bool", "region": "text",
               "founded": "date"}
LIST_NAMES = ["marks", "firms"]
ITEM_VARS = ["f", "g", "k"]
LET_NAMES = ["members", "total", "ok", "ratio", "local"]
FUNC_NAMES = ["is_sme", "double"]
UNKNOWN = ["membres", "nn", "tot", "firm", "marks2"]
IDS = ["a", "b", "c", "min_firms", "innovation", "quality", "size", "cost"]

NUMBERS = st.one_of(
    st.integers(0, 10**7).map(Decimal),
    st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False, allow_infinity=False),
    st.sampled_from([Decimal("0.5"), Decimal("0.25"), Decimal("1000"), Decimal("0.1"), Decimal("1E+3")]),
    # more digits than Decimal's default 28: literals must survive exactly
    st.integers(10**28, 10**45).map(Decimal),
    st.integers(0, 10**40).map(lambda i: Decimal(f"{i}E-36")),
)
SIGNED = st.one_of(NUMBERS, NUMBERS.map(lambda d: -d))
PERCENTS = st.one_of(st.integers(0, 10_000).map(lambda i: Decimal(i) / 100 / 100),
                     st.integers(0, 10**35).map(lambda i: Decimal(f"{i}E-35")))
DATES = st.one_of(st.dates(min_value=_dt.date(1990, 1, 1), max_value=_dt.date(2040, 12, 31)), st.dates())
DATETIMES = st.one_of(st.datetimes(min_value=_dt.datetime(1990, 1, 1), max_value=_dt.datetime(2040, 12, 31)),
                      st.datetimes()).map(lambda v: v.replace(microsecond=0))
#: texts for strings and labels: any printable character, plus the ones that need escaping
TEXTS = st.text(st.one_of(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                          st.sampled_from(list('\n\t"\\#{}'))), max_size=12)
LANGS = st.sampled_from(["en", "fr", "de"])


def labels():
    return st.builds(ast.Label, TEXTS, st.lists(st.tuples(LANGS, TEXTS), max_size=2).map(tuple))


def leaves(names):
    """Literals and names (``names``: the names visible here)."""
    return st.one_of(
        st.builds(ast.Number, SIGNED),
        st.builds(ast.Percent, PERCENTS),
        st.builds(ast.Money, SIGNED, st.sampled_from(["EUR", "EUR", "EUR", "USD"])),
        st.builds(ast.Duration, st.integers(0, 40), st.sampled_from(["days", "months", "years"])),
        st.builds(ast.String, TEXTS),
        st.builds(ast.DateLit, DATES),
        st.builds(ast.DateTimeLit, DATETIMES),
        st.builds(ast.Bool, st.booleans()),
        st.builds(ast.Name, st.sampled_from(names)),
        st.builds(ast.Attr, st.builds(ast.Name, st.sampled_from(["r", "call"] + ITEM_VARS)),
                  st.sampled_from(list(FIRM_FIELDS) + ["opens", "closes", "budget", "nope"])),
    )


_BUILTIN_ARITY = {"round": 1, "floor": 1, "ceil": 1, "abs": 1, "days_between": 2, "months_between": 2,
                  "years_between": 2, "year": 1, "date_of": 1, "starts_with": 2, "ends_with": 2,
                  "contains": 2, "length": 1, "lower": 1, "upper": 1, "min": 2, "max": 3,
                  "is_sme": 1, "double": 1, "nofunc": 1}
BINARY_OPS = ["and", "or", "+", "-", "*", "/", "of", ">=", "<=", ">", "<", "==", "!=", "in", "not in"]


def _negatable(e) -> bool:
    # the parser folds `-5` and `-5 EUR` into the literal, and `- -x` is `--x`
    return not isinstance(e, (ast.Number, ast.Money)) and not (isinstance(e, ast.Unary) and e.op == "-")


def _aggregate_source(e) -> bool:
    # `count(a in L)` is read as "count the items a of L": not a plain source
    return not (isinstance(e, ast.Binary) and e.op == "in" and isinstance(e.left, ast.Name))


def expressions(names=None, max_leaves=12):
    """Random expressions over the schema's names (not always well typed)."""
    names = names or list(INPUT_FIELDS) + LET_NAMES + UNKNOWN

    def extend(sub):
        lists = st.builds(ast.Name, st.sampled_from(LIST_NAMES))
        var = st.sampled_from(ITEM_VARS)
        return st.one_of(
            st.builds(ast.Binary, st.sampled_from(BINARY_OPS), sub, sub),
            st.builds(ast.Unary, st.just("not"), sub),
            st.builds(ast.Unary, st.just("-"), sub.filter(_negatable)),
            st.builds(ast.Between, sub, sub, sub),
            st.builds(ast.IsMissing, sub, st.booleans()),
            st.builds(ast.If, sub, sub, sub),
            st.builds(ast.SetLit, st.lists(sub, max_size=3).map(tuple)),
            st.sampled_from(sorted(_BUILTIN_ARITY)).flatmap(
                lambda f: st.builds(ast.Call, st.just(f), st.lists(sub, min_size=_BUILTIN_ARITY[f],
                                                                   max_size=_BUILTIN_ARITY[f]).map(tuple))),
            st.builds(ast.Quantified, st.sampled_from(["all", "any", "none"]), var, lists, sub),
            st.builds(ast.Aggregate, st.sampled_from(["count", "share"]), lists, var, st.none(), sub),
            st.builds(ast.Aggregate, st.sampled_from(["sum", "mean", "median", "spread", "lowest", "highest",
                                                      "average"]), lists, var, sub, st.none() | sub),
            st.builds(ast.Aggregate, st.sampled_from(["count", "sum", "mean", "median", "spread"]),
                      sub.filter(_aggregate_source)),
            st.builds(ast.Aggregate, st.just("count distinct"), lists, var, sub, st.none() | sub),
        )

    return st.recursive(leaves(names), extend, max_leaves=max_leaves)


def conditions():
    """Mostly well-typed conditions, the shape real gates have."""
    num = st.sampled_from(["n", "x", "members", "total", "p"]).map(ast.Name)
    cmp = st.builds(ast.Binary, st.sampled_from([">=", "<=", ">", "<", "==", "!="]), num,
                    st.builds(ast.Number, NUMBERS))
    money_cmp = st.builds(ast.Binary, st.sampled_from([">=", "<="]), st.just(ast.Name("m")),
                          st.builds(ast.Money, NUMBERS, st.just("EUR")))
    quant = st.builds(ast.Quantified, st.sampled_from(["all", "any", "none"]), st.just("f"),
                      st.just(ast.Name("firms")),
                      st.builds(ast.Binary, st.just("<"), st.just(ast.Attr(ast.Name("f"), "employees")),
                                st.builds(ast.Number, NUMBERS)))
    base = st.one_of(cmp, money_cmp, quant, st.just(ast.Name("b")), st.just(ast.Name("ok")))
    return st.recursive(base, lambda s: st.one_of(st.builds(ast.Binary, st.sampled_from(["and", "or"]), s, s),
                                                  st.builds(ast.Unary, st.just("not"), s)), max_leaves=4)


def any_expr():
    return st.one_of(conditions(), expressions())


def tiers():
    """Bands: a few conditions, maybe an `otherwise` at the end."""
    band = st.builds(ast.Tier, any_expr(), st.builds(ast.Number, NUMBERS))
    other = st.builds(ast.Tier, st.none(), st.builds(ast.Number, NUMBERS))
    return st.tuples(st.lists(band, min_size=1, max_size=4), st.lists(other, max_size=1)).map(
        lambda t: tuple(t[0] + t[1]))


def criteria(sub=False, depth=0):
    ident = st.sampled_from(IDS)
    opt_num = st.none() | st.builds(Decimal, st.integers(0, 50))
    weight = st.none() | st.sampled_from([Decimal("1.5"), Decimal(2), Decimal("0.5")])
    bodies = [
        st.fixed_dictionaries({"formula": any_expr()}),
        st.fixed_dictionaries({"tiers": tiers()}),
    ]
    if depth == 0:
        bodies.append(st.fixed_dictionaries({"subs": st.lists(criteria(True, depth + 1), min_size=1,
                                                              max_size=3).map(tuple)}))
    return st.builds(
        lambda cid, mx, label, minimum, w, rw, body: ast.Criterion(
            cid, mx, label, minimum=minimum, weight=None if sub else w, ranking_weight=None if sub else rw,
            sub=sub, **body),
        ident, st.builds(Decimal, st.integers(0, 60)), st.none() | labels(), opt_num, weight, weight,
        st.one_of(*bodies))


CALL_ITEMS = st.sampled_from([
    ("authority", ast.String("Regione Puglia")), ("language", ast.Name("it")), ("language", ast.Name("en")),
    ("budget", ast.Money(Decimal(1_000_000), "EUR")), ("closes", ast.DateLit(_dt.date(2025, 6, 30))),
    ("opens", ast.DateTimeLit(_dt.datetime(2025, 1, 1, 9, 0))), ("appeal_days", ast.Number(Decimal(60))),
    ("currency", ast.Name("EUR")), ("reference", ast.String("DGR 123/2025")), ("autority", ast.String("x")),
])


def call_defs():
    return st.builds(lambda name, ver, items: ast.CallDef(name, ver, tuple(ast.CallItem(k, v) for k, v in items)),
                     TEXTS, TEXTS, st.lists(CALL_ITEMS, max_size=5))


def _type_for(kind):
    base = kind.rstrip("?")
    if base == "enum":
        return ast.EnumType(("rete-soggetto", "rete-contratto"))
    if base == "list decimal":
        return ast.ListType(ast.BaseType("decimal", Decimal(0), Decimal(5), Decimal("0.5")))
    if base == "list Firm":
        return ast.ListType(ast.TypeRef("Firm"))
    if base == "Firm":
        return ast.TypeRef("Firm")
    if base == "list list record":  # an inline record two lists deep
        return ast.ListType(ast.ListType(ast.RecordType((
            ast.Field("size", ast.BaseType("int")), ast.Field("note", ast.BaseType("text"), optional=True)))))
    if base == "int":
        return ast.BaseType("int", Decimal(0), Decimal(100_000))
    return ast.BaseType(base)


FIRM = ast.RecordDef("Firm", tuple(ast.Field(k, _type_for(v)) for k, v in FIRM_FIELDS.items()),
                     ast.Label("Impresa", (("en", "Firm"),)))


def input_def():
    return st.builds(lambda labelled, defaults: ast.InputDef(tuple(
        ast.Field(k, _type_for(v), ast.Label(k.upper()) if labelled else None, optional=v.endswith("?"),
                  default=ast.Number(Decimal(0)) if defaults and v == "int" else None)
        for k, v in INPUT_FIELDS.items())), st.booleans(), st.booleans())


def let_defs():
    plain = st.builds(lambda name, e, label: ast.LetDef(name, e, None, label),
                      st.sampled_from(LET_NAMES), any_expr(), st.none() | labels())
    param_types = st.sampled_from([
        ast.TypeRef("Firm"), ast.BaseType("int"), ast.ListType(ast.TypeRef("Firm")),
        ast.RecordType((ast.Field("employees", ast.BaseType("int")),
                        ast.Field("label", ast.BaseType("text"), ast.Label("Etichetta"), default=ast.String("x")))),
    ])
    func = st.builds(lambda name, t, e: ast.LetDef(name, e, (ast.Param("f", t),)),
                     st.sampled_from(FUNC_NAMES), param_types,
                     expressions(names=["f", "n"] + LET_NAMES, max_leaves=6))
    return st.one_of(plain, func)


def ranking_items():
    return st.one_of(
        st.builds(lambda keys: ast.Order(tuple(keys)), st.lists(st.builds(
            lambda e, d, x: ast.OrderKey(e, d, x or d),
            st.one_of(st.just(ast.ScoreRef()), st.just(ast.Call("points", (ast.Name("a"),))),
                      st.just(ast.Name("submitted")), expressions(max_leaves=3)),
            st.booleans(), st.booleans()), min_size=1, max_size=3)),
        st.builds(ast.Sportello, st.just(ast.Name("dt"))),
        st.builds(ast.Shortfall, st.sampled_from(["partial", "skip", "stop"])),
        st.builds(ast.Reserve, st.one_of(st.builds(ast.Percent, PERCENTS),
                                         st.builds(ast.Money, NUMBERS, st.just("EUR"))),
                  labels(), conditions()),
        st.builds(ast.Unique, st.just(ast.Attr(ast.Name("f"), "vat")), st.just("f"), st.just(ast.Name("firms")),
                  st.sampled_from(["earliest", "latest", "best"]),
                  st.none() | st.just(ast.Name("dt"))),
    )


def cases():
    exp = st.one_of(
        st.builds(ast.Expectation, st.just("score"), st.builds(ast.Number, NUMBERS)),
        st.builds(ast.Expectation, st.just("grant"), st.builds(ast.Money, NUMBERS, st.just("EUR"))),
        st.builds(ast.Expectation, st.just("failing"), st.lists(st.sampled_from(IDS), min_size=1,
                                                                max_size=3).map(tuple)),
        st.builds(ast.Expectation, st.just("points"), st.lists(
            st.tuples(st.sampled_from(IDS), st.builds(ast.Number, NUMBERS)), min_size=1, max_size=2).map(tuple)),
    )
    return st.builds(ast.Case, st.sampled_from(["a.json", "ok/b.json"]),
                     st.sampled_from(["admitted", "ineligible", "below_threshold", "funded"]),
                     st.lists(exp, max_size=3).map(tuple))


def items():
    """Top-level items other than the header, the record and the input."""
    return st.one_of(
        let_defs(),
        st.builds(lambda gates: ast.Eligibility(tuple(gates)), st.lists(st.builds(
            ast.Gate, st.sampled_from(IDS), any_expr(), st.none() | labels()), max_size=4)),
        st.builds(lambda mx, ps, crits, inc: ast.ScoreDef(mx, ps, tuple(crits), inc),
                  st.builds(Decimal, st.integers(0, 120)), st.builds(Decimal, st.integers(0, 100)),
                  st.lists(criteria(), max_size=3), st.booleans()),
        st.builds(ast.Decl, st.sampled_from(["grant", "requested", "applicant", "submitted"]), any_expr(),
                  st.none() | st.builds(ast.Rounding, st.sampled_from(["down", "up", "nearest"]),
                                        st.builds(ast.Money, st.sampled_from([Decimal(1), Decimal("0.01")]),
                                                  st.just("EUR")))),
        st.builds(lambda its: ast.Ranking(tuple(its)), st.lists(ranking_items(), max_size=4)),
        st.builds(lambda cs: ast.Examples(tuple(cs)), st.lists(cases(), max_size=2)),
        st.builds(ast.Use, st.sampled_from(["common.bando"])),
    )


def policies():
    """A whole policy: header, the shared schema, then random items."""
    return st.builds(lambda call, inp, rest: ast.Policy(tuple([call, FIRM, inp] + rest)),
                     call_defs(), input_def(), st.lists(items(), max_size=6))


# --- comments --------------------------------------------------------------------------------

COMMENT_TEXTS = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
                        max_size=20).map(lambda s: "# " + s.replace("\n", " ").strip())


@st.composite
def with_comments(draw, text: str) -> str:
    """``text`` (a formatted policy) with comments added on their own lines and at line ends."""
    lines = text.split("\n")
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(lines) - 1))
        comment = draw(COMMENT_TEXTS)
        if draw(st.booleans()):
            lines.insert(i, comment)
        elif lines[i].strip() and '"' not in lines[i] and "#" not in lines[i]:
            lines[i] = lines[i] + "  " + comment
    return "\n".join(lines)


# --- hostile application data ----------------------------------------------------------------------
#
# Values a hostile or broken program could put in an application, per field type: numbers far beyond
# what a field holds (huge and tiny exponents, thousands of digits, NaN/Infinity), other scripts'
# digits, lone surrogates, datetimes with offsets, huge strings, deep lists, wrong types. Evaluating
# them must give an `invalid` result that names the field (or a clean decision), never an exception
# or a hang. Every value here is cheap to build and bounded in size (at most a few hundred kB), so a
# few hundred examples run in seconds.

HUGE_NUMBERS = ["1e300000", "1e99999999", "-1e99999999", "99e999999", "9" * 5000, "-" + "9" * 5000,
                "1" + "0" * 18, "999999999999999999.5", "0." + "1" * 40, "1e-999999999", "0e-999999999",
                "1e-29", "5e-324", "1e18", "1E+18", "0e999999", "1.5e17", "12345678901234567890123456789"]
HUGE_DECIMALS = [Decimal("1E+999999"), Decimal("-1E+999999999"), Decimal("1E-999999999"), Decimal("9" * 5000),
                 Decimal("0E-999999"), Decimal("NaN"), Decimal("-Infinity"), Decimal("sNaN"),
                 Decimal("0." + "3" * 29), Decimal("999999999999999999.99")]
ODD_FLOATS = [float("nan"), float("inf"), -float("inf"), 5e-324, -5e-324, 1.7976931348623157e308, 1e18,
              9.999999999999999e17, 1e-28, 9.999999999999999e-29, 0.30000000000000004, -0.0]
ODD_INTS = [10 ** 18, -10 ** 18, 10 ** 18 - 1, 2 ** 63, 2 ** 53 + 1, 10 ** 4000, -10 ** 4000]
FOREIGN_DIGITS = ["١٢", "１５", "߁߂", "१२", "²", "٣٫٥", "12١", "1٬000", "Ⅻ"]
NUMBER_TEXTS = ["NaN", "nan", "Infinity", "-inf", "sNaN", "1_0", " 3 ", "0x10", "1e", "--1", "+", "1.2.3",
                "€ 5", "5 EUR", "50%", "1e-30%", "1e400%", "١٢%", "1,5", "\u22125", "12\u00a0000"]
SURROGATES = ["\ud800", "a\udfffb", "\udc00" * 3, "ok\ud83d", "\ud83d\ude00", "name \udcff end"]
DATETIME_TEXTS = ["2013-10-02T10:12:00+02:00", "2013-10-02T10:12:00Z", "2013-10-02T10:12:00-05:30",
                  "2013-11-29T11:30:00+14:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00",
                  "2013-10-02 10:12:00+02:00", "2013-10-02T10:12:00.123456+00:00:30", "2013-10-02T10:12",
                  "2025-02-30T10:00:00", "2013-10-02", "10:12:00", "2013-10-02T25:00:00"]
DATE_TEXTS = ["2025-02-30", "0000-01-01", "9999-12-31", "2013-10-02T00:00:00+02:00", "02/10/2013", "20131002"]
ODD_TEXTS = ["", " ", "\x00", "\u202eevil", "\ufeff", "x" * 100_000, "None", "null", "true", "{{ 7*7 }}",
             "${jndi:x}", "\r\n", "😀" * 1000, "\u0000\u0001\u001f"]


def deep_list(depth: int):
    """``[[[...]]]`` nested ``depth`` deep (built without recursion)."""
    v: list = []
    for _ in range(depth):
        v = [v]
    return v


WRONG_TYPES = st.one_of(
    st.none(), st.booleans(), st.just({}), st.just([]), st.just({"a": 1}), st.just([1, "2", None]),
    st.integers(1, 500).map(deep_list), st.just([0] * 10_000), st.just({str(i): i for i in range(1000)}))


def _hostile_numbers():
    return st.one_of(st.sampled_from(HUGE_NUMBERS), st.sampled_from(HUGE_DECIMALS), st.sampled_from(ODD_FLOATS),
                     st.sampled_from(ODD_INTS), st.sampled_from(FOREIGN_DIGITS), st.sampled_from(NUMBER_TEXTS),
                     st.integers(19, 400).map(lambda n: "9" * n), st.integers(19, 400).map(lambda n: f"1e{n}"),
                     st.integers(29, 400).map(lambda n: f"1e-{n}"), st.booleans())


def hostile_values(t):
    """Hostile values for a field of type ``t`` (a :class:`dsl.types.Type`, or a kind name), with some
    hostile values of every other kind mixed in: a program that writes the wrong field writes anything."""
    kind = t if isinstance(t, str) else t.kind
    return _hostile_values(kind, tuple(getattr(t, "options", None) or ()))


@functools.lru_cache(maxsize=None)
def _hostile_values(kind, options):
    """The strategy for ``kind`` built once: building hypothesis strategies costs more than drawing from them."""
    anything = st.one_of(_hostile_numbers(), st.sampled_from(SURROGATES), st.sampled_from(DATETIME_TEXTS),
                         st.sampled_from(ODD_TEXTS), WRONG_TYPES)
    own = {
        "int": _hostile_numbers(), "decimal": _hostile_numbers(), "percent": _hostile_numbers(),
        "money": _hostile_numbers(),
        "text": st.one_of(st.sampled_from(SURROGATES), st.sampled_from(ODD_TEXTS), st.sampled_from(FOREIGN_DIGITS)),
        "enum": st.one_of(st.sampled_from(SURROGATES), st.sampled_from(ODD_TEXTS),
                          st.sampled_from(list(options or ["x"])).map(lambda o: o + "\ud800")),
        "bool": st.one_of(st.sampled_from(["TRUE", "yes", "1", 1, 0, 2, "\ud800"]), st.sampled_from(ODD_FLOATS)),
        "date": st.one_of(st.sampled_from(DATE_TEXTS), st.sampled_from(DATETIME_TEXTS)),
        "datetime": st.sampled_from(DATETIME_TEXTS),
        "list": st.one_of(st.integers(1, 500).map(deep_list), st.just([None] * 50),
                          st.lists(anything, max_size=3)),
        "record": st.one_of(st.just([]), st.just("record"), st.dictionaries(
            st.sampled_from(SURROGATES + ["", "x" * 1000]), anything, max_size=3)),
    }.get(kind, anything)
    return st.one_of(own, own, anything)


def _plausible(t, depth=0):
    """A value a field of type ``t`` accepts (most of the time): the body the hostile values go into."""
    k = t.kind
    if t.values is not None:  # a number set: one of its values
        return st.sampled_from([int(v) if k == "int" else v for v in t.values])
    if k == "int":
        lo = int(t.low) if t.low is not None else 0
        hi = int(t.high) if t.high is not None else 1000
        return st.integers(lo, min(hi, lo + 1000))
    if k in ("decimal", "percent", "money"):
        lo = t.low if t.low is not None else Decimal(0)
        hi = t.high if t.high is not None else Decimal(1000)
        hi = min(hi, lo + 10 ** 6)
        if t.step is not None:
            return st.integers(0, int((hi - lo) / t.step)).map(lambda i: lo + i * t.step)
        return st.one_of(st.decimals(lo, hi, places=2, allow_nan=False, allow_infinity=False),
                         st.decimals(lo, hi, places=2, allow_nan=False, allow_infinity=False).map(float),
                         st.sampled_from([lo, hi]))
    if k == "text":
        return st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8)
    if k == "enum":
        return st.sampled_from(list(t.options))
    if k == "bool":
        return st.booleans()
    if k == "date":
        return st.dates(_dt.date(2010, 1, 1), _dt.date(2016, 12, 31)).map(_dt.date.isoformat)
    if k == "datetime":
        return st.datetimes(_dt.datetime(2013, 1, 1), _dt.datetime(2014, 12, 31)).map(
            lambda v: v.replace(microsecond=0).isoformat())
    if k == "list":
        item = t.item if t.item is not None else Type("any")
        return st.lists(_plausible(item, depth + 1), max_size=3 if depth else 6)
    if k == "record" and t.record is not None and depth < 4:
        return _record(t.record, depth + 1)
    return st.none()


def _record(rec, depth=0):
    return st.fixed_dictionaries({name: _plausible(f.type.opt(False), depth) for name, f in rec.fields.items()})


def _leaves(x, path=()):
    """Every ``(path, type-free)`` position in a nested application: dict keys and list indices."""
    out = []
    if isinstance(x, dict):
        for k, v in x.items():
            out.append(path + (k,))
            out += _leaves(v, path + (k,))
    elif isinstance(x, list) and len(x) <= 50:
        for i, v in enumerate(x):
            out.append(path + (i,))
            out += _leaves(v, path + (i,))
    return out


def _type_at(rec, path):
    """The declared type at ``path`` (None when the path is not in the schema)."""
    t = None
    for step in path:
        if isinstance(step, int):
            if t is None or t.kind != "list":
                return None
            t = t.item
        else:
            if t is not None:
                if t.kind != "record" or t.record is None:
                    return None
                rec = t.record
            f = rec.fields.get(step) if rec is not None else None
            if f is None:
                return None
            t = f.type.opt(False)
    return t


@st.composite
def hostile_applications(draw, policy):
    """An application for ``policy`` (an :class:`engine.evaluate.policy.Policy`) that is plausible except for one to
    four fields given hostile values of their type (or of any type), and sometimes a hostile id."""
    rec = policy.checked.input
    if rec is None:  # a policy without an input block (a mutated one): anything at all is hostile
        return draw(st.dictionaries(st.sampled_from(["id", "x", "\ud800"]), hostile_values("any"), max_size=3))
    app = draw(_record(rec))
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 4]))):  # mostly one: the others' rules still run
        paths = _leaves(app)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        t = _type_at(rec, path)
        parent = app
        for step in path[:-1]:
            parent = parent[step]
        # a copy: st.just() values are shared between examples, and a later change may go inside this one
        parent[path[-1]] = copy.deepcopy(draw(hostile_values(t if t is not None else "any")))
    if draw(st.integers(0, 5)) == 0:
        app["id"] = draw(st.one_of(st.sampled_from(SURROGATES), st.sampled_from(ODD_TEXTS), _hostile_numbers()))
    return app


def to_json_line(value) -> str:
    """``value`` as one line of JSON the way a careless program writes it: Decimals as their digits (any
    length), NaN and Infinity as Python writes them (the reader must refuse the line, not the batch),
    lone surrogates as ``\\ud800`` escapes."""
    import json
    import math

    def enc(v):
        if isinstance(v, bool) or v is None:
            return json.dumps(v)
        if isinstance(v, Decimal):
            if not v.is_finite():
                return "NaN"
            return str(v)  # "1E+999999", or 5000 digits: valid JSON number text
        if isinstance(v, int):
            return str(v) if v.bit_length() < 13_000 else "1" + "0" * 4000
        if isinstance(v, float):
            return repr(v) if math.isfinite(v) else ("NaN" if v != v else "Infinity")
        if isinstance(v, str):
            return json.dumps(v)  # ensure_ascii: surrogates become \\udXXX escapes
        if isinstance(v, dict):
            return "{" + ",".join(f"{json.dumps(str(k))}:{enc(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            stack_depth = 0  # deep lists: written iteratively
            inner = v
            while isinstance(inner, list) and len(inner) == 1 and isinstance(inner[0], list):
                stack_depth += 1
                inner = inner[0]
            return "[" * stack_depth + "[" + ",".join(enc(x) for x in inner) + "]" + "]" * stack_depth
        return json.dumps(str(v))

    return enc(value)
