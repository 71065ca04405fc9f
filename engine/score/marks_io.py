"""The evaluation panel's marks sheet: CSV or xlsx, as panels keep it (docs/batch-formats.md, "Marks sheet").

Two layouts, told apart by the header:

* **long**: one row per (application, evaluator, criterion): ``application``,
  ``evaluator``, ``criterion``, ``mark``, and optionally ``conflict``;
* **wide**: one row per (application, evaluator): ``application``, ``evaluator``,
  optionally ``conflict``, then one column per mark of the policy's panel (named by the
  mark's id or by its label).

Header names are English or Italian (``domanda``, ``valutatore``/``esperto``,
``criterio``, ``voto``, ``conflitto``). A row whose evaluator is ``consensus`` or
``consenso`` is the mark agreed at the consensus meeting. This module reads; it
does not judge: a mark off the scale is read as it is and judged by
:mod:`engine.evaluate.panel`, which names it in the application's result. A row that
belongs to no application, or names a mark the policy does not have, is a problem of
the sheet, listed for the office (summary.json, the report).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path

import attrs

from engine.paths import file_kind
from engine.evaluate.panel import parse_mark
from engine.score.batch_io import did_you_mean
from engine.text import i18n

#: the columns of a marks sheet, and the header names each is known by (compared without case, spaces or `_`)
COLUMNS = {
    "application": ("application", "applicationid", "domanda", "iddomanda", "id"),
    "evaluator": ("evaluator", "evaluatorid", "valutatore", "esperto", "expert"),
    "criterion": ("criterion", "criterio", "markid", "mark_id"),
    "mark": ("mark", "voto", "punteggio"),
    "conflict": ("conflict", "conflitto", "conflittodiinteressi", "conflictofinterest"),
}
#: a sheet of an xlsx workbook with one of these names is the marks sheet; else the first that has a header
SHEET_NAMES = ("marks", "voti", "valutazioni", "valutazione")
MAX_ROWS = 1_000_000
_HEADER_SEARCH = 20
_YES = {"sì", "si", "s", "yes", "y", "true", "1", "x", "vero"}
_NO = {"", "no", "n", "false", "0", "falso"}


class MarksError(Exception):
    """A marks sheet that cannot be read at all; the message (an i18n Message) names the file."""

    def render(self, lang: str) -> str:
        return i18n.render(self.args[0], lang) if self.args else ""


@attrs.frozen
class MarkRow:
    application: str
    evaluator: str
    criterion: str
    text: str
    mark: Decimal | None
    conflict: bool
    consensus: bool
    source: str

    def as_given(self) -> dict:
        """The row as an application's ``marks`` list holds it (engine.evaluate.panel)."""
        return {"evaluator": self.evaluator, "criterion": self.criterion, "mark": self.mark if self.mark is not None
                else self.text, "conflict": self.conflict, "consensus": self.consensus, "source": self.source}


@attrs.frozen
class Marks:
    rows: tuple[MarkRow, ...]
    problems: tuple[i18n.Message, ...]
    remarks: tuple[i18n.Message, ...]
    layout: str
    path: str


def _key(name) -> str:
    return "".join(ch for ch in str(name if name is not None else "").lower() if ch.isalnum())


