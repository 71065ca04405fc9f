"""Literals: the value a policy wrote down in place, read straight off the tree.

One reader serves everyone who needs the value of a literal without evaluating anything: the
checker (defaults, the values of a case's parameters), the binding of call parameters and the
folding of a weight's condition (``dsl/params.py``), the compiler's bands and keys
(``engine/compile/plan.py``, ``compiler.py``), the interval arithmetic of ``dsl/ranges.py`` and
the validator's defaults (``engine/compile/validate.py``, ``const_eval``).

What counts as a literal, and the Python value it stands for:

=================================  ==========================================================
``12``, ``0.25``, ``1_000_000``    the number as written, a :class:`~decimal.Decimal`
``30%``                            the fraction, a Decimal (``Decimal("0.30")``)
``200_000 EUR``                    the amount, a Decimal (the currency is the type's business)
``"Lecce"``                        the text, a :class:`str`
``2025-06-30``                     a :class:`datetime.date`
``2025-06-30 12:00``               a :class:`datetime.datetime`
``true``, ``false``                a :class:`bool`
``-x``                             ``x`` negated, when ``x`` is a number, a percentage or an
                                   amount literal (negated any number of times: ``- -5%``)
``{"A", "K"}``, ``{0, 5, 10}``     a :class:`frozenset` of the items' values, when every item is
                                   itself a literal (as the engine evaluates a set)
=================================  ==========================================================

Everything else is not a literal, and the reader says so with :data:`NOT_LITERAL` rather than
guessing: a name, ``param.x`` before the run's values are bound, arithmetic (``2 * 3``), ``not
true``, the negation of a text or a date, a duration (``3 years``), a set with a non-literal item.

With ``whole_as_int=True`` a number written without a decimal point (``12``, ``-3``; not
``12.0``, not an amount or a percentage) is an :class:`int`: the value it takes as application
data (a field's default, a dated table's value), as an application's JSON would give it.
"""
from __future__ import annotations

from decimal import Decimal

from . import ast

__all__ = ["NOT_LITERAL", "literal_value", "literal_number", "expect_literal"]


class _NotLiteral:
    """The type of :data:`NOT_LITERAL` (one instance; never a value a policy can write)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOT_LITERAL"

    def __reduce__(self):  # one instance, also through pickle
        return "NOT_LITERAL"


#: what :func:`literal_value` answers for an expression that is not a literal
NOT_LITERAL = _NotLiteral()

_SCALARS = (ast.String, ast.DateLit, ast.DateTimeLit, ast.Bool)


def literal_value(e, *, whole_as_int: bool = False):
    """The Python value of the literal ``e`` (see the module's table), or :data:`NOT_LITERAL`."""
    if isinstance(e, ast.Number):
        v = e.value
        if whole_as_int and v == v.to_integral_value() and "." not in str(v):
            return int(v)
        return v
    if isinstance(e, ast.Percent):
        return e.value
    if isinstance(e, ast.Money):
        return e.amount
    if isinstance(e, _SCALARS):
        return e.value
    if isinstance(e, ast.Unary) and e.op == "-":
        v = literal_value(e.operand, whole_as_int=whole_as_int)
        if isinstance(v, (Decimal, int)) and not isinstance(v, bool):
            return -v
        return NOT_LITERAL
    if isinstance(e, ast.SetLit):
        items = [literal_value(i, whole_as_int=whole_as_int) for i in e.items]
        if any(v is NOT_LITERAL for v in items):
            return NOT_LITERAL
        return frozenset(items)
    return NOT_LITERAL


def literal_number(e) -> Decimal | None:
    """The number a literal number, percentage or amount (or its negation) stands for; None for
    anything else, a text, a date, a set or an expression that is not a literal."""
    v = literal_value(e)
    return v if isinstance(v, Decimal) else None


def expect_literal(e, *, whole_as_int: bool = False):
    """:func:`literal_value` for a place where the checker already made sure of a literal (a default,
    a bound parameter): ``ValueError`` if ``e`` is not one after all."""
    v = literal_value(e, whole_as_int=whole_as_int)
    if v is NOT_LITERAL:
        raise ValueError(f"not a literal: {type(e).__name__}")
    return v
