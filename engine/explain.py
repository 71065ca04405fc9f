"""Explanations: every gate and criterion in a sentence built from the actual values.

The fast path (:meth:`Policy.decide`) computes no explanation. Here, on
request, the application's inputs and ``let`` values are computed once
(``env``), and each rule's sub-expressions are evaluated by small compiled
functions (:meth:`Compiler.compile_expr`), the same code generator as the fast
path, so an explanation can never disagree with the decision it explains.

Sentences are in Italian or English, with the policy's own labels::

    imprese in rete = 4, richieste almeno 5
    livello di innovazione = 4 → fascia «≥ 4» → 20 su 25 punti
    12 su 15 (80 %) soddisfano «f.iso9001» → 24 su 30 punti
"""
from __future__ import annotations

import datetime as _dt
from decimal import ROUND_DOWN, Decimal

from dsl import ast
from dsl.fmt import format_expr  # noqa: F401 - used through _text

import functools

from . import formatting as _f
from . import i18n

# explanations format the same thresholds and points for every application
format_points = functools.lru_cache(maxsize=8192)(_f.format_points)
format_money = _f.format_money  # amounts rarely repeat: a cache would only cost
format_percent = functools.lru_cache(maxsize=8192)(_f.format_percent)
format_date = _f.format_date
from .compiler import _rights, _tier_subject
from .result import CriterionResult, GateResult, Result
from .validate import describe as describe_problem, item_name

MAX_ITEMS_SHOWN = 3

def texts(lang: str) -> dict:
    """The explanation sentences of ``lang`` (the catalogue's ``explain.*`` messages, keyed without the prefix)."""
    return i18n.table(lang, "explain")


# a comparison's words in the catalogue (explain.op.ge: "required at least")
OP_KEY = {">=": "op.ge", ">": "op.gt", "<=": "op.le", "<": "op.lt", "==": "op.eq", "!=": "op.ne",
          "in": "op.in", "not in": "op.not_in"}
DATE_OP_KEY = {">=": "op.date_ge", ">": "op.date_gt", "<=": "op.date_le", "<": "op.date_lt"}
# an operator's word when a rule is read out (words.times: "×")
_WORD_KEY = {"*": "times", "/": "divided", "not in": "not_in"}

_SYMBOL = {">=": "≥", "<=": "≤", ">": ">", "<": "<", "==": "=", "!=": "≠"}
_PREC = {"or": 1, "and": 2, ">=": 4, "<=": 4, ">": 4, "<": 4, "==": 4, "!=": 4, "in": 4, "not in": 4,
         "+": 5, "-": 5, "*": 6, "/": 6, "of": 6}
