"""Name resolution and type checking.

``check(policy, source)`` walks the AST once, infers a :class:`~dsl.types.Type`
for every expression and collects *all* problems (not just the first):
undefined names with a did-you-mean, type mismatches with the types of both
sides, duplicate ids, ``let`` cycles, unreachable tiers, points above a
criterion's maximum, maxima that do not add up, unused inputs (warnings).

The result, a :class:`CheckedPolicy`, is what the compiler consumes. The
inferred types and what every name refers to are written on the nodes
themselves (``checked_type``, and ``ref`` on names: fields outside equality),
and asked for through ``type_of``/``ref_of``, so the compiler never has to
guess; ``let_deps`` says what each ``let`` reads.
"""
from __future__ import annotations

import datetime as _dt
import difflib
import functools
import re
import zoneinfo
from decimal import Decimal

import attrs

from . import ast, numbers, ranges
from . import params as _params
from .errors import NESTED_TOO_DEEPLY, Diagnostic
from .literals import literal_value
from .source import Source
from .types import (ANY, BOOL, DATE, DATETIME, DECIMAL, DURATION, INT, PERCENT, TEXT,
                    FieldInfo, RecordInfo, Type, money, unify)

CALL_KEYS = {
    "authority": "text", "language": "name", "opens": "date", "closes": "date", "budget": "money",
    "currency": "name", "reference": "text", "signatory": "text", "appeal_days": "int",
    "appeal_body": "text", "contact": "text", "decision": "date", "place": "text",
    "title_en": "text", "title_it": "text", "acceptance_days": "int",
    "templates": "text", "timezone": "zone",
}
#: the time zone of a call that does not state one: naive datetimes are read in it, and datetimes with a
#: UTC offset are converted to it (docs/language.md, "The call header")
DEFAULT_TIMEZONE = "Europe/Rome"
#: the longest duration a policy may write: no date plus more stays a date (years 1..9999)
MAX_DURATION = {"days": 3_660_000, "months": 120_000, "years": 10_000}
#: "did you mean" hints compare a name with every candidate; past this many comparisons in one
#: check (a policy with thousands of unknown names made checking quadratic) the hints stop, the errors stay
SUGGEST_BUDGET = 20_000
#: what an output may be: one value a column, a sentence and a letter can show
OUTPUT_KINDS = ("text", "enum", "int", "decimal", "percent", "money", "bool", "date", "datetime", "any")
DECL_TYPES = {"grant": "money", "requested": "money", "applicant": "text", "submitted": "date"}
STATUSES = ("ineligible", "below_threshold", "admitted", "funded", "not_funded", "invalid",
            "awaiting_evaluation", "needs_consensus", "evaluation_invalid")
#: built-in functions: name -> (min args, max args)
BUILTINS = {
    "round": (1, 2), "floor": (1, 1), "ceil": (1, 1), "abs": (1, 1),
    "days_between": (2, 2), "months_between": (2, 2), "years_between": (2, 2),
    "year": (1, 1), "date_of": (1, 1),
    "starts_with": (2, 2), "ends_with": (2, 2), "contains": (2, 2), "length": (1, 1),
    "lower": (1, 1), "upper": (1, 1), "min": (2, 99), "max": (2, 99), "points": (1, 1),
}
COMPARE = (">=", "<=", ">", "<", "==", "!=")
#: words that always read as part of the language inside an expression, so a
#: `let` or parameter with this name could never be used
# what `count distinct(...)` can count: values with an equality of their own (not lists or records)
DISTINCT_KINDS = ("text", "enum", "int", "decimal", "percent", "money", "bool", "date", "datetime", "any")
RESERVED = frozenset({"score", "not", "if", "all", "any", "none", "true", "false", "count",
                      "share", "sum", "average", "mean", "median", "spread", "lowest", "highest"})


@attrs.frozen
class DatedTable:
    """A dated parameter as checked: its ``let``, the date each value comes into force, the values' type."""

    let: ast.LetDef
    starts: tuple
    type: Type

    def entry(self, day):
        """The entry in force on ``day`` (a date), or None before the first one."""
        found = None
        for start, x in zip(self.starts, self.let.expr.entries):
            if start <= day:
                found = x
        return found


@attrs.define
class CheckedPolicy:
    """A policy whose names are resolved and whose expressions are typed."""

    policy: ast.Policy
    source: Source
    diagnostics: list = attrs.Factory(list)
    header: dict = attrs.Factory(dict)
    call: ast.CallDef | None = None
    language: str = "it"
    currency: str = "EUR"
    timezone: str = DEFAULT_TIMEZONE
    records: dict = attrs.Factory(dict)
    input: RecordInfo | None = None
    lets: dict = attrs.Factory(dict)
    funcs: dict = attrs.Factory(dict)
    #: dated parameters (``let x = dated { from … -> … }``): name -> LetDef; not values, so not in ``lets``
    dated: dict = attrs.Factory(dict)
    #: dated parameter -> :class:`DatedTable`, its entries checked and in force order
    dated_tables: dict = attrs.Factory(dict)
    let_types: dict = attrs.Factory(dict)
    #: let name -> :class:`Reads`, what its expression reads (directly; a function reads only its parameters)
    let_deps: dict = attrs.Factory(dict)
    gates: list = attrs.Factory(list)
    cross_gates: list = attrs.Factory(list)  # ast.CrossGate: decided across the applications of a batch
    score: ast.ScoreDef | None = None
    criteria: list = attrs.Factory(list)  # top-level criteria
    #: the score block's `bonus` / `malus` lines (Criterion nodes, ``kind`` bonus or malus), in source order
    bonuses: list = attrs.Factory(list)
    decls: dict = attrs.Factory(dict)
    #: the named outputs (``output category "Categoria" = ...``): name -> ast.Decl, in source order
    outputs: dict = attrs.Factory(dict)
    ranking: ast.Ranking | None = None
    cases: list = attrs.Factory(list)
    #: the evaluation panel (``panel { ... }``) and, for each of its marks, its rules in force (:class:`MarkRules`)
    panel: ast.Panel | None = None
    marks: dict = attrs.Factory(dict)
    #: the lets that read the panel's marks, directly or through other lets
    marks_lets: frozenset = frozenset()
    modules: list = attrs.Factory(list)  # (Source, ast.Policy) of `use`d files
    #: the call's parameters (``parameters { ... }``), read as ``param.x``; None when it declares none
    parameters: RecordInfo | None = None

    @property
    def errors(self):
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def scored(self) -> list:
        """The rules that give points, in the order of the points tuple: the criteria, then the bonuses."""
        return self.criteria + self.bonuses

    @property
    def warnings(self):
        return [d for d in self.diagnostics if d.severity == "warning"]

    # The checker's answers live on the nodes themselves (``checked_type``, and ``ref`` on names:
    # fields outside equality, set by the checker); these accessors are how everyone asks for them.
    def type_of(self, expr) -> Type:
        """The checked type of an expression (ANY where the checker could not type it)."""
        t = getattr(expr, "checked_type", None)
        return ANY if t is None else t

    def ref_of(self, name) -> tuple:
        """What a ``Name`` refers to: ``(kind, name)`` with kind one of ``input``, ``let``, ``var``,
        ``param``, ``call``, ``result``; ``(None, name)`` when it was not resolved."""
        ref = getattr(name, "ref", None)
        return (None, getattr(name, "id", None)) if ref is None else ref

    def kind_of(self, name) -> str | None:
        """The kind of what a ``Name`` refers to (see :meth:`ref_of`), None for any other node."""
        return self.ref_of(name)[0] if isinstance(name, ast.Name) else None

    def resolve(self, name, kind: str, target: str) -> None:
        """Record what a ``Name`` refers to (the checker, and the ranking for its own names)."""
        object.__setattr__(name, "ref", (kind, target))  # frozen node; `ref` is outside equality

    def let_order(self, names=None) -> list[str]:
        """``names`` (default: every let, in source order) and the lets they read, transitively, each
        one after the lets it reads: an order to compute them in. A cycle (an error the checker
        reported) is cut where it closes."""
        order: list[str] = []
        seen: set[str] = set()

        def reads(name):
            deps = self.let_deps.get(name)
            return iter(deps.lets if deps is not None else ())

        for root in (self.lets if names is None else names):
            if root in seen or root not in self.lets:
                continue
            seen.add(root)
            stack = [(root, reads(root))]
            while stack:  # depth first without recursion: a chain of thousands of lets is fine
                name, deps = stack[-1]
                dep = next(deps, None)
                if dep is None:
                    stack.pop()
                    order.append(name)
                elif dep in self.lets and dep not in seen:
                    seen.add(dep)
                    stack.append((dep, reads(dep)))
        return order


#: the input field through which a policy reads its panel's combined marks (``marks.quality``)
MARKS_FIELD = "marks"
#: what a panel's rule is when neither the panel nor the mark says (docs/language.md, "The evaluation panel")
PANEL_DEFAULTS = {"evaluators": 1, "combine": "mean", "spread": None}


@attrs.frozen
class MarkRules:
    """One mark of the panel with the rules in force for it: its own, else the panel's, else the defaults.

    ``evaluators`` is the least number of marks (conflicted evaluators' excluded) an application
    needs; ``spread`` the widest gap between its highest and lowest mark that needs no consensus
    meeting (None: any gap); ``combine`` one of :data:`dsl.ast.COMBINE_RULES`.
    """

    id: str
    label: ast.Label | None
    low: Decimal
    high: Decimal
    step: Decimal | None
    evaluators: int
    combine: str
    spread: Decimal | None
    node: ast.PanelMark = attrs.field(eq=False, default=None)


@attrs.frozen
class Reads:
    """What a ``let`` reads: the lets and the input fields it names, in the order they first appear."""

    lets: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()


class _Scope:
    """Bound item variables and function parameters (innermost last)."""

    def __init__(self, parent=None, names=None):
        self.parent = parent
        self.names = dict(names or {})

    def lookup(self, name):
        s = self
        while s is not None:
            if name in s.names:
                return s.names[name]
            s = s.parent
        return None

    def all(self):
        out, s = {}, self
        while s is not None:
            for k, v in s.names.items():
                out.setdefault(k, v)
            s = s.parent
        return out


