"""Output writers of ``bando score``: results.jsonl, ranking.csv and
ranking.xlsx, errors.csv and errors.xlsx, summary.json.

Everything here works on the *result dicts* pinned in ``docs/contracts.md``
(objects with a ``to_dict()`` method are accepted too) and never builds a
list of all results unless it has to:

* ``write_results_jsonl`` and ``write_errors_csv`` stream;
* ``write_ranking_csv`` keeps only the ranked results (it must sort them);
* ``SummaryBuilder`` accumulates counters and a ``Counter`` of distinct
  scores (scores take few distinct values, so the median stays exact without
  keeping one entry per application).

All files are written atomically (temp file in the same directory, then
``os.replace``): an existing output is never left half-overwritten.

Money is ``decimal.Decimal`` and is written as a plain decimal string
("40000.00", never "4E+4"); scores and points are written as plain decimal
strings too ("72.5", "20").

CSV cells are passed through :func:`csv_safe` against spreadsheet formula
injection (see there for the exact rule).
"""

from __future__ import annotations

import bisect
import contextlib
import csv
import datetime as _dt
import errno
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import IO, Any, Iterable, Iterator, Mapping

from engine.text import i18n
from engine.text.status import PENDING, RANKED, REPORT_ORDER, SCORED
from engine.text.exact import decimal_of, number_text, plain

__all__ = [
    "STATUSES",
    "RANKED_STATUSES",
    "atomic_open",
    "atomic_write",
    "umask",
    "os_error_text",
    "csv_safe",
    "is_plain_number",
    "write_results_jsonl",
    "CSV_DIALECTS",
    "CSV_DIALECT_ALIASES",
    "csv_dialect",
    "write_ranking_csv",
    "write_errors_csv",
    "write_ranking_xlsx",
    "write_errors_xlsx",
    "SummaryBuilder",
    "summarize",
    "write_summary_json",
]

#: every status a result can have, in the order used for counts and reports
STATUSES = tuple(str(s) for s in REPORT_ORDER)
#: statuses that belong in the ranking (graduatoria)
RANKED_STATUSES = tuple(str(s) for s in RANKED)
#: statuses of applications that were scored (eligible and not invalid)
SCORED_STATUSES = tuple(str(s) for s in SCORED)
_PENDING = frozenset(str(s) for s in PENDING)


# --------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------

_UMASK: int | None = None


def _umask() -> int:
    """The process umask, read once (from /proc when possible: no race)."""
    global _UMASK
    if _UMASK is None:
        try:
            with open("/proc/self/status", encoding="ascii") as fh:
                for line in fh:
                    if line.startswith("Umask:"):
                        _UMASK = int(line.split()[1], 8)
                        break
        except (OSError, ValueError, IndexError):
            pass
        if _UMASK is None:
            current = os.umask(0o022)
            os.umask(current)
            _UMASK = current
    return _UMASK


def umask() -> int:
    """The process umask: the permission bits new files and folders must not
    get. Folders made with ``tempfile.mkdtemp`` (always 0700) are chmod-ed to
    ``0o777 & ~umask()`` so that colleagues see them as they see any other."""
    return _umask()


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike,
    mode: str = "w",
    encoding: str | None = "utf-8",
    newline: str | None = None,
    fsync: bool = True,
) -> Iterator[IO]:
    """Open a temp file next to ``path`` for writing; on a clean exit it is
    flushed, fsynced and ``os.replace``d onto ``path``; on any exception it is
    removed and ``path`` is left exactly as it was.

    ``mode`` is ``"w"``/``"wt"`` (text; ``encoding`` and ``newline`` apply) or
    ``"wb"`` (binary). The new file gets the usual permissions (0666 less the
    umask), or those of the file it replaces. ``fsync=False`` skips forcing the
    data to disk (thousands of small files such as letters), keeping atomicity.
    """
    if mode not in ("w", "wt", "wb"):
        raise ValueError(f"atomic_open supports modes 'w', 'wt' and 'wb', not {mode!r}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(
        prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory
    )
    try:
        try:
            perms = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            perms = 0o666 & ~_umask()
        os.chmod(tmp, perms)
        if "b" in mode:
            fh = os.fdopen(fd, "wb")
        else:
            fh = os.fdopen(fd, "w", encoding=encoding, newline=newline)
    except BaseException:
        os.close(fd)
        _silent_unlink(tmp)
        raise
    try:
        with fh:
            yield fh
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        _silent_unlink(tmp)
        raise


def _silent_unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


#: what an errno means for someone writing files, where strerror alone is terse
_ERRNO_HINTS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "bando may not write there",
    errno.EPERM: "bando may not write there",
    errno.EFBIG: "the file is too large for this file system",
    errno.ENAMETOOLONG: "a name in the path is too long",
}


def _file_in_path(path: str) -> str | None:
    """The first part of ``path`` that exists and is not a folder."""
    current = os.path.abspath(path)
    parts = []
    while True:
        parent = os.path.dirname(current)
        parts.append(current)
        if parent == current:
            break
        current = parent
    for p in reversed(parts):
        if os.path.lexists(p) and not os.path.isdir(p):
            return p
    return None