class _Explainer:
    def __init__(self, policy, env, lang):
        self.policy = policy
        self.cp = policy.checked
        self.env = env
        self.lang = lang
        self.t = texts(lang)
        self.words = i18n.table(lang, "words")
        self.currency = policy.currency
        self._memo: dict = {}

    # --- values -------------------------------------------------------------------------
    def value(self, e, bound):
        if bound:
            return self.policy.compile_expr(e, tuple(bound))(self.env, *bound.values())
        # one application's sentences ask for the same sub-expressions many times
        found = self._memo.get(id(e), _UNSET)
        if found is _UNSET:
            found = self._memo[id(e)] = self.policy.compile_expr(e, ())(self.env)
        return found

    def each(self, e, var, items, bound):
        """``e`` for every item of ``items`` (bound to ``var``), in one compiled call."""
        return self.policy.compile_each(e, var, tuple(bound))(self.env, items, *bound.values())

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
        if isinstance(e, ast.Name):
            kind, n = self.cp.ref_of(e)
            if kind == "let":
                let = self.cp.lets[n]
                return let.label.get(self.lang, self.cp.language) if let.label else n
            if kind == "input":
                f = self.cp.input.fields[n]
                return f.label.get(self.lang, self.cp.language) if f.label else n
            return n
        if isinstance(e, ast.Attr):
            t = self.cp.type_of(e.obj)
            if t.kind == "record" and t.record is not None:
                f = t.record.fields.get(e.name)
                if f is not None and f.label is not None:
                    return f.label.get(self.lang, self.cp.language)
            return _text(e, self.policy)
        return self.human(e)

    # --- rules in words ---------------------------------------------------------------------------
    def human(self, e) -> str:
        """A rule as a person reads it: labels instead of field names, ≥ and × instead of >= and *."""
        return _per_node(self.policy, f"_human_cache_{self.lang}", e, lambda x: self._human(x, 0))

    def _human(self, e, prec) -> str:
        words = self.words
        if isinstance(e, (ast.Name, ast.Attr)):
            if isinstance(e, ast.Attr) and isinstance(e.obj, ast.Name) and e.obj.id == "call":
                return self.show(self.value(e, {}), e)
            kind = self.cp.ref_of(e)[0] if isinstance(e, ast.Name) else None
            if kind in ("var", "param"):
                return e.id
            return self.name(e)
        if isinstance(e, (ast.Number, ast.Money, ast.Percent, ast.DateLit, ast.DateTimeLit, ast.Bool)):
            return self.show(self.value(e, {}), e)
        if isinstance(e, ast.Binary):
            p = _PREC.get(e.op, 9)
            op = words.get(_WORD_KEY.get(e.op, e.op), _SYMBOL.get(e.op, e.op))
            if e.op == "of":
                s = f"{self._human(e.left, 7)} {op} {self._human(e.right, 7)}"
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
        if isinstance(e, ast.Call) and e.func in ("starts_with", "ends_with", "contains") and len(e.args) == 2:
            s = f"{self._human(e.args[0], 8)} {words[e.func]} {self._human(e.args[1], 8)}"
            return f"({s})" if prec > 4 else s
        if isinstance(e, ast.If):  # a rule in words never shows a raw field path where a label exists
            s = self.t["if"].format(c=self._human(e.cond, 0), a=self._human(e.then, 0), b=self._human(e.else_, 0))
            return f"({s})" if prec > 0 else s
        return _text(e, self.policy)

    # --- conditions -----------------------------------------------------------------------------
    def why(self, e, bound) -> str:
        """A sentence saying why the condition ``e`` has the value it has."""
        t = self.t
        if isinstance(e, ast.Binary) and e.op in _SYMBOL:
            lv, rv = self.value(e.left, bound), self.value(e.right, bound)
            left = f"{self.name(e.left)} = {self.show(lv, e.left)}"
            if lv is None:
                return f"{self.name(e.left)}: {t['missing']}"
            right = self.show(rv, e.right) if _is_const(e.right) else f"{self.show(rv, e.right)} ({self.name(e.right)})"
            if rv is None:
                return f"{left}; {self.name(e.right)}: {t['missing']}"
            word = t[OP_KEY[e.op]]
            if self.cp.type_of(e.left).kind in ("date", "datetime") and e.op in DATE_OP_KEY:
                word = t[DATE_OP_KEY[e.op]]
            return f"{left}, {word} {right}"
        if isinstance(e, ast.Binary) and e.op in ("and", "or"):
            parts = _flatten(e, e.op)
            values = [self.value(p, bound) for p in parts]
            whole = self.value(e, bound)
            if e.op == "and":
                chosen = [p for p, v in zip(parts, values) if v is not True] if whole is not True else parts
                return t["and"].join(self.why(p, bound) for p in chosen)
            if whole is True:
                p = next(p for p, v in zip(parts, values) if v is True)
                return self.why(p, bound)
            return t["or_fail"] + t["and"].join(self.why(p, bound) for p in parts)
        if isinstance(e, ast.Unary) and e.op == "not":
            return t["not"] + self.why(e.operand, bound)
        if isinstance(e, ast.Between):
            v = self.value(e.value, bound)
            lo, hi = self.value(e.low, bound), self.value(e.high, bound)
            if v is None:
                return f"{self.name(e.value)}: {t['missing']}"
            return f"{self.name(e.value)} = {self.show(v, e.value)}, " + t["op.between"].format(
                lo=self.show(lo, e.low), hi=self.show(hi, e.high))
        if isinstance(e, ast.Binary) and e.op in ("in", "not in"):
            v = self.value(e.left, bound)
            s = self.value(e.right, bound)
            if v is None:
                return f"{self.name(e.left)}: {t['missing']}"
            shown = self.show(s) if isinstance(s, (set, frozenset)) else self.name(e.right)
            return f"{self.name(e.left)} = {self.show(v, e.left)}, " + t[OP_KEY[e.op]].format(s=shown)
        if isinstance(e, ast.IsMissing):
            v = self.value(e.operand, bound)
            return t["is_present" if v is not None else "is_missing"].format(x=self.name(e.operand))
        if isinstance(e, ast.Quantified):
            return self.why_quantified(e, bound)
        if isinstance(e, ast.Name) and self.cp.ref_of(e)[0] == "let":
            let = self.cp.lets[e.id]
            inner = self.why(let.expr, {}) if not bound else None
            if inner and not _is_const(let.expr):
                return f"{self.name(e)}: {inner}" if let.label else inner
        if isinstance(e, ast.Call) and e.func in ("starts_with", "ends_with", "contains") and len(e.args) == 2:
            v = self.value(e.args[0], bound)  # the text itself says more than "true"
            return f"{self.name(e.args[0])} = {self.show(v, e.args[0])}"
        if isinstance(e, ast.Call) and e.func in self.cp.funcs:
            fn = self.cp.funcs[e.func]
            args = {p.name: self.value(a, bound) for p, a in zip(fn.params, e.args)}
            missing = [self.name(a) for p, a in zip(fn.params, e.args) if args[p.name] is None]
            if missing:  # the call is missing as a whole: say which data the applicant did not give
                return "; ".join(f"{m}: {self.t['missing']}" for m in missing)
            return self.why(fn.expr, args)
        v = self.value(e, bound)
        return f"{self.name(e)} = {self.show(v, e)}"

    def why_quantified(self, e, bound):
        t = self.t
        items = self.value(e.source, bound) or []
        results = self.each(e.cond, e.var, items, bound)
        c = self.human(e.cond)
        n = len(items)
        if e.kind == "all":
            bad = [i for i, r in enumerate(results) if r is not True]
            if not bad:
                return t["all_ok"].format(n=n, c=c)
            head = t["all_fail"].format(k=len(bad), n=n, c=c)
        elif e.kind == "any":
            good = [i for i, r in enumerate(results) if r is True]
            if not good:
                return t["any_fail"].format(n=n, c=c)
            return t["any_ok"].format(k=len(good), n=n, c=c)
        else:
            bad = [i for i, r in enumerate(results) if r is True]
            if not bad:
                return t["none_ok"].format(n=n, c=c)
            head = t["none_fail"].format(k=len(bad), n=n, c=c)
        shown = []
        for i in bad[:MAX_ITEMS_SHOWN]:
            inner = dict(bound, **{e.var: items[i]})
            shown.append(f"{_item_name(items[i], i)} ({self.why(e.cond, inner)})")
        more = f", … +{len(bad) - MAX_ITEMS_SHOWN}" if len(bad) > MAX_ITEMS_SHOWN else ""
        return f"{head}: " + ", ".join(shown) + more

    def grant_values(self, plan) -> tuple:
        """The values of ``plan.exprs`` (see :func:`grant_because`)."""
        return tuple(self.value(e, {}) for e in plan.exprs)

    # --- values used -------------------------------------------------------------------------------
    def used_values(self, exprs) -> dict:
        out = {}
        for e in exprs:
            if e is None:
                continue
            for node in _paths_cached(e, self.policy):
                key = _text(node, self.policy)
                if key in out:
                    continue
                try:
                    v = self.value(node, {})
                except Exception:  # pragma: no cover - defensive: values are informative only
                    continue
                if isinstance(v, (list, dict)):
                    continue
                out[key] = _jsonable(v)
        return out

    # --- criteria ------------------------------------------------------------------------------------
    def describe_aggregates(self, e) -> list[str]:
        out = []
        for node in _aggregates_cached(e, self.policy):
            if node.func in ("share", "count") and node.where is not None:
                items = self.value(node.source, {}) or []
                k = sum(1 for r in self.each(node.where, node.var, items, {}) if r is True)
                n = len(items)
                c = self.human(node.where)
                if node.func == "share" and n:
                    out.append(self.t["share"].format(k=k, n=n, pct=format_percent(Decimal(k) / n, self.lang), c=c))
                else:
                    out.append(self.t["count"].format(k=k, n=n, c=c))
        return out

    def criterion(self, c, points) -> CriterionResult:
        t = self.t
        m = format_points(c.max, self.lang)
        label = self.policy.label_of(c, self.lang)
        parts = ()
        exprs = []
        if points is None:
            because = t["not_scored"]
        elif c.subs is not None:
            parts = tuple(self.criterion(s, self.sub_points(s)) for s in c.subs)
            because = t["parts"].format(
                parts=" + ".join(f"{p.label} {format_points(p.points, self.lang)}" for p in parts),
                p=format_points(points, self.lang), m=m)
        elif c.tiers is not None:
            exprs = [x for tier in c.tiers for x in (tier.cond, tier.points)]
            because = self.why_tiers(c, points, m)
        else:
            exprs = [c.formula]
            raw = self.value(c.formula, {})
            f = self.formula_text(c.formula)
            if raw is None:
                because = t["missing_points"].format(what=f, m=m)
            elif raw > c.max:
                because = t["capped"].format(f=f, raw=self.show(raw), p=format_points(points, self.lang), m=m)
            elif raw < 0:
                because = t["floored"].format(f=f, raw=self.show(raw), m=m)
            else:
                because = t["formula"].format(f=f, raw=self.show(raw), p=format_points(points, self.lang), m=m)
        if points is not None and c.minimum is not None and points < c.minimum:
            because += t["minimum"].format(min=format_points(c.minimum, self.lang))
        if c.weight is not None:
            because += t["weight"].format(w=format_points(c.weight, self.lang))
        if c.ranking_weight is not None:
            because += t["rweight"].format(w=format_points(c.ranking_weight, self.lang))
        return CriterionResult(c.id, label, points, c.max, because, c.minimum, c.weight, c.ranking_weight,
                               self.used_values(exprs) if points is not None else {}, parts)

    def formula_text(self, e):
        aggs = self.describe_aggregates(e)
        text = self.human(e)
        details = list(aggs)
        for node in _paths_cached(e, self.policy):
            v = self.value(node, {})
            if not isinstance(v, (list, dict)):
                details.append(f"{self.name(node)} = {self.show(v, node)}")
        return f"{text} [{'; '.join(dict.fromkeys(details))}]" if details else text

    def show_json(self, v):
        if isinstance(v, str):
            return f'"{v}"' if not _looks_decimal(v) else v
        return self.show(v)

    def sub_points(self, c):
        if c.subs is not None:
            return min(sum(self.sub_points(s) for s in c.subs), c.max)
        if c.formula is not None:
            raw = self.value(c.formula, {})
        else:
            raw = self.tier_points(c.tiers)[1]
        if raw is None:
            return 0
        return max(min(raw, c.max), 0)

    def tier_points(self, tiers):
        """(index of the band that applies or None, raw points, missing?)."""
        for i, tier in enumerate(tiers):
            if tier.cond is None:
                return i, self.value(tier.points, {}), False
            v = self.value(tier.cond, {})
            if v is None:
                return i, None, True
            if v:
                return i, self.value(tier.points, {}), False
        return None, 0, False

    def why_tiers(self, c, points, m):
        t = self.t
        i, raw, missing = self.tier_points(c.tiers)
        subject = _tier_subject(c.tiers)
        if subject is not None:
            sv = self.value(subject, {})
            shown = self.show(sv, subject)
            if sv is not None and self.cp.type_of(subject).kind == "decimal" and any(
                    isinstance(r, ast.Percent) for tier in c.tiers if tier.cond is not None
                    for r in _rights(tier.cond)):
                shown = format_percent(sv, self.lang)  # bands written in % read better against a %
            v = f"{self.name(subject)} = {shown}" if sv is not None else f"{self.name(subject)}: {t['missing']}"
        else:
            shown = c.tiers[i] if i is not None and c.tiers[i].cond is not None else c.tiers[0]
            v = self.why(shown.cond, {}) if shown.cond is not None else ""
        aggs = self.describe_aggregates(c.tiers[0].cond) if c.tiers[0].cond is not None else []
        if aggs:
            v = "; ".join(aggs) + (f" ({v})" if subject is not None and not isinstance(subject, ast.Aggregate) else "")
        if missing:
            what = self.name(subject) if subject is not None else v
            return t["missing_points"].format(what=what, m=m)
        if i is None:
            return t["nomatch"].format(v=v, m=m)
        tier = c.tiers[i]
        p = format_points(points, self.lang)
        if tier.cond is None:
            return t["otherwise"].format(v=v, p=p, m=m)
        return t["band"].format(v=v, b=self.band_text(tier.cond, subject), p=p, m=m)

    def band_text(self, cond, subject):
        if subject is not None and isinstance(cond, ast.Binary) and cond.op in _SYMBOL and cond.left == subject:
            bound = self.value(cond.right, {})
            if self.cp.type_of(subject).kind == "percent" and isinstance(bound, Decimal):
                return f"{_SYMBOL[cond.op]} {format_percent(bound, self.lang)}"  # a share: bands in %
            return f"{_SYMBOL[cond.op]} {self.show(bound, cond.right)}"
        if subject is not None and isinstance(cond, ast.Between) and cond.value == subject:
            return f"{self.show(self.value(cond.low, {}), cond.low)}–{self.show(self.value(cond.high, {}), cond.high)}"
        return self.human(cond)