class Checker:
    def __init__(self, cp: CheckedPolicy, languages=("it", "en"), template_words=frozenset()):
        self.cp = cp
        self.languages = tuple(languages)
        #: the words of the policy's letter templates: a let named there is used (by the letters)
        self.template_words = frozenset(template_words)
        self.source = cp.source
        self._let_stack: list[str] = []
        #: for each let being typed (innermost last), the (kind, name) it reads, in order (a dict as an ordered set)
        self._reads: list[dict] = []
        self._used_fields: set = set()  # (id(RecordInfo), field name)
        self._context = None  # "ranking" enables score/points()
        self._module = False
        self._suggest_left = SUGGEST_BUDGET

    # --- reporting -----------------------------------------------------------------
    # every problem has its stable code (docs/diagnostics.md lists each with an example and the fix)
    def error(self, code, message, node=None, hint=None, notes=(), source=None, span=None):
        self.cp.diagnostics.append(Diagnostic(
            message, span if span is not None else getattr(node, "span", None),
            source or self._source_of(node), hint=hint, notes=tuple(notes), code=code))

    def warn(self, code, message, node=None, hint=None, source=None):
        self.cp.diagnostics.append(Diagnostic(message, getattr(node, "span", None),
                                              source or self._source_of(node), severity="warning", hint=hint,
                                              code=code))

    def _source_of(self, node):
        return self._node_sources.get(id(node), self.source) if node is not None else self.source

    # --- entry -----------------------------------------------------------------------
    def run(self):
        cp = self.cp
        self._node_sources = {}
        items = []
        for src, mod in cp.modules:
            for it in mod.items:
                if not isinstance(it, (ast.RecordDef, ast.LetDef, ast.Use)):
                    self.error("E101", "a shared module may only contain `record`, `let` and `use`", it, source=src)
                    continue
                items.append(it)
                for n in ast.walk(it):
                    self._node_sources[id(n)] = src
        items.extend(cp.policy.items)

        if not self._check_numbers(items):
            return cp  # the other checks compute with the numbers: int() of a 5000-digit one raises
        self._collect(items)
        self._param_keys: dict = {}  # header entry -> the type of the parameter that gives it
        self._param_header: list = []  # header entries whose value is a parameter: checked once its type is known
        self._used_params: set = set()
        self._check_header()
        self._check_parameters()
        for rec in list(cp.records.values()):
            self._resolve_record(rec)
        self._check_record_cycles()
        if cp.input is not None:
            self._resolve_record(cp.input)
        self._check_panel()
        self._check_citations(items)
        for name, let in cp.dated.items():
            self._check_dated(let)
        for name, let in cp.lets.items():
            self._let_type(name)
        for name, fn in cp.funcs.items():
            scope = self._function_scope(fn)
            cp.let_types[name] = self.infer(fn.expr, scope)
        self._check_gates()
        self._check_panel_stages()
        self._check_score()
        self._check_decls()
        self._check_outputs()
        self._check_ranking()
        self._check_cases()
        self._check_unused()
        self._check_unused_lets()
        return cp

    def _collect(self, items):
        cp = self.cp
        seen_lets: dict[str, object] = {}
        for it in items:
            if isinstance(it, ast.CallDef):
                if cp.call is not None:
                    self.error("E102", "the `call` header is given twice", it)
                cp.call = it
            elif isinstance(it, ast.RecordDef):
                if it.name in cp.records:
                    self.error("E103", f"record `{it.name}` is defined twice", it)
                    continue
                cp.records[it.name] = RecordInfo(it.name, {}, it)
            elif isinstance(it, ast.InputDef):
                if cp.input is not None:
                    self.error("E102", "the `input` block is given twice; put all fields in one block", it)
                    continue
                cp.input = RecordInfo(None, {}, it)
            elif isinstance(it, ast.LetDef):
                if it.name in seen_lets:
                    self.error("E103", f"`{it.name}` is defined twice", it,
                               notes=[f"first defined at line {seen_lets[it.name].span.line}"]
                               if seen_lets[it.name].span else [])
                    continue
                if it.name in BUILTINS:
                    self.error("E104", f"`{it.name}` is a built-in function and cannot be redefined", it)
                    continue
                if it.name in RESERVED:
                    self.error("E105", f"`{it.name}` is a word of the language and cannot be used as a name", it,
                               hint="choose another name")
                    continue
                for prm in it.params or ():
                    if prm.name in RESERVED:
                        self.error("E105", f"`{prm.name}` is a word of the language and cannot be used as a name", prm,
                                   hint="choose another name")
                seen_lets[it.name] = it
                if isinstance(it.expr, ast.Dated) and it.params is None:
                    cp.dated[it.name] = it
                else:
                    (cp.funcs if it.params is not None else cp.lets)[it.name] = it
            elif isinstance(it, ast.Eligibility):
                # a gate across applications is decided by the batch (engine/score/cross.py), not by the
                # compiled rules of one application: it is kept apart from the others
                cp.gates.extend(g for g in it.gates if not isinstance(g, ast.CrossGate))
                cp.cross_gates.extend(g for g in it.gates if isinstance(g, ast.CrossGate))
            elif isinstance(it, ast.ScoreDef):
                if cp.score is not None:
                    self.error("E102", "the `score` block is given twice", it)
                    continue
                cp.score = it
                cp.criteria = list(it.criteria)
                cp.bonuses = list(it.bonuses)
            elif isinstance(it, ast.Decl) and it.named:
                if it.name in cp.outputs:
                    first = cp.outputs[it.name]
                    self.error("E320", f"output `{it.name}` is declared twice", it,
                               notes=[f"first declared at line {first.span.line}"] if first.span else [],
                               hint="give each output its own name")
                    continue
                cp.outputs[it.name] = it
            elif isinstance(it, ast.Decl):
                if it.name in cp.decls:
                    self.error("E103", f"`{it.name}` is defined twice", it)
                cp.decls[it.name] = it
            elif isinstance(it, ast.Ranking):
                if cp.ranking is not None:
                    self.error("E102", "the `ranking` block is given twice", it)
                cp.ranking = it
            elif isinstance(it, ast.Examples):
                cp.cases.extend(it.cases)
            elif isinstance(it, ast.Parameters):
                if cp.parameters is not None:
                    self.error("E102", "the `parameters` block is given twice; declare every parameter in one block", it)
                    continue
                cp.parameters = RecordInfo(None, {}, it)
            elif isinstance(it, ast.Panel):
                if cp.panel is not None:
                    self.error("E801", "the `panel` block is given twice; declare every mark in one block", it)
                    continue
                cp.panel = it
        if cp.call is None and cp.policy.items and \
                all(isinstance(it, (ast.RecordDef, ast.LetDef, ast.Use)) for it in cp.policy.items):
            self._module = True  # a shared module (`use "common/eu.bando"`): no header expected
        elif cp.call is None:
            empty = not cp.policy.items and not cp.modules
            self.error("E106", "this file is empty: a policy starts with a `call` header" if empty else
                       "the policy has no `call` header", span=None,
                       hint='start the file with: call "Name of the call" version "1" { authority "..." }')

    # --- numbers -----------------------------------------------------------------------
    def _check_numbers(self, items) -> bool:
        """Every number written in the policy (literals, ranges, steps, maxima) within :mod:`dsl.numbers`:
        the engine's 28-digit arithmetic holds it exactly. False if one is absurd (more than a hundred
        digits): the other checks would not survive computing with it."""
        ok = True
        for item in items:
            for n in ast.walk(item):
                if isinstance(n, ast.Duration):
                    if n.amount > MAX_DURATION.get(n.unit, 0):
                        self.error("E107", f"this duration is too long: at most {MAX_DURATION[n.unit]:_} {n.unit}", n,
                                   hint="no date plus a longer duration is still a date (years 1 to 9999)")
                        ok = False
                    continue
                for name in _number_fields(type(n)):
                    v = getattr(n, name)
                    if isinstance(v, Decimal):
                        problem = numbers.number_problem(v)
                        if problem:
                            self._number_error(problem, n)
                            ok = ok and -100 < v.adjusted() < 100 and len(v.as_tuple().digits) < 100
        return ok

    def _number_error(self, problem, node):
        what = {
            numbers.TOO_LARGE: f"this number is too large: numbers in a policy must be below {numbers.LIMIT_TEXT}",
            numbers.TOO_SMALL: f"this number is too small: numbers other than 0 must be at least "
                               f"{numbers.SMALLEST_TEXT}",
            numbers.TOO_MANY_DIGITS: f"this number has more than {numbers.MAX_DIGITS} significant digits",
        }.get(problem, "this is not a number")
        self.error("E108", what, node, hint=f"the engine computes with {numbers.MAX_DIGITS} significant digits; amounts "
                                    f"up to {numbers.LIMIT_TEXT} keep their cents exact")

    def _time_zone(self, v):
        """The IANA name of a `timezone` entry, checked against this machine's time zone database."""
        if not isinstance(v, ast.String):
            self.error("E110", '`timezone` expects a time zone name in quotes, e.g. `timezone "Europe/Rome"`', v)
            return None
        name = v.value
        # a database key, never a path: ZoneInfo() reads the file of that name under the database folder
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}", name):
            self.error("E110", f'"{name}" is not a time zone name: write an IANA name such as "Europe/Rome"', v)
            return None
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            known = zoneinfo.available_timezones()
            if not known:  # no database on this machine: the engine refuses offsets, naive times still work
                self.warn("W101", f'cannot check the time zone "{name}": this machine has no time zone database '
                          f'(install the tzdata package)', v)
                return name
            self.error("E110", f'unknown time zone "{name}"', v,
                       hint=self._suggest(name, sorted(known)) or 'write an IANA name such as "Europe/Rome"')
            return None
        return name

    # --- header ------------------------------------------------------------------------
    def _check_header(self):
        cp = self.cp
        if cp.call is None:
            return
        seen = set()
        for item in cp.call.items:
            if item.key in seen:
                self.error("E111", f"`{item.key}` is given twice in the call header", item)
            seen.add(item.key)
            kind = CALL_KEYS.get(item.key)
            if kind is None:
                self.error("E112", f"unknown call header entry `{item.key}`", item,
                           hint=self._suggest(item.key, CALL_KEYS) or
                           "known entries: " + ", ".join(sorted(CALL_KEYS)))
                continue
            v = item.value
            if _params.param_ref(v) is not None:
                self._param_header.append((item, kind))
                continue
            if kind == "name":
                if not isinstance(v, (ast.Name, ast.String)):
                    self.error("E113", f"`{item.key}` expects a word, e.g. `{item.key} it`", v)
                    continue
                val = v.id if isinstance(v, ast.Name) else v.value
                if item.key == "language" and val not in self.languages:
                    known = ", ".join(f"`{x}`" for x in self.languages)
                    self.error("E114", f"unsupported language `{val}`: expected one that has a message catalogue "
                                       f"({known})", v)
                    continue
                cp.header[item.key] = val
            elif kind == "text":
                if not isinstance(v, ast.String):
                    self.error("E113", f"`{item.key}` expects a text in quotes", v)
                    continue
                cp.header[item.key] = v.value
            elif kind == "int":
                if not isinstance(v, ast.Number) or v.value != v.value.to_integral_value():
                    self.error("E113", f"`{item.key}` expects a whole number", v)
                    continue
                cp.header[item.key] = int(v.value)
            elif kind == "date":
                if isinstance(v, (ast.DateLit, ast.DateTimeLit)):
                    cp.header[item.key] = v.value
                else:
                    self.error("E113", f"`{item.key}` expects a date (2025-06-30) or a date and time (2025-06-30 12:00)", v)
            elif kind == "money":
                if not isinstance(v, ast.Money):
                    self.error("E113", f"`{item.key}` expects an amount with its currency, e.g. `1_000_000 EUR`", v)
                    continue
                cp.header[item.key] = v
            elif kind == "zone":
                zone = self._time_zone(v)
                if zone is not None:
                    cp.header[item.key] = cp.timezone = zone
        cp.language = cp.header.get("language", "it")
        own_title = f"title_{cp.language}"
        if own_title in cp.header:
            # the call's name is its title in its own language: nothing would ever print this entry
            item = next(i for i in cp.call.items if i.key == own_title)
            self.warn("W150", f"`{own_title}` is never used: the call is in `{cp.language}`, and its name "
                              f"is its title in that language", item,
                      hint="write this title as the call's name (the text after `call`); a `title_` entry "
                           "gives the title in another language")
        budget = cp.header.get("budget")
        cp.currency = cp.header.get("currency") or (budget.currency if budget is not None else "EUR")
        if budget is not None and budget.currency != cp.currency:
            self.error("E115", f"the budget is in {budget.currency} but the call's currency is {cp.currency}", budget)
        if budget is not None:
            cp.header["budget"] = budget.amount
        opens, closes = cp.header.get("opens"), cp.header.get("closes")
        if opens is not None and closes is not None and _as_dt(opens) > _as_dt(closes):
            closes_item = next((i for i in cp.call.items if i.key == "closes"), cp.call)
            self.error("E116", f"the call closes ({closes}) before it opens ({opens})", closes_item)

    # --- parameters -------------------------------------------------------------------
    #: the header entries a parameter may give, and the parameter kinds each accepts
    PARAM_HEADER = {"text": ("text", "enum"), "date": ("date", "datetime"), "money": ("money",), "int": ("int",)}

    def _check_parameters(self):
        """The ``parameters`` block: each a single value (no list, record or `optional`: a run is fixed at
        one value), with a valid default; then the header entries that name a parameter."""
        cp = self.cp
        if cp.parameters is not None:
            self._resolve_record(cp.parameters)
            for name, f in cp.parameters.fields.items():
                if name in RESERVED:
                    self.error("E105", f"`{name}` is a word of the language and cannot be used as a name", f.node,
                               hint="choose another name")
                if f.type.kind not in _params.KINDS and f.type.kind != "any":
                    self.error("E420", f"parameter `{name}` is {f.type.describe()}: a parameter holds one value "
                               f"(text, one of a set, a number, an amount, a percentage, a date, true/false)", f.node)
                elif f.optional:
                    self.error("E420", f"parameter `{name}` cannot be optional: a run always has a value for it",
                               f.node, hint="give it a default instead, e.g. `= \"RIA\"`")
        for item, kind in self._param_header:
            t = self._param_type(item.value)
            if t is None:
                continue
            accepted = self.PARAM_HEADER.get(kind)
            if accepted is None:
                self.error("E422", f"`{item.key}` cannot be a parameter: it is fixed when the policy is written",
                           item.value)
            elif t.kind not in accepted:
                self.error("E422", f"`{item.key}` expects {kind}, but `{_expr_text(item.value)}` is {t.describe()}",
                           item.value)
            elif item.key == "budget" and t.currency != cp.currency:
                self.error("E115", f"the budget is in {t.currency} but the call's currency is {cp.currency}", item.value)
            else:
                self._param_keys[item.key] = t

    def _param_type(self, e) -> Type | None:
        """The type of the parameter ``param.x`` names (an error and None when there is none)."""
        cp = self.cp
        name = _params.param_ref(e)
        if cp.parameters is None:
            self.error("E423", f"`{_params.PARAM}.{name}`: this policy declares no parameters", e,
                       hint=f'declare it: `parameters {{ {name} "Label": ... }}`')
            return None
        f = cp.parameters.fields.get(name)
        if f is None:
            self.error("E423", f"unknown parameter `{name}`", e,
                       hint=self._suggest(name, cp.parameters.fields) or
                       "parameters: " + ", ".join(f"`{n}`" for n in cp.parameters.fields))
            return None
        self._used_params.add(name)
        return f.type

    def _check_case_params(self, case):
        """A case's ``with x = value``: known parameters, literal values each parameter accepts, every
        parameter without a default given."""
        cp = self.cp
        fields = cp.parameters.fields if cp.parameters is not None else {}
        given = set()
        for name, value in case.params:
            if name in given:
                self.error("E424", f"parameter `{name}` is given twice in this case", value)
            given.add(name)
            f = fields.get(name)
            if f is None:
                self.error("E423", f"unknown parameter `{name}`" if fields else
                           f"`with {name}`: this policy declares no parameters", value,
                           hint=self._suggest(name, fields) if fields else None)
                continue
            t = self.infer(value, _Scope())
            if not _is_literal(value):
                self.error("E424", f"the value of `{name}` in a case must be a literal (a text, a number, a date…)",
                           value)
            elif not _assignable(t, f.type):
                self.error("E424", f"`{name}` is {f.type.describe()}, but this value is {t.describe()}", value)
            else:
                problem = _params.fit_problem(literal_value(value), f.type)
                if problem:
                    self.error("E424", f"this value of `{name}` does not fit: {problem}", value)
        for name, f in fields.items():
            if f.default is None and name not in given and not any(
                    e.code == "E420" for e in cp.errors):
                self.error("E425", f"parameter `{name}` has no default: this case must give it "
                           f"(`with {name} = ...`)", case)

    # --- schema ---------------------------------------------------------------------
    def _resolve_record(self, rec: RecordInfo):
        node = rec.node
        fields = node.fields
        for f in fields:
            if f.name in rec.fields:
                self.error("E120", f"field `{f.name}` is declared twice", f)
                continue
            t = self._type_of_texpr(f.type, f)
            rec.fields[f.name] = FieldInfo(f.name, t.opt(f.optional and f.default is None), f.optional,
                                           f.default, f.label, f)
            if f.default is not None:
                dt = self.infer(f.default, _Scope())
                if not _assignable(dt, t):
                    self.error("E121", f"the default of `{f.name}` is {dt.describe()}, but the field is {t.describe()}",
                               f.default)
                elif not _is_literal(f.default):
                    self.error("E122", "a default must be a literal value (a number, text, date, true/false)", f.default)
                else:
                    self._check_default(f, t)

    def _check_default(self, f, t: Type):
        """A literal default must be a value the field itself accepts: in its range, on its step, one of its
        options (the engine uses it as if the applicant had written it)."""
        v = literal_value(f.default)
        if t.kind == "enum" and isinstance(v, str) and v not in t.options:
            self.error("E123", f'the default "{v}" of `{f.name}` is not one of its options', f.default,
                       hint="options: " + ", ".join(f'"{o}"' for o in t.options))
        if not isinstance(v, Decimal) or t.low is None:
            return
        if t.values is not None:
            if v not in t.values:
                self.error("E123", f"the default {_fmt(v)} of `{f.name}` is not one of its values", f.default,
                           hint="values: " + ", ".join(_fmt(x) for x in t.values))
            return
        if t.implicit_range:
            if v < t.low:  # (too large for the engine is the constant checks' error)
                self.error("E123", f"the default of `{f.name}` is below 0: an amount with no declared range is 0 or more",
                           f.default, hint="declare the field's range, e.g. `money in -1_000_000..1_000_000`")
        elif not t.low <= v <= t.high:
            self.error("E123", f"the default {_fmt(v)} of `{f.name}` is outside its range {_fmt(t.low)}..{_fmt(t.high)}",
                       f.default)
        elif t.step is not None and (v - t.low) % t.step != 0:
            self.error("E123", f"the default {_fmt(v)} of `{f.name}` is not on its step of {_fmt(t.step)} "
                       f"(from {_fmt(t.low)})", f.default)

    def _check_record_cycles(self):
        """A record may not contain itself, directly, through other records or through lists:
        the application data could never end (and the engine would loop reading it)."""
        def refs(te):  # the named records a written type mentions
            if isinstance(te, ast.TypeRef):
                yield te
            elif isinstance(te, ast.ListType):
                yield from refs(te.item)
            elif isinstance(te, ast.RecordType):
                for f in te.fields:
                    yield from refs(f.type)

        records = self.cp.records
        graph = {name: [r for f in rec.node.fields for r in refs(f.type) if r.name in records]
                 for name, rec in records.items()}
        reported = set()
        for start in graph:
            stack = [(start, iter(graph[start]))]
            path = [start]
            while stack:
                name, it = stack[-1]
                ref = next(it, None)
                if ref is None:
                    stack.pop()
                    path.pop()
                    continue
                if ref.name == start:
                    cycle = frozenset(path)
                    if cycle not in reported:
                        reported.add(cycle)
                        self.error("E124", f"record `{start}` contains itself: {' → '.join(path + [start])}", ref,
                                   hint="a record cannot contain itself, not even through a list; "
                                        "describe the inner part with another record")
                    continue
                if ref.name not in path and len(path) < len(graph):
                    stack.append((ref.name, iter(graph[ref.name])))
                    path.append(ref.name)

    def _number_set(self, te, field) -> Type:
        """The type of a number set `int in {0, 3, 7}` (or `one of {0, 3, 7}`, with its warning)."""
        seen = self.__dict__.setdefault("_sets_seen", set())
        first = id(te) not in seen  # a function's parameter types are read at every call: say it once
        seen.add(id(te))

        def say(code, message, node, hint=None):
            if first:
                self.error(code, message, node, hint=hint)

        currency = self.cp.currency or "EUR"
        kind = te.name
        if te.as_one_of and first:
            listed = ", ".join(_set_value_text(v) for v in te.values)
            self.warn("W104", "`one of {...}` is for texts; these options are numbers", te,
                      hint=f"write `{kind} in {{{listed}}}`")
        if kind not in ("int", "decimal", "percent", "money"):
            say("E132", f"a number set (`in {{...}}`) only applies to numbers and amounts, not to {kind}", te)
            return ANY  # what the designer meant is unknown: the rules using the field are not judged by it
        values = []
        for v in te.values:
            if kind == "money":
                if not isinstance(v, ast.Money):
                    say("E132", "the amounts of a `money` set are written with their currency", v,
                        hint=f"write `{_set_value_text(v)} {currency}`")
                elif v.currency != currency:
                    say("E132", f"{_set_value_text(v)} is in {v.currency}, but the call is in {currency}", v)
            elif isinstance(v, ast.Money):
                say("E132", f"`{kind} in {{...}}` lists numbers, not amounts", v,
                    hint=f"write `money in {{...}}`, or drop `{v.currency}`")
            value = v.amount if isinstance(v, ast.Money) else v.value
            if kind == "int" and value != value.to_integral_value():
                say("E132", f"{_set_value_text(v)} is not a whole number, but the field is `int`", v,
                    hint="write `decimal in {...}` for numbers with decimals")
            if value in values:
                say("E133", f"{_set_value_text(v)} is listed twice in the number set", v, hint="keep one")
            else:
                values.append(value)
        return Type(kind, currency=currency if kind == "money" else None, low=min(values), high=max(values),
                    values=tuple(values))

    def _type_of_texpr(self, te, field) -> Type:
        cp = self.cp
        if isinstance(te, ast.BaseType) and te.values is not None:
            return self._number_set(te, field)
        if isinstance(te, ast.BaseType):
            if te.name == "money":
                if te.low is not None:
                    return Type("money", currency=cp.currency if cp.currency else "EUR", low=te.low, high=te.high)
                if field is not None:
                    # an amount someone types in (a cost, a request): below zero it is a mistake, not a
                    # negative grant to fund; a policy that means otherwise declares its range
                    self.warn("W102", f"`{field.name}` is an amount with no declared range: a negative amount in it "
                              f"will be refused as invalid", te,
                              hint="declare the range, e.g. `money in 0..1_000_000`, or "
                                   "`money in -1_000_000..1_000_000` if the amount can be negative")
                    return Type("money", currency=cp.currency or "EUR", low=Decimal(0), high=None,
                                implicit_range=True)
                return money(cp.currency or "EUR")
            if te.low is not None and te.name not in ("int", "decimal", "percent"):
                self.error("E125", f"a range (`in a..b`) only applies to numbers, not to {te.name}", te)
            if te.step is not None and te.step <= 0:
                self.error("E126", "the step must be greater than zero", te)
            return Type(te.name, low=te.low, high=te.high, step=te.step)
        if isinstance(te, ast.EnumType):
            if len(set(te.options)) != len(te.options):
                self.error("E127", "an option is listed twice", te)
            return Type("enum", options=te.options)
        if isinstance(te, ast.ListType):
            return Type("list", item=self._type_of_texpr(te.item, field))
        if isinstance(te, ast.RecordType):
            rec = RecordInfo(None, {}, te)
            self._resolve_record(rec)
            return Type("record", record=rec)
        if isinstance(te, ast.TypeRef):
            rec = cp.records.get(te.name)
            if rec is None:
                self.error("E128", f"unknown type `{te.name}`", te,
                           hint=self._suggest(te.name, list(cp.records) + ["text", "int", "decimal", "money",
                                                                          "percent", "bool", "date", "datetime"]))
                return ANY
            return Type("record", record=rec)
        return ANY

    # --- lets ---------------------------------------------------------------------------
    def _let_type(self, name) -> Type:
        cp = self.cp
        if name in cp.let_types:
            return cp.let_types[name]
        if name in self._let_stack:
            cycle = self._let_stack[self._let_stack.index(name):] + [name]
            self.error("E130", f"`{name}` depends on itself: {' → '.join(cycle)}", cp.lets[name])
            cp.let_types[name] = ANY
            return ANY
        self._let_stack.append(name)
        self._reads.append({})
        let = cp.lets[name]
        t = self.infer(let.expr, _Scope())
        self._let_stack.pop()
        read = self._reads.pop()
        cp.let_deps[name] = Reads(tuple(n for (k, n) in read if k == "let"),
                                  tuple(n for (k, n) in read if k == "input"))
        cp.let_types.setdefault(name, t)
        return cp.let_types[name]

    # --- citations and dated parameters ----------------------------------------------------
    def _check_citations(self, items):
        """Every ``cites`` says something, and a rule cites once (its translations go in that one)."""
        for it in items:
            for n in ast.walk(it):
                cites = getattr(n, "cites", None)
                if not cites:
                    continue
                for c in cites:
                    if not c.text.strip() or any(not t.strip() for _code, t in c.translations):
                        self.error("E140", "a citation cannot be empty: write the article the rule comes from, "
                                   'e.g. `cites "Art. 4, c. 2"`', c)
                for c in cites[1:]:
                    self.error("E141", "this rule already cites an article: give one `cites` per rule",
                               c, notes=_first_at(cites[0]),
                               hint='cite several articles in one text, e.g. `cites "Art. 4, c. 2 e art. 5"`')

    def _check_dated(self, let):
        """Dates ascending and distinct, every value a literal of one type (E142, E143)."""
        entries = let.expr.entries
        t = None
        for prev, x in zip(entries, entries[1:]):
            if x.start <= prev.start:
                self.error("E142", f"the dates of `{let.name}` must go forward: {x.start.isoformat()} comes after "
                           f"{prev.start.isoformat()}", x, hint="write the values in the order they came into force, "
                           "each from its own date")
        for x in entries:
            vt = self.infer(x.value, _Scope())
            if not _is_literal(x.value):
                self.error("E143", "a dated value is a constant (a number, an amount, a percentage, a date, a text)",
                           x.value)
                continue
            if t is None:
                t = vt
            elif unify(t, vt) is None or (t.kind == "money") != (vt.kind == "money"):
                self.error("E143", f"the values of `{let.name}` differ: {t.describe()} and {vt.describe()}", x.value,
                           hint="every value of a dated parameter has the same type")
        self.cp.dated_tables[let.name] = DatedTable(let, tuple(x.start for x in entries), t or ANY)

    def _infer_at(self, e, scope) -> Type:
        cp = self.cp
        wt = self.infer(e.when, scope)
        if wt.kind not in ("date", "datetime", "any"):
            self.error("E146", f"`at` takes a date, but this is {wt.describe()}", e.when,
                       hint="e.g. `at call.decision` or `at date_of(submitted_at)`")
        if not (isinstance(e.param, ast.Name) and e.param.id in cp.dated):
            before = len(cp.errors)
            self.infer(e.param, scope)  # a name not defined: the usual error with its hint, and no other
            if len(cp.errors) == before:
                self.error("E145", "only a dated parameter (`let x = dated { ... }`) can be read `at` a date",
                           e.param)
            return ANY
        cp.resolve(e.param, "dated", e.param.id)
        table = cp.dated_tables[e.param.id]
        object.__setattr__(e.param, "checked_type", table.type)
        day = const_date(cp, e.when)
        if day is not None and table.entry(day) is None:
            self.error("E147", f"`{e.param.id}` has no value on {day.isoformat()}: its first value is in force "
                       f"from {table.starts[0].isoformat()}", e,
                       hint="add the value in force on that date (`from ... -> ...`) or read it at another date")
        # a date known only per application may come before the first value: the value is then missing
        return table.type.opt(wt.optional or day is None)

    # --- blocks -----------------------------------------------------------------------------
    # --- the evaluation panel ---------------------------------------------------------------
    def _check_panel(self):
        """Resolve each mark's rules and give the policy ``marks.<id>``: an input record of decimals on
        the mark's scale, filled by the engine with each application's combined marks."""
        cp = self.cp
        panel = cp.panel
        if panel is None:
            return
        if cp.input is None:
            self.error("E802", "a policy with a `panel` needs an `input` block: the panel marks applications", panel)
            return
        if MARKS_FIELD in cp.input.fields:
            self.error("E803", f"the input field `{MARKS_FIELD}` clashes with the panel's marks, which the policy "
                       f"reads as `{MARKS_FIELD}.<mark>`", cp.input.fields[MARKS_FIELD].node,
                       hint=f"rename the input field: `{MARKS_FIELD}` is the panel's")
            return
        if not panel.marks:
            self.error("E804", "the panel has no `mark`: declare each mark it gives, e.g. "
                       "`mark quality \"Qualità del progetto\" en \"Quality of the project\"`", panel)
            return
        defaults = self._panel_rules(panel.rules, None)
        fields = []
        for m in panel.marks:
            if m.id in cp.marks:
                self.error("E805", f"mark `{m.id}` is declared twice", m, notes=_first_at(cp.marks[m.id].node))
                continue
            rules = {**defaults, **self._panel_rules(m.rules, m)}
            scale = rules.get("scale")
            if scale is None:
                self.error("E806", f"mark `{m.id}` has no scale: say it for the whole panel or for the mark, "
                           f"e.g. `scale 0..5 step 0.5`", m)
                continue
            low, high, step = scale
            if step is not None and ((high - low) % step != 0 or step <= 0):
                self.error("E807", f"the step {_fmt(step)} does not divide the scale {_fmt(low)}..{_fmt(high)}",
                           self._rule_node(panel, m, "scale"),
                           hint="the highest mark must be reachable from the lowest in whole steps")
                continue
            evaluators = rules.get("evaluators", PANEL_DEFAULTS["evaluators"])
            combine = rules.get("combine", PANEL_DEFAULTS["combine"])
            if combine == "trimmed mean" and evaluators < 3:
                self.error("E808", f"a trimmed mean drops the highest and the lowest mark: mark `{m.id}` needs "
                           f"`evaluators 3` or more, it has {evaluators}", self._rule_node(panel, m, "combine"),
                           hint="write `evaluators 3`, or combine with `median` or `mean`")
                continue
            cp.marks[m.id] = MarkRules(m.id, m.label, low, high, step, evaluators, combine,
                                       rules.get("spread", PANEL_DEFAULTS["spread"]), m)
            fields.append(ast.Field(m.id, ast.BaseType("decimal", low, high, step, span=m.span), m.label,
                                    span=m.span))
        if not fields:
            return
        record = ast.RecordType(tuple(fields), span=panel.span)
        node = ast.Field(MARKS_FIELD, record, panel.label, span=panel.span)
        t = self._type_of_texpr(record, node)
        cp.input.fields[MARKS_FIELD] = FieldInfo(MARKS_FIELD, t, False, None, panel.label, node)

    def _panel_rules(self, rules, mark) -> dict:
        out = {}
        where = f"mark `{mark.id}`" if mark is not None else "the panel"
        for r in rules:
            if r.kind in out:
                self.error("E809", f"`{r.kind}` is given twice for {where}", r)
                continue
            if r.kind == "evaluators":
                if r.value != r.value.to_integral_value() or r.value < 1:
                    self.error("E810", f"`evaluators` expects a whole number of evaluators, 1 or more, not "
                               f"{_fmt(r.value)}", r)
                    continue
                if r.value > 1000:
                    self.error("E810", f"`evaluators {_fmt(r.value)}`: a panel has at most 1000 evaluators", r)
                    continue
                out[r.kind] = int(r.value)
            elif r.kind == "spread":
                if r.value < 0:
                    self.error("E811", "the spread is the gap between the highest and the lowest mark: it cannot "
                               "be negative", r)
                    continue
                out[r.kind] = r.value
            else:
                out[r.kind] = r.value
        return out

    @staticmethod
    def _rule_node(panel, mark, kind):
        for r in (mark.rules if mark is not None else ()) + panel.rules:
            if r.kind == kind:
                return r
        return mark

    def _check_panel_stages(self):
        """Admissibility comes before the panel: no gate may read a mark, directly or through a `let`
        (an application the panel has not marked yet must be found admissible or not)."""
        cp = self.cp
        if not cp.marks:
            return
        reads_marks: set[str] = set()
        for name in cp.let_order():  # each let after the lets it reads
            deps = cp.let_deps.get(name)
            if deps is not None and (MARKS_FIELD in deps.inputs or any(d in reads_marks for d in deps.lets)):
                reads_marks.add(name)
        cp.marks_lets = frozenset(reads_marks)
        for g in cp.gates:
            for n in ast.walk(g.cond):
                if not isinstance(n, ast.Name):
                    continue
                kind, target = cp.ref_of(n)
                if (kind == "input" and target == MARKS_FIELD) or (kind == "let" and target in reads_marks):
                    via = "" if kind == "input" else f" (through `{target}`)"
                    self.error("E812", f"gate `{g.id}` reads the panel's marks{via}: the gates decide admissibility, "
                               f"before the panel marks", n,
                               hint="a condition on the marks is a criterion's `minimum`, or the score's pass mark")
                    break

    def _check_gates(self):
        seen = {}
        for g in sorted(self.cp.gates + self.cp.cross_gates, key=lambda g: g.span.start if g.span else 0):
            if g.id in seen:
                self.error("E103", f"gate `{g.id}` is defined twice", g, notes=_first_at(seen[g.id]),
                           hint="every gate needs its own id")
            seen[g.id] = g
            if isinstance(g, ast.CrossGate):
                self._check_cross_gate(g)
                continue
            t = self.infer(g.cond, _Scope())
            if t.kind not in ("bool", "any"):
                self.error("E201", f"a gate must be a condition (true or false), but this is {t.describe()}", g.cond)

    def _check_cross_gate(self, g):
        """``unique KEY for VAR in LIST among applications earlier by ORDER``."""
        st = self.infer(g.source, _Scope())
        if st.kind not in ("list", "any"):
            self.error("E520", f"gate `{g.id}`: `unique ... for {g.var} in` needs a list, but this is "
                       f"{st.describe()}", g.source, hint="name a list of the application, e.g. `network.firms`")
            st = Type("list", item=ANY)
        kt = self.infer(g.key, _Scope(names={g.var: ("var", st.item or ANY)}))
        if kt.kind not in ("text", "enum", "int", "any"):
            self.error("E521", f"gate `{g.id}`: the key shared between applications should identify something "
                       f"(a text such as a VAT number), not {kt.describe()}", g.key,
                       hint=f"write the field that identifies it, e.g. `{g.var}.vat`")
        if g.order is not None:
            ot = self.infer(g.order, _Scope())
            if ot.kind not in ORDER_KINDS:
                self.error("E522", f"gate `{g.id}`: cannot tell which application is earlier by {ot.describe()}",
                           g.order, hint="a date and time such as `submitted_at`, the `id`, or `input order`")

    def _check_score(self):
        cp = self.cp
        sd = cp.score
        if sd is None:
            return
        if sd.max <= 0:
            self.error("E301", "the maximum score must be greater than zero", sd)
        if sd.pass_ < 0:
            self.error("E302", "the pass mark cannot be negative", sd)
        if sd.pass_ > sd.max:
            self.error("E303", f"the pass mark {sd.pass_} is above the maximum score {sd.max}", sd)
        ids = {}
        total = Decimal(0)
        for c in sd.criteria:
            self._check_criterion(c, ids, top=True)
            total += c.max * (c.weight if c.weight is not None else 1)
        if sd.criteria and total != sd.max:
            parts = " + ".join(f"{c.max}" + (f"×{c.weight}" if c.weight is not None else "") for c in sd.criteria)
            self.error("E304", f"the criteria add up to {_fmt(total)} ({parts}), but the score's maximum is {_fmt(sd.max)}",
                       sd)
        for b in sd.bonuses:
            self._check_bonus(b, ids, sd)

    def _check_bonus(self, b, ids, sd):
        """A bonus or malus: a criterion's body (bands or a formula) outside the criteria's maximum."""
        if b.id in ids:
            self.error("E103", f"`{b.id}` is defined twice", b, notes=_first_at(ids[b.id]),
                       hint="every criterion, part, bonus and malus needs its own id")
        ids[b.id] = b
        if b.max <= 0:
            self.error("E330", f"the maximum of {b.kind} `{b.id}` must be greater than zero", b,
                       hint=f"`max` is the most points the {b.kind} can " + ("add" if b.kind == "bonus" else "take away"))
        if b.subs is not None:
            self.error("E331", f"a {b.kind} cannot be split into `sub` parts", b,
                       hint="write its points as bands or as one formula; a call's parts are criteria")
            return
        if b.stage == "after" and sd.pass_ <= 0:
            self.warn("W135", f"{b.kind} `{b.id}` counts `after pass`, but the pass mark is {_fmt(sd.pass_)}: "
                      "every scored application reaches it", b,
                      hint="give the score a pass mark (`pass 60`), or write `before pass`")
        if b.formula is not None:
            t = self.infer(b.formula, _Scope())
            if not (t.numeric or t.kind == "any"):
                self.error("E309", f"a {b.kind}'s formula must give points (a number), but this is {t.describe()}",
                           b.formula)
        else:
            self._check_tiers(b)

    def _check_criterion(self, c, ids, top):
        if c.id in ids:
            self.error("E103", f"criterion `{c.id}` is defined twice", c, notes=_first_at(ids[c.id]),
                       hint="every criterion and `sub` part needs its own id")
        ids[c.id] = c
        if c.sub and top:
            self.error("E305", "`sub` criteria belong inside a criterion; use `criterion` here", c)
        if not c.sub and not top:
            self.error("E305", "inside a criterion, parts are written `sub id \"label\" max N ...`", c)
        if c.max < 0:
            self.error("E306", f"the maximum of `{c.id}` cannot be negative", c)
        if c.minimum is not None and c.minimum < 0:
            self.error("E306", f"the minimum of `{c.id}` cannot be negative", c)
        if c.minimum is not None and c.minimum > c.max:
            self.error("E307", f"the minimum {_fmt(c.minimum)} is above the maximum {_fmt(c.max)}", c)
        for w in (c.weight, c.ranking_weight):
            if w is not None and w <= 0:
                self.error("E308", "a weight must be greater than zero", c)
        for cond, ranking in ((c.weight_if, False), (c.ranking_weight_if, True)):
            if cond is None:
                continue
            t = self.infer(cond, _Scope())
            if t.kind not in ("bool", "any"):
                self.error("E421", f"a weight's condition must be true or false, but this is "
                           f"{t.describe()}", cond)
            bad = _params.condition_problem(cond)
            if bad is not None:
                self.error("E421", f"a weight's condition can only read the call's parameters and constants, not "
                           f"`{_expr_text(bad)}`: a weight is the same for every application of a run", bad,
                           hint='compare a parameter with a value, e.g. `if (param.action == "IA")`')
            if not ranking:
                self.error("E426", "only a weight `for ranking` can depend on the call's parameters: this weight "
                           "would change the maximum score", cond,
                           hint="write `weight N for ranking if (...)`")
        if not top and (c.weight is not None or c.ranking_weight is not None):
            self.error("E308", "weights apply to whole criteria, not to `sub` parts", c)
        if c.formula is not None:
            t = self.infer(c.formula, _Scope())
            if not (t.numeric or t.kind == "any"):
                self.error("E309", f"a criterion's formula must give points (a number), but this is {t.describe()}",
                           c.formula)
            elif not self.cp.errors:
                self._check_reaches_max(c, set())
        elif c.tiers is not None:
            unreachable = self._check_tiers(c)
            if not self.cp.errors:
                self._check_reaches_max(c, unreachable)
        elif c.subs is not None:
            subtotal = Decimal(0)
            for s in c.subs:
                self._check_criterion(s, ids, top=False)
                subtotal += s.max
            if subtotal != c.max:
                self.error("E304", f"the parts of `{c.id}` add up to {_fmt(subtotal)}, but its maximum is {_fmt(c.max)}", c)

    def _check_tiers(self, c) -> set:
        """The bands of ``c`` checked one by one; returns the indexes of those the declared ranges
        make unreachable (W111, and W113 for an `otherwise` the bands above it leave nothing to)."""
        seen_otherwise = None
        earlier = []
        unreachable: set[int] = set()
        for i, tier in enumerate(c.tiers):
            if seen_otherwise is not None:
                self.error("E310", "this band can never be reached: it comes after `otherwise`", tier)
            if tier.cond is None:
                seen_otherwise = tier
            else:
                t = self.infer(tier.cond, _Scope())
                if t.kind not in ("bool", "any"):
                    self.error("E201", f"a band needs a condition before `->`, but this is {t.describe()}", tier.cond)
                why = _shadowed(tier.cond, earlier)
                if why and seen_otherwise is None:
                    self.error("E310", f"this band can never be reached: {why}", tier)
                elif seen_otherwise is None and ranges.never_true(self.cp, tier.cond):
                    unreachable.add(i)
                    self.warn("W111", f"this band can never be reached: {self._why_never(tier.cond)}", tier.cond,
                              hint="check the band's threshold against the declared range, or widen the range")
                earlier.append(tier.cond)
            pt = self.infer(tier.points, _Scope())
            if not (pt.numeric or pt.kind == "any"):
                self.error("E309", f"points must be a number, but this is {pt.describe()}", tier.points)
            elif isinstance(tier.points, ast.Number):
                if tier.points.value > c.max:
                    self.error("E311", f"{_fmt(tier.points.value)} points exceed the maximum of `{c.id}` ({_fmt(c.max)})",
                               tier.points)
                elif tier.points.value < 0:
                    self.error("E306", "points cannot be negative", tier.points)
        if seen_otherwise is not None:  # W113: the bands above already match every value there can be
            at = next(i for i, tier in enumerate(c.tiers) if tier is seen_otherwise)
            subject = ranges.covered(self.cp, [tier.cond for tier in c.tiers[:at]])
            if subject is not None:
                unreachable.add(at)
                declared = ranges.describe(self.cp, subject)
                self.warn("W113", f"`otherwise` can never be reached: the bands above it match every value "
                          f"`{_expr_text(subject)}` can take" + (f" (declared `in {declared}`)" if declared else ""),
                          seen_otherwise, hint="remove `otherwise`, or check the thresholds above it if some "
                                               "values were meant to get its points")
        return unreachable

    def _why_never(self, cond) -> str:
        """Why the declared ranges make ``cond`` false for every application, in a few words."""
        if isinstance(cond, ast.Binary) and cond.op in COMPARE:
            for field, other in ((cond.left, cond.right), (cond.right, cond.left)):
                declared = ranges.describe(self.cp, field)
                if declared is not None and _is_literal(other):
                    return (f"`{_expr_text(field)}` is declared `in {declared}`, so `{_expr_text(cond)}` "
                            f"never holds")
        return f"with the ranges its fields are declared in, `{_expr_text(cond)}` never holds"

    def _check_reaches_max(self, c, unreachable):
        """W112: a criterion whose best band, or whose formula over the declared ranges, gives less than
        its `max`: no application can get full marks. Silent unless the bound is certain."""
        if c.max <= 0:
            return
        if c.formula is not None:
            best = ranges.bounds(self.cp, c.formula)[1]
            what = "its formula gives at most {} with the declared ranges of its fields"
        elif c.tiers is not None:
            tops = [ranges.bounds(self.cp, t.points)[1] for i, t in enumerate(c.tiers) if i not in unreachable]
            best = max(tops, default=Decimal(0))
            if c.tiers[-1].cond is not None:
                best = max(best, Decimal(0))  # no band matched: 0 points
            what = "its best band gives {}" + (" (of those that can be reached)" if unreachable else "")
        else:
            return
        if best.is_infinite() or best >= c.max:
            return
        self.warn("W112", f"criterion `{c.id}` can never reach its maximum of {_fmt(c.max)} points: "
                  + what.format(_fmt(best)), c,
                  hint="give the best band, or the formula, the full points, or lower the maximum (and the "
                       "score's with it)")

    def _check_decls(self):
        for name, d in self.cp.decls.items():
            t = self.infer(d.expr, _Scope())
            want = DECL_TYPES[name]
            if t.kind == "any":
                continue
            if want == "money" and t.kind != "money":
                self.error("E401", f"`{name}` must be an amount of money, but this is {t.describe()}", d.expr,
                           hint=f"write amounts with their currency, e.g. `100_000 {self.cp.currency}`")
            elif want == "money" and t.currency != self.cp.currency:
                self.error("E402", f"`{name}` is in {t.currency}, but the call's currency is {self.cp.currency}", d.expr)
            elif want == "text" and t.kind not in ("text", "enum"):
                self.error("E401", f"`{name}` must be a text, but this is {t.describe()}", d.expr)
            elif want == "date" and t.kind not in ("date", "datetime"):
                self.error("E401", f"`{name}` must be a date or a date and time, but this is {t.describe()}", d.expr)
            if d.rounding is not None:
                if name not in ("grant", "requested"):
                    self.error("E403", "only amounts can be rounded", d.rounding)
                ut = self.infer(d.rounding.unit, _Scope())
                if ut.kind != "money" or not isinstance(d.rounding.unit, ast.Money) or d.rounding.unit.amount <= 0:
                    self.error("E403", f"round to a positive amount of money, e.g. `rounded down to 1 {self.cp.currency}`",
                               d.rounding.unit)

    def _check_outputs(self):
        """Named outputs: a name of their own, a value that can be published, per item only over a list.

        An output may read what the decision gives (``grant``, ``requested``, ``submitted``, ``score``,
        ``points(c)``): it is computed after the decision (docs/language.md, "Outputs")."""
        cp = self.cp
        for name, d in cp.outputs.items():
            clash = None
            if name in DECL_TYPES:
                clash = f"`{name}` is one of the call's fixed outputs: declare it as `{name} = ...`"
            elif name in cp.lets or name in cp.funcs:
                clash = f"`{name}` is already a `let`"
            elif cp.input is not None and name in cp.input.fields:
                clash = f"`{name}` is already an input field"
            if clash is not None:
                self.error("E321", f"the output `{name}` clashes with another name: {clash}", d,
                           hint="give the output another name (an output is published under its name)")
            scope = _Scope()
            if d.source is not None:
                st = self.infer(d.source, scope)
                if st.kind == "list":
                    scope = _Scope(names={d.var: ("var", st.item or ANY)})
                    rec = st.item.record if st.item is not None and st.item.kind == "record" else None
                    key = next((k for k in ITEM_KEY_FIELDS if k in rec.fields), None) if rec is not None else None
                    if key is not None:  # the item's key names each row of outputs_items.csv: it is used
                        self._used_fields.add((id(rec), key))
                else:
                    if st.kind != "any":
                        self.error("E322", f"an output `for {d.var} in` needs a list, but "
                                   f"{_expr_text(d.source)} is {st.describe()}", d.source,
                                   hint=f"write `for {d.var} in` a list of the application, e.g. `network.firms`")
                    scope = _Scope(names={d.var: ("var", ANY)})
            self._context = "output"
            try:
                t = self.infer(d.expr, scope)
            finally:
                self._context = None
            if t.kind not in OUTPUT_KINDS:
                self.error("E323", f"an output is published as one value (a text, number, amount, percentage, "
                           f"date or yes/no), but this is {t.describe()}", d.expr,
                           hint="publish one value of it, e.g. `count(...)` of a list or a field of a record")
            if d.rounding is not None:
                if t.kind not in ("money", "any"):
                    self.error("E403", "only amounts can be rounded", d.rounding)
                ut = self.infer(d.rounding.unit, _Scope())
                if ut.kind != "money" or not isinstance(d.rounding.unit, ast.Money) or d.rounding.unit.amount <= 0:
                    self.error("E403", f"round to a positive amount of money, e.g. `rounded down to 1 {self.cp.currency}`",
                               d.rounding.unit)

    def _check_ranking(self):
        r = self.cp.ranking
        if r is None:
            return
        self._context = "ranking"
        kinds = {}
        for it in r.items:
            key = type(it).__name__
            if key in kinds and key in ("Order", "Sportello", "Shortfall", "Ties"):
                self.error("E501", f"`{_item_word(it)}` is given twice in the ranking", it)
            kinds[key] = it
            if isinstance(it, ast.Order):
                for k in it.keys:
                    t = self.infer(k.expr, _Scope())
                    if t.kind not in ("int", "decimal", "percent", "money", "date", "datetime", "text", "enum",
                                      "bool", "any"):
                        self.error("E502", f"cannot order by {t.describe()}", k.expr)
            elif isinstance(it, ast.Sportello):
                t = self.infer(it.by, _Scope())
                if t.kind not in ("date", "datetime", "any"):
                    self.error("E502", f"first come, first served orders by a submission time, not by {t.describe()}",
                               it.by)
            elif isinstance(it, ast.Reserve):
                t = self.infer(it.share, _Scope())
                if t.kind == "money":
                    if t.currency != self.cp.currency:
                        self.error("E402", "the reserve is in another currency", it.share)
                elif t.kind != "percent" and t.kind != "any":
                    self.error("E503", f"a reserve is a share of the budget (30%) or an amount, not {t.describe()}",
                               it.share)
                ct = self.infer(it.cond, _Scope())
                if ct.kind not in ("bool", "any"):
                    self.error("E201", "a reserve needs a condition after `for`", it.cond)
            elif isinstance(it, ast.Ties):
                if it.margin is not None:
                    mt = self.infer(it.margin, _Scope())
                    if mt.kind == "money":
                        if mt.currency != self.cp.currency:
                            self.error("E402", "the margin for ties is in another currency", it.margin)
                    elif mt.kind not in ("percent", "any"):
                        self.error("E503", f"the margin for ties is a share of the budget (5%) or an amount "
                                   f"(20_000 {self.cp.currency}), not {mt.describe()}",
                                   it.margin)
            elif isinstance(it, ast.Unique):
                st = self.infer(it.source, _Scope())
                if st.kind != "list" and st.kind != "any":
                    self.error("E504", f"`unique ... for {it.var} in` needs a list, but this is {st.describe()}", it.source)
                    st = Type("list", item=ANY)
                kt = self.infer(it.key, _Scope(names={it.var: ("var", st.item or ANY)}))
                if kt.kind not in ("text", "enum", "int", "any"):
                    self.error("E504", f"the unique key should identify a firm (a text such as a VAT number), "
                               f"not {kt.describe()}", it.key)
                if it.by is not None:
                    bt = self.infer(it.by, _Scope())
                    if bt.kind not in ORDER_KINDS:
                        self.error("E505", f"cannot keep the {it.keep} by {bt.describe()}", it.by)
                elif it.keep != "best":
                    self.error("E505", f"`keep {it.keep}` needs what to compare, e.g. `keep {it.keep} submitted`", it)
        if "Order" in kinds and "Sportello" in kinds:
            self.error("E506", "a call is either ranked (`order by`) or first come, first served — not both",
                       kinds["Sportello"])
        self._context = None

    def _check_cases(self):
        cp = self.cp
        gate_ids = {g.id for g in cp.gates}
        cross_ids = {g.id for g in cp.cross_gates}
        crit_ids = {c.id for c in all_criteria(cp.scored)}
        for case in cp.cases:
            self._check_case_params(case)
            if case.status not in STATUSES:
                self.error("E601", f"unknown outcome `{case.status}`", case,
                           hint=self._suggest(case.status, STATUSES) or "expected one of " + ", ".join(STATUSES))
            if cp.source.path:
                import os
                path = os.path.join(os.path.dirname(cp.source.path), case.file)
                if not os.path.exists(path):
                    self.error("E602", f"example file `{case.file}` not found (looked for {path})", case)
            for e in case.expectations:
                if e.kind == "failing":
                    for g in e.value:
                        if g in cross_ids:
                            self.error("E523", f"gate `{g}` is decided across the applications of a batch: "
                                       f"an example of one application cannot fail it", e,
                                       hint="test it on a batch (`bando score`), see docs/language.md, "
                                            "\"Gates across applications\"")
                        elif g not in gate_ids:
                            self.error("E603", f"unknown gate `{g}`", e, hint=self._suggest(g, gate_ids))
                elif e.kind == "points":
                    for cid, v in e.value:
                        if cid not in crit_ids:
                            self.error("E603", f"unknown criterion `{cid}`", e, hint=self._suggest(cid, crit_ids))
                        self.infer(v, _Scope())
                else:
                    t = self.infer(e.value, _Scope())
                    if e.kind == "grant" and t.kind not in ("money", "any"):
                        self.error("E604", f"the expected grant must be an amount, e.g. `40_000 {cp.currency}`", e.value)
                    if e.kind == "score" and not t.numeric:
                        self.error("E604", "the expected score must be a number", e.value)

    def _check_unused(self):
        cp = self.cp
        if cp.parameters is not None and not cp.errors:
            for name, f in cp.parameters.fields.items():
                if name not in self._used_params:
                    self.warn("W140", f"parameter `{name}` is never read", f.node,
                              hint=f"read it as `{_params.PARAM}.{name}`, or remove it")
        if cp.input is None or cp.errors or self._module:
            return  # after an error (a misspelt field, say) "never used" would only add noise

        def visit(rec: RecordInfo, prefix, seen):
            if id(rec) in seen:
                return
            seen.add(id(rec))
            for name, f in rec.fields.items():
                path = f"{prefix}{name}"
                used = (id(rec), name) in self._used_fields
                if not used:
                    if name not in ("id", "name", "title", "description") and not name.endswith("name"):
                        self.warn("W103", f"input field `{path}` is never used", f.node)
                    continue
                t = f.type
                while t.kind == "list":
                    t = t.item
                if t.kind == "record":
                    visit(t.record, path + ("[]." if f.type.kind == "list" else "."), seen)

        visit(cp.input, "", set())

    def _check_unused_lets(self):
        """W110: a `let` (or a function) of the policy that nothing reads: no gate, criterion,
        declaration, ranking rule or example, no let or function that is itself used, no letter
        template. The definitions of shared modules are not reported in the policy that uses them
        (a module serves many calls); after an error the analysis would be guesswork, so it waits."""
        cp = self.cp
        if cp.errors or self._module:
            return
        used: set[str] = set()
        stack = [it for it in cp.policy.items if not isinstance(it, (ast.LetDef, ast.Use, ast.RecordDef))]
        stack += [d for name, d in list(cp.lets.items()) + list(cp.funcs.items()) if name in self.template_words]
        used.update(name for name in list(cp.lets) + list(cp.funcs) if name in self.template_words)
        while stack:
            for n in ast.walk(stack.pop()):
                name = None
                if isinstance(n, ast.Name) and n.id in cp.lets and self.cp.kind_of(n) not in ("var", "param"):
                    name, target = n.id, cp.lets[n.id]
                elif isinstance(n, ast.Call) and n.func in cp.funcs:
                    name, target = n.func, cp.funcs[n.func]
                if name is not None and name not in used:
                    used.add(name)
                    stack.append(target.expr)
        for name, d in list(cp.lets.items()) + list(cp.funcs.items()):
            if name in used or id(d) in self._node_sources:  # (a module's definition)
                continue
            what = "function" if d.params is not None else "let"
            self.warn("W110", f"{what} `{name}` is never used", d,
                      hint="use it in a gate, a criterion, a declaration or the ranking, or remove it")

    # --- expressions -------------------------------------------------------------------------
    def infer(self, e, scope: _Scope) -> Type:
        t = self._infer(e, scope)
        object.__setattr__(e, "checked_type", t)  # frozen node; the type is outside equality
        return t

    def _refer(self, e, kind, target):
        """``e`` (a Name) refers to ``target``; the let being typed, if any, reads it."""
        object.__setattr__(e, "ref", (kind, target))
        if self._reads and kind in ("let", "input"):
            self._reads[-1][(kind, target)] = None

    def _suggest(self, name, candidates):
        candidates = list(candidates)
        self._suggest_left -= len(candidates)
        if self._suggest_left < 0:
            return None
        m = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
        return f"did you mean `{m[0]}`?" if m else None

    def _visible_names(self, scope):
        cp = self.cp
        names = {n for n in scope.all() if not n.startswith("__")} | set(cp.lets) | set(cp.funcs) | {"call"}
        if cp.input is not None:
            names |= set(cp.input.fields)
        return names

    def _infer(self, e, scope) -> Type:
        cp = self.cp
        if isinstance(e, ast.Number):
            return INT if e.value == e.value.to_integral_value() and "." not in str(e.value) else DECIMAL
        if isinstance(e, ast.Percent):
            return PERCENT
        if isinstance(e, ast.Money):
            if cp.currency and e.currency != cp.currency:
                self.error("E402", f"this amount is in {e.currency}, but the call's currency is {cp.currency}", e)
            return money(e.currency)
        if isinstance(e, ast.Duration):
            return DURATION
        if isinstance(e, ast.String):
            return TEXT
        if isinstance(e, ast.DateLit):
            return DATE
        if isinstance(e, ast.DateTimeLit):
            return DATETIME
        if isinstance(e, ast.Bool):
            return BOOL
        if isinstance(e, ast.ScoreRef):
            if self._context not in ("ranking", "output"):
                self.error("E701", "`score` can only be used in the ranking and in an output", e)
            return DECIMAL
        if isinstance(e, ast.Name):
            return self._infer_name(e, scope)
        if isinstance(e, ast.Attr):
            return self._infer_attr(e, scope)
        if isinstance(e, ast.SetLit):
            t = ANY
            for item in e.items:
                it = self.infer(item, scope)
                u = unify(t, it)
                if u is None:
                    self.error("E702", f"a set mixes {t.describe()} and {it.describe()}", item)
                else:
                    t = u
            return Type("set", item=t)
        if isinstance(e, ast.If):
            ct = self.infer(e.cond, scope)
            self._want_bool(ct, e.cond, "`if`")
            a, b = self.infer(e.then, scope), self.infer(e.else_, scope)
            u = unify(a, b)
            if u is None:
                self.error("E703", f"the two branches of `if` differ: {a.describe()} after `then`, {b.describe()} after "
                           f"`else`", e)
                return ANY
            return u.opt(u.optional or ct.optional)
        if isinstance(e, ast.Unary):
            t = self.infer(e.operand, scope)
            if e.op == "not":
                self._want_bool(t, e.operand, "`not`")
                return BOOL.opt(t.optional)
            if not (t.numeric or t.kind in ("money", "any")):
                self.error("E704", f"cannot negate {t.describe()}", e)
            return t
        if isinstance(e, ast.Binary):
            return self._infer_binary(e, scope)
        if isinstance(e, ast.Between):
            v, lo, hi = (self.infer(x, scope) for x in (e.value, e.low, e.high))
            for bt, bnode in ((lo, e.low), (hi, e.high)):
                before = len(self.cp.diagnostics)
                self._comparable(v, bt, e, "between", left=e.value, right=bnode)
                if len(self.cp.diagnostics) > before:
                    break  # one message per `between` is enough
            return BOOL.opt(v.optional or lo.optional or hi.optional)
        if isinstance(e, ast.IsMissing):
            self.infer(e.operand, scope)
            return BOOL
        if isinstance(e, ast.Quantified):
            item = self._list_item(e.source, scope, e.kind)
            ct = self.infer(e.cond, _Scope(scope, {e.var: ("var", item)}))
            self._want_bool(ct, e.cond, f"`{e.kind} {e.var} in …:`")
            return BOOL
        if isinstance(e, ast.Aggregate):
            return self._infer_aggregate(e, scope)
        if isinstance(e, ast.Call):
            return self._infer_call(e, scope)
        if isinstance(e, ast.At):
            return self._infer_at(e, scope)
        if isinstance(e, ast.Dated):
            self.error("E144", "`dated { ... }` is the whole value of a `let` without parameters", e,
                       hint="write `let ceiling \"massimale\" = dated { from 2024-01-01 -> 300_000 EUR }` and use "
                       "`ceiling at call.decision`")
            return ANY
        return ANY

    def _want_bool(self, t, node, where):
        if t.kind not in ("bool", "any"):
            self.error("E201", f"{where} needs a condition (true or false), but this is {t.describe()}", node)

    def _function_scope(self, fn):
        names = {p.name: ("param", self._type_of_texpr(p.type, None)) for p in fn.params}
        names["__function__"] = ("marker", fn.name)
        return _Scope(names=names)

    def _infer_name(self, e, scope):
        cp = self.cp
        bound = scope.lookup(e.id)
        if bound is not None:
            self._refer(e, bound[0], e.id)
            return bound[1]
        if e.id in cp.dated:
            self.error("E145", f"`{e.id}` changes by date: say on which date it is read", e,
                       hint=f"write `{e.id} at call.decision` (or at another date)")
            return ANY
        fn = scope.lookup("__function__")
        if fn is not None and (e.id in cp.lets or (cp.input is not None and e.id in cp.input.fields)):
            # functions are compiled once, apart from any application: they see only their parameters
            params = ", ".join(p.name for p in cp.funcs[fn[1]].params)
            self.error("E705", f"`{e.id}` cannot be used inside the function `{fn[1]}`: a function only sees its "
                       f"parameters ({params})", e, hint=f"pass `{e.id}` as a parameter")
            return ANY
        if e.id in cp.lets:
            self._refer(e, "let", e.id)
            return self._let_type(e.id)
        if cp.input is not None and e.id in cp.input.fields:
            self._refer(e, "input", e.id)
            self._used_fields.add((id(cp.input), e.id))
            return cp.input.fields[e.id].type
        if e.id == "call":
            self._refer(e, "call", "call")
            return Type("call")
        if e.id == _params.PARAM:
            self._refer(e, "params", _params.PARAM)
            return Type("params")
        if (self._context == "ranking" and e.id in ("grant", "requested", "submitted", "ranking_score")) or \
                (self._context == "output" and e.id in ("grant", "requested", "submitted")):
            self._refer(e, "result", e.id)
            return {"grant": money(cp.currency), "requested": money(cp.currency).opt(),
                    "submitted": DATETIME.opt(), "ranking_score": DECIMAL}[e.id]
        if e.id in cp.funcs:
            self.error("E706", f"`{e.id}` needs arguments: `{e.id}(...)`", e)
            return ANY
        hint = self._suggest(e.id, self._visible_names(scope)) if self._suggest_left > 0 else None
        if hint is None and e.id in ("grant", "requested", "submitted", "applicant"):
            hint = f"`{e.id}` can only be used in the ranking and in an output"
        self.error("E707", f"`{e.id}` is not defined", e, hint=hint)
        return ANY

    def _infer_attr(self, e, scope):
        cp = self.cp
        ot = self.infer(e.obj, scope)
        if ot.kind == "any":
            return ANY
        if ot.kind == "params":
            t = self._param_type(e)
            return ANY if t is None else t
        if ot.kind == "call":
            key = e.name
            if key in ("opens", "closes", "decision", "budget") and key in self._param_keys:
                return self._param_keys[key].opt(False)
            if key in ("opens", "closes", "decision"):
                v = cp.header.get(key)
                if v is None:
                    self.error("E708", f"the call header has no `{key}`", e)
                    return ANY
                return DATETIME if isinstance(v, _dt.datetime) else DATE
            if key == "budget":
                if "budget" not in cp.header:
                    self.error("E708", "the call header has no `budget`", e)
                return money(cp.currency)
            self.error("E708", f"`call.{key}` is not available", e, hint="use call.opens, call.closes, call.decision "
                                                                  "or call.budget")
            return ANY
        if ot.kind != "record":
            hint = None
            if ot.kind == "list":
                hint = (f"a list has no fields of its own: look at each item, e.g. "
                        f"`all x in {_expr_text(e.obj)}: x.{e.name} …` or `sum(x.{e.name} for x in {_expr_text(e.obj)})`")
            self.error("E709", f"`.{e.name}`: {ot.describe()} has no fields", e, hint=hint)
            return ANY
        rec = ot.record
        f = rec.fields.get(e.name)
        if f is None:
            hint = self._suggest(e.name, rec.fields)
            what = f"record `{rec.name}`" if rec.name else _expr_text(e.obj)
            self.error("E709", f"{what} has no field `{e.name}`", e,
                       hint=hint or ("its fields are: " + ", ".join(rec.fields)) if rec.fields else hint)
            return ANY
        self._used_fields.add((id(rec), e.name))
        return f.type.opt(f.type.optional or ot.optional)

    def _infer_binary(self, e, scope):
        a = self.infer(e.left, scope)
        b = self.infer(e.right, scope)
        op = e.op
        optional = a.optional or b.optional
        if a.kind == "any" or b.kind == "any":
            return (BOOL if op in COMPARE + ("and", "or", "in", "not in") else ANY).opt(optional)
        if op in ("and", "or"):
            self._want_bool(a, e.left, f"`{op}`")
            self._want_bool(b, e.right, f"`{op}`")
            return BOOL.opt(optional)
        if op in COMPARE:
            self._comparable(a, b, e, op)
            if op in (">=", "<=", ">", "<") and a.kind in ("bool", "text", "enum") and b.kind == a.kind:
                self.error("E710", f"`{op}` compares numbers, amounts and dates, not {a.describe()}", e)
            if a.kind == "enum" and isinstance(e.right, ast.String) and e.right.value not in a.options:
                self.error("E711", f'"{e.right.value}" is not one of the options of {_expr_text(e.left)}', e.right,
                           hint="the options are " + ", ".join(f'"{o}"' for o in a.options))
            return BOOL.opt(optional)
        if op in ("in", "not in"):
            if b.kind not in ("set", "list"):
                self.error("E712", f"`{op}` needs a list or a set such as {{\"A\", \"K\"}} on the right, not {b.describe()}",
                           e.right)
                return BOOL
            self._comparable(a, b.item or ANY, e, op)
            if a.kind == "enum" and isinstance(e.right, ast.SetLit):
                for item in e.right.items:
                    if isinstance(item, ast.String) and item.value not in a.options:
                        self.error("E711", f'"{item.value}" is not one of the options of {_expr_text(e.left)}', item)
            return BOOL.opt(a.optional)
        if op == "of":
            if a.kind not in ("percent", "decimal", "int"):
                self.error("E713", f"`of` takes a percentage on its left (50% of …), not {a.describe()}", e.left)
                return ANY
            if not (b.numeric or b.kind == "money"):
                self.error("E713", f"`of` needs a number or an amount on its right, not {b.describe()}", e.right)
                return ANY
            return (b if b.kind == "money" else DECIMAL).opt(optional)
        t = self._arith(op, a, b, e)
        return t.opt(t.optional or optional)

    def _arith(self, op, a, b, e) -> Type:
        ka, kb = a.kind, b.kind
        if a.numeric and b.numeric:
            if op == "/":
                return DECIMAL.opt()  # dividing by zero gives a missing value
            if ka == kb == "int":
                return INT
            if op in "+-" and ka == kb == "percent":
                return PERCENT
            return DECIMAL
        if ka == "money" or kb == "money":
            if ka == kb == "money":
                if a.currency != b.currency:
                    self.error("E402", f"cannot combine money in different currencies ({a.currency} and {b.currency})", e)
                    return ANY
                if op in "+-":
                    return a
                if op == "/":
                    return DECIMAL.opt()
                self.error("E714", "cannot multiply two amounts of money", e)
                return ANY
            other, mt = (b, a) if ka == "money" else (a, b)
            if other.numeric:
                if op == "*" or (op == "/" and ka == "money"):
                    return Type("money", currency=mt.currency, optional=op == "/")
                if op in "+-":
                    self.error("E714", f"cannot {'add' if op == '+' else 'subtract'} a number and money", e,
                               notes=[f"left  : {a.describe()}", f"right : {b.describe()}"],
                               hint=_money_hint(e.right if kb != "money" else e.left, mt.currency))
                    return ANY
        hint = None
        if ka in ("date", "datetime"):
            if kb == "duration" and op in "+-":
                return a.opt()  # past year 9999 there is no date: the value is missing
            if kb == ka and op == "-":
                return INT if ka == "date" else DECIMAL
            if b.numeric and op in "+-":
                hint = "add a duration: `30 days`, `6 months`, `3 years`"
            elif kb in ("date", "datetime"):
                hint = "for the time between two dates use days_between(a, b), months_between or years_between"
        verb = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}[op]
        self.error("E714", f"cannot {verb} {a.describe()} and {b.describe()}", e,
                   notes=[f"left  : {a.describe()}", f"right : {b.describe()}"], hint=hint)
        return ANY

    def _comparable(self, a, b, e, op, left=None, right=None):
        """Report when ``a`` (the ``left`` node) and ``b`` (``right``) cannot be compared."""
        left = left if left is not None else getattr(e, "left", None)
        right = right if right is not None else getattr(e, "right", None)
        if a.kind == "any" or b.kind == "any":
            return
        if a.same_family(b):
            return
        notes = [f"left  : {a.describe()}", f"right : {b.describe()}"]
        hint = None
        if {a.kind, b.kind} & {"money"} and (a.numeric or b.numeric):
            cur = a.currency or b.currency
            hint = _money_hint(right if b.numeric else left, cur)
            self.error("E710", "cannot compare money with a number", e, hint=hint, notes=notes)
            return
        if a.kind == "money" and b.kind == "money":
            self.error("E402", f"cannot compare money in different currencies ({a.currency} and {b.currency})", e, notes=notes)
            return
        if {a.kind, b.kind} == {"date", "datetime"}:
            hint = "compare a date with a date; write the time too, e.g. 2025-06-30 12:00"
        self.error("E710", f"cannot compare {a.describe()} with {b.describe()}", e, hint=hint, notes=notes)

    def _list_item(self, source, scope, what) -> Type:
        t = self.infer(source, scope)
        if t.kind == "list":
            return t.item or ANY
        if t.kind != "any":
            self.error("E715", f"`{what}` needs a list, but {_expr_text(source)} is {t.describe()}", source)
        return ANY

    def _infer_aggregate(self, e, scope):
        item = self._list_item(e.source, scope, e.func)
        inner = _Scope(scope, {e.var: ("var", item)}) if e.var else scope
        if e.where is not None:
            self._want_bool(self.infer(e.where, inner), e.where, "`where`")
        if e.func == "count distinct":
            if e.value is None and e.var is not None:
                self.error("E134", "`count distinct` counts different values: say which value of each item",
                           e, hint=f"write `count distinct({e.var}.field for {e.var} in …)`")
                return INT
            vt = self.infer(e.value, inner) if e.value is not None else item
            if vt.kind not in DISTINCT_KINDS:
                self.error("E134", f"`count distinct` counts values that can be told apart (texts, numbers, "
                           f"amounts, dates, yes/no), not {vt.describe()}", e.value or e.source)
            return INT
        if e.func == "count":
            if e.value is not None:
                self.error("E716", "`count` counts items: write `count(x in list where …)`", e.value)
            return INT
        if e.func == "share":
            if e.where is None and e.value is None:
                self.error("E716", "`share` needs a condition: `share(x in list where …)`", e)
            return PERCENT.opt()  # the share of an empty list is missing
        vt = self.infer(e.value, inner) if e.value is not None else item
        if e.value is None and e.var is not None:
            self.error("E716", f"`{e.func}` needs a value: `{e.func}(x.field for x in list)`", e)
            return ANY
        if not (vt.numeric or vt.kind in ("money", "any")) and not (
                e.func in ("lowest", "highest") and vt.kind in ("date", "datetime")):
            self.error("E717", f"`{e.func}` works on numbers or amounts, not on {vt.describe()}", e.value or e.source)
            return ANY
        vt = vt.opt(False)
        if e.func in ("average", "mean", "median"):
            return (vt if vt.kind == "money" else DECIMAL).opt()
        return vt.opt(e.func in ("lowest", "highest", "spread"))

    def _infer_call(self, e, scope):
        cp = self.cp
        if e.func in cp.funcs:
            fn = cp.funcs[e.func]
            if len(e.args) != len(fn.params):
                self.error("E720", f"`{e.func}` takes {len(fn.params)} argument{'s' if len(fn.params) != 1 else ''}, "
                           f"got {len(e.args)}", e)
            missing_arg = False
            for arg, p in zip(e.args, fn.params):
                at = self.infer(arg, scope)
                missing_arg = missing_arg or at.optional
                pt = self._type_of_texpr(p.type, None)
                if not _assignable(at, pt):
                    self.error("E721", f"argument `{p.name}` of `{e.func}` must be {pt.describe()}, not {at.describe()}", arg)
            if e.func in self._let_stack:
                self.error("E722", f"`{e.func}` calls itself", e)
                return ANY
            if e.func not in cp.let_types:
                self._let_stack.append(e.func)
                cp.let_types[e.func] = self.infer(fn.expr, self._function_scope(fn))
                self._let_stack.pop()
            # a missing argument makes the call missing (the body is compiled for present values)
            t = cp.let_types[e.func]
            return t.opt(t.optional or missing_arg)
        spec = BUILTINS.get(e.func)
        if spec is None:
            self.error("E723", f"unknown function `{e.func}`", e,
                       hint=self._suggest(e.func, list(BUILTINS) + list(cp.funcs)))
            for a in e.args:
                self.infer(a, scope)
            return ANY
        lo, hi = spec
        if not lo <= len(e.args) <= hi:
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi == 99 else f"{lo} or {hi}")
            self.error("E720", f"`{e.func}` takes {want} argument{'s' if hi != 1 else ''}, got {len(e.args)}", e)
            return ANY
        if e.func == "points":
            arg = e.args[0]
            ids = {c.id for c in all_criteria(cp.scored)}
            if self._context != "ranking":
                self.error("E701", "`points(...)` can only be used in the ranking", e)
            if not isinstance(arg, ast.Name) or arg.id not in ids:
                self.error("E724", "`points(...)` takes the id of a criterion", arg,
                           hint=self._suggest(getattr(arg, "id", ""), ids))
            return DECIMAL
        ts = [self.infer(a, scope) for a in e.args]
        opt = any(t.optional for t in ts)
        f = e.func
        if f in ("min", "max"):
            t = ts[0]
            for other, node in zip(ts[1:], e.args[1:]):
                u = unify(t, other)
                if u is None or u.kind not in ("int", "decimal", "percent", "money", "date", "datetime", "any"):
                    self.error("E721", f"`{f}` compares values of one kind: {t.describe()} and {other.describe()}", node,
                               hint=("write amounts with their currency, e.g. `200_000 EUR`"
                                     if "money" in (t.kind, other.kind) else None))
                    return ANY
                t = u
            return t.opt(opt)
        if f in ("round", "floor", "ceil", "abs"):
            if not (ts[0].numeric or ts[0].kind in ("money", "any")):
                self.error("E721", f"`{f}` works on numbers, not on {ts[0].describe()}", e.args[0])
            if len(ts) == 2 and (not isinstance(e.args[1], ast.Number)):
                self.error("E725", "the number of decimals must be a whole number written out, e.g. round(x, 2)", e.args[1])
            base = ts[0] if ts[0].kind == "money" else (INT if f in ("floor", "ceil") else
                                                         ts[0] if f == "abs" else DECIMAL)
            return base.opt(opt)
        if f in ("days_between", "months_between", "years_between"):
            for t, a in zip(ts, e.args):
                if t.kind not in ("date", "datetime", "any"):
                    self.error("E721", f"`{f}` needs two dates, not {t.describe()}", a)
            return INT.opt(opt)
        if f in ("year", "date_of"):
            if ts[0].kind not in ("date", "datetime", "any"):
                self.error("E721", f"`{f}` needs a date, not {ts[0].describe()}", e.args[0])
            return (INT if f == "year" else DATE).opt(opt)
        if f in ("starts_with", "ends_with", "contains"):
            for t, a in zip(ts, e.args):
                if t.kind not in ("text", "enum", "any"):
                    self.error("E721", f"`{f}` works on texts, not on {t.describe()}", a)
            return BOOL.opt(opt)
        if f == "length":
            if ts[0].kind not in ("text", "enum", "any"):
                self.error("E721", f"`length` works on texts (use count() for lists), not on {ts[0].describe()}", e.args[0])
            return INT.opt(opt)
        if f in ("lower", "upper"):
            return TEXT.opt(opt)
        return ANY


