"""Checked policy -> Python source -> Python functions, once per policy.

Like Jinja's ``CodeGenerator``, the compiler writes Python source from the AST
and ``compile()``s it, so evaluating an application is one plain function call
with local variables, not a tree walk. The checker's types decide what code is
written: where no value can be missing, expressions become bare Python
operators on ``Decimal``/``int``; where one can, the code goes through
:mod:`engine.runtime` helpers that propagate ``None`` (missing).

The generated source is registered in :mod:`linecache` (the attrs trick), so a
traceback inside a compiled policy shows the generated line, and every
generated function carries the policy line it came from in a comment.

Generated functions:

``decide(app)``
    the rules on a typed value: gate outcomes, criterion points, grant; no
    explanation.
``fast(data)`` (:meth:`Compiler.build_fast`)
    the same rules fused with validation, on the raw application: one loop
    per list of records, inline type tests; what it does not accept outright
    goes to the validator and ``decide``. :class:`~engine.validate.Validator`
    calls it first.
``env(app)``
    every input and ``let`` by name, for explanations.
``compile_expr(node, bound)``
    a function ``(env, *bound_values)`` for any sub-expression, compiled on
    demand; explanations use it to show the values a rule used.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import linecache
import operator
import threading
import weakref
from decimal import Decimal

from dsl import ast
from dsl.checker import CheckedPolicy, _all_criteria

from . import runtime
from .validate import (Bail, Prevalidated, Validator, call_zone, const_eval, datetime_reader, fast_branches,
                       key_literal, to_key)

_counter = itertools.count()

_CMP = {">=": "ge", "<=": "le", ">": "gt", "<": "lt", "==": "eq", "!=": "ne"}
_ARITH = {"+": "add", "-": "sub", "*": "mul"}


class _Code:
    """A growing block of Python source with indentation."""

    def __init__(self):
        self.lines: list[str] = []
        self.level = 0

    def line(self, text: str, node=None):
        span = getattr(node, "span", None)
        suffix = f"  # policy line {span.line}" if span is not None else ""
        self.lines.append("    " * self.level + text + suffix)

    def indent(self):
        self.level += 1

    def outdent(self):
        self.level -= 1

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


class Compiler:
    def __init__(self, cp: CheckedPolicy):
        self.cp = cp
        self.namespace: dict = {"_rt": runtime, "_op": operator, "Decimal": Decimal, "_dt": _dt,
                                "_Pre": Prevalidated, "_Bail": Bail, "_D": Decimal, "_date": _dt.date,
                                "_fromiso": datetime_reader(call_zone(cp)), "_to_key": to_key}
        self._consts: dict = {}
        self._tmp = itertools.count()
        self._lock = threading.Lock()
        self._expr_cache: dict = {}
        self.funcs_defined: set[str] = set()
        self.filename = f"<bando {cp.source.name} #{next(_counter)}>"
        self._validator = None  # built with the fast path (build_decide)
        self.source_lines: list[str] = []
        self.band_marks: dict | None = None  # the explaining form records band tables here (tiers)

    # --- constants and names -------------------------------------------------------------
    def const(self, value) -> str:
        key = (type(value), value if not isinstance(value, (list, dict)) else repr(value))
        name = self._consts.get(key)
        if name is None:
            name = f"K{len(self._consts)}"
            self._consts[key] = name
            self.namespace[name] = value
        return name

    def number(self, value: Decimal) -> str:
        if value == value.to_integral_value() and abs(value) < 10 ** 15:
            return repr(int(value))
        return self.const(value)

    def opt(self, e) -> bool:
        return self.cp.type_of(e).optional

    # --- dependencies -----------------------------------------------------------------------
    def refs(self, e, seen_funcs=None):
        """(lets, inputs) referenced by ``e``, through user functions too."""
        lets, inputs = set(), set()
        seen_funcs = seen_funcs if seen_funcs is not None else set()
        for n in ast.walk(e):
            if isinstance(n, ast.Name):
                kind = self.cp.ref_of(n)[0]
                if kind == "let":
                    lets.add(n.id)
                elif kind == "input":
                    inputs.add(n.id)
            elif isinstance(n, ast.Call) and n.func in self.cp.funcs and n.func not in seen_funcs:
                seen_funcs.add(n.func)
                fl, fi = self.refs(self.cp.funcs[n.func].expr, seen_funcs)
                lets |= fl
                inputs |= fi
        return lets, inputs

    def closure(self, exprs, let_names=()):
        """Lets needed (transitively) by ``exprs`` (and ``let_names``), in evaluation order, and the inputs."""
        order: list[str] = []
        inputs: set[str] = set()
        state: dict[str, int] = {}

        def visit(name):
            if state.get(name) == 2:
                return
            if state.get(name) == 1:  # a cycle: the checker has reported it
                return
            state[name] = 1
            lets, ins = self.refs(self.cp.lets[name].expr)
            inputs.update(ins)
            for dep in sorted(lets):
                visit(dep)
            state[name] = 2
            order.append(name)

        for e in exprs:
            if e is None:
                continue
            lets, ins = self.refs(e)
            inputs.update(ins)
            for name in sorted(lets):
                visit(name)
        for name in let_names:
            visit(name)
        return order, inputs

    def prologue(self, code: _Code, exprs, app="app"):
        lets, inputs = self.closure(exprs)
        for name in sorted(inputs):
            code.line(f"i_{name} = {app}[{name!r}]")
        for name in lets:
            let = self.cp.lets[name]
            self.define_funcs(let.expr)
            code.line(f"l_{name} = {self.expr(let.expr, {})}", let)
        return lets, inputs

    def define_funcs(self, e):
        for n in ast.walk(e):
            if isinstance(n, ast.Call) and n.func in self.cp.funcs and n.func not in self.funcs_defined:
                fn = self.cp.funcs[n.func]
                self.funcs_defined.add(n.func)
                self.define_funcs(fn.expr)
                scope = {p.name: f"p_{p.name}" for p in fn.params}
                code = _Code()
                code.line(f"def f_{fn.name}({', '.join(scope.values())}):", fn)
                code.indent()
                code.line(f"return {self.expr(fn.expr, scope)}", fn.expr)
                self.exec(code.text())

    # --- expressions ----------------------------------------------------------------------------
    def expr(self, e, scope: dict) -> str:
        m = getattr(self, "x_" + type(e).__name__)
        return m(e, scope)

    def x_Number(self, e, scope):
        return self.number(e.value)

    def x_Percent(self, e, scope):
        return self.const(e.value)

    def x_Money(self, e, scope):
        return self.const(e.amount)

    def x_Duration(self, e, scope):
        return repr((e.amount, e.unit))

    def x_String(self, e, scope):
        return repr(e.value)

    def x_DateLit(self, e, scope):
        return self.const(e.value)

    x_DateTimeLit = x_DateLit

    def x_Bool(self, e, scope):
        return "True" if e.value else "False"

    def x_ScoreRef(self, e, scope):
        return "_r.score"

    def x_Name(self, e, scope):
        kind, name = self.cp.ref_of(e)
        if kind in ("var", "param"):
            return scope[name]
        if kind == "let":
            return f"l_{name}"
        if kind == "input":
            return f"i_{name}"
        if kind == "result":
            return f"_r.{name}"
        raise NotImplementedError(f"name {e.id!r} ({kind})")

    def x_Attr(self, e, scope):
        if isinstance(e.obj, ast.Name) and self.cp.ref_of(e.obj)[0] == "call":
            value = self.cp.header.get(e.name)
            return self.const(value)
        obj = self.expr(e.obj, scope)
        if self.opt(e.obj):
            return f"_rt.opt(_op.itemgetter({e.name!r}), {obj})"
        return f"{obj}[{e.name!r}]"

    def x_SetLit(self, e, scope):
        if all(isinstance(i, (ast.String, ast.Number, ast.Bool)) for i in e.items):
            values = frozenset(Decimal(i.value) if isinstance(i, ast.Number) else i.value for i in e.items)
            return self.const(values)
        return "{" + ", ".join(self.expr(i, scope) for i in e.items) + "}"

    def x_If(self, e, scope):
        c, t, f = self.expr(e.cond, scope), self.expr(e.then, scope), self.expr(e.else_, scope)
        if self.opt(e.cond):
            v = f"_t{next(self._tmp)}"
            return f"({t} if ({v} := {c}) else (None if {v} is None else {f}))"
        return f"({t} if {c} else {f})"

    def x_Unary(self, e, scope):
        a = self.expr(e.operand, scope)
        if e.op == "not":
            return f"_rt.not3({a})" if self.opt(e.operand) else f"(not {a})"
        return f"_rt.opt(_op.neg, {a})" if self.opt(e.operand) else f"(-{a})"

    def x_Binary(self, e, scope):
        op = e.op
        if op == "or":
            merged = self._merged_prefix_test(e, scope)
            if merged is not None:
                return merged
        a, b = self.expr(e.left, scope), self.expr(e.right, scope)
        optional = self.opt(e.left) or self.opt(e.right)
        lt, rt = self.cp.type_of(e.left), self.cp.type_of(e.right)
        if op in ("and", "or"):
            if optional:
                return f"_rt.{op}3({a}, {b})"
            return f"({a} {op} {b})"
        if op in _CMP:
            if optional:
                return f"_rt.opt(_op.{_CMP[op]}, {a}, {b})"
            return f"({a} {op} {b})"
        if op in ("in", "not in"):
            test = f"({a} {op} {b})"
            return f"(None if {a} is None else {test})" if self.opt(e.left) else test
        if op == "of":
            return f"_rt.opt(_op.mul, {a}, {b})" if optional else f"({a} * {b})"
        if op == "/":
            return f"_rt.div({a}, {b})"
        if lt.kind in ("date", "datetime") and rt.kind == "duration":
            sign = "" if op == "+" else "-"
            if isinstance(e.right, ast.Duration):
                return f"_rt.shift({a}, {sign}{e.right.amount}, {e.right.unit!r})"
            return f"_rt.shift({a}, {sign}{b}[0], {b}[1])"
        if lt.kind == "date" and rt.kind == "date" and op == "-":
            return f"_rt.days_between({b}, {a})"
        if lt.kind == "datetime" and rt.kind == "datetime" and op == "-":
            return f"_rt.datetime_diff_days({a}, {b})"
        if optional:
            return f"_rt.opt(_op.{_ARITH[op]}, {a}, {b})"
        return f"({a} {op} {b})"

    def _merged_prefix_test(self, e, scope):
        """``starts_with(x, "A") or starts_with(x, "K")`` as one ``x.startswith(("A", "K"))`` call."""
        parts, stack = [], [e]
        while stack:
            x = stack.pop()
            if isinstance(x, ast.Binary) and x.op == "or":
                stack += [x.right, x.left]
            else:
                parts.append(x)
        first = parts[0]
        if not (isinstance(first, ast.Call) and first.func in ("starts_with", "ends_with") and len(first.args) == 2):
            return None
        subject = first.args[0]
        for p in parts:
            if not (isinstance(p, ast.Call) and p.func == first.func and len(p.args) == 2 and p.args[0] == subject
                    and isinstance(p.args[1], ast.String) and not self.opt(p.args[0])):
                return None
        method = "startswith" if first.func == "starts_with" else "endswith"
        return f"{self.expr(subject, scope)}.{method}({tuple(p.args[1].value for p in parts)!r})"

    def x_Between(self, e, scope):
        v, lo, hi = (self.expr(x, scope) for x in (e.value, e.low, e.high))
        if any(self.opt(x) for x in (e.value, e.low, e.high)):
            return f"_rt.opt(lambda _v, _l, _h: _l <= _v <= _h, {v}, {lo}, {hi})"
        return f"({lo} <= {v} <= {hi})"

    def x_IsMissing(self, e, scope):
        a = self.expr(e.operand, scope)
        return f"({a} is not None)" if e.negate else f"({a} is None)"

    def _loop(self, e, scope):
        """(item variable, inner scope, source code, filter code) of an aggregate/quantifier."""
        var = f"v{next(self._tmp)}_{e.var}" if e.var else None
        inner = dict(scope, **{e.var: var}) if e.var else scope
        src = self.expr(e.source, scope)
        if self.opt(e.source):
            src = f"({src} or ())"
        return var, inner, src

    def _cond(self, e, scope):
        c = self.expr(e, scope)
        return f"({c}) is True" if self.opt(e) else c

    def x_Quantified(self, e, scope):
        var, inner, src = self._loop(e, scope)
        cond = self._cond(e.cond, inner)
        if e.kind == "all":
            return f"all({cond} for {var} in {src})"
        if e.kind == "any":
            return f"any({cond} for {var} in {src})"
        return f"(not any({cond} for {var} in {src}))"

    def x_Aggregate(self, e, scope):
        var, inner, src = self._loop(e, scope)
        if var is None:
            var = f"v{next(self._tmp)}"
        where = f" if {self._cond(e.where, inner)}" if e.where is not None else ""
        f = e.func
        if f == "count":
            return f"len({src})" if not where else f"sum(1 for {var} in {src}{where})"
        if f == "share":
            return f"_rt.share(sum(1 for {var} in {src}{where}), len({src}))"
        value = self.expr(e.value, inner) if e.value is not None else var
        gen = f"({value} for {var} in {src}{where})"
        value_opt = self.opt(e.value) if e.value is not None else self.cp.type_of(e.source).item.optional \
            if self.cp.type_of(e.source).item is not None else False
        if f == "sum":
            return f"_rt.vsum{gen}" if value_opt else f"sum{gen}"
        helper = {"average": "mean", "mean": "mean", "median": "median", "spread": "spread",
                  "lowest": "lowest", "highest": "highest"}[f]
        return f"_rt.{helper}{gen}"

    def x_Call(self, e, scope):
        f = e.func
        if f == "points":  # its argument is a criterion id, not a value
            return f"_r.points[{e.args[0].id!r}]"
        args = [self.expr(a, scope) for a in e.args]
        optional = any(self.opt(a) for a in e.args)
        if f in self.cp.funcs:
            self.define_funcs(e)
            if optional:  # a missing argument makes the call missing; the body never sees None
                return f"_rt.opt(f_{f}, {', '.join(args)})"
            return f"f_{f}({', '.join(args)})"
        if f in ("min", "max"):
            return f"_rt.v{f}({', '.join(args)})" if optional else f"{f}({', '.join(args)})"
        if f == "round":
            return f"_rt.round_({', '.join(args)})"
        if f in ("floor", "ceil", "days_between", "months_between", "years_between"):
            return f"_rt.{f}({', '.join(args)})"
        simple = {"abs": "abs({0})", "year": "{0}.year", "date_of": "_rt._as_date({0})",
                  "starts_with": "{0}.startswith({1})", "ends_with": "{0}.endswith({1})",
                  "contains": "({1} in {0})", "length": "len({0})", "lower": "{0}.lower()",
                  "upper": "{0}.upper()"}[f]
        code = simple.format(*args)
        if optional:
            params = [f"_a{i}" for i in range(len(args))]
            return f"_rt.opt(lambda {', '.join(params)}: {simple.format(*params)}, {', '.join(args)})"
        return code

    # --- building functions ------------------------------------------------------------------------
    def exec(self, source: str):
        with self._lock:
            lines = self.source_lines
            if not lines:
                # tracebacks show the generated lines while the policy lives; then they go with it
                linecache.cache[self.filename] = (0, None, lines, self.filename)
                weakref.finalize(self, linecache.cache.pop, self.filename, None)
            else:
                lines.append("\n")  # a blank line between two generated pieces
            offset = len(lines)
            lines.extend(source.splitlines(True))  # the cache entry holds this same list
            code = compile("\n" * offset + source, self.filename, "exec")
            exec(code, self.namespace)

    @property
    def source(self) -> str:
        """Everything generated for this policy so far, as registered for tracebacks."""
        return "".join(self.source_lines)

    def _decide_exprs(self):
        cp = self.cp
        exprs = [g.cond for g in cp.gates]
        for c in _all_criteria(cp.criteria):
            exprs.append(c.formula)
            for t in c.tiers or ():
                exprs += [t.cond, t.points]
        for d in cp.decls.values():
            exprs.append(d.expr)
        return exprs

    def build_decide(self):
        """The compiled rules. Returns ``decide(value) -> (failed_gate_ids, points, grant, requested, applicant,
        submitted)`` on a typed value (or a :class:`Prevalidated` one, already decided).

        Also builds the fused fast path (:meth:`build_fast`) and registers it for the policy's validator.
        """
        exprs = self._decide_exprs()
        for n in exprs:
            if n is not None:
                self.define_funcs(n)
        code = _Code()
        code.line("def decide(app):")
        code.indent()
        code.line("if app.__class__ is _Pre: return app.decided")
        self.prologue(code, exprs)
        self._decide_rest(code)
        self.exec(code.text())
        decide = self.namespace["decide"]
        fast = self.build_fast()
        if self._validator is None:
            self._validator = Validator(self.cp, const_eval)
        self._validator._fast = fast
        runtime.register_validator(self.cp, self._validator)
        return decide

    def _decide_rest(self, code: _Code, into: str | None = None):
        """Gates, criteria and the decide tuple (after the inputs and lets are bound).

        The tuple is returned, or with ``into`` assigned to that local (the
        explaining form of the fast path goes on after deciding).
        """
        cp = self.cp
        crits = cp.criteria
        decls = cp.decls

        def give(value, node=None):
            code.line(f"return {value}" if into is None else f"{into} = {value}", node)

        code.line("failed = []")
        for g in cp.gates:
            cond = self.expr(g.cond, {})
            test = f"({cond}) is not True" if self.opt(g.cond) else f"not {cond}"
            code.line(f"if {test}: failed.append({g.id!r})", g)
        nested = 0
        if cp.score is not None:
            if not cp.score.including_ineligible:
                code.line("if failed:")
                code.indent()
                give("failed, None, None, " + self._decls_tuple())
                code.outdent()
                if into is not None:
                    code.line("else:")
                    code.indent()
                    nested = 1
            names = []
            for c in crits:
                names.append(self._criterion(code, c))
            code.line(f"points = ({', '.join(names)}{',' if len(names) == 1 else ''})")
        else:
            code.line("points = ()")
        code.line("if failed:")
        code.indent()
        give("failed, points, None, " + self._decls_tuple())
        code.outdent()
        if into is not None:
            code.line("else:")
            code.indent()
        grant = decls.get("grant")
        if grant is not None:
            g = self.expr(grant.expr, {})
            if grant.rounding is not None:
                unit = grant.rounding.unit.amount
                g = f"_rt.quantize({g}, {self.const(unit)}, {grant.rounding.mode!r})"
            give(f"failed, points, {g}, {self._decls_tuple()}", grant)
        else:
            give(f"failed, points, None, {self._decls_tuple()}")
        if into is not None:
            code.outdent()
        for _ in range(nested):
            code.outdent()

    def build_fast(self):
        """The fused fast path ``fast(data) -> decide tuple`` on *raw* application data, or None.

        One generated function checks every field of the application (the
        checks and conversions of :mod:`engine.validate`, inlined for the common
        JSON types) and computes the rules in the same pass: every aggregate and
        quantifier over the same list of records becomes one accumulator of one
        loop over that list, whose items are validated field by field in that
        loop; numbers only compared with constants are not turned into Decimals
        (see :func:`engine.validate.key_literal`). Anything it does not accept
        outright raises (:class:`~engine.validate.Bail`), and the caller then
        runs the full validator and the typed ``decide``, which decide every
        case; so the fast path only has to be exact on what it accepts.

        Code generation is optimistic: a construct the fused form cannot serve
        (a list used other than as the source of aggregates, a number used in
        arithmetic...) makes that input take the typed form, and the function
        is generated again.
        """
        fn, self.fast_source = self._fused()
        return fn

    def build_explain(self, explainer):
        """The explaining form of the fast path: ``fn(data) -> (decide tuple, *explanations)``, or None.

        The same fused function as :meth:`build_fast` (generated under its own
        plan), which after deciding runs the code ``explainer.emit(compiler,
        code)`` writes: the sentences, built from the locals the decision used.
        """
        return self._fused(explainer)[0]

    def _fused(self, explainer=None):
        """(function, source) of a fused form, generated again under a more conservative plan until it works."""
        plan = _Plan()
        for _ in range(256):
            fc = _FastCompiler(self, plan)
            if explainer is not None:
                fc.explainer = explainer
                fc.band_marks = {}
            try:
                source = fc.generate()
            except _Retry as r:
                if not plan.apply(r):
                    return None, None
                continue
            except _Unsupported:
                return None, None
            self.exec(source)
            return self.namespace[fc.fname], source
        return None, None  # pragma: no cover - every retry makes the plan strictly more conservative

    def _decls_tuple(self):
        parts = []
        for name in ("requested", "applicant", "submitted"):
            d = self.cp.decls.get(name)
            if d is None:
                parts.append("None")
                continue
            v = self.expr(d.expr, {})
            if d.rounding is not None:
                v = f"_rt.quantize({v}, {self.const(d.rounding.unit.amount)}, {d.rounding.mode!r})"
            parts.append(v)
        return ", ".join(parts)

    def _criterion(self, code: _Code, c) -> str:
        """Emit the lines computing criterion ``c``'s points (clamped to 0..max); return the local name."""
        name = f"c_{c.id}"
        mx = self.number(c.max)
        if c.subs is not None:
            parts = [self._criterion(code, s) for s in c.subs]
            code.line(f"{name} = min({' + '.join(parts)}, {mx})", c)
            return name
        if c.formula is not None:
            code.line(f"{name} = {self.expr(c.formula, {})}", c)
            if self.opt(c.formula):
                code.line(f"if {name} is None: {name} = 0")
            in_range = False
        else:
            self.tiers(code, name, c.tiers)
            # bands that all give literal points within 0..max need no clamping
            in_range = all(isinstance(t.points, ast.Number) and 0 <= t.points.value <= c.max for t in c.tiers)
        if not in_range:
            code.line(f"if {name} > {mx}: {name} = {mx}")
            code.line(f"elif {name} < 0: {name} = 0")
        return name

    def tiers(self, code: _Code, name: str, tiers):
        """Emit a band table: the first band whose condition holds gives the points.

        A band whose condition is missing (before any band matched) makes the
        points missing, which count as 0 points; so do missing points. When
        every band compares the same expression (``share(...) >= 0.6 -> 12``,
        ``... >= 0.4 -> 8``), it is computed once.
        """
        subject = _tier_subject(tiers)
        conds = [t for t in tiers if t.cond is not None]
        if subject is not None and len(conds) > 1 and not any(self.opt(r) for t in conds for r in _rights(t.cond)):
            tmp = f"_s{next(self._tmp)}"
            scode, key = self._subject(subject, [t.cond for t in conds])
            code.line(f"{tmp} = {scode}", tiers[0])
            # the explaining form also keeps which band applied (its index, or None) and whether the
            # subject was missing, for the sentence (see explain_compiler.why_tiers)
            band = missing = None
            if self.band_marks is not None and not key:  # (a comparison key is not the value to show)
                band, missing = f"_b{next(self._tmp)}", f"_bm{next(self._tmp)}"
                self.band_marks[id(tiers)] = (band, missing, tmp)
                code.line(f"{missing} = False")

            def mark(j):
                return "" if band is None else f"; {band} = {j}"

            first = True
            if self.opt(subject):  # every test is missing: the first one stops the search (as the explainer says)
                code.line(f"if {tmp} is None: {name} = 0" + (mark(tiers.index(conds[0])) + f"; {missing} = True"
                                                          if band is not None else ""))
                first = False
            for j, t in enumerate(tiers):
                points = self._points(t.points) + mark(j)
                if t.cond is None:
                    code.line(f"else: {name} = {points}" if not first else f"{name} = {points}", t)
                    break
                code.line(f"{'if' if first else 'elif'} {self._band_test(t.cond, tmp, key)}: {name} = {points}", t)
                first = False
            else:
                code.line(f"else: {name} = 0{mark(None)}")
            return
        optional = any(t.cond is not None and self.opt(t.cond) for t in tiers)
        has_otherwise = tiers[-1].cond is None
        if not optional:
            expr = self._points(tiers[-1].points) if has_otherwise else "0"
            for t in reversed(tiers[:-1] if has_otherwise else tiers):
                expr = f"({self._points(t.points)} if {self.expr(t.cond, {})} else {expr})"
            code.line(f"{name} = {expr}")
            return
        # flat `while True: ... break` instead of nested ifs, one test per band
        code.line("while True:")
        code.indent()
        for t in tiers:
            points = self._points(t.points)
            if t.cond is None:
                code.line(f"{name} = {points}; break", t)
                break
            cond = self.expr(t.cond, {})
            if self.opt(t.cond):
                code.line(f"_t = {cond}", t)
                code.line(f"if _t is None: {name} = 0; break")
                code.line(f"if _t: {name} = {points}; break")
            else:
                code.line(f"if {cond}: {name} = {points}; break", t)
        else:
            code.line(f"{name} = 0; break")
        code.outdent()

    def _points(self, e) -> str:
        """A band's points; missing points count as 0."""
        p = self.expr(e, {})
        if self.opt(e):
            v = f"_t{next(self._tmp)}"
            return f"(0 if ({v} := {p}) is None else {v})"
        return p

    def _subject(self, subject, conds):
        """(code, key?) of the expression every band compares."""
        return self.expr(subject, {}), False

    def _band_test(self, cond, tmp, key) -> str:
        if isinstance(key, tuple):  # ("share", n): tmp is the count k of a share k/n, compared exactly
            n = key[1]
            if isinstance(cond, ast.Between):
                (lp, lq), (hp, hq) = (_literal_value(x).as_integer_ratio() for x in (cond.low, cond.high))
                return f"{lp} * {n} <= {tmp} * {lq} and {tmp} * {hq} <= {hp} * {n}"
            p, q = _literal_value(cond.right).as_integer_ratio()
            return f"{tmp} * {q} {cond.op} {p} * {n}"
        if isinstance(cond, ast.Between):
            lo, hi = (key_literal(_literal_value(x)) if key else self.expr(x, {}) for x in (cond.low, cond.high))
            return f"{lo} <= {tmp} <= {hi}"
        right = key_literal(_literal_value(cond.right)) if key else self.expr(cond.right, {})
        return f"{tmp} {cond.op} {right}"

    def build_env(self):
        """``env(app)``: every input and ``let`` by name (for explanations)."""
        cp = self.cp
        code = _Code()
        code.line("def env(app):")
        code.indent()
        code.line("if app.__class__ is _Pre: app = app.typed()")
        lets = [cp.lets[n].expr for n in cp.lets]
        for e in lets:
            self.define_funcs(e)
        for name in sorted(cp.input.fields if cp.input else ()):
            code.line(f"i_{name} = app[{name!r}]")
        order, _ = self.closure((), list(cp.lets))
        for name in order:
            code.line(f"l_{name} = {self.expr(cp.lets[name].expr, {})}", cp.lets[name])
        items = [f"{n!r}: i_{n}" for n in sorted(cp.input.fields if cp.input else ())]
        items += [f"{n!r}: l_{n}" for n in order]
        code.line("return {" + ", ".join(items) + "}")
        self.exec(code.text())
        return self.namespace["env"]

    def compile_expr(self, e, bound=(), result=False):
        """A function ``(env, *bound_values)`` computing ``e`` (cached per node)."""
        scope = {b: f"b_{b}" for b in bound}
        params = list(scope.values()) + (["_r"] if result else [])
        return self._compile_env_fn((id(e), tuple(bound), result), e, params, scope, "{}")

    def compile_each(self, e, var, bound=()):
        """A function ``(env, items, *bound_values)`` giving ``e`` for every item (bound to ``var``).

        Explanations use it to test a condition on all the firms of a network in
        one call instead of one call per firm.
        """
        scope = {b: f"b_{b}" for b in bound}
        params = ["_items"] + list(scope.values())
        scope[var] = f"b_{var}"
        return self._compile_env_fn(("each", id(e), var, tuple(bound)), e, params, scope,
                                    f"[{{}} for b_{var} in _items]")

    def _compile_env_fn(self, key, e, params, scope, template):
        """Compile ``def x(env, *params): return template.format(<code of e>)``, reading
        the inputs and lets ``e`` uses from ``env``; cached under ``key``."""
        fn = self._expr_cache.get(key)
        if fn is not None:
            return fn
        self.define_funcs(e)
        lets, inputs = self.refs(e)
        name = f"x{next(self._tmp)}"
        code = _Code()
        code.line(f"def {name}({', '.join(['env'] + params)}):")
        code.indent()
        for n in sorted(inputs):
            code.line(f"i_{n} = env[{n!r}]")
        for n in sorted(lets):
            code.line(f"l_{n} = env[{n!r}]")
        code.line(f"return {template.format(self.expr(e, scope))}", e)
        self.exec(code.text())
        fn = self.namespace[name]
        self._expr_cache[key] = fn
        return fn

