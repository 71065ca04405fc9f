"""Explanations: every gate and criterion in a sentence, rendered from the application's trace.

An explanation is one pure function of (policy, trace, language). The trace
(:mod:`engine.evaluate.trace`) holds the facts the rules used: the values, the band
hit, the items that broke a quantifier; :mod:`engine.compile.tracegen` writes
the code that records them, in the fused fast path and on typed values alike.
This module never computes a rule: it only puts the facts into sentences, with
the catalogue's words (``explain.*`` messages of engine/text/locale/*/bando.po) and
the policy's own labels::

    imprese in rete = 4, richieste almeno 5
    livello di innovazione = 4 → fascia «≥ 4» → 20 su 25 punti
    12 su 15 (80 %) soddisfano «f.iso9001» → 24 su 30 punti

Each rule is turned once (per policy and language) into a function from its
fact to its sentence, holding every word that does not depend on the
application (:class:`_Renderer`).
"""
from __future__ import annotations

import datetime as _dt
import functools
import re
import string
from decimal import ROUND_DOWN, Decimal

import attrs

from dsl import ast
from dsl.checker import const_date, dated_uses
from dsl.fmt import format_expr  # noqa: F401 - used through _text

from engine.text import formatting as _f
from engine.text import i18n

# explanations format the same thresholds and points for every application
format_points = functools.lru_cache(maxsize=8192)(_f.format_points)
format_money = _f.format_money  # amounts rarely repeat: a cache would only cost
format_percent = functools.lru_cache(maxsize=8192)(_f.format_percent)
format_date = _f.format_date
from engine.compile.plan import band_rights, flatten, tier_subject
from engine.evaluate.result import CriterionResult, GateResult, OutputItem, OutputResult, Result
from engine.text.exact import decimal_of, exact_json, money_text
from engine.text.status import PENDING
from engine.evaluate.trace import MAX_ITEMS_SHOWN, Trace
from engine.compile.validate import describe as describe_problem

def texts(lang: str) -> dict:
    """The explanation sentences of ``lang`` (the catalogue's ``explain.*`` messages, keyed without the prefix)."""
    return i18n.table(lang, "explain")


# a comparison's words in the catalogue (explain.op.ge: "required at least")
OP_KEY = {">=": "op.ge", ">": "op.gt", "<=": "op.le", "<": "op.lt", "==": "op.eq", "!=": "op.ne",
          "in": "op.in", "not in": "op.not_in"}
DATE_OP_KEY = {">=": "op.date_ge", ">": "op.date_gt", "<=": "op.date_le", "<": "op.date_lt"}
# an operator's word when a rule is read out (words.times: "×")
_WORD_KEY = {"*": "times", "/": "divided", "not in": "not_in"}

SYMBOL = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "=", "!=": "≠"}
#: the comparison that holds exactly when one does not (``not (a >= b)`` is ``a < b``)
_NEGATED = {">=": "<", "<": ">=", "<=": ">", ">": "<=", "==": "!=", "!=": "=="}
_PREC = {"or": 1, "and": 2, ">=": 4, "<=": 4, ">": 4, "<": 4, "==": 4, "!=": 4, "in": 4, "not in": 4,
         "+": 5, "-": 5, "*": 6, "/": 6, "of": 6}
class _Words:
    """What a policy's sentences say that does not depend on the application: names, rules in words.

    One per policy and language (:func:`_words`); :class:`_Renderer` and the grant's
    sentence read it.
    """

    def __init__(self, policy, lang):
        self.policy = policy
        self.cp = policy.checked
        self.lang = lang
        self.t = texts(lang)
        self.words = i18n.table(lang, "words")
        self.currency = policy.currency
        # while the sentence of a function's body is built for one call: each parameter's name is that
        # of the value the call gives it ("Aiuti ricevuti", not `received`): :meth:`call_frame`
        self.frame: tuple = ()

    def const_value(self, e):
        """The value of a constant (a literal, ``call.closes``): it reads no application."""
        return _per_node(self.policy, "_const_cache", e, lambda x: self.policy.compile_expr(x, ())({}))

    def show(self, v, e=None) -> str:
        return self.shower(e)(v)

    def shower(self, e=None):
        """The function that writes a value of ``e``'s type in a sentence (built once per node and language)."""
        def make(e):
            t = self.cp.type_of(e) if e is not None else None
            return _make_shower(t.kind if t is not None else None, self.t, self.lang, self.currency)
        return _per_node(self.policy, f"_shower_cache_{self.lang}", e, make)

    def name(self, e) -> str:
        """How to call an expression in a sentence: a label when the policy gives one."""
        if isinstance(e, ast.At):
            return _per_node(self.policy, f"_dated_name_{self.lang}", e, self._dated_name)
        if isinstance(e, ast.Name):
            kind, n = self.cp.ref_of(e)
            if kind == "let":
                let = self.cp.lets[n]
                return let.label.get(self.lang, self.cp.language) if let.label else n
            if kind == "input":
                f = self.cp.input.fields[n]
                return f.label.get(self.lang, self.cp.language) if f.label else n
            if kind == "result":  # an output reads the decision: `grant` is "contributo"
                return i18n.table(self.lang, "ranking").get(n, n)
            if kind == "param":
                return self.param_name(e)
            return n
        if isinstance(e, ast.Attr):
            t = self.cp.type_of(e.obj)
            if t.kind == "record" and t.record is not None:
                f = t.record.fields.get(e.name)
                if f is not None and f.label is not None:
                    return f.label.get(self.lang, self.cp.language)
            return _text(e, self.policy)
        return self.human(e)

    def _dated_name(self, e) -> str:
        """``massimale de minimis al 28/02/2014``; ``… alla data «data di invio»`` for a date per application."""
        x = self.dated_label(e.param.id)
        day = const_date(self.cp, e.when)
        if day is not None:
            return self.t["dated_on"].format(x=x, d=format_date(day, self.lang))
        if isinstance(e.when, ast.Name) and self.cp.ref_of(e.when)[0] == "param":
            return x  # inside a function: the rule's sentence states the date it was given (dated_clauses)
        return self.t["dated_at"].format(x=x, d=self._human(e.when, 0))

    def dated_label(self, name) -> str:
        let = self.cp.dated[name]
        return let.label.get(self.lang, self.cp.language) if let.label else name

    def citation(self, node) -> str | None:
        """The article ``node`` (a rule, a dated value) cites, in this language; None when it cites none."""
        c = ast.citation_of(node)
        return c.get(self.lang, self.cp.language) if c is not None else None

    def dated_clauses(self, e) -> str:
        """``; massimale de minimis al 28/02/2014: € 200.000,00 (Reg. (UE) 1407/2013, in vigore dal 01/01/2014)``
        for each dated value ``e`` reads on a date known up front (:func:`dsl.checker.dated_uses`); the
        checker made sure each such date has a value."""
        out = []
        for name, day in dated_uses(self.cp, e):
            x = self.cp.dated_tables[name].entry(day)
            if x is None:  # pragma: no cover - E147
                continue
            out.append(self.dated_value(self.dated_label(name), day, x))
        return "".join(self.t["and"] + c for c in out)

    def dated_value(self, label, day, entry) -> str:
        """``massimale de minimis al 28 febbraio 2014: € 200.000,00 (Reg. (UE) 1407/2013, in vigore dal
        1º gennaio 2014)``: the ``entry`` of a dated value in force on ``day``."""
        t, cites = self.t, self.citation(entry)
        return t["dated_value" if cites else "dated_value_plain"].format(
            x=t["dated_on"].format(x=label, d=format_date(day, self.lang)),
            v=self.show(self.const_value(entry.value), entry.value), c=cites,
            since=format_date(entry.start, self.lang))

    def rule_suffix(self, rule, exprs) -> str:
        """What a rule's sentence ends with: the dated values it used, then the articles it comes from:
        its own, then those of the lets it reads that cite one (unless a dated value already quoted
        that very article)."""
        suffix = "".join(self.dated_clauses(e) for e in exprs if e is not None)
        return suffix + self.cites_clause([rule, *self.cited_lets(exprs)], suffix)

    def cited_lets(self, exprs) -> list:
        """The lets (values and functions) that ``exprs`` name and that cite an article, first named first:
        a sentence that uses "contributo spettante" quotes the article that defines it."""
        found: dict = {}
        for e in exprs:
            if e is None:
                continue
            for n in ast.walk(e):
                name = n.func if isinstance(n, ast.Call) else n.id if isinstance(n, ast.Name) else None
                if name is None or name in found:
                    continue
                let = self.cp.funcs.get(name) if isinstance(n, ast.Call) else (
                    self.cp.lets.get(name) if self.cp.ref_of(n)[0] == "let" else None)
                if let is not None and ast.citation_of(let) is not None:
                    found[name] = let
        return list(found.values())

    def cites_clause(self, nodes, already="") -> str:
        """`` (rif. Art. 4; Art. 6, c. 1)``: the articles ``nodes`` cite, each once, leaving out those
        ``already`` quotes; "" when none is left."""
        arts = []
        for node in nodes:
            c = self.citation(node) if node is not None else None
            if c and c not in arts and f"({c}," not in already:
                arts.append(c)
        return self.t["cites"].format(c="; ".join(arts)) if arts else ""

    def dated_at_runtime(self, exprs, keys):
        """``facts -> "; massimale de minimis al 1º maggio 2023: € 200.000,00 (Reg. …, in vigore dal …)"``
        for each ``x at d`` in ``exprs`` whose date ``d`` is a value of the application listed in ``keys``
        (the rule's :func:`value_nodes`), so that the sentence says which of the dated values applied;
        None when ``exprs`` has none (a date known up front is stated by :meth:`dated_clauses`)."""
        uses = []
        for e in exprs:
            if e is None:
                continue
            for x in ast.walk(e):
                if (isinstance(x, ast.At) and self.cp.ref_of(x.param)[0] == "dated"
                        and const_date(self.cp, x.when) is None):
                    key = _text(x.when, self.policy)
                    if key in keys and (x.param.id, key) not in uses:
                        uses.append((x.param.id, key))
        if not uses:
            return None
        plan = tuple((self.cp.dated_tables[name], self.dated_label(name), keys.index(key)) for name, key in uses)
        sep = self.t["and"]

        def clauses(facts) -> str:
            out = []
            for table, label, i in plan:
                day = facts[i] if i < len(facts) else None
                if isinstance(day, _dt.datetime):
                    day = day.date()
                if not isinstance(day, _dt.date):
                    continue  # not read (a side not evaluated) or missing: nothing to state
                x = table.entry(day)
                if x is None:
                    continue  # before the first value: the rule's own sentence says it cannot be computed
                out.append(self.dated_value(label, day, x))
            return "".join(sep + c for c in out)
        return clauses

    def human(self, e) -> str:
        """A rule as a person reads it: labels instead of field names, ≥ and × instead of >= and *."""
        key = f"_human_cache_{self.lang}" + (repr(self.frame) if self.frame else "")
        return _per_node(self.policy, key, e, lambda x: self._human(x, 0))

    def _named_value(self, e) -> bool:
        """Is ``e`` a value a sentence names (a field, a let, a parameter given one), not one it writes out
        (``call.decision``, a parameter given a constant: "28 febbraio 2014")?"""
        if isinstance(e, ast.Attr):
            return not (isinstance(e.obj, ast.Name) and e.obj.id == "call")
        if not isinstance(e, ast.Name):
            return False
        if self.cp.ref_of(e)[0] == "param":
            return next((named for p, _shown, named in self.frame if p == e.id), True)
        return True

    def param_name(self, e) -> str:
        """A function's parameter as the call being explained names it (its own name outside any call)."""
        return next((shown for p, shown, _named in self.frame if p == e.id), e.id)

    def call_frame(self, fn, args) -> tuple:
        """The frame of a call of function ``fn`` with ``args``: ``(parameter, how it is written, named?)``,
        each parameter written as its argument is: by its name, or a constant by its value ("28 febbraio 2014")."""
        return tuple((p.name, self.show(self.const_value(a), a), False) if is_const(a) else (p.name, self.name(a), True)
                     for p, a in zip(fn.params, args))

    def _human(self, e, prec) -> str:
        words = self.words
        if isinstance(e, ast.At):
            return self.name(e)
        if isinstance(e, (ast.Name, ast.Attr)):
            if isinstance(e, ast.Attr) and isinstance(e.obj, ast.Name) and e.obj.id == "call":
                return self.show(self.const_value(e), e)
            kind = self.cp.ref_of(e)[0] if isinstance(e, ast.Name) else None
            if kind == "param":
                return self.param_name(e)
            if kind == "var":
                return e.id
            return self.name(e)
        if isinstance(e, (ast.Number, ast.Money, ast.Percent, ast.DateLit, ast.DateTimeLit, ast.Bool)):
            return self.show(self.const_value(e), e)
        if isinstance(e, ast.ScoreRef):  # (only an output reads the score)
            return i18n.text(self.lang, "ranking.score")
        if isinstance(e, ast.Binary):
            p = _PREC.get(e.op, 9)
            op = words.get(_WORD_KEY.get(e.op, e.op), SYMBOL.get(e.op, e.op))
            if e.op == "of":
                # "75 % di «Costo totale ammissibile»": quoted, "di" needs no article to agree with the label
                right = self._human(e.right, 7)
                if self._named_value(e.right) and not right.startswith("«"):  # the grant's namer quotes its own
                    right = f"«{right}»"
                s = f"{self._human(e.left, 7)} {op} {right}"
            else:
                s = f"{self._human(e.left, p)} {op} {self._human(e.right, p + 1)}"
            return f"({s})" if prec > p else s
        if isinstance(e, ast.Unary) and e.op == "not":
            s = f"{words['not']} {self._human(e.operand, 3)}"
            return f"({s})" if prec > 3 else s
        if isinstance(e, ast.Between):
            s = words["between"].format(v=self._human(e.value, 5), lo=self._human(e.low, 5),
                                        hi=self._human(e.high, 5))
            return f"({s})" if prec > 4 else s
        if isinstance(e, ast.Call) and e.func in self.cp.funcs:
            fn = self.cp.funcs[e.func]
            args = ", ".join(self._human(a, 0) for a in e.args)
            return f"{fn.label.get(self.lang, self.cp.language)} ({args})" if fn.label else f"{e.func}({args})"
        if isinstance(e, ast.Call) and e.func in TEXT_TESTS and len(e.args) == 2:
            s = f"{self._human(e.args[0], 8)} {words[e.func]} {self._human(e.args[1], 8)}"
            return f"({s})" if prec > 4 else s
        if isinstance(e, ast.If):  # a rule in words never shows a raw field path where a label exists
            s = self.t["if"].format(c=self._human(e.cond, 0), a=self._human(e.then, 0), b=self._human(e.else_, 0))
            return f"({s})" if prec > 0 else s
        return _text(e, self.policy)