def read_marks(path, marks: Mapping[str, Mapping[str, str]], *, lang: str = "en") -> Marks:
    """Read the marks sheet ``path``; ``marks`` is mark id -> {language: label} (the policy's panel)."""
    path = Path(path)
    if not path.exists():
        raise MarksError(i18n.Message("marks.file.missing", path=str(path)))
    kind = file_kind(path.stat().st_mode)
    if path.is_dir() or kind is not None:
        raise MarksError(i18n.Message("marks.file.not_a_file", path=str(path)))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        table = _csv_rows(path)
        where = lambda n: f"{path.name}:{n}"  # noqa: E731
    elif suffix == ".xlsx":
        table, title = _xlsx_rows(path, marks)
        where = lambda n: f"{path.name}:{title}!row {n}"  # noqa: E731
    else:
        raise MarksError(i18n.Message("marks.file.format", file=path.name))
    by_name = {}
    for mid, labels in marks.items():
        by_name[_key(mid)] = mid
        for label in labels.values():
            by_name.setdefault(_key(label), mid)
    known = {_key(a): col for col, aliases in COLUMNS.items() for a in aliases}
    header_no = header = written = None
    for n, cells in table:
        keys = [_key(c) for c in cells]
        cols = {known[k] for k in keys if k in known}
        if "application" in cols and "evaluator" in cols:
            header_no, header, written = n, keys, [_text(c) for c in cells]
            break
        if n >= _HEADER_SEARCH:
            break
    if header is None:
        raise MarksError(i18n.Message("marks.file.no_header", file=path.name))
    columns: dict[str, int] = {}
    mark_columns: dict[int, str] = {}
    remarks = []
    for i, k in enumerate(header):
        if k in known and known[k] not in columns:
            columns[known[k]] = i
        elif k in by_name:
            mark_columns[i] = by_name[k]
        elif k:
            hint = did_you_mean(k, list(marks) + list(COLUMNS), lang=lang)
            remarks.append(i18n.Message("marks.col.ignored", file=path.name, column=written[i], hint=hint or ""))
    long = "criterion" in columns
    if long and "mark" not in columns:
        raise MarksError(i18n.Message("marks.file.no_mark_column", file=path.name))
    if not long and not mark_columns:
        raise MarksError(i18n.Message("marks.file.no_marks", file=path.name, marks=", ".join(marks)))
    rows, problems = [], []
    for n, cells in table:
        if n <= header_no:
            continue
        if n > MAX_ROWS:
            raise MarksError(i18n.Message("marks.file.too_long", file=path.name, limit=f"{MAX_ROWS:_}"))
        cell = lambda col: _text(cells[columns[col]]) if col in columns and columns[col] < len(cells) else ""  # noqa: E731
        if not any(_text(c) for c in cells):
            continue
        app = cell("application")
        if not app:
            problems.append(i18n.Message("marks.row.no_application", where=where(n)))
            continue
        evaluator = cell("evaluator")
        flag = cell("conflict").lower()
        conflict = flag in _YES
        if flag not in _YES and flag not in _NO:
            problems.append(i18n.Message("marks.row.bad_conflict", where=where(n), value=flag))
        consensus = evaluator.lower() in ("consensus", "consenso")
        if long:
            name = cell("criterion")
            mid = by_name.get(_key(name))
            if mid is None:
                hint = did_you_mean(name, list(marks), lang=lang)
                problems.append(i18n.Message("marks.row.unknown_mark", where=where(n), name=name, hint=hint or ""))
                continue
            pairs = [(mid, cells[columns["mark"]] if columns["mark"] < len(cells) else None, where(n))]
        else:
            pairs = [(mid, cells[i] if i < len(cells) else None, f"{where(n)} ({mid})")
                     for i, mid in mark_columns.items()]
        for mid, value, src in pairs:
            text = _text(value)
            if not text:
                continue  # not marked
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                mark = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            else:  # a mark is a bare number: "50%" or "€ 4" is not one (engine.evaluate.panel judges it)
                mark = parse_mark(text)
            rows.append(MarkRow(app, evaluator, mid, text, mark, conflict, consensus, src))
    return Marks(tuple(rows), tuple(problems), tuple(remarks), "long" if long else "wide", str(path))


def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v).removesuffix(".0") if v == int(v) else repr(v)
    return str(v).strip()


def _csv_rows(path: Path):
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    if not first:
        raise MarksError(i18n.Message("marks.file.empty", file=path.name))
    delim = max((";", ",", "\t"), key=lambda d: (first.count(d), d == ","))
    try:
        return list(enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=delim), 1))
    except csv.Error as e:
        raise MarksError(i18n.Message("marks.file.bad_csv", file=path.name, problem=str(e))) from None


def _xlsx_rows(path: Path, marks):
    import openpyxl
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # not a workbook, a corrupt one: say so, never a traceback
        raise MarksError(i18n.Message("marks.file.bad_xlsx", file=path.name, problem=type(e).__name__)) from None
    try:
        sheets = sorted(wb.worksheets, key=lambda ws: ws.title.strip().lower() not in SHEET_NAMES)
        for ws in sheets:
            rows = []
            for n, cells in enumerate(ws.iter_rows(values_only=True), 1):
                if n > MAX_ROWS:
                    raise MarksError(i18n.Message("marks.file.too_long", file=path.name, limit=f"{MAX_ROWS:_}"))
                rows.append((n, list(cells)))
            if rows:
                return rows, ws.title
    finally:
        wb.close()
    raise MarksError(i18n.Message("marks.file.empty", file=path.name))


def marks_template(applications: Iterable[str], marks: Mapping[str, Mapping[str, str]], evaluators: int,
                   lang: str) -> str:
    """An empty wide marks sheet for the panel (CSV text): one row per application and evaluator."""
    it = lang == "it"
    head = (["domanda", "valutatore", "conflitto"] if it else ["application", "evaluator", "conflict"]) + list(marks)
    out = io.StringIO()
    w = csv.writer(out, delimiter=";" if it else ",", lineterminator="\r\n")
    w.writerow(head)
    for app in applications:
        for _ in range(max(1, evaluators)):
            w.writerow([app, "", ""] + [""] * len(marks))
    return out.getvalue()