def os_error_text(err: OSError) -> str:
    """One line saying which path failed and why, for a person:
    ``out/results.jsonl: No space left on device (ENOSPC: the disk is full)``.
    Never a repr and never ``None`` (an OSError from ``write()`` carries no
    file name; the caller's context names the folder)."""
    name = errno.errorcode.get(err.errno) if err.errno is not None else None
    cause = err.strerror or (str(err.args[0]) if err.args else type(err).__name__)
    hint = _ERRNO_HINTS.get(err.errno)
    if err.errno == errno.ENOTDIR and err.filename is not None:
        blocker = _file_in_path(os.fsdecode(err.filename))
        if blocker is not None:
            hint = f"{blocker} is a file, not a folder"
    if err.errno == errno.EEXIST and err.filename is not None and not os.path.isdir(err.filename):
        hint = f"{os.fsdecode(err.filename)} is a file, not a folder"
    text = cause
    if name or hint:
        text += " (" + ": ".join(x for x in (name, hint) if x) + ")"
    files = [os.fsdecode(f) for f in (err.filename, err.filename2) if f is not None]
    return (" -> ".join(files) + ": " + text) if files else text


def atomic_write(path: str | os.PathLike, data: str | bytes, encoding: str = "utf-8", *,
                 fsync: bool = True) -> None:
    """Write ``data`` (text or bytes) to ``path`` atomically."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        with atomic_open(path, "wb", fsync=fsync) as fh:
            fh.write(data)
    else:
        with atomic_open(path, "w", encoding=encoding, newline="", fsync=fsync) as fh:
            fh.write(data)


# --------------------------------------------------------------------------
# small value helpers
# --------------------------------------------------------------------------

def as_dict(result: Any) -> Mapping[str, Any]:
    if isinstance(result, Mapping):
        return result
    to_dict = getattr(result, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"expected a result dict or an object with to_dict(), got {type(result).__name__}")


def _money_text(value: Any) -> str:
    d = decimal_of(value)
    return "" if d is None else plain(d)


def _stat_text(value: Decimal, places: int = 4) -> str:
    """A computed statistic: rounded half-even to ``places``, trailing zeros dropped."""
    q = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return number_text(q)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return plain(obj)
    if isinstance(obj, (_dt.datetime, _dt.date, _dt.time)):
        return obj.isoformat()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# --------------------------------------------------------------------------
# CSV injection
# --------------------------------------------------------------------------

#: characters that make a spreadsheet read a cell as a formula (OWASP)
FORMULA_CHARS = ("=", "+", "-", "@", "\t", "\r")

_PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def is_plain_number(text: str) -> bool:
    """True for an ASCII decimal number such as ``-12.5``, ``+3``, ``1e5``."""
    return _PLAIN_NUMBER.fullmatch(text) is not None


def csv_safe(value: Any) -> str:
    """Text of ``value`` for a CSV cell, neutralised against formula injection.

    Rule (OWASP "CSV Injection"): a cell whose text starts with ``=``, ``+``,
    ``-``, ``@``, a tab or a carriage return gets a leading ``'`` so that
    Excel/LibreOffice/Sheets show it as text instead of evaluating it.

    Decision: a cell that is *entirely* a plain ASCII number (``-12.5``,
    ``+3``, ``-1e5``; see :func:`is_plain_number`) is left alone, so negative
    amounts stay numbers in the spreadsheet; a number cannot carry a formula.
    Anything else starting with those characters (``-1+2``, ``-nan``,
    ``=1``, ``@SUM(...)``) is prefixed. Leading spaces are not treated as
    triggers (spreadsheets do not evaluate `` =1``). The CSV quoting itself is
    the csv module's job.

    ``None`` becomes ``""``; ``Decimal`` is written in plain notation; booleans
    as ``true``/``false``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return plain(value)
    text = value if isinstance(value, str) else str(value)
    if text.startswith(FORMULA_CHARS) and not is_plain_number(text):
        return "'" + text
    return text


# --------------------------------------------------------------------------
# localised headers / status names for the CSV files
# --------------------------------------------------------------------------

def _lang(lang: str | None) -> str:
    """The language of the headers and outcome words: the run's, if it has a catalogue, else English."""
    base = (lang or "en").split("-")[0].split("_")[0].lower()
    return base if base in i18n.languages() else "en"


# --------------------------------------------------------------------------
# results.jsonl
# --------------------------------------------------------------------------

def write_results_jsonl(path: str | os.PathLike, results: Iterable[Any]) -> int:
    """Write one compact JSON object per line, in input order, streaming.

    Returns the number of lines written. NaN/Infinity are refused (they are
    not JSON); the previous file is then left untouched.
    """
    encoder = json.JSONEncoder(
        sort_keys=False, ensure_ascii=False, separators=(",", ":"),
        allow_nan=False, default=_json_default,
    )
    count = 0
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as fh:
        buf: list[str] = []
        for result in results:
            buf.append(encoder.encode(as_dict(result)))
            count += 1
            if len(buf) >= 512:
                buf.append("")
                fh.write("\n".join(buf))
                buf = []
        if buf:
            buf.append("")
            fh.write("\n".join(buf))
    return count


# --------------------------------------------------------------------------
# ranking.csv (graduatoria)
# --------------------------------------------------------------------------

def _rank_key(r: Mapping[str, Any]) -> tuple:
    # ties share a rank and are listed by id: the order in which the budget was allocated
    rank = r.get("rank")
    return (
        rank is None,
        rank if rank is not None else 0,
        str(r.get("application", "")),
    )


#: the CSV layouts bando writes. ``excel-it`` is what a spreadsheet set to an
#: Italian locale opens as columns: ``;`` between cells and a decimal comma
#: (``30000,00``). ``rfc4180`` is the machine-readable one: ``,`` and a decimal
#: point, as most programs and scripts read CSV. Both are UTF-8 with a BOM and
#: CRLF line ends (RFC 4180; Excel detects the encoding by the BOM).
CSV_DIALECTS = {"excel-it": (";", ","), "rfc4180": (",", ".")}
#: short names accepted by ``--csv-dialect``: a language picks its dialect
CSV_DIALECT_ALIASES = {"it": "excel-it", "en": "rfc4180"}