def _words(policy, lang) -> _Words:
    cache = policy.__dict__.setdefault("_words_cache", {})
    found = cache.get(lang)
    if found is None:
        found = cache[lang] = _Words(policy, lang)
    return found


# the text tests whose sentence quotes the text itself (it says more than "true")
TEXT_TESTS = ("starts_with", "ends_with", "contains")


def explains_let(cp, e, scope) -> bool:
    """Whether a condition that is a ``let`` is explained by the let's own rule (outside a quantifier or
    function, and when the rule is not a constant); the trace generator records the facts of that rule."""
    if not (isinstance(e, ast.Name) and not scope and cp.ref_of(e)[0] == "let"):
        return False
    return not is_const(cp.lets[e.id].expr)


def counted_aggregates(policy, e) -> list:
    """The ``share``/``count … where`` of ``e`` whose counts a sentence quotes (``12 su 15 soddisfano …``),
    and its ``count distinct`` (``3 valori diversi di «Paese»: DE, FR, IT``)."""
    return [n for n in _aggregates_cached(e, policy)
            if (n.func in ("share", "count") and n.where is not None) or n.func == "count distinct"]


#: a ``count distinct`` names its values when there are at most this many ("12 valori diversi" beyond)
MAX_DISTINCT_SHOWN = 6


def distinct_of(cp, e, scope=None):
    """The ``count distinct`` a compared value is: ``e`` itself, or the rule of the let ``e`` names
    (outside a quantifier or function); else None."""
    seen = set()
    while isinstance(e, ast.Name) and not scope and cp.ref_of(e)[0] == "let" and e.id not in seen:
        seen.add(e.id)
        e = cp.lets[e.id].expr
    if isinstance(e, ast.Aggregate) and e.func == "count distinct":
        return e
    return None


def value_nodes(policy, exprs) -> tuple:
    """``(key, node)`` of the input fields and lets whose values ``exprs`` use, as ``values`` lists them:
    keyed by the rule's text, first use first; a list or record that is always there is no value to list."""
    exprs = tuple(exprs)
    cache = policy.__dict__.setdefault("_value_nodes_cache", {})
    key = tuple(map(id, exprs))
    found = cache.get(key)
    if found is None or found[0] != key:
        found = cache[key] = (key, exprs, _value_nodes(policy, exprs))  # the nodes are kept: their ids stay theirs
    return found[2]


def _value_nodes(policy, exprs):
    out = {}
    cp = policy.checked
    for e in exprs:
        if e is None:
            continue
        for node in _paths_cached(e, policy):
            key = _text(node, policy)
            if key in out:
                continue
            t = cp.type_of(node)
            if t.kind in ("list", "record") and not t.optional:
                continue
            out[key] = node
    return tuple(out.items())


def _json_of(kind):
    """The function writing a value of static type ``kind`` in ``values`` (as :func:`_jsonable` does)."""
    if kind in ("int", "bool", "text", "enum"):
        return _jsonable_plain
    if kind in ("decimal", "money", "percent"):
        return _json_decimal
    if kind in ("date", "datetime"):
        return _json_moment
    return _jsonable


def _jsonable_plain(v):
    return v if v is None or isinstance(v, (bool, str, int)) else _jsonable(v)


def _fill(template: str, **static) -> str:
    """``template`` with the ``static`` slots written in and the others left as slots (braces in the
    static texts kept as text): a rule's words are put in once, its values per application."""
    out = []
    for literal, field, spec, conv in string.Formatter().parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if field in static:
            out.append(str(static[field]).replace("{", "{{").replace("}", "}}"))
        else:
            out.append("{" + field + ("!" + conv if conv else "") + (":" + spec if spec else "") + "}")
    return "".join(out)


@functools.lru_cache(maxsize=None)
def _points_writer(lang):
    """``format_points(v, lang)``, with whole points below 1,000 (nearly all of them) written directly."""
    def points(v):
        if v.__class__ is int and -1000 < v < 1000:
            return str(v)
        return format_points(v, lang)
    return points


