"""``bando score``: a batch of applications -> graduatoria, results, report, letters.

One pass over the input, memory bounded however long the batch is:

1. read each row once (the readers convert cells by the policy's own input types,
   :mod:`engine.score.input_shape`), validate, decide and explain it once
   (``policy.evaluate_full``), keep in memory only what ranking needs of the admitted ones
   (:class:`engine.score.ranking.Entry`) and spill the rest, compact, to a temporary file;
2. rank and allocate (:mod:`engine.score.ranking`), then read the spill back in chunks, in input
   order (:func:`_write_chunk`): merge each admitted application's place in the graduatoria, write
   its line of ``results.jsonl`` and its letter, add it to the chunk's share of the summary and of
   the tables; the chunks are joined in input order, and ``ranking.csv``, ``errors.csv``, the
   workbooks and ``report.html`` are written at the end from compact rows.

Every input row gets exactly one result, in input order: a row that cannot be
read or does not match the policy's input is an ``invalid`` result that says
where (file:line and field). ``--jobs N`` spreads the pass and the writing of the
chunks over processes (and writes the workbooks while the report is rendered);
the output is byte-identical to ``--jobs 1`` because the same functions run on
the same rows and their answers are joined in input order.
"""
from __future__ import annotations

import array
import concurrent.futures
import contextlib
import hashlib
import itertools
import json
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import orjson

from engine.text import i18n
from engine.score import cross as _cross
from engine.score import ranking as rk
from engine.text.i18n import Message
from engine.score.batch_io import BatchError, read_batch, slice_reader
from engine.score.input_shape import from_policy
from engine.score import stage as _stage
from dsl.checker import MARKS_FIELD
from engine.text.status import PENDING
from engine.text.formatting import format_money
from engine.evaluate.result import GateResult, Result
from engine.text.exact import json_number, money_text
from engine.explain.explain import admitted_head, unscored
from engine.evaluate.named_outputs import columns as output_columns, refresh as refresh_outputs

#: report.html shows every ranked application in its ranking table; the per-application
#: details (gates, criteria, reasons) are limited to this many, best ranked first: the full
#: explanation of every application is in results.jsonl
REPORT_DETAIL_LIMIT = 500
#: a batch this long or longer in which more than half of the rows are invalid was almost
#: certainly read wrong (see docs/batch-formats.md, "When most rows are invalid")
MOSTLY_INVALID_MIN_ROWS = 10


class MostlyInvalidError(BatchError):
    """More than half of a batch is invalid: probably a misspelled column, a missing items
    file or an unknown sheet. ``bando score --allow-invalid`` scores it anyway."""


class _R:
    """What ranking expressions see as ``score``, ``grant``, ``points(x)``…"""

    __slots__ = ("score", "ranking_score", "grant", "requested", "submitted", "points")

    def __init__(self, policy, d):
        # `score` in ranking keys is the ranking score (ranking-only weights included)
        self.score = d.ranking_score
        self.ranking_score = d.ranking_score
        self.grant = d.grant
        self.requested = d.requested
        self.submitted = d.submitted
        self.points = {c.id: p for c, p in zip(policy.criteria, d.points or ())}
        if policy.bonuses and d.points is not None:  # points(bonus): what it counted (0 when it did not)
            n = len(policy.criteria)
            self.points.update((b.id, p if a else 0) for b, p, a in zip(policy.bonuses, d.points[n:], d.bonus_applied))


class Ranker:
    """Compiled ranking expressions of one policy."""

    def __init__(self, policy, proc: rk.Procedure):
        self.policy = policy
        self.proc = proc
        c = policy.compile_expr
        self.keys = [c(k.expr, (), True) for k in proc.keys]
        self.reserves = [c(r.cond, (), True) for r in proc.reserves]
        self.unique = [(c(u.source), c(u.key, (u.var,)), c(u.by, (), True) if u.by is not None else None)
                       for u in proc.unique]

    def entry(self, index, decision, value) -> rk.Entry:
        env = _Env(self.policy, value)
        r = _R(self.policy, decision)
        keys = tuple(fn(env, r) for fn in self.keys)
        reserves = tuple(fn(env, r) is True for fn in self.reserves)
        ukeys, keep = [], None
        for source, key, by in self.unique:
            for item in source(env) or ():
                k = key(env, item)
                if k is not None:
                    ukeys.append(str(k).strip().upper())
            if by is not None and keep is None:
                keep = by(env, r)
        grant = decision.grant if decision.grant is not None else Decimal(0)
        # a grant below zero reaches the ranking as it was computed: it is never funded
        grant = getattr(decision, "grant_computed", None) if getattr(decision, "grant_computed", None) is not None \
            else grant
        return rk.Entry(index, decision.application or f"#{index + 1}", keys, grant, decision.requested,
                        decision.score, reserves, tuple(dict.fromkeys(ukeys)), keep,
                        ranking_score=decision.ranking_score,
                        grant_declared="grant" in self.policy.checked.decls)


class _Env(Mapping):
    """The inputs and lets a ranking expression reads, worked out on its first read: keys on
    ``score``, ``grant`` or ``points(x)`` alone (the common case) read none, and then the typed
    value the decision came from is never built again."""

    __slots__ = ("_policy", "_value", "_env")

    def __init__(self, policy, value):
        self._policy, self._value, self._env = policy, value, None

    def _get(self) -> dict:
        if self._env is None:
            self._env = self._policy.env(self._value)
        return self._env

    def __getitem__(self, key):
        return self._get()[key]

    def __iter__(self):
        return iter(self._get())

    def __len__(self):
        return len(self._get())


class _Invalid(tuple):
    """The pass's answer for an invalid row: its first ``(field, message)`` errors."""


class _Pending(str):
    """The pass's answer for an admissible application whose panel evaluation is not complete: its status."""


# --- worker side -----------------------------------------------------------------------------

_W: dict = {}


def _init_worker(policy_path, lang, root=None, params=None):
    """Load the policy (in the driver, and in each worker). A forked worker already holds the
    driver's, compiled, with the explainers it built: loading it again cost every worker a second
    or more of parsing and compiling before its first row."""
    from engine.evaluate.policy import load_policy
    loaded = (str(policy_path), None if root is None else str(root), tuple(sorted((params or {}).items())))
    if _W.get("loaded") != loaded or "policy" not in _W:
        policy = load_policy(Path(policy_path), root=root, params=params)
        _W["policy"] = policy
        _W["ranker"] = Ranker(policy, rk.Procedure.of(policy))
        _W["cross"] = _cross.CrossKeys(policy) if policy.cross_gates else None
        _W["loaded"] = loaded
    _W["lang"] = lang