def csv_dialect(name: str | None, lang: str | None) -> str:
    """The dialect to write: ``name`` (a dialect or an alias) when given, else
    the one of the call's language (Italian: ``excel-it``; any other: ``rfc4180``)."""
    if name is None:
        return "excel-it" if _lang(lang) == "it" else "rfc4180"
    key = CSV_DIALECT_ALIASES.get(name, name)
    if key not in CSV_DIALECTS:
        known = ", ".join(sorted(set(CSV_DIALECTS) | set(CSV_DIALECT_ALIASES)))
        raise ValueError(f"unknown CSV dialect {name!r} (known: {known})")
    return key


def _ranked_rows(results: Iterable[Any], lang: str | None, presorted: bool) -> tuple[Iterable[Mapping], str]:
    """The ranked results in rank order, and the language of the table."""
    if presorted:
        # already in rank order: stream the rows, a million-row ranking never sits in memory
        return (d for d in map(as_dict, results) if d.get("status") in RANKED_STATUSES), _lang(lang)
    ranked = [d for d in map(as_dict, results) if d.get("status") in RANKED_STATUSES]
    ranked.sort(key=_rank_key)
    return ranked, _lang(lang if lang is not None else (ranked[0].get("language") if ranked else None))


def _criteria_pairs(criteria: Iterable[tuple[str, str] | Mapping[str, Any]]) -> list[tuple[str, str]]:
    pairs = []
    for item in criteria:
        cid, label = (item.get("id"), item.get("label")) if isinstance(item, Mapping) else item
        pairs.append((str(cid), str(label) if label is not None else str(cid)))
    return pairs


#: the kind of each cell of a ranking/errors row: how CSV and XLSX write it
_INT, _TEXT, _POINTS, _MONEY = "int", "text", "points", "money"


def output_cell(value: Any, kind: str, lg: str) -> tuple[Any, str]:
    """One value of a named output (as the result dict holds it) as a typed cell and its cell kind:
    amounts and numbers as numbers, a percentage in percentage points (its column says ``(%)``),
    dates as dd/mm/yyyy, yes/no in words."""
    if value is None:
        return None, _TEXT
    if kind == "money":
        return decimal_of(value), _MONEY
    if kind == "int":
        return value, _INT
    if kind in ("decimal", "percent"):
        number = decimal_of(value)
        return (number * 100 if kind == "percent" and number is not None else number), _POINTS
    if kind == "bool":
        return i18n.text(lg, "explain.yes" if value else "explain.no"), _TEXT
    if kind in ("date", "datetime") and isinstance(value, str):
        try:
            moment = _dt.datetime.fromisoformat(value)
        except ValueError:
            return value, _TEXT
        return moment.strftime("%d/%m/%Y" if kind == "date" or not (moment.hour or moment.minute)
                               else "%d/%m/%Y %H:%M"), _TEXT
    return value, _TEXT


def _output_header(label: str, kind: str) -> tuple[str, str]:
    cell = {"money": _MONEY, "int": _INT, "decimal": _POINTS, "percent": _POINTS}.get(kind, _TEXT)
    return (f"{label} (%)" if kind == "percent" else label), cell


def _ranking_table(ranked: Iterable[Mapping[str, Any]], criteria: list[tuple[str, str]], lg: str,
                   ranking_score: bool, outputs: Iterable[tuple[str, str, str]] = ()
                   ) -> tuple[list[tuple[str, str]], Iterator[list[Any]]]:
    """The graduatoria as ``(header, rows)``: header ``(text, kind)`` pairs, rows
    of typed values (int, str, Decimal or None). ranking.csv and ranking.xlsx
    both write this table, so they always hold the same cells. ``outputs`` are the call's named
    outputs of one value, ``(name, label, kind)``: one column each, after the grant."""
    t = i18n.table(lg, "outputs")  # the headers, in the catalogue with every other word bando writes
    outputs = list(outputs)
    header = [(t["rank"], _INT), (t["application"], _TEXT), (t["applicant"], _TEXT), (t["score"], _POINTS)]
    if ranking_score:  # the call weights some criteria for the ranking only: the order follows this score
        header.append((t["ranking_score"], _POINTS))
    header += [(label, _POINTS) for _cid, label in criteria]
    header += [(t["requested"], _MONEY), (t["grant"], _MONEY)]
    header += [_output_header(label, kind) for _name, label, kind in outputs]
    header += [(t["status"], _TEXT), (t["status_code"], _TEXT)]

    def rows() -> Iterator[list[Any]]:
        for r in ranked:
            points = {str(c.get("id")): c.get("points") for c in (r.get("criteria") or [])}
            row = [r.get("rank"), r.get("application"), r.get("applicant"), decimal_of(r.get("score"))]
            if ranking_score:
                row.append(decimal_of(r.get("ranking_score")))
            row += [decimal_of(points.get(cid)) for cid, _label in criteria]
            row += [decimal_of(r.get("requested")), decimal_of(r.get("grant"))]
            values = r.get("outputs") or {}
            row += [output_cell((values.get(name) or {}).get("value"), kind, lg)[0] for name, _label, kind in outputs]
            row += [i18n.table(lg, "status").get(r.get("status"), r.get("status")), r.get("status")]
            yield row
    return header, rows()