class _Renderer:
    """Sentences from facts (:mod:`engine.evaluate.trace`), for one policy and language.

    Each rule is turned once into a function ``fact -> sentence`` that holds every
    word that does not depend on the application; rendering an application only
    fills in its values. Nothing here computes a rule: the values come from the trace.
    """

    def __init__(self, policy, lang):
        self.policy = policy
        self.cp = policy.checked
        self.lang = lang
        self.t = texts(lang)
        self.w = _words(policy, lang)
        self._fns: dict = {}
        self.gates = tuple(self._gate_fn(g) for g in self.cp.gates)
        self.criteria = tuple(self._criterion_fn(c) for c in self.cp.criteria)
        self.bonuses = tuple(self._bonus_fn(b) for b in self.cp.bonuses)
        self.outputs = tuple(self._output_fn(d) for d in self.cp.outputs.values())

    # --- conditions ----------------------------------------------------------------------------
    def why(self, e, scoped: bool):
        """``fact -> sentence`` saying why condition ``e`` has its value (``scoped``: inside a
        quantifier or a function, where a let is a value and not its rule)."""
        key = (id(e), scoped, self.w.frame)  # a function's body reads differently in each call
        found = self._fns.get(key)
        if found is None or found[0] is not e:
            found = self._fns[key] = (e, self._why(e, scoped))
        return found[1]

    def _why(self, e, scoped):
        t, w = self.t, self.w
        missing = t["missing"]
        if isinstance(e, ast.Binary) and e.op in SYMBOL:
            lname, rname = w.name(e.left), w.name(e.right)
            showl, showr = self._compared_showers(e.left, e.right)
            static = w.show(w.const_value(e.right), e.right) if is_const(e.right) else None
            word = t[OP_KEY[e.op]]
            if self.cp.type_of(e.left).kind in ("date", "datetime") and e.op in DATE_OP_KEY:
                word = t[DATE_OP_KEY[e.op]]
            lmiss, rmiss = f"{lname}: {missing}", f"; {rname}: {missing}"
            distinct = distinct_of(self.cp, e.left, scoped)
            listed = self._distinct_lister(distinct) if distinct is not None else None

            def compare(fact):
                lv, rv = fact[0], fact[1]
                if lv is None:
                    return lmiss
                left = f"{lname} = {showl(lv)}"
                if listed is not None and 0 < len(fact[2]) <= MAX_DISTINCT_SHOWN:
                    left += f" ({listed(fact[2])})"  # the values counted: "= 3 (DE, FR, IT)"
                if rv is None:
                    return left + rmiss
                return f"{left}, {word} {static if static is not None else f'{showr(rv)} ({rname})'}"
            return compare
        if isinstance(e, ast.Binary) and e.op in ("and", "or"):
            subs = tuple(self.why(p, scoped) for p in flatten(e, e.op))
            sep = t["and"]
            if e.op == "and":
                def both(fact):
                    every = fact[0] is True
                    return sep.join(s(f) for s, (v, f) in zip(subs, fact[1:]) if every or v is not True)
                return both
            or_fail, also, other = t["or_fail"], t["or_also"], t["or_other"]
            # a text test's sentence is only the text ("Codice = "A02""): among alternatives it is named
            # by its rule, or two of them would read the same; briefly, as another side, by its rule alone
            # inside a quantifier the whole condition is quoted already: the side that held says enough
            full, brief = [], []
            for p, sub in zip(flatten(e, e.op), subs):
                if not scoped and isinstance(p, ast.Call) and p.func in TEXT_TESTS and len(p.args) == 2:
                    rule = f"«{w.human(p)}»"
                    full.append(lambda f, sub=sub, rule=rule: f"{rule} ({sub(f)})")
                    brief.append(lambda f, rule=rule: rule)
                else:
                    full.append(sub)
                    brief.append(sub)
            full, brief = tuple(full), tuple(brief)

            def either(fact):
                if fact[0] is True:
                    # the side that held first, then briefly each other one, as it stands for this application
                    held = next(k for k, (v, _f) in enumerate(fact[1:]) if v is True)
                    if scoped:
                        return full[held](fact[1 + held][1])
                    return full[held](fact[1 + held][1]) + "".join(
                        (also if v is True else other).format(s=brief[k](f))
                        for k, (v, f) in enumerate(fact[1:]) if k != held)
                return or_fail + sep.join(s(f) for s, (_v, f) in zip(full, fact[1:]))
            return either
        if isinstance(e, ast.Unary) and e.op == "not" and isinstance(e.operand, ast.IsMissing):
            return self.why(e.operand, scoped)  # "manca il dato «X»" says it already, either way
        if isinstance(e, ast.Unary) and e.op == "not":
            flipped = self._negated_comparison(e.operand, scoped)
            if flipped is not None:  # "Imprese = 4, richiesto meno di 10", not "non risulta che … almeno 10"
                return self.why(*flipped)
            inner, prefix = self.why(e.operand, scoped), t["not"]
            return lambda fact: prefix + inner(fact)
        if isinstance(e, ast.Between):
            name = w.name(e.value)
            show = self._compared_showers(e.value, e.low if self._is_share(e.low) else e.high)[0]
            slo, shi, between = w.shower(e.low), w.shower(e.high), t["op.between"]
            miss = f"{name}: {missing}"

            def within(fact):
                v, lo, hi = fact
                if v is None:
                    return miss
                return f"{name} = {show(v)}, " + between.format(lo=slo(lo), hi=shi(hi))
            return within
        if isinstance(e, ast.Binary) and e.op in ("in", "not in"):
            name, show, generic, rname = w.name(e.left), w.shower(e.left), w.shower(None), w.name(e.right)
            word, miss = t[OP_KEY[e.op]], f"{name}: {missing}"

            def member(fact):
                v, s = fact
                if v is None:
                    return miss
                shown = generic(s) if isinstance(s, (set, frozenset)) else rname
                return f"{name} = {show(v)}, " + word.format(s=shown)
            return member
        if isinstance(e, ast.IsMissing):
            name = w.name(e.operand)
            present, absent = t["is_present"].format(x=name), t["is_missing"].format(x=name)
            return lambda v: present if v is not None else absent
        if isinstance(e, ast.Quantified):
            return self._quantified(e)
        if explains_let(self.cp, e, scoped):
            let = self.cp.lets[e.id]
            inner = self.why(let.expr, False)
            if let.label:
                head = f"{w.name(e)}: "
                return lambda fact: head + inner(fact)
            return inner
        if isinstance(e, ast.Call) and e.func in TEXT_TESTS and len(e.args) == 2:
            name, show = w.name(e.args[0]), w.shower(e.args[0])
            return lambda v: f"{name} = {show(v)}"
        if isinstance(e, ast.Call) and e.func in self.cp.funcs:
            fn = self.cp.funcs[e.func]
            names = tuple(w.name(a) for a in e.args)
            outer, w.frame = w.frame, w.call_frame(fn, e.args)
            try:
                body = self.why(fn.expr, bool(fn.params))
            finally:
                w.frame = outer

            def call(fact):
                args, inner = fact
                gaps = [f"{n}: {missing}" for n, v in zip(names, args) if v is None]
                if gaps:  # the call is missing as a whole: say which data the applicant did not give
                    return "; ".join(gaps)
                return body(inner)
            return call
        name, show = w.name(e), w.shower(e)
        return lambda v: f"{name} = {show(v)}"

    def _is_share(self, e) -> bool:  # a percentage: the bound a ratio is written against
        return self.cp.type_of(e).kind == "percent"

    def _compared_showers(self, a, b):
        """How the two sides of a comparison are written: a ratio (a decimal, ``women / members``)
        compared with a percentage (``30%``) is written as a percentage too, "20 %, richiesto almeno
        30 %", never "0,2" against "30 %"; the checker's types say which side is which."""
        w = self.w
        showa, showb = w.shower(a), w.shower(b)
        kind_a, kind_b = self.cp.type_of(a).kind, self.cp.type_of(b).kind
        if kind_a == "decimal" and kind_b == "percent":
            showa = functools.partial(_percent_shown, lang=self.lang, show=showa)
        elif kind_b == "decimal" and kind_a == "percent":
            showb = functools.partial(_percent_shown, lang=self.lang, show=showb)
        return showa, showb

    def _negated_comparison(self, e, scoped):
        """``(comparison, scoped)`` that says ``not e`` as a requirement of its own (``not (n >= 10)`` is
        ``n < 10``), through the lets the sentence explains by their rule; None when ``e`` is no
        comparison. Its facts are those of ``e``: the same two sides, only the word changes."""
        seen = set()
        while explains_let(self.cp, e, scoped) and e.id not in seen:
            seen.add(e.id)
            e, scoped = self.cp.lets[e.id].expr, False  # as the let's own rule is explained
        if not (isinstance(e, ast.Binary) and e.op in _NEGATED):
            return None
        flipped = attrs.evolve(e, op=_NEGATED[e.op])
        object.__setattr__(flipped, "checked_type", self.cp.type_of(e))  # not a constructor argument
        return flipped, scoped

    def _quantified(self, e):
        c, lang = self.w.human(e.cond), self.lang
        # the verb agrees with the number counted: "1 su 4 non soddisfa", "2 su 4 non soddisfano"
        if e.kind == "any":
            ok, fail = i18n.forms(lang, "explain.any_ok"), i18n.forms(lang, "explain.any_fail")
            return lambda fact: (ok(fact[1]).format(k=fact[1], n=fact[0], c=c) if fact[1]
                                 else fail(fact[0]).format(n=fact[0], c=c))
        ok, fail = (i18n.forms(lang, f"explain.{e.kind}_ok"), i18n.forms(lang, f"explain.{e.kind}_fail"))
        inner = self.why(e.cond, True)

        def quantified(fact):
            n, k, shown = fact
            if not k:
                return ok(n).format(n=n, c=c)
            items = ", ".join(f"{_item_name(name, i)} ({inner(f)})" for i, name, f in shown)
            more = f", … +{k - MAX_ITEMS_SHOWN}" if k > MAX_ITEMS_SHOWN else ""
            return f"{fail(k).format(k=k, n=n, c=c)}: {items}{more}"
        return quantified

    # --- values used ---------------------------------------------------------------------------
    def _values_fn(self, exprs):
        nodes = value_nodes(self.policy, exprs)
        keys = tuple(k for k, _n in nodes)
        kinds = tuple(self.cp.type_of(n).kind for _k, n in nodes)
        # only an optional list or record can hold a list or dict (not a value to list); only some
        # types need writing as JSON: the rest go into the dict as they are, in one C-level call
        writers = tuple((k, _json_of(kind)) for k, kind in zip(keys, kinds)
                        if _json_of(kind) is not _jsonable_plain and kind not in ("list", "record"))
        nested = tuple(k for k, kind in zip(keys, kinds) if kind in ("list", "record"))
        if not writers and not nested:
            return lambda facts: dict(zip(keys, facts))

        def values(facts):
            d = dict(zip(keys, facts))
            for k, write in writers:
                d[k] = write(d[k])
            for k in nested:
                v = d[k]
                if isinstance(v, (list, dict)):
                    del d[k]
                else:
                    d[k] = _jsonable(v)
            return d
        return values

    # --- gates -----------------------------------------------------------------------------------
    def _gate_fn(self, g):
        why, values = self.why(g.cond, False), self._values_fn([g.cond])
        label, gid = self.policy.label_of(g, self.lang), g.id
        suffix, cites = self.w.rule_suffix(g, [g.cond]), self.w.citation(g)
        dated = self.w.dated_at_runtime([g.cond], [k for k, _n in value_nodes(self.policy, [g.cond])])
        if dated is not None:
            def gate(fact, passed):
                return GateResult(gid, label, passed, why(fact[0]) + dated(fact[1]) + suffix, values(fact[1]),
                                  cites=cites)
            return gate

        def gate(fact, passed):
            return GateResult(gid, label, passed, why(fact[0]) + suffix, values(fact[1]), cites=cites)
        return gate

    # --- criteria --------------------------------------------------------------------------------
    def _criterion_fn(self, c):
        """``(points, fact) -> CriterionResult`` (``fact`` None when the application was not scored)."""
        t, lang = self.t, self.lang
        m = format_points(c.max, lang)
        label = self.policy.label_of(c, lang)
        suffix = ""
        if c.weight is not None:
            suffix += t["weight"].format(w=format_points(c.weight, lang))
        if c.ranking_weight is not None:
            suffix += t["rweight"].format(w=format_points(c.ranking_weight, lang))
        below = t["minimum"].format(min=format_points(c.minimum, lang)) if c.minimum is not None else None
        not_scored = t["not_scored"] + suffix
        if c.subs is not None:
            parts_fns = tuple(self._criterion_fn(s) for s in c.subs)
            exprs = []
            parts_t = t["parts"]

            def because(points, fact):
                parts = tuple(f(sub[0], sub) for f, sub in zip(parts_fns, fact[1]))
                return parts_t.format(parts=" + ".join(f"{p.label} {format_points(p.points, lang)}" for p in parts),
                                      p=format_points(points, lang), m=m), parts
        elif c.tiers is not None:
            exprs = [x for tier in c.tiers for x in (tier.cond, tier.points)]
            tiers = self._tiers_fn(c.tiers, m)

            def because(points, fact):
                return tiers(points, fact[1]), ()
        else:
            exprs = [c.formula]
            formula = self._formula_fn(c, m)

            def because(points, fact):
                return formula(points, fact), ()
        values = self._values_fn(exprs)
        cid, cmax, minimum, weight, rweight = c.id, c.max, c.minimum, c.weight, c.ranking_weight
        # a criterion made of parts: each part quotes its own dated values and article
        ends, cites = self.w.rule_suffix(c, exprs), self.w.citation(c)
        cited = t["cites"].format(c=cites) if cites else ""
        dated = self.w.dated_at_runtime(exprs, [k for k, _n in value_nodes(self.policy, exprs)])

        def criterion(points, fact):
            if points is None:
                return CriterionResult(cid, label, None, cmax, not_scored + cited, minimum, weight, rweight, {}, (),
                                       cites=cites)
            text, parts = because(points, fact)
            if below is not None and points < minimum:
                text += below
            if dated is not None:
                text += dated(fact[2])
            return CriterionResult(cid, label, points, cmax, text + suffix + ends, minimum, weight, rweight,
                                   values(fact[2]), parts, cites=cites)
        return criterion

    def _distinct_lister(self, node):
        """``values -> "DE, FR, IT"``: the different values of a ``count distinct``, as its value shows them."""
        value = node.value if node.value is not None else None
        kind = self.cp.type_of(value).kind if value is not None else None
        # codes and names are listed as they are ("DE, FR, IT"), not quoted as a compared text is
        show = str if kind in ("text", "enum") else self.w.shower(value)
        sep = self.t["distinct_sep"]
        return lambda values: sep.join(show(v) for v in values)

    def _distinct_fn(self, node):
        """``(k, values) -> sentence``: ``3 valori diversi di «Paese»: DE, FR, IT`` (``12 valori diversi``)."""
        t = self.t
        c = self.w.human(node.value if node.value is not None else node.source)
        listed = self._distinct_lister(node)
        none, one, some, many = t["distinct_none"], t["distinct_one"], t["distinct"], t["distinct_many"]

        def distinct(fact):
            k, values = fact
            if not k:
                return none.format(c=c)
            if k > MAX_DISTINCT_SHOWN:
                return many.format(k=k, c=c)
            return (one if k == 1 else some).format(k=k, c=c, values=listed(values))
        return distinct

    def _bonus_fn(self, b):
        """``(points, fact, applied, below) -> CriterionResult`` of a bonus or malus: the criterion's sentence
        (bands or formula), then whether it counted and why (``below``: a criterion under its minimum)."""
        t, lang = self.t, self.lang
        inner = self._criterion_fn(b)
        pass_ = format_points(self.policy.pass_score, lang)
        kind, stage = b.kind, b.stage
        counted = t[f"bonus.{kind}_{stage}"].format(pass_=pass_)
        skipped = t["bonus.skipped"].format(pass_=pass_)
        skipped_min = t["bonus.skipped_minimum"]

        def bonus(points, fact, applied, below):
            r = inner(points, fact)
            if points is None:
                text = r.because
            elif not applied:
                text = r.because + (skipped_min if below else skipped)
            else:  # a bonus that gave no points needs no word on how it counts
                text = r.because + (counted if points else "")
            return attrs.evolve(r, because=text, kind=kind, stage=stage, applied=applied if points is not None else None)
        return bonus

    def render_bonuses(self, decision, trace) -> tuple:
        """The :class:`CriterionResult` of each bonus and malus (their facts follow the criteria's)."""
        points = decision.points
        if points is None or trace.criteria is None:
            return tuple(b(None, None, None, ()) for b in self.bonuses)
        n = len(self.criteria)
        return tuple(b(p, f, a, decision.below) for b, p, f, a in
                     zip(self.bonuses, points[n:], trace.criteria[n:], decision.bonus_applied))

    def _aggregates_fn(self, e):
        """``aggregates -> [sentence, …]``: ``12 su 15 (80 %) soddisfano «…»`` for each counted aggregate."""
        lang = self.lang
        nodes = counted_aggregates(self.policy, e)
        if not nodes:
            return None
        share, count = i18n.forms(lang, "explain.share"), i18n.forms(lang, "explain.count")

        def counted(node):
            if node.func == "count distinct":
                return self._distinct_fn(node)
            c = self.w.human(node.where)
            if node.func == "share":
                return lambda fact: share(fact[0]).format(
                    k=fact[0], n=fact[1], pct=format_percent(Decimal(fact[0]) / fact[1], lang), c=c) \
                    if fact[1] else count(fact[0]).format(k=fact[0], n=fact[1], c=c)
            return lambda fact: count(fact[0]).format(k=fact[0], n=fact[1], c=c)

        sayers = tuple(counted(n) for n in nodes)

        def aggregates(facts):
            return [say(fact) for say, fact in zip(sayers, facts)]
        return aggregates

    def _formula_fn(self, c, m):
        t, lang = self.t, self.lang
        aggregates = self._aggregates_fn(c.formula)
        # a formula that is one value (``= coherence``) is said once: "Coerenza = 6 → 6 su 10 punti",
        # not with its own value again in brackets (the value is the raw result)
        own = _text(c.formula, self.policy)
        details = tuple(None if k == own else (self.w.name(n), self.w.shower(n))
                        for k, n in value_nodes(self.policy, [c.formula]))
        text = self.w.human(c.formula)
        show = self.w.shower(None)
        pts = _points_writer(lang)
        cmax = c.max
        missing_t, capped, floored, plain = t["missing_points"], t["capped"], t["floored"], t["formula"]

        def formula(points, fact):
            raw, aggs = fact[1]
            shown = aggregates(aggs) if aggregates is not None else []
            shown.extend(f"{d[0]} = {d[1](v)}" for d, v in zip(details, fact[2])
                         if d is not None and not isinstance(v, (list, dict)))
            f = f"{text} [{'; '.join(dict.fromkeys(shown))}]" if shown else text
            if raw is None:
                return missing_t.format(what=f, m=m)
            if raw > cmax:
                return capped.format(f=f, raw=show(raw), p=pts(points), m=m)
            if raw < 0:
                return floored.format(f=f, raw=show(raw), m=m)
            return plain.format(f=f, raw=show(raw), p=pts(points), m=m)
        return formula

    def _tiers_fn(self, tiers, m):
        t, w, lang = self.t, self.w, self.lang
        pts = _points_writer(lang)
        subject = tier_subject(tiers)
        aggregates = self._aggregates_fn(tiers[0].cond) if tiers[0].cond is not None else None
        missing = t["missing"]
        conds = tuple(tier.cond is not None for tier in tiers)
        nomatch = _fill(t["nomatch"], m=m)
        if subject is not None:
            name, show = w.name(subject), w.shower(subject)
            if self.cp.type_of(subject).kind == "decimal" and any(
                    self.cp.type_of(r).kind == "percent" for tier in tiers if tier.cond is not None
                    for r in band_rights(tier.cond)):
                show = functools.partial(_percent_shown, lang=lang, show=show)  # bands in % read better against a %
            tail = not isinstance(subject, ast.Aggregate)
            missing_text = t["missing_points"].format(what=name, m=m)
            absent = f"{name}: {missing}"
        else:
            name, tail = None, False
            positions = {j: k for k, j in enumerate(j for j, tier in enumerate(tiers) if tier.cond is not None)}
            whys = {j: self.why(tier.cond, False) for j, tier in enumerate(tiers) if tier.cond is not None}
            missing_t = _fill(t["missing_points"], m=m)
        # each band's sentence with its words in: the band's text when its bounds are constants
        # (nearly always), else a slot filled from the bound values the trace recorded
        static, dynamic = [], []
        for tier in tiers:
            if tier.cond is None:
                static.append(_fill(t["otherwise"], m=m))
                dynamic.append(None)
            elif subject is None or all(is_const(r) for r in band_bounds(tier.cond, subject)):
                text = self._band_fn(tier.cond, subject)(
                    tuple(w.const_value(r) for r in band_bounds(tier.cond, subject))) if subject is not None \
                    else w.human(tier.cond)
                static.append(_fill(t["band"], b=text, m=m))
                dynamic.append(None)
            else:
                static.append(_fill(t["band"], m=m))
                dynamic.append(self._band_fn(tier.cond, subject))
        static, dynamic = tuple(static), tuple(dynamic)
        fixed = not any(dynamic)

        def why_tiers(points, body):
            i, miss, sv, cfacts, bounds, aggs = body
            if subject is not None:
                if miss:
                    return missing_text
                v = f"{name} = {show(sv)}" if sv is not None else absent
            else:
                j = i if i is not None and conds[i] else 0
                v = whys[j](cfacts[positions[j]]) if conds[j] else ""
            if aggregates is not None:
                said = aggregates(aggs)
                if said:
                    v = "; ".join(said) + (f" ({v})" if tail else "")
            if miss:
                return missing_t.format(what=v)
            if i is None:
                return nomatch.format(v=v)
            if fixed or dynamic[i] is None:
                return static[i].format(v=v, p=pts(points))
            return static[i].format(v=v, b=dynamic[i](bounds[i]), p=pts(points))
        return why_tiers

    def _band_fn(self, cond, subject):
        """``bound values -> text`` of one band (``≥ 4``, ``2–5``, else the test in words)."""
        w, lang = self.w, self.lang
        if isinstance(cond, ast.Binary) and cond.op in SYMBOL and cond.left == subject:
            sym, show = SYMBOL[cond.op], w.shower(cond.right)
            share = self.cp.type_of(subject).kind == "percent"

            def compared(bounds):
                bound = bounds[0]
                if share and isinstance(bound, Decimal):
                    return f"{sym} {format_percent(bound, lang)}"  # a share: bands in %
                return f"{sym} {show(bound)}"
            return compared
        if isinstance(cond, ast.Between) and cond.value == subject:
            slo, shi = w.shower(cond.low), w.shower(cond.high)
            return lambda bounds: f"{slo(bounds[0])}–{shi(bounds[1])}"
        text = w.human(cond)
        return lambda bounds: text

    # --- named outputs ---------------------------------------------------------------------------
    def _output_fn(self, d):
        """``fact -> OutputResult`` of named output ``d`` (its fact: :mod:`engine.evaluate.trace`).

        One value reads ``Categoria della filiera: A (condizione verificata: …)`` for an
        ``if … then … else``, ``Imprese aderenti: 12 (rule [values])`` for a calculation, and just
        the value for a field or a ``let`` named as it is; per item, every item's value in turn."""
        t, w, lang = self.t, self.w, self.lang
        label = self.policy.label_of(d, lang)
        kind = self.cp.type_of(d.expr).kind
        show_item = _output_text(kind, t, lang, self.policy.currency)
        to_json = _output_json(kind)
        name, expr = d.name, d.expr
        details = tuple((w.name(n), w.shower(n)) for _k, n in
                        value_nodes(self.policy, [expr] if d.source is None else [d.source, expr]))
        from engine.evaluate.named_outputs import decided_names
        ranking_words = i18n.table(lang, "ranking")
        decided = tuple((ranking_words[n], _make_shower({"grant": "money", "requested": "money", "score": "decimal"}
                                                        .get(n), t, lang, self.policy.currency))
                        for n in decided_names(self.cp, d))
        plain = isinstance(expr, (ast.Name, ast.Attr, ast.ScoreRef)) and d.source is None and d.rounding is None
        # a sum, an average… of a list is said by its value alone: the rules in words have no words for
        # it yet, and the rule as written (`sum(p.cost for p in network.partners)`) is not for a reader
        opaque = isinstance(expr, ast.Aggregate) and not counted_aggregates(self.policy, expr) and d.source is None
        plain = plain or (opaque and d.rounding is None)
        rule = w.human(expr)
        if d.rounding is not None:
            rounded = _rounding_words(t, d.rounding, lang, self.policy.currency)
            rule = rounded if opaque else rule + ", " + rounded
        cond = self.why(expr.cond, False) if isinstance(expr, ast.If) and d.source is None else None
        condition = output_is_condition(self.cp, d)
        if condition:  # yes/no: why, as a gate says it ("sì (1 su 4 soddisfano «…»)")
            cond = self.why(expr, False)
        head = _fill(t["output"], label=label)
        # a count (``count(p in … where …)``, ``count distinct``) says what it counted, in the words of a
        # gate (``2 su 3 soddisfano «Tipo di soggetto = "pmi"»``), never the rule as written
        aggregates = self._aggregates_fn(expr) if d.source is None and cond is None else None
        counted = aggregates is not None and d.rounding is None and counted_aggregates(self.policy, expr) == [expr]
        if counted and expr.func == "share":  # the value is the percentage: "25 % (1 su 4 soddisfano «…»)"
            c, count_t = w.human(expr.where), i18n.forms(self.lang, "explain.count")
            aggregates = lambda facts: [count_t(facts[0][0]).format(k=facts[0][0], n=facts[0][1], c=c)]  # noqa: E731

        def reasons(fact):
            values, decided_values = fact[-2], fact[-1]
            shown = aggregates(fact[2]) if aggregates is not None else []
            if counted:
                return "; ".join(shown)
            shown.extend(f"{n} = {sh(v)}" for (n, sh), v in zip(details, values) if not isinstance(v, (list, dict)))
            shown.extend(f"{n} = {sh(v)}" for (n, sh), v in zip(decided, decided_values))
            return f"{rule} [{'; '.join(dict.fromkeys(shown))}]" if shown else rule

        if d.source is None:
            def output(fact):
                value, test, _aggregates, _values, _decided = fact
                text = show_item(value)
                if plain:
                    because = head.format(value=text)
                elif condition:
                    because = head.format(value=text) + f" ({cond(test[1])})"
                elif test is not None:
                    state = "output_then" if test[0] is True else "output_unknown" if test[0] is None else "output_else"
                    because = head.format(value=text) + " " + t[state].format(why=cond(test[1]))
                else:
                    because = head.format(value=text) + f" ({reasons(fact)})"
                return OutputResult(name, label, kind, to_json(value), text, because)
            return output
        none_t = t["output_no_items"]
        # in the sentence a text is quoted, as every text a sentence quotes: `#1 Rossi srl "fornitura"`
        # (unquoted, the value would read as the end of the firm's name); `text` is the value as it is
        show_said = _make_shower(kind, t, lang, self.policy.currency) if kind in ("text", "enum") else show_item

        def per_item(fact):
            items = tuple(OutputItem(i + 1, key, item, to_json(v), show_item(v)) for i, key, item, v in fact[0])
            # the first items in the sentence, the others counted (every item is in `items` and outputs_items.csv)
            listed = "; ".join(f"{_item_name(it.name or it.key, i)} {show_said(v)}"
                               for it, (i, _key, _item, v) in zip(items[:MAX_OUTPUT_ITEMS_SHOWN], fact[0])) or none_t
            if len(items) > MAX_OUTPUT_ITEMS_SHOWN:
                listed += f"; … +{len(items) - MAX_OUTPUT_ITEMS_SHOWN}"
            because = head.format(value=listed) + f" ({reasons(fact)})"
            return OutputResult(name, label, kind, None, None, because, items)
        return per_item

    # --- the whole explanation -------------------------------------------------------------------
    def render(self, decision, trace) -> tuple:
        """``(gates, criteria)``: the :class:`GateResult` and :class:`CriterionResult` of one trace."""
        failed = decision.failed
        gates = tuple(g(f, cp_id not in failed) for g, f, cp_id in zip(self.gates, trace.gates, self._gate_ids))
        points = decision.points
        if points is None or trace.criteria is None:
            criteria = tuple(c(None, None) for c in self.criteria)
        else:
            criteria = tuple(c(p, f) for c, p, f in zip(self.criteria, points, trace.criteria))
        return gates, criteria

    @functools.cached_property
    def _gate_ids(self):
        return tuple(g.id for g in self.cp.gates)


