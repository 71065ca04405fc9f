"""Explanations compiled into the fast path.

:mod:`engine.explain` explains an application by walking each rule and
evaluating its parts one by one (``_Explainer``). That is the reference, and
it needs the whole application converted to typed values first. This module
writes the same sentences as generated Python code instead, appended to the
fused fast path (:meth:`Compiler.build_explain`): one function per policy and
language that checks the data, decides, and then builds every ``because`` and
``values`` from the locals the decision already computed. Everything that
does not depend on the application (labels, rules in words, thresholds,
message templates) is worked out once, here, by the reference explainer
itself, so the two cannot phrase a rule differently.

The items a failed ``all``/``none`` names (at most three) get a generated
function of their own, which converts each of them to typed values and
writes its reason with this same generator over the typed compiler's
expressions.

A rule this generator does not handle (a band whose bound comes from the
data, a quantifier nested in another one, a construct it does not know) is
left to the reference explainer, for that rule only, on the fully converted
application; every gate and criterion of the shipped policies is generated.
``tests/engine/test_explain_compiled.py`` checks that both give identical
results (every shipped application, the yardstick's workload, random valid
and mutated applications of every policy, concurrent threads).
"""
from __future__ import annotations

import functools
import itertools
import re
import string

from dsl import ast

from . import explain as _x
from .compiler import _Code, _Retry, _rights, _tier_subject
from .result import CriterionResult, GateResult
from .validate import Bail

_FORMATTER = string.Formatter()
_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _No(Exception):
    """This rule is explained by the reference explainer."""


class _Dyn(str):
    """Python source of a ``str`` computed at run time (as opposed to a static text)."""


def cat(template: str, **parts) -> str:
    """Python source building ``template.format(**parts)``: static parts inlined, ``_Dyn`` parts as code."""
    pieces: list[tuple[bool, str]] = []

    def add(static, text):
        if static and pieces and pieces[-1][0]:
            pieces[-1] = (True, pieces[-1][1] + text)
        elif not static or text:
            pieces.append((static, text))

    for literal, field, _spec, _conv in _FORMATTER.parse(template):
        add(True, literal)
        if field is not None:
            v = parts[field]
            if isinstance(v, _Dyn):
                add(False, v)
            else:
                add(True, str(v))
    if not pieces:
        return _Dyn("''")
    return _Dyn("(" + " + ".join(repr(t) if static else f"({t})" for static, t in pieces) + ")")


def join(sep: str, items) -> _Dyn:
    return _Dyn(f"{sep!r}.join(({', '.join(items)},))")