# --- the grant, in words ---------------------------------------------------------------------------
#
# One sentence says which term of the grant's rule gave the amount. Both explainers compute the
# same values (the expressions of a :class:`GrantPlan`, the reference here through ``_Explainer.value``,
# the generated code from its own locals) and hand them to :func:`grant_because`, the one place that
# writes the sentence, so the two cannot phrase it differently.


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
            () if _is_const(x) or isinstance(x, (ast.Name, ast.Attr)) else
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
    """A value as the reference explainer holds it: the fast path may keep a JSON float for a number."""
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


class _GrantWords:
    """The words of one policy's grant sentence in one language: all but the values, written once."""

    def __init__(self, policy, plan, lang):
        t = self.t = texts(lang)
        ex = _Explainer(policy, {}, lang)
        self.lang, self.currency = lang, policy.currency
        self.const = tuple(_is_const(e) for e in plan.terms)
        self.names = tuple({prep: _grant_term_name(ex, plan, e, t, prep) for prep in ("", "of", "to")}
                           for e in plan.terms)
        self.details = tuple(tuple((ex.name(n), ex.shower(n), plan.index[id(n)]) for n in d) for d in plan.details)
        self.root_name = t["grant.fixed"] if _is_const(plan.root) else _grant_term_name(ex, plan, plan.root, t, "")
        rounding = plan.decl.rounding
        self.rounding = _rounding_words(t, rounding, lang, policy.currency) if rounding is not None else None