def output_is_condition(cp, d) -> bool:
    """Whether named output ``d`` is one yes/no value the sentence explains as a gate: a condition
    that is not a field or a ``let`` named as it is (those are just their value)."""
    return d.source is None and d.rounding is None and not isinstance(d.expr, (ast.Name, ast.Attr, ast.If)) \
        and cp.type_of(d.expr).kind == "bool"


def band_bounds(cond, subject):
    """The bounds a band's sentence quotes (``≥ 4``, ``2–5``): none when it is not a test of ``subject``."""
    if cond is None:
        return ()
    if isinstance(cond, ast.Binary) and cond.op in SYMBOL and cond.left == subject:
        return (cond.right,)
    if isinstance(cond, ast.Between) and cond.value == subject:
        return (cond.low, cond.high)
    return ()


def _percent_shown(v, lang, show):
    return format_percent(v, lang) if v is not None else show(v)


def _renderer(policy, lang) -> _Renderer:
    """The policy's :class:`_Renderer` for ``lang`` (built once)."""
    cache = policy.__dict__.setdefault("_renderers", {})
    found = cache.get(lang)
    if found is None:
        found = cache[lang] = _Renderer(policy, lang)
    return found


# --- the grant, in words ---------------------------------------------------------------------------
#
# One sentence says which term of the grant's rule gave the amount. The trace records the values
# of the expressions of a :class:`GrantPlan` (``Trace.grant``), and :func:`grant_because`, the one
# place that writes the sentence, puts them into words.


