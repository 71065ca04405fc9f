"""Helpers that compiled policies call at run time.

The compiler inlines plain Python operators wherever the checker proved that
no value can be missing; these helpers cover the rest (missing values, exact
rounding, date arithmetic). ``None`` stands for a missing value everywhere.
"""
from __future__ import annotations

import bisect

import calendar
import datetime as _dt
import threading
import weakref
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal, getcontext

D0 = Decimal(0)
_ONE = Decimal(1)

# --- fast path registry ---------------------------------------------------------------------
# Compiler.build_decide builds a Validator along with the fused "validate and decide"
# fast path and registers it here; the policy's own Validator(cp) (built separately
# from the same checked policy) is then that very object. Keyed by id() with weak
# references (a CheckedPolicy is not hashable, and nothing here keeps a policy alive).
_FAST: dict = {}
_FAST_LOCK = threading.Lock()


def register_validator(cp, validator) -> None:
    key = id(cp)

    def forget(ref, key=key, table=_FAST, lock=_FAST_LOCK):
        try:
            with lock:
                entry = table.get(key)
                if entry is not None and entry[0] is ref:
                    del table[key]
        except Exception:  # at interpreter exit the module may already be torn down
            pass

    with _FAST_LOCK:
        _FAST[key] = (weakref.ref(cp, forget), weakref.ref(validator))


def validator_for(cp):
    """The Validator registered for ``cp`` (a checked policy), or None."""
    entry = _FAST.get(id(cp))
    if entry is None or entry[0]() is not cp:
        return None
    return entry[1]()


def and3(a, b):
    """Three-valued ``and``: false wins over missing."""
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def or3(a, b):
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def not3(a):
    return None if a is None else not a


def div(a, b):
    """Exact division; dividing by zero gives a missing value, never a crash."""
    if a is None or b is None or not b:
        return None
    return Decimal(a) / b


def share(n, total):
    return None if not total else Decimal(n) / total


def vsum(values):
    total = 0
    for v in values:
        if v is not None:
            total += v
    return total


def mean(values):
    vs = [v for v in values if v is not None]
    return Decimal(sum(vs)) / len(vs) if vs else None


def median(values):
    vs = sorted(v for v in values if v is not None)
    if not vs:
        return None
    mid = len(vs) // 2
    if len(vs) % 2:
        return Decimal(vs[mid])
    return (Decimal(vs[mid - 1]) + vs[mid]) / 2


def spread(values):
    vs = [v for v in values if v is not None]
    return (max(vs) - min(vs)) if vs else None


def count_distinct(values):
    """How many different values (``count distinct``): a missing value is no value."""
    return len({v for v in values if v is not None})


def distinct_values(values):
    """The different values, in order (the facts of ``count distinct``): a missing value is no value."""
    return tuple(sorted({v for v in values if v is not None}))


def lowest(values):
    vs = [v for v in values if v is not None]
    return min(vs) if vs else None


def highest(values):
    vs = [v for v in values if v is not None]
    return max(vs) if vs else None


def vmin(*xs):
    return None if any(x is None for x in xs) else min(xs)


def vmax(*xs):
    return None if any(x is None for x in xs) else max(xs)


_ROUNDING = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_UP}
#: the digits below the context's precision a value to round may have lost to an inexact division
_SLACK = 3
_QUANTUM: dict = {}


def _quantum(unit):
    """(unit, quantum of the result, unit is 10**-k for some k >= 0?), cached per unit object
    (0.01 and 0.010 are equal Decimals with different exponents, so not per value)."""
    entry = _QUANTUM.get(id(unit))
    if entry is None or entry[0] is not unit:
        t = unit.as_tuple()
        exp = t.exponent
        quantum = _ONE.scaleb(min(exp, 0)) if isinstance(exp, int) else None
        entry = (unit, quantum, t.sign == 0 and t.digits == (1,) and isinstance(exp, int) and exp <= 0)
        if len(_QUANTUM) < 1024:
            _QUANTUM[id(unit)] = entry
    return entry


def quantize(value, unit, mode):
    """Round ``value`` to a multiple of ``unit`` (``down``, ``up`` or ``nearest``, half up)."""
    if value is None:
        return None
    rounding = _ROUNDING[mode]
    if type(unit) is not Decimal:
        unit = Decimal(unit)
    if type(value) is not Decimal:
        value = Decimal(value)
    _, quantum, power_of_ten = _quantum(unit)
    digits, prec = len(value.as_tuple().digits), getcontext().prec
    if digits > prec - _SLACK:
        # as many digits as the context keeps: the value came out of an inexact step (a division),
        # whose last digit is not to be trusted; without it 30 × (30 / 90) = 9.999…9 would round
        # down to 9 instead of 10
        value = Context(prec=prec - _SLACK, rounding=ROUND_HALF_EVEN).plus(value)
        digits = prec - _SLACK
    if power_of_ten and digits <= prec:
        # unit 10**-k: value / unit is exact (no more digits than the context keeps), so the
        # general steps below give exactly value.quantize(unit)
        return value.quantize(quantum, rounding=rounding)
    steps = (value / unit).quantize(_ONE, rounding=rounding)
    result = steps * unit
    return result.quantize(quantum) if quantum is not None else result


def round_(x, places=0):
    if x is None:
        return None
    return Decimal(x).quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP)


def floor(x):
    return None if x is None else int(Decimal(x).to_integral_value(rounding=ROUND_FLOOR))


def ceil(x):
    return None if x is None else int(Decimal(x).to_integral_value(rounding=ROUND_CEILING))


def shift(d, n, unit):
    """``d + n days/months/years``; month ends are clamped (31 Jan + 1 month = 28/29 Feb)."""
    if d is None:
        return None
    try:
        if unit == "days":
            return d + _dt.timedelta(days=n)
        months = n * (12 if unit == "years" else 1)
        y, m = divmod(d.month - 1 + months, 12)
        year, month = d.year + y, m + 1
        day = min(d.day, calendar.monthrange(year, month)[1])
        return d.replace(year=year, month=month, day=day)
    except (OverflowError, ValueError):  # beyond year 9999: no such date, so no value
        return None


def days_between(a, b):
    if a is None or b is None:
        return None
    return (_as_date(b) - _as_date(a)).days


def months_between(a, b):
    """Whole months from ``a`` to ``b`` (negative when ``b`` is earlier)."""
    if a is None or b is None:
        return None
    a, b = _as_date(a), _as_date(b)
    sign = 1
    if b < a:
        a, b, sign = b, a, -1
    months = (b.year - a.year) * 12 + b.month - a.month
    if shift(a, months, "months") > b:
        months -= 1
    return sign * months


def years_between(a, b):
    m = months_between(a, b)
    return None if m is None else int(m / 12)


def datetime_diff_days(a, b):
    if a is None or b is None:
        return None
    delta = a - b
    return Decimal(delta.days) + Decimal(delta.seconds) / 86400


def dated_at(starts, values, when):
    """The value of a dated parameter in force on ``when`` (a date or a date and time); None (missing)
    when ``when`` is missing or comes before the first value (docs/language.md, "Dated parameters")."""
    if when is None:
        return None
    i = bisect.bisect_right(starts, _as_date(when))
    return values[i - 1] if i else None


def _as_date(v):
    return v.date() if isinstance(v, _dt.datetime) else v


def opt(fn, *args):
    """Apply ``fn`` unless an argument is missing."""
    for a in args:
        if a is None:
            return None
    return fn(*args)
