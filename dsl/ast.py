"""The policy AST: frozen attrs classes, one per construct of the language.

Every node has a ``span`` (where it came from). Spans are excluded from
equality, so ``parse(fmt(p)) == p`` compares meaning, not layout
(Catala's ``Mark.compare``).
"""
from __future__ import annotations

import datetime as _dt
import functools
from decimal import Decimal

import attrs

from .source import Span
from .types import Type

#: a span field that does not take part in equality or hashing
_span = lambda: attrs.field(default=None, eq=False, repr=False)  # noqa: E731
#: the checker's answer for a node (its type; for a name, what it refers to): not written in the
#: source, so not given to the constructor, not compared, not shown, and never a child node
_checked = lambda: attrs.field(default=None, eq=False, repr=False, init=False,  # noqa: E731
                               metadata={"checked": True})


def node(cls):
    return attrs.frozen(cls)


# --- expressions --------------------------------------------------------------


class Expr:
    """Base class of expressions."""


@node
class Number(Expr):
    """A number literal: ``12``, ``0.25``, ``1_000_000``."""
    value: Decimal
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Percent(Expr):
    """``50%``; ``value`` is the fraction (``Decimal("0.5")``), ``text`` the literal."""
    value: Decimal
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Money(Expr):
    """``200_000 EUR``."""
    amount: Decimal
    currency: str
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Duration(Expr):
    """``3 years``, ``30 days``, ``6 months``."""
    amount: int
    unit: str  # "days" | "months" | "years"
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class String(Expr):
    value: str
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class DateLit(Expr):
    value: _dt.date
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class DateTimeLit(Expr):
    value: _dt.datetime
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Bool(Expr):
    value: bool
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Name(Expr):
    """A bare name: an input field, a ``let``, a bound item variable."""
    id: str
    span: Span | None = _span()
    checked_type: Type | None = _checked()
    #: what the name refers to, ``(kind, name)``: set by the checker (see ``CheckedPolicy.ref_of``)
    ref: tuple[str, str] | None = _checked()


@node
class Attr(Expr):
    """``obj.name``: a record field."""
    obj: Expr
    name: str
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class ScoreRef(Expr):
    """``score`` inside ranking keys and reserves."""
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Call(Expr):
    """A function call: built-ins (``min``, ``round``, ``years_between``…) or a
    ``let`` with parameters."""
    func: str
    args: tuple[Expr, ...]
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Aggregate(Expr):
    """An aggregate over a list.

    ``count(L)``; ``count(f in L where c)``; ``sum(f.x for f in L where c)``;
    ``median(project.marks)``. ``var`` is the item variable (None when the list
    is used directly), ``value`` the per-item value, ``where`` the filter.
    """
    func: str
    source: Expr
    var: str | None = None
    value: Expr | None = None
    where: Expr | None = None
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Quantified(Expr):
    """``all f in L: cond`` (also ``any``, ``none``)."""
    kind: str
    var: str
    source: Expr
    cond: Expr
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class SetLit(Expr):
    """``{"A", "K"}``, for ``x in {...}``."""
    items: tuple[Expr, ...]
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class If(Expr):
    cond: Expr
    then: Expr
    else_: Expr
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Unary(Expr):
    """``not x`` (op ``"not"``) or ``-x`` (op ``"-"``)."""
    op: str
    operand: Expr
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Binary(Expr):
    """Arithmetic (``+ - * /``), comparison (``>= <= == != > <``), logic
    (``and or``), membership (``in``, ``not in``) and ``of`` (percent of)."""
    op: str
    left: Expr
    right: Expr
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class Between(Expr):
    """``x between low and high`` (both ends included)."""
    value: Expr
    low: Expr
    high: Expr
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class IsMissing(Expr):
    """``x is missing`` / ``x is present`` (``negate=True``)."""
    operand: Expr
    negate: bool = False
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class DatedEntry:
    """``from 2014-01-01 -> 200_000 EUR cites "Reg. (UE) 1407/2013"``: a value in force from ``start``."""
    start: _dt.date
    value: Expr
    cites: tuple = ()
    span: Span | None = _span()


