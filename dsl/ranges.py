"""What values an expression can take, from the ranges the policy declares: interval arithmetic.

The checker asks three questions with it (dsl/checker.py, W111, W112 and W113): can a band's
condition ever hold, what is the most a criterion's formula can give, and do the bands above an
``otherwise`` leave it any value. A warning there must never be false, so every answer here is an
*over*-approximation: :func:`bounds` gives an interval that surely holds every value the expression
can take (often a wider one), or UNKNOWN when it cannot say; :func:`never_true` says True only when
no value in those intervals makes the condition hold; :func:`covered` reads of each band only the
values for which it surely holds (an *under*-approximation) and names a subject only when those
values take in every value the subject can have.

What is known: literal numbers, amounts and percentages; an input field (or an item's field in a
list, or a panel mark) with a declared range ``in a..b``, since validation refuses any value
outside it; ``+ - * /``, ``of``, unary minus, ``min``/``max``/``abs``, ``if`` and ``count`` over
those. Everything else, a ``let`` included, is unknown: the interval is open on that side.
Infinite ends are ``Decimal("Infinity")``, so that the arithmetic stays exact Decimal arithmetic.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from . import ast
from .literals import literal_number, literal_value

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


def _declared_number(cp, e):
    """The declared type of the number or amount field ``e`` reads, None for anything else and for
    the panel's marks (a combined mark is a mean: it is on no declared step or set)."""
    t = _field_type(cp, e)
    if t is None or not (t.numeric or t.kind == "money"):
        return None
    root = e
    while isinstance(root, ast.Attr):
        root = root.obj
    if root.id == MARKS_FIELD and cp.kind_of(root) == "input":
        return None
    return t


def _off_step(cp, e, value: Decimal) -> bool:
    """Is ``value`` a value the field read by ``e`` can never hold, being off its declared step (or
    not whole, for a whole number)? Marks are left out: their combined value is a mean."""
    t = _declared_number(cp, e)
    if t is None:
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


# --- bands that leave nothing for `otherwise` ------------------------------------------------------

#: a stretch of a subject's values: (low, low included, high, high included)
Piece = tuple[Decimal, bool, Decimal, bool]
_FLIP = {">=": "<=", ">": "<", "<=": ">=", "<": ">", "==": "==", "!=": "!="}


def _constant(cp, e) -> Decimal | None:
    """The one value ``e`` surely has (a literal, or arithmetic on literals), else None."""
    if not _numeric(cp, e):
        return None
    lo, hi = _bounds(cp, e)
    return lo if lo == hi and lo.is_finite() else None


def _compare_pieces(op: str, c: Decimal) -> list[Piece]:
    """Where ``subject OP c`` holds."""
    return {">=": [(c, True, INF, True)], ">": [(c, False, INF, True)],
            "<=": [(-INF, True, c, True)], "<": [(-INF, True, c, False)],
            "==": [(c, True, c, True)], "!=": [(-INF, True, c, False), (c, False, INF, True)]}[op]


def _meet(p: Piece, q: Piece) -> Piece | None:
    lo, lo_in = max((p[0], not p[1]), (q[0], not q[1]))  # the higher start; at a tie, the open one
    hi, hi_in = min((p[2], p[3]), (q[2], q[3]))  # the lower end; at a tie, the open one
    lo_in = not lo_in
    if lo > hi or (lo == hi and not (lo_in and hi_in)):
        return None
    return (lo, lo_in, hi, hi_in)


def _pieces(cp, cond) -> list[tuple[ast.Expr, Piece]]:
    """``(subject, piece)`` pairs such that ``cond`` surely holds whenever the value of ``subject`` is
    in ``piece`` (an *under*-approximation: a condition this cannot read gives none)."""
    if isinstance(cond, ast.Binary) and cond.op == "or":
        return _pieces(cp, cond.left) + _pieces(cp, cond.right)
    if isinstance(cond, ast.Binary) and cond.op == "and":  # `x >= 1 and x < 3`: both, on one subject
        out = []
        for s, p in _pieces(cp, cond.left):
            for s2, q in _pieces(cp, cond.right):
                m = _meet(p, q) if s == s2 else None
                if m is not None:
                    out.append((s, m))
        return out
    if isinstance(cond, ast.Between) and _numeric(cp, cond.value):
        lo, hi = _constant(cp, cond.low), _constant(cp, cond.high)
        return [(cond.value, (lo, True, hi, True))] if lo is not None and hi is not None and lo <= hi else []
    if isinstance(cond, ast.Binary) and cond.op in _FLIP:
        out = []
        for subject, other, op in ((cond.left, cond.right, cond.op), (cond.right, cond.left, _FLIP[cond.op])):
            c = _constant(cp, other)
            if c is not None and _numeric(cp, subject):
                out.extend((subject, p) for p in _compare_pieces(op, c))
        return out
    if isinstance(cond, ast.Binary) and cond.op in ("in", "not in") and _numeric(cp, cond.left):
        values = literal_value(cond.right)
        if not isinstance(values, frozenset) or not values or not all(isinstance(v, Decimal) for v in values):
            return []
        points = sorted(values)
        if cond.op == "in":
            return [(cond.left, (v, True, v, True)) for v in points]
        ends = [-INF, *points, INF]
        return [(cond.left, (a, a.is_infinite(), b, b.is_infinite())) for a, b in zip(ends, ends[1:])]
    return []