def _csv_cell(value: Any, kind: str, decimal_sign: str) -> str:
    if value is None:
        return ""
    if kind == _INT:
        return str(value)
    if kind in (_POINTS, _MONEY):
        text = number_text(value) if kind == _POINTS else _money_text(value)
        return text.replace(".", decimal_sign)  # plain digits: no thousands separator to confuse
    return csv_safe(value)


def _write_csv_table(path: str | os.PathLike, header: list[tuple[str, str]], rows: Iterable[list[Any]],
                     dialect: str) -> int:
    delimiter, decimal_sign = CSV_DIALECTS[dialect]
    count = 0
    with atomic_open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\r\n")
        w.writerow([csv_safe(h) for h, _kind in header])
        kinds = [k for _h, k in header]
        for row in rows:
            w.writerow([_csv_cell(v, k, decimal_sign) for v, k in zip(row, kinds)])
            count += 1
    return count


def write_ranking_csv(
    path: str | os.PathLike,
    results: Iterable[Any],
    criteria: Iterable[tuple[str, str] | Mapping[str, Any]],
    *,
    lang: str | None = None,
    dialect: str | None = None,
    presorted: bool = False,
    ranking_score: bool = False,
    outputs: Iterable[tuple[str, str, str]] = (),
) -> int:
    """Write the graduatoria: the results with status funded / tied / not_funded /
    admitted, ordered by rank then application id (unranked admitted ones
    last, by score then id).

    Columns: rank, application id, applicant, score, one column per criterion
    (its points; header = criterion label; ``criteria`` is a list of
    ``(id, label)`` pairs or of ``{"id", "label"}`` dicts, in policy order), requested, grant, one column
    per named output of one value (``outputs``: ``(name, label, kind)``; see :func:`output_cell`), status
    (in the language), status code. UTF-8 with BOM (Excel detects the encoding),
    CRLF line ends, numbers as plain decimals (no thousands separator) in the
    ``dialect`` (see :data:`CSV_DIALECTS`; by default the language's: ``;``
    and ``30000,00`` in Italian). ``lang`` defaults to the language of the
    results. Returns the row count.
    """
    ranked, lg = _ranked_rows(results, lang, presorted)
    header, rows = _ranking_table(ranked, _criteria_pairs(criteria), lg, ranking_score, outputs)
    return _write_csv_table(path, header, rows, csv_dialect(dialect, lg))


def outputs_items_table(lg: str) -> list[tuple[str, str]]:
    """The header of outputs_items.csv: one row per item of a per-item output of one application."""
    t = i18n.table(lg, "outputs")
    return [(t["application"], _TEXT), (t["applicant"], _TEXT), (t["output"], _TEXT), (t["position"], _INT),
            (t["key"], _TEXT), (t["item_name"], _TEXT), (t["value"], _TEXT)]


def outputs_items_rows(result: Any, outputs: Iterable[tuple[str, str, str]], lg: str) -> Iterator[list[Any]]:
    """The rows of outputs_items.csv for one result: its per-item outputs (``(name, label, kind)``)."""
    r = as_dict(result)
    values = r.get("outputs") or {}
    for name, label, kind in outputs:
        label = _output_header(label, kind)[0]
        for item in (values.get(name) or {}).get("items") or ():
            yield [r.get("application"), r.get("applicant"), label, item.get("position"), item.get("key"),
                   item.get("name"), output_cell(item.get("value"), kind, lg)[0]]


class ItemsWriter:
    """outputs_items.csv, written as the results stream into ``fh`` (opened by :func:`atomic_open` with
    ``encoding="utf-8-sig", newline=""``): one row per item of each per-item output
    (``outputs``: ``(name, label, kind)``), in the dialect of ranking.csv, values as there."""

    def __init__(self, fh: IO, outputs: Iterable[tuple[str, str, str]], lang: str | None, dialect: str | None):
        self.lg = _lang(lang)
        self.outputs = list(outputs)
        delimiter, self.decimal_sign = CSV_DIALECTS[csv_dialect(dialect, self.lg)]
        self._w = csv.writer(fh, delimiter=delimiter, lineterminator="\r\n")
        header = outputs_items_table(self.lg)
        self._w.writerow([csv_safe(h) for h, _kind in header])
        self._kinds = [k for _h, k in header[:-1]]
        self._cells = dict(_output_header(label, kind) for _name, label, kind in self.outputs)
        self.count = 0

    def add(self, result: Any) -> None:
        self.write_rows(outputs_items_rows(result, self.outputs, self.lg))

    @staticmethod
    def rows(result: Any, outputs: Iterable[tuple[str, str, str]], lang: str | None) -> list[list[Any]]:
        """The rows :meth:`add` writes for ``result`` (worked out in a worker with ``--jobs``)."""
        return list(outputs_items_rows(result, outputs, _lang(lang)))

    def write_rows(self, rows: Iterable[list[Any]]) -> None:
        """Rows of :meth:`rows`."""
        for row in rows:
            kinds = self._kinds + [self._cells[row[2]]]
            self._w.writerow([_csv_cell(v, k, self.decimal_sign) for v, k in zip(row, kinds)])
            self.count += 1


# --------------------------------------------------------------------------
# errors.csv
# --------------------------------------------------------------------------

_SOURCE_ORDER = ("file", "path", "sheet", "row", "line", "index", "column")