@functools.cache
def _number_fields(cls) -> tuple[str, ...]:
    """The fields of a node class that may hold a number the policy wrote (a Decimal), asked once per
    class: looking at every field of every node made this the slowest check of a large policy."""
    if not attrs.has(cls):
        return ()
    return tuple(f.name for f in attrs.fields(cls) if "Decimal" in str(f.type))


ORDER_KINDS = ("int", "decimal", "percent", "money", "date", "datetime", "text", "enum", "any")


def _item_word(it):
    return {"Order": "order by", "Sportello": "first come first served", "Shortfall": "shortfall",
            "Ties": "ties"}.get(
        type(it).__name__, type(it).__name__.lower())


def _money_hint(num_side, currency) -> str:
    """How to turn the number side of a money/number mix-up into an amount."""
    if isinstance(num_side, ast.Number):
        grouped = numbers.thousands_grouping(str(abs(num_side.value)))
        if grouped:  # `cost <= 2.000`: most likely two thousand, written the Italian way
            sign = "-" if num_side.value < 0 else ""
            return (f"write `{sign}{grouped} {currency}`: in a policy the dot is the decimal point, so "
                    f"`{num_side.value}` is {_fmt(num_side.value)}; thousands are grouped with `_`")
        return f"write `{_expr_text(num_side)} {currency}`"
    if num_side is None:
        return f"write amounts with their currency, e.g. `1_000 {currency}`"
    return f"write amounts with their currency (`1_000 {currency}`); to turn a number into an amount, " \
           f"multiply it by `1 {currency}`"