class ExplainCodegen:
    """Writes the explanation part of the explaining fast path for one policy and language."""

    def __init__(self, policy, lang: str):
        self.policy = policy
        self.cp = policy.checked
        self.lang = lang
        self.t = _x.texts(lang)
        self.ex = _x._Explainer(policy, {}, lang)  # static text only: labels, rules in words, constants
        self.quantifiers: list = []  # (node, record converter) for _qitems
        self._n = itertools.count()

    # --- the whole explanation ------------------------------------------------------------------
    def emit(self, cc, code: _Code):
        """Called by the fast compiler after the decision is in ``_dec``; ends with the ``return``.

        The function returns ``(decide tuple, gates, criteria, lets, grant values)``:
        the :class:`GateResult` and :class:`CriterionResult` objects, None for a rule
        left to the reference explainer, then (only then) the lets it needs, and the
        values the grant's sentence quotes (None when no grant was computed).
        """
        self.cc = cc
        self.lets_available = cc.lets_computed
        cp = self.cp
        labels = _x._labels_of(self.policy, self.lang)
        GR = self.const(GateResult)
        gates = []
        for g, label in zip(cp.gates, labels[0]):
            built = self._rule(code, lambda: (self.why(g.cond, {}), self.values([g.cond])))
            gates.append("None" if built is None else
                         f"{GR}({g.id!r}, {label!r}, {g.id!r} not in failed, {built[0]}, {built[1]})")
        crits = []
        if cp.criteria:
            code.line("if _dec[1] is not None:")
            code.indent()
            for i, c in enumerate(cp.criteria):
                crits.append(self._rule(code, lambda: self.criterion(c, f"_dec[1][{i}]")))
            code.line("_cr = (" + "".join("None, " if x is None else f"{x}, " for x in crits) + ")")
            code.outdent()
            code.line("else:")
            code.indent()
            code.line("_cr = (" + "".join(
                "None, " if x is None else
                f"{self.result(c, 'None', repr(self.t['not_scored'] + self.weights(c)), '{}')}, "
                for c, x in zip(cp.criteria, crits)) + ")")
            code.outdent()
        else:
            code.line("_cr = ()")
        grant_ok = self.grant_values(code)
        fallback = "None" in gates or None in crits or not grant_ok
        code.line(f"return _dec, ({''.join(g + ', ' for g in gates)}), _cr, "
                  f"{self.lets() if fallback else 'None'}, _gv")

    def grant_values(self, code) -> bool:
        """Code setting ``_gv`` to the values the grant's sentence quotes (:func:`engine.explain.grant_because`)
        when the rules computed a grant (no gate failed), else None. False when this generator cannot
        compute them: ``_gv`` is then None and the reference explainer computes them from the lets."""
        plan = _x.grant_plan(self.policy)
        if plan is None:
            code.line("_gv = None")
            return True
        code.line("if failed: _gv = None")
        code.line("else:")
        code.indent()
        built = self._rule(code, lambda: "(" + "".join(f"{self.val(e, {})}, " for e in plan.exprs) + ")")
        code.line(f"_gv = {built if built is not None else 'None'}")
        code.outdent()
        return built is not None

    def result(self, c, points, because, values, parts="()") -> str:
        """Code building criterion ``c``'s :class:`CriterionResult`."""
        k = self.const
        label = self.policy.label_of(c, self.lang)
        return (f"{k(CriterionResult)}({c.id!r}, {label!r}, {points}, {k(c.max)}, {because}, {k(c.minimum)}, "
                f"{k(c.weight)}, {k(c.ranking_weight)}, {values}, {parts})")

    def _rule(self, code, build):
        """The code ``build()`` returns for one rule, or None: the reference explainer explains that rule."""
        self.memo = {}
        self.code = _Code()
        self.code.level = code.level
        try:
            built = build()
        except _Retry:
            raise  # the fast compiler changes its plan and starts again
        except Exception:  # _No, or a construct this generator does not know: the reference explains it
            return None
        code.lines.extend(self.code.lines)
        return built

    def lets(self) -> str:
        return "{" + ", ".join(f"{n!r}: l_{n}" for n in sorted(self.lets_available)) + "}"

    # --- values -----------------------------------------------------------------------------------
    def val(self, e, scope) -> str:
        """A local holding the value of ``e`` (computed once per rule)."""
        key = (id(e), tuple(sorted(scope.items())))
        found = self.memo.get(key)
        if found is not None:
            return found
        for n in ast.walk(e):
            if isinstance(n, ast.Name) and self.cp.ref_of(n)[0] == "let" \
                    and n.id not in self.lets_available:
                raise _No
        code = self.cc.expr(e, scope)
        if _SIMPLE.match(code):  # a local or a constant already: no need to copy it
            self.memo[key] = code
            return code
        local = f"_e{next(self._n)}"
        self.code.line(f"{local} = {code}")
        self.memo[key] = local
        return local

    def const(self, value) -> str:
        return self.cc.const(value)

    def show(self, e, v: str) -> _Dyn:
        return _Dyn(f"{self.const(self.ex.shower(e))}({v})")

    def static_show(self, e) -> str | None:
        """The text of a constant operand (a literal, ``call.closes``…), or None when it depends on the data."""
        if not _x._is_const(e):
            return None
        return self.ex.show(self.ex.value(e, {}), e)

    def points(self, v: str) -> _Dyn:
        return _Dyn(f"{self.const(_points_writer(self.lang))}({v})")

    # --- conditions -------------------------------------------------------------------------------
    def why(self, e, scope) -> _Dyn:
        """Code of the sentence saying why ``e`` has its value (see ``_Explainer.why``)."""
        t, ex = self.t, self.ex
        missing = t["missing"]
        if isinstance(e, ast.Binary) and e.op in _x._SYMBOL:
            lv, rv = self.val(e.left, scope), self.val(e.right, scope)
            lname, rname = ex.name(e.left), ex.name(e.right)
            left = cat("{n} = {v}", n=lname, v=self.show(e.left, lv))
            static = self.static_show(e.right)
            right = static if static is not None else cat("{v} ({n})", v=self.show(e.right, rv), n=rname)
            word = t[_x.OP_KEY[e.op]]
            if self.cp.type_of(e.left).kind in ("date", "datetime") and e.op in _x.DATE_OP_KEY:
                word = t[_x.DATE_OP_KEY[e.op]]
            out = cat("{l}, {w} {r}", l=left, w=word, r=right)
            out = f"({cat('{l}; {n}: {m}', l=left, n=rname, m=missing)} if {rv} is None else {out})"
            return self.unless_missing(lv, lname, out)
        if isinstance(e, ast.Binary) and e.op in ("and", "or"):
            parts = _x._flatten(e, e.op)
            values = [self.val(p, scope) for p in parts]
            whole = self.val(e, scope)
            whys = [self.why(p, scope) for p in parts]
            sep = t["and"]
            if e.op == "and":
                chosen = ", ".join(f"({w} if ({v} is not True or {whole} is True) else None)"
                                   for w, v in zip(whys, values))
                return _Dyn(f"{sep!r}.join([_s for _s in ({chosen},) if _s is not None])")
            first = whys[-1]
            for w, v in reversed(list(zip(whys[:-1], values[:-1]))):
                first = f"({w} if {v} is True else {first})"
            every = cat("{a}{b}", a=t["or_fail"], b=join(sep, whys))
            return _Dyn(f"({first} if {whole} is True else {every})")
        if isinstance(e, ast.Unary) and e.op == "not":
            return cat("{a}{b}", a=t["not"], b=self.why(e.operand, scope))
        if isinstance(e, ast.Between):
            v = self.val(e.value, scope)
            bounds = {}
            for key, x in (("lo", e.low), ("hi", e.high)):
                static = self.static_show(x)
                bounds[key] = static if static is not None else self.show(x, self.val(x, scope))
            name = ex.name(e.value)
            out = cat("{n} = {v}, {b}", n=name, v=self.show(e.value, v),
                      b=_Dyn(cat(t["op.between"], **bounds)))
            return self.unless_missing(v, name, out)
        if isinstance(e, ast.Binary) and e.op in ("in", "not in"):
            v, s = self.val(e.left, scope), self.val(e.right, scope)
            name = ex.name(e.left)
            shown = _Dyn(f"({self.const(ex.shower(None))}({s}) if isinstance({s}, (set, frozenset)) "
                         f"else {ex.name(e.right)!r})")
            out = cat("{n} = {v}, {w}", n=name, v=self.show(e.left, v), w=_Dyn(cat(t[_x.OP_KEY[e.op]], s=shown)))
            return self.unless_missing(v, name, out)
        if isinstance(e, ast.IsMissing):
            v = self.val(e.operand, scope)
            name = ex.name(e.operand)
            return _Dyn(f"({t['is_present'].format(x=name)!r} if {v} is not None "
                        f"else {t['is_missing'].format(x=name)!r})")
        if isinstance(e, ast.Quantified):
            return self.why_quantified(e, scope)
        if isinstance(e, ast.Name) and self.cp.ref_of(e)[0] == "let" and not scope:
            let = self.cp.lets[e.id]
            if not _x._is_const(let.expr):
                inner = self.why(let.expr, {})
                return cat("{n}: {i}", n=ex.name(e), i=inner) if let.label else inner
        if isinstance(e, ast.Call) and e.func in ("starts_with", "ends_with", "contains") and len(e.args) == 2:
            v = self.val(e.args[0], scope)
            return cat("{n} = {v}", n=ex.name(e.args[0]), v=self.show(e.args[0], v))
        if isinstance(e, ast.Call) and e.func in self.cp.funcs:
            fn = self.cp.funcs[e.func]
            args = [self.val(a, scope) for a in e.args]
            inner = {p.name: a for p, a in zip(fn.params, args)}
            said = [f"({ex.name(a) + ': ' + missing!r} if {v} is None else None)" for a, v in zip(e.args, args)]
            gaps = f"'; '.join([_s for _s in ({', '.join(said)},) if _s is not None])"
            anything_missing = " or ".join(f"{v} is None" for v in args) or "False"
            return _Dyn(f"({gaps} if ({anything_missing}) else {self.why(fn.expr, inner)})")
        v = self.val(e, scope)
        return cat("{n} = {v}", n=ex.name(e), v=self.show(e, v))

    def unless_missing(self, v: str, name: str, out) -> _Dyn:
        """``out``, or ``name: dato mancante`` when the value in ``v`` is missing."""
        return _Dyn(f"({cat('{n}: {m}', n=name, m=self.t['missing'])} if {v} is None else {out})")

    def why_quantified(self, e, scope):
        if scope:
            raise _No
        found = self.cc.item_positions(e)
        if found is not None:  # the fused loop collected the positions; its items are raw records
            loop, positions = found
            items = loop.local
            convert = self.policy._validator.record_converter(loop.rec)
        else:  # a list the fast path converted whole: test its typed items here
            items, positions = f"_l{next(self._n)}", f"_q{next(self._n)}"
            self.code.line(f"{items} = {self.val(e.source, {})} or ()")
            var = f"_x{next(self._n)}"
            cond = self.cc._cond(e.cond, {e.var: var})
            self.code.line(f"{positions} = [_i for _i, {var} in enumerate({items}) "
                           f"if {'not (' + cond + ')' if e.kind == 'all' else cond}]")
            convert = None
        t = self.t
        n = _Dyn(f"str(len({items}))")
        k = _Dyn(f"str(len({positions}))")
        c = self.ex.human(e.cond)
        if e.kind == "any":
            return _Dyn(f"({cat(t['any_ok'], k=k, n=n, c=c)} if {positions} "
                        f"else {cat(t['any_fail'], n=n, c=c)})")
        ok, fail = ("all_ok", "all_fail") if e.kind == "all" else ("none_ok", "none_fail")
        try:
            fn, lets = self.item_function(e, convert)
            named = f"{fn}({items}, {positions}{''.join(', l_' + n for n in lets)})"
        except _No:  # the reference explainer names the items
            q = len(self.quantifiers)
            self.quantifiers.append((e, convert))
            named = f"{self.const(_qitems)}({self.const(self)}, {q}, {positions}, {items}, {self.lets()}, app)"
        return _Dyn(f"({cat(t[fail], k=k, n=n, c=c)} + {named} if {positions} else {cat(t[ok], n=n, c=c)})")

    def item_function(self, e, convert):
        """A generated function naming the first items that break quantifier ``e``, each with its reason.

        ``(items, positions, *lets) -> ": #2 Name (reason), …"``: the items are the
        fast path's raw records, converted one by one (only those named); the
        reasons are written by this generator on the typed item, with the typed
        compiler's expressions (``b_f['employees']``), as ``_qitems`` would with
        the reference explainer.
        """
        lets, inputs = self.cc.parent.refs(e.cond)
        if inputs or not lets <= self.lets_available:
            raise _No
        lets = sorted(lets)
        saved = self.cc, self.code, self.memo
        self.cc, self.memo = self.cc.parent, {}
        self.code = _Code()
        self.code.level = 2
        try:
            var = f"b_{e.var}"
            because = self.why(e.cond, {e.var: var})
            body = self.code.lines
        except _Retry:  # pragma: no cover - the typed compiler has no plan to change
            raise
        except Exception as exc:  # what the typed items cannot be explained with here: the reference does it
            raise _No from exc
        finally:
            self.cc, self.code, self.memo = saved
        name = f"qx{next(self.cc._tmp)}"  # a global of the policy's namespace: unique across languages
        limit = _x.MAX_ITEMS_SHOWN
        code = _Code()
        code.line(f"def {name}(_items, _positions{''.join(', l_' + n for n in lets)}):")
        code.indent()
        code.line("_out = []")
        code.line(f"for _i in _positions[:{limit}]:")
        code.indent()
        code.line(f"{var} = {self.const(convert)}(_items[_i])" if convert is not None else f"{var} = _items[_i]")
        code.lines.extend(body)
        code.line(f"_out.append({self.const(_x._item_name)}({var}, _i) + ' (' + {because} + ')')")
        code.outdent()
        code.line(f"_more = ', … +' + str(len(_positions) - {limit}) if len(_positions) > {limit} else ''")
        code.line("return ': ' + ', '.join(_out) + _more")
        self.cc.parent.exec(code.text())
        return name, lets

    def describe_aggregates(self, e) -> list[_Dyn]:
        out = []
        for node in _x._aggregates_cached(e, self.policy):
            if node.func in ("share", "count") and node.where is not None:
                found = self.cc.where_count(node) if hasattr(self.cc, "where_count") else None
                if found is not None:
                    loop, k = found
                    n = f"len({loop.local})"
                else:  # a list the fast path converted whole: count on its typed items
                    items, k, var = f"_l{next(self._n)}", f"_k{next(self._n)}", f"_x{next(self._n)}"
                    self.code.line(f"{items} = {self.val(node.source, {})} or ()")
                    cond = self.cc._cond(node.where, {node.var: var})
                    self.code.line(f"{k} = sum(1 for {var} in {items} if ({cond}) is True)")
                    n = f"len({items})"
                c = self.ex.human(node.where)
                count = cat(self.t["count"], k=_Dyn(f"str({k})"), n=_Dyn(f"str({n})"), c=c)
                if node.func == "share":
                    pct = _Dyn(f"{self.const(_x.format_percent)}(_D({k}) / {n}, {self.lang!r})")
                    share = cat(self.t["share"], k=_Dyn(f"str({k})"), n=_Dyn(f"str({n})"), pct=pct, c=c)
                    out.append(_Dyn(f"({share} if {n} else {count})"))
                else:
                    out.append(count)
        return out

    # --- values used ---------------------------------------------------------------------------------
    def values(self, exprs) -> str:
        entries = {}
        for e in exprs:
            if e is None:
                continue
            for node in _x._paths_cached(e, self.policy):
                key = _x._text(node, self.policy)
                if key in entries:
                    continue
                t = self.cp.type_of(node)
                if t.kind in ("list", "record"):
                    if t.optional:
                        raise _No  # a missing one would be listed as null
                    continue
                v = self.val(node, {})
                if t.kind in ("int", "bool", "text", "enum"):
                    entries[key] = v  # _jsonable leaves these as they are
                elif t.kind in ("decimal", "money", "percent"):
                    entries[key] = f"{self.const(_x._json_decimal)}({v})"
                elif t.kind in ("date", "datetime"):
                    entries[key] = f"{self.const(_x._json_moment)}({v})"
                else:
                    entries[key] = f"{self.const(_x._jsonable)}({v})"
        return "{" + ", ".join(f"{k!r}: {v}" for k, v in entries.items()) + "}"

    # --- criteria ------------------------------------------------------------------------------------
    def criterion(self, c, points: str) -> str:
        """Code of criterion ``c``'s :class:`CriterionResult` when it scored ``points`` (a local or expression)."""
        t = self.t
        pts = f"_p{next(self._n)}"
        self.code.line(f"{pts} = {points}")
        m = _x.format_points(c.max, self.lang)
        parts = "()"
        if c.subs is not None:  # as _Explainer.criterion: each part explained on its own points
            exprs, shown, codes = [], [], []
            for sub in c.subs:
                sp = self.sub_points(sub)
                codes.append(self.criterion(sub, sp))
                shown.append(cat("{l} {p}", l=self.policy.label_of(sub, self.lang), p=self.points(sp)))
            parts = "(" + "".join(f"{x}, " for x in codes) + ")"
            because = cat(t["parts"], parts=join(" + ", shown), p=self.points(pts), m=m)
        elif c.tiers is not None:
            exprs = [x for tier in c.tiers for x in (tier.cond, tier.points)]
            because = self.why_tiers(c, pts, m)
        else:
            exprs = [c.formula]
            raw = self.val(c.formula, {})
            f = self.formula_text(c.formula)
            shown = self.show(None, raw)
            p = self.points(pts)
            because = _Dyn(f"({cat(t['missing_points'], what=f, m=m)} if {raw} is None else "
                           f"{cat(t['capped'], f=f, raw=shown, p=p, m=m)} if {raw} > {self.const(c.max)} else "
                           f"{cat(t['floored'], f=f, raw=shown, m=m)} if {raw} < 0 else "
                           f"{cat(t['formula'], f=f, raw=shown, p=p, m=m)})")
        if c.minimum is not None:
            below = t["minimum"].format(min=_x.format_points(c.minimum, self.lang))
            because = _Dyn(f"({because} + ({below!r} if {pts} < {self.const(c.minimum)} else ''))")
        suffix = self.weights(c)
        if suffix:
            because = _Dyn(f"({because} + {suffix!r})")
        return self.result(c, pts, because, self.values(exprs), parts)

    def sub_points(self, c) -> str:
        """A local holding a part's points, as ``_Explainer.sub_points`` (missing counts 0, kept in 0..max)."""
        local = f"_sp{next(self._n)}"
        if c.subs is not None:
            total = " + ".join(self.sub_points(s) for s in c.subs)
            self.code.line(f"{local} = min({total}, {self.const(c.max)})")
            return local
        if c.formula is not None:
            raw = self.val(c.formula, {})
        else:
            i, miss = self.band(c.tiers)
            raw = f"_r{next(self._n)}"
            chain = "0"
            for j in reversed(range(len(c.tiers))):
                chain = f"({self.cc.expr(c.tiers[j].points, {})} if {i} == {j} else {chain})"
            self.code.line(f"{raw} = None if {miss} else {chain}")
        self.code.line(f"{local} = 0 if {raw} is None else max(min({raw}, {self.const(c.max)}), 0)")
        return local

    def weights(self, c) -> str:
        t, out = self.t, ""
        if c.weight is not None:
            out += t["weight"].format(w=_x.format_points(c.weight, self.lang))
        if c.ranking_weight is not None:
            out += t["rweight"].format(w=_x.format_points(c.ranking_weight, self.lang))
        return out

    def formula_text(self, e) -> _Dyn:
        details = list(self.describe_aggregates(e))
        for node in _x._paths_cached(e, self.policy):
            if self.cp.type_of(node).kind in ("list", "record"):
                if self.cp.type_of(node).optional:
                    raise _No
                continue
            details.append(cat("{n} = {v}", n=self.ex.name(node), v=self.show(node, self.val(node, {}))))
        text = self.ex.human(e)
        if not details:
            return _Dyn(repr(text))
        local = f"_f{next(self._n)}"
        self.code.line(f"{local} = {text + ' ['!r} + '; '.join(dict.fromkeys(({', '.join(details)},))) + ']'")
        return _Dyn(local)

    def why_tiers(self, c, pts: str, m: str) -> _Dyn:
        t, ex = self.t, self.ex
        tiers = c.tiers
        subject = _tier_subject(tiers)
        i, miss = self.band(tiers)
        if subject is not None:
            sv = self.val(subject, {})
            shown = self.show(subject, sv)
            if self.cp.type_of(subject).kind == "decimal" and any(
                    isinstance(r, ast.Percent) for tier in tiers if tier.cond is not None for r in _rights(tier.cond)):
                shown = _Dyn(f"{self.const(_x.format_percent)}({sv}, {self.lang!r})")
            name = ex.name(subject)
            v = self.unless_missing(sv, name, cat("{n} = {s}", n=name, s=shown))
        else:
            whys = {j: self.why(tier.cond, {}) for j, tier in enumerate(tiers) if tier.cond is not None}
            if not whys:
                v = _Dyn("''")
            else:
                v = whys[0] if 0 in whys else _Dyn("''")
                for j in sorted(whys, reverse=True):
                    if j:
                        v = _Dyn(f"({whys[j]} if {i} == {j} else {v})")
        aggs = self.describe_aggregates(tiers[0].cond) if tiers[0].cond is not None else []
        if aggs:
            tail = subject is not None and not isinstance(subject, ast.Aggregate)
            v = _Dyn(f"({join('; ', aggs)}" + (f" + ' (' + {v} + ')'" if tail else "") + ")")
        local = f"_v{next(self._n)}"
        self.code.line(f"{local} = {v}")
        v = _Dyn(local)
        what = ex.name(subject) if subject is not None else v
        p = self.points(pts)
        out = cat(t["nomatch"], v=v, m=m)
        for j in reversed(range(len(tiers))):
            tier = tiers[j]
            if tier.cond is None:
                s = cat(t["otherwise"], v=v, p=p, m=m)
            else:
                s = cat(t["band"], v=v, b=self.band_text(tier.cond, subject), p=p, m=m)
            out = f"({s} if {i} == {j} else {out})"
        return _Dyn(f"({cat(t['missing_points'], what=what, m=m)} if {miss} else {out})")

    def band(self, tiers) -> tuple[str, str]:
        """Locals holding which band of ``tiers`` applies (its index, or None) and whether a test was missing."""
        key = ("band", id(tiers))
        found = self.memo.get(key)
        if found is not None:
            return found
        subject = _tier_subject(tiers)
        marked = (getattr(self.cc, "band_marks", None) or {}).get(id(tiers))
        if marked is not None:  # the decision kept the band and the subject's value: reuse them
            i, miss, local = marked
            self.memo[(id(subject), ())] = local
        else:
            i, miss = f"_i{next(self._n)}", f"_m{next(self._n)}"
            if subject is not None and all(_x._is_const(r) for tier in tiers if tier.cond is not None
                                           for r in _rights(tier.cond)):
                self.band_index(tiers, subject, i, miss)
            else:
                self.band_search(tiers, i, miss)
        self.memo[key] = (i, miss)
        return i, miss

    def band_index(self, tiers, subject, i, miss):
        """The band that applies when every band compares ``subject`` with a constant: one test per band
        on the subject's value (a missing subject makes the first band's test, hence the points, missing)."""
        sv = self.val(subject, {})
        first = next(j for j, tier in enumerate(tiers) if tier.cond is not None or j == len(tiers) - 1)
        self.code.line(f"{miss} = False")
        self.code.line(f"if {sv} is None: {i} = {first}; {miss} = {tiers[first].cond is not None}")
        for j, tier in enumerate(tiers):
            if tier.cond is None:
                self.code.line(f"else: {i} = {j}")
                break
            self.code.line(f"elif {self.cc._band_test(tier.cond, sv, False)}: {i} = {j}")
        else:
            self.code.line(f"else: {i} = None")

    def band_search(self, tiers, i, miss):
        """The band that applies, as ``_Explainer.tier_points``: the first that holds; a missing test stops."""
        self.code.line(f"{miss} = False")
        self.code.line("while True:")
        self.code.indent()
        for j, tier in enumerate(tiers):
            if tier.cond is None:
                self.code.line(f"{i} = {j}; break")
                break
            self.code.line(f"_c = {self.cc.expr(tier.cond, {})}")
            self.code.line(f"if _c is None: {i} = {j}; {miss} = True; break")
            self.code.line(f"if _c: {i} = {j}; break")
        else:
            self.code.line(f"{i} = None; break")
        self.code.outdent()

    def band_text(self, cond, subject) -> str:
        """``_Explainer.band_text`` when it needs no data (a constant bound); else the reference explains."""
        if subject is not None and isinstance(cond, ast.Binary) and cond.op in _x._SYMBOL and cond.left == subject:
            if not _x._is_const(cond.right):
                raise _No
        elif subject is not None and isinstance(cond, ast.Between) and cond.value == subject:
            if not (_x._is_const(cond.low) and _x._is_const(cond.high)):
                raise _No
        return self.ex.band_text(cond, subject)