def format_source(source: Any) -> str:
    """A compact locator text for ``result["source"]``.

    ``{"file": "domande.csv", "row": 12}`` → ``domande.csv:12``;
    ``{"file": "d.xlsx", "sheet": "Foglio1", "row": 3}`` → ``d.xlsx:Foglio1:3``;
    other keys are appended as ``key=value``; strings and numbers as they are.
    """
    if source is None:
        return ""
    if not isinstance(source, Mapping):
        return str(source)
    parts = [str(source[k]) for k in _SOURCE_ORDER if source.get(k) not in (None, "")]
    extra = [f"{k}={v}" for k, v in source.items() if k not in _SOURCE_ORDER and v not in (None, "")]
    text = ":".join(parts)
    if extra:
        text = (text + " " if text else "") + " ".join(extra)
    return text


def _errors_table(results: Iterable[Any], lang: str | None) -> tuple[list[tuple[str, str]], Iterator[list[Any]], str]:
    """errors.csv/errors.xlsx as ``(header, rows, language)``, streaming: one row
    per (application, field, message) of every result that is invalid or has errors."""
    stream = map(as_dict, results)
    first = next(stream, None)
    lg = _lang(lang if lang is not None else (first.get("language") if first else None))
    t = i18n.table(lg, "outputs")  # the headers, in the catalogue with every other word bando writes
    header = [(t["application"], _TEXT), (t["status_code"], _TEXT), (t["source"], _TEXT),
              (t["field"], _TEXT), (t["message"], _TEXT)]

    def rows_of(r: Mapping[str, Any]) -> Iterator[list[Any]]:
        errors = r.get("errors") or []
        if not errors and r.get("status") != "invalid":
            return
        base = [r.get("application"), r.get("status"), format_source(r.get("source"))]
        if not errors:
            yield base + [None, t["no_detail"]]
            return
        for e in errors:
            if isinstance(e, Mapping):
                # the problem in the run's language when the result has it; the path stays the machine's
                yield base + [e.get("field"), e.get("text") or e.get("message")]
            else:
                yield base + [None, e]

    def rows() -> Iterator[list[Any]]:
        nonlocal first
        if first is not None:
            head, first = first, None  # do not keep it alive while streaming the rest
            yield from rows_of(head)
            del head
        for r in stream:
            yield from rows_of(r)
    return header, rows(), lg


def write_errors_csv(
    path: str | os.PathLike,
    results: Iterable[Any],
    *,
    lang: str | None = None,
    dialect: str | None = None,
) -> int:
    """One line per (application, field, message), streaming, in input order,
    for every result with status ``invalid`` or with a non-empty ``errors``
    list. An invalid result without error details still gets one line.

    Columns: application id, status code, source locator (from
    ``result["source"]`` when present), field, message (the error's localized
    ``text`` when present, else its ``message``). UTF-8 with BOM, in
    the ``dialect`` of :func:`write_ranking_csv`. Returns the number of error
    lines written.
    """
    header, rows, lg = _errors_table(results, lang)
    return _write_csv_table(path, header, rows, csv_dialect(dialect, lg))


# --------------------------------------------------------------------------
# ranking.xlsx, errors.xlsx
# --------------------------------------------------------------------------

#: docProps/core.xml's created/modified and every ZIP entry's time, when the run
#: declares no date: a fixed instant keeps the workbook byte-identical across runs
XLSX_EPOCH = _dt.datetime(2000, 1, 1)
_CURRENCY_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£", "CHF": "CHF"}


def _money_format(currency: str | None, lg: str) -> str:
    """An Excel number format with 2 decimals and the currency sign. The codes
    ``#,##0.00`` mean "the reader's separators": Italian Excel shows 30.000,00."""
    sign = _CURRENCY_SIGNS.get(currency or "EUR", currency or "EUR")
    return f'#,##0.00 "{sign}"' if lg == "it" else f'"{sign}"#,##0.00'


#: what one sheet holds (Excel's limits): a longer table ends with a row that says how many rows
#: are left out and where they are, a longer text is cut with "…"
XLSX_MAX_ROWS = 1_048_576
#: bytes of a workbook's part inflated at a time when it is re-stamped with the run's date
XLSX_COPY_PIECE = 1 << 20
XLSX_MAX_TEXT = 32_767


#: the characters XML 1.0 cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE, which its reader applies too)
_XML_ILLEGAL = re.compile(r"[\000-\010\013\014\016-\037]")


def _xlsx_text(value: Any) -> str:
    """Text for an XLSX cell: characters XML cannot hold become U+FFFD (never a crash)."""
    text = value if isinstance(value, str) else str(value)
    text = _XML_ILLEGAL.sub("\ufffd", text)
    return text if len(text) <= XLSX_MAX_TEXT else text[:XLSX_MAX_TEXT - 1] + "…"