def _first_at(node):
    span = getattr(node, "span", None)
    return [f"first defined at line {span.line}"] if span is not None else []


def _as_dt(v):
    return v if isinstance(v, _dt.datetime) else _dt.datetime(v.year, v.month, v.day)


def const_date(cp, e):
    """The date ``e`` always has (a date literal, or a date of the call header), else None."""
    if isinstance(e, (ast.DateLit, ast.DateTimeLit)):
        return _day(e.value)
    if isinstance(e, ast.Attr) and isinstance(e.obj, ast.Name) and e.obj.id == "call":
        v = cp.header.get(e.name)
        return _day(v) if isinstance(v, _dt.date) else None
    return None


#: the fields that identify an item of a list in a per-item output (its ``key`` in the result and in
#: outputs_items.csv): the first one the item's record has
ITEM_KEY_FIELDS = ("vat", "vat_id", "piva", "partita_iva", "tax_code", "codice_fiscale", "id", "code", "codice")


def dated_uses(cp, e) -> list:
    """``(dated parameter, date)`` of every ``x at d`` that ``e`` reads on a date known before any
    application (a constant, or a function's parameter given a constant), through functions too:
    the explanation states the value in force, its source and since when."""
    out = []

    def visit(n, params, seen):
        def day_of(w):
            day = const_date(cp, w)
            if day is None and isinstance(w, ast.Name) and cp.ref_of(w)[0] == "param":
                day = params.get(w.id)
            return day
        for x in ast.walk(n):
            if isinstance(x, ast.At) and cp.ref_of(x.param)[0] == "dated":
                day = day_of(x.when)
                if day is not None and (x.param.id, day) not in out:
                    out.append((x.param.id, day))
            elif isinstance(x, ast.Call) and x.func in cp.funcs and x.func not in seen:
                fn = cp.funcs[x.func]
                inner = {p.name: day_of(a) for p, a in zip(fn.params, x.args)}
                visit(fn.expr, {k: v for k, v in inner.items() if v is not None}, seen | {x.func})
    visit(e, {}, frozenset())
    return out