class GrantPlan:
    """The grant's rule as the sentence reads it, worked out once per policy.

    ``root`` is the rule with its ``let``s followed; for a ``min``/``max`` of two
    or more terms, ``op`` is that function and ``terms`` its terms (nested calls
    of the same function and unlabelled lets flattened into them); otherwise
    ``op`` is None and the one term is the rule itself. ``exprs`` are the
    expressions whose values the sentence quotes: the root, every term, then the
    input fields and lets a computed term uses (``details``, per term).
    """

    def __init__(self, policy):
        cp = policy.checked
        self.decl = cp.decls["grant"]
        root = _follow_lets(cp, self.decl.expr)
        self.root = root
        if (isinstance(root, ast.Call) and root.func in ("min", "max") and root.func not in cp.funcs
                and len(root.args) >= 2):
            self.op = root.func
            self.terms = tuple(_terms(cp, root, root.func))
        else:
            self.op = None
            self.terms = (root,)
        self.details = tuple(
            () if is_const(x) or isinstance(x, (ast.Name, ast.Attr)) else
            tuple(n for n in _paths_cached(x, policy) if cp.type_of(n).kind not in ("list", "record"))
            for x in self.terms)
        exprs = [root, *self.terms]
        for d in self.details:
            exprs.extend(d)
        index: dict = {}
        for e in exprs:
            index.setdefault(id(e), len(index))
        unique = {}
        for e in exprs:
            unique.setdefault(id(e), e)
        self.exprs = tuple(unique.values())
        self.index = index  # id(expression) -> position in exprs (and in the values)
        self.term_index = tuple(index[id(e)] for e in self.terms)


def grant_plan(policy) -> GrantPlan | None:
    """The policy's :class:`GrantPlan`, or None when it declares no ``grant``."""
    found = policy.__dict__.get("_grant_plan", _UNSET)
    if found is _UNSET:
        found = policy.__dict__["_grant_plan"] = GrantPlan(policy) if "grant" in policy.checked.decls else None
    return found


def _let_of(cp, e):
    if isinstance(e, ast.Name) and cp.ref_of(e)[0] == "let":
        let = cp.lets.get(e.id)
        if let is not None and let.params is None:
            return let
    return None


def _follow_lets(cp, e):
    seen = set()
    while (let := _let_of(cp, e)) is not None and e.id not in seen:
        seen.add(e.id)
        e = let.expr
    return e


def _terms(cp, call, op):
    """The terms of ``min``/``max``: a nested call of the same function, directly or through an
    unlabelled let, adds its own terms; a labelled let stays one term, named by its label."""
    out = []
    for a in call.args:
        let = _let_of(cp, a)
        inner = _follow_lets(cp, a) if let is not None and let.label is None else a
        if isinstance(inner, ast.Call) and inner.func == op and inner.func not in cp.funcs and len(inner.args) >= 2:
            out.extend(_terms(cp, inner, op))
        else:
            out.append(inner)
    return out


def _exact(v):
    """A value as the typed path holds it: the fast path may keep a JSON float for a number."""
    if v.__class__ is float:
        return Decimal(repr(v))
    return v


def exact_money(v, lang, currency) -> str:
    """An amount with every decimal it has (``€ 16.666,665``), at least the cents."""
    v = Decimal(v)
    money = _f.money_formatter(lang, currency)
    if v.as_tuple().exponent >= -2:
        return money(v)
    cents = v.quantize(_CENT, rounding=ROUND_DOWN)
    if cents == v:  # 40000.000
        return money(v)
    digits = format(abs(v).normalize(), "f").split(".")[1][2:]
    # digits beyond the cent are written out, not rounded away (a rounding is what is explained)
    return money(cents) + digits


class _GrantNamer(_Words):
    """How the grant's sentence names a term of its rule: as :meth:`_Words.human` does, but every label
    quoted («Spese ammissibili»), so that a preposition before it needs no article that would agree
    with the label's gender, and, when ``slots`` maps a value's node to its place among the values,
    a slot after the first mention of each label where its value goes: ``50 % di «Spese» (€ 1,00)``."""

    def __init__(self, policy, lang, slots=None):
        super().__init__(policy, lang)
        self.slots = slots or {}
        self.placed: set = set()

    def name(self, e) -> str:
        out = self.t["grant.quoted"].format(x=super().name(e))
        k = self.slots.get(id(e))
        if k is not None and out not in self.placed:
            self.placed.add(out)
            out += _SLOT.format(k)
        return out

    def _human(self, e, prec) -> str:
        if isinstance(e, ast.Call) and e.func in self.cp.funcs and self.cp.funcs[e.func].label:
            fn = self.cp.funcs[e.func]
            label = self.t["grant.quoted"].format(x=fn.label.get(self.lang, self.cp.language))
            return f"{label} ({', '.join(self._human(a, 0) for a in e.args)})"
        return super()._human(e, prec)


# where the value of a label goes in a term's words: "\x00<index>\x01" (no sentence has these characters)
_SLOT = "\x00{}\x01"
_SLOTS = re.compile("\x00(\\d+)\x01")


class _GrantWords:
    """The words of one policy's grant sentence in one language: all but the values, written once.

    ``names[i][prep]`` names term ``i`` after ``prep`` ('', of, to); ``inline[i]``, for a computed
    term, is its words with the value of each label it reads right after the label, as alternating
    text and value positions (``("il 50 % di «Spese»", 3, "")``); ``details[i]`` are the labels
    and showers of the values not placed inline (inside an aggregate, say), quoted as before."""

    def __init__(self, policy, plan, lang):
        t = self.t = texts(lang)
        ex = _words(policy, lang)
        self.lang, self.currency = lang, policy.currency
        self.const = tuple(is_const(e) for e in plan.terms)
        self.names = tuple({prep: _grant_term_name(policy, plan, e, t, prep, lang) for prep in ("", "of", "to")}
                           for e in plan.terms)
        self.computed = tuple(not is_const(e) and bool(d) for e, d in zip(plan.terms, plan.details))
        self.inline, self.details = [], []
        for e, d in zip(plan.terms, plan.details):
            if is_const(e) or not d:
                self.inline.append(None)
                self.details.append(())
                continue
            slots = {id(n): plan.index[id(n)] for n in d}
            namer = _GrantNamer(policy, lang, slots)
            words = {prep: _split_slots(_grant_term_name(policy, plan, e, t, prep, lang, namer=namer))
                     for prep in ("", "to")}
            shown = {k for parts in words.values() for k in parts[1::2]}
            quoted = {id(n): t["grant.quoted"].format(x=ex.name(n)) for n in d}
            # a label used twice is given its value once, after its first mention
            named = {quoted[id(n)] for n in d if plan.index[id(n)] in shown}
            self.inline.append((words, {plan.index[id(n)]: ex.shower(n) for n in d}))
            self.details.append(tuple(dict.fromkeys(
                (quoted[id(n)], ex.shower(n), plan.index[id(n)]) for n in d
                if plan.index[id(n)] not in shown and quoted[id(n)] not in named)))
        self.leaf_names = tuple(tuple(ex.name(n) for n in d) for d in plan.details)
        self.root_name = t["grant.fixed"] if is_const(plan.root) else _grant_term_name(policy, plan, plan.root, t, "",
                                                                                        lang)
        rounding = plan.decl.rounding
        self.rounding = _rounding_words(t, rounding, lang, policy.currency) if rounding is not None else None
        # the article the grant comes from: its own `cites`, else that of the `let` it is
        # the articles the grant comes from: its own `cites`, else that of the `let` it is, then those
        # of the lets its terms name (the sentence names them)
        cited = plan.decl if plan.decl.cites else _let_of(policy.checked, plan.decl.expr)
        self.cites = ex.cites_clause([cited, *ex.cited_lets(plan.terms)])


def _split_slots(text):
    """``"a «x»\x003\x01 e"`` -> ``("a «x»", 3, " e")``: text and value positions, alternating."""
    parts = _SLOTS.split(text)
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts))


def _grant_words(policy, plan, lang) -> _GrantWords:
    cache = policy.__dict__.setdefault("_grant_words", {})
    found = cache.get(lang)
    if found is None:
        found = cache[lang] = _GrantWords(policy, plan, lang)
    return found