@functools.lru_cache(maxsize=None)
def _points_writer(lang):
    """``format_points(v, lang)``, with whole points below 1,000 (nearly all of them) written directly."""
    def points(v):
        if v.__class__ is int and -1000 < v < 1000:
            return str(v)
        return _x.format_points(v, lang)
    return points


def _qitems(gen: ExplainCodegen, q: int, positions, items, lets, app) -> str:
    """``: #3 Name (why), …`` for the first items a quantifier names, explained by the reference explainer."""
    e, convert = gen.quantifiers[q]
    ex = _x._Explainer(gen.policy, _Env(lets, gen.policy, app), gen.lang)
    shown = []
    for i in positions[:_x.MAX_ITEMS_SHOWN]:
        item = convert(items[i]) if convert is not None else items[i]
        shown.append(f"{_x._item_name(item, i)} ({ex.why(e.cond, {e.var: item})})")
    more = f", … +{len(positions) - _x.MAX_ITEMS_SHOWN}" if len(positions) > _x.MAX_ITEMS_SHOWN else ""
    return ": " + ", ".join(shown) + more


class _Env(dict):
    """The lets the fast path computed; any other input or let comes from the fully converted application."""

    def __init__(self, lets, policy, app):
        super().__init__(lets)
        self._policy = policy
        self._app = app
        self._full = None

    def __missing__(self, key):
        if self._full is None:
            value, errors = self._policy._validator.validate_full(self._app)
            if errors:  # pragma: no cover - the fast path accepted the data
                raise Bail
            self._full = self._policy.env(value)
        return self._full[key]


def build(policy, lang: str):
    """The explaining fast path of ``policy`` in ``lang``, or None when the policy has no fast path."""
    gen = ExplainCodegen(policy, lang)
    fn = policy._compiler.build_explain(gen)
    if fn is None:
        return None
    return fn, gen


def full_env(policy, app, lets) -> _Env:
    """What the reference explainer reads for the rules the generated code leaves to it."""
    return _Env(lets, policy, app)
