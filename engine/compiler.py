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
    the fast path: gate outcomes, criterion points, grant; no explanation.
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
from decimal import Decimal

from dsl import ast
from dsl.checker import CheckedPolicy, _all_criteria

from . import runtime

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
        self.namespace: dict = {"_rt": runtime, "_op": operator, "Decimal": Decimal, "_dt": _dt}
        self._consts: dict = {}
        self._tmp = itertools.count()
        self._lock = threading.Lock()
        self._expr_cache: dict = {}
        self.funcs_defined: set[str] = set()
        self.filename = f"<bando {cp.source.name} #{next(_counter)}>"
        self.sources: list[str] = []

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
                kind = self.cp.resolved.get(id(n), (None,))[0]
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
        kind, name = self.cp.resolved.get(id(e), (None, e.id))
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
        if isinstance(e.obj, ast.Name) and self.cp.resolved.get(id(e.obj), (None,))[0] == "call":
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
            self.sources.append(source)
            full = "\n".join(self.sources)
            linecache.cache[self.filename] = (len(full), None, full.splitlines(True), self.filename)
            offset = full.count("\n") - source.count("\n")
            code = compile("\n" * offset + source, self.filename, "exec")
            exec(code, self.namespace)

    def build_decide(self):
        """The fast path. Returns ``(failed_gate_ids, points, grant, requested, applicant, submitted)``."""
        cp = self.cp
        crits = cp.criteria
        decls = cp.decls
        exprs = [g.cond for g in cp.gates]
        for c in _all_criteria(crits):
            exprs.append(c.formula)
            for t in c.tiers or ():
                exprs += [t.cond, t.points]
        for d in decls.values():
            exprs.append(d.expr)
        for n in exprs:
            if n is not None:
                self.define_funcs(n)
        code = _Code()
        code.line("def decide(app):")
        code.indent()
        self.prologue(code, exprs)
        code.line("failed = []")
        for g in cp.gates:
            cond = self.expr(g.cond, {})
            test = f"({cond}) is not True" if self.opt(g.cond) else f"not {cond}"
            code.line(f"if {test}: failed.append({g.id!r})", g)
        if cp.score is not None:
            if not cp.score.including_ineligible:
                code.line("if failed: return failed, None, None, " + self._decls_tuple())
            names = []
            for c in crits:
                names.append(self._criterion(code, c))
            code.line(f"points = ({', '.join(names)}{',' if len(names) == 1 else ''})")
        else:
            code.line("points = ()")
        code.line("if failed: return failed, points, None, " + self._decls_tuple())
        grant = decls.get("grant")
        if grant is not None:
            g = self.expr(grant.expr, {})
            if grant.rounding is not None:
                unit = grant.rounding.unit.amount
                g = f"_rt.quantize({g}, {self.const(unit)}, {grant.rounding.mode!r})"
            code.line(f"return failed, points, {g}, {self._decls_tuple()}", grant)
        else:
            code.line(f"return failed, points, None, {self._decls_tuple()}")
        self.exec(code.text())
        return self.namespace["decide"]

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
            optional = self.opt(c.formula)
        else:
            optional = self.tiers(code, name, c.tiers)
        if optional:
            code.line(f"if {name} is None: {name} = 0")
        code.line(f"if {name} > {mx}: {name} = {mx}")
        code.line(f"elif {name} < 0: {name} = 0")
        return name

    def tiers(self, code: _Code, name: str, tiers) -> bool:
        """Emit a band table: the first band whose condition holds gives the points.

        A band whose condition is missing (before any band matched) makes the
        points missing. Returns whether the result can be missing.
        """
        optional = any(t.cond is not None and self.opt(t.cond) for t in tiers) or \
            any(self.opt(t.points) for t in tiers)
        has_otherwise = tiers[-1].cond is None
        if not optional:
            expr = self.expr(tiers[-1].points, {}) if has_otherwise else "0"
            for t in reversed(tiers[:-1] if has_otherwise else tiers):
                expr = f"({self.expr(t.points, {})} if {self.expr(t.cond, {})} else {expr})"
            code.line(f"{name} = {expr}")
            return False
        # flat `while True: ... break` instead of nested ifs, one test per band
        code.line("while True:")
        code.indent()
        for t in tiers:
            points = self.expr(t.points, {})
            if t.cond is None:
                code.line(f"{name} = {points}; break", t)
                break
            cond = self.expr(t.cond, {})
            if self.opt(t.cond):
                code.line(f"_t = {cond}", t)
                code.line(f"if _t is None: {name} = None; break")
                code.line(f"if _t: {name} = {points}; break")
            else:
                code.line(f"if {cond}: {name} = {points}; break", t)
        else:
            code.line(f"{name} = 0; break")
        code.outdent()
        return True

    def build_env(self):
        """``env(app)``: every input and ``let`` by name (for explanations)."""
        cp = self.cp
        code = _Code()
        code.line("def env(app):")
        code.indent()
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
        key = (id(e), tuple(bound), result)
        fn = self._expr_cache.get(key)
        if fn is not None:
            return fn
        self.define_funcs(e)
        lets, inputs = self.refs(e)
        name = f"x{next(self._tmp)}"
        scope = {b: f"b_{b}" for b in bound}
        code = _Code()
        params = ["env"] + list(scope.values()) + (["_r"] if result else [])
        code.line(f"def {name}({', '.join(params)}):")
        code.indent()
        for n in sorted(inputs):
            code.line(f"i_{n} = env[{n!r}]")
        for n in sorted(lets):
            code.line(f"l_{n} = env[{n!r}]")
        code.line(f"return {self.expr(e, scope)}", e)
        self.exec(code.text())
        fn = self.namespace[name]
        self._expr_cache[key] = fn
        return fn


def compile_policy(cp: CheckedPolicy) -> Compiler:
    return Compiler(cp)
