"""Batch input readers: a file or folder of applications -> one `Row` each.

`read_batch(path, schema)` reads the formats evaluators use (JSON, JSON Lines,
CSV, Excel .xlsx, or a folder of them) and yields one `Row` per application,
in input order, without ever dropping one: a row that cannot be read still
comes out, with ``data=None`` and an error saying why. The full rules, written
for evaluators, are in ``docs/batch-formats.md``; the short version:

* **JSON** (``.json``): a top-level array of application objects, an object
  with an ``"applications"`` array, or a single application object. Numbers
  keep their exact value (``validate.exact_json_float``: a float only where
  that is exact, else a Decimal); values are not converted.
* **JSON Lines** (``.jsonl``, ``.ndjson``): one object per line, read lazily
  one line at a time; blank lines are skipped; a broken line gives a `Row`
  with an error naming the line and reading goes on.
* **CSV** (``.csv``): UTF-8 with or without BOM (files that are not UTF-8 are
  read as Windows-1252, with a warning); separator ``;``, ``,`` or tab, sniffed
  from the header line. Columns are dotted paths of the input schema
  (``project.requested``); cells are converted by the field's ``x-bando-type``.
* **Excel** (``.xlsx``/``.xlsm``): streamed with openpyxl in read-only mode;
  the main sheet is the one named ``applications``/``domande`` or else the
  first sheet that is not an items sheet.
* **Lists of records** (``network.firms``) go in an *items* table linked by
  an ``application`` column: the sibling file ``<stem>.firms.csv`` or a sheet
  named ``firms``. Lists of scalars go in one cell (``7; 8; 6,5``) or in
  repeated columns (``project.marks[0]``, ``project.marks[1]``).
* **A folder** means the ``.json``/``.jsonl``/``.ndjson``/``.csv``/``.xlsx``
  files directly inside it (not in sub-folders), in name order; items files
  (``X.<list>.csv`` next to ``X.csv``), hidden files and Excel lock files
  (``~$...``) are not batches of their own.

Converted values (CSV and Excel): text -> ``str`` (stripped); int -> ``int``;
decimal/money/percent -> ``decimal.Decimal`` (exact, never float; a percent
written ``50%`` becomes ``Decimal("0.50")``); bool -> ``bool``; date ->
``"2025-06-30"``; datetime -> ``"2025-06-30T12:00:00"``; enum -> ``str``
(matched case-insensitively to the allowed values). A cell that cannot be
converted is passed through as its raw text, so the engine's input validation
reports it with its path like any other wrong value. An empty cell means the
field is absent, except for bool fields, where empty means ``False`` (a
checkbox column: ``x`` or empty).

`Row.errors` holds only problems found while *reading* (a broken line, a
missing or duplicate id, stray cells, items that name no application); schema
validation is the engine's job. Problems with a whole file (missing, unknown
format, no id column, unreadable workbook, invalid JSON document) raise
`BatchError`, whose message names the file.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import difflib
import io
import itertools
import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import attrs
import orjson

from dsl import numbers

from engine.text import i18n
from engine.score.input_shape import EMPTY, TEXT, Field, from_json_schema
from engine.paths import file_kind
from engine.compile.validate import exact_json_float

__all__ = [
    "BATCH_SUFFIXES",
    "BatchError",
    "BatchReader",
    "Row",
    "parse_number",
    "read_batch",
    "read_jsonl",
]

#: File suffixes read as batches (lower case), mapped to their format.
BATCH_SUFFIXES = {
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}

#: Column names that link an item row to its application (case-insensitive,
#: first one present wins); the id field itself is also accepted when the item
#: record has no field of that name.
LINK_COLUMNS = ("application", "application_id", "id_domanda", "domanda")

#: Sheet names taken as the main sheet of a workbook (case-insensitive).
MAIN_SHEETS = ("applications", "application", "domande", "domanda")

_HEADER_SEARCH = 20  # lines/rows searched for the header (title rows above it are skipped)

# The reader's remarks on a whole file that the evaluator must see (report.html shows them at the top;
# `bando score` prints them) are in the message catalogue, group "reader", in the call's language.


@attrs.frozen
class Row:
    """One application as read from a batch.

    ``index`` is the 0-based position in input order over the whole batch;
    ``source`` a human locator (``domande.csv:14``, ``batch.xlsx:Domande!row
    14``, ``apps.jsonl:3``, ``apps.json:item 2``); ``app_id`` the application
    id when it could be read; ``data`` the application as JSON-like values
    (``None`` when the row could not be read at all); ``errors`` the
    ``(field, message)`` problems found while reading (field ``""`` means the
    whole row).
    """

    index: int
    source: str
    app_id: str | None
    data: dict | None
    errors: tuple[tuple[str, str], ...] = ()


class BatchError(Exception):
    """A whole batch file cannot be read; the message names the file. It is a catalogue
    :class:`~engine.text.i18n.Message` (``str()``: English; :meth:`render`: the run's language)."""

    def render(self, lang: str) -> str:
        return i18n.render(self.args[0], lang) if self.args else ""


#: paths.file_kind's words -> the catalogue's (reader.kind.*)
_KINDS = {"a folder": "folder", "a named pipe (FIFO)": "fifo", "a character device": "character_device",
          "a block device": "block_device", "a socket": "socket", "a special file": "special"}


class _Remark:
    """A remark on a whole file, written in the reader's language when it is noted (:meth:`BatchReader._warn`)."""

    def __init__(self, msgid: str, **slots):
        self.msgid, self.slots = msgid, slots

    def render(self, lang: str) -> str:
        slots = {k: v.render(lang) if isinstance(v, _Hint) else i18n.render(v, lang) if isinstance(v, i18n.Message)
                 else v for k, v in self.slots.items()}
        return i18n.text(lang, self.msgid, **slots)


class _Hint:
    """The did-you-mean of a misspelled name (:func:`did_you_mean`), in the language it is written in."""

    def __init__(self, name, known, labels):
        self.name, self.known, self.labels = name, known, labels

    def render(self, lang: str) -> str:
        return did_you_mean(self.name, self.known, self.labels, lang)


def _found(cells):
    """The names of a header line that did not hold what was looked for, as a person reads them."""
    return ", ".join(str(c) for c in cells if c) or i18n.Message("reader.file.nothing")


# --------------------------------------------------------------------------- numbers

_HAS_SPACE = re.compile(r"[ \u00a0\u202f\u2009]")
_SPACE_GROUPED = re.compile(r"\d{1,3}(?:[ \u00a0\u202f\u2009]\d{3})+(?:[.,]\d+)?")
_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def _currency_re(code: str) -> re.Pattern:
    """Matches the currency written before or after an amount (``€ 5``, ``5 EUR``)."""
    code = code.strip().upper()
    alts = [re.escape(code)] + ([re.escape(_SYMBOLS[code])] if code in _SYMBOLS else [])
    alt = "|".join(alts)
    return re.compile(rf"^(?:{alt})\s*|\s*(?:{alt})$", re.IGNORECASE)


_CURRENCY = _currency_re("EUR")


def _grouped(s: str, th: str) -> bool:
    """True if `s` is digits grouped by thousands with `th` (``1.234.567``)."""
    parts = s.split(th)
    return (
        1 <= len(parts[0]) <= 3
        and parts[0].isdigit()
        and (parts[0][0] != "0" or len(parts) == 1)
        and all(len(p) == 3 and p.isdigit() for p in parts[1:])
    )


def _plain_number(s: str, mode: bool | None) -> str | None:
    """Canonical ``1234.56`` text for an unsigned number, or None.

    ``mode`` True = Italian only (``.`` groups thousands, ``,`` is the decimal
    mark), False = English only, None = by shape, Italian when ambiguous.
    """
    if s.isdigit() and s.isascii():
        return s
    if _HAS_SPACE.search(s):  # 1 234,56
        if not _SPACE_GROUPED.fullmatch(s):
            return None
        s = _HAS_SPACE.sub("", s)
    if not s or not s.isascii():
        return None
    if mode is not None:
        dec, th = (",", ".") if mode else (".", ",")
        whole, _, frac = s.partition(dec)
        if dec in frac or (frac and not frac.isdigit()) or (_ == dec and not frac):
            return None
        if whole == "" and frac:
            whole = "0"
        if not (whole.isdigit() or _grouped(whole, th)):
            return None
        whole = whole.replace(th, "")
        return f"{whole}.{frac}" if frac else whole
    # by shape
    dots, commas = s.count("."), s.count(",")
    if not dots and not commas:
        return None  # not digits (s.isdigit() was checked above)
    if dots and commas:
        cut = max(s.rfind("."), s.rfind(","))
        dec = s[cut]
        th = "," if dec == "." else "."
        whole, frac = s[:cut], s[cut + 1:]
        if not frac.isdigit() or not _grouped(whole, th):
            return None
        return f"{whole.replace(th, '')}.{frac}"
    sep = "." if dots else ","
    if dots + commas > 1:
        return s.replace(sep, "") if _grouped(s, sep) else None
    whole, frac = s.split(sep)
    if not frac.isdigit() or not (whole == "" or whole.isdigit()):
        return None
    ambiguous = len(frac) == 3 and 1 <= len(whole) <= 3 and whole[0] != "0"
    if ambiguous and sep == ".":  # 1.234: Italian thousands
        return whole + frac
    return f"{whole or '0'}.{frac}"  # 1,234 (Italian decimal), 1234.5, 12,5


def _number(text: str, mode: bool | None,
            currency: re.Pattern | None = _CURRENCY) -> tuple[Decimal | None, bool]:
    """Parse a written number: sign, optional currency (€ / EUR by default),
    optional ``%``. Returns ``(value, had_percent_sign)``; value None when it
    is not a number."""
    s = text.strip()
    pct = s.endswith("%")
    if pct:
        s = s[:-1].rstrip()
    sign = ""
    if not (s[:1].isdigit() and s[-1:].isdigit()):
        if currency is not None:
            s = currency.sub("", s, count=1).strip()  # "€ 5", "5 EUR"
        if s[:1] in ("-", "+", "\u2212"):
            sign = "" if s[0] == "+" else "-"
            s = s[1:].lstrip()
            if currency is not None:
                s = currency.sub("", s, count=1).strip()  # "-€ 5"
    plain = _plain_number(s, mode)
    if plain is None:
        return None, pct
    return Decimal(sign + plain), pct


def parse_number(text: str, decimal_comma: bool | None = None) -> Decimal | None:
    """Read a number the way CSV cells are read; None if it is not one.

    ``parse_number("€ 1.234,56")`` -> ``Decimal("1234.56")``;
    ``parse_number("50 %")`` -> ``Decimal("0.50")``. See `read_batch` for
    ``decimal_comma``.
    """
    value, pct = _number(text, decimal_comma)
    if value is not None and pct:
        value = _shift(value, -2)
    return value


def _shift(d: Decimal, places: int) -> Decimal:
    """``d * 10**places``, exactly (no context rounding)."""
    sign, digits, exp = d.as_tuple()
    return Decimal((sign, digits, exp + places))


# --------------------------------------------------------------------------- dates

_IT_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
_IT_DATETIME = re.compile(
    r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})(?:\s*,\s*|\s+|T)(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?"
)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _parse_date(s: str) -> str | None:
    try:
        if _ISO_DATE.fullmatch(s):
            return dt.date.fromisoformat(s).isoformat()
        m = _IT_DATE.fullmatch(s)
        if m:
            d, mo, y = map(int, m.groups())
            return dt.date(y, mo, d).isoformat()
        if _ISO_DATE.match(s):  # a datetime at midnight is a date
            t = dt.datetime.fromisoformat(s)
            if t.time() == dt.time(0) and t.tzinfo is None:
                return t.date().isoformat()
    except ValueError:
        pass
    return None


