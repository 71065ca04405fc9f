"""Application data -> typed values, or every problem with its path.

The validator is built once per policy from the checked input schema, as
generated Python source (one function per record type). It never stops at the
first problem: the applicant (or the evaluator fixing a batch) gets all of
them, each with a path such as ``network.firms[3].employees``.

Numbers arrive as JSON numbers or strings and become :class:`~decimal.Decimal`
without binary rounding: a ``float`` is read through its shortest ``repr``
(``0.1`` is ``Decimal("0.1")``), which is the number the JSON text said.
Numbers must be within the limits of :mod:`dsl.numbers` (at most 28 significant
digits, below 10^18, whole numbers of at most 18 digits), checked before
anything is computed with them; digits other than ASCII 0-9 are refused.
Datetimes with a UTC offset are converted to the call's time zone and made
naive (:func:`naive_datetime`); texts with lone surrogates are refused.

The compiled fast path (``Compiler.build_fast``) reuses the pieces of this
module: :func:`fast_branches` (inline tests for the common JSON types),
:meth:`Validator.converter` (the exact converter for everything else) and
:func:`key_literal` (comparing JSON numbers with decimal constants exactly
without building Decimals).
"""
from __future__ import annotations

import datetime as _dt
import difflib
import re
from collections.abc import Mapping
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dsl import numbers
from dsl.literals import expect_literal
from dsl.numbers import int_problem
from dsl.types import RecordInfo, Type

from engine.text.formatting import ExactNumber
from engine.text.i18n import Joined, Message, render, text

# ASCII digits only: `\d` would also match other scripts' digits ("١٢", "１５"), which Decimal() and int() accept
_NUM = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
_INT = re.compile(r"^[+-]?[0-9]+$")


class Problem(Exception):
    """What is wrong with one value; ``reason`` is set when a number was refused by :mod:`dsl.numbers`."""

    def __init__(self, message, reason=None):
        self.message = message
        self.reason = reason


def _show(value):
    """A value as a message quotes it: short, and always writable as UTF-8 (lone surrogates escaped)."""
    if isinstance(value, str):
        s = value if len(value) <= 40 else value[:40] + "…"
        return Message("validate.given.text", value=s.encode("utf-8", "backslashreplace").decode("utf-8"))
    if value is None:
        return Message("validate.given.null")
    if isinstance(value, bool):
        return Message("validate.given.true" if value else "validate.given.false")
    if isinstance(value, dict):
        return Message("validate.given.object")
    if isinstance(value, (list, tuple)):
        return Message("validate.given.list")
    if type(value) is int and int_problem(value):
        # str() of an int of more than 4,300 digits raises, and a long one says nothing more
        return Message("validate.given.big_int", digits=int(value.bit_length() * 0.30103) + 1)
    s = str(value)
    return s if len(s) <= 40 else Message("validate.given.long", start=s[:20], length=len(s))


_WHOLE = Message("validate.what.int")
_NUMBER = Message("validate.what.number")
_AMOUNT = Message("validate.what.amount")
# a refused number's limit, in words (dsl.numbers.describe, as a message of the catalogue)
_LIMIT_WORDS = {
    numbers.TOO_LARGE: lambda: Message("validate.limit.too_large", limit=numbers.LIMIT_TEXT),
    numbers.TOO_SMALL: lambda: Message("validate.limit.too_small", smallest=numbers.SMALLEST_TEXT),
    numbers.TOO_MANY_DIGITS: lambda: Message("validate.limit.too_many_digits", digits=numbers.MAX_DIGITS),
}


#: re-exported for the fast path and older callers: see dsl.numbers
LIMIT = numbers.LIMIT
_LIMIT_TEXT = numbers.LIMIT_TEXT


def _refused(what, problem, value) -> Problem:
    if problem == numbers.NOT_FINITE:
        return Problem(Message("validate.expected", what=what, given=_show(value)), problem)
    return Problem(Message("validate.expected_limited", what=what, limit=_LIMIT_WORDS[problem](),
                           given=_show(value)), problem)


def _not_a_number(what, value) -> Problem:
    if isinstance(value, str) and numbers.foreign_digits(value):
        return Problem(Message("validate.expected_digits", what=what, given=_show(value)))
    return Problem(Message("validate.expected", what=what, given=_show(value)))