def _tier_subject(tiers):
    """The expression every band compares (``project.innovation >= …``), if there is one."""
    subject = None
    for tier in tiers:
        c = tier.cond
        if c is None:
            continue
        if isinstance(c, ast.Binary) and c.op in _CMP:
            left = c.left
        elif isinstance(c, ast.Between):
            left = c.value
        else:
            return None
        if subject is None:
            subject = left
        elif subject != left:
            return None
    return subject


def _rights(cond):
    return (cond.low, cond.high) if isinstance(cond, ast.Between) else (cond.right,)


def _literal_value(e):
    """The number a literal stands for (Number, Money, Percent, negated), else None."""
    if isinstance(e, ast.Number):
        return e.value
    if isinstance(e, ast.Money):
        return e.amount
    if isinstance(e, ast.Percent):
        return e.value
    if isinstance(e, ast.Unary) and e.op == "-":
        v = _literal_value(e.operand)
        return -v if v is not None else None
    return None


def _key_of_literal(e):
    v = _literal_value(e)
    return key_literal(v) if v is not None else None


# --- the fused fast path ------------------------------------------------------------------------

_SCALARS = ("text", "int", "decimal", "percent", "money", "bool", "date", "datetime", "enum")
_NUMBERS = ("decimal", "percent", "money")
_MIRROR = {">=": "<=", "<=": ">=", ">": "<", "<": ">", "==": "==", "!=": "!="}
_ACC = "\0ACC\0"