@node
class Dated(Expr):
    """``dated { from … -> … }``: a parameter whose value changes by date (the value of a ``let``)."""
    entries: tuple[DatedEntry, ...]
    span: Span | None = _span()
    checked_type: Type | None = _checked()


@node
class At(Expr):
    """``de_minimis_ceiling at call.decision``: the value of a dated parameter in force on a date."""
    param: Expr
    when: Expr
    span: Span | None = _span()
    checked_type: Type | None = _checked()


# --- types --------------------------------------------------------------------


class TypeExpr:
    """Base class of written types."""


@node
class BaseType(TypeExpr):
    """``int``, ``money``, ``decimal in 0..5 step 0.5``, ``int in {0, 3, 7}``…"""
    name: str
    low: Decimal | None = None
    high: Decimal | None = None
    step: Decimal | None = None
    span: Span | None = _span()
    # a number set: the listed values as written (Number or Money, negative values included)
    values: tuple[Expr, ...] | None = None
    # the set was written `one of {0, 5}` (the checker warns and suggests `int in {...}`)
    as_one_of: bool = False


@node
class EnumType(TypeExpr):
    """``one of {"rete-soggetto", "rete-contratto"}``."""
    options: tuple[str, ...]
    span: Span | None = _span()


@node
class ListType(TypeExpr):
    item: TypeExpr
    span: Span | None = _span()


@node
class RecordType(TypeExpr):
    """An inline ``record { ... }``."""
    fields: tuple["Field", ...]
    span: Span | None = _span()


@node
class TypeRef(TypeExpr):
    """A named record type: ``Firm``."""
    name: str
    span: Span | None = _span()


# --- declarations ---------------------------------------------------------------


@node
class Label:
    """A human label: ``"Almeno 5 imprese" en "At least 5 firms"``.

    ``text`` is in the policy's language; ``translations`` are (lang, text).
    """
    text: str
    translations: tuple[tuple[str, str], ...] = ()
    span: Span | None = _span()

    def get(self, lang: str, default_lang: str) -> str:
        if lang == default_lang:
            return self.text
        for code, text in self.translations:
            if code == lang:
                return text
        return self.text


@node
class Citation(Label):
    """``cites "Art. 4, c. 2" en "Art. 4(2)"``: the article of the call, or the law, a rule comes from.

    Written and translated like a :class:`Label`; explanations and letters quote it
    (L. 241/1990, art. 3: a decision states its legal grounds).
    """


def citation_of(node) -> "Citation | None":
    """The citation of a rule (its first: a second one is an error the checker reports), or None."""
    cites = getattr(node, "cites", ())
    return cites[0] if cites else None


@node
class Field:
    """``employees "Addetti": int in 0..100000 optional = 0``."""
    name: str
    type: TypeExpr
    label: Label | None = None
    optional: bool = False
    default: Expr | None = None
    span: Span | None = _span()


class Item:
    """Base class of top-level items."""


@node
class CallItem:
    key: str
    value: Expr
    span: Span | None = _span()


@node
class CallDef(Item):
    """``call "Name" version "1" { authority "..." ... }``."""
    name: str
    version: str
    items: tuple[CallItem, ...]
    span: Span | None = _span()


@node
class Parameters(Item):
    """``parameters { action "Tipo di azione": one of {"IA", "RIA"} = "RIA" }``: values fixed for a
    whole run (a call edition, a topic type), read as ``param.action``."""
    fields: tuple[Field, ...]
    span: Span | None = _span()


@node
class Use(Item):
    """``use "common/eu.bando"``: shared definitions."""
    path: str
    span: Span | None = _span()


@node
class RecordDef(Item):
    name: str
    fields: tuple[Field, ...]
    label: Label | None = None
    span: Span | None = _span()


@node
class InputDef(Item):
    fields: tuple[Field, ...]
    span: Span | None = _span()


@node
class Param:
    name: str
    type: TypeExpr
    span: Span | None = _span()


@node
class LetDef(Item):
    """``let members "imprese in rete" = count(network.firms)``; with params a function."""
    name: str
    expr: Expr
    params: tuple[Param, ...] | None = None
    label: Label | None = None
    cites: tuple[Citation, ...] = ()
    span: Span | None = _span()