def _parse_datetime(s: str) -> str | None:
    try:
        if _ISO_DATE.match(s) and len(s) > 10:
            return dt.datetime.fromisoformat(s).isoformat()
        m = _IT_DATETIME.fullmatch(s)
        if m:
            d, mo, y, h, mi = map(int, m.groups()[:5])
            sec = int(m.group(6) or 0)
            return dt.datetime(y, mo, d, h, mi, sec).isoformat()
    except ValueError:
        pass
    return None  # a bare date is not a datetime: passed through for validation


# --------------------------------------------------------------------------- schema

_BOOLS = {
    "true": True, "vero": True, "yes": True, "y": True, "si": True, "sì": True, "sí": True,
    "1": True, "x": True,
    "false": False, "falso": False, "no": False, "n": False, "0": False,
}


class _Schema:
    """What the readers ask of the input's shape (:mod:`engine.score.input_shape`): the lists of records,
    the other names of their tables, which fields are required, labels and column names."""

    def __init__(self, root: Field):
        self.root = root

    def _list_fields(self) -> list[tuple[tuple[str, ...], Field]]:
        """Every list-of-records field outside lists: ``(path, the list field)``; records are
        followed 8 deep at most (a schema cannot nest further than a policy can)."""
        out: list[tuple[tuple[str, ...], Field]] = []

        def walk(node: Field, path: tuple[str, ...], depth: int) -> None:
            for name, sub in node.props.items():
                if sub.kind == "record" and depth < 8:
                    walk(sub, path + (name,), depth + 1)
                elif sub.records_list:
                    out.append((path + (name,), sub))

        walk(self.root, (), 0)
        return out

    def record_lists(self) -> list[tuple[tuple[str, ...], Field]]:
        """Every list-of-records field outside lists: ``(path, item record)``."""
        return [(path, sub.items) for path, sub in self._list_fields()]

    def list_aliases(self) -> dict[tuple[str, ...], list[str]]:
        """Other names an items table may have, per list of records: the list field's label
        (``Imprese della rete``) and its record type's name (``Impresa``)."""
        return {path: [n for n in (sub.title, sub.type_name) if isinstance(n, str) and n.strip()]
                for path, sub in self._list_fields()}

    def required(self, path: tuple[str, ...]) -> bool:
        """Is the field at ``path`` required (by every record on the way to it)?"""
        node = self.root
        for name in path:
            if name not in node.required:
                return False
            node = node.props.get(name, EMPTY)
        return True

    def label_paths(self, node: Field) -> dict[str, str]:
        """Leaf fields under ``node`` by their label (the policy's ``title``), case-folded:
        ``denominazione della rete`` -> ``network.name``. A label two fields share is left out."""
        out: dict[str, str] = {}
        dup: set[str] = set()

        def walk(n: Field, prefix: str, depth: int) -> None:
            for name, sub in n.props.items():
                if sub.kind == "record" and depth < 8:
                    walk(sub, f"{prefix}{name}.", depth + 1)
                elif not sub.records_list:
                    title = sub.title
                    if isinstance(title, str) and title.strip():
                        key = title.strip().casefold()
                        if key in out:
                            dup.add(key)
                        out[key] = prefix + name

        walk(node, "", 0)
        return {k: v for k, v in out.items() if k not in dup}

    def leaf_paths(self, node: Field, prefix: str = "", depth: int = 0) -> list[str]:
        """Column names a table may use under `node` (for did-you-mean hints)."""
        out = []
        for name, sub in node.props.items():
            if sub.kind == "record" and depth < 8:
                out += self.leaf_paths(sub, f"{prefix}{name}.", depth + 1)
            elif not sub.records_list:
                out.append(prefix + name)
        return out


def _split_path(name: str) -> list[str | int] | None:
    """``network.firms[0].name`` -> ``["network", "firms", 0, "name"]``."""
    segs: list[str | int] = []
    for part in name.split("."):
        m = re.fullmatch(r"\s*([^\[\]]*?)\s*((?:\[\s*\d+\s*\])*)\s*", part)
        if not m or not m.group(1):
            return None
        segs.append(m.group(1))
        segs.extend(int(i) for i in re.findall(r"\d+", m.group(2)))
    return segs


def _fmt_path(path: Iterable[str | int]) -> str:
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (f".{seg}" if out else seg)
    return out


# --------------------------------------------------------------------------- cells

_ABSENT = object()


class _EmptyFalse:
    """An empty bool cell: reads as False but is not content of its own."""


