"""Plan -> Python source -> Python functions, once per policy: the one code generator.

Like Jinja's ``CodeGenerator``, the compiler writes Python source from the AST
and ``compile()``s it, so evaluating an application is one plain function call
with local variables, not a tree walk. The checker's types decide what code is
written: where no value can be missing, expressions become bare Python
operators on ``Decimal``/``int``; where one can, the code goes through
:mod:`engine.compile.runtime` helpers that propagate ``None`` (missing).

One visitor (the ``x_*`` methods) writes every generated function; what
varies between them is carried by its :class:`Frame`, as Jinja's frames do:

* the input: *typed* (locals of a validated value) or *fused* (read from the
  raw application in the same function, under the policy's
  :class:`~engine.compile.plan.Plan`: one loop per list of records with its aggregates
  and quantifiers fused, numbers only compared with constants kept raw);
* error handling: ``"bail"`` (anything the fused reader does not accept
  outright raises :class:`~engine.compile.validate.Bail`, and the full validator
  decides; the only mode so far);
* the trace: with an explanation generator, the explaining form records what
  the sentences need (band indices, item positions) and runs the generator's
  code after the decision.

Which lists and numbers take the fused form is decided before any code is
written, by :func:`engine.compile.plan.lower`; the emitter follows the plan.

The generated source is registered in :mod:`linecache` (the attrs trick), so a
traceback inside a compiled policy shows the generated line, and every
generated function carries the policy line it came from in a comment.

Generated functions:

``decide(app)``
    the rules on a typed value: gate outcomes, criterion points, grant; no
    explanation.
``fast(data)`` (:meth:`Compiler.build_fast`)
    the same rules fused with validation, on the raw application.
    :class:`~engine.compile.validate.Validator` calls it first.
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from dsl import ast
from dsl.checker import CheckedPolicy
from dsl.literals import literal_number

from engine.compile import runtime
from engine.compile.plan import (Plan, PlanMiss, TRACE_REWRITES, band_rights, exact_share_bands, flatten,
                                  input_path, literal_key, lower, prefix_subject, tier_subject)
from engine.compile.plan import closure as plan_closure
from engine.compile.plan import refs as plan_refs
from engine.compile.validate import (Bail, Prevalidated, Validator, call_zone, const_eval, datetime_reader, fast_branches,
                       key_literal, to_key)

_counter = itertools.count()

_CMP = {">=": "ge", "<=": "le", ">": "gt", "<": "lt", "==": "eq", "!=": "ne"}
_ARITH = {"+": "add", "-": "sub", "*": "mul"}
_ACC = "\0ACC\0"

class Code:
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


class _Unit:
    """What every function generated for one policy shares: namespace, constants, counters, source."""

    def __init__(self, cp: CheckedPolicy):
        self.cp = cp
        self.namespace: dict = {"_rt": runtime, "_op": operator, "Decimal": Decimal, "_dt": _dt,
                                "_Pre": Prevalidated, "_Bail": Bail, "_D": Decimal, "_date": _dt.date,
                                "_fromiso": datetime_reader(call_zone(cp)), "_to_key": to_key}
        self.consts: dict = {}
        self.tmp = itertools.count()
        self.lock = threading.Lock()
        self.expr_cache: dict = {}
        self.funcs_defined: set[str] = set()
        self.filename = f"<bando {cp.source.name} #{next(_counter)}>"
        self.source_lines: list[str] = []
        self.validator: Validator | None = None
        self.plan: Plan | None = None
        self.plan_miss: str | None = None  # what the emitter met that its plan had not foreseen (a bug)


@dataclass
class Frame:
    """The variation one generated function is written in, and its reading state (fused input).

    ``fused``: the input is read from the raw application under ``plan``;
    else the inputs are locals ``i_<name>`` of a typed value. A fused function
    meets a problem in the data by raising :class:`~engine.compile.validate.Bail`:
    collecting every problem with its path is the validator's job
    (:mod:`engine.compile.validate`, whose checks the fused reads are written from),
    and the typed form then decides. ``trace``: the explanation generator of the explaining form, or None.
    ``depth`` > 0 inside generators and inlined functions (no fused aggregates
    there); ``loop`` is the fused loop whose body is being written.
    """

    fused: bool = False
    plan: Plan | None = None
    trace: object = None
    scalars: dict = field(default_factory=dict)  # input path -> (local, raw number?)
    flat: set = field(default_factory=set)  # input paths of records read field by field
    loops: dict = field(default_factory=dict)  # input path -> _Loop
    typed_locals: dict = field(default_factory=dict)  # input path -> local holding the typed value
    reads: list = field(default_factory=list)
    names: itertools.count = field(default_factory=itertools.count)  # numbers the locals of the reads
    depth: int = 0
    loop: _Loop | None = None
    inline: int = 0
    band_marks: dict | None = None  # the explaining form records band tables here (tiers)
    lets_computed: set = field(default_factory=set)


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


# Kept for engine/compile/tracegen.py, which re-raises it from its rules: nothing raises it any more (the plan
# is decided before generation), so that clause never runs.


class Compiler:
    """The code generator of one policy: a handle on its shared :class:`_Unit` and one :class:`Frame`."""

    def __init__(self, cp: CheckedPolicy, unit: _Unit | None = None, frame: Frame | None = None):
        self.unit = unit if unit is not None else _Unit(cp)
        self.cp = cp
        self.namespace = self.unit.namespace
        self._tmp = self.unit.tmp
        self.frame = frame if frame is not None else Frame()
        self.fast_source: str | None = None

    def fresh(self, prefix: str) -> str:
        """A name no other generated piece of this policy uses (a local, or a global of its namespace)."""
        return f"{prefix}{next(self._tmp)}"

    def _with(self, frame: Frame) -> Compiler:
        return Compiler(self.cp, self.unit, frame)

    @property
    def parent(self) -> Compiler:
        """The typed form of this generator (same namespace): explanations compile typed items with it."""
        return self if not self.frame.fused else self._with(Frame())

    @property
    def filename(self) -> str:
        return self.unit.filename

    @property
    def band_marks(self):
        return self.frame.band_marks

    @property
    def lets_computed(self):
        return self.frame.lets_computed

    @property
    def plan(self) -> Plan:
        """The decision's plan (:func:`engine.compile.plan.lower`), made once per policy."""
        if self.unit.plan is None:
            self.unit.plan = lower(self.cp)
        return self.unit.plan

    @property
    def _validator(self):
        if self.unit.validator is None:
            self.unit.validator = Validator(self.cp, const_eval)
        return self.unit.validator

    # --- constants and names -------------------------------------------------------------
    def const(self, value) -> str:
        key = (type(value), value if not isinstance(value, (list, dict)) else repr(value))
        consts = self.unit.consts
        name = consts.get(key)
        if name is None:
            name = f"K{len(consts)}"
            consts[key] = name
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
        return plan_refs(self.cp, e, seen_funcs)

    def closure(self, exprs, let_names=()):
        """Lets needed (transitively) by ``exprs`` (and ``let_names``), in evaluation order, and the inputs."""
        return plan_closure(self.cp, exprs, let_names)

    def prologue(self, code: Code, exprs, app="app"):
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
            if isinstance(n, ast.Call) and n.func in self.cp.funcs and n.func not in self.unit.funcs_defined:
                fn = self.cp.funcs[n.func]
                self.define_funcs(fn.expr)
                scope = {p.name: f"p_{p.name}" for p in fn.params}
                code = Code()
                code.line(f"def f_{fn.name}({', '.join(scope.values())}):", fn)
                code.indent()
                code.line(f"return {self.expr(fn.expr, scope)}", fn.expr)
                self.exec(code.text())
                # listed only once it exists: another thread that finds it listed calls it at once (two
                # threads may both define it, the same code twice; listed first, a thread raced to a NameError)
                self.unit.funcs_defined.add(n.func)

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
        if self.frame.fused:
            raise PlanMiss("score")  # the plan has no fast path then
        return "_r.score"

    def x_Name(self, e, scope):
        kind, name = self.cp.ref_of(e)
        if self.frame.fused:
            return self._fused_name(e, kind, name, scope)
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
        if self.frame.fused:
            found = self._fused_attr(e, scope)
            if found is not None:
                return found
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
            v = self.fresh("_t")
            return f"({t} if ({v} := {c}) else (None if {v} is None else {f}))"
        return f"({t} if {c} else {f})"

    def x_Unary(self, e, scope):
        a = self.expr(e.operand, scope)
        if e.op == "not":
            return f"_rt.not3({a})" if self.opt(e.operand) else f"(not {a})"
        return f"_rt.opt(_op.neg, {a})" if self.opt(e.operand) else f"(-{a})"

    def x_Binary(self, e, scope):
        op = e.op
        if op in _CMP and self.frame.fused:
            for side, other, mirrored in ((e.left, e.right, False), (e.right, e.left, True)):
                k = self._key_of(side, scope)
                c = literal_key(other) if k is not None else None
                if c is not None:  # a raw number against a constant: compared as floats/ints, exactly
                    test = f"({c} {op} {k})" if mirrored else f"({k} {op} {c})"
                    return f"(None if {k} is None else {test})" if self.opt(side) else test
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
        subject = prefix_subject(self.cp, e)
        if subject is None:
            return None
        parts = flatten(e, "or")
        method = "startswith" if parts[0].func == "starts_with" else "endswith"
        return f"{self.expr(subject, scope)}.{method}({tuple(p.args[1].value for p in parts)!r})"

    def x_Between(self, e, scope):
        k = self._key_of(e.value, scope) if self.frame.fused else None
        if k is not None:
            lo, hi = literal_key(e.low), literal_key(e.high)
            if lo is not None and hi is not None:
                test = f"({lo} <= {k} <= {hi})"
                return f"(None if {k} is None else {test})" if self.opt(e.value) else test
        v, lo, hi = (self.expr(x, scope) for x in (e.value, e.low, e.high))
        if any(self.opt(x) for x in (e.value, e.low, e.high)):
            return f"_rt.opt(lambda _v, _l, _h: _l <= _v <= _h, {v}, {lo}, {hi})"
        return f"({lo} <= {v} <= {hi})"

    def x_IsMissing(self, e, scope):
        k = self._key_of(e.operand, scope) if self.frame.fused else None
        a = k if k is not None else self.expr(e.operand, scope)
        return f"({a} is not None)" if e.negate else f"({a} is None)"

    def _loop(self, e, scope):
        """(item variable, inner scope, source code, filter code) of an aggregate/quantifier."""
        var = f"{self.fresh('v')}_{e.var}" if e.var else None
        inner = dict(scope, **{e.var: var}) if e.var else scope
        src = self.expr(e.source, scope)
        if self.opt(e.source):
            src = f"({src} or ())"
        return var, inner, src

    def cond(self, e, scope):
        """The code of condition ``e`` as a Python truth (an optional one is true only when True)."""
        c = self.expr(e, scope)
        return f"({c}) is True" if self.opt(e) else c

    def x_Quantified(self, e, scope):
        if self.frame.fused:
            loop = self._fused_source(e)
            if loop is not None:
                return self._fused_quantified(e, loop)
            with self._deeper():
                return self._quantified(e, scope)
        return self._quantified(e, scope)

    def _quantified(self, e, scope):
        var, inner, src = self._loop(e, scope)
        cond = self.cond(e.cond, inner)
        if e.kind == "all":
            return f"all({cond} for {var} in {src})"
        if e.kind == "any":
            return f"any({cond} for {var} in {src})"
        return f"(not any({cond} for {var} in {src}))"

    def x_Aggregate(self, e, scope):
        if self.frame.fused:
            loop = self._fused_source(e)
            if loop is not None:
                return self._fused_aggregate(e, loop)
            with self._deeper():
                return self._aggregate(e, scope)
        return self._aggregate(e, scope)

    def _aggregate(self, e, scope):
        var, inner, src = self._loop(e, scope)
        if var is None:
            var = self.fresh("v")
        where = f" if {self.cond(e.where, inner)}" if e.where is not None else ""
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
        if f == "count distinct":
            return f"_rt.count_distinct{gen}"
        helper = {"average": "mean", "mean": "mean", "median": "median", "spread": "spread",
                  "lowest": "lowest", "highest": "highest"}[f]
        return f"_rt.{helper}{gen}"

    def x_Call(self, e, scope):
        f = e.func
        if f == "points":  # its argument is a criterion id, not a value
            return f"_r.points[{e.args[0].id!r}]"
        if self.frame.fused and f in self.cp.funcs:
            return self._inlined_call(e, scope)
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

    def x_At(self, e, scope):
        # the table is a constant of the policy: no let is computed for it, a function may read it
        table = self.cp.dated_tables[e.param.id]
        values = tuple(const_eval(x.value) for x in table.let.expr.entries)
        return f"_rt.dated_at({self.const(table.starts)}, {self.const(values)}, {self.expr(e.when, scope)})"

    # --- building functions ------------------------------------------------------------------------
    def exec(self, source: str):
        unit = self.unit
        with unit.lock:
            lines = unit.source_lines
            if not lines:
                # tracebacks show the generated lines while the policy lives; then they go with it
                linecache.cache[unit.filename] = (0, None, lines, unit.filename)
                weakref.finalize(unit, linecache.cache.pop, unit.filename, None)
            else:
                lines.append("\n")  # a blank line between two generated pieces
            offset = len(lines)
            lines.extend(source.splitlines(True))  # the cache entry holds this same list
            code = compile("\n" * offset + source, self.filename, "exec")
            exec(code, self.namespace)

    @property
    def source(self) -> str:
        """Everything generated for this policy so far, as registered for tracebacks."""
        return "".join(self.unit.source_lines)

    def _decide_exprs(self):
        return self.plan.exprs()

    def build_decide(self):
        """The compiled rules. Returns ``decide(value) -> (failed_gate_ids, points, grant, requested, applicant,
        submitted)`` on a typed value (or a :class:`Prevalidated` one, already decided).

        Also builds the fused fast path (:meth:`build_fast`) and registers it for the policy's validator.
        """
        exprs = self._decide_exprs()
        for n in exprs:
            if n is not None:
                self.define_funcs(n)
        code = Code()
        code.line("def decide(app):")
        code.indent()
        code.line("if app.__class__ is _Pre: return app.decided")
        self.prologue(code, exprs)
        self._decide_rest(code)
        self.exec(code.text())
        decide = self.namespace["decide"]
        fast = self.build_fast()
        self._validator.fast_path = fast
        runtime.register_validator(self.cp, self._validator)
        return decide

    def _decide_rest(self, code: Code, into: str | None = None):
        """Gates, criteria and the decide tuple (after the inputs and lets are bound).

        The tuple is returned, or with ``into`` assigned to that local (the
        explaining form of the fast path goes on after deciding).
        """
        cp = self.cp
        plan = self.frame.plan or self.plan
        crits = plan.criteria
        decls = dict(plan.decls)

        def give(value, node=None):
            code.line(f"return {value}" if into is None else f"{into} = {value}", node)

        code.line("failed = []")
        for g in plan.gates:
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
        checks and conversions of :mod:`engine.compile.validate`, inlined for the common
        JSON types) and computes the rules in the same pass: every aggregate and
        quantifier over the same list of records becomes one accumulator of one
        loop over that list, whose items are validated field by field in that
        loop; numbers only compared with constants are not turned into Decimals
        (see :func:`engine.compile.validate.key_literal`). Anything it does not accept
        outright raises (:class:`~engine.compile.validate.Bail`), and the caller then
        runs the full validator and the typed ``decide``, which decide every
        case; so the fast path only has to be exact on what it accepts.

        What is fused is the plan's (:func:`engine.compile.plan.lower`), decided
        before this code is written.
        """
        fn, self.fast_source = self._fused(self.plan)
        return fn

    def build_explain(self, explainer):
        """The explaining form of the fast path: ``fn(data) -> (decide tuple, *explanations)``, or None.

        The same fused function as :meth:`build_fast`, under the plan of the
        explaining form (the numbers it shows are read as Decimals), which after
        deciding runs the code ``explainer.emit(compiler, code)`` writes: the
        sentences, built from the locals the decision used.
        """
        plan = self.plan
        for rewrite in TRACE_REWRITES:
            plan = rewrite(plan)
        return self._fused(plan, explainer)[0]

    def _fused(self, plan: Plan, explainer=None):
        """(function, source) of the fused form under ``plan``, or (None, None) when the plan has none."""
        if not plan.fast:
            return None, None
        frame = Frame(fused=True, plan=plan, trace=explainer, band_marks={} if explainer is not None else None)
        gen = self._with(frame)
        fname = self.fresh("fast")
        try:
            source = gen._generate(fname)
        except PlanMiss as miss:
            # a use the plan's analysis did not foresee (a bug of engine.compile.plan): no fast path, never a crash; the
            # typed decide (and the reference explainer) serve every application, and tests look at plan_miss
            self.unit.plan_miss = f"{fname}: {miss}"
            return None, None
        self.exec(source)
        return self.namespace[fname], source

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

    def _criterion(self, code: Code, c) -> str:
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

    def tiers(self, code: Code, name: str, tiers):
        """Emit a band table: the first band whose condition holds gives the points.

        A band whose condition is missing (before any band matched) makes the
        points missing, which count as 0 points; so do missing points. When
        every band compares the same expression (``share(...) >= 0.6 -> 12``,
        ``... >= 0.4 -> 8``), it is computed once.
        """
        subject = tier_subject(tiers)
        conds = [t for t in tiers if t.cond is not None]
        if subject is not None and len(conds) > 1 and not any(self.opt(r) for t in conds for r in band_rights(t.cond)):
            tmp = self.fresh("_s")
            scode, key = self._subject(subject, [t.cond for t in conds])
            code.line(f"{tmp} = {scode}", tiers[0])
            # the explaining form also keeps which band applied (its index, or None) and whether the
            # subject was missing, for the trace (see tracegen.TraceGen.band)
            band = missing = None
            if self.band_marks is not None and not key:  # (a comparison key is not the value to show)
                band, missing = self.fresh("_b"), self.fresh("_bm")
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
                code.line(f"{'if' if first else 'elif'} {self.band_test(t.cond, tmp, key)}: {name} = {points}", t)
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
            v = self.fresh("_t")
            return f"(0 if ({v} := {p}) is None else {v})"
        return p

    def _subject(self, subject, conds):
        """(code, key?) of the expression every band compares.

        Fused: a raw number compared with constants (key True), or the count of
        a share's ``where`` (key ``("share", n)``, see :meth:`_share_count`).
        """
        if self.frame.fused:
            k = self._key_of(subject, {})
            if k is not None and all(literal_key(r) is not None for c in conds for r in band_rights(c)):
                return k, True
            share = self._share_count(subject, conds)
            if share is not None:
                return share
        return self.expr(subject, {}), False

    def band_test(self, cond, tmp, key) -> str:
        """The test of one band ``cond`` on its subject held in local ``tmp`` (``key``: how it is read)."""
        if isinstance(key, tuple):  # ("share", n): tmp is the count k of a share k/n, compared exactly
            n = key[1]
            if isinstance(cond, ast.Between):
                (lp, lq), (hp, hq) = (literal_number(x).as_integer_ratio() for x in (cond.low, cond.high))
                return f"{lp} * {n} <= {tmp} * {lq} and {tmp} * {hq} <= {hp} * {n}"
            p, q = literal_number(cond.right).as_integer_ratio()
            return f"{tmp} * {q} {cond.op} {p} * {n}"
        if isinstance(cond, ast.Between):
            lo, hi = (key_literal(literal_number(x)) if key else self.expr(x, {}) for x in (cond.low, cond.high))
            return f"{lo} <= {tmp} <= {hi}"
        right = key_literal(literal_number(cond.right)) if key else self.expr(cond.right, {})
        return f"{tmp} {cond.op} {right}"

    def build_env(self):
        """``env(app)``: every input and ``let`` by name (for explanations)."""
        cp = self.cp
        code = Code()
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
        fn = self.unit.expr_cache.get(key)
        if fn is not None:
            return fn
        self.define_funcs(e)
        lets, inputs = self.refs(e)
        name = self.fresh("x")
        code = Code()
        code.line(f"def {name}({', '.join(['env'] + params)}):")
        code.indent()
        for n in sorted(inputs):
            code.line(f"i_{n} = env[{n!r}]")
        for n in sorted(lets):
            code.line(f"l_{n} = env[{n!r}]")
        code.line(f"return {template.format(self.expr(e, scope))}", e)
        self.exec(code.text())
        fn = self.namespace[name]
        self.unit.expr_cache[key] = fn
        return fn

    # --- the fused form: reading the raw input under the plan ------------------------------------
    def _generate(self, fname: str) -> str:
        """The source of the fused function ``fname`` (this generator's frame is fused)."""
        fr = self.frame
        cp = self.cp
        fr.reads += ["if app.__class__ is not dict: raise _Bail"]
        self._read_record(cp.input, (), "app", fr.reads)
        body = Code()
        body.level = 1
        for name in fr.plan.lets:
            let = cp.lets[name]
            body.line(f"l_{name} = {self.expr(let.expr, {})}", let)
        fr.lets_computed = set(fr.plan.lets)
        if fr.trace is None:
            self._decide_rest(body)
        else:
            self._decide_rest(body, into="_dec")
            fr.trace.emit(self, body)
        # builtins as default arguments: the per-item checks read them as locals
        lines = [f"def {fname}(app, type=type, len=len, enumerate=enumerate):"]
        lines += ["    " + ln for ln in fr.reads]
        for loop in fr.loops.values():
            lines += ["    " + ln for ln in loop.inits]
            if fr.trace is None:
                lines.append(f"    for {loop.item} in {loop.local}:")
            else:  # explanations name the items that fail a rule by their position
                lines.append(f"    for {loop.index_var}, {loop.item} in enumerate({loop.local}):")
            lines.append(f"        if {loop.item}.__class__ is not dict: raise _Bail")
            lines += ["        " + ln for ln in loop.reads]
            lines += ["        " + ln for ln in loop.body]
        return "\n".join(lines) + "\n" + body.text()

    def _read_record(self, rec, path, dvar, out, loop=None):
        fr = self.frame
        for name, f in rec.fields.items():
            p = path + (name,)
            t = f.type.opt(False)
            required = not f.optional and f.default is None
            getter = f"{dvar}[{name!r}]" if required else f"{dvar}.get({name!r})"
            n = next(fr.names)
            read = fr.plan.read(p)
            if read.form == "record":
                local = f"d{n}_{name}"
                out += [f"{local} = {getter}", f"if {local}.__class__ is not dict: raise _Bail"]
                fr.flat.add(p)
                self._read_record(t.record, p, local, out)
            elif read.form == "loop":
                local = f"L{n}_{name}"
                out.append(f"{local} = {getter}")
                if not required:
                    out.append(f"if {local} is None or {local} == '': {local} = ()")
                    out.append(f"elif {local}.__class__ is not list: raise _Bail")
                else:
                    out.append(f"if {local}.__class__ is not list: raise _Bail")
                lp = _Loop(len(fr.loops), p, t.item.record, local)
                fr.loops[p] = lp
                self._read_record(t.item.record, p, lp.item, lp.reads, loop=lp)
            elif read.form == "scalar":
                local = f"s{n}_{name}" if loop is None else f"f{loop.index}_{name}"
                key = self._read_scalar(f, t, read.raw, getter, local, out)
                if loop is None:
                    fr.scalars[p] = (local, key)
                else:
                    loop.fields[name] = (local, "key" if key else "value")
            else:
                local = f"T{n}_{name}" if loop is None else f"f{loop.index}_{name}"
                conv = self.const(self._validator.converter(f))
                out.append(f"{local} = {conv}({dvar}.get({name!r}))")
                if loop is None:
                    fr.typed_locals[p] = local
                else:
                    loop.fields[name] = (local, "typed")

    def _read_scalar(self, f, t, raw, getter, local, out) -> bool:
        """Emit the read of one scalar field into ``local``; return whether it holds a comparison key."""
        key = raw
        branches = fast_branches(t, "v", self.const, key=key) if key else None
        if branches is None:
            key = False
            branches = fast_branches(t, "v", self.const)
        if t.kind == "datetime":
            # what _datetime() does with a string without spaces around or inside (strip and the
            # " " -> "T" replacement change nothing then): _fromiso is the call's datetime_reader, which
            # turns an offset into the call's time zone; it raising is a bail-out
            branches = [("v.__class__ is str and len(v) >= 16 and ' ' not in v", "_fromiso(v)")]
        conv = self.const(self._validator.converter(f))
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

    # --- the fused form: expressions ------------------------------------------------------------
    @contextmanager
    def _deeper(self, inline=0):
        """Inside a generator or an inlined function: no fused aggregates there."""
        fr = self.frame
        fr.depth += 1
        fr.inline += inline
        try:
            yield
        finally:
            fr.depth -= 1
            fr.inline -= inline

    @contextmanager
    def _in_loop(self, loop):
        """Writing the body of fused ``loop`` (its items' fields are its locals)."""
        fr = self.frame
        saved, fr.loop = fr.loop, loop
        try:
            yield
        finally:
            fr.loop = saved

    def _path_value(self, p):
        fr = self.frame
        found = fr.scalars.get(p)
        if found is not None:
            if found[1]:
                raise PlanMiss(f"raw number {'.'.join(p)} used as a value")
            return found[0]
        local = fr.typed_locals.get(p)
        if local is not None:
            return local
        if p in fr.flat or p in fr.loops:
            raise PlanMiss(f"{'.'.join(p)} read field by field but used whole")
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
        """The local holding ``e``'s comparison key, if ``e`` is an input number read raw."""
        item = self._item_field(e, scope)
        if item is not None:
            local, mode = item[0].fields[item[1]]
            return local if mode == "key" else None
        p = input_path(self.cp, e)
        if p is not None:
            found = self.frame.scalars.get(p)
            if found is not None and found[1]:
                return found[0]
        return None

    def _fused_name(self, e, kind, name, scope):
        if kind == "input":
            v = self._path_value((name,))
            if v is None:  # pragma: no cover - every input field has a reading
                raise PlanMiss(f"input {name}")
            return v
        if kind == "let":
            if self.frame.loop is not None:  # lets are computed after the loops
                raise PlanMiss(f"let {name} inside the loop over {'.'.join(self.frame.loop.path)}")
            return f"l_{name}"
        if kind in ("var", "param"):
            v = scope[name]
            if isinstance(v, _ItemRef):  # the item itself as a value
                raise PlanMiss(f"an item of {'.'.join(v.loop.path)} used whole")
            return v
        raise PlanMiss(f"name {e.id!r} ({kind})")

    def _fused_attr(self, e, scope):
        """The local of an item's field or an input path the fused function reads, or None."""
        item = self._item_field(e, scope)
        if item is not None:
            loop, name = item
            local, mode = loop.fields[name]
            if mode == "key":
                raise PlanMiss(f"raw number {'.'.join(loop.path + (name,))} used as a value")
            return local
        p = input_path(self.cp, e)
        return self._path_value(p) if p is not None else None

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
        if not exact_share_bands(conds):
            return None
        found = self._where_count(subject)
        if found is None:
            return None
        loop, count = found
        return f"({count} if {loop.local} else None)", ("share", f"len({loop.local})")

    def _inlined_call(self, e, scope):
        """A user function's body inlined (the fused function has no ``f_<name>`` to call)."""
        fn = self.cp.funcs[e.func]
        if self.frame.inline > 16:
            raise PlanMiss("functions nested too deeply")
        inner = {}
        missing = []  # like the typed form's _rt.opt(f_name, ...): a missing argument makes the call missing
        for p, a in zip(fn.params, e.args):
            ref = None
            if isinstance(a, ast.Name) and self.cp.ref_of(a)[0] in ("var", "param"):
                ref = scope.get(a.id)
            if isinstance(ref, _ItemRef):
                inner[p.name] = ref
            elif self.opt(a):
                tmp = self.fresh("_a")
                missing.append(f"(({tmp} := {self.expr(a, scope)}) is None)")
                inner[p.name] = tmp
            else:
                inner[p.name] = f"({self.expr(a, scope)})"
        with self._deeper(inline=1):
            body = f"({self.expr(fn.expr, inner)})"
        if missing:  # every argument is computed (as the typed form does), then the test
            return f"(None if ({' | '.join(missing)}) else {body})"
        return body

    def _fused_quantified(self, e, loop):
        if self.frame.trace is not None:
            # the explanation names the items anyway: the rule holds when that list is empty (all, none)
            positions = self._item_positions(e)[1]
            return f"(not {positions})" if e.kind != "any" else f"(len({positions}) > 0)"
        with self._in_loop(loop):
            cond = self.cond(e.cond, {e.var: _ItemRef(loop)})
        if e.kind == "all":
            init, body = f"{_ACC} = True", [f"if not ({cond}): {_ACC} = False"]
        elif e.kind == "any":
            init, body = f"{_ACC} = False", [f"if {cond}: {_ACC} = True"]
        else:
            init, body = f"{_ACC} = True", [f"if {cond}: {_ACC} = False"]
        return loop.accumulator(init, body)

    def _fused_aggregate(self, e, loop):
        f = e.func
        inner = {e.var: _ItemRef(loop)} if e.var else {}
        with self._in_loop(loop):
            where = self.cond(e.where, inner) if e.where is not None else None
            if f in ("count", "share"):
                if where is None:
                    if f == "count":
                        return f"len({loop.local})"
                    raise PlanMiss("share without a condition")  # pragma: no cover - the checker wants one
                acc = loop.accumulator(f"{_ACC} = 0", [f"if {where}: {_ACC} += 1"])
                # _rt.share, inline
                return acc if f == "count" else f"(_D({acc}) / len({loop.local}) if {loop.local} else None)"
            if e.value is None:  # pragma: no cover - the plan reads such a list typed
                raise PlanMiss(f"an item of {'.'.join(loop.path)} used whole")
            value = self.expr(e.value, inner)
            if f == "count distinct":  # the loop's accumulator is the set of values met
                return f"len({self._distinct_set(e, loop, where, value)})"
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
        body = [f"if {where}:"] + ["    " + st for st in stmts] if where is not None else stmts
        acc = loop.accumulator(init, body)
        return acc if helper is None else f"_rt.{helper}({acc})"

    def _distinct_set(self, e, loop, where, value):
        """The accumulator of ``count distinct``: the set of the values (not missing) of the items counted."""
        stmts = [f"_v = {value}", f"if _v is not None: {_ACC}.add(_v)"] if self.opt(e.value) else \
            [f"{_ACC}.add({value})"]
        body = [f"if {where}:"] + ["    " + st for st in stmts] if where is not None else stmts
        return loop.accumulator(f"{_ACC} = set()", body)

    def _fused_source(self, e):
        p = input_path(self.cp, e.source)
        fr = self.frame
        if p is None or p not in fr.loops:
            return None
        if fr.depth or fr.loop is not None:
            raise PlanMiss(f"{'.'.join(p)} aggregated inside another loop or function")
        return fr.loops[p]

    # --- facts for explanations (the explaining form only) -----------------------------------------
    def fused_loop(self, e):
        """The fused loop over ``e.source`` (an aggregate or quantifier at the top level), or None."""
        fr = self.frame
        p = input_path(self.cp, e.source)
        if not fr.fused or p is None or p not in fr.loops or fr.depth or fr.loop is not None:
            return None
        return fr.loops[p]

    @property
    def item_positions(self):
        """``item_positions(e) -> (loop, local)`` of the fused form (absent from the typed one)."""
        if not self.frame.fused:
            raise AttributeError("item_positions: the typed form has no fused loops")
        return self._item_positions

    @property
    def where_count(self):
        """``where_count(e) -> (loop, local)`` of the fused form (absent from the typed one)."""
        if not self.frame.fused:
            raise AttributeError("where_count: the typed form has no fused loops")
        return self._where_count

    @property
    def distinct_set(self):
        """``distinct_set(e) -> (loop, local)`` of the fused form: the set a ``count distinct`` accumulates."""
        if not self.frame.fused:
            raise AttributeError("distinct_set: the typed form has no fused loops")
        return self._fused_distinct_set

    def _fused_distinct_set(self, e):
        loop = self.fused_loop(e)
        if loop is None or e.value is None:
            return None
        inner = {e.var: _ItemRef(loop)} if e.var else {}
        with self._in_loop(loop):
            where = self.cond(e.where, inner) if e.where is not None else None
            value = self.expr(e.value, inner)
        return loop, self._distinct_set(e, loop, where, value)

    def _item_positions(self, e):
        """(loop, local): the positions of the items a quantifier is about, collected by its loop.

        ``all``/``none``: the items that break the rule (for ``all``, a missing
        answer breaks it too, as in the decision); ``any``: the items that satisfy it.
        """
        loop = self.fused_loop(e)
        if loop is None:
            return None
        with self._in_loop(loop):
            cond = self.cond(e.cond, {e.var: _ItemRef(loop)})
        test = f"not ({cond})" if e.kind == "all" else cond
        return loop, loop.accumulator(f"{_ACC} = []", [f"if {test}: {_ACC}.append({loop.index_var})"])

    def _where_count(self, e):
        """(loop, local): how many items satisfy an aggregate's ``where`` (the accumulator it already has)."""
        loop = self.fused_loop(e)
        if loop is None or e.where is None:
            return None
        with self._in_loop(loop):
            where = self.cond(e.where, {e.var: _ItemRef(loop)} if e.var else {})
        return loop, loop.accumulator(f"{_ACC} = 0", [f"if {where}: {_ACC} += 1"])

def compile_policy(cp: CheckedPolicy) -> Compiler:
    return Compiler(cp)