class _Retry(Exception):
    """Generation met a construct the current plan cannot serve; ``kind`` says how to change it."""

    def __init__(self, kind, key):
        super().__init__(kind, key)
        self.kind = kind  # "typed": input path to convert with the full validator; "decimal": no float key
        self.key = key


class _Unsupported(Exception):
    """No fast path for this policy (the typed ``decide`` serves it)."""


class _Plan:
    def __init__(self):
        self.typed: set = set()
        self.decimal: set = set()

    def apply(self, r: _Retry) -> bool:
        target = self.typed if r.kind == "typed" else self.decimal
        if r.key in target:
            return False  # no progress: give up on the fast path
        target.add(r.key)
        return True


class _ItemRef:
    """A fused loop's item variable: its fields are locals of the loop body."""

    def __init__(self, loop):
        self.loop = loop


class _Loop:
    """One ``for`` over a list of records: item checks, then the accumulators of every fused aggregate."""

    def __init__(self, index, path, rec, local):
        self.index = index
        self.path = path
        self.rec = rec
        self.local = local
        self.item = f"it{index}"
        self.index_var = f"ix{index}"
        self.fields: dict = {}  # name -> (local, mode): mode "value", "key" or "typed"
        self.reads: list[str] = []
        self.accs: dict = {}
        self.inits: list[str] = []
        self.body: list[str] = []

    def accumulator(self, init, body) -> str:
        key = (init, tuple(body))
        name = self.accs.get(key)
        if name is None:
            name = self.accs[key] = f"a{self.index}_{len(self.accs)}"
            self.inits.append(init.replace(_ACC, name))
            self.body.extend(b.replace(_ACC, name) for b in body)
        return name