def _score_row(row):
    """The one pass over a row: validated, decided and explained once. Returns what the ranking
    needs (an :class:`engine.score.ranking.Entry` for an admitted application; for an invalid row, the
    fields of its first errors, what the mostly-invalid check reports; else None), the row's
    spilled record, as bytes (a worker with a JSON Lines slice puts it in the spill itself), and what the gates
    across applications need of it (a :class:`engine.score.cross.CrossRow`; None for an invalid
    row or a policy without them)."""
    policy, lang = _W["policy"], _W["lang"]
    digest = row_sha256(row.data)  # what was submitted, before the panel's marks join it
    marks = _W.get("marks")
    if marks is not None and row.data is not None:  # --marks: the panel's sheet, not the row, has them
        row = attrs.evolve(row, data={**row.data, MARKS_FIELD: marks.get(row.app_id, ())})
    if row.data is None or row.errors:
        errors = list(row.errors)
        if row.data is not None:
            errors += policy.validate(row.data)[1]
        d = _with_source(_invalid(policy, row, errors, lang).to_dict(), row.source, row.app_id, digest)
        return _Invalid(tuple(row.errors[:3])), _final(d), None
    result, decision, value = policy.evaluate_full(row.data, lang)
    keys = _W["cross"]
    crow = keys.row(row.index, decision, value) if keys is not None and decision.status != "invalid" else None
    if decision.status == "admitted":
        # its result waits for its place in the graduatoria: spilled as it is, merged after ranking
        return _W["ranker"].entry(row.index, decision, value), \
            _spill(_RANKED, (result, row.source, row.app_id, digest)), crow
    mark = _Invalid(tuple(tuple(e) for e in decision.errors[:3])) if decision.status == "invalid" else \
        _Pending(decision.status) if decision.status in PENDING else None
    if crow is not None:  # its gates across applications are decided after the pass: its result waits too
        return mark, _spill(_HELD, (result, row.source, row.app_id, digest)), crow
    d = _with_source(result.to_dict(), row.source, row.app_id, digest)
    return mark, _final(d), None


#: what a spilled record holds: a final result's line of results.jsonl (written where the row was scored,
#: a worker with --jobs; read back by orjson, four times faster than unpickling the dict it was written
#: from) or, rarely, that dict with its line (:func:`_final`); an admitted (Result, source, id); or the
#: (Result, source, id) of another valid application of a call with gates across applications (decided
#: after the pass). Its place in the spill is the row's index
_FINAL, _RANKED, _HELD, _FINAL_KEPT = 0, 1, 2, 3


def _spill(kind, payload) -> bytes:
    """One record of the spill: its length, then its pickle (so that a worker given a chunk's offsets
    finds its records, unpickled only there: :func:`_spill_records`)."""
    blob = pickle.dumps((kind, payload), pickle.HIGHEST_PROTOCOL)
    return len(blob).to_bytes(8, "little") + blob


def _spill_records(f, segments) -> list[bytes]:
    """The records of the spill ``f`` in ``segments`` (``(start, end)`` offsets: a chunk of
    :func:`_score_spilled`'s pass, in input order), read by offset: a worker reads its own chunk,
    nothing of it crosses a pipe."""
    records = []
    for start, end in segments:
        blob, at = memoryview(_pread(f, end - start, start)), 0
        while at < len(blob):
            size = int.from_bytes(blob[at:at + 8], "little")
            records.append(blob[at + 8:at + 8 + size])
            at += 8 + size
    return records


class _Appended:
    """An unnamed file that the driver and its forked workers append to, each blob whole, under a lock
    made before the fork; :meth:`append` says where the blob landed. With ``--jobs`` the workers put the
    pass's spilled records and the lines of results.jsonl here and send back only where they are: the
    bytes never cross a pipe (pickled there, unpickled and written again here, they kept the driver
    busy on a core the workers need). Without a lock (one process) the end is counted here."""

    def __init__(self, f, lock=None):
        self.file, self._fd, self._lock = f, f.fileno(), lock
        self._end = os.lseek(self._fd, 0, os.SEEK_END)

    def append(self, blob) -> int:
        if self._lock is None:
            at = self._end
            _write_at(self._fd, blob, at)
            self._end += len(blob)
            return at
        with self._lock:
            at = os.lseek(self._fd, 0, os.SEEK_END)
            _write_at(self._fd, blob, at)
        return at

    def copy_to(self, out, at: int, size: int) -> None:
        """Copy ``size`` bytes from ``at`` to the end of the binary file ``out`` (in the kernel where it can)."""
        out.flush()
        fd = out.fileno()
        while size > 0:
            try:
                done = os.copy_file_range(self._fd, fd, size, at)
            except (AttributeError, OSError):  # not Linux, or a file system that cannot: read and write
                done = os.write(fd, _pread(self.file, min(size, 1 << 20), at))
            if done <= 0:
                raise OSError(f"could not copy {size} bytes from the spill")
            at += done
            size -= done


def _write_at(fd, blob, at) -> None:
    view = memoryview(blob)
    while view:
        done = os.pwrite(fd, view, at) if hasattr(os, "pwrite") else _seek_write(fd, view, at)
        view, at = view[done:], at + done


def _seek_write(fd, view, at) -> int:
    os.lseek(fd, at, os.SEEK_SET)
    return os.write(fd, view)


class _Segments:
    """Where the records of the spill are, chunk by chunk (every :data:`WRITE_CHUNK` records, in
    input order): each chunk a few ``(start, end)`` runs of records that lie end to end."""

    def __init__(self):
        self.chunks: list[tuple[int, list]] = []
        self._runs: list = []
        self._first = self._count = 0

    def add(self, at: int, size: int) -> None:
        runs = self._runs
        if runs and runs[-1][1] == at:
            runs[-1][1] = at + size
        else:
            runs.append([at, at + size])
        self._count += 1
        if self._count - self._first == WRITE_CHUNK:
            self.close()

    def close(self) -> None:
        if self._runs:
            self.chunks.append((self._first, self._runs))
        self._runs, self._first = [], self._count


def _fork_lock():
    """A lock that the workers forked after it share with the driver (None where workers are not forked)."""
    return multiprocessing.get_context("fork").Lock() if sys.platform != "win32" else None


def _pread(f, size: int, offset: int) -> bytes:
    """``size`` bytes of ``f`` at ``offset``, leaving its position alone (forked processes share it)."""
    if hasattr(os, "pread"):
        return os.pread(f.fileno(), size, offset)
    # no fork there (see _beside): one reader at a time
    here = f.tell()
    f.seek(offset)
    try:
        return f.read(size)
    finally:
        f.seek(here)


#: results written per chunk (by a worker with --jobs): enough that a chunk's answer is one message
WRITE_CHUNK = 128


@attrs.define
class _Writing:
    """What writing the results needs once the graduatoria is known (set before the workers fork)."""
    policy: object
    lang: str
    outcome: object  # index -> the ranking outcome of an admitted application, or None
    table_key: object  # index -> where its entry puts a ranked row in ranking.csv (rank, then id), or None
    cross: object  # (index, result) -> the result with its gates across applications, or None
    call: dict
    detailed: frozenset  # the ranked applications the report details
    partial: frozenset  # funded with less than their grant
    shown_unranked: frozenset  # the applications not ranked the report details
    others: frozenset  # the applications not ranked the report's table lists
    per_item: list  # the per-item outputs (outputs_items.csv)
    seen: bool  # a run with a panel's sheet: the ids seen are collected
    letters: bool
    spill: object  # the pass's spill: each chunk of it is read where it is written
    results: object = None  # with --jobs, the _Appended file the workers put their lines of results.jsonl in


@attrs.define
class _Written:
    """A chunk of results as written: its lines of results.jsonl and what the other outputs need of it."""
    size: int
    lines: object  # its lines of results.jsonl, as UTF-8, or where a worker put them: (offset, length)
    summary: object
    ranked: list = attrs.Factory(list)  # (index, pickled _compact, its key if not its entry's) of each ranked result
    errors: list = attrs.Factory(list)  # the results with errors (errors.csv), each pickled _slim_error
    report: list = attrs.Factory(list)  # the results the report details
    others: list = attrs.Factory(list)  # _slim of the applications not ranked the report lists
    panel: list = attrs.Factory(list)  # (id, applicant, status) of those awaiting the panel
    seen: list = attrs.Factory(list)
    items: list = attrs.Factory(list)  # rows of outputs_items.csv
    letters: list = attrs.Factory(list)  # (id, what the letter is named after, letter text or LetterError)


