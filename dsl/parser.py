"""Text -> AST.

``parse(text, name)`` runs Lark's LALR parser, then builds the AST bottom-up
with an explicit stack (:func:`_build`), so neither parsing nor building
recurses: 10,000 nested parentheses or `not`s get a clean "nested too deeply"
message, never a RecursionError. Syntax errors are collected (the parser
recovers by skipping a token) and turned into human sentences: "expected a
number or a name after `>=`", never raw terminal names.
"""
from __future__ import annotations

import datetime as _dt
import difflib
import re
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from importlib import resources

import attrs
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import ContextualLexer
from lark.parse_tree_builder import ExpandSingleChild, PropagatePositions
from lark.parsers.lalr_analysis import Shift

from . import ast, numbers, parser_cache
from .errors import (ENDS_TOO_EARLY, NESTED_TOO_DEEPLY, NOT_A_POLICY, TOO_LARGE, UNEXPECTED_CHARACTER,
                     THOUSANDS_SEPARATOR, UNEXPECTED_WORD, UNKNOWN_SECTION, Diagnostic, PolicyError)
from .limits import Budget
from .source import Source, Span

#: deeper expressions are refused with a clear error: they are never written by
#: hand, and Python's own recursion limit would otherwise decide.
MAX_DEPTH = 100
MAX_SYNTAX_ERRORS = 20
LANGUAGES = ("it", "en", "fr", "de", "es", "sl", "hr", "el", "pt")


@lru_cache(maxsize=None)
def _grammar() -> str:
    return resources.files("dsl").joinpath("grammar.lark").read_text(encoding="utf-8")


def _num(tok) -> Decimal:
    text = str(tok).replace("_", "")
    if text.count(".") > 1:  # `1.500.000`: reported as E018 (_ToAst._grouped); read as the number meant
        text = text.replace(".", "")
    return Decimal(text)


def _plain(d: Decimal) -> str:
    """``400`` for ``Decimal("400.000")``: a number as a person writes it, never ``4E+2``."""
    return format(d.normalize(), "f")


def _shift(d: Decimal, places: int) -> Decimal:
    """``d`` times 10**places, exactly (``d / 100`` would round to 28 digits)."""
    sign, digits, exp = d.as_tuple()
    return Decimal((sign, digits, exp + places))


def _unquote(tok) -> str:
    s = str(tok)[1:-1]
    return re.sub(r'\\(.)', lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), s)


def _set_kind(values) -> str:
    """The type a number set written `one of {...}` means: amounts, whole numbers or numbers."""
    if any(isinstance(v, ast.Money) for v in values):
        return "money"
    return "int" if all(v.value == v.value.to_integral_value() and "." not in str(v.value) for v in values) \
        else "decimal"