def to_decimal(value, what=_NUMBER, currency=None) -> Decimal:
    """The exact Decimal of a JSON number or a numeric text, within the limits of :mod:`dsl.numbers`.

    Raises :class:`Problem` (with ``reason`` when the number is out of those
    limits) before anything is computed with a refused number.
    """
    t = type(value)
    if t is Decimal:
        d = value
    elif t is int:
        if int_problem(value):  # before Decimal(): converting a huge int is quadratic
            raise _refused(what, numbers.TOO_LARGE, value)
        return Decimal(value)
    elif t is float:
        problem = numbers.float_problem(value)
        if problem:
            raise _refused(what, problem, value)
        return Decimal(repr(value))
    elif t is str:
        s = value.strip().replace("_", "")
        if currency and s.upper().endswith(currency):
            s = s[: -len(currency)].strip()
        if not _NUM.match(s):
            raise _not_a_number(what, value)
        d = Decimal(s)  # linear in the length of the text; nothing is computed with it before the check
    else:
        raise Problem(Message("validate.expected", what=what, given=_show(value)))
    problem = numbers.number_problem(d)
    if problem:
        raise _refused(what, problem, value)
    return d


def _int(value):
    t = type(value)
    if t is int:
        if int_problem(value):
            raise _too_many_digits(value)
        return value
    if t is bool:
        raise Problem(Message("validate.expected", what=_WHOLE, given=_show(value)))
    if t is str:
        s = value.strip()
        if _INT.match(s):
            if numbers.digit_count_problem(s.lstrip("+-")):  # before int(): quadratic, and refused past 4,300 digits
                raise _too_many_digits(value)
            return int(s)
    if t in (float, Decimal, str):
        try:
            d = to_decimal(value, _WHOLE)
        except Problem as problem:
            if problem.reason == numbers.TOO_LARGE:
                raise _too_many_digits(value) from None
            raise _not_a_number(_WHOLE, value) from None
        if d == d.to_integral_value():
            return int(d)  # at most 18 digits before the point: the check above bounds the work
    raise Problem(Message("validate.expected", what=_WHOLE, given=_show(value)))


def _too_many_digits(value) -> Problem:
    return Problem(Message("validate.expected_int_digits", digits=numbers.MAX_INT_DIGITS, given=_show(value)),
                   numbers.TOO_LARGE)


def _bool(value):
    if value is True or value is False:
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise Problem(Message("validate.expected_bool", given=_show(value)))


def _date(value):
    if type(value) is _dt.date:
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise Problem(Message("validate.expected_date", given=_show(value)))


def naive_datetime(value: _dt.datetime, zone) -> _dt.datetime:
    """``value`` as the call's rules compare it: naive, in the call's time zone ``zone``.

    A datetime with an offset (``2013-10-02T10:12:00+02:00``, ``...Z``) is
    the same instant read on the call's clock; one without is already on it.
    """
    if value.tzinfo is None:
        return value
    if zone is None:
        raise Problem(Message("validate.no_zone", given=value.isoformat()))
    try:
        return value.astimezone(zone).replace(tzinfo=None)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first representable instant
        raise Problem(Message("validate.datetime_out_of_range", given=_show(value.isoformat()))) from None


def datetime_reader(zone):
    """``fromisoformat`` for the fast path: the naive datetime in the call's zone (raises on anything else)."""
    fromiso = _dt.datetime.fromisoformat

    def read(s):
        d = fromiso(s)
        return d if d.tzinfo is None else naive_datetime(d, zone)

    return read


def _datetime(value, zone=None):
    if isinstance(value, _dt.datetime):
        return naive_datetime(value, zone)
    if isinstance(value, str):
        s = value.strip()
        if len(s) >= 16:
            try:
                d = _dt.datetime.fromisoformat(s.replace(" ", "T", 1))
            except ValueError:
                pass
            else:
                return naive_datetime(d, zone)
    raise Problem(Message("validate.expected_datetime", given=_show(value)))


def _text(value):
    if isinstance(value, str):
        if not value.isascii() and not value.isprintable() and _SURROGATE.search(value):
            # a lone surrogate (JSON "\ud800") is not a character: no file can be written with it
            at = _SURROGATE.search(value).start()
            raise Problem(Message("validate.bad_character", code=f"{ord(value[at]):04x}", at=at + 1))
        return value
    raise Problem(Message("validate.expected_text", given=_show(value)))


_SURROGATE = re.compile("[\ud800-\udfff]")