def _grant_words(policy, plan, lang) -> _GrantWords:
    cache = policy.__dict__.setdefault("_grant_words", {})
    found = cache.get(lang)
    if found is None:
        found = cache[lang] = _GrantWords(policy, plan, lang)
    return found


def grant_because(policy, plan: GrantPlan, lang, values, computed) -> str:
    """Which term of the grant's rule gave the amount, and the rounding when it changed it.

    ``values`` are those of ``plan.exprs`` for one application; ``computed`` the
    grant the rules gave (rounded, before it is made payable).
    """
    w = _grant_words(policy, plan, lang)
    t = w.t
    values = [_exact(v) for v in values]
    terms = [values[i] for i in plan.term_index]
    raw = values[0]
    if raw is None or computed is None or None in terms:
        names = dict.fromkeys(f"{w.names[i]['']}: {t['missing']}" for i, v in enumerate(terms) if v is None)
        return t["grant.missing"].format(what="; ".join(names) or t["missing"])

    def money(v):
        return exact_money(v, lang, w.currency)

    def phrase(i, prep, with_details=False):
        out = w.names[i][prep]
        if with_details and w.details[i]:
            shown = dict.fromkeys(f"{name} = {show(_exact(values[k]))}" for name, show, k in w.details[i])
            out += f" ({'; '.join(shown)})"
        return out

    # terms equal to the amount: the call's own limit first (the request meeting it is the coincidence)
    bound = sorted((i for i, v in enumerate(terms) if v == raw), key=lambda i: not w.const[i])
    if plan.op is None or not bound:
        head = phrase(0, "", True) if plan.op is None and w.details[0] else w.root_name
    else:
        head = phrase(bound[0], "", True)
        if len(bound) > 1:
            head += f", {t['grant.equal']} " + _and(t, [phrase(i, "to", True) for i in bound[1:]])
        others = [i for i, v in enumerate(terms) if v != raw]
        if others:
            word = t["grant.lower"] if plan.op == "min" else t["grant.higher"]
            head += f", {word} " + _and(t, [f"{phrase(i, 'of')} ({money(terms[i])})" for i in others])
    if w.rounding is not None and raw != computed:
        head += f"; {w.rounding}: {money(raw)} → {money(computed)}"
    sentence = f"{money(computed)}: {head}"
    if computed < 0:
        return t["grant.below"].format(s=sentence)
    if computed == 0:
        return t["grant.zero"].format(s=sentence)
    return sentence