@node
class Rounding:
    """``rounded down to 1 EUR``."""
    mode: str  # down | up | nearest
    unit: Expr
    span: Span | None = _span()


@node
class Decl(Item):
    """An output of the call: ``grant = ...``, ``requested = ...``, ``applicant = ...``, ``submitted = ...``
    (the four with a fixed meaning), or a named one, ``output category "Categoria" = ...`` (``named``),
    for every item of a list when ``var`` and ``source`` are set (``output share ... for f in network.firms``)."""
    name: str
    expr: Expr
    rounding: Rounding | None = None
    label: Label | None = None
    var: str | None = None
    source: Expr | None = None
    named: bool = False
    cites: tuple[Citation, ...] = ()
    span: Span | None = _span()


@node
class Gate:
    id: str
    cond: Expr
    label: Label | None = None
    cites: tuple[Citation, ...] = ()
    span: Span | None = _span()


@node
class CrossGate:
    """``gate one_network "…": unique f.vat for f in network.firms among applications earlier by submitted_at``.

    Decided over every application of a batch, never for one alone: a later application (by
    ``order``; None is the order of the input) sharing a key with an earlier one fails it."""
    id: str
    key: Expr
    var: str
    source: Expr
    order: Expr | None = None
    label: Label | None = None
    cites: tuple = ()  # Citation, as on a Gate
    span: Span | None = _span()


@node
class Eligibility(Item):
    gates: tuple  # Gate | CrossGate, in source order
    span: Span | None = _span()


@node
class Tier:
    """``cond -> points``; ``cond`` is None for ``otherwise``."""
    cond: Expr | None
    points: Expr
    span: Span | None = _span()


@node
class Criterion:
    """A scored criterion. Exactly one of ``formula``, ``tiers``, ``subs`` is set."""
    id: str
    max: Decimal
    label: Label | None = None
    minimum: Decimal | None = None
    weight: Decimal | None = None
    ranking_weight: Decimal | None = None
    #: the condition on the call's parameters under which ``weight`` / ``ranking_weight`` hold (None: always)
    weight_if: Expr | None = None
    ranking_weight_if: Expr | None = None
    formula: Expr | None = None
    tiers: tuple[Tier, ...] | None = None
    subs: tuple["Criterion", ...] | None = None
    sub: bool = False
    cites: tuple[Citation, ...] = ()
    span: Span | None = _span()
    #: ``criterion`` (or a ``sub`` part), or a premium ``bonus`` / penalty ``malus`` of the score block
    kind: str = "criterion"
    #: a bonus or malus: ``after`` (added only once the criteria reach the pass mark) or ``before`` (counted
    #: before the pass mark is judged); None for a criterion
    stage: str | None = None


@node
class ScoreDef(Item):
    max: Decimal
    pass_: Decimal
    criteria: tuple[Criterion, ...]
    including_ineligible: bool = False
    span: Span | None = _span()
    #: the ``bonus`` / ``malus`` lines after the criteria (Criterion nodes with ``kind`` bonus or malus)
    bonuses: tuple[Criterion, ...] = ()


@node
class OrderKey:
    expr: Expr
    descending: bool = False
    explicit: bool = False  # written with asc/desc (kept for the formatter)
    span: Span | None = _span()


@node
class Order:
    keys: tuple[OrderKey, ...]
    span: Span | None = _span()


@node
class Sportello:
    """``first come first served by submitted``."""
    by: Expr
    span: Span | None = _span()


@node
class Shortfall:
    """What the last application that does not fit gets: partial | skip | stop."""
    mode: str
    span: Span | None = _span()


@node
class Reserve:
    """``reserve 30% "Reti artigiane" for network.artisan``."""
    share: Expr
    label: Label
    cond: Expr
    cites: tuple[Citation, ...] = ()
    span: Span | None = _span()


@node
class Ties:
    """What happens to applications tied at the funding line (``ties share equally``…).

    ``rule`` is one of :data:`TIE_RULES`; ``margin`` (money or percent of the
    budget) goes with ``fund_all``, ``seed`` with ``draw``.
    """
    rule: str
    margin: Expr | None = None
    seed: int | None = None
    cites: tuple[Citation, ...] = ()
    span: Span | None = _span()