_EMPTY_FALSE = _EmptyFalse()


class _Idx(dict):
    """A list being assembled: sortable key -> item."""


def _text_of_number(v: int | float) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v) if isinstance(v, int) else str(Decimal(repr(v)))


class _Converter:
    """Turns cell values (CSV text or openpyxl values) into JSON-like values."""

    def __init__(self, decimal_comma: bool | None):
        self.mode = decimal_comma
        self.currencies: dict[str, re.Pattern] = {"EUR": _CURRENCY}

    def currency(self, node: Field) -> re.Pattern:
        """The currency an amount may be written with (the policy's, else EUR)."""
        code = node.currency
        code = code.strip().upper() if isinstance(code, str) and code.strip() else "EUR"
        if code not in self.currencies:
            self.currencies[code] = _currency_re(code)
        return self.currencies[code]

    def convert(self, v: Any, node: Field, kind: str | None = None) -> Any:
        kind = kind or node.kind
        if v is None or (isinstance(v, str) and not v.strip()):
            return _EMPTY_FALSE if kind == "bool" else _ABSENT
        if isinstance(v, str):
            return self.from_text(v.strip(), kind, node)
        if isinstance(v, bool):
            return v
        if isinstance(v, (int, float)):
            return self.from_number(v, kind, node)
        if isinstance(v, dt.datetime):
            if kind == "datetime":
                return v.isoformat()
            if v.time() == dt.time(0) and v.tzinfo is None:
                return v.date().isoformat()
            return v.isoformat()
        if isinstance(v, (dt.date, dt.time)):
            return v.isoformat()
        return str(v)

    def from_number(self, v: int | float, kind: str, node: Field) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if kind in ("int", "decimal", "money", "percent") and (
                numbers.int_problem(v) if isinstance(v, int) else numbers.float_problem(v)):
            return v  # beyond what any field holds: passed through for validation to refuse with its path
        d = Decimal(v) if isinstance(v, int) else Decimal(repr(v))
        if kind == "int":
            return int(d) if d == d.to_integral_value() else d
        if kind in ("decimal", "money", "percent"):
            return d
        if kind == "bool":
            return bool(v) if v in (0, 1) else d
        if kind in ("text", "enum"):
            return self.enum(_text_of_number(v), node) if kind == "enum" else _text_of_number(v)
        return v if isinstance(v, int) else d

    def from_text(self, s: str, kind: str, node: Field) -> Any:
        if kind in ("text", "any"):
            return s
        if kind == "enum":
            return self.enum(s, node)
        if kind in ("int", "decimal", "money", "percent"):
            value, pct = _number(s, self.mode, self.currency(node) if kind == "money" else None)
            if value is None or (pct and kind != "percent"):
                return s
            if pct:
                value = _shift(value, -2)
            if numbers.number_problem(value):
                return s  # before int() and before any arithmetic: validation refuses the text with its path
            if kind == "int":
                return int(value) if value == value.to_integral_value() else s
            return value
        if kind == "bool":
            return _BOOLS.get(s.casefold(), s)
        if kind == "date":
            return _parse_date(s) or s
        if kind == "datetime":
            return _parse_datetime(s) or s
        return s

    def enum(self, s: str, node: Field) -> Any:
        allowed = node.options
        if not isinstance(allowed, list):
            return s
        for a in allowed:
            if str(a) == s:
                return a
        folded = [a for a in allowed if str(a).casefold() == s.casefold()]
        return folded[0] if len(folded) == 1 else s

    def split_list(self, v: Any, item: Field) -> list[Any]:
        """A list of scalars written in one cell: ``7; 8; 6,5`` or ``a | b``."""
        if not isinstance(v, str):
            out = [self.convert(v, item)]
        else:
            kind = item.kind
            parts = v.split("|") if "|" in v else v.split(";")
            out = [self.convert(p, item, kind) for p in parts if p.strip()]
        return [x for x in out if x is not _ABSENT and x is not _EMPTY_FALSE]


# --------------------------------------------------------------------------- tables

@attrs.frozen
class _Col:
    index: int           # position in the header
    path: tuple          # canonical path, ints for list positions
    node: Field          # the value's field (the item's for split lists)
    split: bool          # a list of scalars in one cell
    kind: str            # the value's kind (the item's for split lists)


