"""Value types of the language, as the checker infers them.

A :class:`Type` is immutable. ``optional`` marks values that may be missing
(an optional input without a default, or anything computed from one); the
compiler only emits missing-value handling where a type says so.
"""
from __future__ import annotations

from decimal import Decimal

import attrs

NUMERIC = ("int", "decimal", "percent")
ORDERED = NUMERIC + ("money", "date", "datetime", "text", "enum")


@attrs.frozen(eq=False)
class RecordInfo:
    """A record type: its fields, in declaration order."""

    name: str | None
    fields: dict  # name -> FieldInfo
    node: object = None


@attrs.frozen
class FieldInfo:
    name: str
    type: "Type"
    optional: bool
    default: object  # ast.Expr | None
    label: object  # ast.Label | None
    node: object = attrs.field(eq=False, default=None)


@attrs.frozen
class Type:
    kind: str
    currency: str | None = None
    item: "Type | None" = None
    record: RecordInfo | None = attrs.field(default=None, eq=False)
    options: tuple[str, ...] | None = None
    optional: bool = False
    low: Decimal | None = None
    high: Decimal | None = None
    step: Decimal | None = None
    # the range was not declared: an input amount is 0 or more (``low`` = 0, ``high`` None),
    # and at most the engine's own limit
    implicit_range: bool = False
    # a number set (`int in {0, 3, 7}`): the values accepted, as written; ``low``/``high`` are its extremes
    values: tuple[Decimal, ...] | None = None

    def opt(self, flag: bool = True) -> "Type":
        return attrs.evolve(self, optional=flag) if flag != self.optional else self

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC

    def describe(self) -> str:
        if self.kind == "money":
            s = f"money ({self.currency})" if self.currency else "money"
        elif self.kind == "list":
            s = f"list of {self.item.describe() if self.item else '?'}"
        elif self.kind == "record":
            s = f"record {self.record.name}" if self.record and self.record.name else "record"
        elif self.kind == "enum":
            s = "one of {" + ", ".join(f'"{o}"' for o in (self.options or ())) + "}"
        elif self.kind == "int":
            s = "whole number"
        elif self.kind == "decimal":
            s = "number"
        else:
            s = self.kind
        return s

    def same_family(self, other: "Type") -> bool:
        if self.kind == "any" or other.kind == "any":
            return True
        if self.numeric and other.numeric:
            return True
        if self.kind == "money" and other.kind == "money":
            return self.currency == other.currency
        if self.kind in ("text", "enum") and other.kind in ("text", "enum"):
            return True
        return self.kind == other.kind


def T(kind: str, **kw) -> Type:
    return Type(kind, **kw)


TEXT, INT, DECIMAL, PERCENT, BOOL = T("text"), T("int"), T("decimal"), T("percent"), T("bool")
DATE, DATETIME, DURATION, ANY = T("date"), T("datetime"), T("duration"), T("any")


def money(currency: str | None) -> Type:
    return Type("money", currency=currency)


def unify(a: Type, b: Type) -> Type | None:
    """The common type of two branches (``if``, ``min``…), or None."""
    optional = a.optional or b.optional
    if a.kind == "any":
        return b.opt(optional)
    if b.kind == "any":
        return a.opt(optional)
    if a.numeric and b.numeric:
        kind = a.kind if a.kind == b.kind else "decimal"
        return Type(kind, optional=optional)
    if a.kind == b.kind == "money" and a.currency == b.currency:
        return a.opt(optional)
    if a.kind in ("text", "enum") and b.kind in ("text", "enum"):
        return (a if a.kind == b.kind == "enum" and a.options == b.options else TEXT).opt(optional)
    if a.kind == b.kind and a.kind in ("bool", "date", "datetime", "duration"):
        return a.opt(optional)
    if a.kind == b.kind == "list":
        return a.opt(optional)
    return None