def _day(v):
    return v.date() if isinstance(v, _dt.datetime) else v


def _fmt(d: Decimal) -> str:
    s = format(d.normalize(), "f") if isinstance(d, Decimal) else str(d)
    return s


def _set_value_text(v) -> str:
    """A value of a number set as the policy writes it (`1_000 EUR`, `-5`, `0.5`)."""
    if isinstance(v, ast.Money):
        return f"{_fmt(v.amount)} {v.currency}"
    return _fmt(v.value)


def _is_literal(e) -> bool:
    if isinstance(e, (ast.Number, ast.Percent, ast.Money, ast.String, ast.DateLit, ast.DateTimeLit, ast.Bool)):
        return True
    return isinstance(e, ast.Unary) and e.op == "-" and _is_literal(e.operand)


def _assignable(value: Type, target: Type) -> bool:
    if value.kind == "any" or target.kind == "any":
        return True
    if target.numeric and value.numeric:
        return not (target.kind == "int" and value.kind != "int")
    if target.kind == "enum" and value.kind in ("text", "enum"):
        return True
    if target.kind == "money" and value.kind == "money":
        return target.currency == value.currency
    if target.kind == "record" and value.kind == "record":
        return target.record is value.record
    if target.kind == "list" and value.kind == "list":
        return True
    return target.kind == value.kind