def grant_because(policy, plan: GrantPlan, lang, values, computed) -> str:
    """Which term of the grant's rule gave the amount, and the rounding when it changed it.

    ``values`` are those of ``plan.exprs`` for one application; ``computed`` the
    grant the rules gave (rounded, before it is made payable). A label is quoted and
    named once: ``il 50 % di «Spese ammissibili» (€ 100.000,00)``, its value right after it.
    """
    w = _grant_words(policy, plan, lang)
    t = w.t
    values = [_exact(v) for v in values]
    terms = [values[i] for i in plan.term_index]
    raw = values[0]
    if raw is None or computed is None or None in terms:
        return t["grant.missing"].format(what=_missing_words(policy, plan, w, values, terms, lang))

    def money(v):
        return exact_money(v, lang, w.currency)

    def phrase(i, prep, with_details=False):
        if not with_details or w.inline[i] is None:
            return w.names[i][prep]
        words, showers = w.inline[i]
        parts = words[prep]
        out = "".join(p if j % 2 == 0 else f" ({showers[p](values[p])})" for j, p in enumerate(parts))
        if w.details[i]:  # values the words could not place after their label
            shown = dict.fromkeys(f"{name} = {show(values[k])}" for name, show, k in w.details[i])
            out += f" ({'; '.join(shown)})"
        return out

    def other(i):
        # a computed term says its amount first: "€ 55.000,00 (il 50 % di «Spese»)" is not read as the
        # value of «Spese», as "«Spese» (€ 55.000,00)" would be
        if w.computed[i]:
            return t["grant.value_of"].format(v=money(terms[i]), x=w.names[i][""])
        return f"{w.names[i]['of']} ({money(terms[i])})"

    # terms equal to the amount: the call's own limit first (the request meeting it is the coincidence)
    bound = sorted((i for i, v in enumerate(terms) if v == raw), key=lambda i: not w.const[i])
    if plan.op is None or not bound:
        head = phrase(0, "", True) if plan.op is None and w.inline[0] is not None else w.root_name
    else:
        head = phrase(bound[0], "", True)
        if len(bound) > 1:
            head += f", {t['grant.equal']} " + _and(t, [phrase(i, "to", True) for i in bound[1:]])
        others = [i for i, v in enumerate(terms) if v != raw]
        if others:
            word = t["grant.lower"] if plan.op == "min" else t["grant.higher"]
            head += f", {word} " + _and(t, [other(i) for i in others])
    if w.rounding is not None and raw != computed:
        head += f"; {w.rounding}: {money(raw)} → {money(computed)}"
    sentence = f"{money(computed)}: {head}"
    if w.cites:
        sentence += w.cites
    if computed < 0:
        return t["grant.below"].format(s=sentence)
    if computed == 0:
        return t["grant.zero"].format(s=sentence)
    return sentence


def _missing_words(policy, plan, w, values, terms, lang):
    """What the grant cannot do without, by label: "manca il dato «Spese ammissibili»"."""
    t = w.t
    said = []
    for i, v in enumerate(terms):
        if v is not None:
            continue
        if plan.details[i]:
            leaves = [name for name, n in zip(w.leaf_names[i], plan.details[i]) if values[plan.index[id(n)]] is None]
            # no value missing: a calculation that cannot be done (a division by zero) is the term's own
            said.extend(t["is_missing"].format(x=x) for x in leaves) if leaves else \
                said.append(f"{w.names[i]['']}: {t['missing']}")
        elif isinstance(plan.terms[i], (ast.Name, ast.Attr, ast.At)):
            said.append(t["is_missing"].format(x=_words(policy, lang).name(plan.terms[i])))
        else:
            said.append(f"{w.names[i]['']}: {t['missing']}")
    return "; ".join(dict.fromkeys(said)) or t["missing"]


def _grant_term_name(policy, plan, e, t, prep, lang, namer=None):
    """A term of the grant's rule as a sentence names it, after the preposition ``prep`` ('', of, to):
    a label quoted (``di «Contributo richiesto»``), a calculation in words with its labels quoted, a
    percentage first with the article Italian puts before a number (``al 50 %``, ``dell'80 %``)."""
    if is_const(e):
        return t[("grant.floor" if plan.op == "max" else "grant.ceiling") + _PREP[prep]]
    namer = namer or _GrantNamer(policy, lang)
    namer.placed = set()  # each naming places each label's value once
    words = namer._human(e, 0)
    lead = _leftmost(e)
    if isinstance(lead, ast.Percent) and words[:1].isdigit():
        form = _number_article(namer.const_value(lead) * 100)
        return t["grant.percent" + form + _PREP[prep]].format(x=words)
    return t["grant.name" + _PREP[prep]].format(x=words)


def _leftmost(e):
    """The node a term's words start with (``50 %`` in ``50 % of cost``)."""
    while isinstance(e, ast.Binary):
        e = e.left
    return e


def _number_article(n) -> str:
    """Which article Italian puts before the number ``n`` as it is read: ``""`` for *il* (il 50 %),
    ``"_l"`` for *l'* before a vowel (l'8 %, l'11 %, l'80 %, l'1,5 %), ``"_lo"`` for *lo* (lo 0,5 %).
    The other languages' catalogues give the same text for all three."""
    whole = str(int(abs(Decimal(n))))
    if whole == "0":
        return "_lo"  # zero
    if whole[0] == "8" or whole == "1" or (whole.startswith("11") and len(whole) in (2, 5)):
        return "_l"  # otto, ottanta, ottocento…; uno; undici, undicimila
    if whole[0] == "1" and len(whole) in (7, 10):
        return "_l"  # un milione, un miliardo
    return ""


# a term of the grant named after a preposition: Italian joins the article to it ("del massimale")
_PREP = {"": "", "of": "_of", "to": "_to"}


def _and(t, items):
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + t["grant.and"] + items[-1]


def _rounding_words(t, rounding, lang, currency):
    unit = rounding.unit.amount  # the checker accepts an amount of money only
    key = {Decimal(1): "grant.unit_euro", Decimal("0.01"): "grant.unit_cent"}.get(unit) if currency == "EUR" else None
    nearest = "_nearest" if rounding.mode == "nearest" else ""
    if key is not None:
        words = t[key + nearest]
    else:
        words = t["grant.unit" + nearest].format(u=format_money(unit, lang, currency))
    return t["grant.round_" + rounding.mode].format(u=words, n=words)


_CENT = Decimal("0.01")
_STRFTIME_FIELDS = (("%Y", "{0:04d}"), ("%m", "{1:02d}"), ("%d", "{2:02d}"), ("%H", "{3:02d}"), ("%M", "{4:02d}"),
                    ("%S", "{5:02d}"))


def _make_shower(kind, t, lang, currency):
    """``show(v)`` for values of the static type ``kind`` (None: decided by the value alone)."""
    missing, yes, no = t["missing"], t["yes"], t["no"]

    def generic(v):
        if v is None:
            return missing
        if isinstance(v, bool):
            return yes if v else no
        if isinstance(v, _dt.datetime):
            return v.strftime(t["moment"])
        if isinstance(v, _dt.date):
            return format_date(v, lang)
        if isinstance(v, (int, Decimal)):
            if isinstance(v, Decimal) and abs(v) < 10 ** 20:  # beyond that quantize would overflow 28 digits
                v = v.quantize(_TEN_THOUSANDTH).normalize()
            return format_points(v, lang)
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, (set, frozenset, list, tuple)):
            return "{" + ", ".join(sorted(generic(x) for x in v)) + "}"
        return str(v)

    # the common case of each type without the chain of tests (explanations show a dozen values each)
    if kind == "money":
        money = _f.money_formatter(lang, currency)

        def show(v):
            if v.__class__ is Decimal:
                return money(v)
            if v is None or isinstance(v, bool):
                return generic(v)
            return money(v)
        return show
    if kind == "int":
        def show(v):
            if v.__class__ is int and -1000 < v < 1000:  # no thousands separator to write
                return str(v)
            return generic(v)
        return show
    if kind == "datetime":
        # the catalogue's strftime pattern as a format of the six fields: strftime is slower
        pattern = t["moment"].replace("{", "{{").replace("}", "}}")
        for code, field in _STRFTIME_FIELDS:
            pattern = pattern.replace(code, field)

        def show(v):
            if v.__class__ is _dt.datetime and v.year >= 1000:  # where %Y writes four digits
                return pattern.format(v.year, v.month, v.day, v.hour, v.minute, v.second)
            return generic(v)
        return show
    if kind == "percent":
        def show(v):
            if v is None or isinstance(v, bool):
                return generic(v)
            return format_percent(v, lang)
        return show
    return generic


_TEN_THOUSANDTH = Decimal("0.0001")


#: the items a per-item output's sentence lists (the rest are counted)
MAX_OUTPUT_ITEMS_SHOWN = 10


def _output_text(kind, t, lang, currency):
    """``show(v)`` for the value of an output: as in a sentence, but a text without its quotes."""
    show = _make_shower(kind, t, lang, currency)
    if kind in ("text", "enum"):
        missing = t["missing"]
        return lambda v: missing if v is None else str(v)
    return show


def _output_json(kind):
    """The value of an output as JSON: money as "1234.50" (as ``grant``), numbers exact, dates ISO."""
    if kind == "money":
        return lambda v: money_text(v) if v is not None else None
    return _json_of(kind)


def is_const(e):
    return isinstance(e, (ast.Number, ast.Percent, ast.Money, ast.String, ast.DateLit, ast.DateTimeLit, ast.Bool,
                          ast.SetLit)) or (isinstance(e, ast.Attr) and isinstance(e.obj, ast.Name) and e.obj.id == "call")


def _item_name(name, i):
    """An item a sentence names: its position from 1 and its own name when it has one (``#2 Beta srl``)."""
    return f"#{i + 1} {name}" if name else f"#{i + 1}"


def _paths(e, cp):
    """Maximal input paths and lets used by ``e`` (not through item variables)."""
    out = []
    stack = [(e, False)]
    while stack:
        n, inside_attr = stack.pop()
        if isinstance(n, ast.Attr):
            root = n
            while isinstance(root, ast.Attr):
                root = root.obj
            if isinstance(root, ast.Name) and cp.ref_of(root)[0] in ("input", "let"):
                if not inside_attr:
                    out.append(n)
                continue
        if isinstance(n, ast.Name) and cp.ref_of(n)[0] in ("input", "let") and not inside_attr:
            out.append(n)
            continue
        for ch in ast.children(n):
            stack.append((ch, False))
    return sorted(out, key=lambda x: (x.span.start if x.span else 0))


_UNSET = object()


def _per_node(policy, name: str, e, compute):
    """``compute(e)``, cached on the policy by node (the node is kept, so its id stays its own).

    Explanations quote and analyse the same rules for every application; the
    caches live and die with the policy that owns the rules.
    """
    cache = policy.__dict__.setdefault(name, {})
    found = cache.get(id(e))
    if found is None or found[0] is not e:
        found = cache[id(e)] = (e, compute(e))
    return found[1]


def _aggregates_cached(e, policy):
    return _per_node(policy, "_aggregates_cache", e, lambda x: [n for n in ast.walk(x) if isinstance(n, ast.Aggregate)])


def _text(e, policy) -> str:
    """The rule as written (format_expr)."""
    return _per_node(policy, "_text_cache", e, format_expr)


def _paths_cached(e, policy):
    return _per_node(policy, "_paths_cache", e, lambda x: _paths(x, policy.checked))


