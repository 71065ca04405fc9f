"""The numbers bando accepts at all, checked *before* anything is computed with them.

Every path that turns outside text or data into a number (a policy's literals
in the checker, application data in the validator and the fused fast path,
CSV and Excel cells in the batch readers, ``bando score --budget``) asks
:func:`number_problem` first. The limits follow from the engine's arithmetic:
rules compute in Python's default decimal context, 28 significant digits, so

* at most :data:`MAX_DIGITS` (28) significant digits: a number with more could
  not even be added exactly;
* below :data:`LIMIT` (10^18) in absolute value: room for cents, shares and a
  few multiplications inside 28 digits (``int`` fields too: at most 18 digits);
* zero, or at least 10^-28 in absolute value (:data:`SMALLEST`): a number like
  ``1e-999999999`` is no amount, and writing it out would take a gigabyte;
* finite: no NaN, Infinity or sNaN.

Why before: ``int(Decimal("1e99999999"))`` builds a hundred-million-digit
integer (``int()`` of a long digit string is quadratic, and Python refuses
beyond 4,300 digits with a ValueError), ``Decimal("99e999999") - 1`` raises
``decimal.Overflow``, and formatting ``1e-999999999`` writes a billion zeros.
Reading the exponent and the digit count of a Decimal is cheap
(:meth:`~decimal.Decimal.adjusted` is constant time, building the Decimal from
text is linear), so the check costs nothing next to the harm it prevents.

Digits other than ASCII 0-9 (Arabic-Indic ``١٢``, fullwidth ``１５``...) are not
numbers here: :func:`foreign_digits` finds them so that messages can say to
use 0-9 (``int("١٢")`` and ``Decimal("１５")`` would otherwise accept them).
"""
from __future__ import annotations

import re
from decimal import Decimal

#: significant digits of the engine's decimal arithmetic (the default context's precision)
MAX_DIGITS = 28
#: numbers must be smaller than this in absolute value
LIMIT = Decimal(10) ** 18
LIMIT_TEXT = "10^18"
#: whole numbers: at most this many digits (``|n| < 10^18``)
MAX_INT_DIGITS = 18
INT_LIMIT = 10 ** MAX_INT_DIGITS
#: nonzero numbers must be at least this in absolute value (the adjusted exponent at least -28)
MIN_ADJUSTED = -MAX_DIGITS
MAX_ADJUSTED = MAX_INT_DIGITS - 1
SMALLEST = Decimal(1).scaleb(MIN_ADJUSTED)
SMALLEST_TEXT = "10^-28"

#: why a number is refused (keys of :func:`number_problem`'s answer)
TOO_LARGE, TOO_SMALL, TOO_MANY_DIGITS, NOT_FINITE = "too large", "too small", "too many digits", "not finite"


def number_problem(d: Decimal) -> str | None:
    """None if ``d`` is a number bando can hold, else why not (:data:`TOO_LARGE`, ...).

    Constant time for the magnitude; the digit count reads the coefficient
    only when the magnitude is in range.
    """
    if not d.is_finite():
        return NOT_FINITE
    adjusted = d.adjusted()
    if adjusted > MAX_ADJUSTED:
        return TOO_LARGE
    if adjusted < MIN_ADJUSTED:
        return TOO_SMALL if d else TOO_MANY_DIGITS  # 0E-40: forty zeros after the point
    # adjusted = exponent + digits - 1: the digits fit when the exponent is at least adjusted - 27
    if d.as_tuple().exponent < adjusted - (MAX_DIGITS - 1):
        return TOO_MANY_DIGITS
    return None


def int_problem(n: int) -> str | None:
    """None if the whole number ``n`` fits (at most 18 digits), else :data:`TOO_LARGE`."""
    return None if -INT_LIMIT < n < INT_LIMIT else TOO_LARGE


def float_problem(x: float) -> str | None:
    """:func:`number_problem` for a float (a float has at most 17 significant digits).

    For floats, ``abs(x) >= 1e-28`` holds exactly when its shortest repr is at
    least 10^-28 (rounding to the nearest float is monotone, and ``1e-28`` is
    its own shortest repr), so the fast path can test floats with comparisons.
    """
    if x != x or x in (float("inf"), float("-inf")):
        return NOT_FINITE
    if not -1e18 < x < 1e18:
        return TOO_LARGE
    if x != 0.0 and -1e-28 < x < 1e-28:
        return TOO_SMALL
    return None


def digit_count_problem(digits: str) -> str | None:
    """For a string of ASCII digits about to become an ``int``: :data:`TOO_LARGE` if it has more than 18
    significant digits (leading zeros do not count), checked before ``int()`` reads it."""
    if len(digits) <= MAX_INT_DIGITS:
        return None
    return TOO_LARGE if len(digits.lstrip("0")) > MAX_INT_DIGITS else None


def foreign_digits(text: str) -> bool:
    """True if ``text`` holds a decimal digit of another script (``١٢``, ``１５``, ``߁``)."""
    if text.isascii():
        return False
    return any(c.isdigit() and not c.isascii() for c in text)


def describe(problem: str) -> str:
    """The limit a refused number broke, in words for a message."""
    return {
        TOO_LARGE: f"below {LIMIT_TEXT}",
        TOO_SMALL: f"of at least {SMALLEST_TEXT} (or 0)",
        TOO_MANY_DIGITS: f"of at most {MAX_DIGITS} significant digits",
        NOT_FINITE: "that is finite",
    }[problem]


#: a dot used the Italian way, to group thousands: `400.000`, `1.500.000` (a first group of 1 to 3
#: digits that is not 0, then groups of exactly three); `0.125` and `12.50` are decimals
_THOUSANDS = re.compile(r"[1-9]\d{0,2}(?:\.\d{3})+")


def thousands_grouping(text: str) -> str | None:
    """``400_000`` for ``400.000`` (a number written with dots between groups of thousands), else None."""
    text = text.replace("_", "")
    if _THOUSANDS.fullmatch(text):
        return text.replace(".", "_")
    return None