def _number_checks(conv, t: Type, what, currency="EUR"):
    low, high, step = t.low, t.high, t.step
    # the numbers a message quotes are written the way its language writes them (1.000; 0,5; € 1.000,00)
    kind = {"money": "money", "percent": "percent"}.get(t.kind, "number")

    def _fmt(v):
        return ExactNumber(v, kind, currency)

    if t.values is not None:
        return _set_check(conv, t.values, _fmt)
    if low is None and step is None:
        return conv

    def checked(value):
        try:
            v = conv(value)
        except Problem as problem:
            if low is None or problem.reason != numbers.TOO_LARGE or high is None:
                raise  # an amount with no declared upper bound: the engine's own limit is the message
            v = None  # beyond any number bando holds, hence beyond the field's range: say which range
        if low is not None and (v is None or v < low or (high is not None and v > high)):
            shown = _fmt(v) if v is not None else _show(value)
            if t.implicit_range:
                raise Problem(Message("validate.below_zero", shown=shown, what=what))
            raise Problem(Message("validate.out_of_range", shown=shown, what=what, low=_fmt(low), high=_fmt(high)))
        if step is not None:
            try:
                off_step = (v - (low or 0)) % step != 0
            except ArithmeticError:  # more than 28 digits of quotient (a tiny step over a wide range)
                off_step = True
            if off_step:
                raise Problem(Message("validate.off_step", shown=_fmt(v), step=_fmt(step)))
        return v

    return checked


def _set_check(conv, values, _fmt):
    """``conv``, then the value must be one of a number set's ``values`` (`int in {0, 3, 7}`); ``_fmt``
    writes a number of the field's kind in a message."""
    allowed = frozenset(values)
    if len(values) == 1:
        listed = {"msgid": "validate.not_in_set_one", "last": _fmt(values[0])}
    else:
        # numbers are listed with their own separator: an Italian "0,5, 1" would read as one number
        listed = {"msgid": "validate.not_in_set", "last": _fmt(values[-1]),
                  "options": _Numbers([_fmt(v) for v in values[:-1]])}

    def checked(value):
        try:
            v = conv(value)
        except Problem as problem:
            if problem.reason != numbers.TOO_LARGE:
                raise
            v = None  # beyond any number bando holds, hence off the set: say which values are allowed
        if v is None or v not in allowed:
            shown = _fmt(v) if v is not None else _show(value)
            raise Problem(Message(listed["msgid"], shown=shown,
                                  **{k: x for k, x in listed.items() if k != "msgid"}))
        return v

    return checked


class _Numbers(Joined):
    """Numbers listed in a message: joined as options are ("0, 5, 10"), unless a number written in the
    message's language has that separator in it (an Italian "0,5"): then by ``validate.numbers_sep``
    ("0; 0,5 e 1")."""

    def __new__(cls, items):
        return super().__new__(cls, "validate.options_sep", items)

    def render(self, lang: str) -> str:
        items = [render(i, lang) for i in self.items]
        sep = text(lang, self.sep)
        if sep.strip() and any(sep.strip() in i for i in items):
            sep = text(lang, "validate.numbers_sep")
        return sep.join(items)

    def __reduce__(self):
        return (_Numbers, (self.items,))


def _options(options) -> Joined:
    """The values a ``one of`` field accepts, each quoted, as a message lists them."""
    return Joined("validate.options_sep", [Message("validate.option", value=o) for o in options])


class Bail(Exception):
    """Raised by the fast path (and the strict converters) when data needs the full validator."""


def key_literal(c):
    """Python source of a float/int literal that stands for the exact decimal ``c`` in comparisons, or None.

    Fast paths may compare a JSON number ``x`` (an ``int``, or a finite ``float``
    whose exact value is ``Decimal(repr(x))``) with a decimal constant ``c``
    without building a Decimal, when ``c`` is the shortest repr of a float
    (``Decimal(repr(float(c))) == c``) and ``|c| < 2**52``:

    * float ``x``: rounding a decimal to the nearest float is monotone, so for
      floats ``x < y`` implies ``Decimal(repr(x)) < Decimal(repr(y))``; with
      ``cf = float(c)`` and ``Decimal(repr(cf)) == c``, ``x op cf`` has the same
      truth as ``Decimal(repr(x)) op c`` for every comparison;
    * int ``x``: Python compares int and float exactly, and no integer lies in
      the closed interval between ``c`` and ``cf`` unless ``c`` is itself an
      integer (then ``cf == c`` exactly): such an integer would be a float
      within half an ulp of ``cf`` other than ``cf``, or ``cf`` itself,
      whose shortest repr would be that integer, not ``c``.

    Integral constants are written as int literals (exact for int, float and
    Decimal operands alike).
    """
    if not isinstance(c, (int, Decimal)) or isinstance(c, bool):
        return None
    d = Decimal(c)
    if not d.is_finite() or abs(d) >= 2 ** 52:
        return None
    if d == d.to_integral_value():
        return repr(int(d))
    f = float(d)
    if Decimal(repr(f)) != d:
        return None
    return repr(f)