@v_args(inline=True, meta=True)
class _ToAst(Transformer):
    """Parse tree -> ast nodes (one method per grammar rule/alias)."""

    def __init__(self, source: Source):
        super().__init__()
        self.source = source
        self.problems: list[Diagnostic] = []

    def _err(self, code, message, span, hint=None):
        self.problems.append(Diagnostic(message, span, self.source, hint=hint, code=code))

    def _grouped(self, tok, span, currency=None) -> None:
        """E018 for a dot that groups thousands: always for several dots (`1.500.000` is no number
        at all), for one dot in an amount (`400.000 EUR` would read as 400 euros). A number without
        a currency may be a decimal (`2.000`, `0.125`): the checker hints where money was meant."""
        text = str(tok)
        several = text.count(".") > 1
        grouped = numbers.thousands_grouping(text)
        if not several and (currency is None or grouped is None):
            return
        meant = grouped or text.replace(".", "_")
        if several:
            message = f"`{text}` is not a number: in a policy the dot is the decimal point"
        else:
            message = (f"`{text} {currency}` groups thousands with a dot, but in a policy the dot is the decimal "
                       f"point: this amount would be {_plain(_num(text))} {currency}")
        self._err(THOUSANDS_SEPARATOR, message, span,
                  hint=f"write `{meant}{' ' + currency if currency else ''}`: thousands are grouped with `_`")

    # expressions
    def number(self, meta, tok):
        span = Span.from_meta(meta)
        self._grouped(tok, span)
        return ast.Number(_num(tok), span=span)

    def percent(self, meta, tok):
        return ast.Percent(_shift(_num(str(tok)[:-1]), -2), span=Span.from_meta(meta))

    def money(self, meta, amount, currency):
        span = Span.from_meta(meta)
        self._grouped(amount, span, str(currency))
        return ast.Money(_num(amount), str(currency), span=span)

    def duration(self, meta, tok):
        span = Span.from_meta(meta)
        amount, unit = str(tok).split()
        value = _num(amount)
        return ast.Duration(int(value), unit if unit.endswith("s") else unit + "s", span=span)

    def string(self, meta, tok):
        return ast.String(_unquote(tok), span=Span.from_meta(meta))

    def date(self, meta, tok):
        span = Span.from_meta(meta)
        try:
            value = _dt.date.fromisoformat(str(tok))
        except ValueError:
            self._err("E010", f"`{tok}` is not a valid date", span, hint="dates are written YYYY-MM-DD, e.g. 2025-06-30")
            value = _dt.date(1970, 1, 1)
        return ast.DateLit(value, span=span)

    def datetime(self, meta, tok):
        span = Span.from_meta(meta)
        try:
            value = _dt.datetime.fromisoformat(str(tok).replace(" ", "T"))
        except ValueError:
            self._err("E010", f"`{tok}` is not a valid date and time", span, hint="write e.g. 2025-06-30 12:00")
            value = _dt.datetime(1970, 1, 1)
        return ast.DateTimeLit(value, span=span)

    def boolean(self, meta, tok):
        return ast.Bool(str(tok) == "true", span=Span.from_meta(meta))

    def name(self, meta, tok):
        return ast.Name(str(tok), span=Span.from_meta(meta))

    def score_ref(self, meta):
        return ast.ScoreRef(span=Span.from_meta(meta))

    def attr(self, meta, obj, name):
        return ast.Attr(obj, str(name), span=Span.from_meta(meta))

    def args(self, meta, *xs):
        return tuple(xs)

    def func_call(self, meta, fname, args=None):
        return ast.Call(str(fname), args or (), span=Span.from_meta(meta))

    def min_call(self, meta, args):
        return ast.Call("min", args, span=Span.from_meta(meta))

    def max_call(self, meta, args):
        return ast.Call("max", args, span=Span.from_meta(meta))

    def agg_for(self, meta, var, source, where=None):
        return ("for", str(var), source, where)

    def agg_where(self, meta, where):
        return ("where", where)

    def aggregate(self, meta, func, first, tail=None):
        span = Span.from_meta(meta)
        func = str(func)
        if tail is not None and tail[0] == "for":
            _, var, source, where = tail
            return ast.Aggregate(func, source, var, first, where, span=span)
        where = tail[1] if tail is not None else None
        # `count(f in L where c)`: the grammar sees `f in L` as membership; a
        # bare name on the left of `in` is the item variable.
        if isinstance(first, ast.Binary) and first.op == "in" and isinstance(first.left, ast.Name):
            return ast.Aggregate(func, first.right, first.left.id, None, where, span=span)
        if where is not None:
            self._err("E011", f"`{func}(... where ...)` needs an item name: write `{func}(x in list where ...)`", span)
        return ast.Aggregate(func, first, None, None, where, span=span)

    def aggregate_distinct(self, meta, func, _distinct, first, tail=None):
        node = self.aggregate(meta, func, first, tail)
        if node.func != "count":
            self._err("E135", f"`distinct` goes with `count` only: `{node.func} distinct(...)` has no meaning",
                      node.span, hint="write `count distinct(x.field for x in list)` for how many different values")
            return node
        return attrs.evolve(node, func="count distinct")

    def quantified(self, meta, kind, var, source, cond):
        return ast.Quantified(str(kind), str(var), source, cond, span=Span.from_meta(meta))

    def set_literal(self, meta, *items):
        return ast.SetLit(tuple(items), span=Span.from_meta(meta))

    def if_expr(self, meta, cond, then, else_):
        return ast.If(cond, then, else_, span=Span.from_meta(meta))

    def or_(self, meta, a, b):
        return ast.Binary("or", a, b, span=Span.from_meta(meta))

    def and_(self, meta, a, b):
        return ast.Binary("and", a, b, span=Span.from_meta(meta))

    def not_(self, meta, a):
        return ast.Unary("not", a, span=Span.from_meta(meta))

    def neg(self, meta, _minus, a):
        if isinstance(a, ast.Number):
            return ast.Number(a.value.copy_negate(), span=Span.from_meta(meta))
        if isinstance(a, ast.Money):
            return ast.Money(a.amount.copy_negate(), a.currency, span=Span.from_meta(meta))
        return ast.Unary("-", a, span=Span.from_meta(meta))

    def compare(self, meta, a, op, b):
        return ast.Binary(str(op), a, b, span=Span.from_meta(meta))

    def arith(self, meta, a, op, b):
        return ast.Binary(str(op), a, b, span=Span.from_meta(meta))

    def percent_of(self, meta, a, b):
        return ast.Binary("of", a, b, span=Span.from_meta(meta))

    def between(self, meta, v, lo, hi):
        return ast.Between(v, lo, hi, span=Span.from_meta(meta))

    def member(self, meta, a, b):
        return ast.Binary("in", a, b, span=Span.from_meta(meta))

    def not_member(self, meta, a, b):
        return ast.Binary("not in", a, b, span=Span.from_meta(meta))

    def is_missing(self, meta, a):
        return ast.IsMissing(a, False, span=Span.from_meta(meta))

    def is_present(self, meta, a):
        return ast.IsMissing(a, True, span=Span.from_meta(meta))

    # types
    def signed_number(self, meta, *toks):
        self._grouped(toks[-1], Span.from_token(toks[-1]))
        value = _num(toks[-1])
        return value.copy_negate() if len(toks) == 2 else value

    def base_type(self, meta, tok):
        return ast.BaseType(str(tok), span=Span.from_meta(meta))

    def step(self, meta, tok):
        self._grouped(tok, Span.from_meta(meta))
        return _num(tok)

    def ranged_type(self, meta, tok, low, high, step=None):
        span = Span.from_meta(meta)
        if str(tok) == "money":  # `money in 0..400.000`: the bounds are amounts
            for bound in (low, high):
                meant = numbers.thousands_grouping(str(abs(bound)))
                if meant:
                    self._err(THOUSANDS_SEPARATOR, f"the bound `{bound}` of an amount groups thousands with a dot, "
                              f"but in a policy the dot is the decimal point: this bound would be {_plain(bound)}",
                              span, hint=f"write `{'-' if bound < 0 else ''}{meant}`: thousands are grouped with `_`")
        if low > high:
            self._err("E012", f"empty range {low}..{high}: the lower bound is above the upper bound", span)
        return ast.BaseType(str(tok), low, high, step, span=span)

    def set_value(self, meta, value, currency=None):
        span = Span.from_meta(meta)
        if currency is not None:
            return ast.Money(value, str(currency), span=span)
        return ast.Number(value, span=span)

    def set_type(self, meta, tok, *values):
        return ast.BaseType(str(tok), values=values, span=Span.from_meta(meta))

    def enum_type(self, meta, *options):
        span = Span.from_meta(meta)
        texts = tuple(_unquote(o) for o in options if isinstance(o, Token))
        nums = tuple(o for o in options if not isinstance(o, Token))
        if not nums:
            return ast.EnumType(texts, span=span)
        if texts:
            # the field keeps its texts, so the rules that compare it with a text raise nothing more
            self._err("E131", "`one of {...}` mixes texts and numbers: the options of a field are all texts, "
                      "or it is a number set", span,
                      hint="quote every option (`\"1\"`), or write a number set such as `int in {0, 3, 7}`")
            return ast.EnumType(texts, span=span)
        # the checker warns (W104) and treats the field as the number set it means
        return ast.BaseType(_set_kind(nums), values=nums, as_one_of=True, span=span)

    def list_type(self, meta, item):
        return ast.ListType(item, span=Span.from_meta(meta))

    def inline_record(self, meta, fields):
        return ast.RecordType(fields, span=Span.from_meta(meta))

    def type_ref(self, meta, tok):
        return ast.TypeRef(str(tok), span=Span.from_meta(meta))

    def fields(self, meta, *fs):
        return tuple(fs)

    def default(self, meta, e):
        return ("default", e)

    def field(self, meta, name, *rest):
        label = opt = default = None
        type_ = None
        for r in rest:
            if isinstance(r, ast.Label):
                label = r
            elif isinstance(r, Token) and r.type == "OPTIONAL":
                opt = True
            elif isinstance(r, tuple) and r and r[0] == "default":
                default = r[1]
            else:
                type_ = r
        return ast.Field(str(name), type_, label, bool(opt), default, span=Span.from_meta(meta))

    def label(self, meta, text, *pairs):
        span = Span.from_meta(meta)
        translations = []
        for code, t in zip(pairs[::2], pairs[1::2]):
            if str(code) not in LANGUAGES:
                self._err("E013", f"`{code}` is not a language code; a label can be followed by "
                          f"translations such as `en \"...\"`", Span.from_token(code))
            translations.append((str(code), _unquote(t)))
        return ast.Label(_unquote(text), tuple(translations), span=span)

    def citation(self, meta, label):
        return ast.Citation(label.text, label.translations, span=Span.from_meta(meta))

    def crit_citation(self, meta, citation):
        return citation

    def dated_entry(self, meta, day, value, *cites):
        start = self.date(meta, day).value
        return ast.DatedEntry(start, value, tuple(cites), span=Span.from_meta(meta))

    def dated(self, meta, *entries):
        return ast.Dated(tuple(entries), span=Span.from_meta(meta))

    def dated_at(self, meta, param, when):
        return ast.At(param, when, span=Span.from_meta(meta))

    # items
    def call_item(self, meta, key, value):
        return ast.CallItem(str(key), value, span=Span.from_meta(meta))

    def call(self, meta, name, version, *items):
        return ast.CallDef(_unquote(name), _unquote(version), tuple(items), span=Span.from_meta(meta))

    def use(self, meta, path):
        return ast.Use(_unquote(path), span=Span.from_meta(meta))

    def record_def(self, meta, name, *rest):
        label = rest[0] if len(rest) == 2 else None
        return ast.RecordDef(str(name), rest[-1], label, span=Span.from_meta(meta))

    def input_def(self, meta, fields):
        return ast.InputDef(fields, span=Span.from_meta(meta))

    def param(self, meta, name, type_):
        return ast.Param(str(name), type_, span=Span.from_meta(meta))

    def params(self, meta, *ps):
        return tuple(ps)

    def let_def(self, meta, name, *rest):
        params = label = None
        cites = []
        for r in rest[:-1]:
            if isinstance(r, ast.Citation):
                cites.append(r)
            elif isinstance(r, ast.Label):
                label = r
            else:
                params = r
        return ast.LetDef(str(name), rest[-1], params, label, tuple(cites), span=Span.from_meta(meta))

    def decl_kw(self, meta, tok):
        return str(tok)

    def rounding(self, meta, mode, unit):
        return ast.Rounding(str(mode), unit, span=Span.from_meta(meta))

    def decl(self, meta, name, *rest):
        cites = tuple(r for r in rest if isinstance(r, ast.Citation))
        rest = [r for r in rest if not isinstance(r, ast.Citation)]
        rounding = rest[1] if len(rest) == 2 else None
        return ast.Decl(name, rest[0], rounding, cites=cites, span=Span.from_meta(meta))

    def output_for(self, meta, var, *path):
        # the list is a path of names (`network.firms`), not any expression: an expression followed by
        # `=` would change how the parser reports a `=` written for `==` everywhere else
        source = ast.Name(str(path[0]), span=Span.from_token(path[0]))
        for tok in path[1:]:
            source = ast.Attr(source, str(tok), span=Span(path[0].line, path[0].column, tok.end_line,
                                                          tok.end_column, path[0].start_pos, tok.end_pos))
        return (str(var), source)

    def output_def(self, meta, name, *rest):
        label = var = source = rounding = None
        rest = list(rest)
        if rest and isinstance(rest[-1], ast.Rounding):
            rounding = rest.pop()
        expr = rest.pop()
        for r in rest:
            if isinstance(r, ast.Label):
                label = r
            elif isinstance(r, tuple):
                var, source = r
        return ast.Decl(str(name), expr, rounding, label, var, source, named=True, span=Span.from_meta(meta))

    def gate(self, meta, gid, *rest):
        cites = tuple(r for r in rest if isinstance(r, ast.Citation))
        rest = [r for r in rest if not isinstance(r, ast.Citation)]
        label = rest[0] if len(rest) == 2 else None
        return ast.Gate(str(gid), rest[-1], label, cites, span=Span.from_meta(meta))

    def cross_gate(self, meta, gid, *rest):
        cites = tuple(r for r in rest if isinstance(r, ast.Citation))
        rest = [r for r in rest if not isinstance(r, ast.Citation)]
        label = rest[0] if len(rest) == 5 else None
        key, var, source, order = rest[-4:]
        return ast.CrossGate(str(gid), key, str(var), source, order, label, cites=cites, span=Span.from_meta(meta))

    def earlier(self, meta, e):
        return e

    def earlier_input(self, meta):
        return None

    def eligibility(self, meta, *gates):
        return ast.Eligibility(tuple(gates), span=Span.from_meta(meta))

    def tier(self, meta, cond, points):
        return ast.Tier(cond, points, span=Span.from_meta(meta))

    def otherwise_tier(self, meta, points):
        return ast.Tier(None, points, span=Span.from_meta(meta))

    def minimum(self, meta, value):
        return ("minimum", value)

    def weight(self, meta, value, *rest):
        ranking = any(isinstance(r, Token) for r in rest)
        cond = next((r[1] for r in rest if isinstance(r, tuple)), None)
        key = "ranking_weight" if ranking else "weight"
        return (key, value) if cond is None else (key, value, cond)

    def weight_if(self, meta, cond):
        return ("if", cond)

    def formula(self, meta, e):
        return ("formula", e)

    def tiers(self, meta, *ts):
        return ("tiers", tuple(ts))

    def subcriteria(self, meta, *cs):
        return ("subs", tuple(cs))

    def criterion(self, meta, kw, cid, *rest):
        span = Span.from_meta(meta)
        kwargs = {}
        label = None
        cites = tuple(r for r in rest if isinstance(r, ast.Citation))
        rest = [r for r in rest if not isinstance(r, ast.Citation)]
        if isinstance(rest[0], ast.Label):
            label = rest.pop(0)
        maximum = rest.pop(0)
        if cites:
            kwargs["cites"] = cites
        for key, value, *cond in rest:
            if key in kwargs:
                self._err("E014", f"`{key.replace('_', ' ')}` is given twice for criterion `{cid}`", span)
            kwargs[key] = value
            if cond:
                kwargs[key + "_if"] = cond[0]
        return ast.Criterion(str(cid), maximum, label, sub=str(kw) == "sub", span=span, **kwargs)

    def bonus(self, meta, kw, bid, *rest):
        rest = list(rest)
        label = rest.pop(0) if isinstance(rest[0], ast.Label) else None
        maximum, stage, (key, body) = rest
        return ast.Criterion(str(bid), maximum, label, span=Span.from_meta(meta), kind=str(kw), stage=str(stage),
                             **{key: body})

    def score_def(self, meta, maximum, pass_, *rest):
        including = bool(rest) and isinstance(rest[0], Token)
        items = rest[1:] if including else rest
        criteria = tuple(c for c in items if c.kind == "criterion")
        bonuses = tuple(c for c in items if c.kind != "criterion")
        return ast.ScoreDef(maximum, pass_, criteria, including, span=Span.from_meta(meta), bonuses=bonuses)

    def order_key(self, meta, e, direction=None):
        return ast.OrderKey(e, direction is not None and str(direction) == "desc", direction is not None,
                            span=Span.from_meta(meta))

    def order(self, meta, *keys):
        return ast.Order(tuple(keys), span=Span.from_meta(meta))

    def sportello(self, meta, by):
        return ast.Sportello(by, span=Span.from_meta(meta))

    def shortfall(self, meta, mode):
        span = Span.from_meta(meta)
        if str(mode) not in ("partial", "skip", "stop"):
            self._err("E015", f"unknown shortfall rule `{mode}`: expected `partial`, `skip` or `stop`", span)
        return ast.Shortfall(str(mode), span=span)

    def reserve(self, meta, share, label, *rest):
        cites = tuple(r for r in rest if isinstance(r, ast.Citation))
        return ast.Reserve(share, label, rest[-1], cites, span=Span.from_meta(meta))

    def unique(self, meta, key, var, source, keep, *rest):
        span = Span.from_meta(meta)
        cites = tuple(r for r in rest if isinstance(r, ast.Citation))
        rest = [r for r in rest if not isinstance(r, ast.Citation)]
        by = rest[0] if rest else None
        if str(keep) not in ("earliest", "latest", "best"):
            self._err("E016", f"unknown rule `keep {keep}`: expected `earliest`, `latest` or `best`", span)
        return ast.Unique(key, str(var), source, str(keep), by, cites, span=span)

    def tie_margin(self, meta, e):
        return ("within", e)

    def tie_seed(self, meta, n):
        return ("seed", n)

    def ties(self, meta, *parts):
        span = Span.from_meta(meta)
        cites = tuple(p for p in parts if isinstance(p, ast.Citation))
        parts = tuple(p for p in parts if not isinstance(p, ast.Citation))
        arg = parts[-1] if parts and isinstance(parts[-1], tuple) else None
        words = tuple(str(w) for w in (parts[:-1] if arg is not None else parts))
        rule = ast.TIE_RULES.get(words)
        if rule is None:
            known = ", ".join(f"`ties {w}`" for w in ("office decides", "share equally", "share pro rata",
                                                      "draw seed 12345", "fund all within 5%"))
            self._err("E017", f"unknown tie rule `ties {' '.join(words)}`: expected one of {known}", span)
            return ast.Ties("office", cites=cites, span=span)
        margin = seed = None
        if rule == "draw":
            if arg is None or arg[0] != "seed":
                self._err("E017", "a public draw needs its recorded seed: `ties draw seed 20131129`", span)
            else:
                seed = int(str(arg[1]).replace("_", "")) if "." not in str(arg[1]) else None
                if seed is None:
                    self._err("E017", "the seed of a draw is a whole number", span)
        elif rule == "fund_all":
            if arg is None or arg[0] != "within":
                self._err("E017", "say how much more than the budget may be spent on a tie: "
                          "`ties fund all within 5%` or `within 20_000 EUR`", span)
            else:
                margin = arg[1]
        elif arg is not None:
            self._err("E017", f"`ties {' '.join(words)}` takes no `{arg[0]}`", span)
        return ast.Ties(rule, margin, seed, cites, span=span)

    def ranking(self, meta, *items):
        return ast.Ranking(tuple(items), span=Span.from_meta(meta))

    # the evaluation panel
    def panel_scale(self, meta, low, high, step=None):
        span = Span.from_meta(meta)
        if low >= high:
            self._err("E012", f"empty scale {low}..{high}: the lowest mark must be below the highest", span)
        return ast.PanelRule("scale", (low, high, step), span=span)

    def panel_evaluators(self, meta, n):
        return ast.PanelRule("evaluators", _num(n), span=Span.from_meta(meta))

    def panel_combine(self, meta, rule):
        return ast.PanelRule("combine", " ".join(str(rule).split()), span=Span.from_meta(meta))

    def panel_spread(self, meta, value):
        return ast.PanelRule("spread", value, span=Span.from_meta(meta))

    def panel_mark(self, meta, mid, *rest):
        label = rest[0] if rest and isinstance(rest[0], ast.Label) else None
        rules = tuple(r for r in rest if isinstance(r, ast.PanelRule))
        return ast.PanelMark(str(mid), label, rules, span=Span.from_meta(meta))

    def panel(self, meta, *rest):
        label = rest[0] if rest and isinstance(rest[0], ast.Label) else None
        rules = tuple(r for r in rest if isinstance(r, ast.PanelRule))
        marks = tuple(r for r in rest if isinstance(r, ast.PanelMark))
        return ast.Panel(label, rules, marks, span=Span.from_meta(meta))

    def expect_score(self, meta, e):
        return ast.Expectation("score", e, span=Span.from_meta(meta))

    def expect_grant(self, meta, e):
        return ast.Expectation("grant", e, span=Span.from_meta(meta))

    def expect_failing(self, meta, *names):
        return ast.Expectation("failing", tuple(str(n) for n in names), span=Span.from_meta(meta))

    def expect_points(self, meta, *pairs):
        return ast.Expectation("points", tuple((str(k), v) for k, v in zip(pairs[::2], pairs[1::2])),
                               span=Span.from_meta(meta))

    def case_param(self, meta, name, value):
        return (str(name), value)

    def case_with(self, meta, *pairs):
        return ("with", tuple(pairs))

    def case(self, meta, file, *rest):
        params = ()
        if isinstance(rest[0], tuple):
            params, rest = rest[0][1], rest[1:]
        status, *exps = rest
        return ast.Case(_unquote(file), str(status), tuple(exps), params, span=Span.from_meta(meta))

    def parameters_def(self, meta, fields):
        return ast.Parameters(fields, span=Span.from_meta(meta))

    def examples(self, meta, *cases):
        return ast.Examples(tuple(cases), span=Span.from_meta(meta))

    def start(self, meta, *items):
        return ast.Policy(tuple(items), span=Span.from_meta(meta))