def _jsonable(v):
    """A value a rule used, as JSON data (``values`` in the result)."""
    if v is None or isinstance(v, (bool, str, int)):
        return v
    if isinstance(v, Decimal):
        return _json_decimal(v)
    if isinstance(v, (_dt.date, _dt.datetime)):
        return v.isoformat()
    if isinstance(v, (set, frozenset)):
        return sorted(str(x) for x in v)
    return str(v)


def _json_decimal(v):
    """A Decimal in ``values``: an int when whole, else its exact text (``"0.25"``); None stays None."""
    if v.__class__ is not Decimal:
        return _jsonable(v)
    return exact_json(v)


def _json_moment(v):
    """A date or datetime in ``values`` (ISO 8601); None stays None."""
    return v.isoformat() if v is not None else None


def explain(policy, value, decision, lang, data=None) -> Result:
    """The explained result; ``value`` is the application as :meth:`Policy.validate` converted it.

    ``data`` is the application as read: an invalid one's problems are named by its own items.
    """
    if decision.status == "invalid":
        return _invalid_result(policy, decision, lang, value, data)
    return render(policy, decision, typed_trace(policy, value, decision), lang)


def typed_trace(policy, value, decision) -> Trace:
    """The facts of a valid application converted by :meth:`Policy.validate` (the typed tracer)."""
    from engine.compile.tracegen import typed_tracer
    return typed_tracer(policy).trace(policy.env(value), decision)


def fused_trace(policy, decision, out, env) -> Trace:
    """The facts the explaining fast path recorded (``out``), with the rules it left to the typed
    tracer recorded there, on ``env(lets)`` (built only then)."""
    _dec, gates, criteria, lets, grant = out
    if lets is None and (grant is not None or decision.failed or grant_plan(policy) is None) \
            and not policy.checked.outputs:  # named outputs are recorded by the typed tracer
        return Trace(gates, criteria, grant)
    from engine.compile.tracegen import typed_tracer
    return typed_tracer(policy).complete(env(lets), decision, gates, criteria, grant)


def render(policy, decision, trace: Trace, lang) -> Result:
    """The result of a valid application in ``lang``: every sentence written from ``trace``."""
    renderer = _renderer(policy, lang)
    gates, criteria = renderer.render(decision, trace)
    result = _result(policy, decision, lang, gates, criteria, trace.grant)
    if renderer.bonuses:
        result = attrs.evolve(result, bonuses=renderer.render_bonuses(decision, trace),
                              criteria_score=decision.criteria_score)
    if trace.outputs is not None:
        result = attrs.evolve(result, outputs=render_outputs(policy, lang, trace.outputs),
                              output_env=trace.output_env)
    return with_cross_pending(policy, result, lang) if policy.cross_gates else result


def render_outputs(policy, lang, facts, previous=None) -> tuple:
    """The :class:`OutputResult` of every named output from its fact; where a fact is None, the
    output of ``previous`` is kept (:func:`engine.evaluate.named_outputs.refresh`)."""
    fns = _renderer(policy, lang).outputs
    return tuple(previous[i] if f is None else fn(f) for i, (fn, f) in enumerate(zip(fns, facts)))


def _labels_of(policy, lang):
    cache = policy.__dict__.setdefault("_labels_cache", {})
    found = cache.get(lang)
    if found is None:
        found = cache[lang] = (tuple(policy.label_of(g, lang) for g in policy.gates),
                               tuple(policy.label_of(c, lang) for c in policy.criteria))
    return found


def _result(policy, decision, lang, gates, criteria, grant_values=None) -> Result:
    t = texts(lang)
    info = policy.result_info(lang)  # one dict per policy and language, shared by its results (to_dict copies it)
    # positional: in Result's field order (a third faster than keywords for its 20 fields)
    because = None
    if grant_values is not None and decision.status == "admitted":  # the generated code computes them unless a gate failed
        because = grant_because(policy, grant_plan(policy), lang, grant_values, decision.grant_computed)
    return Result(decision.application, decision.status, decision.score, policy.max_score, policy.pass_score,
                  decision.grant, gates, criteria, decision.errors, info, lang, policy.currency,
                  decision.ranking_score, decision.requested, decision.applicant, decision.submitted,
                  summary=_summary(policy, decision, lang, t), grant_computed=decision.grant_computed,
                  grant_because=because, parameters=_params_line(policy, lang))


def _invalid_result(policy, decision, lang, value, data) -> Result:
    """An invalid application's result: each problem in words, and its applicant when that field is valid."""
    n = len(decision.errors)
    cp = policy.checked
    # items are named from the converted values (texts stay texts; "12" typed in a number field is no name)
    named = value if isinstance(value, dict) else data
    texts = tuple(describe_problem(cp, f, m, named, lang) for f, m in decision.errors)
    return Result(decision.application, "invalid", None, policy.max_score, policy.pass_score, None, (), (),
                  decision.errors, policy.result_info(lang), lang, policy.currency,
                  applicant=decision.applicant or _valid_applicant(policy, value, decision.errors),
                  summary=i18n.plural(lang, "explain.s_invalid", n), error_texts=texts,
                  parameters=_params_line(policy, lang))


def _params_line(policy, lang) -> str:
    """The line naming the call's parameters' values, once per policy and language ("" without any)."""
    if not policy.params:
        return ""
    cache = policy.__dict__.setdefault("_params_lines", {})
    found = cache.get(lang)
    if found is None:
        found = cache[lang] = policy.params_line(lang)
    return found


def _valid_applicant(policy, value, errors):
    """The ``applicant`` of invalid data when it is a field (``network.name``) with no problem, else None.

    Only a plain field is read: a computed name could use the invalid values.
    """
    d = policy.checked.decls.get("applicant")
    if d is None or not isinstance(value, dict):
        return None
    steps = []
    e = d.expr
    while isinstance(e, ast.Attr):
        steps.append(e.name)
        e = e.obj
    if not (isinstance(e, ast.Name) and policy.checked.ref_of(e)[0] == "input"):
        return None
    steps.append(e.id)
    path = ".".join(reversed(steps))
    for field, _m in errors:
        # a problem in the field itself or in what holds it ("network" not an object)
        if not field or field == "(application)" or field == path or path.startswith(field + "."):
            return None
    found = value
    for step in reversed(steps):
        found = found.get(step) if isinstance(found, dict) else None
    return found if isinstance(found, str) and found.strip() else None


def score_with_bonuses(lang, score, criteria_score, max_score, bonuses, detail_only=False) -> str | None:
    """"75 punti: 65 su 100 più 10 di premialità": a score that bonuses or maluses changed, in words.

    ``bonuses`` are ``(kind, points, applied)``; None when none of them counted with any points (the
    score then reads as before, "65 su 100"). ``detail_only``: without the total ("65 su 100 più 10
    di premialità"). The one place that writes it: summaries, the ranking's placement, letters.
    """
    if score is None or criteria_score is None:
        return None
    plus = sum((p for k, p, a in bonuses if a and p and k == "bonus"), Decimal(0))
    minus = sum((p for k, p, a in bonuses if a and p and k == "malus"), Decimal(0))
    if not plus and not minus:
        return None
    t = texts(lang)
    text = t["bonus.detail"].format(criteria=format_points(criteria_score, lang), max=format_points(max_score, lang))
    if plus:
        text += t["bonus.plus"].format(p=format_points(plus, lang))
    if minus:
        text += t["bonus.minus"].format(p=format_points(minus, lang))
    if criteria_score + plus - minus < 0:
        text += t["bonus.floor"]
    if detail_only:
        return text
    return t["bonus.total"].format(total=format_points(score, lang), detail=text)


def score_words(result: dict, lang: str, detail_only=False) -> str | None:
    """:func:`score_with_bonuses` of a result dict (``results.jsonl``, letters, the report); None for a
    call without bonuses, or when none counted."""
    bonuses = result.get("bonuses")
    if not bonuses:
        return None
    items = tuple((b.get("kind"), decimal_of(b.get("points")), b.get("applied")) for b in bonuses)
    return score_with_bonuses(lang, decimal_of(result.get("score")), decimal_of(result.get("criteria_score")),
                              decimal_of(result.get("max_score")), items, detail_only)


def _decision_bonuses(policy, d):
    n = len(policy.criteria)
    return tuple((b.kind, p, a) for b, p, a in zip(policy.bonuses, d.points[n:], d.bonus_applied))


def _summary(policy, d, lang, t):
    if d.status == "ineligible":
        n = len(d.failed)
        return i18n.plural(lang, "explain.s_ineligible", n, ids=_labels(policy, d.failed, lang))
    if d.status == "below_threshold":
        if d.below:
            crit = {c.id: c for c in policy.criteria}
            return t["s_below_min"].format(ids="; ".join(policy.label_of(crit[i], lang) for i in d.below))
        detail = None
        if policy.bonuses and d.points is not None:
            detail = score_with_bonuses(lang, d.score, d.criteria_score, policy.max_score,
                                        _decision_bonuses(policy, d), detail_only=True)
        if detail is not None:  # a malus (or a bonus) before the pass mark: how the score came about
            return t["s_below_bonus"].format(score=format_points(d.score, lang), detail=detail,
                                             pass_=format_points(policy.pass_score, lang))
        return t["s_below"].format(score=format_points(d.score, lang), pass_=format_points(policy.pass_score, lang))
    computed = d.grant_computed
    points = None
    if policy.bonuses and d.points is not None:
        points = score_with_bonuses(lang, d.score, d.criteria_score, policy.max_score, _decision_bonuses(policy, d))
    if points is not None:  # the score is the criteria's plus (or minus) what bonuses and maluses gave
        if computed is not None and computed <= 0:
            kind = "below" if computed < 0 else "zero"
            return t[f"s_admitted_grant_{kind}_bonus"].format(points=points,
                                                               grant=format_money(computed, lang, policy.currency))
        if d.grant is not None:
            return t["s_admitted_grant_bonus"].format(points=points, grant=format_money(d.grant, lang, policy.currency))
        return t["s_admitted_bonus"].format(points=points)
    if computed is not None and computed <= 0:  # admitted, but there is nothing to pay: say so
        kind = "below" if computed < 0 else "zero"
        grant = format_money(computed, lang, policy.currency)
        if d.score is None:
            return t["s_admitted_noscore_" + kind].format(grant=grant)
        return t["s_admitted_grant_" + kind].format(score=format_points(d.score, lang),
                                                    max=format_points(policy.max_score, lang), grant=grant)
    if d.score is None:
        return t["s_admitted_noscore"]
    if d.grant is not None:
        return t["s_admitted_grant"].format(score=format_points(d.score, lang),
                                            max=format_points(policy.max_score, lang),
                                            grant=format_money(d.grant, lang, policy.currency))
    return t["s_admitted"].format(score=format_points(d.score, lang), max=format_points(policy.max_score, lang))


def _labels(policy, gate_ids, lang):
    labels = _labels_by_id(policy, lang)
    return "; ".join(labels.get(i, i) for i in gate_ids)


def _labels_by_id(policy, lang):
    cache = policy.__dict__.setdefault("_labels_by_id", {})
    found = cache.get(lang)
    if found is None:
        found = cache[lang] = dict(zip((g.id for g in policy.gates), _labels_of(policy, lang)[0]))
    return found