def exact_json_float(text: str):
    """``parse_float`` for :func:`json.loads`: a JSON number with a fraction, exactly.

    A ``float`` when the text has no exponent and at most 16 characters (so at
    most 15 significant digits, between 1e-14 and 1e15): such a decimal
    survives the trip through a double, ``Decimal(repr(float(text)))`` has its
    value, and the fused fast path compares it without building a Decimal. Any
    other number becomes a ``Decimal`` with the exact value of its text.

    >>> exact_json_float("40000.5"), exact_json_float("0.1000000000000000055511151231257827")
    (40000.5, Decimal('0.1000000000000000055511151231257827'))
    """
    if len(text) <= 16 and "e" not in text and "E" not in text:
        return float(text)
    return Decimal(text)


def to_key(value):
    """An exact Decimal (or int, or None) as the float/int the fast path compares (see :func:`key_literal`)."""
    if value is None or type(value) is int:
        return value
    if type(value) is float:
        if value - value == 0.0:
            return value
        raise Bail
    if isinstance(value, Decimal) and value.is_finite():
        if value == value.to_integral_value() and abs(value) < 2 ** 52:
            return int(value)
        f = float(value)
        # at most 15 significant digits in the normal range: exact through a double (DBL_DIG),
        # without building the Decimal of its repr
        if (-300 < value.adjusted() < 300 and len(value.as_tuple().digits) <= 15) or Decimal(repr(f)) == value:
            return f
    raise Bail


def fast_branches(t: Type, v: str, const, key: bool = False):
    """``[(condition, value)]``: Python source that converts the raw JSON value ``v`` of type ``t`` inline.

    Types are tested with ``x.__class__ is T`` (a little faster than ``type(x)``
    in CPython 3.11; a bool is not an int there either).
    Each condition accepts only values that the exact converter (:meth:`Validator._convert`)
    accepts, and the value expression computes exactly what it would return
    (or, with ``key=True`` for numbers, the comparison key of :func:`key_literal`)
    without raising. Everything else goes to the exact converter. An empty list
    means "always use the converter"; None means ``key`` is not possible for ``t``.
    ``const(value)`` names a constant in the generated code's namespace.
    """
    k = t.kind
    if k == "text":
        # a non-empty text; one that is neither ASCII nor printable may hold a lone surrogate: the converter decides
        return [(f"{v}.__class__ is str and {v} and ({v}.isascii() or {v}.isprintable())", v)]
    if k == "bool":
        return [(f"{v} is True or {v} is False", v)]
    if k == "enum":
        return [(f"{v}.__class__ is str and {v} in {const(frozenset(t.options))}", v)]
    if k == "date":
        return [(f"{v}.__class__ is _date", v)]
    if t.values is not None:
        return None if key else []  # a number set: the converter tests membership exactly
    if k == "int":
        if t.step is not None:
            return []
        # the converter refuses whole numbers of more than 18 digits before the field's range
        cap = numbers.INT_LIMIT - 1
        lo = -cap if t.low is None else max(-cap, _ceil_int(t.low))
        hi = cap if t.high is None else min(cap, _floor_int(t.high))
        return [(f"{v}.__class__ is int and {lo!r} <= {v} <= {hi!r}", v)]
    if k in ("decimal", "percent", "money"):
        if t.step is not None:
            return None if key else []
        # NaN, infinities and numbers beyond the LIMIT fail the range tests (exact, see key_literal); so do
        # floats of dsl.numbers.float_problem. Decimals (long JSON numbers) take the converter, which counts digits.
        if t.implicit_range:  # 0 or more, below the engine's limit (an int literal: exact against floats)
            lim = repr(int(LIMIT))
            tiny = _tiny_test(v, t.low, None)
            if key:
                return [(f"({v}.__class__ is float or {v}.__class__ is int) and 0 <= {v} < {lim}{tiny}", v)]
            return [(f"{v}.__class__ is float and 0 <= {v} < {lim}{tiny}", f"_D(repr({v}))"),
                    (f"{v}.__class__ is int and 0 <= {v} < {lim}", f"_D({v})")]
        if t.low is None or not -LIMIT < t.low <= t.high < LIMIT:
            lim = repr(int(LIMIT))
            tiny = _tiny_test(v, None, None)
            if key:  # a float or an int is its own key: one range test for both
                return [(f"({v}.__class__ is float or {v}.__class__ is int) and -{lim} < {v} < {lim}{tiny}", v)] \
                    if t.low is None else None
            if t.low is not None:
                return []
            return [(f"{v}.__class__ is float and -{lim} < {v} < {lim}{tiny}", f"_D(repr({v}))"),
                    (f"{v}.__class__ is int and -{lim} < {v} < {lim}", f"_D({v})")]
        lo, hi = key_literal(t.low), key_literal(t.high)
        if lo is None or hi is None:
            return None if key else []
        tiny = _tiny_test(v, t.low, t.high)
        if key:
            return [(f"({v}.__class__ is float or {v}.__class__ is int) and {lo} <= {v} <= {hi}{tiny}", v)]
        return [(f"{v}.__class__ is float and {lo} <= {v} <= {hi}{tiny}", f"_D(repr({v}))"),
                (f"{v}.__class__ is int and {lo} <= {v} <= {hi}", f"_D({v})")]
    return []


