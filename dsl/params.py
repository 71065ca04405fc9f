"""Call parameters: values fixed for a whole run (``parameters { … }``, read as ``param.action``).

A parameter is a constant of the run, not a fact of an application: the run's values are bound
into the policy *before* it is checked and compiled (:func:`bind`), so every later stage sees a
literal where the policy wrote ``param.action`` and needs nothing of its own to handle it. The
checker first checks the policy as written (types of ``param.x``, where a parameter may be used);
:func:`bind` then writes the values in and the checker checks the result again.

A weight's ``if`` condition reads only parameters and constants; after binding it is a condition on
literals, and :func:`bind` folds it to keep the weight or drop it (``fold``: comparisons, ``in`` a set,
``and``/``or``/``not`` — the forms :func:`condition_problem` lets through).
"""
from __future__ import annotations

import datetime as _dt
import difflib
import re
from decimal import Decimal, InvalidOperation

import attrs

from . import ast
from .literals import expect_literal

#: the name through which a policy reads its parameters: ``param.action``
PARAM = "param"
#: the kinds a parameter may have (a list or a record is not a value a run is fixed at)
KINDS = ("text", "enum", "int", "decimal", "percent", "money", "bool", "date", "datetime")
_LITERALS = (ast.Number, ast.Percent, ast.Money, ast.String, ast.DateLit, ast.DateTimeLit, ast.Bool)
_COMPARE = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def param_ref(e) -> str | None:
    """The parameter ``e`` reads (``param.action`` -> ``"action"``), None for any other expression."""
    if isinstance(e, ast.Attr) and isinstance(e.obj, ast.Name) and e.obj.id == PARAM:
        return e.name
    return None


def condition_problem(e) -> ast.Expr | None:
    """The first part of a weight's condition that is not a parameter, a constant, a comparison, a
    membership in a set or ``and``/``or``/``not`` of those (None: the condition can be decided per run)."""
    stack = [e]
    while stack:
        x = stack.pop()
        if param_ref(x) is not None or isinstance(x, _LITERALS):
            continue
        if isinstance(x, ast.Binary) and x.op in ("and", "or", "in", "not in", *_COMPARE):
            stack.extend((x.left, x.right))
        elif isinstance(x, ast.Unary) and x.op in ("not", "-"):
            stack.append(x.operand)
        elif isinstance(x, ast.SetLit):
            stack.extend(x.items)
        else:
            return x
    return None


def fold(e) -> bool:
    """The truth of a bound weight condition (only the forms :func:`condition_problem` accepts)."""
    if isinstance(e, ast.Bool):
        return e.value
    if isinstance(e, ast.Unary) and e.op == "not":
        return not fold(e.operand)
    if isinstance(e, ast.Binary):
        if e.op == "and":
            return fold(e.left) and fold(e.right)
        if e.op == "or":
            return fold(e.left) or fold(e.right)
        if e.op in ("in", "not in"):
            inside = expect_literal(e.left) in {expect_literal(i) for i in e.right.items}
            return inside if e.op == "in" else not inside
        return _COMPARE[e.op](expect_literal(e.left), expect_literal(e.right))
    raise ValueError("not a condition on parameters")


# --- values ------------------------------------------------------------------------------------

def _number(text: str) -> Decimal | None:
    if not re.fullmatch(r"-?\d[\d_]*(\.\d+)?", text):
        return None
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:  # pragma: no cover - the pattern above is a number
        return None


def from_text(text: str, t) -> tuple[object, str | None]:
    """A value given on the command line or in a query (``IA``, ``500_000``, ``500000 EUR``, ``30%``,
    ``2025-06-30``, ``true``) read as type ``t``: ``(value, None)`` or ``(None, what was expected)``."""
    s = text.strip()
    if t.kind in ("text", "enum"):
        if len(s) >= 2 and s[0] == s[-1] == '"':
            s = s[1:-1]
        return s, None
    if t.kind == "bool":
        if s in ("true", "false"):
            return s == "true", None
        return None, "`true` or `false`"
    if t.kind == "date":
        try:
            return _dt.date.fromisoformat(s), None
        except ValueError:
            return None, "a date such as 2025-06-30"
    if t.kind == "datetime":
        try:
            return _dt.datetime.fromisoformat(s.replace(" ", "T")), None
        except ValueError:
            return None, "a date and time such as 2025-06-30 12:00"
    if t.kind == "money":
        m = re.fullmatch(r"(\S+)(?:\s*([A-Z]{3}))?", s)
        amount = _number(m.group(1)) if m else None
        if amount is None or (m.group(2) and m.group(2) != t.currency):
            return None, f"an amount in {t.currency}, e.g. `500_000` or `500_000 {t.currency}`"
        return amount, None
    if t.kind == "percent":
        v = _number(s[:-1]) if s.endswith("%") else None
        if v is None:
            return None, "a percentage such as `30%`"
        return v / 100, None
    v = _number(s)
    if v is None or (t.kind == "int" and v != v.to_integral_value()):
        return None, "a whole number" if t.kind == "int" else "a number"
    return v, None


