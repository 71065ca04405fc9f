"""The trace generator: code that records the facts of every rule (:mod:`engine.evaluate.trace`).

One generator, two places:

- appended to the fused fast path (:meth:`Compiler.build_explain` calls
  :meth:`TraceGen.emit` after the decision): the facts are read from the locals
  the decision already computed, so explaining an application costs little more
  than deciding it;
- over the typed compiler's expressions (:func:`typed_tracer`): one small
  function per rule that reads the typed application (``Policy.env``), for data
  the fast path does not accept (invalid or unusual values) and for a rule the
  fused form cannot serve (a ``let`` it did not compute, a quantifier nested in
  another, the items of a quantifier whose condition reads other inputs).

Both write the same facts for the same rule, by the same methods below: only
where a value comes from differs (the fused loop's accumulators, or the typed
values). No sentence is written here: :mod:`engine.explain.explain` renders the facts.
The items a failed ``all``/``none`` names get a generated function of their own,
which converts each of them to typed values (the fused loop holds raw records)
and records its condition's facts with the typed compiler's expressions.
"""
from __future__ import annotations

import itertools
import keyword
import re

from dsl import ast

from engine.explain import explain as _x
from engine.compile.compiler import Code
from engine.compile.plan import band_rights, flatten, tier_subject
from engine.evaluate.trace import MAX_ITEMS_SHOWN, Trace
from engine.compile.runtime import distinct_values as _distinct_values
from engine.compile.validate import Bail, item_name

_SIMPLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _No(Exception):
    """The fused form cannot record this rule's facts: the typed tracer records them."""


def _item_label(item):
    """An item's own name in a fact (None: it has none)."""
    return item_name(item) if isinstance(item, dict) else None