# --- friendly syntax errors ----------------------------------------------------------

_WORDS = {
    "NUMBER": "a number", "NAME": "a name", "STRING": 'a text in quotes ("...")',
    "PERCENT": "a percentage (50%)", "DATE": "a date (2025-06-30)", "DATETIME": "a date and time",
    "BOOL": "`true`/`false`", "BASE_TYPE": "a type (text, int, decimal, money, percent, bool, date, datetime)",
    "QUANTIFIER": "`all`/`any`/`none`", "AGGREGATE": "an aggregate (count, sum, share…)",
    "CURRENCY": "a currency (EUR)", "DURATION": "a duration (3 years)",
    "COMP_OP": "a comparison (>=, <=, ==, !=, >, <)", "PLUS": "`+`", "MINUS": "`-`", "MUL_OP": "`*`/`/`",
    "LPAR": "`(`", "RPAR": "`)`", "LBRACE": "`{`", "RBRACE": "`}`", "COLON": "`:`", "COMMA": "`,`",
    "EQUAL": "`=`", "DOT": "`.`", "DOTDOT": "`..`", "DIRECTION": "`asc`/`desc`",
    "ROUND_MODE": "`down`/`up`/`nearest`", "OPTIONAL": "`optional`", "FOR_RANKING": "`for ranking`",
    "INCLUDING_INELIGIBLE": "`including ineligible`", "CRITERION_KW": "`criterion`/`sub`",
    "BONUS_KW": "`bonus`/`malus`", "BONUS_STAGE": "`after pass`/`before pass`",
    "RARROW": "`->`", "DISTINCT": "`distinct`", "$END": "the end of the file",
}
_VALUE_START = {"NUMBER", "NAME", "STRING"}
_VALUE_TERMS = _VALUE_START | {"PERCENT", "DATE", "DATETIME", "DURATION", "BOOL", "QUANTIFIER", "AGGREGATE",
                               "LPAR", "LBRACE", "MINUS", "IF", "NOT", "SCORE", "MIN", "MAX"}