#: tie rules: their words in a policy, and the rule they name
TIE_RULES = {
    ("office", "decides"): "office",
    ("share", "equally"): "equal",
    ("share", "pro", "rata"): "pro_rata",
    ("draw",): "draw",
    ("fund", "all"): "fund_all",
}
TIE_WORDS = {rule: " ".join(words) for words, rule in TIE_RULES.items()}


@node
class Unique:
    """``unique f.vat for f in network.firms keep earliest submitted``."""
    key: Expr
    var: str
    source: Expr
    keep: str  # earliest | latest | best
    by: Expr | None = None
    cites: tuple[Citation, ...] = ()
    span: Span | None = _span()


@node
class Ranking(Item):
    items: tuple = ()
    span: Span | None = _span()


#: how a panel's individual marks become one: its words in a policy, in the order docs/language.md lists them
COMBINE_RULES = ("mean", "median", "trimmed mean", "consensus")


@node
class PanelRule:
    """One rule of the evaluation panel, or of one of its marks.

    ``kind`` is ``scale`` (``value`` is ``(low, high, step or None)``), ``evaluators`` (the
    least number of marks an application needs, an int), ``combine`` (one of
    :data:`COMBINE_RULES`) or ``spread`` (the widest gap between the highest and the lowest
    mark the panel accepts without a consensus meeting, a Decimal).
    """
    kind: str
    value: object
    span: Span | None = _span()


@node
class PanelMark:
    """``mark quality "Qualità del piano" combine median``: one mark the panel gives each application."""
    id: str
    label: Label | None = None
    rules: tuple[PanelRule, ...] = ()
    span: Span | None = _span()


@node
class Panel(Item):
    """The evaluation panel: its rules for every mark, then its marks. Its marks arrive as a sheet
    of their own (:mod:`engine.score.marks_io`); a policy read them as ``marks.<id>``, each the
    combined mark of one application."""
    label: Label | None
    rules: tuple[PanelRule, ...] = ()
    marks: tuple[PanelMark, ...] = ()
    span: Span | None = _span()


@node
class Expectation:
    """One expected fact of an example case: ``kind`` is score|grant|failing|points."""
    kind: str
    value: object
    span: Span | None = _span()


@node
class Case:
    file: str
    status: str
    expectations: tuple[Expectation, ...] = ()
    #: ``with action = "IA"``: (parameter, value expression) pairs the case is evaluated with
    params: tuple[tuple[str, Expr], ...] = ()
    span: Span | None = _span()


@node
class Examples(Item):
    cases: tuple[Case, ...]
    span: Span | None = _span()


@node
class Comment:
    text: str
    line: int
    own_line: bool


@node
class Policy:
    """A whole file: its items in source order (and, outside equality, its comments)."""
    items: tuple[Item, ...]
    comments: tuple[Comment, ...] = attrs.field(default=(), eq=False, repr=False)
    span: Span | None = _span()

    def of_type(self, cls):
        return [i for i in self.items if isinstance(i, cls)]


@functools.cache
def _fields_of(cls) -> tuple[str, ...] | None:
    """The fields of an attrs class that may hold child nodes (not its span nor the checker's answer); None
    for other types.

    Asked once per class: `attrs.fields` on every visit made walking the AST the
    slowest part of compiling a large policy.
    """
    if not attrs.has(cls):
        return None
    return tuple(f.name for f in attrs.fields(cls) if f.name != "span" and not f.metadata.get("checked"))


def child_fields(cls) -> tuple[str, ...] | None:
    """The names of the fields of node class ``cls`` that may hold child nodes (None: not a node)."""
    return _fields_of(cls)


def children(n):
    """Direct child nodes of ``n`` (for generic walks)."""
    names = _fields_of(type(n))
    if names is None:
        return
    for name in names:
        v = getattr(n, name)
        if isinstance(v, tuple):
            for x in v:
                if _fields_of(type(x)) is not None:
                    yield x
        elif _fields_of(type(v)) is not None:
            yield v


def walk(n):
    """All nodes under ``n``, parents first (iterative: deep nesting is fine)."""
    stack = [n]
    while stack:
        x = stack.pop()
        yield x
        stack.extend(reversed(list(children(x))))