class TraceGen:
    """Writes the code recording the facts of a policy's rules (on a fused or on the typed compiler)."""

    def __init__(self, policy, fused: bool):
        self.policy = policy
        self.cp = policy.checked
        self.fused = fused
        self._n = itertools.count()
        self.needs: set = set()  # typed form: the inputs and lets (``i_x``, ``l_x``) the code reads

    # --- the fused form -------------------------------------------------------------------------
    def emit(self, cc, code: Code):
        """Called by the fast compiler after the decision is in ``_dec``; ends with the ``return``.

        The function returns ``(decide tuple, gate facts, criterion facts, lets, grant values)``:
        None for a rule whose facts are left to the typed tracer, then (only then) the lets
        it reads them with; criterion facts are None when no criterion was scored.
        """
        self.cc = cc
        self.lets_available = cc.lets_computed
        cp = self.cp
        gates = [self._rule(code, lambda: self.gate(g)) for g in cp.gates]
        if cp.scored:
            code.line("if _dec[1] is not None:")
            code.indent()
            crits = [self._rule(code, lambda: self.criterion(c, f"_dec[1][{i}]")) for i, c in enumerate(cp.scored)]
            code.line("_cr = (" + "".join(f"{x}, " for x in map(_or_none, crits)) + ")")
            code.outdent()
            code.line("else: _cr = None")
        else:
            crits = []
            code.line("_cr = None if _dec[1] is None else ()")
        plan = _x.grant_plan(self.policy)
        grant_ok = True
        if plan is None:
            code.line("_gv = None")
        else:
            code.line("if failed: _gv = None")
            code.line("else:")
            code.indent()
            built = self._rule(code, lambda: self.grant(plan))
            grant_ok = built is not None
            code.line(f"_gv = {_or_none(built)}")
            code.outdent()
        fallback = None in gates or None in crits or not grant_ok
        lets = "{" + ", ".join(f"{n!r}: l_{n}" for n in sorted(self.lets_available)) + "}"
        code.line(f"return _dec, ({''.join(f'{g}, ' for g in map(_or_none, gates))}), _cr, "
                  f"{lets if fallback else 'None'}, {'_gv' if grant_ok else 'None'}")
        self.fallback = fallback

    def _rule(self, code, build):
        """The code ``build()`` returns for one rule, or None: the typed tracer records that rule."""
        self.memo = {}
        self.code = Code()
        self.code.level = code.level
        try:
            built = build()
        except Exception:  # _No, or a construct the fused form cannot serve: the typed tracer records it
            return None
        code.lines.extend(self.code.lines)
        return built

    # --- the typed form ---------------------------------------------------------------------------
    def typed_function(self, build, params=()):
        """``f(env, *params) -> fact``: ``build()``'s facts, reading the typed inputs and lets from ``env``."""
        self.cc = self.policy.compiler
        self.lets_available = None
        self.memo, self.needs = {}, set()
        self.code = Code()
        self.code.level = 1
        fact = build()
        name = self.cc.fresh("tr")
        head = Code()
        head.line(f"def {name}({', '.join(('env',) + tuple(params))}):")
        head.indent()
        for local in sorted(self.needs):
            head.line(f"{local} = env[{local[2:]!r}]")
        self.code.line(f"return {fact}")
        self.cc.exec(head.text() + "\n" + self.code.text())
        return self.cc.namespace[name]

    # --- values -----------------------------------------------------------------------------------
    def src(self, e, scope) -> str:
        """The code of ``e``'s value (the inputs and lets it reads are available, or _No)."""
        lets, inputs = self.typed.refs(e)
        if self.fused and self.cc is not self.typed:
            if not lets <= self.lets_available:
                raise _No
        else:
            self.typed.define_funcs(e)
            self.needs.update(f"l_{n}" for n in lets)
            self.needs.update(f"i_{n}" for n in inputs)
        return self.cc.expr(e, scope)

    @property
    def typed(self):
        return self.policy.compiler

    def val(self, e, scope) -> str:
        """A local holding the value of ``e`` (computed once per rule)."""
        key = (id(e), tuple(sorted(scope.items())))
        found = self.memo.get(key)
        if found is not None:
            return found
        code = self.src(e, scope)
        if _SIMPLE.match(code):  # a local or a constant already: no need to copy it
            self.memo[key] = code
            return code
        local = f"_e{next(self._n)}"
        self.code.line(f"{local} = {code}")
        self.memo[key] = local
        return local

    def cond(self, e, scope) -> str:
        """The code of the test ``e`` (a missing answer does not hold)."""
        self.src(e, scope)
        return self.cc.cond(e, scope)

    # --- conditions -------------------------------------------------------------------------------
    def gate(self, g) -> str:
        return f"({self.why(g.cond, {})}, {self.values([g.cond])})"

    def why(self, e, scope) -> str:
        """Code of the fact of condition ``e`` (its shape: :mod:`engine.evaluate.trace`)."""
        if isinstance(e, ast.Binary) and e.op in _x.SYMBOL:
            distinct = _x.distinct_of(self.cp, e.left, scope)
            if distinct is not None:  # the values counted too
                return f"({self.val(e.left, scope)}, {self.val(e.right, scope)}, {self.distinct_values(distinct)})"
            return f"({self.val(e.left, scope)}, {self.val(e.right, scope)})"
        if isinstance(e, ast.Binary) and e.op in ("and", "or"):
            parts = flatten(e, e.op)
            values = [self.val(p, scope) for p in parts]
            whole = self.val(e, scope)
            facts = [self.why(p, scope) for p in parts]
            return f"({whole}, {''.join(f'({v}, {f}), ' for v, f in zip(values, facts))})"
        if isinstance(e, ast.Unary) and e.op == "not":
            return self.why(e.operand, scope)
        if isinstance(e, ast.Between):
            return f"({self.val(e.value, scope)}, {self.val(e.low, scope)}, {self.val(e.high, scope)})"
        if isinstance(e, ast.Binary) and e.op in ("in", "not in"):
            return f"({self.val(e.left, scope)}, {self.val(e.right, scope)})"
        if isinstance(e, ast.IsMissing):
            return self.val(e.operand, scope)
        if isinstance(e, ast.Quantified):
            return self.why_quantified(e, scope)
        if _x.explains_let(self.cp, e, scope):
            return self.why(self.cp.lets[e.id].expr, {})
        if isinstance(e, ast.Call) and e.func in _x.TEXT_TESTS and len(e.args) == 2:
            return self.val(e.args[0], scope)
        if isinstance(e, ast.Call) and e.func in self.cp.funcs:
            fn = self.cp.funcs[e.func]
            args = [self.val(a, scope) for a in e.args]
            inner = {p.name: a for p, a in zip(fn.params, args)}
            return f"(({''.join(a + ', ' for a in args)}), {self.why(fn.expr, inner)})"
        return self.val(e, scope)

    def why_quantified(self, e, scope) -> str:
        if scope and self.fused and self.cc is not self.typed:
            raise _No
        found = self.cc.item_positions(e) if self.fused and self.cc is not self.typed and not scope else None
        if found is not None:  # the fused loop collected the positions; its items are raw records
            loop, positions = found
            items = loop.local
            convert = self.policy.validator.record_converter(loop.rec)
        else:  # typed items: test them here
            items, positions = f"_l{next(self._n)}", f"_q{next(self._n)}"
            self.code.line(f"{items} = {self.val(e.source, scope)} or ()")
            var = f"_x{next(self._n)}"
            cond = self.cond(e.cond, dict(scope, **{e.var: var}))
            self.code.line(f"{positions} = [_i for _i, {var} in enumerate({items}) "
                           f"if {'not (' + cond + ')' if e.kind == 'all' else cond}]")
            convert = None
        if e.kind == "any":
            return f"(len({items}), len({positions}))"
        try:
            fn, params = self.item_function(e, convert, scope)
            named = f"{fn}({items}, {positions}{''.join(', ' + p for p in params)})"
        except _No:  # the condition reads inputs the fused form holds raw: the typed values are read for it
            fn, params = self.item_function(e, convert, scope, typed=True)
            lets = "{" + ", ".join(f"{n!r}: l_{n}" for n in sorted(self.lets_available)) + "}"
            named = f"{self.cc.const(self._from_env)}({fn}, {items}, {positions}, {tuple(params)!r}, {lets}, app)"
        return f"(len({items}), len({positions}), {named} if {positions} else None)"

    def _from_env(self, fn, items, positions, params, lets, app):
        """``fn``'s facts of the items, its inputs and lets read from the typed application (built once)."""
        env = _Env(lets, self.policy, app)
        return fn(items, positions, *(env[p[2:]] for p in params))

    def item_function(self, e, convert, scope, typed=False):
        """A generated function recording the facts of the first items that break quantifier ``e``.

        ``(items, positions, *params) -> ((position, name, fact), …)``: the items
        are converted one by one when they are the fused loop's raw records (only
        those named); the facts are recorded on the typed item, with the typed
        compiler's expressions (``b_f['employees']``).
        """
        typed_, typed = typed, self.typed
        if self.fused and self.cc is not typed and not typed_:
            lets, inputs = typed.refs(e.cond)
            if inputs or not lets <= self.lets_available:
                raise _No  # the condition reads what the fused form holds raw: the typed tracer records it
        saved = self.cc, self.code, self.memo, self.needs
        self.cc, self.memo, self.needs = typed, {}, set()
        self.code = Code()
        self.code.level = 2
        var = f"b_{e.var}"
        outer = [v for v in scope.values() if _SIMPLE.match(v) and not keyword.iskeyword(v) and v != var]
        try:
            fact = self.why(e.cond, dict(scope, **{e.var: var}))
            body, needs = self.code.lines, self.needs
        finally:
            self.cc, self.code, self.memo, self.needs = saved
        params = sorted(dict.fromkeys(outer + sorted(needs)))
        if not (self.fused and self.cc is not typed):
            self.needs.update(n for n in needs)  # the typed rule reads them to pass them on
        name = typed.fresh("qt")  # a global of the policy's namespace: unique
        code = Code()
        code.line(f"def {name}(_items, _positions{''.join(', ' + p for p in params)}):")
        code.indent()
        code.line("_out = []")
        code.line(f"for _i in _positions[:{MAX_ITEMS_SHOWN}]:")
        code.indent()
        code.line(f"{var} = {typed.const(convert)}(_items[_i])" if convert is not None else f"{var} = _items[_i]")
        code.lines.extend(body)
        code.line(f"_out.append((_i, {typed.const(_item_label)}({var}), {fact}))")
        code.outdent()
        code.line("return tuple(_out)")
        typed.exec(code.text())
        return name, params

    def aggregates(self, e) -> str:
        """Code of ``((k, n), …)``: each ``share``/``count … where`` of ``e``, items that satisfy it and all."""
        out = []
        for node in _x.counted_aggregates(self.policy, e):
            if node.func == "count distinct":
                values = self.distinct_values(node)
                out.append(f"(len({values}), {values}), ")
                continue
            found = self.cc.where_count(node) if self.fused and self.cc is not self.typed else None
            if found is not None:
                loop, k = found
                n = f"len({loop.local})"
            else:  # typed items: count here
                items, k, var = f"_l{next(self._n)}", f"_k{next(self._n)}", f"_x{next(self._n)}"
                self.code.line(f"{items} = {self.val(node.source, {})} or ()")
                cond = self.cond(node.where, {node.var: var})
                self.code.line(f"{k} = sum(1 for {var} in {items} if ({cond}) is True)")
                n = f"len({items})"
            out.append(f"({k}, {n}), ")
        return "(" + "".join(out) + ")"

    def distinct_values(self, node) -> str:
        """A local holding the different values of ``count distinct`` ``node``, in order."""
        key = (id(node), "distinct")
        found = self.memo.get(key)
        if found is not None:
            return found
        local = f"_dv{next(self._n)}"
        helper = self.cc.const(_distinct_values)
        if self.fused and self.cc is not self.typed:
            found = self.cc.distinct_set(node)
            if found is None:
                raise _No  # not one of the fused loop's aggregates: the typed tracer records the rule
            self.code.line(f"{local} = {helper}({found[1]})")
        else:  # typed items: collect the values here
            items, var = f"_l{next(self._n)}", f"_x{next(self._n)}"
            self.code.line(f"{items} = {self.val(node.source, {})} or ()")
            inner = {node.var: var} if node.var else {}
            value = self.src(node.value, inner) if node.value is not None else var
            where = f" if ({self.cond(node.where, inner)}) is True" if node.where is not None else ""
            self.code.line(f"{local} = {helper}({value} for {var} in {items}{where})")
        self.memo[key] = local
        return local

    def values(self, exprs) -> str:
        """Code of the values of the input fields and lets ``exprs`` use (:func:`engine.explain.explain.value_nodes`)."""
        out = []
        for _key, node in _x.value_nodes(self.policy, exprs):
            if self.fused and self.cc is not self.typed and self.cp.type_of(node).kind in ("list", "record"):
                raise _No  # an optional list the fused loop holds raw (a missing one is listed as null)
            out.append(self.val(node, {}) + ", ")
        return "(" + "".join(out) + ")"

    def grant(self, plan) -> str:
        return "(" + "".join(f"{self.val(e, {})}, " for e in plan.exprs) + ")"

    # --- named outputs --------------------------------------------------------------------------------
    def output(self, d) -> str:
        """Code of named output ``d``'s fact (its shape: :mod:`engine.evaluate.trace`), on the typed
        values and ``_r``, the decision (:class:`engine.evaluate.named_outputs.Decided`)."""
        from engine.evaluate.named_outputs import decided_names, item_key
        decided = "(" + "".join(f"_r.{n}, " for n in decided_names(self.cp, d)) + ")"
        values = self.values([d.expr] if d.source is None else [d.source, d.expr])
        if d.source is None:
            value = self._rounded(self.val(d.expr, {}), d)
            cond = "None"
            if isinstance(d.expr, ast.If):
                cond = f"({self.val(d.expr.cond, {})}, {self.why(d.expr.cond, {})})"
            elif _x.output_is_condition(self.cp, d):  # a yes/no output is explained as a gate is
                cond = f"(None, {self.why(d.expr, {})})"
            return f"({value}, {cond}, {self.aggregates(d.expr)}, {values}, {decided})"
        items, var = f"_l{next(self._n)}", f"_x{next(self._n)}"
        self.code.line(f"{items} = {self.val(d.source, {})} or ()")
        value = self._rounded(self.src(d.expr, {d.var: var}), d)
        key, name = self.cc.const(item_key), self.cc.const(_item_label)
        return (f"(tuple((_i, {key}({var}), {name}({var}), {value}) for _i, {var} in enumerate({items})), "
                f"{values}, {decided})")

    def _rounded(self, code, d):
        if d.rounding is None:
            return code
        return f"_rt.quantize({code}, {self.cc.const(d.rounding.unit.amount)}, {d.rounding.mode!r})"

    # --- criteria ------------------------------------------------------------------------------------
    def criterion(self, c, points: str) -> str:
        """Code of criterion ``c``'s fact when it scored ``points`` (a local or expression)."""
        pts = f"_p{next(self._n)}"
        self.code.line(f"{pts} = {points}")
        exprs = []
        if c.subs is not None:
            body = "(" + "".join(f"{self.criterion(s, self.sub_points(s))}, " for s in c.subs) + ")"
        elif c.tiers is not None:
            exprs = [x for tier in c.tiers for x in (tier.cond, tier.points)]
            body = self.tiers(c.tiers)
        else:
            exprs = [c.formula]
            body = f"({self.val(c.formula, {})}, {self.aggregates(c.formula)})"
        return f"({pts}, {body}, {self.values(exprs)})"

    def sub_points(self, c) -> str:
        """A local holding a part's points (missing counts 0, kept in 0..max)."""
        local = f"_sp{next(self._n)}"
        if c.subs is not None:
            total = " + ".join(self.sub_points(s) for s in c.subs)
            self.code.line(f"{local} = min({total}, {self.cc.const(c.max)})")
            return local
        if c.formula is not None:
            raw = self.val(c.formula, {})
        else:
            i, miss = self.band(c.tiers)
            raw = f"_r{next(self._n)}"
            chain = "0"
            for j in reversed(range(len(c.tiers))):
                chain = f"({self.src(c.tiers[j].points, {})} if {i} == {j} else {chain})"
            self.code.line(f"{raw} = None if {miss} else {chain}")
        self.code.line(f"{local} = 0 if {raw} is None else max(min({raw}, {self.cc.const(c.max)}), 0)")
        return local

    def tiers(self, tiers) -> str:
        i, miss = self.band(tiers)
        subject = tier_subject(tiers)
        if subject is not None:
            sv = self.val(subject, {})
            conds = "()"
            bounds = []
            for tier in tiers:
                rights = _x.band_bounds(tier.cond, subject)
                if all(_x.is_const(r) for r in rights):
                    rights = ()  # the renderer writes a constant bound once, not per application
                bounds.append("(" + "".join(f"{self.val(r, {})}, " for r in rights) + "), ")
            bounds = "(" + "".join(bounds) + ")"
        else:
            sv, bounds = "None", "()"
            conds = "(" + "".join(f"{self.why(tier.cond, {})}, " for tier in tiers if tier.cond is not None) + ")"
        aggs = self.aggregates(tiers[0].cond) if tiers[0].cond is not None else "()"
        return f"({i}, {miss}, {sv}, {conds}, {bounds}, {aggs})"

    def band(self, tiers) -> tuple[str, str]:
        """Locals holding which band of ``tiers`` applies (its index, or None) and whether a test was missing."""
        key = ("band", id(tiers))
        found = self.memo.get(key)
        if found is not None:
            return found
        subject = tier_subject(tiers)
        marked = (getattr(self.cc, "band_marks", None) or {}).get(id(tiers)) if self.fused else None
        if marked is not None:  # the decision kept the band and the subject's value: reuse them
            i, miss, local = marked
            self.memo[(id(subject), ())] = local
        else:
            i, miss = f"_i{next(self._n)}", f"_m{next(self._n)}"
            if subject is not None and all(_x.is_const(r) for tier in tiers if tier.cond is not None
                                           for r in band_rights(tier.cond)):
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
            self.src(tier.cond, {})
            self.code.line(f"elif {self.cc.band_test(tier.cond, sv, False)}: {i} = {j}")
        else:
            self.code.line(f"else: {i} = None")

    def band_search(self, tiers, i, miss):
        """The band that applies: the first whose test holds; a missing test stops the search."""
        self.code.line(f"{miss} = False")
        self.code.line("while True:")
        self.code.indent()
        for j, tier in enumerate(tiers):
            if tier.cond is None:
                self.code.line(f"{i} = {j}; break")
                break
            self.code.line(f"_c = {self.src(tier.cond, {})}")
            self.code.line(f"if _c is None: {i} = {j}; {miss} = True; break")
            self.code.line(f"if _c: {i} = {j}; break")
        else:
            self.code.line(f"{i} = None; break")
        self.code.outdent()


