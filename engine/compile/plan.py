"""The plan of a compiled policy: what the generated function reads, in which form, and the rules it runs.

:func:`lower` turns a checked policy into a :class:`Plan` once; :mod:`engine.compile.compiler`
then writes every generated function from it. The plan says, for every input
field, how the fused fast path reads it from the raw application:

``record``
    a required record at the top level, read field by field (its fields get
    their own reads);
``loop``
    a list of records: one ``for`` over it, whose items are checked field by
    field and which carries every aggregate and quantifier over the list
    (fused: one pass, one accumulator each);
``scalar``
    a text, number, date... converted inline; a number may be kept *raw* (the
    JSON int or float, see :func:`engine.compile.validate.key_literal`) when the rules
    only compare it with constants;
``typed``
    converted whole by the validator's converter (anything else).

The optimistic plan :func:`lower` makes (every list fused, every number raw)
is then made true by :data:`REWRITES`, pure functions from plan to plan in the
manner of sqlglot's optimizer rules; each has a fixture file of policies and
the plan they give (``tests/engine/fixtures/plan/<rewrite>.txt``):

:func:`settle_forms`
    an analysis pass over the rules, walking them in the contexts the fused
    function evaluates them in: a list used other than as the source of a
    top-level aggregate or quantifier (or whose loop would need a ``let``, or
    the item itself) is read ``typed``; a number used other than against a
    constant is read as a Decimal. Repeated to a fixed point: each change only
    takes fused contexts away, so the walk converges (at most once per field).
    Its last walk records what each loop computes (``Plan.fused``: the
    aggregates and quantifiers of that one pass, with their spans).
:func:`show_values`
    the explaining form shows the values the rules used: the top-level numbers
    the rules name are read as Decimals there.

So which lists and numbers take the fused form is decided before any code is
written; the emitter never meets a use its plan did not foresee on the
decision (:class:`PlanMiss` says so if it does: a bug of this module).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from dsl import ast
from dsl.checker import CheckedPolicy, all_criteria
from dsl.literals import literal_number

from engine.compile.validate import Bail, const_eval, to_key

SCALARS = ("text", "int", "decimal", "percent", "money", "bool", "date", "datetime", "enum")
NUMBERS = ("decimal", "percent", "money")
CMP = (">=", "<=", ">", "<", "==", "!=")


class PlanMiss(Exception):
    """The emitter met a use of an input its plan did not foresee (the plan's analysis missed it)."""


@dataclass(frozen=True)
class Read:
    """How the fused function reads one input field: ``form`` (record, loop, scalar, typed), ``raw`` number."""

    path: tuple
    form: str
    raw: bool = False
    span: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Plan:
    """What one compiled policy reads and runs; every rule node keeps its source span (``node.span``)."""

    typed: frozenset = frozenset()  # input paths converted whole by the validator
    decimal: frozenset = frozenset()  # number paths read as Decimals, not raw
    fast: bool = True  # False: no fast path (``reason`` says why); the typed decide serves everything
    reason: str = ""
    lets: tuple = ()  # names, in evaluation order (the lets the rules need)
    gates: tuple = ()
    criteria: tuple = ()  # top-level criteria (sub-criteria inside them), then the bonuses and maluses
    decls: tuple = ()  # (name, declaration) of grant, requested, applicant, submitted
    reads: tuple = ()  # Read, in the order the function reads them
    fused: tuple = ()  # (loop path, the aggregates and quantifiers its one loop computes), by settle_forms
    cp: CheckedPolicy | None = field(default=None, compare=False, repr=False)
    by_path: dict = field(default_factory=dict, compare=False, repr=False)  # path -> Read (of ``reads``)

    def read(self, path) -> Read | None:
        return self.by_path.get(path)

    def form(self, path) -> str | None:
        r = self.read(path)
        return None if r is None else r.form

    def raw(self, path) -> bool:
        r = self.read(path)
        return r is not None and r.raw

    def exprs(self):
        """Every expression the decision evaluates (the closure of lets is computed from these)."""
        out = [g.cond for g in self.gates]
        for c in all_criteria(self.criteria):
            out.append(c.formula)
            for t in c.tiers or ():
                out += [t.cond, t.points]
        out += [d.expr for _, d in self.decls]
        return [e for e in out if e is not None]

    def describe(self) -> str:
        """One line per read (and the verdict): the text the fixture files compare."""
        if not self.fast:
            return f"no fast path: {self.reason}"
        lines = [f"lets: {', '.join(self.lets)}"] if self.lets else []
        fused = dict(self.fused)
        for r in self.reads:
            line = ".".join(r.path) + ": " + r.form + (" raw" if r.raw else "")
            if fused.get(r.path):
                line += " [" + ", ".join(f"{_name_of(e)}@{e.span.line}" if e.span else _name_of(e)
                                         for e in fused[r.path]) + "]"
            lines.append(line)
        return "\n".join(lines)


# --- lowering --------------------------------------------------------------------------------------

def lower(cp: CheckedPolicy) -> Plan:
    """The plan of ``cp``, made true by every rewrite of :data:`REWRITES` (the decision's plan)."""
    plan = optimistic(cp)
    for rewrite in REWRITES:
        plan = rewrite(plan)
    return plan


def optimistic(cp: CheckedPolicy) -> Plan:
    """Every list of records fused, every number raw: what :func:`settle_forms` starts from."""
    decls = tuple((n, cp.decls[n]) for n in ("grant", "requested", "applicant", "submitted") if n in cp.decls)
    plan = Plan(gates=tuple(cp.gates), criteria=tuple(cp.scored), decls=decls, cp=cp)
    plan = dataclasses.replace(plan, lets=tuple(closure(cp, plan.exprs())[0]))
    if cp.input is None:
        return dataclasses.replace(plan, fast=False, reason="no input")
    return _with_reads(plan)


def _with_reads(plan: Plan) -> Plan:
    reads: list[Read] = []
    _read_record(plan, plan.cp.input, (), reads, in_loop=False)
    return dataclasses.replace(plan, reads=tuple(reads), by_path={r.path: r for r in reads})


def _read_record(plan: Plan, rec, path, out, in_loop):
    """The reads of ``rec``'s fields (the order the emitter reads them in: the order of the record)."""
    for name, f in rec.fields.items():
        p = path + (name,)
        t = f.type.opt(False)
        required = not f.optional and f.default is None
        if not in_loop and t.kind == "record" and required and p not in plan.typed:
            out.append(Read(p, "record", span=_span_of(f)))
            _read_record(plan, t.record, p, out, in_loop=False)
        elif (not in_loop and t.kind == "list" and t.item is not None and t.item.kind == "record"
              and f.default is None and p not in plan.typed):
            out.append(Read(p, "loop", span=_span_of(f)))
            _read_record(plan, t.item.record, p, out, in_loop=True)
        elif t.kind in SCALARS:
            out.append(Read(p, "scalar", raw=_raw_number(f, t, p, plan), span=_span_of(f)))
        else:
            out.append(Read(p, "typed", span=_span_of(f)))


def _name_of(e) -> str:
    return e.func if isinstance(e, ast.Aggregate) else e.kind


def _span_of(f):
    """The policy span of an input field (its ``ast.Field``), or None for a field the checker made up."""
    return getattr(f.node, "span", None)


def _raw_number(f, t, p, plan) -> bool:
    if t.kind not in NUMBERS or p in plan.decimal:
        return False
    if f.default is not None:
        try:
            to_key(const_eval(f.default))
        except Bail:  # a default no float stands for exactly (0.123456789012345678): read it as a Decimal
            return False
    return True


# --- dependencies -------------------------------------------------------------------------------------

def refs(cp, e, seen_funcs=None):
    """(lets, inputs) referenced by ``e``, through user functions too."""
    lets, inputs = set(), set()
    seen_funcs = seen_funcs if seen_funcs is not None else set()
    for n in ast.walk(e):
        if isinstance(n, ast.Name):
            kind = cp.ref_of(n)[0]
            if kind == "let":
                lets.add(n.id)
            elif kind == "input":
                inputs.add(n.id)
        elif isinstance(n, ast.Call) and n.func in cp.funcs and n.func not in seen_funcs:
            seen_funcs.add(n.func)
            fl, fi = refs(cp, cp.funcs[n.func].expr, seen_funcs)
            lets |= fl
            inputs |= fi
    return lets, inputs


def closure(cp, exprs, let_names=()):
    """Lets needed (transitively) by ``exprs`` (and ``let_names``), in evaluation order, and the inputs."""
    order: list[str] = []
    inputs: set[str] = set()
    state: dict[str, int] = {}

    def visit(name):
        if state.get(name):  # done, or a cycle (the checker has reported it)
            return
        state[name] = 1
        lets, ins = refs(cp, cp.lets[name].expr)
        inputs.update(ins)
        for dep in sorted(lets):
            visit(dep)
        state[name] = 2
        order.append(name)

    for e in exprs:
        if e is None:
            continue
        lets, ins = refs(cp, e)
        inputs.update(ins)
        for name in sorted(lets):
            visit(name)
    for name in let_names:
        visit(name)
    return order, inputs


# --- rewrites ----------------------------------------------------------------------------------------

def settle_forms(plan: Plan) -> Plan:
    """Lists and numbers the fused function cannot serve take the typed/Decimal form, to a fixed point."""
    while plan.fast:
        walk = _Uses(plan)
        walk.decision()
        if walk.unsupported:
            return dataclasses.replace(plan, fast=False, reason=walk.unsupported)
        typed, decimal = plan.typed | walk.typed, plan.decimal | walk.decimal
        if typed == plan.typed and decimal == plan.decimal:  # the fixed point: its walk says what each loop runs
            return dataclasses.replace(plan, fused=tuple((p, tuple(nodes)) for p, nodes in walk.fused.items()))
        plan = _with_reads(dataclasses.replace(plan, typed=typed, decimal=decimal))
    return plan


def show_values(plan: Plan) -> Plan:
    """The explaining form: the top-level numbers the rules name are read as Decimals (to be shown)."""
    if not plan.fast:
        return plan
    cp = plan.cp
    named = set()
    for e in plan.exprs() + [cp.lets[n].expr for n in cp.lets]:
        for n in ast.walk(e):
            p = input_path(cp, n)
            if p is not None and plan.raw(p):  # (an item's field has no input path: it stays raw)
                named.add(p)
    if not named:
        return plan
    return settle_forms(_with_reads(dataclasses.replace(plan, decimal=plan.decimal | named)))


REWRITES = (settle_forms,)
TRACE_REWRITES = (show_values,)


# --- the analysis ---------------------------------------------------------------------------------

def input_path(cp, e):
    """``("network", "firms")`` for ``network.firms`` (an input field), else None."""
    names = []
    while isinstance(e, ast.Attr):
        names.append(e.name)
        e = e.obj
    if isinstance(e, ast.Name):
        kind, name = cp.ref_of(e)
        if kind == "input":
            return (name,) + tuple(reversed(names))
    return None


def literal_key(e):
    """The float/int source a literal compares as with a raw number, or None (:func:`~engine.compile.validate.key_literal`)."""
    from engine.compile.validate import key_literal
    v = literal_number(e)
    return key_literal(v) if v is not None else None


def tier_subject(tiers):
    """The expression every band compares (``project.innovation >= …``), if there is one."""
    subject = None
    for tier in tiers:
        c = tier.cond
        if c is None:
            continue
        if isinstance(c, ast.Binary) and c.op in CMP:
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


def band_rights(cond):
    return (cond.low, cond.high) if isinstance(cond, ast.Between) else (cond.right,)


def exact_share_bands(conds) -> bool:
    """Whether bands on a ``share`` can compare ``k * q`` with ``p * n`` (see ``Compiler._share_count``)."""
    for c in conds:
        for r in band_rights(c):
            v = literal_number(r)
            if v is None or not v.is_finite() or v.as_integer_ratio()[1] > 10 ** 12:
                return False
    return True


@dataclass(frozen=True)
class Ctx:
    """Where an expression is evaluated in the fused function.

    ``scope`` maps a bound name to the loop path whose item it is (or None: a
    plain value); ``depth`` > 0 inside generators and inlined functions;
    ``loop`` is the path of the fused loop whose body holds the expression.
    """

    scope: dict = field(default_factory=dict)
    depth: int = 0
    loop: tuple | None = None
    inline: int = 0


class _Uses:
    """Walks the decision's expressions as the fused emitter would, collecting the forms it cannot serve.

    Each method mirrors the emitter's method of the same node (``Compiler.x_*``
    in fused mode): what makes a list ``typed`` or a number ``decimal`` there is
    recorded here, so the emitter never has to change its mind.
    """

    def __init__(self, plan: Plan):
        self.plan = plan
        self.cp = plan.cp
        self.typed: set = set()
        self.decimal: set = set()
        self.fused: dict = {}  # loop path -> the aggregates/quantifiers fused into it (in the order met)
        self.unsupported = ""

    def decision(self):
        top = Ctx()
        for name in self.plan.lets:
            self.expr(self.cp.lets[name].expr, top)
        for g in self.plan.gates:
            self.expr(g.cond, top)
        for c in all_criteria(self.plan.criteria):
            if c.subs is not None:
                continue
            if c.formula is not None:
                self.expr(c.formula, top)
            else:
                self.tiers(c.tiers)
        for _, d in self.plan.decls:
            self.expr(d.expr, top)

    def tiers(self, tiers):
        top = Ctx()
        conds = [t for t in tiers if t.cond is not None]
        subject = tier_subject(tiers)
        opt = self.cp.type_of
        if subject is not None and len(conds) > 1 and not any(opt(r).optional for t in conds
                                                                for r in band_rights(t.cond)):
            if self.key_of(subject, {}) and all(literal_key(r) is not None for t in conds
                                                for r in band_rights(t.cond)):
                pass  # compared as raw keys
            elif self.share_count(subject, [t.cond for t in conds]):
                pass
            else:
                self.expr(subject, top)
                for t in conds:
                    for r in band_rights(t.cond):
                        self.expr(r, top)
        else:
            for t in conds:
                self.expr(t.cond, top)
        for t in tiers:
            self.expr(t.points, top)

    def share_count(self, subject, conds) -> bool:
        if not (isinstance(subject, ast.Aggregate) and subject.func == "share" and subject.where is not None):
            return False
        if not exact_share_bands(conds):
            return False
        p = input_path(self.cp, subject.source)
        if p is None or self.plan.form(p) != "loop":
            return False
        self.fuse(p, subject)
        self.expr(subject.where, Ctx(scope={subject.var: p} if subject.var else {}, loop=p))
        return True

    # --- helpers mirroring the emitter's ----------------------------------------------------------
    def item_field(self, e, scope):
        """(loop path, field) when ``e`` is ``x.field`` of a fused loop's item."""
        if isinstance(e, ast.Attr) and isinstance(e.obj, ast.Name):
            kind, name = self.cp.ref_of(e.obj)
            if kind in ("var", "param") and scope.get(name) is not None:
                return scope[name], e.name
        return None

    def key_of(self, e, scope) -> bool:
        item = self.item_field(e, scope)
        if item is not None:
            return self.plan.raw(item[0] + (item[1],))
        p = input_path(self.cp, e)
        return p is not None and self.plan.form(p) == "scalar" and self.plan.raw(p)

    def value_of_path(self, p) -> bool:
        """Record the use of input ``p`` as a value; True when the plan reads ``p`` itself."""
        form = self.plan.form(p)
        if form is None:
            return False
        if form == "scalar" and self.plan.raw(p):
            self.decimal.add(p)
        elif form in ("record", "loop"):
            self.typed.add(p)
        return True

    def fused_source(self, e, ctx):
        """The loop path of a fused aggregate/quantifier, or None (a conflict is recorded)."""
        p = input_path(self.cp, e.source)
        if p is None or self.plan.form(p) != "loop":
            return None
        if ctx.depth or ctx.loop is not None:
            self.typed.add(p)
            return False
        return p

    # --- expressions --------------------------------------------------------------------------------
    def expr(self, e, ctx: Ctx):
        getattr(self, "x_" + type(e).__name__, self.x_leaf)(e, ctx)

    def x_leaf(self, e, ctx):
        """Literals: nothing read."""

    def x_ScoreRef(self, e, ctx):
        self.unsupported = self.unsupported or "the rules use the score"

    def x_Name(self, e, ctx):
        kind, name = self.cp.ref_of(e)
        if kind == "input":
            self.value_of_path((name,))
        elif kind == "let":
            if ctx.loop is not None:  # lets are computed after the loops
                self.typed.add(ctx.loop)
        elif kind in ("var", "param"):
            loop = ctx.scope.get(name)
            if loop is not None:  # the item itself as a value
                self.typed.add(loop)
        else:
            self.unsupported = self.unsupported or f"name {e.id!r} ({kind})"

    def x_Attr(self, e, ctx):
        if isinstance(e.obj, ast.Name) and self.cp.ref_of(e.obj)[0] == "call":
            return
        item = self.item_field(e, ctx.scope)
        if item is not None:
            if self.plan.raw(item[0] + (item[1],)):
                self.decimal.add(item[0] + (item[1],))
            return
        p = input_path(self.cp, e)
        if p is not None and self.value_of_path(p):
            return
        self.expr(e.obj, ctx)

    def x_SetLit(self, e, ctx):
        if not all(isinstance(i, (ast.String, ast.Number, ast.Bool)) for i in e.items):
            for i in e.items:
                self.expr(i, ctx)

    def x_If(self, e, ctx):
        for x in (e.cond, e.then, e.else_):
            self.expr(x, ctx)

    def x_Unary(self, e, ctx):
        self.expr(e.operand, ctx)

    def x_Binary(self, e, ctx):
        if e.op in CMP:
            for side, other in ((e.left, e.right), (e.right, e.left)):
                if self.key_of(side, ctx.scope) and literal_key(other) is not None:
                    return
        if e.op == "or":
            subject = prefix_subject(self.cp, e)
            if subject is not None:
                self.expr(subject, ctx)
                return
        self.expr(e.left, ctx)
        self.expr(e.right, ctx)

    def x_Between(self, e, ctx):
        if self.key_of(e.value, ctx.scope) and literal_key(e.low) is not None and literal_key(e.high) is not None:
            return
        for x in (e.value, e.low, e.high):
            self.expr(x, ctx)

    def x_IsMissing(self, e, ctx):
        if not self.key_of(e.operand, ctx.scope):
            self.expr(e.operand, ctx)

    def x_Call(self, e, ctx):
        if e.func == "points":
            return
        fn = self.cp.funcs.get(e.func)
        if fn is None:
            for a in e.args:
                self.expr(a, ctx)
            return
        if ctx.inline > 16:
            self.unsupported = self.unsupported or "functions nested too deeply"
            return
        inner = {}
        for p, a in zip(fn.params, e.args):
            loop = None
            if isinstance(a, ast.Name) and self.cp.ref_of(a)[0] in ("var", "param"):
                loop = ctx.scope.get(a.id)
            if loop is not None:
                inner[p.name] = loop
            else:
                self.expr(a, ctx)
        self.expr(fn.expr, Ctx(scope=inner, depth=ctx.depth + 1, loop=ctx.loop, inline=ctx.inline + 1))

    def x_Quantified(self, e, ctx):
        p = self.fused_source(e, ctx)
        if p is False:
            return
        if p is None:
            self.nested(e, ctx, (e.cond,))
            return
        self.fuse(p, e)
        self.expr(e.cond, Ctx(scope={e.var: p}, loop=p))

    def x_Aggregate(self, e, ctx):
        p = self.fused_source(e, ctx)
        if p is False:
            return
        if p is None:
            self.nested(e, ctx, (e.where, e.value))
            return
        if e.where is not None or e.func != "count":  # (a bare count is the list's length: no accumulator)
            self.fuse(p, e)
        inner = Ctx(scope={e.var: p} if e.var else {}, loop=p)
        if e.where is not None:
            self.expr(e.where, inner)
        if e.func in ("count", "share"):
            if e.where is None and e.func == "share":
                self.typed.add(p)
            return
        if e.value is None:  # the item itself as the value
            self.typed.add(p)
            return
        self.expr(e.value, inner)

    def fuse(self, p, e):
        nodes = self.fused.setdefault(p, [])
        if not any(n is e for n in nodes):
            nodes.append(e)

    def nested(self, e, ctx, parts):
        """An aggregate or quantifier over a list the fused function does not loop over: a generator."""
        deeper = Ctx(scope=ctx.scope, depth=ctx.depth + 1, loop=ctx.loop, inline=ctx.inline)
        self.expr(e.source, deeper)
        if e.var:
            deeper = dataclasses.replace(deeper, scope=dict(ctx.scope, **{e.var: None}))
        for x in parts:
            if x is not None:
                self.expr(x, deeper)


def flatten(e, op: str) -> list:
    """The operands of ``a op b op …`` (``and``, ``or``, ``+``...), left to right; ``[e]`` when ``e`` is
    no such operation. Without recursion, like the other walks of the tree."""
    parts, stack = [], [e]
    while stack:
        x = stack.pop()
        if isinstance(x, ast.Binary) and x.op == op:
            stack += [x.right, x.left]
        else:
            parts.append(x)
    return parts


def prefix_subject(cp, e):
    """``x`` when ``e`` is ``starts_with(x, "A") or starts_with(x, "K") or …`` (one ``startswith`` call)."""
    parts = flatten(e, "or")
    first = parts[0]
    if not (isinstance(first, ast.Call) and first.func in ("starts_with", "ends_with") and len(first.args) == 2):
        return None
    subject = first.args[0]
    for p in parts:
        if not (isinstance(p, ast.Call) and p.func == first.func and len(p.args) == 2 and p.args[0] == subject
                and isinstance(p.args[1], ast.String) and not cp.type_of(p.args[0]).optional):
            return None
    return subject