def _grant_term_name(ex, plan, e, t, prep):
    """A term of the grant's rule as a sentence names it, after the preposition ``prep`` ('', of, to)."""
    if _is_const(e):
        return t[("grant.floor" if plan.op == "max" else "grant.ceiling") + _PREP[prep]]
    return t["grant.name" + _PREP[prep]].format(x=ex.name(e))


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


def _looks_decimal(s):
    try:
        Decimal(s)
        return True
    except Exception:
        return False


def _flatten(e, op):
    out = []
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ast.Binary) and x.op == op:
            stack.append(x.right)
            stack.append(x.left)
        else:
            out.append(x)
    return out


def _is_const(e):
    return isinstance(e, (ast.Number, ast.Percent, ast.Money, ast.String, ast.DateLit, ast.DateTimeLit, ast.Bool,
                          ast.SetLit)) or (isinstance(e, ast.Attr) and isinstance(e.obj, ast.Name) and e.obj.id == "call")


def _item_name(item, i):
    name = item_name(item) if isinstance(item, dict) else None
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
    whole = v.to_integral_value()
    return int(whole) if v == whole else format(v.normalize(), "f")


def _json_moment(v):
    """A date or datetime in ``values`` (ISO 8601); None stays None."""
    return v.isoformat() if v is not None else None