def fit_problem(value, t) -> str | None:
    """Why ``value`` is not a value of the parameter type ``t`` (None: it is)."""
    if t.kind == "enum":
        if value not in t.options:
            listed = ", ".join(f'"{o}"' for o in t.options)
            close = difflib.get_close_matches(str(value), t.options, n=1)
            return f"expected one of {listed}" + (f' (did you mean "{close[0]}"?)' if close else "")
        return None
    if isinstance(value, Decimal) and t.low is not None and not t.implicit_range:
        if not t.low <= value <= t.high:
            return f"expected a value in {_plain(t.low)}..{_plain(t.high)}"
        if t.step is not None and (value - t.low) % t.step != 0:
            return f"expected a value on the step of {_plain(t.step)} from {_plain(t.low)}"
    return None


def _plain(d: Decimal) -> str:
    return format(d.normalize(), "f") if d == d.to_integral_value() else str(d)


def literal(value, t, span=None) -> ast.Expr:
    """The literal that stands for ``value`` of type ``t`` in a bound policy."""
    if t.kind == "money":
        return ast.Money(value, t.currency, span=span)
    if t.kind == "percent":
        return ast.Percent(value, span=span)
    if t.kind in ("int", "decimal"):
        return ast.Number(value, span=span)
    if t.kind == "bool":
        return ast.Bool(value, span=span)
    if t.kind == "date":
        return ast.DateLit(value, span=span)
    if t.kind == "datetime":
        return ast.DateTimeLit(value, span=span)
    return ast.String(value, span=span)


# --- binding -------------------------------------------------------------------------------------

def bind(policy: ast.Policy, values: dict) -> ast.Policy:
    """``policy`` with every ``param.x`` replaced by the literal ``values[x]`` (its span kept, so a
    message still points where the policy reads the parameter) and every weight condition decided.

    Rebuilt without recursion; a node none of whose children changed is kept as it is."""
    done: dict[int, object] = {}
    stack = [(policy, False)]
    while stack:
        n, expanded = stack.pop()
        if id(n) in done:
            continue
        name = param_ref(n)
        if name is not None:
            done[id(n)] = attrs.evolve(values[name], span=n.span) if name in values else n
            continue
        kids = list(ast.children(n))
        if not expanded and kids:
            stack.append((n, True))
            stack.extend((k, False) for k in kids)
            continue
        done[id(n)] = _rebuilt(n, done)
    return done[id(policy)]


def _rebuilt(n, done):
    changes = {}
    for name in ast.child_fields(type(n)) or ():
        v = getattr(n, name)
        if isinstance(v, tuple):
            new = tuple(_swap(x, done) for x in v)
            if any(a is not b for a, b in zip(new, v)):
                changes[name] = new
        elif id(v) in done and done[id(v)] is not v:
            changes[name] = done[id(v)]
    if isinstance(n, ast.Criterion):
        for key in ("weight", "ranking_weight"):
            cond = changes.get(key + "_if", getattr(n, key + "_if"))
            if cond is not None and condition_problem(cond) is None and not any(
                    param_ref(x) is not None for x in ast.walk(cond)):
                changes[key + "_if"] = None
                if not fold(cond):
                    changes[key] = None
    return attrs.evolve(n, **changes) if changes else n


def _swap(x, done):
    if isinstance(x, tuple):  # (name, expr) pairs: a case's `with`, a `points` expectation
        new = tuple(_swap(y, done) for y in x)
        return new if any(a is not b for a, b in zip(new, x)) else x
    return done.get(id(x), x)