def _tiny_test(v: str, low, high) -> str:
    """`` and (...)`` refusing nonzero floats below 10^-28 (see :func:`dsl.numbers.float_problem`), when the
    range ``low..high`` (None: unbounded) lets such a number through; ``""`` when it cannot."""
    # some x with 0 < x < 10^-28 (for pos; -10^-28 < x < 0 for neg) lies in low..high
    pos = (low is None or low < numbers.SMALLEST) and (high is None or high > 0)
    neg = (high is None or high > -numbers.SMALLEST) and (low is None or low < 0)
    if pos and neg:
        return f" and ({v} >= 1e-28 or {v} <= -1e-28 or {v} == 0)"
    if pos:
        return f" and ({v} >= 1e-28 or {v} <= 0)"
    if neg:
        return f" and ({v} <= -1e-28 or {v} >= 0)"
    return ""


def _ceil_int(d) -> int:
    return int(d.to_integral_value(rounding="ROUND_CEILING")) if isinstance(d, Decimal) else int(d)


def _floor_int(d) -> int:
    return int(d.to_integral_value(rounding="ROUND_FLOOR")) if isinstance(d, Decimal) else int(d)


def _path(base, idx, name=None):
    """The path text of a field: ``network.firms[3].employees``."""
    if idx is not None:
        base = f"{base}[{idx}]"
    if name is None:
        return base
    return f"{base}.{name}" if base else name


def _scalar(conv, value, errors, base, idx, name=None):
    try:
        return conv(value)
    except Problem as problem:
        errors.append((_path(base, idx, name), problem.message))
        return None


def _missing(errors, base, idx, name):
    errors.append((_path(base, idx, name), Message("validate.missing")))
    return _ABSENT


def _not_a_record(errors, base, idx, data):
    errors.append((_path(base, idx) or "(application)", Message("validate.expected_object", given=_show(data))))


def _not_a_list(errors, path, data):
    errors.append((path, Message("validate.expected_list", given=_show(data))))


def _prune(out):
    return {k: v for k, v in out.items() if v is not _ABSENT}


_ABSENT = object()
_NO_DEFAULT = object()


class Prevalidated(Mapping):
    """An application that the compiled fast path has already checked and decided.

    :meth:`Validator.validate` returns it (with no errors) when the fast path
    accepted the data: ``decided`` is what the compiled ``decide`` function
    returns for it, so deciding does not walk the data twice. As a mapping it
    reads exactly like the typed value the full validator builds (that value is
    built on first use: explanations and rankings need it, deciding does not).
    """

    __slots__ = ("data", "decided", "_validator", "_typed")

    def __init__(self, data, decided, validator):
        self.data = data
        self.decided = decided
        self._validator = validator
        self._typed = None

    def typed(self) -> dict:
        typed = self._typed
        if typed is None:
            typed, errors = self._validator.validate_full(self.data)
            if errors:  # pragma: no cover - the fast path accepts a subset of valid data
                raise AssertionError(f"fast path accepted invalid data: {errors}")
            self._typed = typed
        return typed

    def __getitem__(self, key):
        return self.typed()[key]

    def __iter__(self):
        return iter(self.typed())

    def __len__(self):
        return len(self.typed())

    def __repr__(self):
        return f"Prevalidated({self.typed()!r})"