def _or_none(code):
    return "None" if code is None else code


def build(policy):
    """The explaining fast path of ``policy`` (``fn(data) -> (decide tuple, facts…)``), or None."""
    gen = TraceGen(policy, fused=True)
    fn = policy.compiler.build_explain(gen)
    return fn


class TypedTracer:
    """The facts of every rule from the typed application (``Policy.env``), one generated function per rule."""

    def __init__(self, policy):
        gen = TraceGen(policy, fused=False)
        cp = policy.checked
        self.policy = policy
        self.gates = tuple(gen.typed_function(lambda: gen.gate(g)) for g in cp.gates)
        self.criteria = tuple(gen.typed_function(lambda: gen.criterion(c, "_pts"), ("_pts",)) for c in cp.scored)
        plan = _x.grant_plan(policy)
        self.grant = gen.typed_function(lambda: gen.grant(plan)) if plan is not None else None
        # the named outputs: computed for every valid application, after the decision they may read
        self.outputs = tuple(gen.typed_function(lambda: gen.output(d), ("_r",)) for d in cp.outputs.values())

    def trace(self, env, decision) -> Trace:
        points = decision.points
        return Trace(tuple(g(env) for g in self.gates),
                     tuple(c(env, p) for c, p in zip(self.criteria, points)) if points is not None else None,
                     self.grant(env) if self.grant is not None and not decision.failed else None,
                     *self.output_facts(env, decision))

    def output_facts(self, env, decided) -> tuple:
        """``(facts of every named output, the values kept to compute them again)``, (None, None) when
        the call declares none; ``decided`` is the decision whose grant, score… they read."""
        if not self.outputs:
            return None, None
        from engine.evaluate.named_outputs import Decided, env_for
        view = Decided.of(decided)
        return tuple(o(env, view) for o in self.outputs), env_for(self.policy, env)

    def complete(self, env, decision, gates, criteria, grant) -> Trace:
        """The fused form's facts with the rules it left (None) recorded here."""
        points = decision.points
        gates = tuple(self.gates[i](env) if f is None else f for i, f in enumerate(gates))
        if criteria is not None:
            criteria = tuple(self.criteria[i](env, points[i]) if f is None else f for i, f in enumerate(criteria))
        if grant is None and self.grant is not None and not decision.failed:
            grant = self.grant(env)
        return Trace(gates, criteria, grant, *self.output_facts(env, decision))


def typed_tracer(policy) -> TypedTracer:
    """The policy's :class:`TypedTracer` (built once, on first use)."""
    found = policy.__dict__.get("_typed_tracer")
    if found is None:
        with policy.build_lock:
            found = policy.__dict__.get("_typed_tracer")
            if found is None:
                found = policy.__dict__["_typed_tracer"] = TypedTracer(policy)
    return found


class _Env(dict):
    """The lets the fast path computed; any other input or let comes from the fully converted application."""

    def __init__(self, lets, policy, app):
        super().__init__(lets)
        self._policy = policy
        self._app = app
        self._full = None

    def __missing__(self, key):
        if self._full is None:
            value, errors = self._policy.validator.validate_full(self._app)
            if errors:  # pragma: no cover - the fast path accepted the data
                raise Bail
            self._full = self._policy.env(value)
        return self._full[key]


def full_env(policy, app, lets) -> _Env:
    """What the typed tracer reads for the rules the fused form leaves to it."""
    return _Env(lets or {}, policy, app)
