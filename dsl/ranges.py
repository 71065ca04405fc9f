"""What values an expression can take, from the ranges the policy declares: interval arithmetic.

The checker asks two questions with it (dsl/checker.py, W111 and W112): can a band's condition
ever hold, and what is the most a criterion's formula can give. A warning there must never be
false, so every answer here is an *over*-approximation: :func:`bounds` gives an interval that
surely holds every value the expression can take (often a wider one), or None when it cannot say;
:func:`never_true` says True only when no value in those intervals makes the condition hold.

What is known: literal numbers, amounts and percentages; an input field (or an item's field in a
list, or a panel mark) with a declared range ``in a..b``, since validation refuses any value
outside it; ``+ - * /``, ``of``, unary minus, ``min``/``max``/``abs``, ``if`` and ``count`` over
those. Everything else, a ``let`` included, is unknown: the interval is open on that side.
Infinite ends are ``Decimal("Infinity")``, so that the arithmetic stays exact Decimal arithmetic.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from . import ast
from .literals import literal_number

INF = Decimal("Infinity")
#: (low, high), both included; ``-INF``/``INF`` for an end that is not known
Interval = tuple[Decimal, Decimal]
UNKNOWN: Interval = (-INF, INF)
#: the input field of the panel's marks: a combined mark (a mean) lies in its scale but not on its step
MARKS_FIELD = "marks"


def _mul(a: Decimal, b: Decimal) -> Decimal:
    if a == 0 or b == 0:  # 0 × ∞ is 0 here: the end that is not known is a number, not ∞ itself
        return Decimal(0)
    return a * b


def _span(values) -> Interval:
    values = list(values)
    return (min(values), max(values))


def _field_type(cp, e):
    """The declared type of a field read by ``e`` (a Name of an input field or an item variable's
    field, an Attr on one), else None: a let, a parameter, a result's value are not declared ranges."""
    root = e
    while isinstance(root, ast.Attr):
        root = root.obj
    if not isinstance(root, ast.Name) or cp.kind_of(root) not in ("input", "var"):
        return None
    return cp.type_of(e)


def bounds(cp, e) -> Interval:
    """An interval holding every value ``e`` can take (amounts by their number); UNKNOWN if nothing is known."""
    try:
        return _bounds(cp, e)
    except (InvalidOperation, ArithmeticError, RecursionError):  # pragma: no cover - a bound is never needed
        return UNKNOWN


def _bounds(cp, e) -> Interval:
    v = literal_number(e)
    if v is not None:
        return (v, v)
    if isinstance(e, (ast.Name, ast.Attr)):
        t = _field_type(cp, e)
        if t is None or not (t.numeric or t.kind == "money"):
            return UNKNOWN
        return (t.low if t.low is not None else -INF, t.high if t.high is not None else INF)
    if isinstance(e, ast.Unary) and e.op == "-":
        lo, hi = _bounds(cp, e.operand)
        return (-hi, -lo)
    if isinstance(e, ast.If):
        a, b = _bounds(cp, e.then), _bounds(cp, e.else_)
        return (min(a[0], b[0]), max(a[1], b[1]))
    if isinstance(e, ast.Aggregate) and e.func == "count":
        return (Decimal(0), INF)
    if isinstance(e, ast.Call) and e.func in ("min", "max") and e.args:
        parts = [_bounds(cp, a) for a in e.args]
        pick = min if e.func == "min" else max
        return (pick(p[0] for p in parts), pick(p[1] for p in parts))
    if isinstance(e, ast.Call) and e.func == "abs" and len(e.args) == 1:
        lo, hi = _bounds(cp, e.args[0])
        if lo >= 0:
            return (lo, hi)
        if hi <= 0:
            return (-hi, -lo)
        return (Decimal(0), max(-lo, hi))
    if isinstance(e, ast.Binary) and e.op in ("+", "-", "*", "/", "of"):
        (alo, ahi), (blo, bhi) = _bounds(cp, e.left), _bounds(cp, e.right)
        if e.op == "+":
            return (alo + blo, ahi + bhi)
        if e.op == "-":
            return (alo - bhi, ahi - blo)
        if e.op in ("*", "of"):
            return _span(_mul(x, y) for x in (alo, ahi) for y in (blo, bhi))
        if blo > 0 or bhi < 0:  # division by a number that is never 0 (by 0 the value is missing)
            inverse = [Decimal(0) if y.is_infinite() else 1 / y for y in (blo, bhi)]
            return _span(_mul(x, y) for x in (alo, ahi) for y in inverse)
        return UNKNOWN
    return UNKNOWN


def _numeric(cp, e) -> bool:
    t = cp.type_of(e)
    return t.numeric or t.kind == "money"


def _off_step(cp, e, value: Decimal) -> bool:
    """Is ``value`` a value the field read by ``e`` can never hold, being off its declared step (or
    not whole, for a whole number)? Marks are left out: their combined value is a mean."""
    t = _field_type(cp, e)
    if t is None or not (t.numeric or t.kind == "money"):
        return False
    root = e
    while isinstance(root, ast.Attr):
        root = root.obj
    if root.id == MARKS_FIELD and cp.kind_of(root) == "input":
        return False
    if t.kind == "int" and value != value.to_integral_value():
        return True
    return t.step is not None and t.step > 0 and t.low is not None and (value - t.low) % t.step != 0


def never_true(cp, cond) -> bool:
    """True only when no value the declared ranges allow makes ``cond`` hold."""
    try:
        return _never_true(cp, cond)
    except (InvalidOperation, ArithmeticError, RecursionError):  # pragma: no cover
        return False


def _never_true(cp, cond) -> bool:
    if isinstance(cond, ast.Bool):
        return not cond.value
    if isinstance(cond, ast.Binary) and cond.op == "and":
        return _never_true(cp, cond.left) or _never_true(cp, cond.right)
    if isinstance(cond, ast.Binary) and cond.op == "or":
        return _never_true(cp, cond.left) and _never_true(cp, cond.right)
    if isinstance(cond, ast.Between):
        if not all(_numeric(cp, x) for x in (cond.value, cond.low, cond.high)):
            return False
        v, lo, hi = (_bounds(cp, x) for x in (cond.value, cond.low, cond.high))
        return v[1] < lo[0] or v[0] > hi[1]
    if isinstance(cond, ast.Binary) and cond.op in (">=", ">", "<=", "<", "==", "!="):
        if not (_numeric(cp, cond.left) and _numeric(cp, cond.right)):
            return False
        (alo, ahi), (blo, bhi) = _bounds(cp, cond.left), _bounds(cp, cond.right)
        op = cond.op
        if op == ">=":
            return ahi < blo
        if op == ">":
            return ahi <= blo
        if op == "<=":
            return alo > bhi
        if op == "<":
            return alo >= bhi
        if op == "==":
            if ahi < blo or alo > bhi:
                return True
            for field, const in ((cond.left, cond.right), (cond.right, cond.left)):
                c = literal_number(const)
                if c is not None and _off_step(cp, field, c):
                    return True
            return False
        return alo == ahi == blo == bhi and not alo.is_infinite()  # `!=` between one and the same value
    return False


def describe(cp, e) -> str | None:
    """``0..3`` for a field's declared range (for messages), None for anything else."""
    t = _field_type(cp, e)
    if t is None or t.low is None or t.high is None or getattr(t, "implicit_range", False):
        return None
    step = f" step {_plain(t.step)}" if t.step is not None else ""
    return f"{_plain(t.low)}..{_plain(t.high)}{step}"


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")