#: what may follow a complete value: shown as one phrase, not a dozen terminals
_OPERATORS = {"AND", "OR", "NOT", "BETWEEN", "IN", "IS", "OF", "COMP_OP", "PLUS", "MINUS", "MUL_OP", "DOT", "AT",
              "LPAR", "CURRENCY"}
#: the words that start a top-level section
_SECTIONS = {"$END", "APPLICANT", "CALL", "ELIGIBILITY", "EXAMPLES", "GRANT", "INPUT", "LET", "OUTPUT", "PANEL",
             "PARAMETERS", "RANKING",
             "RECORD", "REQUESTED", "SCORE", "SUBMITTED", "USE"}
_RANKING_RULES = {"FIRST", "ORDER", "RESERVE", "SHORTFALL", "UNIQUE", "TIES"}


def _term_word(t: str) -> str:
    if t in _WORDS:
        return _WORDS[t]
    try:  # anonymous terminals (`->`, `..`) are named __ANON_n by Lark: show their text
        pattern = _lark().get_terminal(t).pattern
        if pattern.type == "str":
            return f"`{pattern.value}`"
    except KeyError:
        pass
    if t.isupper() and t.replace("_", "").isalpha():
        return f"`{t.lower()}`"
    return f"`{t}`"


def _describe(expected) -> str:
    expected = set(expected)
    parts, tail = [], []
    if _VALUE_START <= expected:
        parts.append("a value (a number, a name, a text in quotes…)")
        expected -= _VALUE_TERMS
    operators = _OPERATORS if "OR" in expected else _OPERATORS - {"AND"}  # `between 1 and 5` needs `and`
    if len(expected & operators) >= 3:
        tail.append("an operator (+, -, *, /, >=, and, or…)")
        expected -= operators
    if len(expected & _SECTIONS) >= 4:
        tail.insert(0, "a new section (`let`, `eligibility`, `score`…)")
        expected -= _SECTIONS
    if len(expected & _RANKING_RULES) >= 3:
        tail.insert(0, "a ranking rule (`order by`, `reserve`, `shortfall`…)")
        expected -= _RANKING_RULES
    parts.extend(dict.fromkeys(_term_word(t) for t in sorted(expected)))
    parts.extend(tail)
    if not parts:
        return "something else"
    if len(parts) > 8:
        parts = parts[:8] + ["…"]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def _expected(e: UnexpectedInput) -> set:
    """The tokens that could really come next.

    Lark's ``expected`` lists the lookaheads of a merged LALR state, which can
    be far more than what is valid here; asking the parser state is exact.
    """
    ip = getattr(e, "interactive_parser", None)
    expected = set()
    if ip is not None:
        try:
            expected = set(ip.accepts())
        except Exception:  # pragma: no cover - fall back on Lark's list
            pass
    expected = expected or set(getattr(e, "expected", None) or ())
    if {"DISTINCT", "LPAR"} <= expected:  # after `count`: `distinct` is a rarely wanted extra, `(` the news
        expected.discard("DISTINCT")
    return expected