def explain(policy, value, decision, lang, data=None) -> Result:
    """The explained result; ``value`` is the application as :meth:`Policy.validate` converted it.

    ``data`` is the application as read: an invalid one's problems are named by its own items.
    """
    if decision.status == "invalid":
        return _invalid_result(policy, decision, lang, value, data)
    ex = _Explainer(policy, policy.env(value), lang)
    gates = tuple(_gate(ex, g, g.id not in decision.failed) for g in policy.gates)
    criteria = tuple(ex.criterion(c, decision.points[i] if decision.points is not None else None)
                     for i, c in enumerate(policy.criteria))
    plan = grant_plan(policy)
    values = ex.grant_values(plan) if plan is not None and decision.status == "admitted" else None
    return _result(policy, decision, lang, gates, criteria, values)


def assemble(policy, decision, out, lang, env) -> Result:
    """The explained result from the explaining fast path's output (see :mod:`engine.explain_compiler`).

    ``out`` holds the gate and criterion results, with None for the rules it
    leaves to this module's explainer (run on ``env(lets)``, built only then),
    and the values the grant's sentence quotes (None: this module computes them).
    """
    _dec, gates, criteria, lets, values = out
    ex = None
    if lets is not None:
        ex = _Explainer(policy, env(lets), lang)
        points = decision.points
        gates = tuple(_gate(ex, g, g.id not in decision.failed) if r is None else r
                      for g, r in zip(policy.gates, gates))
        criteria = tuple(ex.criterion(c, points[i] if points is not None else None) if r is None else r
                         for i, (c, r) in enumerate(zip(policy.criteria, criteria)))
    if decision.status == "admitted" and values is None:
        plan = grant_plan(policy)
        if plan is not None:  # the generated code could not compute them (then it hands over its lets)
            values = (ex or _Explainer(policy, env(lets), lang)).grant_values(plan)
    return _result(policy, decision, lang, gates, criteria, values)


