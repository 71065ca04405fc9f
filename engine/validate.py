"""Application data -> typed values, or every problem with its path.

The validator is built once per policy from the checked input schema: one
converter closure per field type. It never stops at the first problem: the
applicant (or the evaluator fixing a batch) gets all of them, each with a path
such as ``network.firms[3].employees``.

Numbers arrive as JSON numbers or strings and become :class:`~decimal.Decimal`
without binary rounding: a ``float`` is read through its shortest ``repr``
(``0.1`` is ``Decimal("0.1")``), which is the number the JSON text said.
"""
from __future__ import annotations

import datetime as _dt
import difflib
import re
from decimal import Decimal, InvalidOperation

from dsl import ast
from dsl.types import RecordInfo, Type

_NUM = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_INT = re.compile(r"^[+-]?\d+$")


class Problem(Exception):
    def __init__(self, message):
        self.message = message


def _show(value) -> str:
    if isinstance(value, str):
        s = value if len(value) <= 40 else value[:40] + "…"
        return f'"{s}"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return str(value)


def to_decimal(value, what="a number", currency=None) -> Decimal:
    t = type(value)
    if t is Decimal:
        if not value.is_finite():
            raise Problem(f"expected {what}, got {value}")
        return value
    if t is int:
        return Decimal(value)
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            raise Problem(f"expected {what}, got {value}")
        return Decimal(repr(value))
    if t is str:
        s = value.strip().replace("_", "")
        if currency and s.upper().endswith(currency):
            s = s[: -len(currency)].strip()
        if _NUM.match(s):
            try:
                d = Decimal(s)
            except InvalidOperation:  # pragma: no cover - the regex prevents it
                raise Problem(f"expected {what}, got {_show(value)}") from None
            if d.is_finite():
                return d
        raise Problem(f"expected {what}, got {_show(value)}")
    raise Problem(f"expected {what}, got {_show(value)}")


def _int(value):
    t = type(value)
    if t is int:
        return value
    if t is bool:
        raise Problem(f"expected a whole number, got {_show(value)}")
    if t is str and _INT.match(value.strip()):
        return int(value.strip())
    if t in (float, Decimal, str):
        try:
            d = to_decimal(value, "a whole number")
        except Problem:
            raise Problem(f"expected a whole number, got {_show(value)}") from None
        if d == d.to_integral_value():
            return int(d)
    raise Problem(f"expected a whole number, got {_show(value)}")


def _bool(value):
    if value is True or value is False:
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise Problem(f"expected true or false, got {_show(value)}")


def _date(value):
    if type(value) is _dt.date:
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise Problem(f"expected a date (YYYY-MM-DD), got {_show(value)}")