_CURRENCY_WORDS = {"euro", "euros", "eur", "usd", "dollars", "gbp", "chf"}
_UNIT_WORDS = {"anni", "anno", "mesi", "mese", "giorni", "giorno", "settimane", "weeks", "week"}
#: words that belong inside a block, with the block they belong to
_BLOCK_WORDS = {"gate": "eligibility { ... }", "criterion": "score max N pass M { ... }",
                "sub": "a criterion's { ... }", "case": "examples { ... }", "order": "ranking { ... }",
                "reserve": "ranking { ... }", "shortfall": "ranking { ... }", "unique": "ranking { ... }",
                "ties": "ranking { ... }", "bonus": "score max N pass M { ... }, after the criteria",
                "malus": "score max N pass M { ... }, after the criteria"}


_AGGREGATE_WORDS = {"count", "share", "sum", "average", "mean", "median", "spread", "lowest", "highest"}
#: words that start a line inside a block; after an incomplete line they are read as names
_LINE_KEYWORDS = {"gate", "criterion", "sub", "bonus", "malus", "case", "otherwise", "order", "reserve", "shortfall",
                  "unique", "ties", "first", "let", "grant", "requested", "applicant", "submitted", "output"}


def _starts_line(text: str, pos: int, word: str) -> bool:
    """Is ``word``, just before ``pos``, the first word on its line (after an incomplete line)?"""
    i = text.rfind(word, 0, pos)
    if i < 0:
        return False
    line_start = text.rfind("\n", 0, i) + 1
    return not text[line_start:i].strip() and line_start > 0


def _previous_word(text: str, pos: int) -> str | None:
    """The token just before ``pos`` (for "after `>=`" in messages); comments are not tokens (the
    `.` that ended a comment line above is not what the error comes after)."""
    end = pos
    for _ in range(200):
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        for c in _STRING_OR_COMMENT.finditer(line):
            if c.group(0).startswith("#"):
                line = line[:c.start()]
                break
        line = line.rstrip(" \t\r")
        if line:
            m = re.search(r'(\w+|"[^"\n]*"|->|[<>=!]=|\.\.|\S)$', line[-60:])
            return m.group(1) if m else None
        if start == 0:
            return None
        end = start - 1
    return None


def _found(tok) -> str:
    if tok.type == "$END":
        return "the end of the file"
    s = str(tok)
    return f"`{s[:40]}{'…' if len(s) > 40 else ''}`"


