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

The conventions of each language (separators, month names, how a date, an
amount, a percentage and an ordinal are written) are messages of its
catalogue (``format.*`` in :mod:`engine.text.i18n`), so a new language brings its
own. A regional tag such as ``"it-IT"`` or ``"en_GB"`` counts as its language;
a language with no catalogue raises :class:`ValueError`, as does a value that
is not a number (``None`` included), so a template never prints an empty
amount by accident.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

from babel import Locale

from engine.text import i18n
from engine.text.exact import decimal_of

__all__ = [
    "LANGUAGES",
    "format_date",
    "format_datetime",
    "format_exact",
    "format_money",
    "format_ordinal",
    "format_percent",
    "format_points",
    "normalize_lang",
    "to_decimal",
    "ExactNumber",
]

#: The languages bando writes: those with a message catalogue (adding one is a catalogue, no code:
#: docs/translating.md and :func:`engine.text.i18n.languages`).
LANGUAGES = i18n.languages()

_CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£"}

_CENT = Decimal("0.01")


def normalize_lang(lang: str) -> str:
    """The language of a tag (``"it"`` for ``"it-IT"``) when it has a catalogue, or raise ValueError.

    >>> normalize_lang("it-IT"), normalize_lang("EN_gb")
    ('it', 'en')
    """
    code = str(lang or "").replace("_", "-").split("-")[0].lower()
    known = i18n.languages()
    if code not in known:
        raise ValueError(f"unsupported language {lang!r}: expected one of {', '.join(known)}")
    return code


class _Conventions:
    """How one language writes numbers and dates (its catalogue's ``format.*`` messages)."""

    def __init__(self, lang):
        f = i18n.table(lang, "format")
        self.lang = lang
        group, point = f["group_sep"], f["decimal_sep"]
        # Decimal's own grouping writes "1,234.5": this turns it into the language's separators
        self.translate = None if (group, point) == (",", ".") else str.maketrans({",": group, ".": point})
        self.months = tuple(f[f"month.{m:02d}"] for m in range(1, 13))
        self.date, self.first_day, self.datetime = f["date"], f["first_day"], f["datetime"]
        self.money_symbol, self.money_code, self.percent = f["money_symbol"], f["money_code"], f["percent"]
        self.ordinal = {k[len("ordinal."):]: v for k, v in f.items() if k.startswith("ordinal.")}
        # the language's ordinal rule from CLDR (Babel): "one" for 1st, "two" for 2nd, "few" for 3rd…
        try:
            self.ordinal_form = Locale.parse(lang).ordinal_form
        except (ValueError, LookupError):  # a language CLDR does not know: its "other" form for every rank
            self.ordinal_form = lambda n: "other"

    def digits(self, text: str) -> str:
        return text.translate(self.translate) if self.translate is not None else text


@functools.lru_cache(maxsize=32)
def _conventions(lang: str) -> _Conventions:
    return _Conventions(normalize_lang(lang))


def to_decimal(value, what: str = "a number") -> Decimal:
    """Turn a decimal string, Decimal, int or float into an exact Decimal (:func:`engine.text.exact.decimal_of`).

    A float is read through ``str()`` (``0.1`` becomes ``Decimal("0.1")``), never
    through its binary value. Booleans, ``None``, NaN and infinities are refused.

    >>> to_decimal("40000.00"), to_decimal(72.5), to_decimal(3)
    (Decimal('40000.00'), Decimal('72.5'), Decimal('3'))
    """
    if value is None or isinstance(value, bool) or not isinstance(value, (Decimal, int, float, str)):
        kind = "" if value is None or isinstance(value, (bool, str)) else type(value).__name__ + " "
        raise ValueError(f"expected {what}, got {kind}{value!r}")
    if isinstance(value, Decimal) and not value.is_finite() or isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected {what} (finite), got {value!r}")
    try:
        result = decimal_of(value)
    except ValueError:
        result = None
    if result is None:
        raise ValueError(f"expected {what}, got {value!r}")
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
    text = _conventions(lang).digits(format(abs(value), ",f"))
    return "-" + text if value.is_signed() and value != 0 else text


_UNITS = {0: Decimal(1), 2: _CENT}


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
    conv = _conventions(lang)
    lang = conv.lang
    currency = (currency or "EUR").upper()
    symbol = _CURRENCY_SYMBOLS.get(currency)
    # the pattern around the number, split once: "{symbol} {number}" -> "€ " + number + ""
    pattern = conv.money_code.replace("{code}", currency) if symbol is None else \
        conv.money_symbol.replace("{symbol}", symbol)
    prefix, _, suffix = pattern.partition("{number}")
    digits = conv.digits

    def money(value) -> str:
        if value.__class__ is not Decimal:
            value = to_decimal(value, "an amount of money")
        if value.is_finite() and value.adjusted() < 20:
            value = value.quantize(_CENT, ROUND_HALF_UP)  # inside 28 digits: cannot overflow
            text = digits(format(abs(value), ",f"))
        elif not value.is_finite():  # abs() of a signalling NaN would raise InvalidOperation
            raise ValueError(f"expected an amount of money (finite), got {value!r}")
        else:
            text = _number(abs(value), lang, places=2)
        text = prefix + text + suffix
        return ("-" + text) if value.is_signed() and value != 0 else text

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
    conv = _conventions(lang)
    day = _to_date(value)
    number = conv.first_day if day.day == 1 else str(day.day)
    return conv.date.format(day=number, month=conv.months[day.month - 1], year=day.year)