def _datetime(value):
    if isinstance(value, _dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value
    if isinstance(value, str):
        s = value.strip()
        if len(s) >= 16:
            try:
                return _dt.datetime.fromisoformat(s.replace(" ", "T", 1))
            except ValueError:
                pass
    raise Problem(f"expected a date and time (YYYY-MM-DDTHH:MM:SS), got {_show(value)}")


def _text(value):
    if isinstance(value, str):
        return value
    raise Problem(f"expected a text, got {_show(value)}")


def _number_checks(conv, t: Type, what):
    low, high, step = t.low, t.high, t.step
    if low is None and step is None:
        return conv

    def checked(value):
        v = conv(value)
        if low is not None and not (low <= v <= high):
            raise Problem(f"{_fmt(v)} is out of range: expected {what} between {_fmt(low)} and {_fmt(high)}")
        if step is not None and ((v - (low or 0)) % step) != 0:
            raise Problem(f"{_fmt(v)} is not allowed: values go in steps of {_fmt(step)}")
        return v

    return checked


def _fmt(d) -> str:
    if isinstance(d, Decimal):
        s = format(d.normalize(), "f")
        return s
    return str(d)


class Validator:
    """Converts one application; ``validate(data) -> (value, errors)``."""

    def __init__(self, cp, const_eval):
        self.cp = cp
        self.const_eval = const_eval
        self.currency = cp.currency
        self._records: dict[int, object] = {}
        self.root = self._record(cp.input) if cp.input is not None else None

    def validate(self, data):
        errors: list[tuple[str, str]] = []
        if self.root is None:
            return {}, errors
        if not isinstance(data, dict):
            return None, [("", f"expected an application object, got {_show(data)}")]
        value = self.root(data, "", errors)
        return value, errors

    def _convert(self, t: Type):
        k = t.kind
        if k == "text":
            return _text
        if k == "int":
            return _number_checks(_int, t, "a whole number")
        if k in ("decimal", "percent"):
            what = "a number"

            def dec(value):
                if k == "percent" and isinstance(value, str) and value.strip().endswith("%"):
                    return to_decimal(value.strip()[:-1], what) / 100
                return to_decimal(value, what)

            return _number_checks(dec, t, what)
        if k == "money":
            cur = self.currency
            return _number_checks(lambda v: to_decimal(v, f"an amount in {cur}", cur), t, "an amount")
        if k == "bool":
            return _bool
        if k == "date":
            return _date
        if k == "datetime":
            return _datetime
        if k == "enum":
            options = t.options

            def enum(value):
                if isinstance(value, str) and value in options:
                    return value
                close = difflib.get_close_matches(str(value), options, n=1) if isinstance(value, str) else []
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                raise Problem(f"{_show(value)} is not one of " + ", ".join(f'"{o}"' for o in options) + hint)

            return enum
        return None  # structured: handled by the walkers

    def _record(self, rec: RecordInfo):
        cached = self._records.get(id(rec))
        if cached is not None:
            return cached
        plan = []

        def walk(data, path, errors):
            if not isinstance(data, dict):
                errors.append((path or "(application)", f"expected an object with fields, got {_show(data)}"))
                return None
            out = {}
            for name, f, conv, default in plan:
                p = f"{path}.{name}" if path else name
                v = data.get(name)
                if v is None or v == "":
                    if default is not _NO_DEFAULT:
                        out[name] = default
                    elif f.optional:
                        out[name] = None
                    else:
                        errors.append((p, "required field is missing"))
                    continue
                out[name] = conv(v, p, errors)
            return out

        self._records[id(rec)] = walk
        for name, f in rec.fields.items():
            default = _NO_DEFAULT
            if f.default is not None:
                default = self.const_eval(f.default)
            plan.append((name, f, self._walker(f.type.opt(False)), default))
        return walk

    def _walker(self, t: Type):
        if t.kind == "record":
            return self._record(t.record)
        if t.kind == "list":
            item = self._walker(t.item)

            def walk_list(data, path, errors):
                if not isinstance(data, (list, tuple)):
                    errors.append((path, f"expected a list, got {_show(data)}"))
                    return None
                return [item(x, f"{path}[{i}]", errors) for i, x in enumerate(data)]

            return walk_list
        conv = self._convert(t)
        if conv is None:  # ANY: an unresolved type, already reported by the checker
            return lambda v, p, e: v

        def scalar(data, path, errors):
            try:
                return conv(data)
            except Problem as problem:
                errors.append((path, problem.message))
                return None

        return scalar


_NO_DEFAULT = object()


def const_eval(e):
    """Value of a literal expression (defaults)."""
    if isinstance(e, ast.Number):
        v = e.value
        return int(v) if v == v.to_integral_value() and "." not in str(v) else v
    if isinstance(e, ast.Percent):
        return e.value
    if isinstance(e, ast.Money):
        return e.amount
    if isinstance(e, (ast.String, ast.Bool, ast.DateLit, ast.DateTimeLit)):
        return e.value
    if isinstance(e, ast.Unary) and e.op == "-":
        return -const_eval(e.operand)
    raise ValueError("not a literal")
