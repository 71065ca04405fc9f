"""Locale-aware formatting of money, dates, percentages and points.

These are the conventions an Italian public body or an EU secretariat uses in
its letters and reports. They never go through float arithmetic: every number
is turned into an exact :class:`decimal.Decimal` first (a float is read through
its shortest ``str`` form, as docs/contracts.md prescribes for JSON numbers).

>>> format_money("1234.5", "it")
'€ 1.234,50'
>>> format_money(1234, "en")
'€1,234.00'
>>> format_date("2026-11-25", "it")
'25 novembre 2026'
>>> format_date("2026-11-01T09:30:00", "en")
'1 November 2026'
>>> format_percent("0.8", "it"), format_percent("0.125", "en")
('80 %', '12.5%')
>>> format_points(72.5, "it"), format_points(72, "en")
('72,5', '72')
>>> format_ordinal(3, "it"), format_ordinal(22, "en")
('3º', '22nd')

Only Italian (``"it"``) and English (``"en"``) are known; a regional tag such
as ``"it-IT"`` or ``"en_GB"`` counts as its language. Anything else raises
:class:`ValueError`, as does a value that is not a number (``None`` included),
so a template never prints an empty amount by accident.
"""

from __future__ import annotations

import datetime as _dt
import functools
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

__all__ = [
    "LANGUAGES",
    "format_date",
    "format_datetime",
    "format_money",
    "format_ordinal",
    "format_percent",
    "format_points",
    "normalize_lang",
    "to_decimal",
]

#: Languages the formatters know.
LANGUAGES = ("it", "en")

# thousands separator, decimal separator
_SEPARATORS = {"it": (".", ","), "en": (",", ".")}

_MONTHS = {
    "it": ("gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio",
           "agosto", "settembre", "ottobre", "novembre", "dicembre"),
    "en": ("January", "February", "March", "April", "May", "June", "July",
           "August", "September", "October", "November", "December"),
}

_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}

_CENT = Decimal("0.01")


def normalize_lang(lang: str) -> str:
    """Return ``"it"`` or ``"en"`` for a language tag, or raise ValueError.

    >>> normalize_lang("it-IT"), normalize_lang("EN_gb")
    ('it', 'en')
    """
    code = str(lang or "").replace("_", "-").split("-")[0].lower()
    if code not in LANGUAGES:
        raise ValueError(f"unsupported language {lang!r}: expected one of {', '.join(LANGUAGES)}")
    return code


