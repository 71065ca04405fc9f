"""Exact numbers between bando and its outputs: one place to read and write them.

Rules compute on :class:`~decimal.Decimal`; files and JSON carry numbers as
text or JSON numbers. Everything that turns one into the other after the
rules have run (results, summaries, spreadsheets, the report, letters, the
HTTP API) goes through these functions, so a number is written the same way
everywhere and read back exactly.

Reading *untrusted* input is not here: application data goes through the
validator (:func:`engine.compile.validate.to_decimal`), which checks the limits of
:mod:`dsl.numbers` and says what was expected, and batch cells through the
batch readers, which also know the decimal comma.

>>> decimal_of(72.5), decimal_of("40000.00"), decimal_of(None)
(Decimal('72.5'), Decimal('40000.00'), None)
>>> json_number(Decimal("20.00")), json_number(Decimal("72.50")), money_text(Decimal("10"))
(20, 72.5, '10.00')
>>> plain(Decimal("1E+3")), exact_json(Decimal("0.250")), number_text(Decimal("72.50"))
('1000', '0.25', '72.5')
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

_CENT = Decimal("0.01")
_ONE = Decimal(1)


def decimal_of(value: Any) -> Decimal | None:
    """A number of an output (JSON number, decimal text, Decimal, int) as an exact Decimal.

    ``None`` and ``""`` are no number (None). A float is read through its
    shortest text (``0.1`` is ``Decimal("0.1")``), never its binary value.
    Booleans, NaN and infinities are refused with ValueError: an output never
    holds them, so meeting one is a bug to report, not a value to print.
    """
    if value is None or value == "":
        return None
    cls = value.__class__
    if cls is Decimal:
        d = value
    elif cls is bool:
        raise ValueError("a boolean is not a number")
    elif cls is int:
        return Decimal(value)
    elif cls is float:
        d = Decimal(repr(value))
    else:
        try:
            d = Decimal(str(value).strip().replace("_", ""))
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return d


def plain(d: Decimal) -> str:
    """Plain positional text keeping the digits it has (``"40000.00"``, ``"72.5"``, never ``"1E+3"``)."""
    text = format(d, "f")
    return "0" if text == "-0" else text


def number_text(value: Any) -> str:
    """A score or points as plain text without useless zeros (``"20"``, ``"72.5"``); ``""`` for none."""
    d = decimal_of(value)
    if d is None:
        return ""
    if d == d.to_integral_value():
        return plain(d.quantize(_ONE))
    return plain(d.normalize())


def json_number(d) -> int | float | None:
    """A Decimal as a JSON number: an int when whole, else a float with the same shortest text."""
    if d is None:
        return None
    if d.__class__ is int:
        return d
    d = Decimal(d)
    if d == d.to_integral_value():
        return int(d)
    return float(format(d.normalize(), "f"))


def exact_json(d) -> int | str | None:
    """A Decimal for JSON where every digit counts (the values an explanation quotes): an int when
    whole, else its exact text (``"0.25"``), which a float could round."""
    if d is None:
        return None
    whole = d.to_integral_value()
    return int(whole) if d == whole else format(d.normalize(), "f")


def money_text(d) -> str | None:
    """An amount as exact text with at least the cents (``"40000.00"``, ``"16666.665"``); None stays None."""
    if d is None:
        return None
    d = Decimal(d)
    if not d:
        d = abs(d)  # a computed -0 is no negative amount: never write "-0.00"
    if d == d.to_integral_value() or d.as_tuple().exponent >= -2:
        return format(d.quantize(_CENT), "f")
    return format(d.normalize(), "f")