def format_datetime(value, lang: str) -> str:
    """Format a moment: the date in words, then the time when it is not midnight.

    >>> format_datetime("2013-12-31T12:00:00", "it"), format_datetime("2013-12-31T12:00", "en")
    ('31 dicembre 2013, ore 12:00', '31 December 2013, 12:00')
    >>> format_datetime("2013-12-31", "it")
    '31 dicembre 2013'
    """
    conv = _conventions(lang)
    day = format_date(value, lang)
    moment = None
    if isinstance(value, _dt.datetime):
        moment = value
    elif isinstance(value, str) and len(value.strip()) > 10:
        moment = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment is None or moment.time() == _dt.time(0, 0):
        return day
    clock = moment.strftime("%H:%M")
    return conv.datetime.format(date=day, time=clock)


def format_percent(value, lang: str) -> str:
    """Format a share given as a 0..1 decimal: ``80 %`` (it), ``80%`` (en).

    At most two decimals are kept, rounded half up, trailing zeros dropped.

    >>> format_percent("0.3333", "it"), format_percent(1, "en")
    ('33,33 %', '100%')
    """
    conv = _conventions(lang)
    number = _number(to_decimal(value, "a share") * 100, conv.lang, places=None)
    return conv.percent.format(number=number)


def format_points(value, lang: str) -> str:
    """Format a score: ``72,5`` (it), ``72.5`` (en), ``72`` for a whole number.

    At most two decimals are kept, rounded half up, trailing zeros dropped.

    >>> format_points("72.50", "it"), format_points(1250, "en")
    ('72,5', '1,250')
    """
    if type(value) is Decimal and value.is_finite():  # a report formats the same few points thousands of times
        return _decimal_points(value, lang)
    conv = _conventions(lang)
    if type(value) is int:  # counts and whole points: no Decimal needed
        text = conv.digits(format(abs(value), ","))
        return "-" + text if value < 0 else text
    return _number(to_decimal(value, "a score"), conv.lang, places=None)


@functools.lru_cache(maxsize=4096)
def _decimal_points(value: Decimal, lang: str) -> str:
    # equal Decimals (4, 4.0, 4.00) share an entry: they format alike, trailing zeros being dropped
    return _number(to_decimal(value, "a score"), _conventions(lang).lang, places=None)


def format_ordinal(value, lang: str) -> str:
    """Format a rank as an ordinal: ``3º`` (it), ``3rd`` (en).

    >>> [format_ordinal(n, "en") for n in (1, 2, 3, 4, 11, 12, 13, 21, 102)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '102nd']
    """
    conv = _conventions(lang)
    number = to_decimal(value, "a rank")
    if number != number.to_integral_value():
        raise ValueError(f"expected a whole rank, got {value!r}")
    n = int(number)
    form = conv.ordinal_form(abs(n))
    return conv.ordinal.get(form, conv.ordinal["other"]).format(n=n)


def format_exact(value, lang: str, kind: str = "number", currency: str = "EUR") -> str:
    """A number with every digit it has, the way ``lang`` writes it: what a data problem quotes.

    ``kind`` is the field's: ``"number"`` (``1.000``, ``0,125`` in Italian; ``1,000``, ``0.125`` in
    English), ``"money"`` (at least the cents: ``€ 1.000,00``, ``€1,000.005``) or ``"percent"``
    (a 0..1 share: ``12,5 %``). Nothing is rounded away: a message that refuses ``0.125`` must not
    say ``0,13``.

    >>> format_exact(1000, "it"), format_exact("0.5", "it"), format_exact("1000", "en", "money")
    ('1.000', '0,5', '€1,000.00')
    >>> format_exact("2500.005", "it", "money"), format_exact("0.125", "en", "percent")
    ('€ 2.500,005', '12.5%')
    """
    conv = _conventions(lang)
    v = to_decimal(value, "a number")
    if kind == "money":
        cents = v.quantize(_CENT, rounding=ROUND_DOWN) if v.adjusted() < 20 else v
        text = money_formatter(conv.lang, currency)(cents)
        if cents != v:  # the digits beyond the cent, written out after the cents
            text += format(abs(v).normalize(), "f").split(".")[1][2:]
        return text
    if kind == "percent":
        v = v * 100
    if v == v.to_integral_value():
        v = v.quantize(Decimal(1))
    else:
        v = v.normalize()
    text = conv.digits(format(abs(v), ",f"))
    text = "-" + text if v < 0 else text
    return conv.percent.format(number=text) if kind == "percent" else text


class ExactNumber(i18n.Message):
    """A number in a message, written the way the message's language writes it (:func:`format_exact`).

    A slot of a :class:`~engine.text.i18n.Message` that is itself a message is rendered in the
    message's language; as a ``str`` it is the English text (the machine ``message`` of a result).
    """

    def __new__(cls, value, kind: str = "number", currency: str = "EUR"):
        self = str.__new__(cls, format_exact(value, i18n.REFERENCE, kind, currency))
        self.msgid, self.slots = None, {}
        self.value, self.kind, self.currency = value, kind, currency
        return self

    def render(self, lang: str) -> str:
        return format_exact(self.value, lang, self.kind, self.currency)

    def __reduce__(self):
        return (ExactNumber, (self.value, self.kind, self.currency))