def _is_blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def _cell_name(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return _text_of_number(v)
    return str(v).replace("\ufeff", "").strip()


def _find(names: list[str], wanted: str) -> int | None:
    for i, n in enumerate(names):
        if n == wanted:
            return i
    folded = [i for i, n in enumerate(names) if n.casefold() == wanted.casefold()]
    return folded[0] if len(folded) == 1 else None


class _Table:
    """A header turned into a plan: which column goes where, converted how.

    `root` is the schema of one row (the input schema, or an item record);
    `key_col` the column holding the application id (main table) or the
    application an item belongs to (items table).
    """

    def __init__(self, where: str, header: list[Any], root: Field, schema: _Schema,
                 conv: _Converter, key_col: int, key_path: tuple | None,
                 strip_prefix: str, warn: Callable[[str], None]):
        self.where, self.conv, self.key_col = where, conv, key_col
        self.width = len(header)
        self.cols: list[_Col] = []
        self.names = [_cell_name(h) for h in header]
        unknown: list[tuple[str, str]] = []
        seen: dict[tuple, str] = {}
        labels = schema.label_paths(root)
        for i, name in enumerate(self.names):
            if not name or (i == key_col and key_path is None):
                continue
            rel = name
            if strip_prefix and name.casefold().startswith(strip_prefix.casefold()):
                rel = name[len(strip_prefix):]
            col = self._plan(i, rel, root, schema)
            if isinstance(col, str) and rel.strip().casefold() in labels:
                # a column headed with the field's label, as the policy writes it ("Spese ammissibili")
                col = self._plan(i, labels[rel.strip().casefold()], root, schema)
            if isinstance(col, str):
                if i == key_col:  # an id field the schema does not declare: text
                    col = _Col(i, tuple(key_path), TEXT, False, "text")
                else:
                    unknown.append((name, col))
                    continue
            if col.path in seen and not col.split:
                raise BatchError(i18n.Message("reader.file.column_twice", where=where, name=name, other=seen[col.path]))
            seen.setdefault(col.path, name)
            self.cols.append(col)
        if unknown:
            known = schema.leaf_paths(root)
            for name, why in unknown:
                warn(_Remark("reader.col.ignored", where=where, name=name, why=why,
                             hint=_Hint(name, tuple(known), labels)))

    @staticmethod
    def _plan(i: int, name: str, root: Field, schema: _Schema) -> _Col | str:
        segs = _split_path(name)
        if segs is None:
            return i18n.Message("reader.col.not_a_path")
        node, path = root, []
        for seg in segs:
            kind = node.kind
            if isinstance(seg, int):
                if kind != "list":
                    return i18n.Message("reader.col.not_a_list", path=_fmt_path(path))
                node = node.items
                path.append(seg)
                continue
            if kind != "record":
                return (i18n.Message("reader.col.no_field", path=_fmt_path(path), field=seg) if path
                        else i18n.Message("reader.col.row_no_field", field=seg))
            props = node.props
            if seg not in props:
                folded = [p for p in props if p.casefold() == seg.casefold()]
                if len(folded) != 1:
                    return i18n.Message("reader.col.unknown")
                seg = folded[0]
            path.append(seg)
            node = props[seg]
        kind = node.kind
        if kind == "list":
            item = node.items
            if item.kind in ("record", "list"):
                return (f"{_fmt_path(path)} is a list of records: put them in their own "
                        f"table ({path[-1]}), one row each")
            return _Col(i, tuple(path), item, True, item.kind)
        if kind == "record":
            return (f"{_fmt_path(path)} is a record: use one column per field, "
                    f"like {_fmt_path(path)}.name")
        return _Col(i, tuple(path), node, False, kind)

    def build(self, cells: list[Any] | tuple) -> tuple[dict, list[tuple[str, str]]]:
        """Cells of one row -> (data, read errors)."""
        errors: list[tuple[str, str]] = []
        root: dict = {}
        n = len(cells)
        for col in self.cols:
            v = cells[col.index] if col.index < n else None
            if col.split:
                if _is_blank(v):
                    continue
                items = self.conv.split_list(v, col.node)
                target = _walk(root, col.path, _Idx)
                if target is not None:
                    for j, item in enumerate(items):
                        target[(0, col.index, j)] = item
                continue
            value = self.conv.convert(v, col.node, col.kind)
            if value is not _ABSENT:
                _put(root, col.path, value)
        extra = [c for c in cells[self.width:] if not _is_blank(c)]
        if extra:
            errors.append(("", i18n.Message("reader.row.extra_cells", count=len(extra),
                                            first=_cell_name(extra[0]))))
        data, _ = _finalize(root)
        return data, errors

    def key(self, cells: list[Any] | tuple) -> str | None:
        v = cells[self.key_col] if self.key_col < len(cells) else None
        s = _cell_name(v)
        return s or None


def _walk(root: dict, path: tuple, leaf_type: type) -> dict | None:
    """The container at `path`, created on the way (lists as `_Idx`)."""
    node: Any = root
    for seg, nxt in zip(path, path[1:] + (None,)):
        key = (1, seg) if isinstance(seg, int) else seg
        want = leaf_type if nxt is None else (_Idx if isinstance(nxt, int) else dict)
        child = node.get(key)
        if child is None:
            child = node[key] = want()
        elif type(child) is not want:
            return None
        node = child
    return node


def _put(root: dict, path: tuple, value: Any) -> None:
    parent = root
    if len(path) > 1:
        parent = _walk(root, path[:-1], _Idx if isinstance(path[-1], int) else dict)
    if parent is not None:
        last = path[-1]
        parent[(1, last) if isinstance(last, int) else last] = value


def _finalize(node: Any) -> tuple[Any, bool]:
    """Assembled row -> (JSON-like value, has content). List items without
    content (all cells empty) are dropped; so are lists left empty."""
    if node is _EMPTY_FALSE:
        return False, False
    if isinstance(node, _Idx):
        out = []
        for k in sorted(node):
            v, c = _finalize(node[k])
            if c:
                out.append(v)
        return out, bool(out)
    if isinstance(node, dict):
        res, content = {}, False
        for k, v in node.items():
            fv, c = _finalize(v)
            if isinstance(v, dict) and not c and not fv:
                continue  # a record or list with nothing filled in
            res[k] = fv
            content = content or c
        return res, content
    return node, True


# --------------------------------------------------------------------------- reader

class _Ids:
    """Missing and duplicate id bookkeeping over a whole batch.

    Ids seen are kept as ``id -> file number << 40 | position`` (about 120
    bytes per application), and turned back into a source only for messages.
    """

    def __init__(self, id_field: str, check_duplicates: bool):
        self.path = _split_path(id_field) or [id_field]
        self.id_field = id_field
        self.check = check_duplicates
        self.seen: dict[str, int] = {}
        self.locators: list[Callable[[int], str]] = []

    def locator(self, fmt: Callable[[int], str]) -> int:
        """Register how a file names its rows; returns the file number."""
        self.locators.append(fmt)
        return len(self.locators) - 1

    def source(self, key: int) -> str:
        return self.locators[key >> 40](key & ((1 << 40) - 1))

    def app_id(self, data: Any, errors: list[tuple[str, str]]) -> str | None:
        v: Any = data
        for seg in self.path:
            if isinstance(v, dict):
                v = v.get(seg)
            elif isinstance(v, list) and isinstance(seg, int) and seg < len(v):
                v = v[seg]
            else:
                v = None
        if isinstance(v, str) and v.strip():
            return v.strip()
        if isinstance(v, int) and not isinstance(v, bool):
            return str(v)
        if v is None or (isinstance(v, str) and not v.strip()):
            errors.append((self.id_field, i18n.Message("reader.row.no_id")))
        else:
            shown = str(v) if isinstance(v, (float, Decimal)) and len(str(v)) <= 40 else _json_kind(v)
            errors.append((self.id_field, i18n.Message("reader.row.bad_id", given=shown)))
        return None

    def forget(self) -> None:
        """The batch is read: the ids seen are needed no more (a long batch gives back their memory
        before its results are written)."""
        self.seen = {}

    def check_dup(self, app_id: str | None, key: int, errors: list[tuple[str, str]]) -> None:
        if app_id is None or not self.check:
            return
        first = self.seen.get(app_id)
        if first is None:
            self.seen[app_id] = key
        else:
            errors.append((self.id_field, i18n.Message("reader.row.duplicate_id", id=app_id,
                                                       first=self.source(first))))


#: the low bits of a row's key: its position in its file (the high bits number the file)
_POSITION = (1 << 40) - 1


class BatchReader:
    """Iterator of `Row` over a batch (what `read_batch` returns).

    ``files`` lists the batch files in reading order (items files excluded);
    ``warnings`` collects file-level remarks (ignored columns, sheets and
    files, encoding fallbacks); it fills as files are opened and is complete
    once iteration ends. Use as a context manager, or call `close`, to release
    open files early.
    """

    def __init__(self, path: Path, files: list[tuple[Path, str]], schema: dict | Field, *,
                 decimal_comma: bool | None, id_field: str, check_duplicates: bool, lang: str = "en"):
        self.path = path
        self._lang = lang if lang in i18n.languages() else "en"
        self._w = i18n.table(self._lang, "reader")  # the remarks, in the catalogue (group "reader")
        self._unknown: dict[tuple[str, str], list] = {}  # (file, field) -> [applications, hint]
        self.files = [p for p, _ in files]
        self.formats = [fmt for _, fmt in files]
        self.warnings: list[str] = []
        self._schema = _Schema(schema if isinstance(schema, Field) else from_json_schema(schema))
        self._conv = _Converter(decimal_comma)
        self._ids = _Ids(id_field, check_duplicates)
        self._id_field = id_field
        self._index = 0
        self._gen = self._rows(files)
        self._slice_files: dict[str, int] = {}  # a worker's slices: file name -> locator

    def __iter__(self) -> BatchReader:
        return self

    def __next__(self) -> Row:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def __enter__(self) -> BatchReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- shared ------------------------------------------------------------------

    def _row(self, file: int, n: int, data: Any, errors: list[tuple[str, str]]) -> Row:
        """The next Row: `file` from `_ids.locator`, `n` the position in it."""
        key = self.last_key = file << 40 | n
        app_id = None
        if data is not None:
            app_id = self._ids.app_id(data, errors)
            self._ids.check_dup(app_id, key, errors)
        row = Row(self._index, self._ids.source(key), app_id, data, tuple(errors))
        self._index += 1
        return row

    def _warn(self, msg) -> None:
        msg = msg.render(self._lang) if isinstance(msg, _Remark) else msg  # in the run's language
        if msg not in self.warnings:
            self.warnings.append(msg)

    def _check_fields(self, name: str, doc: Any) -> None:
        """Note the keys of a JSON application that are no field of the policy's input
        (``innovaton``): they would be silently ignored, so the reader warns, once per field."""
        root = self._schema.root
        if not root.props:
            return  # no schema to compare with (read_jsonl)
        stack = [(doc, root, "")]
        while stack:
            value, node, path = stack.pop()
            if not isinstance(value, dict):
                continue
            props = node.props
            # the common case, every key a field: one set difference, then only the records and lists
            # of records inside are walked (a firm of scalars costs no loop of its own)
            unknown = value.keys() - props.keys()
            for key in (value if unknown else node.nested):
                sub = props.get(key)
                if key not in value:
                    continue
                where = f"{path}.{key}" if path else str(key)
                if sub is None:
                    acc = self._unknown.get((name, where))
                    if acc is None:
                        known = [f"{path}.{p}" if path else p for p in props]
                        acc = self._unknown[(name, where)] = [0, did_you_mean(where, known, lang=self._lang)]
                    acc[0] += 1
                    continue
                v = value[key]
                if sub.kind == "record":
                    stack.append((v, sub, where))
                elif sub.records_list and isinstance(v, list):
                    item = sub.items
                    if not item.nested and all(x.__class__ is dict for x in v) \
                            and not set().union(*v) - item.props.keys():
                        continue  # records of known scalars only (32 firms): one union, no walk
                    stack.extend((x, item, where + "[]") for x in v)

    def _flush_fields(self, name: str) -> None:
        for (file, field), (n, hint) in sorted(self._unknown.items()):
            if file == name:
                # a key of 100,000 characters is named by its start, as values are in messages
                shown = field if len(field) <= 80 else field[:80] + "…"
                self._warn(self._w["json_field"].format(file=file, field=shown, hint=hint, n=n))
        self._unknown = {k: v for k, v in self._unknown.items() if k[0] != name}

    def _rows(self, files: list[tuple[Path, str]]) -> Iterator[Row]:
        for path, fmt in files:
            reader = getattr(self, f"_read_{fmt}")
            yield from reader(path)
        self._ids.forget()

    # -- JSON ----------------------------------------------------------------------

    def _read_json(self, path: Path) -> Iterator[Row]:
        name = path.name
        try:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8-sig")
            doc = _loads(text)
        except json.JSONDecodeError as e:
            raise BatchError(i18n.Message("reader.file.json_at", file=name, line=e.lineno, col=e.colno, problem=e.msg)) from None
        except UnicodeDecodeError as e:
            raise BatchError(i18n.Message("reader.file.not_utf8", file=name, problem=e.reason, byte=e.start)) from None
        except (ValueError, RecursionError) as e:
            raise BatchError(i18n.Message("reader.file.json", file=name, problem=str(e))) from None
        except OSError as e:
            raise BatchError(i18n.Message("reader.file.cannot_read", file=name, problem=str(e.strerror or e))) from None
        if isinstance(doc, dict) and isinstance(doc.get("applications"), list):
            items = doc["applications"]
        elif isinstance(doc, list):
            items = doc
        elif isinstance(doc, dict):
            errors: list[tuple[str, str]] = []
            doc = _clean_surrogates(doc, _SURROGATE_ESCAPE.search(text) is not None, errors)
            self._check_fields(name, doc)
            yield self._row(self._ids.locator(lambda n: name), 0, doc, errors)
            self._flush_fields(name)
            return
        else:
            raise BatchError(i18n.Message("reader.file.json_shape", file=name, given=_json_kind(doc)))
        file = self._ids.locator(lambda n: f"{name}:item {n}")
        suspect = _SURROGATE_ESCAPE.search(text) is not None
        for n, item in enumerate(items, 1):
            if isinstance(item, dict):
                errors = []
                item = _clean_surrogates(item, suspect, errors)
                self._check_fields(name, item)
                yield self._row(file, n, item, errors)
            else:
                yield self._row(file, n, None, [("", i18n.Message("reader.row.not_an_object_item", n=n,
                                                                  given=_json_kind(item)))])
        self._flush_fields(name)

    # -- JSON Lines ------------------------------------------------------------------

    def _read_jsonl(self, path: Path) -> Iterator[Row]:
        try:
            f = open(path, "rb")
        except OSError as e:
            raise BatchError(i18n.Message("reader.file.cannot_read", file=path.name, problem=str(e.strerror or e))) from None
        with f:
            yield from self._jsonl_lines(f, path.name)

    def _jsonl_lines(self, lines: Iterable[bytes | str], name: str, first: int = 1,
                     file: int | None = None, flush: bool = True) -> Iterator[Row]:
        """Rows of JSON Lines, the first line numbered ``first``; ``file`` the file's locator when it is
        already registered, ``flush`` False for a slice of a file (:meth:`jsonl_slice`)."""
        if file is None:
            file = self._ids.locator(lambda n: f"{name}:{n}")
        for n, line in enumerate(lines, first):
            if isinstance(line, bytes):
                if n == 1 and line.startswith(codecs.BOM_UTF8):
                    line = line[3:]
                try:
                    line = line.decode("utf-8")
                except UnicodeDecodeError as e:
                    yield self._row(file, n, None, [("", i18n.Message("reader.row.not_utf8_line", n=n,
                                                                      problem=e.reason, col=e.start + 1))])
                    continue
            elif n == 1:
                line = line.lstrip("\ufeff")
            if not line.strip():
                continue
            try:
                doc = _loads(line)
            except json.JSONDecodeError as e:
                # the parser's own words say what is wrong (in English); where is in the run's language
                yield self._row(file, n, None, [("", i18n.Message("reader.row.bad_json_line_at", n=n, col=e.colno,
                                                                  problem=e.msg))])
                continue
            except (ValueError, RecursionError) as e:
                yield self._row(file, n, None, [("", i18n.Message("reader.row.bad_json_line", n=n, problem=str(e)))])
                continue
            if isinstance(doc, dict):
                errors = []
                doc = _clean_surrogates(doc, "\\u" in line and _SURROGATE_ESCAPE.search(line) is not None, errors)
                self._check_fields(name, doc)
                yield self._row(file, n, doc, errors)
            else:
                yield self._row(file, n, None, [("", i18n.Message("reader.row.not_an_object_line", n=n,
                                                                  given=_json_kind(doc)))])
        if flush:
            self._flush_fields(name)

    # -- one JSON Lines file in slices, read by workers (``bando score --jobs``) --------

    def jsonl_slices(self, lines: int = 256) -> Iterator[tuple[int, bytes, int]]:
        """The batch, one JSON Lines file, as ``(first line number, bytes of the lines, their offset in
        the file)`` slices for workers to read (:func:`slice_reader`). This reader stays with the driver, which hands it
        every row a worker read (:meth:`duplicate`, :meth:`reread`) and its unknown fields
        (:meth:`merge_unknown`), in input order, then :meth:`finish_slices`: only it sees the whole
        batch."""
        if self.formats != ["jsonl"]:
            raise ValueError("jsonl_slices: the batch is not one JSON Lines file")
        path = self.files[0]
        try:
            f = open(path, "rb")
        except OSError as e:
            raise BatchError(i18n.Message("reader.file.cannot_read", file=path.name, problem=str(e.strerror or e))) from None
        name = path.name
        self._slice_file = self._ids.locator(lambda n: f"{name}:{n}")
        with f:
            n, at = 1, 0
            while True:
                chunk = list(itertools.islice(f, lines))
                if not chunk:
                    break
                blob = b"".join(chunk)
                yield n, blob, at
                n += len(chunk)
                at += len(blob)

    def finish_slices(self) -> None:
        """Every slice's answers are in: the warnings about the file's unknown fields, as the
        whole-file reader gives them at its end."""
        self._flush_fields(self.files[0].name)
        self._ids.forget()

    def read_slice(self, name: str, first: int, blob: bytes) -> Iterator[Row]:
        """The rows of one slice of ``name`` (in a worker, on a :func:`slice_reader`), numbered from
        0; ``last_key`` after each row says where it was, :meth:`take_unknown` what it did not know."""
        self._index = 0
        file = self._slice_files.get(name)
        if file is None:
            file = self._slice_files[name] = self._ids.locator(lambda n: f"{name}:{n}")
        return self._jsonl_lines(io.BytesIO(blob), name, first, file=file, flush=False)

    def take_unknown(self) -> dict:
        """The unknown fields tallied since the last call (``(file, field) -> [rows, hint]``)."""
        unknown, self._unknown = self._unknown, {}
        return unknown

    def merge_unknown(self, unknown: dict) -> None:
        for key, (n, hint) in unknown.items():
            acc = self._unknown.setdefault(key, [0, hint])
            acc[0] += n

    def duplicate(self, app_id: str | None, key: int) -> bool:
        """Whether a row a worker read repeats an earlier id (then :meth:`reread` it); else it is
        counted as seen. ``key`` is the worker's ``last_key`` for it."""
        self._index += 1
        if app_id is None or not self._ids.check:
            return False
        if app_id in self._ids.seen:
            return True
        self._ids.seen[app_id] = self._slice_file << 40 | key & _POSITION
        return False

    def reread(self, first: int, blob: bytes, key: int, index: int) -> Row:
        """The row at ``key`` of a slice, read again here, where the earlier ids are known: as the
        whole-file reader gives it, with the duplicate id among its errors."""
        n = key & _POSITION
        line = next(itertools.islice(io.BytesIO(blob), n - first, None))
        unknown, self._unknown, self._index = self._unknown, {}, index  # its fields are tallied already
        row = next(self._jsonl_lines([line], self.files[0].name, n, file=self._slice_file, flush=False))
        self._unknown, self._index = unknown, index + 1
        return row

    # -- CSV -------------------------------------------------------------------------

    def _read_csv(self, path: Path) -> Iterator[Row]:
        name = path.name
        items = [self._load_csv_items(p, lp, node, name)
                 for p, lp, node in self._csv_siblings(path)]
        lines = _CsvLines(path, self._warn)
        with lines:
            _, header = lines.header(lambda cells: _find(cells, self._id_field) is not None,
                                     i18n.Message("reader.file.no_id_column", id=self._id_field))
            key_col = _find(header, self._id_field)
            table = _Table(name, header, self._schema.root, self._schema, self._conv, key_col,
                           tuple(self._ids.path), "", self._warn)
            for lp in self._unfilled(items, table):
                self._warn(self._w["no_items_csv"].format(file=name, field=_fmt_path(lp),
                                                          expected=f"{path.stem}.{lp[-1]}.csv"))
            file = self._ids.locator(lambda n: f"{name}:{n}")
            for line_no, cells, err in lines.records():
                if err:
                    yield self._row(file, line_no, None, [("", err)])
                    continue
                if all(_is_blank(c) for c in cells):
                    continue
                yield self._table_row(file, line_no, table, cells, items)
        yield from self._orphans(items)

    def _csv_siblings(self, path: Path) -> list[tuple[Path, tuple, dict]]:
        lists = self._schema.record_lists()
        out = []
        prefix = path.stem + "."
        for p in sorted(path.parent.iterdir()):
            if (p.suffix.lower() != ".csv" or not p.name.startswith(prefix) or p == path
                    or not p.is_file()):
                continue
            middle = p.stem[len(prefix):]
            match = _match_list(middle, lists, self._schema.list_aliases())
            if match is None:
                names = ", ".join(_fmt_path(lp) for lp, _ in lists) or i18n.Message("reader.file.nothing")
                self._warn(_Remark("reader.items_file_ignored", file=p.name, middle=middle, lists=names))
                continue
            out.append((p, match[0], match[1]))
        return out

    def _load_csv_items(self, path: Path, list_path: tuple, item: dict, main: str) -> _Items:
        lines = _CsvLines(path, self._warn)
        with lines:
            finder = self._link_finder(item)
            _, header = lines.header(lambda cells: finder(cells) is not None,
                                     i18n.Message("reader.file.no_link_column"))
            table = _Table(path.name, header, item, self._schema, self._conv, finder(header),
                           None, _fmt_path(list_path) + ".", self._warn)
            items = _Items(list_path, main, path.name)
            for line_no, cells, err in lines.records():
                source = f"{path.name}:{line_no}"
                if err:
                    items.orphans.append((source, err))
                    continue
                if all(_is_blank(c) for c in cells):
                    continue
                items.add(table, cells, source)
        return items

    def _unfilled(self, items: list[_Items], table: _Table) -> list[tuple]:
        """Required lists of records that neither an items table nor numbered columns of the
        main one fill: a missing ``domande.firms.csv`` or ``firms`` sheet leaves every
        application without firms, which the policy then judges; the reader says so."""
        filled = {group.list_path for group in items}
        out = []
        for lp, _node in self._schema.record_lists():
            if lp in filled or not self._schema.required(lp) \
                    or any(tuple(col.path[:len(lp)]) == lp for col in table.cols):
                continue
            out.append(lp)
        return out

    def _link_finder(self, item: Field) -> Callable[[list[str]], int | None]:
        own = {p.casefold() for p in item.props}
        names = list(LINK_COLUMNS)
        if self._id_field.casefold() not in own:
            names.append(self._id_field)

        def finder(cells: list[str]) -> int | None:
            for n in names:
                i = _find(cells, n)
                if i is not None:
                    return i
            return None
        return finder

    # -- rows of a table, items attached -------------------------------------------

    def _table_row(self, file: int, n: int, table: _Table, cells: Any,
                   items: list[_Items]) -> Row:
        data, errors = table.build(cells)
        key = table.key(cells)
        for group in items:
            group.attach(key, data, errors)
        return self._row(file, n, data, errors)

    def _orphans(self, items: list[_Items]) -> Iterator[Row]:
        for group in items:
            errors = group.orphan_errors()
            if errors:
                yield self._row(self._ids.locator(lambda n, w=group.where: w), 0, None, errors)

    # -- XLSX ------------------------------------------------------------------------

    def _read_xlsx(self, path: Path) -> Iterator[Row]:
        import openpyxl  # only when a workbook is read

        name = path.name
        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        except Exception as e:  # openpyxl raises many kinds for a bad file
            raise BatchError(i18n.Message("reader.file.bad_xlsx", file=name, problem=f"{type(e).__name__}: {e}")) from None
        try:
            lists = self._schema.record_lists()
            aliases = self._schema.list_aliases()
            item_sheets = []
            filled: dict[tuple, str] = {}
            for ws in wb.worksheets:
                match = _match_list(ws.title.strip(), lists, aliases)
                if match is None:
                    continue
                if match[0] in filled:
                    self._warn(_Remark("reader.sheet_taken", file=name, sheet=ws.title, other=filled[match[0]],
                                       field=_fmt_path(match[0])))
                    continue
                filled[match[0]] = ws.title
                item_sheets.append((ws, match))
            taken = {id(ws) for ws in wb.worksheets
                     if _match_list(ws.title.strip(), lists, aliases) is not None}
            named = [ws for ws in wb.worksheets
                     if ws.title.strip().casefold() in MAIN_SHEETS and id(ws) not in taken]
            others = [ws for ws in wb.worksheets if id(ws) not in taken]
            main = named[0] if named else (others[0] if others else None)
            if main is None:
                raise BatchError(i18n.Message("reader.file.no_main_sheet", file=name,
                                                  sheets=", ".join(ws.title for ws in wb.worksheets)))
            names = [n for lp, _ in lists for n in (lp[-1], *aliases.get(lp, ()))]
            for ws in others:
                if ws is not main:
                    self._warn(self._w["sheet_ignored"].format(file=name, sheet=ws.title,
                                                               hint=did_you_mean(ws.title, names,
                                                                                 lang=self._lang)))
            items = [self._load_sheet_items(name, ws, lp, node, f"{name}:{main.title}")
                     for ws, (lp, node) in item_sheets]
            rows = _SheetRows(name, main)
            _, header = rows.header(lambda cells: _find(cells, self._id_field) is not None,
                                    i18n.Message("reader.file.no_id_column", id=self._id_field))
            table = _Table(f"{name}:{main.title}", header, self._schema.root, self._schema,
                           self._conv, _find(header, self._id_field), tuple(self._ids.path), "",
                           self._warn)
            for lp in self._unfilled(items, table):
                self._warn(self._w["no_items_sheet"].format(
                    file=name, field=_fmt_path(lp), expected=lp[-1],
                    sheets=", ".join(ws.title for ws in wb.worksheets)))
            title = main.title
            file = self._ids.locator(lambda n: f"{name}:{title}!row {n}")
            for n, cells in rows.records():
                if all(_is_blank(c) for c in cells):
                    continue
                yield self._table_row(file, n, table, cells, items)
            yield from self._orphans(items)
        finally:
            wb.close()

    def _load_sheet_items(self, name: str, ws: Any, list_path: tuple, item: dict,
                          main: str) -> _Items:
        rows = _SheetRows(name, ws)
        finder = self._link_finder(item)
        _, header = rows.header(lambda cells: finder(cells) is not None,
                                i18n.Message("reader.file.no_link_column"))
        where = f"{name}:{ws.title}"
        table = _Table(where, header, item, self._schema, self._conv, finder(header), None,
                       _fmt_path(list_path) + ".", self._warn)
        items = _Items(list_path, main, where)
        for n, cells in rows.records():
            if all(_is_blank(c) for c in cells):
                continue
            items.add(table, cells, f"{where}!row {n}")
        return items


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (Python's json accepts them by default)."""
    raise ValueError(f"{name} is not a valid JSON value")


def _long_int(text: str) -> int | Decimal:
    """``parse_int`` for the second reading of a document with a whole number of thousands of digits:
    Python refuses ``int()`` past 4,300 digits, so such a number stays a Decimal, which the
    validator refuses as a field error (more than 18 digits) like any other too-large number."""
    return int(text) if len(text) <= 4000 else Decimal(text)


#: a text's bytes with every character a number is written with (digits, ``.``, signs) as ``0`` and
#: ``e``/``E`` as ``e``: a run of 17 such characters, or ``0e``, may be a number that
#: ``exact_json_float`` makes a Decimal, and orjson a float (a long VAT number in a text only
#: costs the slower reading). One ``bytes.translate`` and two searches: a regular expression
#: scanning for the same took longer than orjson's whole parse.
_NUMBER_CHARS = bytes(ord("0") if chr(c) in "0123456789.-+" else ord("e") if chr(c) in "eE" else ord(" ")
                      for c in range(256))
_LONG_NUMBER = b"0" * 17


def _exact_for_orjson(text: str) -> bool:
    try:
        shape = text.encode("utf-8").translate(_NUMBER_CHARS)
    except UnicodeEncodeError:  # a lone surrogate: the standard library reads it (and the reader flags it)
        return False
    return _LONG_NUMBER not in shape and b"0e" not in shape


def _loads(text: str) -> Any:
    """``json.loads`` with exact numbers, no NaN/Infinity, and whole numbers of any length.

    orjson reads a line about four times faster than ``json.loads`` with a ``parse_float`` hook; it
    is used where it gives the very values the standard library gives: no number in the text that
    a double cannot hold as written. Anything orjson refuses (broken JSON, NaN, a lone surrogate,
    a whole number past 64 bits, deep nesting) is read again by the standard library, which says
    what is wrong in its own words, as before."""
    if _exact_for_orjson(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(text, parse_float=exact_json_float, parse_constant=_no_constant)
    except json.JSONDecodeError:
        raise
    except ValueError as e:  # "Exceeds the limit (4300 digits) for integer string conversion"
        if "integer string conversion" not in str(e):
            raise
        return json.loads(text, parse_float=exact_json_float, parse_constant=_no_constant, parse_int=_long_int)


#: a JSON escape of a UTF-16 surrogate: only these make json.loads produce lone surrogates
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean_surrogates(doc: Any, suspect: bool, errors: list[tuple[str, str]]) -> Any:
    """``doc`` with every lone surrogate (JSON ``"\\ud800"`` without its pair) written out as ``\\ud800``,
    and an error for each text that had one: such a text is not Unicode, and no result file could
    hold it. ``suspect``: the document's text has a surrogate escape at all (else nothing is walked)."""
    if not suspect:
        return doc

    def clean(v: str, path: str) -> str:
        if not _SURROGATE.search(v):
            return v
        c = _SURROGATE.search(v).group()
        errors.append((path, i18n.Message("reader.row.surrogate", code=f"\\u{ord(c):04x}")))
        return v.encode("utf-8", "backslashreplace").decode("utf-8")

    root: list = [doc]
    stack: list[tuple[Any, Any, str]] = [(root, 0, "")]
    while stack:  # iterative: a document may nest as deep as json.loads allows
        parent, key, path = stack.pop()
        v = parent[key]
        if isinstance(v, str):
            parent[key] = clean(v, path or "(application)")
        elif isinstance(v, list):
            for i in range(len(v)):
                stack.append((v, i, f"{path}[{i}]"))
        elif isinstance(v, dict):
            for k in list(v):
                name = k
                if _SURROGATE.search(k):
                    # the error's path names the key as it is shown, escaped: the raw key cannot be written
                    name = k.encode("utf-8", "backslashreplace").decode("utf-8")
                    clean(k, f"{path}.{name}" if path else name)
                    v[name] = v.pop(k)
                stack.append((v, name, f"{path}.{name}" if path else name))
    return root[0]


def _json_kind(v: Any) -> i18n.Message:
    """What a JSON value is, in words of the catalogue (reader.kind.json_*)."""
    if isinstance(v, list):
        kind = "list"
    elif isinstance(v, str):
        kind = "string"
    elif isinstance(v, bool):
        kind = "bool"
    elif v is None:
        kind = "null"
    elif isinstance(v, (int, Decimal, float)):
        kind = "number"
    else:
        kind = "object"
    return i18n.Message("reader.kind.json_" + kind)


def _match_list(name: str, lists: list[tuple[tuple[str, ...], dict]],
                aliases: dict[tuple[str, ...], list[str]] | None = None) -> tuple[tuple, dict] | None:
    """An items table name -> the list it fills: full dotted path or last segment, else
    (``aliases``) the list's label, the first words of it (``Imprese`` for "Imprese della
    rete") or its record type's name (``Impresa``), when only one list answers to it."""
    key = name.strip().casefold()
    full = [(lp, n) for lp, n in lists if ".".join(lp).casefold() == key]
    if full:
        return full[0]
    last = [(lp, n) for lp, n in lists if lp[-1].casefold() == key]
    if len(last) == 1 or not aliases or not key:
        return last[0] if len(last) == 1 else None

    def answers(lp: tuple) -> bool:
        for alias in aliases.get(lp, ()):
            a = alias.strip().casefold()
            if a == key or a.startswith(key + " "):
                return True
        return False
    named = [(lp, n) for lp, n in lists if answers(lp)]
    return named[0] if len(named) == 1 else None


def did_you_mean(name: str, known: Iterable[str], labels: Mapping[str, str] | None = None,
                 lang: str = "en") -> str:
    """`` (did you mean 'project.requested'?)`` for a misspelled field name, or ``""``: the
    closest field path, or the field whose label is closest. One hint for CSV headers, sheet
    names and JSON keys alike."""
    folded: dict[str, str] = {}
    for k in known:  # capital letters do not matter in headers and sheet names: nor in the hint
        folded.setdefault(k.casefold(), k)
    hint = [folded[h] for h in difflib.get_close_matches(name.casefold(), list(folded), n=1)]
    if not hint and labels:
        by_label = difflib.get_close_matches(name.strip().casefold(), list(labels), n=1)
        hint = [labels[by_label[0]]] if by_label else []
    return i18n.table(lang if lang in i18n.languages() else "en", "reader")["hint"].format(name=hint[0]) \
        if hint else ""


class _Items:
    """Items of one list field, grouped by the application they name."""

    def __init__(self, list_path: tuple, main: str, where: str):
        self.list_path = list_path
        self.field = _fmt_path(list_path)
        self.main = main
        self.where = where
        self.groups: dict[str, list[tuple[dict, list[tuple[str, str]]]]] = {}
        self.first_source: dict[str, str] = {}
        self.used: set[str] = set()
        self.orphans: list[tuple[str, str]] = []

    def add(self, table: _Table, cells: Any, source: str) -> None:
        key = table.key(cells)
        if key is None:
            self.orphans.append((source, "no application id in the link column"))
            return
        data, errors = table.build(cells)
        self.groups.setdefault(key, []).append((data, errors))
        self.first_source.setdefault(key, source)

    def attach(self, key: str | None, data: dict, errors: list[tuple[str, str]]) -> None:
        group = self.groups.get(key, []) if key is not None else []
        if key is not None and group:
            self.used.add(key)
        node: Any = data
        for seg in self.list_path[:-1]:
            child = node.get(seg)
            if not isinstance(child, dict):
                child = node[seg] = {}
            node = child
        target = node.get(self.list_path[-1])
        if not isinstance(target, list):
            target = node[self.list_path[-1]] = []
        for item, item_errors in group:
            at = f"{self.field}[{len(target)}]"
            target.append(item)
            errors.extend((f"{at}.{f}" if f else at, m) for f, m in item_errors)

    def orphan_errors(self) -> list[tuple[str, str]]:
        out = [(self.field, f"{src}: {msg}") for src, msg in self.orphans]
        for key, group in self.groups.items():
            if key not in self.used:
                more = f" ({len(group)} items)" if len(group) > 1 else ""
                out.append((self.field, f"{self.first_source[key]}: application {key!r} is not "
                                        f"in {self.main}{more}"))
        return out


class _CsvLines:
    """A CSV file: encoding check, header search, separator sniffing, records."""

    def __init__(self, path: Path, warn: Callable[[str], None]):
        self.path, self.name = path, path.name
        try:
            encoding = _csv_encoding(path)
            self.f = open(path, newline="", encoding=encoding)
        except OSError as e:
            raise BatchError(i18n.Message("reader.file.cannot_read", file=self.name, problem=str(e.strerror or e))) from None
        if encoding != "utf-8-sig":
            warn(_Remark("reader.not_utf8", file=self.name, encoding=encoding))
        self.delimiter = ","
        self.header_no = 0

    def __enter__(self) -> _CsvLines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()

    def header(self, is_header: Callable[[list[str]], bool], missing: str) -> tuple[int, list[str]]:
        first = None
        for n in range(1, _HEADER_SEARCH + 1):
            line = self.f.readline()
            if not line:
                break
            if not line.strip():
                continue
            delim = max((";", ",", "\t"), key=lambda d: (line.count(d), d == ","))
            cells = [_cell_name(c) for c in next(csv.reader([line], delimiter=delim), [])]
            first = first or cells
            if is_header(cells):
                self.delimiter, self.header_no = delim, n
                return n, cells
        if first is None:
            raise BatchError(i18n.Message("reader.file.empty", file=self.name))
        raise BatchError(i18n.Message("reader.file.no_header", where=self.name, missing=missing,
                                      found=_found(first)))

    def records(self) -> Iterator[tuple[int, list[str], str | None]]:
        reader = csv.reader(self.f, delimiter=self.delimiter, strict=True)
        end = self.header_no
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                start, end = end + 1, self.header_no + reader.line_num
                why = str(e)
                if why == "unexpected end of data":
                    why = (f"a quoted cell is never closed: lines {start}-{end} "
                           f"could not be read")
                yield start, [], f"line {start}: unreadable CSV record: {why}"
                continue
            start, end = end + 1, self.header_no + reader.line_num
            yield start, cells, None


def _csv_encoding(path: Path) -> str:
    """``utf-8-sig`` if the file is UTF-8 (streaming check), else cp1252 or latin-1."""
    for encoding in ("utf-8-sig", "cp1252"):
        dec = codecs.getincrementaldecoder(encoding)()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 16):
                    dec.decode(chunk)
                dec.decode(b"", final=True)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


class _SheetRows:
    """A worksheet in read-only mode: header search, then numbered rows."""

    def __init__(self, name: str, ws: Any):
        self.name, self.ws = name, ws
        ws.reset_dimensions()  # trust the cells, not the (often wrong) stored size
        self.rows = enumerate(ws.iter_rows(values_only=True), 1)

    def header(self, is_header: Callable[[list[str]], bool], missing: str) -> tuple[int, list[str]]:
        first = None
        try:  # corrupt sheet XML can surface in the very first rows, while the header is looked for
            for n, cells in self.rows:
                names = [_cell_name(c) for c in cells]
                if any(names):
                    first = first or names
                    if is_header(names):
                        return n, names
                if n >= _HEADER_SEARCH:
                    break
        except Exception as e:
            raise self._failure(e) from None
        where = f"{self.name}:{self.ws.title}"
        if first is None:
            raise BatchError(i18n.Message("reader.file.empty_sheet", where=where))
        raise BatchError(i18n.Message("reader.file.no_header", where=where, missing=missing, found=_found(first)))

    def records(self) -> Iterator[tuple[int, tuple]]:
        try:
            yield from self.rows
        except Exception as e:  # corrupt sheet XML surfaces mid-stream
            raise self._failure(e) from None

    def _failure(self, e: Exception) -> BatchError:
        """The BatchError for a sheet openpyxl could not go on reading."""
        where = f"{self.name}:{self.ws.title}"
        if isinstance(e, ValueError) and "integer string conversion" in str(e):
            # openpyxl's int() of the cell text: it cannot go on past that cell, so neither can we
            return BatchError(i18n.Message("reader.file.huge_int", where=where))
        return BatchError(i18n.Message("reader.file.bad_sheet", where=where, problem=f"{type(e).__name__}: {e}"))


# --------------------------------------------------------------------------- entry points

def _batch_files(path: Path) -> list[tuple[Path, str]]:
    if path.is_dir():
        entries = sorted((p for p in path.iterdir() if p.is_file()), key=lambda p: p.name)
        csv_stems = {p.stem for p in entries if p.suffix.lower() == ".csv"}
        out = []
        for p in entries:
            fmt = BATCH_SUFFIXES.get(p.suffix.lower())
            if fmt is None or p.name.startswith((".", "~$")):
                continue
            if fmt == "csv" and any(p.stem[:i] in csv_stems
                                    for i, c in enumerate(p.stem) if c == "."):
                continue  # an items file of another CSV
            out.append((p, fmt))
        if not out:
            raise BatchError(i18n.Message("reader.file.no_files", path=str(path)))
        return out
    if not path.exists():
        raise BatchError(i18n.Message("reader.file.missing", path=str(path)))
    kind = file_kind(path.stat().st_mode)
    if kind is not None:  # a FIFO blocks the reader for ever, /dev/zero never ends
        raise BatchError(i18n.Message("reader.file.not_regular", path=str(path),
                                      kind=i18n.Message("reader.kind." + _KINDS.get(kind, "special"))))
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise BatchError(i18n.Message("reader.file.xls", file=path.name))
    fmt = BATCH_SUFFIXES.get(suffix)
    if fmt is None:
        raise BatchError(i18n.Message("reader.file.unknown_format", file=path.name,
                                      suffix=repr(path.suffix) if path.suffix else "(no extension)"))
    return [(path, fmt)]


def read_batch(path: str | Path, schema: dict, *, decimal_comma: bool | None = None,
               id_field: str = "id", check_duplicates: bool = True, lang: str = "en") -> BatchReader:
    """Read a batch of applications: yields one `Row` per application.

    ``path`` is a file (format by extension) or a folder (see module doc).
    ``schema`` is the policy's input JSON Schema; it decides how CSV/Excel
    cells are converted. ``decimal_comma`` says how numbers written as text
    are read: None (auto) reads each cell by its shape, and when one separator
    is followed by exactly three digits (``1.234``, ``1,234``) reads it the
    Italian way (one thousand two hundred thirty-four; one point two three
    four); True accepts only Italian numbers (``1.234,56``) and False only
    English ones (``1,234.56``), passing anything else through unconverted so
    validation flags it. ``id_field`` names the id (a dotted path is allowed).
    ``check_duplicates=False`` turns off the duplicate-id check, whose memory
    grows with the number of applications. ``lang`` is the language of the
    warnings about a missing items file, an ignored sheet or JSON field.

    Missing files and unknown formats raise `BatchError` here; problems found
    inside a file raise `BatchError` while iterating.
    """
    path = Path(path)
    files = _batch_files(path)
    return BatchReader(path, files, schema, decimal_comma=decimal_comma, id_field=id_field,
                       check_duplicates=check_duplicates, lang=lang)


def slice_reader(schema: dict | Field, *, lang: str = "en", id_field: str = "id") -> BatchReader:
    """A reader of slices of a JSON Lines file (:meth:`BatchReader.jsonl_slices`), in a worker: it
    checks no duplicate ids (the driver's reader does, over the whole batch)."""
    return BatchReader(Path("slice.jsonl"), [], schema, decimal_comma=None, id_field=id_field,
                       check_duplicates=False, lang=lang)


def read_jsonl(lines: Iterable[bytes | str], *, name: str = "<stdin>", id_field: str = "id",
               check_duplicates: bool = True) -> Iterator[Row]:
    """Rows from JSON Lines given as any iterable of lines (an open binary
    file, ``sys.stdin.buffer``, a generator), read lazily one line at a time.
    ``name`` is used in sources (``<stdin>:3``)."""
    reader = BatchReader(Path(name), [], {}, decimal_comma=None, id_field=id_field,
                         check_duplicates=check_duplicates)
    return reader._jsonl_lines(lines, name)