def call_zone(cp):
    """The call's time zone (``timezone`` in the header, else :data:`dsl.checker.DEFAULT_TIMEZONE`), or None
    when this machine has no time zone database: then only datetimes with an offset are refused."""
    try:
        return ZoneInfo(cp.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class Validator:
    """Converts one application; ``validate(data) -> (value, errors)``.

    The converter is generated Python source, one function per record type
    (like the compiled policy): plain ``type(v) is int`` tests and inline
    conversions for the common JSON types, the exact converters of this module
    for everything else, and paths built only when there is an error to report.

    When the policy's compiled fast path is available (:meth:`Compiler.build_decide`
    builds it with a Validator and registers that Validator, which ``Validator(cp)``
    then returns), ``validate`` first tries it:
    it checks every field too, and decides the application in the same pass.
    Data it does not accept outright (anything invalid, numbers written as
    text, unusual types) goes through the full converter, which reports every
    problem with its path.
    """

    def __new__(cls, cp, const_eval=None):
        from engine.compile import runtime
        found = runtime.validator_for(cp)
        if type(found) is cls and found.const_eval is const_eval:
            return found  # the one the compiler built with the fast path: same generated code
        return super().__new__(cls)

    def __init__(self, cp, const_eval):
        if getattr(self, "_ready", False):
            return
        self._ready = True
        self.cp = cp
        self.const_eval = const_eval
        self.currency = cp.currency
        self.zone = call_zone(cp)
        self.namespace = dict(_D=Decimal, _date=_dt.date, _show=_show, _scalar=_scalar,
                              _missing=_missing, _not_a_record=_not_a_record, _not_a_list=_not_a_list,
                              _prune=_prune, _ABSENT=_ABSENT, _isinstance=isinstance, _dict=dict,
                              _seq=(list, tuple), _enumerate=enumerate, _path=_path)
        self._consts: dict = {}
        self._records: dict[int, str] = {}
        self._lists: dict[tuple, str] = {}
        self._field_convs: dict = {}
        self._lines: list[str] = []
        self._counter = 0
        self.root = None
        self._root_fn = None
        if cp.input is not None:
            name = self._record_fn(cp.input)
            self._flush()
            fn = self.namespace[name]
            self._root_fn = fn
            self.root = lambda data, path, errors: fn(data, errors, path, None)
        self.fast_path = None  # the fused fast path (raw data -> decide tuple), set by Compiler.build_decide

    # --- public -------------------------------------------------------------------------------
    def validate(self, data):
        """``(value, errors)``; ``value`` may be a :class:`Prevalidated` mapping (see the class docstring)."""
        fast = self.fast_path
        if fast is not None:
            try:
                return Prevalidated(data, fast(data), self), []
            except Exception:  # Bail, or anything the fast path did not expect: the full path decides
                pass
        return self.validate_full(data)

    def validate_full(self, data):
        """``(typed value, errors)`` from the full converter (never the fast path)."""
        errors: list[tuple[str, str]] = []
        if self._root_fn is None:
            return {}, errors
        if not isinstance(data, dict):
            return None, [("", Message("validate.expected_application", given=_show(data)))]
        value = self._root_fn(data, errors, "", None)
        return value, errors

    def converter(self, field):
        """A strict converter for one field's raw value (``None`` when absent): the typed value, or :class:`Bail`.

        Used by the compiled fast path for what it does not convert inline.
        """
        key = id(field)
        found = self._field_convs.get(key)
        if found is not None:
            return found
        t = field.type.opt(False)
        default = self.const_eval(field.default) if field.default is not None else _NO_DEFAULT
        optional = field.optional
        walker = self._walker_call(t)
        self._flush()
        fn = self.namespace[walker[0]] if walker is not None else None
        conv = self._convert(t) if walker is None else None

        def convert(value):
            if value is None or value == "":
                if default is not _NO_DEFAULT:
                    return default
                if optional:
                    return None
                raise Bail
            if fn is not None:
                errors = []
                out = fn(value, errors, *walker[1])
                if errors:
                    raise Bail
                return out
            if conv is None:
                return value
            try:
                return conv(value)
            except Problem:
                raise Bail from None

        self._field_convs[key] = convert
        return convert

    def record_converter(self, rec: RecordInfo):
        """``convert(raw) -> typed dict`` for one record of type ``rec``; raises :class:`Bail` on any problem.

        Explanations use it on the few list items they name, when the fast path
        checked the items but kept them raw.
        """
        name = self._record_fn(rec)
        self._flush()
        fn = self.namespace[name]

        def convert(raw):
            errors: list = []
            out = fn(raw, errors, "", None)
            if errors:
                raise Bail
            return out

        return convert

    # --- code generation ------------------------------------------------------------------------
    def _const(self, value) -> str:
        name = self._consts.get(id(value))
        if name is None:
            name = self._consts[id(value)] = f"_K{len(self._consts)}"
            self.namespace[name] = value
        return name

    def _flush(self):
        if self._lines:
            source = "\n".join(self._lines) + "\n"
            self._lines = []
            exec(compile(source, f"<bando validator {self.cp.source.name}>", "exec"), self.namespace)

    def _walker_call(self, t: Type):
        """(function name, extra args) converting a structured value of type ``t``, or None for scalars."""
        if t.kind == "record":
            return self._record_fn(t.record), ("", None)
        if t.kind == "list":
            return self._list_fn(t), ("",)
        return None

    def _record_fn(self, rec: RecordInfo) -> str:
        """Name of the generated ``(data, errors, base, idx) -> dict`` function for ``rec``."""
        name = self._records.get(id(rec))
        if name is not None:
            return name
        self._counter += 1
        name = f"_rec{self._counter}"
        self._records[id(rec)] = name
        lines = [f"def {name}(d, errors, base, idx):",
                 "    if not _isinstance(d, _dict):",
                 "        _not_a_record(errors, base, idx, d)",
                 "        return None",
                 "    n0 = len(errors)"]
        outs = []
        for i, (fname, f) in enumerate(rec.fields.items()):
            o = f"o{i}"
            outs.append(f"{fname!r}: {o}")
            t = f.type.opt(False)
            lines.append(f"    v = d.get({fname!r})")
            first = True
            for cond, value in self._branches(t):
                lines.append(f"    {'if' if first else 'elif'} {cond}: {o} = {value}")
                first = False
            if f.default is not None:
                missing = self._const(self.const_eval(f.default))
            elif f.optional:
                missing = "None"
            else:
                missing = f"_missing(errors, base, idx, {fname!r})"
            lines.append(f"    {'if' if first else 'elif'} v is None or v == '': {o} = {missing}")
            lines.append("    else:")
            lines.extend("        " + ln for ln in self._convert_lines(t, o, "v", f"base, idx, {fname!r}"))
        lines.append(f"    out = {{{', '.join(outs)}}}")
        lines.append("    return _prune(out) if len(errors) != n0 else out")
        self._lines.extend(lines)
        return name

    def _branches(self, t: Type):
        if t.kind in ("record", "list", "any"):
            return []
        return fast_branches(t, "v", self._const) or []

    def _convert_lines(self, t: Type, o: str, v: str, where: str) -> list[str]:
        """Lines setting ``o`` from a present raw value ``v`` (errors reported at ``_path(where)``)."""
        if t.kind == "record":
            return [f"{o} = {self._record_fn(t.record)}({v}, errors, _path({where}), None)"]
        if t.kind == "list":
            fn = self._list_fn(t)
            return [f"{o} = {fn}({v}, errors, _path({where}))"]
        conv = self._convert(t)
        if conv is None:  # ANY: an unresolved type, already reported by the checker
            return [f"{o} = {v}"]
        return [f"{o} = _scalar({self._const(conv)}, {v}, errors, {where})"]

    def _list_fn(self, t: Type) -> str:
        """Name of the generated ``(data, errors, path) -> list`` function for list type ``t``."""
        item = t.item
        key = id(item) if item is not None else None
        name = self._lists.get(key)
        if name is not None:
            return name
        self._counter += 1
        name = f"_list{self._counter}"
        self._lists[key] = name
        lines = [f"def {name}(data, errors, path):",
                 "    if not _isinstance(data, _seq):",
                 "        _not_a_list(errors, path, data)",
                 "        return None"]
        if item is not None and item.kind == "record":
            fn = self._record_fn(item.record)
            lines.append(f"    return [{fn}(x, errors, path, i) for i, x in _enumerate(data)]")
        else:
            lines += ["    out = []", "    append = out.append", "    for i, v in _enumerate(data):"]
            first = True
            it = item if item is not None else Type("any")
            for cond, value in self._branches(it):
                lines.append(f"        {'if' if first else 'elif'} {cond}: append({value})")
                first = False
            body = self._convert_lines(it, "x", "v", "path, i")
            if first:
                lines.extend("        " + ln for ln in body)
            else:
                lines.append("        else:")
                lines.extend("            " + ln for ln in body)
            lines.append(("            " if not first else "        ") + "append(x)")
            lines.append("    return out")
        self._lines.extend(lines)
        return name

    def _convert(self, t: Type):
        k = t.kind
        if k == "text":
            return _text
        if k == "int":
            return _number_checks(_int, t, _WHOLE)
        if k in ("decimal", "percent"):
            what = _NUMBER

            def dec(value):
                if k == "percent" and isinstance(value, str) and value.strip().endswith("%"):
                    d = to_decimal(value.strip()[:-1], what) / 100
                    problem = numbers.number_problem(d)
                    if problem:
                        raise _refused(what, problem, value)
                    return d
                return to_decimal(value, what)

            return _number_checks(dec, t, what)
        if k == "money":
            cur = self.currency
            in_cur = Message("validate.what.amount_in", currency=cur)
            return _number_checks(lambda v: to_decimal(v, in_cur, cur), t, _AMOUNT, cur)
        if k == "bool":
            return _bool
        if k == "date":
            return _date
        if k == "datetime":
            zone = self.zone
            return lambda value: _datetime(value, zone)
        if k == "enum":
            options = t.options

            def enum(value):
                if isinstance(value, str) and value in options:
                    return value
                close = difflib.get_close_matches(str(value), options, n=1) if isinstance(value, str) else []
                listed = _options(options)
                if close:
                    raise Problem(Message("validate.not_one_of_close", given=_show(value), options=listed,
                                          close=Message("validate.option", value=close[0])))
                raise Problem(Message("validate.not_one_of", given=_show(value), options=listed))

            return enum
        return None  # structured: handled by the generated walkers


def const_eval(e):
    """A literal (:mod:`dsl.literals`) as application data: a field's default, a dated table's value,
    an example's expected score. A number written whole is an int, as in an application's JSON;
    ValueError for anything that is not a literal."""
    return expect_literal(e, whole_as_int=True)


# ---------------------------------------------------------------------------------------------
# data problems as the applicant reads them

_SEGMENT = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

#: Fields that name an item of a list in messages and explanations ("Tessile Pati Soc. Coop."), by preference.
ITEM_NAME_FIELDS = ("name", "nome", "ragione_sociale", "denominazione", "vat", "vat_id", "piva", "partita_iva",
                    "id", "code")


def item_name(item) -> str | None:
    """How an item of a list is called in a sentence: its name, else its first text (None: it has none)."""
    if isinstance(item, Mapping):
        for key in ITEM_NAME_FIELDS:
            v = item.get(key)
            if isinstance(v, str) and v:
                return v
        for v in item.values():
            if isinstance(v, str) and v:
                return v
    return None


def where(cp, path: str, data, lang: str) -> str:
    """The place of a data problem in words: the fields' labels, 1-based items named by their own data.

    ``network.firms[4].employees`` reads "Impresa della rete n. 5 (Tessile Pati
    Soc. Coop.), Occupati (ULA)": from the innermost list item on, as the
    applicant finds it in the form.
    """
    if not path or path == "(application)" or cp.input is None:
        return text(lang, "validate.whole_application")
    parts: list = []
    rec, t, value = cp.input, None, data
    for name, index in _SEGMENT.findall(path):
        if name:
            f = rec.fields.get(name) if rec is not None else None
            if f is None:  # a path the schema does not know (a reader's column): as written
                parts.append(name)
                rec, t, value = None, None, None
                continue
            parts.append(f.label.get(lang, cp.language) if f.label is not None else name)
            t = f.type
            rec = t.record if t.kind == "record" else None
            value = value.get(name) if isinstance(value, Mapping) else None
        else:
            i = int(index)
            item_t = t.item if t is not None and t.kind == "list" else None
            node = item_t.record.node if item_t is not None and item_t.record is not None else None
            label = getattr(node, "label", None)
            noun = label.get(lang, cp.language) if label is not None else (parts[-1] if parts else "")
            value = value[i] if isinstance(value, list) and 0 <= i < len(value) else None
            named = item_name(value)
            item = (text(lang, "validate.item_named", label=noun, n=i + 1, name=named) if named
                    else text(lang, "validate.item", label=noun, n=i + 1))
            parts = [item]  # from the innermost item on
            t = item_t
            rec = item_t.record if item_t is not None and item_t.kind == "record" else None
    return text(lang, "validate.where_sep").join(parts)


def describe(cp, path: str, message, data, lang: str) -> str:
    """One data problem in ``lang``: where (:func:`where`) and what, e.g. "…, Occupati (ULA): atteso un
    numero intero, indicato «dodici»"."""
    return text(lang, "validate.where", where=where(cp, path, data, lang), problem=render(message, lang))