def _write_chunk(task) -> _Written:
    """Write one chunk of spilled records (in a worker with ``--jobs``): each result merged with its place
    in the graduatoria, its line, its letter, and its share of the summary and of the tables."""
    from engine.score import outputs
    w: _Writing = _W["writing"]
    first, segments = task
    records = _spill_records(w.spill, segments)
    summary = outputs.SummaryBuilder(w.call)
    out = _Written(len(records), "", summary)
    lines = []
    if w.letters:  # imported only for letters: a run without them does not load Jinja
        from engine.letters.letters import letter_id
    for index, blob in enumerate(records, first):
        d, line = _result_dict(w.policy, w.lang, index, pickle.loads(blob), w.outcome, w.cross)
        lines.append(line)
        summary.add(d)
        status = d["status"]
        ranked = status in outputs.RANKED_STATUSES
        if status in PENDING:  # the applications the panel has still to evaluate
            out.panel.append((d["application"], d["applicant"], status))
        if w.seen:
            out.seen.append(d["application"])
        if ranked:
            c = _compact(d, w.policy, index in w.partial)
            key = _table_key(c)
            out.ranked.append((index, pickle.dumps(c, pickle.HIGHEST_PROTOCOL),
                               None if key == w.table_key(index) else key))
        elif index in w.others:
            out.others.append(_slim(d))
        if d["errors"]:
            out.errors.append(pickle.dumps(_slim_error(d), pickle.HIGHEST_PROTOCOL))
        if index in (w.detailed if ranked else w.shown_unranked):
            out.report.append(d)
        if w.per_item:
            out.items += outputs.ItemsWriter.rows(d, w.per_item, w.lang)
        if w.letters:
            out.letters.append((d["application"], letter_id(d), _render_letter(d)))
    out.lines = "".join(lines).encode("utf-8")
    if w.results is not None:  # a worker: the lines wait in the shared file, the driver copies them in order
        out.lines = (w.results.append(out.lines), len(out.lines))
    return out


def result_line(d) -> str:
    """A result's line of results.jsonl. orjson writes it five times faster than json.dumps, and the
    same bytes for every float from 1e-4 to 1e16 (a smaller one reads ``1e-5``, not ``1e-05``: the
    same number); what orjson refuses (a lone surrogate, an integer beyond 64 bits) json.dumps writes."""
    return _orjson_line(d) or _json_line(d)


def _orjson_line(d) -> str | None:
    try:
        return orjson.dumps(d).decode("utf-8") + "\n"
    except (orjson.JSONEncodeError, TypeError):
        return None


def _json_line(d) -> str:
    return json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n"


def _final(d) -> bytes:
    """The spilled record of a final result: its line, which orjson reads back as the same dict (lists for
    tuples), or, for a line only json.dumps could write (orjson would read a huge integer as a float),
    the dict itself with its line."""
    line = _orjson_line(d)
    return _spill(_FINAL, line) if line is not None else _spill(_FINAL_KEPT, (d, _json_line(d)))


def _result_dict(policy, lang, index, record, outcome, cross=None) -> tuple[dict, str]:
    """The full result dict of a spilled record and its line, its gates across applications decided
    (``cross(index)``) and an admitted one that passed them merged with its ranking outcome."""
    kind, payload = record
    if kind == _FINAL:
        return orjson.loads(payload), payload
    if kind == _FINAL_KEPT:
        return payload
    result, source, app_id, digest = payload
    if cross is not None:
        result = cross(index, result)
    if kind == _RANKED and result.status != "ineligible":
        result = _merge(policy, result, outcome(index), lang)
    # the named outputs that read the grant follow what the allocation gave (a partial award, none)
    merged = refresh_outputs(policy, result, lang)
    d = _with_source(merged.to_dict(), source, app_id, digest)
    return d, result_line(d)


def _score_slice(task):
    """A worker's share of the pass: the rows of one slice of a JSON Lines file, read and scored
    here; the driver gets small answers back (the key and id of each row for the duplicate check,
    its ranking entry or invalid mark, where it put its spilled record) and the unknown fields seen."""
    first, where, name = task
    blob = _read_slice(*where)  # where the slice is in the batch file: read here, it did not cross a pipe
    reader = _W.get("slice_reader")
    if reader is None:
        reader = _W["slice_reader"] = slice_reader(from_policy(_W["policy"]), lang=_W["lang"])
    answers = [(reader.last_key, row.app_id) + _score_row(row) for row in reader.read_slice(name, first, blob)]
    spill = _W.get("spill")
    if spill is None:  # not forked from the driver (no shared spill): the records go back with the answers
        return answers, reader.take_unknown()
    # the slice's records end to end in the spill; each answer says where its record is
    at = spill.append(b"".join(a[3] for a in answers))
    for k, (key, app_id, mark, record, crow) in enumerate(answers):
        answers[k] = key, app_id, mark, (at, len(record)), crow
        at += len(record)
    return answers, reader.take_unknown()


def _read_slice(path: str, at: int, size: int) -> bytes:
    """``size`` bytes of the batch file at ``at`` (a worker's own handle on it, opened once)."""
    files = _W.setdefault("batch_files", {})
    f = files.get(path)
    if f is None:
        f = files[path] = open(path, "rb")
    blob = _pread(f, size, at)
    if len(blob) != size:
        raise BatchError(i18n.Message("reader.file.changed", file=os.path.basename(path)))
    return blob


#: lines of JSON Lines a worker reads at a time: big enough that a slice's answer is one message
SLICE_LINES = 256


def _scored(reader, jobs, policy_path, lang, root):
    """``(ranking entry or invalid mark or None, spilled record, cross row or None)`` of every row, in input order;
    the record as bytes, or ``(offset, length)`` where a worker put it in the spill (``_W["spill"]``).
    With ``jobs`` > 1 and one JSON Lines file the workers read their own slices of it (nothing
    big crosses a pipe but the raw lines); other batches are read here and scored by workers."""
    if jobs <= 1 or reader.formats != ["jsonl"]:
        yield from _map(_score_row, reader, jobs, policy_path, lang, root=root)
        return
    name, path = reader.files[0].name, os.path.abspath(reader.files[0])
    # the driver reads the file to cut it at line ends and keeps each slice while it is out (a
    # duplicate id is read again here); a worker is told where the slice is and reads it itself
    kept = {}

    def tasks():
        for first, blob, at in reader.jsonl_slices(SLICE_LINES):
            kept[first] = blob
            yield first, (path, at, len(blob)), name

    index = 0
    for (first, _, _), (answers, unknown) in _map(_score_slice, tasks(), jobs, policy_path, lang,
                                                  chunksize=1, root=root, paired=True):
        blob = kept.pop(first)
        reader.merge_unknown(unknown)
        for key, app_id, mark, record, crow in answers:
            if reader.duplicate(app_id, key):  # only here are the earlier ids known: read and score it again
                mark, record, crow = _score_row(reader.reread(first, blob, key, index))
            else:  # the worker numbered its slice from 0
                if isinstance(mark, rk.Entry):
                    mark.index = index
                if crow is not None:
                    crow.index = index
            index += 1
            yield mark, record, crow
    reader.finish_slices()


def _render_letter(d):
    """The letter of one result (in a worker with ``--jobs``), or the :class:`LetterError` that
    stopped it (a hostile or broken template: the other letters are written)."""
    from engine.letters.letters import LetterError, LetterRenderer
    renderer = _W.get("renderer")
    if renderer is None:
        templates_dir, fmt, call, date, lang = _W["letter"]
        renderer = _W["renderer"] = LetterRenderer(templates_dir=templates_dir, lang=lang, fmt=fmt)
    try:
        return renderer.render(d, _W["letter"][2], date=_W["letter"][3])
    except LetterError as err:
        return err