def render_text(result: Result | dict, lang: str | None = None) -> str:
    """A result as aligned text for a person (``bando eval --format text``)."""
    r = result.to_dict() if hasattr(result, "to_dict") else result
    lang = lang or r.get("language", "it")
    w = i18n.table(lang, "text")
    cur = r.get("currency", "EUR")
    lines = []
    head = f"{w['application']} {r['application'] or '?'}"
    if r.get("applicant"):
        head += f" — {r['applicant']}"
    lines.append(head)
    if r.get("parameters"):  # a call with parameters: the values this outcome was reached with
        lines.append(r["parameters"])
    lines.append(f"{w['outcome']}: {status_label(r['status'], lang)}")
    lines.append(r.get("summary") or "")
    if r["errors"]:
        lines.append("")
        lines.append(w["data_errors"])
        for e in r["errors"]:
            lines.append(f"  ✗ {e.get('text') or (e['field'] or w['whole_application']) + ': ' + e['message']}")
    if r["gates"]:
        lines.append("")
        lines.append(w["gates"])
        width = max(len(g["label"]) for g in r["gates"])
        for g in r["gates"]:
            mark = "✓" if g["passed"] else "✗" if g["passed"] is False else "?"  # ?: decided only in a batch
            lines.append(f"  {mark} {g['label']:<{width}}  {g['because']}")
    if r.get("evaluation"):  # a call with a panel: what its marks made of each mark
        lines.append("")
        lines.append(i18n.text(lang, "panel.heading") + ":")
        for m in r["evaluation"]:
            lines.append(f"  {m['label']}: {m['because']}")
    pending = r["status"] in PENDING  # scored where the marks are in, the other criteria waiting
    if r["criteria"] and (r["score"] is not None or pending):
        lines.append("")
        lines.append(w["scoring"])
        bonuses = r.get("bonuses") or ()
        # the total's own word lines up too ("Total" is longer than a criterion called "Size")
        width = max([len(c["label"]) for c in list(r["criteria"]) + list(bonuses)] + [len(w["total"])])
        for c in r["criteria"]:
            pts = f"{format_points(c['points'], lang)}/{format_points(c['max'], lang)}" if c["points"] is not None else "—"
            lines.append(f"  {c['label']:<{width}}  {pts:>9}  {c['because']}")
            for p in c.get("parts", ()):
                ppts = f"{format_points(p['points'], lang)}/{format_points(p['max'], lang)}" if p["points"] is not None else "—"
                lines.append(f"    · {p['label']:<{width - 2}}  {ppts:>9}  {p['because']}")
        if bonuses and (r.get("criteria_score") is not None or pending):
            # the criteria's own score out of the maximum, then what each bonus and malus added or took
            # (while the panel's marks are awaited, the bonuses that read none are computed already)
            if r.get("criteria_score") is not None:
                crit = f"{format_points(r['criteria_score'], lang)}/{format_points(r['max_score'], lang)}"
                lines.append(f"  {w['criteria_total']:<{width}}  {crit:>9}")
            for b in bonuses:
                sign = "+" if b["kind"] == "bonus" else "−"
                pts = "—" if b["points"] is None else (f"{sign}{format_points(b['points'], lang)}" if b["points"] else "0")
                if b["points"] and not b["applied"]:
                    pts = f"({pts})"  # not counted: its sentence says why
                lines.append(f"  {b['label']:<{width}}  {pts:>9}  {b['because']}")
        if r["score"] is not None:
            total = f"{format_points(r['score'], lang)}/{format_points(r['max_score'], lang)}"
            if bonuses:  # the final score is no longer "out of" the criteria's maximum
                total = format_points(r["score"], lang)
            lines.append(f"  {w['total']:<{width}}  {total:>9}  ({w['pass_mark']} {format_points(r['pass_score'], lang)})")
    if r.get("grant") is not None:
        lines.append("")
        lines.append(f"{w['grant']}: {format_money(r['grant'], lang, cur)}"
                     + (f" ({w['requested']} {format_money(r['requested'], lang, cur)})" if r.get("requested") else ""))
        if r.get("grant_because"):
            lines.append(f"  {r['grant_because']}")
    if r.get("outputs"):  # the call's named outputs, one sentence each
        lines.append("")
        lines.append(w["outputs"])
        for o in r["outputs"].values():
            lines.append(f"  {o['because']}")
    if r.get("placement"):
        lines.append(r["placement"].get("because", ""))
    p = r["policy"]
    lines.append("")
    lines.append(f"{w['call']}: {p.get('title') or p['name']} v{p['version']} (sha256 {p['sha256'][:12]}…)")
    return "\n".join(lines) + "\n"


def status_label(status: str, lang: str) -> str:
    """The words for an outcome (``not_funded``: "ammessa, non finanziata"), the same in every output."""
    return i18n.text(lang, "status." + status)


def name_of(policy, e, lang) -> str:
    """How a sentence names expression ``e``: its label when the policy gives one (ranking keys use it)."""
    return _words(policy, lang).name(e)


def unscored(policy, result: Result, lang) -> Result:
    """``result`` as one that was not scored: its criteria, bonuses and maluses as :func:`render` writes
    them for an application that failed a gate (weights and articles included), no score. For a result
    that loses its eligibility later (a gate across applications, the batch's shared-firm rule), so that
    it reads as one that lost it at the gates; unchanged when the call scores the ineligible too."""
    if policy.score_def is not None and policy.score_def.including_ineligible:
        return result
    renderer = _renderer(policy, lang)
    criteria = tuple(c(None, None) for c in renderer.criteria)
    bonuses = tuple(b(None, None, None, ()) for b in renderer.bonuses) if result.bonuses is not None else None
    return attrs.evolve(result, criteria=criteria, bonuses=bonuses, criteria_score=None, score=None,
                        ranking_score=None)


def admitted_head(policy, score, lang, result=None) -> str:
    """"Eligible and admitted with S of M points." — the summary's first sentence for a ranked application
    (``result``: its :class:`Result`, whose bonuses and maluses the sentence then adds up)."""
    if result is not None and result.bonuses:
        points = score_with_bonuses(lang, score, result.criteria_score, policy.max_score,
                                    tuple((b.kind, b.points, b.applied) for b in result.bonuses))
        if points is not None:
            return texts(lang)["s_admitted_bonus"].format(points=points)
    return texts(lang)["s_admitted"].format(score=format_points(score, lang),
                                                      max=format_points(policy.max_score, lang))


def rules_applied(policy, value) -> tuple[dict, tuple]:
    """What the explanation of one valid application rests on, as facts rather than sentences.

    ``value`` is the application as :meth:`Policy.validate` converted it. Returns ``(bands, terms)``:
    ``bands`` maps every criterion and sub-criterion written as bands to the index of the band that
    gave its points (None when no band applied, or its value was missing); ``terms`` are the indexes of
    the grant's ``min``/``max`` terms equal to the amount (empty without a grant). They are read from the
    trace the sentences are written from, so ``bando test --coverage`` counts what the explanations
    say, never a second reading of the rules.
    """
    from engine.compile.tracegen import typed_tracer
    tracer = typed_tracer(policy)
    env = policy.env(value)
    bands: dict = {}
    stack = [(c, tracer.criteria[i](env, None)) for i, c in enumerate(policy.checked.scored)]
    while stack:
        c, fact = stack.pop()
        if c.subs is not None:
            stack.extend(zip(c.subs, fact[1]))
        elif c.tiers is not None:
            i, missing = fact[1][0], fact[1][1]
            bands[c.id] = None if missing else i
    plan = grant_plan(policy)
    terms: tuple = ()
    if plan is not None and plan.op is not None:
        values = [_exact(v) for v in tracer.grant(env)]
        raw = values[0]
        if raw is not None:
            terms = tuple(i for i, k in enumerate(plan.term_index) if values[k] == raw)
    return bands, terms


# --- gates across applications (docs/language.md, "Gates across applications") ---------------------
#: the keys a failing gate across applications names one by one; the rest are counted
CROSS_SHOWN = 3


def _cross_label(policy, g, lang) -> str:
    return policy.label_of(g, lang)


def cross_pending(policy, lang) -> tuple:
    """The gates across applications of one application evaluated alone: not decided (``passed``
    is None), and the result says why."""
    because = texts(lang)["cross_pending"]
    return tuple(GateResult(g.id, _cross_label(policy, g, lang), None, because, {"decided": False})
                 for g in policy.cross_gates)


def _cross_provisional(policy, lang) -> str:
    """The sentence an eligible result of one application alone ends with: its outcome waits for the batch."""
    quoted = texts(lang)["cross_quoted"]
    labels = ", ".join(quoted.format(label=_cross_label(policy, g, lang)) for g in policy.cross_gates)
    return i18n.plural(lang, "explain.cross_provisional", len(policy.cross_gates), labels=labels)


def with_cross_pending(policy, result: Result, lang) -> Result:
    """``result`` (one application) with its gates across applications shown as not decided."""
    if not policy.cross_gates or result.status == "invalid":
        return result
    summary = result.summary
    if result.status != "ineligible":  # another gate failing decides; else the outcome is provisional
        summary = (summary + " " + _cross_provisional(policy, lang)).strip()
    return attrs.evolve(result, gates=result.gates + cross_pending(policy, lang), summary=summary)


def cross_gate_result(policy, g, lang, shared) -> GateResult:
    """The decided gate ``g`` of one application of a batch. ``shared`` lists what it shares with the
    applications before it: ``(key, other application, other's value of "earlier" or None, tie)``,
    where ``tie`` says the two are equal by it and the input order decided; empty when it passed."""
    w = _words(policy, lang)
    t = w.t
    label = _cross_label(policy, g, lang)
    key_name = w.name(g.key)
    if not shared:
        return GateResult(g.id, label, True, t["cross_passed"].format(name=key_name), {"shared": []})
    order_name = w.name(g.order) if g.order is not None else None
    parts = []
    for key, other, when, tie in shared[:CROSS_SHOWN]:
        if g.order is None or when is None:  # by input order, or the other gave no value: it came first
            tail = t["cross_before_input"].format(other=other)
        elif tie:
            tail = t["cross_before_tie"].format(other=other, order=order_name, value=w.show(when, g.order))
        else:
            tail = t["cross_before"].format(other=other, order=order_name, value=w.show(when, g.order))
        parts.append(t["cross_shared"].format(name=key_name, key=key, tail=tail))
    because = "; ".join(parts)
    if len(shared) > CROSS_SHOWN:
        because += i18n.plural(lang, "explain.cross_more", len(shared) - CROSS_SHOWN)
    values = {"shared": [{"key": key, "application": other, "earlier_by": _jsonable(when), "tie": tie}
                         for key, other, when, tie in shared]}
    return GateResult(g.id, label, False, because, values)


def settle_cross(policy, result: Result, decided: tuple, lang) -> Result:
    """``result`` (explained alone, :func:`with_cross_pending`) with its gates across applications
    decided by the batch: ``decided`` holds one :class:`GateResult` per gate. An application that
    fails one is ineligible like one failing any other gate: not scored (unless the call scores the
    ineligible too), no grant, and its summary names every gate it fails."""
    by_id = {g.id: g for g in decided}
    gates = tuple(by_id.get(g.id, g) if g.passed is None else g for g in result.gates)
    if all(g.passed is not False for g in decided):
        summary = result.summary
        if result.status != "ineligible":
            summary = summary.replace(" " + _cross_provisional(policy, lang), "")
        return attrs.evolve(result, gates=gates, summary=summary)
    failed = [g.label for g in gates if g.passed is False]
    summary = i18n.plural(lang, "explain.s_ineligible", len(failed), ids="; ".join(failed))
    return attrs.evolve(unscored(policy, result, lang), status="ineligible", gates=gates, grant=None,
                        grant_because=None, grant_computed=None, rank=None, placement=None, summary=summary)