def _write_xlsx_table(path: str | os.PathLike, sheet: str, header: list[tuple[str, str]],
                      rows: Iterable[list[Any]], *, currency: str | None, lang: str,
                      created: _dt.datetime | None, more_rows: str = "") -> int:
    """One sheet: bold frozen header, autofilter over the table, typed cells
    (whole numbers, exact decimals, money with 2 decimals and the currency),
    text never read as a formula. Byte-identical for the same input.

    XlsxWriter writes it (about four times faster than openpyxl's write-only
    mode, which it replaced), streaming the rows to a temporary file
    (``constant_memory``): a long ranking is not held in memory. ``more_rows``
    is the sentence, with ``{n}``, of the last row of a table longer than a
    sheet holds."""
    import zipfile

    import xlsxwriter

    when = created or XLSX_EPOCH
    kinds = [k for _h, k in header]
    widths = {_INT: 8, _POINTS: 11, _MONEY: 16, _TEXT: 24}
    count = 0
    with tempfile.TemporaryDirectory(prefix="bando-xlsx-") as tmp:
        raw = os.path.join(tmp, "raw.xlsx")
        wb = xlsxwriter.Workbook(raw, {"constant_memory": True, "tmpdir": tmp, "use_zip64": True,
                                       "strings_to_numbers": False, "strings_to_formulas": False,
                                       "strings_to_urls": False})
        wb.set_properties({"author": "bando", "created": when})
        ws = wb.add_worksheet(sheet)
        bold = wb.add_format({"bold": True})
        money = wb.add_format({"num_format": _money_format(currency, lang)})
        for i, (text, kind) in enumerate(header):
            ws.set_column(i, i, max(widths[kind], min(len(text) + 2, 40)))
            ws.write_string(0, i, _xlsx_text(text), bold)
        ws.freeze_panes(1, 0)
        write_string, write_number = ws.write_string, ws.write_number
        rows = iter(rows)
        for row in rows:
            if count + 2 == XLSX_MAX_ROWS:  # one row left on the sheet: this one, or how many more there are
                left = sum(1 for _ in rows)
                if left:
                    from engine.text.formatting import format_points
                    write_string(count + 1, 0, _xlsx_text(more_rows.format(n=format_points(left + 1, lang))))
                    break
            count += 1
            for col, (value, kind) in enumerate(zip(row, kinds)):
                if value is None:
                    continue
                if kind == _TEXT:  # "=SUM(...)" typed by an applicant stays text
                    write_string(count, col, _xlsx_text(value))
                elif kind == _INT:
                    write_number(count, col, int(value))
                else:
                    # the exact decimal, not a float: XlsxWriter prints it with 16 significant digits,
                    # so 685.57 stays 685.57 (a float's %.16g may give 685.5700000000001)
                    write_number(count, col, Decimal(plain(value)), money if kind == _MONEY else None)
        ws.autofilter(0, 0, count, len(header) - 1)
        wb.close()
        # XlsxWriter stamps 1980 into every ZIP entry: copy them with the run's date
        stamp = (max(when.year, 1980),) + when.timetuple()[1:6]
        with zipfile.ZipFile(raw) as src, atomic_open(path, "wb") as fh:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as dst:
                for info in src.infolist():
                    entry = zipfile.ZipInfo(info.filename, date_time=stamp)
                    entry.compress_type = zipfile.ZIP_DEFLATED
                    entry.external_attr = 0o644 << 16
                    entry.file_size = info.file_size  # as writestr sets it: the same header, ZIP64 or not
                    # copied in pieces: a long ranking's sheet is hundreds of MB of XML once inflated
                    with src.open(info) as part, dst.open(entry, "w") as out:
                        shutil.copyfileobj(part, out, XLSX_COPY_PIECE)
    return count


def write_ranking_xlsx(
    path: str | os.PathLike,
    results: Iterable[Any],
    criteria: Iterable[tuple[str, str] | Mapping[str, Any]],
    *,
    lang: str | None = None,
    currency: str | None = None,
    presorted: bool = False,
    ranking_score: bool = False,
    created: _dt.datetime | None = None,
    outputs: Iterable[tuple[str, str, str]] = (),
) -> int:
    """The graduatoria of :func:`write_ranking_csv` as an Excel workbook (sheet
    "Graduatoria"/"Ranking"): the same cells, typed. ``created`` is the date the
    workbook's properties carry (the run's declared date; default
    :data:`XLSX_EPOCH`), so that two runs give the same bytes."""
    ranked, lg = _ranked_rows(results, lang, presorted)
    header, rows = _ranking_table(ranked, _criteria_pairs(criteria), lg, ranking_score, outputs)
    words = i18n.table(lg, "outputs")
    return _write_xlsx_table(path, words["ranking_sheet"], header, rows, currency=currency, lang=lg,
                             created=created, more_rows=words["ranking_more_rows"])


def write_errors_xlsx(path: str | os.PathLike, results: Iterable[Any], *, lang: str | None = None,
                      created: _dt.datetime | None = None) -> int:
    """errors.csv as an Excel workbook (sheet "Errori"/"Errors")."""
    header, rows, lg = _errors_table(results, lang)
    words = i18n.table(lg, "outputs")
    return _write_xlsx_table(path, words["errors_sheet"], header, rows, currency=None, lang=lg,
                             created=created, more_rows=words["errors_more_rows"])


# --------------------------------------------------------------------------
# summary.json
# --------------------------------------------------------------------------