def _invalid(policy, row, errors, lang):
    from engine.evaluate.result import Decision
    d = Decision(row.app_id, "invalid", errors=tuple(errors) or (("", Message("validate.unreadable_row")),))
    return policy.explain(row.data, d, lang=lang)


def row_sha256(data) -> str | None:
    """The SHA-256 of one application as read from the batch (canonical JSON: keys sorted, numbers as
    written), so that an outcome can be tied to exactly what was submitted; None for a row that could
    not be read at all."""
    if data is None:
        return None
    try:  # every row pays for this: orjson writes the same bytes as json.dumps below, six times faster
        raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS, default=str)
    except (orjson.JSONEncodeError, TypeError):  # a lone surrogate, a key that is not a text
        raw = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                         default=str).encode("utf-8", "surrogatepass")
    return hashlib.sha256(raw).hexdigest()


def _with_source(d, source, app_id, digest=None):
    d["source"] = source
    d["input_sha256"] = digest
    if d["application"] is None:
        d["application"] = app_id
    return d


def _merge(policy, result: Result, outcome: dict, lang) -> Result:
    """The evaluated result with its place in the graduatoria and what the allocation gave it."""
    if outcome["status"] == "ineligible":  # lost a shared firm to another application
        gate = GateResult("unique", rk.words(lang)["unique_gate"], False, outcome["placement"])
        # it reads as one that failed a gate: not scored (unless the call scores the ineligible), no grant
        return attrs.evolve(unscored(policy, result, lang), status="ineligible", grant=None, grant_because=None,
                            grant_computed=None, gates=result.gates + (gate,),
                            summary=outcome["placement"], placement={"because": outcome["placement"],
                                                                     "reason": "unique"})
    status = outcome["status"]
    grant = outcome["awarded"] if status == "funded" else None
    placement = {"rank": outcome["rank"], "of": outcome["of"], "tied_with": list(outcome["tied_with"]),
                 "because": outcome["placement"], "reason": outcome["reason"]}
    for k in ("reserve", "line_rank", "left", "draw", "previous"):
        if outcome.get(k) is not None:
            placement[k] = outcome[k]
    if status == "withdrawn":
        placement = {"because": outcome["placement"], "reason": "withdrawn"}
        if outcome.get("previous") is not None:
            placement["previous"] = outcome["previous"]
        return attrs.evolve(result, status=status, rank=None, grant=None, placement=placement,
                            summary=outcome["placement"])
    head = admitted_sentence(policy, result, lang)
    return attrs.evolve(result, status=status, rank=outcome["rank"], grant=grant,
                        placement=placement, summary=(head + " " + outcome["placement"]).strip())


def admitted_sentence(policy, result, lang) -> str:
    """The first sentence of a ranked application's summary: its score, before its place in the ranking."""
    return admitted_head(policy, result.score, lang, result) if result.score is not None else ""


# --- driver -----------------------------------------------------------------------------------

@attrs.define
class BatchSummary:
    results: int = 0
    counts: dict = attrs.Factory(dict)
    granted: Decimal = Decimal(0)
    budget: Decimal = Decimal(0)
    outdir: Path | None = None
    warnings: list = attrs.Factory(list)
    allocation: rk.Allocation | None = None
    lang: str = "en"
    currency: str = "EUR"
    letter_errors: list = attrs.Factory(list)  # [{"application", "error"}]: letters not written
    stage_notes: list = attrs.Factory(list)  # a call with a panel: the stage, and problems of the marks sheet
    #: sizes and SHA-256 of the batch's files and of results.jsonl, worked out during the run (with --jobs,
    #: beside the report) for the manifest and the run record (engine.score.rundir.file_digests)
    file_digests: dict = attrs.Factory(dict)


def _map(fn, items, jobs, policy_path, lang, chunksize=64, root=None, paired=False):
    """``fn(x)`` for every item, in order (``(x, fn(x))`` when ``paired``: the item stays here and
    only the answer comes back from a worker); ``jobs`` > 1 runs ``fn`` in that many workers."""
    if jobs <= 1:
        for x in items:
            yield (x, fn(x)) if paired else fn(x)
        return
    ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    # Pool.imap would read the whole input ahead into its task queue; feeding it one window at a
    # time keeps memory bounded however long the batch is. The next window is queued before this
    # one's answers are taken, so that the workers never wait for a window's last task to end
    # (two windows of half the size: the same memory as one)
    window = jobs * chunksize * 4
    items = iter(items)
    with ctx.Pool(jobs, initializer=_init_worker, initargs=(str(policy_path), lang, root, _W.get("params"))) as pool:
        queued = None
        while True:
            chunk = list(itertools.islice(items, window))
            following = (chunk, pool.imap(fn, chunk, chunksize=chunksize)) if chunk else None
            if queued is not None:
                yield from (zip(*queued) if paired else queued[1])
            if following is None:
                break
            queued = following


#: what a batch given as a stream can be (a stream has no file name to tell its format by)
STREAM_FORMATS = ("jsonl", "json", "csv")