def to_decimal(value, what: str = "a number") -> Decimal:
    """Turn a decimal string, Decimal, int or float into an exact Decimal.

    A float is read through ``str()`` (``0.1`` becomes ``Decimal("0.1")``), never
    through its binary value. Booleans, ``None``, NaN and infinities are refused.

    >>> to_decimal("40000.00"), to_decimal(72.5), to_decimal(3)
    (Decimal('40000.00'), Decimal('72.5'), Decimal('3'))
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected {what}, got {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (int, float)):
        result = Decimal(str(value))
    elif isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"expected {what}, got {value!r}") from None
    else:
        raise ValueError(f"expected {what}, got {type(value).__name__} {value!r}")
    if not result.is_finite():
        raise ValueError(f"expected {what} (finite), got {value!r}")
    return result


def _number(value: Decimal, lang: str, *, places: int | None) -> str:
    """Format ``value`` with the language's separators.

    ``places=None`` keeps the significant decimals only (trailing zeros dropped,
    at most two after rounding half up); an int ``places`` pads or rounds to it.
    The sign is a plain hyphen-minus; zero is never negative.
    """
    if not value.is_finite():
        # no sentence may say "€ NaN": the engine never makes one, so one reaching here is a template's doing
        raise ValueError(f"expected a number (finite), got {value!r}")
    unit = _CENT if places is None else _UNITS.get(places) or Decimal(1).scaleb(-places)
    if value.adjusted() < 20:
        # well inside the default 28 digits: quantize cannot overflow (explanations format many numbers)
        value = value.quantize(unit, rounding=ROUND_HALF_UP)
        if places is None:
            value = value.normalize()
    else:
        with localcontext() as ctx:  # enough precision for any amount
            ctx.prec = max(28, value.adjusted() + 12) if value else 28
            value = value.quantize(unit, rounding=ROUND_HALF_UP)
            if places is None:
                value = value.normalize()
    # Decimal's own grouping (","), then the language's separators
    text = format(abs(value), ",f")
    if lang == "it":
        text = text.translate(_TO_ITALIAN)
    return "-" + text if value.is_signed() and value != 0 else text


_UNITS = {0: Decimal(1), 2: _CENT}
_TO_ITALIAN = str.maketrans({",": ".", ".": ","})


def format_money(value, lang: str, currency: str = "EUR") -> str:
    """Format an amount of money, rounded half up to the cent.

    Italian puts the symbol first with a space (``€ 1.234,56``), English glues
    it to the number (``€1,234.56``). A currency without a known symbol is
    written as its ISO code, followed by a space in both languages.

    >>> format_money("-1234567.891", "it")
    '-€ 1.234.567,89'
    >>> format_money("0.005", "en"), format_money("250", "en", "CHF")
    ('€0.01', 'CHF 250.00')
    """
    return money_formatter(lang, currency)(value)


@functools.lru_cache(maxsize=64)
def money_formatter(lang: str, currency: str = "EUR"):
    """``format_money`` for one language and currency, as a function of the amount alone.

    Explanations and letters format thousands of amounts in the same
    language: the language and symbol are settled once here.

    >>> money_formatter("it")(Decimal("-0.004"))
    '€ 0,00'
    """
    lang = lang if lang in _SEPARATORS else normalize_lang(lang)
    currency = (currency or "EUR").upper()
    symbol = _CURRENCY_SYMBOLS.get(currency)
    if symbol is None:
        prefix = f"{currency} "
    else:
        prefix = f"{symbol} " if lang == "it" else symbol
    italian = lang == "it"

    def money(value) -> str:
        if value.__class__ is not Decimal:
            value = to_decimal(value, "an amount of money")
        if value.is_finite() and value.adjusted() < 20:
            value = value.quantize(_CENT, ROUND_HALF_UP)  # inside 28 digits: cannot overflow
            text = format(abs(value), ",f")
            if italian:
                text = text.translate(_TO_ITALIAN)
        elif not value.is_finite():  # abs() of a signalling NaN would raise InvalidOperation
            raise ValueError(f"expected an amount of money (finite), got {value!r}")
        else:
            text = _number(abs(value), lang, places=2)
        return ("-" + prefix + text) if value.is_signed() and value != 0 else prefix + text

    return money


def _to_date(value) -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) == 10:
                return _dt.date.fromisoformat(text)
            return _dt.datetime.fromisoformat(text.replace("Z", "+00:00")).date()
        except ValueError:
            pass
    raise ValueError(f"expected a date (ISO text, date or datetime), got {value!r}")


def format_date(value, lang: str) -> str:
    """Format a date in words: ``25 novembre 2026`` / ``25 November 2026``.

    Accepts ISO text (``2026-11-25`` or ``2026-11-25T09:30:00``), ``date`` or
    ``datetime``; a time of day is dropped. Italian writes the first day of the
    month as an ordinal, as official documents do (``1º gennaio 2026``).

    >>> format_date("2026-01-01", "it"), format_date("2026-01-01", "en")
    ('1º gennaio 2026', '1 January 2026')
    """
    lang = lang if lang in _SEPARATORS else normalize_lang(lang)
    day = _to_date(value)
    number = "1º" if lang == "it" and day.day == 1 else str(day.day)
    return f"{number} {_MONTHS[lang][day.month - 1]} {day.year}"


def format_datetime(value, lang: str) -> str:
    """Format a moment: the date in words, then the time when it is not midnight.

    >>> format_datetime("2013-12-31T12:00:00", "it"), format_datetime("2013-12-31T12:00", "en")
    ('31 dicembre 2013, ore 12:00', '31 December 2013, 12:00')
    >>> format_datetime("2013-12-31", "it")
    '31 dicembre 2013'
    """
    lang = lang if lang in _SEPARATORS else normalize_lang(lang)
    day = format_date(value, lang)
    moment = None
    if isinstance(value, _dt.datetime):
        moment = value
    elif isinstance(value, str) and len(value.strip()) > 10:
        moment = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment is None or moment.time() == _dt.time(0, 0):
        return day
    clock = moment.strftime("%H:%M")
    return f"{day}, ore {clock}" if lang == "it" else f"{day}, {clock}"


def format_percent(value, lang: str) -> str:
    """Format a share given as a 0..1 decimal: ``80 %`` (it), ``80%`` (en).

    At most two decimals are kept, rounded half up, trailing zeros dropped.

    >>> format_percent("0.3333", "it"), format_percent(1, "en")
    ('33,33 %', '100%')
    """
    lang = lang if lang in _SEPARATORS else normalize_lang(lang)
    number = _number(to_decimal(value, "a share") * 100, lang, places=None)
    return f"{number} %" if lang == "it" else f"{number}%"


def format_points(value, lang: str) -> str:
    """Format a score: ``72,5`` (it), ``72.5`` (en), ``72`` for a whole number.

    At most two decimals are kept, rounded half up, trailing zeros dropped.

    >>> format_points("72.50", "it"), format_points(1250, "en")
    ('72,5', '1,250')
    """
    lang = lang if lang in _SEPARATORS else normalize_lang(lang)
    if type(value) is int:  # counts and whole points: no Decimal needed
        text = format(abs(value), ",")
        if lang == "it":
            text = text.translate(_TO_ITALIAN)
        return "-" + text if value < 0 else text
    return _number(to_decimal(value, "a score"), lang, places=None)


def format_ordinal(value, lang: str) -> str:
    """Format a rank as an ordinal: ``3º`` (it), ``3rd`` (en).

    >>> [format_ordinal(n, "en") for n in (1, 2, 3, 4, 11, 12, 13, 21, 102)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '102nd']
    """
    lang = lang if lang in _SEPARATORS else normalize_lang(lang)
    number = to_decimal(value, "a rank")
    if number != number.to_integral_value():
        raise ValueError(f"expected a whole rank, got {value!r}")
    n = int(number)
    if lang == "it":
        return f"{n}º"
    if 10 <= abs(n) % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(abs(n) % 10, "th")
    return f"{n}{suffix}"