def _labels_of(policy, lang):
    cache = policy.__dict__.setdefault("_labels_cache", {})
    found = cache.get(lang)
    if found is None:
        found = cache[lang] = (tuple(policy.label_of(g, lang) for g in policy.gates),
                               tuple(policy.label_of(c, lang) for c in policy.criteria))
    return found


def _gate(ex, g, passed) -> GateResult:
    try:
        because = ex.why(g.cond, {})
    except Exception as e:  # pragma: no cover - an explanation must never lose the result
        because = f"({e!r})"
    return GateResult(g.id, ex.policy.label_of(g, ex.lang), passed, because, ex.used_values([g.cond]))


def _result(policy, decision, lang, gates, criteria, grant_values=None) -> Result:
    t = texts(lang)
    info = policy.__dict__.get("_shared_info")
    if info is None:  # one dict per policy, shared by its results (Result.to_dict copies it)
        info = policy.__dict__["_shared_info"] = policy.policy_info
    # positional: in Result's field order (a third faster than keywords for its 20 fields)
    because = None
    if grant_values is not None and decision.status == "admitted":  # the generated code computes them unless a gate failed
        because = grant_because(policy, grant_plan(policy), lang, grant_values, decision.grant_computed)
    return Result(decision.application, decision.status, decision.score, policy.max_score, policy.pass_score,
                  decision.grant, gates, criteria, decision.errors, info, lang, policy.currency,
                  decision.ranking_score, decision.requested, decision.applicant, decision.submitted,
                  summary=_summary(policy, decision, lang, t), grant_computed=decision.grant_computed,
                  grant_because=because)


def _invalid_result(policy, decision, lang, value, data) -> Result:
    """An invalid application's result: each problem in words, and its applicant when that field is valid."""
    n = len(decision.errors)
    cp = policy.checked
    # items are named from the converted values (texts stay texts; "12" typed in a number field is no name)
    named = value if isinstance(value, dict) else data
    texts = tuple(describe_problem(cp, f, m, named, lang) for f, m in decision.errors)
    return Result(decision.application, "invalid", None, policy.max_score, policy.pass_score, None, (), (),
                  decision.errors, policy.policy_info, lang, policy.currency,
                  applicant=decision.applicant or _valid_applicant(policy, value, decision.errors),
                  summary=i18n.plural(lang, "explain.s_invalid", n), error_texts=texts)


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