def _sniff(head: bytes) -> str:
    """``[`` is a JSON array, a first line that is a whole object is JSON Lines, another ``{`` one
    JSON document; anything else is read as CSV (a header line)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        try:
            json.loads(text.split(b"\n", 1)[0])
        except ValueError:
            return "json"
        return "jsonl"
    return "csv"


@contextlib.contextmanager
def _batch_file(batch, batch_format=None):
    """A path to read ``batch`` from: a path as given; a stream (text or binary, e.g. an upload or
    ``sys.stdin``) copied once into a temporary file, because the readers work on files (the format
    told from the head, workers' slices of JSON Lines, the audit trail's SHA-256) and a stream can be
    read only once. The copy is named after the stream's own
    name when it has one, so results say where a row came from (``upload.jsonl:12``)."""
    if not hasattr(batch, "read"):
        yield batch
        return
    if batch_format is not None and batch_format not in STREAM_FORMATS:
        raise ValueError(f"batch_format: expected one of {', '.join(STREAM_FORMATS)}, got {batch_format!r}")
    name = getattr(batch, "name", None)
    stem = Path(name).stem if isinstance(name, str) and name and not name.startswith("<") else "batch"
    with tempfile.TemporaryDirectory(prefix="bando-batch-") as folder:
        raw = Path(folder) / "stream"
        with open(raw, "wb") as out:
            while True:
                chunk = batch.read(1 << 16)
                if not chunk:
                    break
                out.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
        with open(raw, "rb") as f:
            fmt = batch_format or _sniff(f.read(1 << 16))
        path = raw.rename(Path(folder) / f"{stem}.{fmt}")
        yield path


def score_batch(policy_path, batch, outdir, *, batch_format=None, **options) -> BatchSummary:
    """Score a batch into ``outdir`` as one unit (see engine/score/rundir.py): every
    file is written into a staging folder, ``manifest.json`` last, then the set
    is swapped in for the previous run's; a run that fails or is killed leaves
    the previous outputs as they were, and the next run clears its debris.

    ``batch`` is a path (file or folder, format by extension: docs/batch-formats.md) or an open
    stream of JSON Lines, JSON or CSV, text or bytes; ``batch_format`` (one of
    :data:`STREAM_FORMATS`) says which for a stream, else it is told from the first line.
    ``options`` are those of :func:`_score_into`. Returns a :class:`BatchSummary`; raises
    :class:`engine.score.batch_io.BatchError` for a batch that cannot be read.

    >>> from engine import score_batch
    >>> with open("uploads/day1.jsonl", encoding="utf-8") as f:           # doctest: +SKIP
    ...     summary = score_batch("policies/salentonet.bando", f, "out/day1", letters=False)
    >>> summary.counts                                                    # doctest: +SKIP
    """
    from engine.score import audit
    from engine.score import rundir
    previous = options.get("previous")
    with _batch_file(batch, batch_format) as batch_path, \
            rundir.OutputRun(outdir, outputs=rundir.SCORE_OUTPUTS, kind="bando score") as run:
        if options.get("compare") is not None:  # a run to compare with must be one, before any work
            from engine.score.diff import check_run
            check_run(options["compare"])
        if previous is not None:  # an earlier run's results are used only if they are what it wrote
            p = Path(previous)
            rundir.check_file(p / "results.jsonl" if p.is_dir() else p)
        summary = _score_into(policy_path, batch_path, run.path, **options)
        # the audit trail: what this run read and every option that changed what it wrote (bando verify)
        run.commit({audit.KEY: audit.record(
            _W["policy"], policy_path, batch_path, stream=not isinstance(batch, (str, os.PathLike)),
            templates_dir=options.get("templates_dir"), previous=previous, withdrawn=options.get("withdrawn"),
            root=options.get("root"), compare=options.get("compare"), marks=options.get("marks"),
            options=options, known=summary.file_digests)}, known=summary.file_digests)
    summary.outdir = Path(outdir)
    return summary


def _score_into(policy_path, batch_path, outdir, *, lang=None, budget=None, jobs=1, previous=None,
                withdrawn=None, allow_policy_change=False,
                letters=True, letter_format="txt", templates_dir=None, letter_date=None,
                decimal_comma=None, progress=None, root=None, allow_invalid=False,
                csv_dialect=None, compare=None, marks=None, params=None) -> BatchSummary:
    """Score a batch; write results.jsonl, ranking.csv, errors.csv, summary.json, report.html, letters/.

    ``previous`` is an earlier run's results.jsonl (scorrimento: its awards are
    kept exactly, a partial one completed first); ``withdrawn`` a file listing
    the applications withdrawn or revoked since, or a set of their ids. Both
    are checked, and the budget against what is already awarded, before any
    application is evaluated (:class:`engine.score.previous.PreviousRunError`,
    :class:`engine.score.ranking.AllocationError`).

    ``progress``, when given, is called as ``progress(label, total=None)`` at the start of the pass
    and of the writing of the outputs, and returns a callable ticked once per application, with a
    ``close()`` (the CLI's bar).
    A batch of at least :data:`MOSTLY_INVALID_MIN_ROWS` rows of which more than half are
    invalid stops after the pass with :class:`MostlyInvalidError`, which says what was
    probably read wrong, before any output is written; ``allow_invalid`` scores it anyway.
    ``csv_dialect`` is the layout of ranking.csv and errors.csv (``engine.score.outputs.CSV_DIALECTS``;
    default: the call's language's).
    """
    from engine.score import outputs
    from engine.score.previous import read_previous, read_withdrawn

    _W.pop("loaded", None)  # the driver reads the policy as it is now (workers then inherit it)
    _W["params"] = params  # the call's parameters for this run: the workers compile the same variant
    _init_worker(policy_path, None, root, params)  # root: the folder the files the policy names must stay in
    policy = _W["policy"]
    lang = lang or policy.language
    _W["lang"] = lang
    proc = rk.Procedure.of(policy)
    available = Decimal(budget) if budget is not None else Decimal(policy.checked.header.get("budget") or 0)
    withdrawn_file = withdrawn_sha = None
    if withdrawn is not None and not isinstance(withdrawn, (set, frozenset, list, tuple)):
        withdrawn_file = os.path.abspath(withdrawn)  # as the run record has it: bando verify repeats it from there
        withdrawn, withdrawn_sha = read_withdrawn(withdrawn)
    withdrawn = frozenset(withdrawn or ())
    if previous is not None:
        previous = read_previous(previous, policy, allow_policy_change=allow_policy_change)
    rk.check_budget(available, previous.awards if previous is not None else {}, withdrawn,
                    money=lambda d: format_money(d, lang, policy.currency))
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    dialect = outputs.csv_dialect(csv_dialect, lang)  # an unknown name fails before any work
    # the compact results wait here, beside the outputs, between the pass and the ranking, and the
    # rows of the ranking's tables between the writing of the results and of the tables (unnamed files:
    # they go when closed, and no run folder ever holds them)
    with tempfile.TemporaryFile(dir=outdir, prefix=".spill-") as spill, \
            tempfile.TemporaryFile(dir=outdir, prefix=".lines-") as lines, \
            tempfile.TemporaryFile(dir=outdir, prefix=".ranked-") as table, \
            tempfile.TemporaryFile(dir=outdir, prefix=".errors-") as errors:
        return _score_spilled(policy, policy_path, batch_path, outdir, spill, lines, table, errors, lang=lang, jobs=jobs,
                              previous=previous, withdrawn=withdrawn, withdrawn_file=withdrawn_file,
                              withdrawn_sha=withdrawn_sha, available=available, proc=proc, budget=budget,
                              letters=letters, letter_format=letter_format, templates_dir=templates_dir,
                              letter_date=letter_date, decimal_comma=decimal_comma, progress=progress,
                              root=root, allow_invalid=allow_invalid, dialect=dialect, compare=compare,
                              marks=marks)


def _score_spilled(policy, policy_path, batch_path, outdir, spill, lines_file, table, errors, *, lang, jobs, previous, withdrawn,
                   withdrawn_file, withdrawn_sha, available, proc, budget, letters, letter_format,
                   templates_dir, letter_date, decimal_comma, progress, root, allow_invalid, dialect,
                   compare=None, marks=None):
    """The pass, the ranking and the outputs of :func:`_score_into`, with ``spill`` open."""
    from engine.score import outputs
    from engine.letters.letters import LetterError, LetterRenderer, safe_filename
    from engine.report.report import OTHERS_LIMIT, write_report
    from engine.score import rundir
    from engine.score.audit import input_files

    # the pass: read, validate, decide, explain each row once; keep ranking entries, spill the rest
    entries: list[rk.Entry] = []
    total = 0
    invalid_fields: dict[str, list] = {}  # field (list positions dropped) -> [rows, a message]
    invalid = pending = 0
    sheet = _stage.load_marks(policy, marks, lang)
    _W["marks"] = sheet.by_application if sheet is not None else None  # forked workers inherit it
    bar = progress(i18n.text(lang, "batch.evaluating")) if progress else None
    reader = read_batch(batch_path, from_policy(policy), decimal_comma=decimal_comma, lang=lang)
    # the spill, which forked workers append to as well (under a lock made before they fork)
    appended = _W["spill"] = _Appended(spill, _fork_lock() if jobs > 1 else None)
    # where the records of every WRITE_CHUNK applications are: the chunks of the writing of the outputs
    segments = _Segments()
    cross_rows: list[_cross.CrossRow] = []
    for e, record, crow in _scored(reader, jobs, policy_path, lang, root):
        if isinstance(record, bytes):
            segments.add(appended.append(record), len(record))
        else:  # a worker put it there
            segments.add(*record)
        if crow is not None:
            cross_rows.append(crow)
        total += 1
        if bar:
            bar(1)
        if isinstance(e, _Pending):
            pending += 1
        elif isinstance(e, _Invalid):
            invalid += 1
            for field, message in dict(e).items():  # one count per field and row
                acc = invalid_fields.setdefault(_field_group(field), [0, message])
                acc[0] += 1
        elif e is not None:
            entries.append(e)
    _W.pop("spill", None)  # the pass's workers are gone
    segments.close()
    if bar:
        bar.close()
    if not allow_invalid and total >= MOSTLY_INVALID_MIN_ROWS and invalid * 2 > total:
        raise MostlyInvalidError(_mostly_invalid_text(batch_path, total, invalid, invalid_fields,
                                                      reader.warnings, lang))

    # the gates across applications, over every valid application: who fails them is never ranked
    cross = None
    if policy.cross_gates:
        decided = _cross.settle(policy, cross_rows, withdrawn)
        excluded = _cross.failed(decided)
        entries = [e for e in entries if e.index not in excluded]
        del cross_rows
        cross = _cross_settler(policy, decided, lang)

    # ranking and allocation
    ranker_order = None
    if proc.unique:
        ordered0 = rk.rank([e for e in entries if e.id not in withdrawn], proc)
        pos = {id(e): i for i, e in enumerate(ordered0)}
        ranker_order = lambda e: pos[id(e)]  # noqa: E731
        for rule in proc.unique:
            rk.apply_unique([e for e in entries if e.id not in withdrawn], rule, ranker_order)
        for e in entries:
            e.rank, e.tied_with, e.tie_break = None, (), None
    awards = previous.awards if previous is not None else {}
    for e in entries:
        if e.id in withdrawn:
            e.status, e.reason, e.previous = "withdrawn", "withdrawn", (
                awards[e.id].amount if e.id in awards else None)
    ranked = [e for e in entries if e.excluded_by is None and e.status != "withdrawn"]
    ordered = rk.rank(ranked, proc)
    reserve_amounts = []
    for r in proc.reserves:
        share = policy.compile_expr(r.share)({})
        t = policy.checked.type_of(r.share)
        reserve_amounts.append(share if t.kind == "money" else (available * share))
    margin = proc.margin(policy, available)
    if pending:
        # a provisional ranking: applications still awaiting the panel could rank above any of these,
        # so nothing is allocated until every admissible application is evaluated
        alloc = rk.Allocation(available)
        for e in ordered:
            e.status, e.reason = "admitted", "evaluation_pending"
    else:
        alloc = rk.allocate(ordered, available, proc, reserve_amounts, awards, withdrawn, margin)
    n = len(ordered)
    by_index = {e.index: e for e in entries}
    warnings = _scorrimento_warnings(entries, awards, withdrawn, lang, policy)

    def table_key(index):  # ranking.csv's order of the ranked rows (their _table_key), known from the entries
        e = by_index.get(index)
        return None if e is None else (e.rank is None, e.rank or 0, e.id)

    def outcome(index):
        # built on the fly so that only the entries stay in memory between the passes
        e = by_index.get(index)
        if e is None:
            return None
        return {"status": e.status, "rank": e.rank, "of": n, "tied_with": e.tied_with, "awarded": e.awarded,
                "reason": e.reason, "reserve": e.reserve, "line_rank": e.line_rank,
                "left": money_text(e.left), "draw": list(e.draw) if e.draw else None,
                "previous": money_text(e.previous),
                "placement": rk.placement(e, n, policy, proc, alloc, lang, margin)}

    # stream the outputs from the spill, in input order
    call = policy.call_info()
    if budget is not None:
        call["budget"] = format(Decimal(budget).quantize(Decimal("0.01")), "f")
    summary = outputs.SummaryBuilder(call)
    report_rows, other_rows = [], []
    # the ranked rows and the error rows go to files as they come (in input order); of the ranked ones,
    # the input position of each, and the keys of the few a row's entry would misplace
    ranked_file, error_file = _RowFile(table), _RowFile(errors)
    ranked_at, own_keys = array.array("q"), {}
    panel_rows: list = []
    seen_ids: set = set()
    detailed = _detail_indices(entries, REPORT_DETAIL_LIMIT)
    # funded with less than the policy's grant (the budget ran out at it, a shared tie...)
    partial = frozenset(e.index for e in entries
                        if e.status == "funded" and e.awarded is not None and e.awarded < e.grant)
    # the applications not ranked the report shows: in detail while there is room, in its table the first
    # OTHERS_LIMIT (in input order; chosen here, so that each chunk of the writing knows its own)
    unranked = (i for i in range(total) if i not in by_index or by_index[i].status not in outputs.RANKED_STATUSES)
    others = list(itertools.islice(unranked, OTHERS_LIMIT))
    shown_unranked = frozenset(others[:max(REPORT_DETAIL_LIMIT - len(detailed), 0)])
    used_names: set = set()
    letters_dir = outdir / "letters"
    staging = None
    date = letter_date or default_letter_date(policy)
    _W.pop("renderer", None)
    _W["letter"] = None
    if letters:
        LetterRenderer(templates_dir=templates_dir, lang=lang, fmt=letter_format)  # fail early on bad options
        # workers render the letters (forked workers inherit this setting)
        _W["letter"] = (templates_dir, letter_format, call, date, lang)
        # letters go to a staging folder swapped in at the end: a failed run never
        # leaves a half-written letters/ (one rename instead of one per letter)
        staging = Path(tempfile.mkdtemp(prefix=".letters-", dir=outdir))
        os.chmod(staging, 0o777 & ~outputs.umask())  # mkdtemp makes it 0700: colleagues could not read letters/
    # the pass counted the rows: writing the outputs has a total, a percentage and a time left
    bar = progress(i18n.text(lang, "batch.explaining"), total) if progress else None

    letter_errors: list[dict] = []
    one_value, per_item = output_columns(policy, lang)
    # what writing a chunk of results needs: forked workers inherit it (nothing of it is pickled)
    lines = _Appended(lines_file, _fork_lock()) if jobs > 1 else None
    _W["writing"] = _Writing(policy, lang, outcome, table_key, cross, call, detailed, partial, shown_unranked,
                             frozenset(others), per_item, sheet is not None, letters, spill, lines)
    chunks = segments.chunks
    with outputs.atomic_open(outdir / "results.jsonl", "wb") as fh, contextlib.ExitStack() as extra:
        items_csv = None
        if per_item:  # a call with per-item outputs: one row per item of each, beside results.jsonl
            items_csv = outputs.ItemsWriter(extra.enter_context(outputs.atomic_open(
                outdir / "outputs_items.csv", "w", encoding="utf-8-sig", newline="")), per_item, lang, dialect)
        # the results are written by chunks, in workers with --jobs; here they are joined in input order
        for part in _map(_write_chunk, chunks, jobs, policy_path, lang, chunksize=1, root=root):
            if isinstance(part.lines, bytes):
                fh.write(part.lines)
            else:  # where a worker put them
                lines.copy_to(fh, *part.lines)
            summary.merge(part.summary)
            for index, blob, key in part.ranked:
                ranked_file.append(blob)
                if key is not None:
                    own_keys[len(ranked_at)] = key
                ranked_at.append(index)
            for blob in part.errors:
                error_file.append(blob)
            report_rows += part.report
            other_rows += part.others
            panel_rows += part.panel
            seen_ids.update(part.seen)
            if items_csv is not None:
                items_csv.write_rows(part.items)
            for app_id, named, text in part.letters:
                if isinstance(text, LetterError):
                    letter_errors.append({"application": app_id, "error": str(text)})
                else:
                    name = safe_filename(named, used_names)  # as `bando letters` names it
                    with open(staging / f"{name}.{letter_format}", "w", encoding="utf-8", newline="\n") as lf:
                        lf.write(text)
            if bar:
                bar(part.size)
    _W.pop("writing", None)
    counts = dict(summary.counts)  # in the order the statuses were first seen
    if bar:
        bar.close()
    if staging is not None:
        _swap_in(staging, letters_dir)
    expand = _expander(policy, lang)
    # a column per criterion, then per bonus and malus (what it added or took off the score)
    criteria = [(c.id, policy.label_of(c, lang)) for c in policy.criteria + policy.bonuses]
    # rank, then id: the order the budget was allocated in (unranked admitted rows last)
    order = array.array("q", sorted(range(len(ranked_at)),
                                    key=lambda k: own_keys.get(k) or table_key(ranked_at[k])))
    ranked_rows = ranked_file.rows(order)
    error_rows = error_file.rows()
    weighted = any(c.ranking_weight is not None for c in policy.criteria)
    created = _xlsx_date(date)

    def spreadsheets():
        outputs.write_ranking_xlsx(outdir / "ranking.xlsx", map(expand, ranked_rows),
                                   criteria, lang=lang, currency=policy.currency, presorted=True,
                                   ranking_score=weighted, created=created, outputs=one_value)
        outputs.write_errors_xlsx(outdir / "errors.xlsx", error_rows, lang=lang, created=created)
        # results.jsonl, the longest output, hashed for the manifest here (with --jobs, beside the report)
        return rundir.file_digests([outdir / "results.jsonl"])

    # with --jobs, the workbooks (the longest of the tables to write) are written while the CSV files and the report are
    with _beside(jobs, spreadsheets) as digests:
        outputs.write_ranking_csv(outdir / "ranking.csv", map(expand, ranked_rows), criteria, lang=lang,
                                  dialect=dialect, presorted=True, ranking_score=weighted, outputs=one_value)
        outputs.write_errors_csv(outdir / "errors.csv", error_rows, lang=lang, dialect=dialect)
        summ = summary.finish()
        summ["reader_warnings"] = list(reader.warnings)  # ignored columns, encodings…: the evaluator sees them
        summ["allocation"] = _allocation_summary(alloc, proc, policy, withdrawn,
                                                 (withdrawn_file, withdrawn_sha), previous, entries,
                                                 reserve_amounts, lang)
        summ["scorrimento_warnings"] = warnings
        if policy.marks:  # a call with a panel: which stage this run is, and what the panel's sheet said
            summ["stage"] = _stage.summary(policy, sheet, counts, seen_ids, lang)
            _stage.write_panel_files(outdir, policy, panel_rows, lang, dialect)
        summ["letter_errors"] = letter_errors
        if invalid * 2 > total and total:  # scored anyway (--allow-invalid, or a short batch): say so
            summ["mostly_invalid"] = {"rows": total, "invalid": invalid}
        outputs.write_summary_json(outdir / "summary.json", summ)
        changes = None
        if compare is not None:  # --compare: who moved since that run, and why (diff.*, a section of the report)
            from engine.score import diff
            comparison = diff.compare(compare, outdir,
                                      names=(os.path.abspath(compare), i18n.text(lang, "diff.this_run")))
            outputs.atomic_write(outdir / "diff.txt", diff.render_text(comparison, lang))
            diff.write_csv(comparison, outdir / "diff.csv", lang=lang, dialect=dialect)
            outputs.atomic_write(outdir / "diff.json", diff.json_text(comparison, lang))
            changes = diff.describe(comparison, lang)
        with outputs.atomic_open(outdir / "report.html", newline="") as page:
            write_report(page, report_rows, summ, call, lang, rows=_TableRows(ranked_rows, expand, other_rows),
                         changes=changes)
        # the batch's files, hashed for the run record here, while the workbooks are written (they take longer
        # than the report)
        batch_digests = rundir.file_digests(input_files(Path(batch_path)))
    stage = summ.get("stage") or {}
    return BatchSummary(total, counts, alloc.granted, available, outdir,
                        list(reader.warnings) + warnings + stage.get("sheet_problems", []), alloc,
                        lang, policy.currency, letter_errors, stage.get("notes", []), {**batch_digests, **digests[0]})


def _cross_settler(policy, decided, lang):
    """``(index, result) -> result`` with its gates across applications as ``decided`` them."""
    from engine.explain.explain import cross_gate_result, settle_cross

    def settle(index, result):
        gates = tuple(cross_gate_result(policy, g, lang, shared)
                      for g, shared in zip(policy.cross_gates, decided[index]))
        return settle_cross(policy, result, gates, lang)
    return settle


@contextlib.contextmanager
def _beside(jobs, job):
    """Run ``job()`` in a forked process while the block runs (``jobs`` > 1), else before it; leaving the
    block waits for it and raises what it raised. The child inherits the driver's memory, so nothing is
    pickled but its answer, put in the list the block is given."""
    answer: list = []
    if jobs <= 1 or sys.platform == "win32":
        answer.append(job())
        yield answer
        return
    _W["beside"] = job
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
        done = pool.submit(_run_beside)  # the child is forked here, with _W["beside"] set
        del _W["beside"]
        yield answer
        answer.append(done.result())


def _run_beside():
    return _W.pop("beside")()


_COMPACT = ("application", "applicant", "status", "score", "ranking_score", "requested", "grant", "rank")


def _swap_in(staging: Path, target: Path):
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=".letters-old-", dir=target.parent))
        os.rename(target, old / "letters")
    os.rename(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _table_key(c):
    """The place of a compact row in ranking.csv: by rank, then id (unranked admitted rows last)."""
    return (c[7] is None, c[7] or 0, c[0] or "")


class _RowFile:
    """Rows of a table (pickled where they were made) written to an unnamed file as they come and read
    back by position: a long batch's ranked rows or error rows are never held in memory. Reads are
    by offset (:func:`_pread`): a forked process writing the workbooks reads the same file at the
    same time."""

    def __init__(self, f):
        self._f = f
        self._ends = array.array("q")  # where the k-th row written ends

    def __len__(self):
        return len(self._ends)

    def append(self, blob: bytes) -> None:
        self._f.write(blob)
        self._ends.append((self._ends[-1] if self._ends else 0) + len(blob))

    def rows(self, order=None) -> Sequence:
        """The rows in the order written, or in ``order`` (positions in the order written)."""
        self._f.flush()
        return _FileRows(self, order)

    def read(self, k: int):
        start = self._ends[k - 1] if k else 0
        return pickle.loads(_pread(self._f, self._ends[k] - start, start))


class _FileRows(Sequence):
    """A :class:`_RowFile`'s rows by position (each read when asked for)."""

    def __init__(self, file: _RowFile, order):
        self._file, self._order = file, order

    def __len__(self):
        return len(self._file) if self._order is None else len(self._order)

    def __getitem__(self, j):
        if not isinstance(j, int):
            raise TypeError("read by position only")
        if not 0 <= j < len(self):
            raise IndexError(j)
        return self._file.read(j if self._order is None else self._order[j])


def _slim_error(d):
    """What errors.csv and errors.xlsx need of a result with errors."""
    return {"application": d.get("application"), "status": d.get("status"), "source": d.get("source"),
            "language": d.get("language"),
            "errors": [{"field": e.get("field"), "text": e.get("text"), "message": e.get("message")}
                       if isinstance(e, Mapping) else e for e in d["errors"]]}


def _compact(d, policy, partial=False):
    """What ranking.csv, ranking.xlsx and the report's ranking table need of a result, as a
    tuple (a long batch keeps many of these): the fields of _COMPACT, how the allocation
    funded it (placement reason, reserve, whether it got less than its grant), the points of
    each criterion."""
    placement = d.get("placement") or {}
    # the named outputs of one value (ranking.csv's columns): only their values
    values = tuple((name, o.get("value")) for name, o in (d.get("outputs") or {}).items() if "items" not in o)
    return tuple(d.get(k) for k in _COMPACT) + (placement.get("reason"), placement.get("reserve"), partial,
                                                tuple(x["points"] for x in d["criteria"]) +
                                                tuple(bonus_counted(x) for x in d.get("bonuses") or ()), values)


def bonus_counted(b):
    """What a bonus or malus entry of a result added to the score (a malus: below zero), as a JSON number."""
    if b.get("points") is None:
        return None
    if not b.get("applied"):
        return 0
    return b["points"] if b.get("kind") == "bonus" else -b["points"]


def _expander(policy, lang):
    """``expand(c)``: the result dict ranking.csv, ranking.xlsx and the report's table need of a compact
    row (:func:`_compact`), the policy's part of it worked out once, not once per row and table."""
    common = {"currency": policy.currency, "language": lang, "max_score": json_number(policy.max_score),
              "pass_score": json_number(policy.pass_score)}
    maxima = [(x.id, json_number(x.max)) for x in policy.criteria + policy.bonuses]

    def expand(c):
        d = dict(zip(_COMPACT, c))
        d.update(common)
        d.update(placement={"reason": c[-5], "reserve": c[-4]}, partial=c[-3])
        d["criteria"] = [{"id": cid, "points": p, "max": top} for (cid, top), p in zip(maxima, c[-2])]
        if c[-1]:
            d["outputs"] = {name: {"value": v} for name, v in c[-1]}
        return d

    return expand


class _TableRows(Sequence):
    """The rows of the report's tables, by position: the compact ranked rows (:func:`_compact`), each
    expanded when it is read, then the applications not ranked it lists (:func:`_slim`)."""

    def __init__(self, ranked, expand, others):
        self._ranked, self._expand, self._others = ranked, expand, others

    def __len__(self):
        return len(self._ranked) + len(self._others)

    def __getitem__(self, i):
        if not isinstance(i, int) or not 0 <= i < len(self):
            raise IndexError(i)  # read only by position, by the report
        n = len(self._ranked)
        return self._expand(self._ranked[i]) if i < n else self._others[i - n]


def _slim(d):
    """What the report's table of applications not ranked needs of a result."""
    return {"application": d.get("application"), "applicant": d.get("applicant"), "status": d["status"],
            "score": d.get("score"), "max_score": d.get("max_score"), "pass_score": d.get("pass_score"),
            "gates": [g for g in d.get("gates") or () if not g.get("passed")],
            "errors": [{"field": "", "message": ""}] * len(d.get("errors") or ())}


def _detail_indices(entries, limit) -> frozenset:
    """Input positions of the ranked applications the report details: the best ranked first."""
    ranked = [e for e in entries if e.excluded_by is None and e.status != "withdrawn"]
    ranked.sort(key=lambda e: (e.rank is None, e.rank or 0, e.id))
    return frozenset(e.index for e in ranked[:limit])


def _xlsx_date(date):
    """The date the workbooks' properties carry: the run's declared date (that of the letters)."""
    import datetime as dt
    if date is None:
        return None
    return dt.datetime(date.year, date.month, date.day)


def _field_group(field) -> str:
    """``network.firms[4].employees`` -> ``network.firms[].employees``: one line per field."""
    import re
    return re.sub(r"\[\d+\]", "[]", str(field or ""))


def _mostly_invalid_text(batch_path, total, invalid, fields, reader_warnings, lang) -> str:
    w = i18n.table(lang if lang in i18n.languages() else "en", "mostly_invalid")
    lines = [w["head"].format(file=Path(batch_path).name, invalid=invalid, total=total)]
    if reader_warnings:
        lines.append(w["reader"])
        lines += [f"  {x}" for x in reader_warnings[:10]]
    top = sorted(fields.items(), key=lambda kv: (-kv[1][0], kv[0]))[:5]
    if top:
        lines.append(w["fields"])
        lines += [w["field"].format(field=f or w["row"], n=n, message=m) for f, (n, m) in top]
    lines.append(w["hint"])
    return "\n".join(lines)


def default_letter_date(policy):
    """The date letters carry: the call's decision date, else its closing date; None (undated
    letters, never an invented date) when the policy states neither."""
    closes = policy.checked.header.get("decision") or policy.checked.header.get("closes")
    if closes is None:
        return None
    return closes.date() if hasattr(closes, "hour") else closes


def _allocation_summary(alloc, proc, policy, withdrawn, withdrawn_file, previous, entries=(),
                        reserve_amounts=(), lang=None) -> dict:
    """What summary.json records of the allocation: totals, the rules applied, the reserves,
    every award that changed."""
    m = money_text  # one writer of exact amounts (exact.money_text) for summary.json and results
    changes = list(alloc.changes)
    if previous is not None:  # a withdrawn application's award is released: it changed too
        changes += [(i, previous.awards[i].amount, Decimal(0)) for i in sorted(withdrawn) if i in previous.awards]
    return {
        "budget": m(alloc.budget), "granted": m(alloc.granted), "left": m(alloc.left),
        "held_for_ties": m(alloc.held), "margin_used": m(alloc.margin_used),
        "committed_outside_ranking": m(alloc.committed_elsewhere),
        "funding_line_rank": alloc.line_rank,
        "shortfall": proc.shortfall, "ties": proc.ties.rule,
        "previous_run": previous.describe() if previous is not None else None,
        "withdrawn": {"file": withdrawn_file[0], "sha256": withdrawn_file[1], "ids": sorted(withdrawn)}
        if withdrawn else None,
        "changed_awards": [{"application": i, "before": m(b), "after": m(a)}
                           for i, b, a in changes] if previous is not None or withdrawn else [],
        "reserves": _reserves_summary(proc, policy, entries, reserve_amounts, lang),
    }


def _reserves_summary(proc, policy, entries, amounts, lang) -> list[dict]:
    """One line per reserved quota: its amount, what it funded, and what flowed back to the
    general ranking (a reserve funds whole tie groups in rank order while they fit)."""
    out = []
    for i, (r, amount) in enumerate(zip(proc.reserves, amounts)):
        funded = [e for e in entries if e.reserve == i and e.status == "funded"]
        used = sum((e.awarded for e in funded), Decimal(0))
        ranks = [e.rank for e in funded if e.rank is not None]
        out.append({
            "label": r.label.get(lang or policy.language, policy.language),
            "amount": money_text(amount), "granted": money_text(used), "funded": len(funded),
            "qualifying": sum(1 for e in entries if e.reserves and e.reserves[i] and e.excluded_by is None),
            "returned": money_text(max(amount - used, Decimal(0))),
            "last_rank": max(ranks) if ranks else None,
        })
    return out


def _scorrimento_warnings(entries, awards, withdrawn, lang, policy) -> list[str]:
    """Earlier awards this run cannot place, and withdrawals that name no application: the office must know."""
    out = []
    money = lambda d: format_money(d, lang, policy.currency)  # noqa: E731
    in_ranking = {e.id for e in entries if e.excluded_by is None}
    seen = {e.id for e in entries}
    for app, a in sorted(awards.items()):
        if app in withdrawn or app in in_ranking:
            continue
        out.append(i18n.text(lang, "batch.award_not_ranked", app=app, amount=money(a.amount)))
    for app in sorted(withdrawn - seen - set(awards)):
        out.append(i18n.text(lang, "batch.withdrawn_unknown", app=app))
    return out