def _grid(cp, e):
    """The values a declared field can hold, where they are fewer than an interval's: ``("values",
    sorted values)`` for a number set, ``("step", origin, step)`` for a whole number or a step, None
    otherwise (marks too: a combined mark is a mean)."""
    t = _declared_number(cp, e)
    if t is None:
        return None
    if t.values is not None:
        return ("values", sorted(t.values))
    if t.step is not None and t.step > 0 and t.low is not None:
        return ("step", t.low, t.step)
    if t.kind == "int":
        return ("step", Decimal(0), Decimal(1))
    return None


def _covers_line(pieces: list[Piece], lo: Decimal, hi: Decimal) -> bool:
    """Do ``pieces`` together hold every number from ``lo`` to ``hi`` (an infinite end: every number
    on that side)? Everything below ``f`` is covered, and ``f`` itself if ``f_in``."""
    f, f_in = lo, lo.is_infinite()
    while not (f > hi or (f == hi and f_in) or f == INF):
        best = None
        for a, a_in, b, b_in in pieces:
            starts = a < f or (a == f and (a_in or f_in))
            if starts and (b > f or (b == f and b_in and not f_in)):
                if best is None or (b, b_in) > best:
                    best = (b, b_in)
        if best is None:
            return False
        f, f_in = best
    return True


def _on_grid(x: Decimal, origin: Decimal, step: Decimal, up: bool, included: bool):
    """The index ``k`` of the first grid point ``origin + k * step`` at or above ``x`` (``up``), or the
    last at or below it; past ``x`` itself when ``x`` is not ``included``."""
    if x.is_infinite():
        return x
    q = (x - origin) / step
    k = q.to_integral_value(rounding="ROUND_CEILING" if up else "ROUND_FLOOR")
    if not included and origin + k * step == x:
        k += 1 if up else -1
    return k


def _covers(pieces: list[Piece], lo: Decimal, hi: Decimal, grid) -> bool:
    if lo > hi:
        return False
    if grid is None:
        return _covers_line(pieces, lo, hi)
    if grid[0] == "values":
        values = [v for v in grid[1] if lo <= v <= hi]
        return bool(values) and all(any((a < v or (a == v and a_in)) and (v < b or (v == b and b_in))
                                        for a, a_in, b, b_in in pieces) for v in values)
    _, origin, step = grid
    first, last = _on_grid(lo, origin, step, True, True), _on_grid(hi, origin, step, False, True)
    if first > last:  # no value at all: nothing to say about `otherwise`
        return False
    spans = sorted((_on_grid(a, origin, step, True, a_in), _on_grid(b, origin, step, False, b_in))
                   for a, a_in, b, b_in in pieces)
    k = first  # every grid point below k is covered
    for a, b in spans:
        if k > last or k == INF:
            break
        if a > k:
            return False
        k = max(k, b + 1)
    return k > last or k == INF


def covered(cp, conds) -> ast.Expr | None:
    """The subject (``project.innovation``) whose every possible value makes one of ``conds`` hold, so
    that a band after them (``otherwise``) is never reached; None when that is not certain. Every
    possible value: in the subject's declared range (:func:`bounds`), on its step, whole for a whole
    number, one of its number set. A missing value stops a band table before ``otherwise`` anyway."""
    try:
        by_subject: list[tuple[ast.Expr, list[Piece]]] = []  # by equality: a node need not be hashable
        for cond in conds:
            for subject, piece in _pieces(cp, cond):
                found = next((ps for s, ps in by_subject if s == subject), None)
                if found is None:
                    by_subject.append((subject, [piece]))
                else:
                    found.append(piece)
        for subject, pieces in by_subject:
            lo, hi = _bounds(cp, subject)
            if _covers(pieces, lo, hi, _grid(cp, subject)):
                return subject
    except (InvalidOperation, ArithmeticError, RecursionError):  # pragma: no cover
        return None
    return None


def describe(cp, e) -> str | None:
    """``0..3`` (``0..10 step 2``, ``{0, 3, 7}``) for a field's declared range, for messages; None for
    anything else."""
    t = _field_type(cp, e)
    if t is None or t.low is None or t.high is None or getattr(t, "implicit_range", False):
        return None
    if t.values is not None:
        unit = f" {t.currency}" if t.kind == "money" and t.currency else ""
        return "{" + ", ".join(_plain(v) + unit for v in t.values) + "}"
    step = f" step {_plain(t.step)}" if t.step is not None else ""
    return f"{_plain(t.low)}..{_plain(t.high)}{step}"


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f")