def _summary(policy, d, lang, t):
    if d.status == "ineligible":
        n = len(d.failed)
        return i18n.plural(lang, "explain.s_ineligible", n, ids=_labels(policy, d.failed, lang))
    if d.status == "below_threshold":
        if d.below:
            crit = {c.id: c for c in policy.criteria}
            return t["s_below_min"].format(ids="; ".join(policy.label_of(crit[i], lang) for i in d.below))
        return t["s_below"].format(score=format_points(d.score, lang), pass_=format_points(policy.pass_score, lang))
    computed = d.grant_computed
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
            mark = "✓" if g["passed"] else "✗"
            lines.append(f"  {mark} {g['label']:<{width}}  {g['because']}")
    if r["criteria"] and r["score"] is not None:
        lines.append("")
        lines.append(w["scoring"])
        width = max(len(c["label"]) for c in r["criteria"])
        for c in r["criteria"]:
            pts = f"{format_points(c['points'], lang)}/{format_points(c['max'], lang)}" if c["points"] is not None else "—"
            lines.append(f"  {c['label']:<{width}}  {pts:>9}  {c['because']}")
            for p in c.get("parts", ()):
                ppts = f"{format_points(p['points'], lang)}/{format_points(p['max'], lang)}"
                lines.append(f"    · {p['label']:<{width - 2}}  {ppts:>9}  {p['because']}")
        total = f"{format_points(r['score'], lang)}/{format_points(r['max_score'], lang)}"
        lines.append(f"  {w['total']:<{width}}  {total:>9}  ({w['pass_mark']} {format_points(r['pass_score'], lang)})")
    if r.get("grant") is not None:
        lines.append("")
        lines.append(f"{w['grant']}: {format_money(r['grant'], lang, cur)}"
                     + (f" ({w['requested']} {format_money(r['requested'], lang, cur)})" if r.get("requested") else ""))
        if r.get("grant_because"):
            lines.append(f"  {r['grant_because']}")
    if r.get("placement"):
        lines.append(r["placement"].get("because", ""))
    p = r["policy"]
    lines.append("")
    lines.append(f"{w['call']}: {p['name']} v{p['version']} (sha256 {p['sha256'][:12]}…)")
    return "\n".join(lines) + "\n"


def status_label(status: str, lang: str) -> str:
    """The words for an outcome (``not_funded``: "ammessa, non finanziata"), the same in every output."""
    return i18n.text(lang, "status." + status)


def name_of(policy, e, lang) -> str:
    """How a sentence names expression ``e``: its label when the policy gives one (ranking keys use it)."""
    return _Explainer(policy, None, lang).name(e)


def not_scored(lang) -> str:
    """What a criterion of an application that is not eligible says (it was not scored)."""
    return texts(lang)["not_scored"]


def admitted_head(policy, score, lang) -> str:
    """"Eligible and admitted with S of M points." — the summary's first sentence for a ranked application."""
    return texts(lang)["s_admitted"].format(score=format_points(score, lang),
                                                      max=format_points(policy.max_score, lang))


def rules_applied(policy, value) -> tuple[dict, tuple]:
    """What the explanation of one valid application rests on, as facts rather than sentences.

    ``value`` is the application as :meth:`Policy.validate` converted it. Returns ``(bands, terms)``:
    ``bands`` maps every criterion and sub-criterion written as bands to the index of the band that
    gave its points (None when no band applied, or its value was missing); ``terms`` are the indexes of
    the grant's ``min``/``max`` terms equal to the amount (empty without a grant). They are read by the
    same explainer that writes the sentences (``tier_points``, ``grant_values``), so ``bando test
    --coverage`` counts what the explanations say, never a second reading of the rules.
    """
    ex = _Explainer(policy, policy.env(value), policy.language)
    bands: dict = {}
    stack = list(policy.criteria)
    while stack:
        c = stack.pop()
        if c.subs is not None:
            stack.extend(c.subs)
        elif c.tiers is not None:
            i, _raw, missing = ex.tier_points(c.tiers)
            bands[c.id] = None if missing else i
    plan = grant_plan(policy)
    terms: tuple = ()
    if plan is not None and plan.op is not None:
        values = [_exact(v) for v in ex.grant_values(plan)]
        raw = values[0]
        if raw is not None:
            terms = tuple(i for i, k in enumerate(plan.term_index) if values[k] == raw)
    return bands, terms