def _syntax_diagnostic(e: UnexpectedInput, source: Source) -> Diagnostic:
    text = source.text
    if isinstance(e, UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else ""
        span = Span(e.line, e.column, e.line, e.column + 1, e.pos_in_stream, e.pos_in_stream + 1)
        hint = None
        if ch == "'":
            hint = 'texts are written in double quotes: "..."'
        elif ch and ch in "€$£":
            hint = "write amounts with the currency after the number: 100_000 EUR"
        elif ch == '"':
            hint = 'this text has no closing `"` on the same line'
        elif ch == "%":
            hint = "write a percentage without a space: 50%"
        elif ch == "=" and text[e.pos_in_stream + 1:e.pos_in_stream + 2] in (">", "<"):
            hint = f"write `{text[e.pos_in_stream + 1]}=`: the `=` comes second"
        return Diagnostic(f"unexpected character `{ch}`" if ch.isprintable() else
                          f"unexpected character U+{ord(ch):04X}", span, source, hint=hint,
                          code=UNEXPECTED_CHARACTER)
    if isinstance(e, UnexpectedEOF) or (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
        lines = text.split("\n")
        line = len(lines)
        col = len(lines[-1]) + 1
        span = Span(line, col, line, col, len(text), len(text))
        depth = text.count("{") - text.count("}")
        hint = f"{depth} `{{` block{'s are' if depth > 1 else ' is'} not closed with `}}`" if depth > 0 else None
        return Diagnostic(f"the file ends too early: expected {_describe(_expected(e))}", span, source, hint=hint,
                          code=ENDS_TOO_EARLY)
    tok = e.token
    expected = _expected(e)
    span = Span.from_token(tok)
    unknown = _unknown_section(tok, expected, text)
    if unknown is not None:
        return Diagnostic(unknown, span, source, code=UNKNOWN_SECTION,
                          hint="a policy is made of sections: " + ", ".join(f"`{w}`" for w in _SECTION_ORDER))
    prev = _previous_word(text, tok.start_pos or 0)
    after = f" after `{prev}`" if prev else ""
    hint = None
    word = str(tok)
    following = text[tok.end_pos:tok.end_pos + 1] if tok.end_pos is not None else ""
    if word == "=" and following in (">", "<"):
        hint = f"write `{following}=`: the `=` comes second"
    elif word == "=" and "COMP_OP" in expected | set(e.expected):
        hint = "to compare, write `==`"
    elif tok.type == "NAME" and word in ("AND", "OR", "NOT", "e", "o", "non"):
        hint = "the logical words are `and`, `or`, `not`"
    elif word == "->":
        hint = "a band is written `condition -> points`, and `otherwise -> points` comes last"
    elif word.lower() in _CURRENCY_WORDS and prev and prev[0].isdigit():
        hint = f"write amounts with a currency code: `{prev} EUR`"
    elif word.lower() in _UNIT_WORDS and prev and prev[0].isdigit():
        hint = "durations are written `30 days`, `6 months`, `3 years`"
    elif word.lower().startswith(("desc", "asc")) and "DIRECTION" in expected:
        hint = "write `desc` (highest first) or `asc` (lowest first)"
    elif "NAME" in expected and re.fullmatch(r"[a-z_]+", word) and tok.type != "NAME":
        hint = f"`{word}` is a word of the language and cannot be used as a name; choose another name"
    elif prev in _AGGREGATE_WORDS and expected == {"LPAR"}:
        hint = f"`{prev}` is a word of the language (`{prev}(...)`) and cannot be used as a name"
    elif prev in _LINE_KEYWORDS and _starts_line(text, tok.start_pos or 0, prev):
        hint = (f"is the line before complete? `{prev}` was read as a name, as if it continued "
                f"the line above")
    elif expected == {"LBRACE"} and prev in section_words():
        hint = f"a block starts with `{{`: `{prev} {{ ... }}`"
    elif expected == {"BONUS_STAGE"}:
        hint = ("say when the points count: `after pass` (only once the criteria reach the pass mark) "
                "or `before pass` (before the pass mark is judged)")
    elif word in ("criterion", "sub") and "BONUS_KW" in expected:
        hint = "the criteria come first in the score block, then the `bonus` and `malus` lines"
    elif word in _BLOCK_WORDS and word.upper() not in expected and "CRITERION_KW" not in expected \
            and "BONUS_KW" not in expected:
        hint = f"`{word}` belongs inside {_BLOCK_WORDS[word]}"
    return Diagnostic(f"expected {_describe(expected)}{after}, found {_found(tok)}", span, source, hint=hint,
                      code=UNEXPECTED_WORD)


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: the sections in the order a policy usually gives them (for the hint of an unknown section)
_SECTION_ORDER = ("use", "call", "record", "input", "let", "eligibility", "score", "grant", "ranking", "panel",
                  "examples")


def _unknown_section(tok, expected, text) -> str | None:
    """"unknown section `eligibilty`, did you mean `eligibility`?" for a misspelt section word at
    the start of a line, where a new section may start; None for any other error."""
    if tok.type != "NAME" or len(expected & _SECTIONS) < 4 or not _starts_line(text, tok.end_pos or 0, str(tok)):
        return None
    close = difflib.get_close_matches(str(tok).lower(), sorted(section_words()), n=1, cutoff=0.75)
    if not close or str(tok) in section_words():
        return None
    return f"unknown section `{tok}`, did you mean `{close[0]}`?"


#: (token type, parser stack) -> _can_shift's answer. The answer depends only on the grammar's
#: tables and the stack, and the same stacks come back line after line (every `let` after a
#: number asks it), so it is asked once; bounded, cleared when full.
_SHIFT_CACHE: dict = {}
_SHIFT_CACHE_SIZE = 20_000


def _can_shift(states, stack, ttype) -> bool:
    """Would the LALR automaton, from ``stack``, eventually shift a token of type ``ttype``?"""
    key = (ttype, tuple(stack))
    known = _SHIFT_CACHE.get(key)
    if known is None:
        if len(_SHIFT_CACHE) >= _SHIFT_CACHE_SIZE:
            _SHIFT_CACHE.clear()
        known = _SHIFT_CACHE[key] = _simulate_shift(states, stack, ttype)
    return known


def _simulate_shift(states, stack, ttype) -> bool:
    stack = list(stack)
    while True:
        actions = states[stack[-1]]
        if ttype not in actions:
            return False
        action, arg = actions[ttype]
        if action is Shift:
            return True
        size = len(arg.expansion)
        if size:
            del stack[-size:]
        stack.append(states[stack[-1]][arg.origin.name][1])


class _KeywordsAsNames(ContextualLexer):
    """The contextual lexer, plus: a keyword the parser cannot take here is a name.

    LALR merges parser states, so the lexer's idea of "what may come next" is
    wider than the truth: after ``markets: int = 0`` it also expects the words
    that may follow a number anywhere (``requested``, ``score``, ``count``…),
    and a next field called ``requested`` was read as the keyword and refused.
    When a word lexed as a keyword cannot be shifted but a name can, it is a name.
    """

    def lex(self, lexer_state, parser_state):
        """Lark's contextual lexing in one loop, plus keywords read as names.

        Lark reads each token through five calls (the contextual lexer, the
        state's lexer, its ``match``, the scanner's ``match``, the line
        counter's ``feed``) and two more to make the ``Token``: a third of
        parsing a large policy. This loop does the same with the same
        scanners, in the same order, and keeps the line counter up to date
        before every token it hands over (error recovery reads it). Where
        no terminal matches it hands over to Lark's own loop, so that every
        error is Lark's, raised as Lark raises it.
        """
        states = parser_state.parse_conf.states
        stack = parser_state.state_stack
        lexers, line_ctr = self.lexers, lexer_state.line_ctr
        raw, end = lexer_state.text.text, lexer_state.text.end
        new_token = Token._future_new
        while line_ctr.char_pos < end:
            lexer = lexers[stack[-1]]
            pos = line_ctr.char_pos
            for mre in lexer.scanner._mres:
                m = mre.match(raw, pos, end)
                if m:
                    break
            else:
                yield from self._lark_lex(lexer_state, parser_state)  # raises Lark's error
                return
            value, type_ = m.group(0), m.lastgroup
            ignored = type_ in lexer.ignore_types
            tok = None
            if not ignored or type_ in lexer.callback:
                tok = new_token(type_, value, pos, line_ctr.line, line_ctr.column)
            if type_ in lexer.newline_types:
                newlines = value.count("\n")
                if newlines:
                    line_ctr.line += newlines
                    line_ctr.line_start_pos = pos + value.rindex("\n") + 1
            line_ctr.char_pos = pos + len(value)
            line_ctr.column = line_ctr.char_pos - line_ctr.line_start_pos + 1
            if tok is None:
                continue
            tok.end_line, tok.end_column, tok.end_pos = line_ctr.line, line_ctr.column, line_ctr.char_pos
            callback = lexer.callback.get(type_)
            if callback is not None:
                tok = callback(tok)
            if ignored:
                continue
            lexer_state.last_token = tok
            yield self._as_name(tok, states, stack)

    def _lark_lex(self, lexer_state, parser_state):
        states, stack = parser_state.parse_conf.states, parser_state.state_stack
        for tok in super().lex(lexer_state, parser_state):
            yield self._as_name(tok, states, stack)

    @staticmethod
    def _as_name(tok, states, stack):
        if tok.type != "NAME" and "NAME" in states[stack[-1]] and _WORD.fullmatch(tok) and \
                not _can_shift(states, stack, tok.type):
            return Token.new_borrow_pos("NAME", str(tok), tok)
        return tok


def _skip_unit_reductions(lark: Lark) -> None:
    """Make Lark's unit reductions (``?sum: product``) return their child directly.

    An expression walks up the whole precedence ladder (atom, postfix, unary,
    product, sum, comparison, not, and, or, expr): ten reductions for one
    number, each one a call through Lark's ``PropagatePositions`` and
    ``ExpandSingleChild`` wrappers that ends up returning the only child
    unchanged (the child already carries its own positions). Calling
    ``itemgetter(0)`` instead gives the same tree, about 20 % sooner. Only
    callbacks of exactly that shape are replaced; with another Lark layout
    nothing changes.
    """
    try:
        callbacks = lark.parser.parser.parser.callbacks
    except AttributeError:  # pragma: no cover - another Lark version: keep its callbacks
        return
    for rule, f in list(callbacks.items()):
        if len(rule.expansion) == 1 and type(f) is PropagatePositions \
                and type(f.node_builder) is ExpandSingleChild:
            callbacks[rule] = itemgetter(0)


class _Where:
    """Where a parse-tree node is (the ``meta`` that :meth:`Span.from_meta` reads), and where its
    *container* is: the outermost rule that handed the node up unchanged (``?atom: "(" expr ")"``
    makes the parentheses the container of ``expr``; a parent starts where its first child's
    container starts)."""

    __slots__ = ("line", "column", "start_pos", "end_line", "end_column", "end_pos", "empty", "start", "end")

    def __init__(self):
        self.empty = True
        self.start = self.end = None  # the container's (line, column, offset) at each end


class _Positions:
    """Lark's ``PropagatePositions``, the same rule at half the cost.

    Lark's wrapper finds the first and last child with a position through
    ``getattr`` with defaults, ``hasattr`` and a generic ``Meta`` with a dozen
    attributes, on every reduction: 40 % of parsing a large policy. This one
    keeps only what the spans need (``_Where``), with the same result: the
    node starts where its first positioned child (its container, for a
    node) starts and ends where its last one ends, and a node handed up
    unchanged by an outer rule keeps its own position and takes the outer
    rule's as its container.
    """

    __slots__ = ("node_builder",)

    def __init__(self, node_builder):
        self.node_builder = node_builder

    def __call__(self, children):
        res = self.node_builder(children)
        if type(res) is not Tree:
            return res
        start = end = None
        for c in children:
            if type(c) is Tree:
                w = c._meta
                if w is not None and w.start is not None:
                    start = w.start
                    break
            elif isinstance(c, Token):
                start = (c.line, c.column, c.start_pos)
                break
        for c in reversed(children):
            if type(c) is Tree:
                w = c._meta
                if w is not None and w.end is not None:
                    end = w.end
                    break
            elif isinstance(c, Token):
                end = (c.end_line, c.end_column, c.end_pos)
                break
        w = res._meta
        if w is None:
            w = res._meta = _Where()
        if start is not None:
            if w.start is None:
                w.line, w.column, w.start_pos = start
                w.empty = False
            w.start = start
        if end is not None:
            if w.end is None:
                w.end_line, w.end_column, w.end_pos = end
                w.empty = False
            w.end = end
        return res


def _lean_positions(lark: Lark) -> None:
    """Put :class:`_Positions` in place of Lark's ``PropagatePositions`` on every rule.

    Also names each rule's result with a plain ``str``: Lark keeps it as one of its
    ``Token`` objects, a ``str`` with an ``__eq__`` written in Python, and the parser
    looks it up in a table keyed by plain strings after every reduction (Python then
    calls that ``__eq__``: 56,000 calls for a 2,000-line policy). Equal strings, so
    nothing else changes.
    """
    try:
        callbacks = lark.parser.parser.parser.callbacks
    except AttributeError:  # pragma: no cover - another Lark version: keep its callbacks
        return
    for rule, f in list(callbacks.items()):
        if type(f) is PropagatePositions and f.node_filter is None:
            callbacks[rule] = _Positions(f.node_builder)
        if type(rule.origin.name) is Token:
            rule.origin.name = str(rule.origin.name)


def _lexer_parts_known(lexer) -> bool:
    """Does this Lark have the lexer parts :meth:`_KeywordsAsNames.lex` reads (Lark 1.1 to 1.3 do)?"""
    some = next(iter(lexer.lexers.values()), None)
    return some is not None and all(hasattr(some, a) for a in ("scanner", "ignore_types", "newline_types",
                                                               "callback")) \
        and hasattr(some.scanner, "_mres") and hasattr(Token, "_future_new")


@lru_cache(maxsize=None)
def _lark() -> Lark:
    lark = parser_cache.build(_grammar(), propagate_positions=True, maybe_placeholders=False)
    lexer = lark.parser.lexer
    if type(lexer) is ContextualLexer and _lexer_parts_known(lexer):  # otherwise keep Lark's own lexer
        lexer.__class__ = _KeywordsAsNames
    _skip_unit_reductions(lark)
    _lean_positions(lark)
    return lark


def _build(builder: _ToAst, tree: Tree):
    """Apply the AST builder bottom-up without recursion (Transformer.transform recurses).

    Returns the AST and the depth of the parse tree, which bounds the AST's
    depth (every AST node comes from a tree node below its parent's).
    """
    order, stack = [], [(tree, 0)]
    depth = 0
    while stack:
        t, d = stack.pop()
        order.append(t)
        if d > depth:
            depth = d
        stack.extend((c, d + 1) for c in t.children if type(c) is Tree)
    done: dict[int, object] = {}
    # `getattr(builder, rule)` wraps the method anew on every access (v_args): once per rule is enough,
    # and the method itself is called (every one is `inline, meta`: `method(meta, *children)`), not
    # through Lark's two wrapper calls per node
    methods: dict[str, object] = {}
    for t in reversed(order):  # children before their parents
        f = methods.get(t.data)
        if f is None:
            f = methods[t.data] = getattr(builder, t.data).base_func
        done[id(t)] = f(t.meta, *[done.pop(id(c)) if type(c) is Tree else c for c in t.children])
    return done[id(tree)], depth


# --- recovery after a syntax error ----------------------------------------------------------

#: words that start a line inside a block: after an error the parser skips to the next line that
#: starts with one of them and goes on in the innermost open block that takes it
_RESYNC_LINE_WORDS = ("gate", "criterion", "sub", "otherwise", "case", "order", "first", "shortfall", "reserve",
                      "unique", "ties", "mark")
_LINE_START_WORD = re.compile(r"^[ \t]*([A-Za-z_][A-Za-z0-9_]*)", re.M)


@lru_cache(maxsize=None)
def _keyword_terminals() -> dict[str, str]:
    """word -> the terminal the lexer reads it as, for the words recovery resynchronises on."""
    lark = _lark()
    out = {}
    for word in (*_RESYNC_LINE_WORDS, *section_words()):
        for t in sorted(lark.terminals, key=lambda t: -t.priority):
            if t.name == "NAME":
                continue
            pat = t.pattern
            if (pat.type == "str" and pat.value == word) or (pat.type == "re" and re.fullmatch(pat.value, word)):
                out[word] = t.name
                break
    return out


class _Recovery:
    """Panic-mode recovery for Lark's LALR parser, so that one mistake gives one error.

    Skipping one token after an error (Lark's default) left the parser in the middle of a
    construct it could never finish: a missing `{` after `eligibility` made every following
    line an error. Instead, after an error the parser skips to the start of a line that begins
    a construct, and carries on from where that construct is valid:

    * a section word at the start of a line in column 1 (`let`, `score`, `ranking`, ...): back
      to the top level, every open block dropped;
    * a line word of a block (`gate`, `criterion`, `case`, `otherwise`...): back to the
      innermost open block that takes it (the longest prefix of the parser's stack that can
      shift it), so that two broken gates in one block are two errors;
    * neither before the end: the rest of the file is skipped.

    Once a syntax error is found the tree is thrown away (parse raises), so what is skipped
    only costs the errors it would have caused.
    """

    def __init__(self, text: str):
        self.text = text
        self.last = -1  # where the last resynchronisation restarted: never twice in one place

    def resynchronise(self, e: UnexpectedInput) -> bool:
        ip = getattr(e, "interactive_parser", None)
        if ip is None:  # pragma: no cover - Lark always gives one for LALR
            return False
        state = ip.parser_state
        stack, values = state.state_stack, state.value_stack
        states = state.parse_conf.states
        if isinstance(e, UnexpectedToken):
            pos, own = e.token.start_pos or 0, True
        else:
            pos, own = getattr(e, "pos_in_stream", 0) or 0, False
        words = _keyword_terminals()
        line_start = self.text.rfind("\n", 0, pos) + 1
        for m in _LINE_START_WORD.finditer(self.text, line_start):
            at = m.start(1)
            if at < pos or (at == pos and not own) or at <= self.last:
                continue
            word = m.group(1)
            ttype = words.get(word)
            if ttype is None:
                continue
            if at == m.start() and word in section_words():  # column 1: a new section
                del stack[1:]
                del values[:]
                return self._restart(ip, at)
            if word in _RESYNC_LINE_WORDS:
                for k in range(len(stack), 0, -1):
                    if _simulate_shift(states, stack[:k], ttype):
                        del stack[k:]
                        del values[k - 1:]
                        return self._restart(ip, at)
        del stack[1:]
        del values[:]
        return self._restart(ip, len(self.text))

    def _restart(self, ip, at: int) -> bool:
        self.last = at
        ctr = ip.lexer_thread.state.line_ctr
        ctr.char_pos = at
        ctr.line = self.text.count("\n", 0, at) + 1
        ctr.line_start_pos = self.text.rfind("\n", 0, at) + 1
        ctr.column = at - ctr.line_start_pos + 1
        return True


def _depth_check(policy: ast.Policy, source: Source) -> list[Diagnostic]:
    problems = []
    stack = [(policy, 0)]
    while stack:
        n, d = stack.pop()
        if d > MAX_DEPTH:
            problems.append(Diagnostic(f"this is nested too deeply (more than {MAX_DEPTH} levels)",
                                       getattr(n, "span", None), source,
                                       hint="split it into several `let` definitions", code=NESTED_TOO_DEEPLY))
            break
        stack.extend((c, d + 1) for c in ast.children(n))
    return problems


_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')


# --- files that are not policies, and policies that are too long ---------------------

#: spaces, comments, and a byte-order mark (which the parser reports as such): what may come
#: before the first word of a policy
_LEADING = re.compile(r"(?:\s+|#[^\n]*|\ufeff)*")
#: what the lexer reads as one token, near enough to count them without lexing: a text
#: in quotes, a comment, a number, a word, a two-character operator, any other character
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d[\d_]*(?:\.\d+)?%?|[A-Za-z_][A-Za-z0-9_]*'
                    r'|->|\.\.|[<>=!]=|\S')


@lru_cache(maxsize=None)
def section_words() -> frozenset[str]:
    """The words a policy can start with (`call`, `use`, `record`, `let`…), read from the grammar."""
    lark = _lark()
    words = set()
    for t in lark.parse_interactive("").accepts():
        if t != "$END":
            pattern = lark.get_terminal(t).pattern
            if pattern.type == "str":
                words.add(pattern.value)
    return frozenset(words)


def _content_kind(text: str, start: int) -> str:
    """What the first bytes of a file that is not a policy look like, in a few words."""
    if "\x00" in text or "\ufffd" in text:  # NUL, or bytes that were not UTF-8
        return "it holds binary data"
    first = text[start]
    if first in "{[":
        return "it looks like JSON"
    if first == "<":
        return "it looks like HTML or XML"
    return "it is text that does not start with a section of a policy"


def not_a_policy(source: Source) -> Diagnostic | None:
    """The diagnostic for a file that does not even start like a policy; None for any other.

    After spaces and comments every policy starts with a section word (`call`,
    `use`, `record`, `let`…), so a file that does not can never parse. Its
    lines are not shown — it may be a password file or a process's
    environment — only the kind of its first bytes. A file that does start
    like a policy gets the usual diagnostics, source lines included.
    """
    text = source.text
    start = _LEADING.match(text).end()
    if start == len(text):
        return None  # empty, or only comments: an empty policy
    m = _WORD.match(text, start)
    word = m.group(0) if m else None
    words = section_words()
    if word in words:
        return None
    line, col = source.position(start)
    hint = ("a policy starts with one of its sections: `call \"…\" version \"…\" { … }`, `use`, "
            "`record`, `input`, `let`…")
    close = difflib.get_close_matches(word.lower(), sorted(words), n=1, cutoff=0.75) if word else []
    if close and "\x00" not in text:
        hint = f"did you mean `{close[0]}`? " + hint
    return Diagnostic(f"not a bando policy: {_content_kind(text, start)}",
                      Span(line, col, line, col + 1, start, start + 1), source, hint=hint,
                      code=NOT_A_POLICY, quote=False)


def count_tokens(text: str) -> int:
    """About how many words and symbols the lexer will read in ``text`` (comments included)."""
    return len(_TOKEN.findall(text))


def _take_tokens(source: Source, budget: Budget) -> None:
    """Charge ``source`` to ``budget``, or refuse it before the expensive parse."""
    n = count_tokens(source.text)
    if budget.tokens + n <= budget.max_tokens:
        budget.tokens += n
        return
    left = max(0, budget.max_tokens - budget.tokens)
    for i, m in enumerate(_TOKEN.finditer(source.text)):  # point at the first one over the limit
        if i == left:
            break
    line, col = source.position(m.start())
    together = ", counting the shared modules it uses" if budget.tokens else ""
    raise PolicyError([Diagnostic(
        f"this policy is too long: it has more than {budget.max_tokens:,} words and symbols (names, numbers, "
        f"texts, operators, comments){together}; the limit is there so that checking it takes well under "
        f"a second", Span(line, col, line, col + 1, m.start(), m.end()), source, code=TOO_LARGE, quote=False,
        hint="the largest calls shipped with bando have about 1,200; a call this long is usually several "
             "calls, or generated: split it")])


def parse(text: str, name: str = "<policy>", path: str | None = None, budget: Budget | None = None) -> ast.Policy:
    """Parse policy text into an :class:`ast.Policy`.

    >>> p = parse('let x = 1 + 2')
    >>> p.items[0].name
    'x'

    Raises :class:`PolicyError` listing every syntax error found.
    """
    source = Source(text, name, path)
    return parse_source(source, budget)


def parse_source(source: Source, budget: Budget | None = None) -> ast.Policy:
    """Parse ``source``; raises :class:`PolicyError` with every syntax error found.

    ``budget`` (:mod:`dsl.limits`) is what is left for the policy this file is
    part of; by default a file has the whole of the limits to itself.
    """
    text = source.text
    refused = not_a_policy(source)
    if refused is not None:
        raise PolicyError([refused])
    _take_tokens(source, budget if budget is not None else Budget())
    if "\x00" in text:
        pos = text.index("\x00")
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        raise PolicyError([Diagnostic("this file contains a NUL byte: it is not a text policy",
                                      Span(line, col, line, col + 1, pos, pos + 1), source, code=NOT_A_POLICY)])
    comments: list[ast.Comment] = []
    builder = _ToAst(source)
    errors: list[Diagnostic] = []
    last_line = [-1]

    recovery = _Recovery(text)

    def on_error(e: UnexpectedInput) -> bool:
        line = getattr(e, "line", -1)
        if line != last_line[0]:
            errors.append(_syntax_diagnostic(e, source))
            last_line[0] = line
        if len(errors) >= MAX_SYNTAX_ERRORS or isinstance(e, UnexpectedEOF) or \
                (isinstance(e, UnexpectedToken) and e.token.type == "$END"):
            return False
        return recovery.resynchronise(e)

    tree = None
    parser = _lark()
    try:
        tree = parser.parse(text, on_error=on_error)
    except UnexpectedInput as e:
        if not errors or getattr(e, "line", -1) != last_line[0]:
            errors.append(_syntax_diagnostic(e, source))
    except RecursionError:
        errors.append(Diagnostic("this policy is nested too deeply to read", Span(1, 1, 1, 1), source,
                                 code=NESTED_TOO_DEEPLY))
    if errors:
        raise PolicyError(errors)
    policy, tree_depth = _build(builder, tree)
    problems = builder.problems
    if tree_depth > MAX_DEPTH:  # only then can the AST be too deep: measure it exactly
        problems = problems + _depth_check(policy, source)
    if problems:
        raise PolicyError(problems)
    # strings are matched too, so that a `#` inside "..." (even after an escaped
    # quote) is not taken for a comment; lines are counted as the scan goes (counting
    # from the top for each comment made a file of comments quadratic)
    line, counted = 1, 0
    for m in _STRING_OR_COMMENT.finditer(text):
        if m.group(0).startswith('"'):
            continue
        start = m.start()
        line += text.count("\n", counted, start)
        counted = start
        line_start = text.rfind("\n", 0, start) + 1
        before = text[line_start:start]
        comments.append(ast.Comment(m.group(0), line, not before.strip()))
    return attrs.evolve(policy, comments=tuple(comments))