class SummaryBuilder:
    """Streaming accumulator for ``summary.json``.

    >>> b = SummaryBuilder(call)
    >>> for r in results: b.add(r)
    >>> summary = b.finish()

    The summary (all money and statistics as exact decimal strings)::

        {
          "call": {"name", "version", "authority", "reference"},
          "policy": {...} | null,
          "currency": "EUR",
          "total": 50,
          "counts": {"funded": 10, "not_funded": 5, "admitted": 0,
                     "below_threshold": 8, "ineligible": 20, "invalid": 7},
          "budget": {"available": "1000000.00" | null, "used": "850000.00",
                     "remaining": "150000.00" | null,
                     "requested_ranked": "1200000.00",   # asked by ranked ones
                     "requested_funded": "900000.00"},
          "scores": {"count", "min", "max", "mean", "median",
                     "max_score", "pass_score", "funded_min"},  # null when none
          "gates": [{"id", "label", "evaluated", "passed", "failed",
                     "only_failure"}, ...],                     # policy order
          "criteria": [{"id", "label", "max", "count", "mean", "min",
                        "max_points"}, ...],                    # policy order
          "histogram": {"max_score": "100", "bins": [{"from", "to", "count"}]},
          "errors": {"applications": 7, "messages": 9}
        }

    Score statistics, criterion averages and the histogram are over the
    *scored* applications (funded, not_funded, admitted, below_threshold).
    Means are rounded half-even to 4 decimal places; the median is exact.
    The histogram has ten bins of equal width, plus one more edge at the
    pass mark when it falls inside a bin (pass 55: ... 50-55, 55-60 ...), so
    that every bin is wholly below or wholly above it. Bins are [from, to);
    the last one includes ``max_score``; scores outside 0..max_score are
    clamped into the first/last bin.
    """

    BINS = 10

    def __init__(self, call: Mapping[str, Any] | None = None):
        self.call = dict(call or {})
        self.total = 0
        self.counts: Counter[str] = Counter()
        self.used = Decimal(0)
        self.requested_ranked = Decimal(0)
        self.requested_funded = Decimal(0)
        self.scores: Counter[Decimal] = Counter()
        self.funded_min: Decimal | None = None
        self.gates: dict[str, dict[str, Any]] = {}
        self.criteria: dict[str, dict[str, Any]] = {}
        self.error_apps = 0
        self.error_messages = 0
        self.max_score = decimal_of(self.call.get("max_score"))
        self.pass_score = decimal_of(self.call.get("pass_score"))
        self.currency = self.call.get("currency")
        self.policy = self.call.get("policy")

    # -- feeding --------------------------------------------------------
    def add(self, result: Any) -> None:
        r = as_dict(result)
        status = r.get("status")
        self.total += 1
        self.counts[status] += 1
        if self.max_score is None and r.get("max_score") is not None:
            self.max_score = decimal_of(r.get("max_score"))
        if self.pass_score is None and r.get("pass_score") is not None:
            self.pass_score = decimal_of(r.get("pass_score"))
        if self.currency is None and r.get("currency"):
            self.currency = r.get("currency")
        if self.policy is None and r.get("policy"):
            self.policy = r.get("policy")

        errors = r.get("errors") or []
        if errors or status == "invalid":
            self.error_apps += 1
            self.error_messages += max(len(errors), 1)

        requested = decimal_of(r.get("requested"))
        if status in RANKED_STATUSES and requested is not None:
            self.requested_ranked += requested
        if status == "funded":
            grant = decimal_of(r.get("grant"))
            if grant is not None:
                self.used += grant
            if requested is not None:
                self.requested_funded += requested

        if status != "invalid":
            gates = r.get("gates") or []
            failed = [g for g in gates if not g.get("passed")]
            for g in gates:
                gid = str(g.get("id"))
                acc = self.gates.get(gid)
                if acc is None:
                    acc = self.gates[gid] = {
                        "id": gid, "label": g.get("label"),
                        "evaluated": 0, "passed": 0, "failed": 0, "only_failure": 0,
                    }
                acc["evaluated"] += 1
                if g.get("passed"):
                    acc["passed"] += 1
                else:
                    acc["failed"] += 1
                    if len(failed) == 1:
                        acc["only_failure"] += 1

        score = decimal_of(r.get("score"))
        if status in SCORED_STATUSES and score is not None:
            self.scores[score] += 1
            if status == "funded" and (self.funded_min is None or score < self.funded_min):
                self.funded_min = score
            for c in r.get("criteria") or []:
                cid = str(c.get("id"))
                acc = self.criteria.get(cid)
                if acc is None:
                    acc = self.criteria[cid] = {
                        "id": cid, "label": c.get("label"), "max": decimal_of(c.get("max")),
                        "count": 0, "sum": Decimal(0), "min": None, "max_points": None,
                    }
                points = decimal_of(c.get("points"))
                if points is None:
                    continue
                acc["count"] += 1
                acc["sum"] += points
                if acc["min"] is None or points < acc["min"]:
                    acc["min"] = points
                if acc["max_points"] is None or points > acc["max_points"]:
                    acc["max_points"] = points

    def extend(self, results: Iterable[Any]) -> "SummaryBuilder":
        for r in results:
            self.add(r)
        return self

    def merge(self, other: "SummaryBuilder") -> "SummaryBuilder":
        """Add what ``other`` saw, as if its results had been added here after these (a batch's chunks,
        summed in workers, merged in input order: the same summary, key order included)."""
        self.total += other.total
        self.counts.update(other.counts)
        if self.max_score is None:
            self.max_score = other.max_score
        if self.pass_score is None:
            self.pass_score = other.pass_score
        if self.currency is None:
            self.currency = other.currency
        if self.policy is None:
            self.policy = other.policy
        self.error_apps += other.error_apps
        self.error_messages += other.error_messages
        self.requested_ranked += other.requested_ranked
        self.used += other.used
        self.requested_funded += other.requested_funded
        self.scores.update(other.scores)
        if other.funded_min is not None and (self.funded_min is None or other.funded_min < self.funded_min):
            self.funded_min = other.funded_min
        for gid, acc in other.gates.items():
            mine = self.gates.get(gid)
            if mine is None:
                self.gates[gid] = dict(acc)
            else:
                for k in ("evaluated", "passed", "failed", "only_failure"):
                    mine[k] += acc[k]
        for cid, acc in other.criteria.items():
            mine = self.criteria.get(cid)
            if mine is None:
                self.criteria[cid] = dict(acc)
                continue
            mine["count"] += acc["count"]
            mine["sum"] += acc["sum"]
            for k, better in (("min", min), ("max_points", max)):
                if acc[k] is not None:
                    mine[k] = acc[k] if mine[k] is None else better(mine[k], acc[k])
        return self

    # -- result ----------------------------------------------------------
    def _score_stats(self) -> dict[str, Any]:
        n = sum(self.scores.values())
        out: dict[str, Any] = {
            "count": n, "min": None, "max": None, "mean": None, "median": None,
            "max_score": None if self.max_score is None else number_text(self.max_score),
            "pass_score": None if self.pass_score is None else number_text(self.pass_score),
            "funded_min": None if self.funded_min is None else number_text(self.funded_min),
        }
        if n == 0:
            return out
        values = sorted(self.scores)
        with localcontext() as ctx:
            ctx.prec = 50
            total = sum((v * k for v, k in self.scores.items()), Decimal(0))
            mean = total / n
            # median: the middle one, or the exact average of the two middle ones
            lo_idx, hi_idx = (n - 1) // 2, n // 2
            lo = hi = None
            seen = 0
            for v in values:
                nxt = seen + self.scores[v]
                if lo is None and lo_idx < nxt:
                    lo = v
                if hi_idx < nxt:
                    hi = v
                    break
                seen = nxt
            median = (lo + hi) / 2
        out.update(
            min=number_text(values[0]), max=number_text(values[-1]),
            mean=_stat_text(mean), median=number_text(median),
        )
        return out

    def _histogram(self) -> dict[str, Any]:
        top = self.max_score
        if top is None or top <= 0:
            top = max(self.scores) if self.scores else Decimal(0)
        with localcontext() as ctx:
            ctx.prec = 50
            edges = [top * i / self.BINS for i in range(self.BINS + 1)]
            # the pass mark is always an edge: a bin never holds both passing and failing scores
            # (with 55 in 50-60, the bar could be neither grey nor blue); 50-55 and 55-60 instead
            p = self.pass_score
            if p is not None and 0 < p < top and p not in edges:
                bisect.insort(edges, p)
        bins = [{"from": _stat_text(lo), "to": _stat_text(hi), "count": 0} for lo, hi in zip(edges, edges[1:])]
        if top > 0:
            for score, k in self.scores.items():
                # [from, to): a score equal to an edge (the pass mark) goes to the bin it starts
                idx = bisect.bisect_right(edges, score) - 1
                idx = min(max(idx, 0), len(bins) - 1)
                bins[idx]["count"] += k
        elif self.scores:
            bins[0]["count"] = sum(self.scores.values())
        return {"max_score": number_text(top), "bins": bins}

    def finish(self) -> dict[str, Any]:
        available = decimal_of(self.call.get("budget"))
        # the panel's statuses only when a run has them: a call without a panel counts as it always did
        counts = {s: self.counts.get(s, 0) for s in STATUSES if s not in _PENDING or self.counts.get(s)}
        for s, k in self.counts.items():  # statuses unknown to this module
            if s not in counts:
                counts[str(s)] = k
        criteria = []
        for acc in self.criteria.values():
            with localcontext() as ctx:
                ctx.prec = 50
                mean = acc["sum"] / acc["count"] if acc["count"] else None
            criteria.append({
                "id": acc["id"], "label": acc["label"],
                "max": None if acc["max"] is None else number_text(acc["max"]),
                "count": acc["count"],
                "mean": None if mean is None else _stat_text(mean),
                "min": None if acc["min"] is None else number_text(acc["min"]),
                "max_points": None if acc["max_points"] is None else number_text(acc["max_points"]),
            })
        return {
            "call": {k: self.call.get(k) for k in ("name", "version", "authority", "reference")},
            "policy": self.policy,
            "currency": self.currency,
            "total": self.total,
            "counts": counts,
            "budget": {
                "available": None if available is None else plain(available),
                "used": plain(self.used),
                "remaining": None if available is None else plain(available - self.used),
                "requested_ranked": plain(self.requested_ranked),
                "requested_funded": plain(self.requested_funded),
            },
            "scores": self._score_stats(),
            "gates": [dict(g) for g in self.gates.values()],
            "criteria": criteria,
            "histogram": self._histogram(),
            "errors": {"applications": self.error_apps, "messages": self.error_messages},
        }