class _FastCompiler(Compiler):
    """Compiler in "raw input" mode: one attempt at generating the fused fast path under a plan."""

    def __init__(self, parent: Compiler, plan: _Plan):
        self.__dict__.update(parent.__dict__)  # same namespace, constants and counters as the parent
        self.parent = parent
        self.plan = plan
        self.fname = f"fast{next(self._tmp)}"
        if parent._validator is None:
            parent._validator = Validator(parent.cp, const_eval)
        self.validator = parent._validator
        self.scalars: dict = {}  # input path -> (local, key?)
        self.flat: set = set()  # input paths of records read field by field
        self.loops: dict = {}  # input path -> _Loop
        self.typed_locals: dict = {}  # input path -> local holding the typed value
        self.reads: list[str] = []
        self._n = itertools.count()
        self._depth = 0  # > 0 inside generators and inlined functions: no fused aggregates there
        self._loop_ctx = None
        self._inline = 0
        self.explainer = None  # with an explanation generator: the explaining form (build_explain)
        self.lets_computed: set = set()

    # --- reading the input ----------------------------------------------------------------------
    def generate(self) -> str:
        cp = self.cp
        if cp.input is None:
            raise _Unsupported("no input")
        self.reads += ["if app.__class__ is not dict: raise _Bail"]
        self._read_record(cp.input, (), "app", self.reads)
        body = _Code()
        body.level = 1
        exprs = self._decide_exprs()
        order, _ = self.closure(exprs)
        for name in order:
            let = cp.lets[name]
            body.line(f"l_{name} = {self.expr(let.expr, {})}", let)
        self.lets_computed = set(order)
        if self.explainer is None:
            self._decide_rest(body)
        else:
            self._decide_rest(body, into="_dec")
            self.explainer.emit(self, body)
        # builtins as default arguments: the per-item checks read them as locals
        lines = [f"def {self.fname}(app, type=type, len=len, enumerate=enumerate):"]
        lines += ["    " + ln for ln in self.reads]
        for loop in self.loops.values():
            lines += ["    " + ln for ln in loop.inits]
            if self.explainer is None:
                lines.append(f"    for {loop.item} in {loop.local}:")
            else:  # explanations name the items that fail a rule by their position
                lines.append(f"    for {loop.index_var}, {loop.item} in enumerate({loop.local}):")
            lines.append(f"        if {loop.item}.__class__ is not dict: raise _Bail")
            lines += ["        " + ln for ln in loop.reads]
            lines += ["        " + ln for ln in loop.body]
        return "\n".join(lines) + "\n" + body.text()

    def _read_record(self, rec, path, dvar, out, loop=None):
        for name, f in rec.fields.items():
            p = path + (name,)
            t = f.type.opt(False)
            required = not f.optional and f.default is None
            getter = f"{dvar}[{name!r}]" if required else f"{dvar}.get({name!r})"
            n = next(self._n)
            if loop is None and t.kind == "record" and required and p not in self.plan.typed:
                local = f"d{n}_{name}"
                out += [f"{local} = {getter}", f"if {local}.__class__ is not dict: raise _Bail"]
                self.flat.add(p)
                self._read_record(t.record, p, local, out)
            elif (loop is None and t.kind == "list" and t.item is not None and t.item.kind == "record"
                  and f.default is None and p not in self.plan.typed):
                local = f"L{n}_{name}"
                out.append(f"{local} = {getter}")
                if not required:
                    out.append(f"if {local} is None or {local} == '': {local} = ()")
                    out.append(f"elif {local}.__class__ is not list: raise _Bail")
                else:
                    out.append(f"if {local}.__class__ is not list: raise _Bail")
                lp = _Loop(len(self.loops), p, t.item.record, local)
                self.loops[p] = lp
                self._read_record(t.item.record, p, lp.item, lp.reads, loop=lp)
            elif t.kind in _SCALARS:
                local = f"s{n}_{name}" if loop is None else f"f{loop.index}_{name}"
                key = self._read_scalar(f, t, p, getter, local, out)
                if loop is None:
                    self.scalars[p] = (local, key)
                else:
                    loop.fields[name] = (local, "key" if key else "value")
            else:
                local = f"T{n}_{name}" if loop is None else f"f{loop.index}_{name}"
                conv = self.const(self.validator.converter(f))
                out.append(f"{local} = {conv}({dvar}.get({name!r}))")
                if loop is None:
                    self.typed_locals[p] = local
                else:
                    loop.fields[name] = (local, "typed")

    def _read_scalar(self, f, t, p, getter, local, out) -> bool:
        """Emit the read of one scalar field into ``local``; return whether it holds a comparison key."""
        key = t.kind in _NUMBERS and p not in self.plan.decimal
        if key and f.default is not None:
            try:
                to_key(const_eval(f.default))
            except Bail:  # a default no float stands for exactly (0.123456789012345678): read it as a Decimal
                key = False
        branches = fast_branches(t, "v", self.const, key=key) if key else None
        if branches is None:
            key = False
            branches = fast_branches(t, "v", self.const)
        if t.kind == "datetime":
            # what _datetime() does with a string without spaces around or inside (strip and the
            # " " -> "T" replacement change nothing then): _fromiso is the call's datetime_reader, which
            # turns an offset into the call's time zone; it raising is a bail-out
            branches = [("v.__class__ is str and len(v) >= 16 and ' ' not in v", "_fromiso(v)")]
        conv = self.const(self.validator.converter(f))
        if f.optional or f.default is not None:
            if f.default is not None:
                d = const_eval(f.default)
                missing = (key_literal(d) if key else None) or self.const(to_key(d) if key else d)
            else:
                missing = "None"
        else:
            missing = None
        direct = fast_branches(t, local, self.const, key=key) if t.kind != "datetime" else None
        if direct and all(value == local for _, value in direct):
            # the common JSON types are kept as they are: one test on the local itself
            cond = " or ".join(f"({c})" for c, _ in direct)
            fallback = f"_to_key({conv}({local}))" if key else f"{conv}({local})"
            if missing is not None:
                fallback = f"{missing} if {local} is None else {fallback}"
            out.append(f"{local} = {getter}")
            out.append(f"if not ({cond}): {local} = {fallback}")
            return key
        fallback = f"_to_key({conv}(v))" if key else f"{conv}(v)"
        out.append(f"v = {getter}")
        first = True
        for cond, value in branches:
            out.append(f"{'if' if first else 'elif'} {cond}: {local} = {value}")
            first = False
        if missing is not None:
            out.append(f"{'if' if first else 'elif'} v is None: {local} = {missing}")
            first = False
        out.append(f"else: {local} = {fallback}" if not first else f"{local} = {fallback}")
        return key

    # --- expressions ----------------------------------------------------------------------------------
    def _input_path(self, e):
        names = []
        while isinstance(e, ast.Attr):
            names.append(e.name)
            e = e.obj
        if isinstance(e, ast.Name):
            kind, name = self.cp.ref_of(e)
            if kind == "input":
                return (name,) + tuple(reversed(names))
        return None

    def _path_value(self, p):
        found = self.scalars.get(p)
        if found is not None:
            if found[1]:
                raise _Retry("decimal", p)
            return found[0]
        local = self.typed_locals.get(p)
        if local is not None:
            return local
        if p in self.flat or p in self.loops:
            raise _Retry("typed", p)
        return None

    def _item_field(self, e, scope):
        """(loop, field name) when ``e`` is ``x.field`` of a fused loop's item variable."""
        if isinstance(e, ast.Attr) and isinstance(e.obj, ast.Name):
            kind, name = self.cp.ref_of(e.obj)
            if kind in ("var", "param"):
                ref = scope.get(name)
                if isinstance(ref, _ItemRef):
                    return ref.loop, e.name
        return None

    def _key_of(self, e, scope):
        """The local holding ``e``'s comparison key, if ``e`` is an input number read as one."""
        item = self._item_field(e, scope)
        if item is not None:
            local, mode = item[0].fields[item[1]]
            return local if mode == "key" else None
        p = self._input_path(e)
        if p is not None:
            found = self.scalars.get(p)
            if found is not None and found[1]:
                return found[0]
        return None

    def x_Name(self, e, scope):
        kind, name = self.cp.ref_of(e)
        if kind == "input":
            v = self._path_value((name,))
            if v is None:  # pragma: no cover - every input field has a reading
                raise _Unsupported(f"input {name}")
            return v
        if kind == "let":
            if self._loop_ctx is not None:  # lets are computed after the loops
                raise _Retry("typed", self._loop_ctx.path)
            return f"l_{name}"
        if kind in ("var", "param"):
            v = scope[name]
            if isinstance(v, _ItemRef):  # the item itself as a value
                raise _Retry("typed", v.loop.path)
            return v
        raise _Unsupported(f"name {e.id!r} ({kind})")

    def x_ScoreRef(self, e, scope):
        raise _Unsupported("score")

    def x_Attr(self, e, scope):
        if isinstance(e.obj, ast.Name) and self.cp.ref_of(e.obj)[0] == "call":
            return super().x_Attr(e, scope)
        item = self._item_field(e, scope)
        if item is not None:
            loop, field = item
            local, mode = loop.fields[field]
            if mode == "key":
                raise _Retry("decimal", loop.path + (field,))
            return local
        p = self._input_path(e)
        if p is not None:
            v = self._path_value(p)
            if v is not None:
                return v
        return super().x_Attr(e, scope)

    def x_Binary(self, e, scope):
        if e.op in _CMP:
            for side, other, mirrored in ((e.left, e.right, False), (e.right, e.left, True)):
                k = self._key_of(side, scope)
                c = _key_of_literal(other) if k is not None else None
                if c is not None:
                    test = f"({c} {e.op} {k})" if mirrored else f"({k} {e.op} {c})"
                    return f"(None if {k} is None else {test})" if self.opt(side) else test
        return super().x_Binary(e, scope)

    def x_Between(self, e, scope):
        k = self._key_of(e.value, scope)
        if k is not None:
            lo, hi = _key_of_literal(e.low), _key_of_literal(e.high)
            if lo is not None and hi is not None:
                test = f"({lo} <= {k} <= {hi})"
                return f"(None if {k} is None else {test})" if self.opt(e.value) else test
        return super().x_Between(e, scope)

    def x_IsMissing(self, e, scope):
        k = self._key_of(e.operand, scope)
        if k is not None:
            return f"({k} is not None)" if e.negate else f"({k} is None)"
        return super().x_IsMissing(e, scope)

    def _subject(self, subject, conds):
        k = self._key_of(subject, {})
        if k is not None and all(_key_of_literal(r) is not None for c in conds for r in _rights(c)):
            return k, True
        share = self._share_count(subject, conds)
        if share is not None:
            return share
        return self.expr(subject, {}), False

    def _share_count(self, subject, conds):
        """Bands on ``share(x in list where ...)`` against constants, compared without dividing.

        ``k / n >= p / q`` is ``k * q >= p * n`` for n > 0, all integers. The
        typed rules divide with 28 significant digits; for a share (k <= n) and a
        constant whose fraction has q <= 10**12, two different fractions differ by
        at least 1 / (n q) > 10**-24, far more than that rounding, and equal ones
        divide exactly: both give the same answer.
        """
        if not (isinstance(subject, ast.Aggregate) and subject.func == "share" and subject.where is not None):
            return None
        for c in conds:
            for r in _rights(c):
                v = _literal_value(r)
                if v is None or not v.is_finite() or v.as_integer_ratio()[1] > 10 ** 12:
                    return None
        found = self.where_count(subject)
        if found is None:
            return None
        loop, count = found
        return f"({count} if {loop.local} else None)", ("share", f"len({loop.local})")

    def x_Call(self, e, scope):
        fn = self.cp.funcs.get(e.func)
        if fn is None:
            return super().x_Call(e, scope)
        if self._inline > 16:
            raise _Unsupported("functions nested too deeply")
        inner = {}
        missing = []  # like the typed form's _rt.opt(f_name, ...): a missing argument makes the call missing
        for p, a in zip(fn.params, e.args):
            ref = None
            if isinstance(a, ast.Name) and self.cp.ref_of(a)[0] in ("var", "param"):
                ref = scope.get(a.id)
            if isinstance(ref, _ItemRef):
                inner[p.name] = ref
            elif self.opt(a):
                tmp = f"_a{next(self._tmp)}"
                missing.append(f"(({tmp} := {self.expr(a, scope)}) is None)")
                inner[p.name] = tmp
            else:
                inner[p.name] = f"({self.expr(a, scope)})"
        self._inline += 1
        self._depth += 1
        try:
            body = f"({self.expr(fn.expr, inner)})"
        finally:
            self._inline -= 1
            self._depth -= 1
        if missing:  # every argument is computed (as the typed form does), then the test
            return f"(None if ({' | '.join(missing)}) else {body})"
        return body

    def x_Quantified(self, e, scope):
        loop = self._fused_source(e)
        if loop is None:
            return self._nested(super().x_Quantified, e, scope)
        if self.explainer is not None:
            # the explanation names the items anyway: the rule holds when that list is empty (all, none)
            positions = self.item_positions(e)[1]
            return f"(not {positions})" if e.kind != "any" else f"(len({positions}) > 0)"
        inner = {e.var: _ItemRef(loop)}
        self._loop_ctx = loop
        try:
            cond = self._cond(e.cond, inner)
        finally:
            self._loop_ctx = None
        if e.kind == "all":
            init, body = f"{_ACC} = True", [f"if not ({cond}): {_ACC} = False"]
        elif e.kind == "any":
            init, body = f"{_ACC} = False", [f"if {cond}: {_ACC} = True"]
        else:
            init, body = f"{_ACC} = True", [f"if {cond}: {_ACC} = False"]
        return loop.accumulator(init, body)

    def x_Aggregate(self, e, scope):
        loop = self._fused_source(e)
        if loop is None:
            return self._nested(super().x_Aggregate, e, scope)
        f = e.func
        inner = {e.var: _ItemRef(loop)} if e.var else {}
        self._loop_ctx = loop
        try:
            where = self._cond(e.where, inner) if e.where is not None else None
            if f in ("count", "share"):
                if where is None:
                    if f == "count":
                        return f"len({loop.local})"
                    raise _Retry("typed", loop.path)  # pragma: no cover - the checker wants a condition
                acc = loop.accumulator(f"{_ACC} = 0", [f"if {where}: {_ACC} += 1"])
                # _rt.share, inline
                return acc if f == "count" else f"(_D({acc}) / len({loop.local}) if {loop.local} else None)"
            if e.value is None:  # the item itself as the value
                raise _Retry("typed", loop.path)
            value = self.expr(e.value, inner)
            if f == "sum":
                init = f"{_ACC} = 0"
                stmts = [f"_v = {value}", f"if _v is not None: {_ACC} += _v"] if self.opt(e.value) else \
                    [f"{_ACC} += {value}"]
                helper = None
            else:
                init = f"{_ACC} = []"
                stmts = [f"{_ACC}.append({value})"]
                helper = {"average": "mean", "mean": "mean", "median": "median", "spread": "spread",
                          "lowest": "lowest", "highest": "highest"}[f]
        finally:
            self._loop_ctx = None
        body = [f"if {where}:"] + ["    " + st for st in stmts] if where is not None else stmts
        acc = loop.accumulator(init, body)
        return acc if helper is None else f"_rt.{helper}({acc})"

    # --- facts for explanations (the explaining form only) -----------------------------------------
    def fused_loop(self, e):
        """The fused loop over ``e.source`` (an aggregate or quantifier at the top level), or None."""
        p = self._input_path(e.source)
        if p is None or p not in self.loops or self._depth or self._loop_ctx is not None:
            return None
        return self.loops[p]

    def item_positions(self, e):
        """(loop, local): the positions of the items a quantifier is about, collected by its loop.

        ``all``/``none``: the items that break the rule (for ``all``, a missing
        answer breaks it too, as in the decision); ``any``: the items that satisfy it.
        """
        loop = self.fused_loop(e)
        if loop is None:
            return None
        self._loop_ctx = loop
        try:
            cond = self._cond(e.cond, {e.var: _ItemRef(loop)})
        finally:
            self._loop_ctx = None
        test = f"not ({cond})" if e.kind == "all" else cond
        return loop, loop.accumulator(f"{_ACC} = []", [f"if {test}: {_ACC}.append({loop.index_var})"])

    def where_count(self, e):
        """(loop, local): how many items satisfy an aggregate's ``where`` (the accumulator it already has)."""
        loop = self.fused_loop(e)
        if loop is None or e.where is None:
            return None
        self._loop_ctx = loop
        try:
            where = self._cond(e.where, {e.var: _ItemRef(loop)} if e.var else {})
        finally:
            self._loop_ctx = None
        return loop, loop.accumulator(f"{_ACC} = 0", [f"if {where}: {_ACC} += 1"])

    def _fused_source(self, e):
        p = self._input_path(e.source)
        if p is None or p not in self.loops:
            return None
        if self._depth or self._loop_ctx is not None:
            raise _Retry("typed", p)
        return self.loops[p]

    def _nested(self, method, e, scope):
        self._depth += 1
        try:
            return method(e, scope)
        finally:
            self._depth -= 1


def compile_policy(cp: CheckedPolicy) -> Compiler:
    return Compiler(cp)