def all_criteria(criteria):
    """Every criterion of ``criteria`` and every `sub` part under them, parents first, in source order."""
    stack = list(reversed(criteria))
    while stack:  # without recursion, like the other walks of the tree
        c = stack.pop()
        yield c
        if c.subs:
            stack.extend(reversed(c.subs))


def _shadowed(cond, earlier) -> str | None:
    """Why ``cond`` can never be the first band to match, given the earlier bands."""
    for prev in earlier:
        if prev == cond:
            return "an earlier band has the same condition"
    if isinstance(cond, ast.Binary) and cond.op in (">=", ">", "<=", "<") and isinstance(cond.right, ast.Number):
        for prev in earlier:
            if not (isinstance(prev, ast.Binary) and isinstance(prev.right, ast.Number) and prev.left == cond.left):
                continue
            p, c = prev.right.value, cond.right.value
            if prev.op in (">=", ">") and cond.op in (">=", ">"):
                if c > p or (c == p and (prev.op == ">=" or cond.op == ">")):
                    return (f"every value with {_expr_text(cond)} already matched {_expr_text(prev)} above; "
                            "write bands from the highest down")
            if prev.op in ("<=", "<") and cond.op in ("<=", "<"):
                if c < p or (c == p and (prev.op == "<=" or cond.op == "<")):
                    return (f"every value with {_expr_text(cond)} already matched {_expr_text(prev)} above; "
                            "write bands from the lowest up")
    if isinstance(cond, ast.Bool) and not cond.value:
        return "its condition is always false"
    return None


def _expr_text(e) -> str:
    from .fmt import format_expr
    try:
        return format_expr(e)
    except Exception:  # pragma: no cover - only used in messages
        return "this"


def check(policy: ast.Policy, source: Source, modules=(), languages=("it", "en"),
          template_words=frozenset()) -> CheckedPolicy:
    """Check a parsed policy. Problems are in ``result.diagnostics``; nothing raises.

    ``languages`` are those a call may be written in: the engine passes the
    languages it has a message catalogue for. ``template_words`` are the words
    of the policy's letter templates (a let they name is not unused).
    """
    cp = CheckedPolicy(policy=policy, source=source, modules=list(modules))
    try:
        Checker(cp, languages, template_words).run()
    except RecursionError:
        cp.diagnostics.append(Diagnostic("this policy is nested too deeply to check", None, source,
                                          code=NESTED_TOO_DEEPLY))
    return cp