def summarize(results: Iterable[Any], call: Mapping[str, Any] | None) -> dict[str, Any]:
    """Summary of a batch (see :class:`SummaryBuilder`), consuming ``results`` once."""
    return SummaryBuilder(call).extend(results).finish()


def summary_json(summary: Mapping[str, Any]) -> str:
    """Deterministic JSON text of a summary: keys sorted, indent 2, final newline."""
    return json.dumps(
        summary, indent=2, sort_keys=True, ensure_ascii=False,
        allow_nan=False, default=_json_default,
    ) + "\n"


def write_summary_json(path: str | os.PathLike, summary: Mapping[str, Any]) -> None:
    """Write ``summary.json`` atomically (see :func:`summary_json`)."""
    atomic_write(path, summary_json(summary))


# --------------------------------------------------------------------------
# other tables in the same layout (bando diff)
# --------------------------------------------------------------------------

#: the kinds of cell a table's header gives its columns (see :func:`write_csv_table`)
TABLE_KINDS = {"int": _INT, "text": _TEXT, "points": _POINTS, "money": _MONEY}


def write_csv_table(path: str | os.PathLike, header: list[tuple[str, str]], rows: Iterable[list[Any]],
                    dialect: str) -> int:
    """Any table of typed cells as CSV, written exactly as ranking.csv is: ``header`` is ``(text,
    kind)`` pairs (kinds from :data:`TABLE_KINDS`), rows hold int, str, Decimal or None, ``dialect``
    one of :data:`CSV_DIALECTS`. Returns the number of rows."""
    return _write_csv_table(path, header, rows, dialect)
