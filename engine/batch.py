"""``bando score``: a batch of applications -> graduatoria, results, report, letters.

Two passes over the input keep memory bounded however long the batch is:

1. read each row, decide it on the fast path, and keep only what ranking
   needs of the admitted ones (:class:`engine.ranking.Entry`);
2. rank and allocate (:mod:`engine.ranking`), then read the rows again, explain
   each one, merge its place in the graduatoria and stream ``results.jsonl``,
   the summary, letters; ``ranking.csv``, ``errors.csv`` and ``report.html``
   are written at the end from compact rows.

Every input row gets exactly one result, in input order: a row that cannot be
read or does not match the policy's input is an ``invalid`` result that says
where (file:line and field). ``--jobs N`` spreads both passes over processes;
the output is byte-identical to ``--jobs 1`` because results are merged back
in input order.
"""
from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import attrs

from . import ranking as rk
from .batch_io import read_batch
from .result import GateResult, Result

REPORT_DETAIL_LIMIT = 2000


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


class _Ranker:
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
        env = self.policy.env(value)
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
        return rk.Entry(index, decision.application or f"#{index + 1}", keys, grant, decision.requested,
                        decision.score, reserves, tuple(dict.fromkeys(ukeys)), keep)


# --- worker side -----------------------------------------------------------------------------

_W: dict = {}


def _init_worker(policy_path, lang):
    from .policy import load_policy
    policy = load_policy(Path(policy_path))
    _W["policy"] = policy
    _W["ranker"] = _Ranker(policy, rk.Procedure.of(policy))
    _W["lang"] = lang


def _row_problem(row):
    return row.data is None or bool(row.errors)


def _decide_row(row):
    """Pass 1: the decision, and the ranking entry when admitted."""
    policy = _W["policy"]
    if _row_problem(row):
        return None
    value, errors = policy.validate(row.data)
    if errors:
        return None
    from .policy import _app_id
    d = policy.decide_valid(_app_id(row.data), value)
    if d.status != "admitted":
        return None
    return _W["ranker"].entry(row.index, d, value)


def _explain_row(args):
    """Pass 2: the result dict, its JSON line and its letter (rendered here, in the worker)."""
    d = _explain_dict(args)
    line = json.dumps(d, ensure_ascii=False, separators=(",", ":"))
    letter = _W.get("letter")
    text = None
    if letter is not None:
        renderer = _W.get("renderer")
        if renderer is None:
            from .letters import LetterRenderer
            templates_dir, fmt, call, date, lang = letter
            renderer = _W["renderer"] = LetterRenderer(templates_dir=templates_dir, lang=lang, fmt=fmt)
        text = renderer.render(d, letter[2], date=letter[3])
    return d, line, text


def _explain_dict(args):
    """The full result dict of one row, merged with its ranking outcome."""
    row, outcome = args
    policy, lang = _W["policy"], _W["lang"]
    if row.data is None or row.errors:
        errors = list(row.errors)
        if row.data is not None:
            errors += policy.validate(row.data)[1]
        result = _invalid(policy, row, errors, lang)
        return _with_source(result.to_dict(), row)
    result = policy.evaluate(row.data, lang=lang)
    if outcome is not None:
        result = _merge(policy, result, outcome, lang)
    return _with_source(result.to_dict(), row)


def _invalid(policy, row, errors, lang):
    from .result import Decision
    d = Decision(row.app_id, "invalid", errors=tuple(errors) or (("", "the row could not be read"),))
    return policy.explain(row.data, d, lang=lang)


def _with_source(d, row):
    d["source"] = row.source
    if d["application"] is None:
        d["application"] = row.app_id
    return d


def _merge(policy, result: Result, outcome: dict, lang) -> Result:
    if outcome["status"] == "ineligible":  # lost a shared firm to another application
        gate = GateResult("unique", rk._W.get(lang, rk._W["en"])["unique_gate"], False, outcome["placement"])
        return attrs.evolve(result, status="ineligible", grant=None, gates=result.gates + (gate,),
                            summary=outcome["placement"], placement={"because": outcome["placement"]})
    from .explain import _T
    from .formatting import format_points
    grant = outcome["awarded"] if outcome["status"] == "funded" else None
    placement = {"rank": outcome["rank"], "of": outcome["of"], "tied_with": list(outcome["tied_with"]),
                 "because": outcome["placement"]}
    head = ""
    if result.score is not None:
        head = _T.get(lang, _T["en"])["s_admitted"].format(score=format_points(result.score, lang),
                                                          max=format_points(policy.max_score, lang)) + " "
    return attrs.evolve(result, status=outcome["status"], rank=outcome["rank"], grant=grant,
                        placement=placement, summary=(head + outcome["placement"]).strip())


# --- driver -----------------------------------------------------------------------------------

@attrs.define
class BatchSummary:
    results: int = 0
    counts: dict = attrs.Factory(dict)
    granted: Decimal = Decimal(0)
    budget: Decimal = Decimal(0)
    outdir: Path | None = None
    warnings: list = attrs.Factory(list)


def _map(fn, items, jobs, policy_path, lang, chunksize=64):
    if jobs <= 1:
        for x in items:
            yield fn(x)
        return
    ctx = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    # Pool.imap would read the whole input ahead into its task queue; feeding it
    # one window at a time keeps memory bounded however long the batch is.
    window = jobs * chunksize * 8
    items = iter(items)
    with ctx.Pool(jobs, initializer=_init_worker, initargs=(str(policy_path), lang)) as pool:
        while True:
            chunk = list(itertools.islice(items, window))
            if not chunk:
                break
            yield from pool.imap(fn, chunk, chunksize=chunksize)


def score_batch(policy_path, batch_path, outdir, *, lang=None, budget=None, jobs=1, previous=None,
                letters=True, letter_format="txt", templates_dir=None, letter_date=None,
                decimal_comma=None, progress=None) -> BatchSummary:
    """Score a batch; write results.jsonl, ranking.csv, errors.csv, summary.json, report.html, letters/."""
    from . import outputs
    from .letters import LetterRenderer, safe_filename
    from .report import render_report

    _init_worker(policy_path, None)
    policy = _W["policy"]
    lang = lang or policy.language
    _W["lang"] = lang
    proc = rk.Procedure.of(policy)
    schema = policy.json_schema()
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)

    def rows():
        return read_batch(batch_path, schema, decimal_comma=decimal_comma)

    # pass 1: decide, keep ranking entries
    entries: list[rk.Entry] = []
    total = 0
    bar = progress("Valutazione" if lang == "it" else "Evaluating") if progress else None
    for e in _map(_decide_row, rows(), jobs, policy_path, lang):
        total += 1
        if bar:
            bar(1)
        if e is not None:
            entries.append(e)

    # ranking and allocation
    ranker_order = None
    if proc.unique:
        ordered0 = rk.rank(list(entries), proc)
        pos = {id(e): i for i, e in enumerate(ordered0)}
        ranker_order = lambda e: pos[id(e)]  # noqa: E731
        for rule in proc.unique:
            rk.apply_unique(entries, rule, ranker_order)
        for e in entries:
            e.rank, e.tied_with, e.tie_break = None, (), None
    ranked = [e for e in entries if e.excluded_by is None]
    ordered = rk.rank(ranked, proc)
    available = Decimal(budget) if budget is not None else Decimal(policy.checked.header.get("budget") or 0)
    reserve_amounts = []
    for r in proc.reserves:
        share = policy.compile_expr(r.share)({})
        t = policy.checked.type_of(r.share)
        reserve_amounts.append(share if t.kind == "money" else (available * share))
    granted = rk.allocate(ordered, available, proc, reserve_amounts, _read_previous(previous))
    n = len(ordered)
    by_index = {e.index: e for e in entries}

    def outcome(index):
        # built on the fly so that only the entries stay in memory between the passes
        e = by_index.get(index)
        if e is None:
            return None
        return {"status": e.status, "rank": e.rank, "of": n, "tied_with": e.tied_with, "awarded": e.awarded,
                "placement": rk.placement(e, n, policy, proc, available, lang)}

    # pass 2: explain, merge, stream outputs
    call = policy.call_info()
    if budget is not None:
        call["budget"] = format(Decimal(budget).quantize(Decimal("0.01")), "f")
    summary = outputs.SummaryBuilder(call)
    ranked_rows, error_rows, report_rows = [], [], []
    used_names: set = set()
    letters_dir = outdir / "letters"
    staging = None
    date = letter_date or _default_letter_date(policy)
    _W.pop("renderer", None)
    _W["letter"] = None
    if letters:
        LetterRenderer(templates_dir=templates_dir, lang=lang, fmt=letter_format)  # fail early on bad options
        # workers render the letters (forked workers inherit this setting)
        _W["letter"] = (templates_dir, letter_format, call, date, lang)
        # letters go to a staging folder swapped in at the end: a failed run never
        # leaves a half-written letters/ (one rename instead of one per letter)
        staging = Path(tempfile.mkdtemp(prefix=".letters-", dir=outdir))
    counts: dict = {}
    bar = progress("Spiegazioni e lettere" if lang == "it" else "Explaining and writing") if progress else None

    reader = rows()

    def pass2():
        for row in reader:
            yield row, outcome(row.index)

    with outputs.atomic_open(outdir / "results.jsonl") as fh:
        for d, line, text in _map(_explain_row, pass2(), jobs, policy_path, lang, chunksize=16):
            fh.write(line + "\n")
            summary.add(d)
            counts[d["status"]] = counts.get(d["status"], 0) + 1
            if d["status"] in ("funded", "not_funded", "admitted"):
                ranked_rows.append(_compact(d, policy))
            if d["errors"]:
                error_rows.append(d)
            if len(report_rows) < REPORT_DETAIL_LIMIT:
                report_rows.append(d)
            if text is not None:
                name = safe_filename(d["application"] or f"row-{len(used_names) + 1}", used_names)
                with open(staging / f"{name}.{letter_format}", "w", encoding="utf-8", newline="\n") as lf:
                    lf.write(text)
            if bar:
                bar(1)
    if staging is not None:
        _swap_in(staging, letters_dir)
    criteria = [(c.id, policy.label_of(c, lang)) for c in policy.criteria]
    # rank, then id: the order the budget was allocated in (unranked admitted rows last)
    ranked_rows.sort(key=lambda c: (c[7] is None, c[7] or 0, c[0] or ""))
    outputs.write_ranking_csv(outdir / "ranking.csv", (_expand(c, policy, lang) for c in ranked_rows), criteria,
                              lang=lang, presorted=True)
    outputs.write_errors_csv(outdir / "errors.csv", error_rows, lang=lang)
    summ = summary.finish()
    summ["reader_warnings"] = list(reader.warnings)  # ignored columns, encodings…: the evaluator should see them
    outputs.write_summary_json(outdir / "summary.json", summ)
    outputs.atomic_write(outdir / "report.html", render_report(report_rows, summ, call, lang))
    return BatchSummary(total, counts, granted, available, outdir, list(reader.warnings))


_COMPACT = ("application", "applicant", "status", "score", "ranking_score", "requested", "grant", "rank")


def _swap_in(staging: Path, target: Path):
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=".letters-old-", dir=target.parent))
        os.rename(target, old / "letters")
    os.rename(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _compact(d, policy):
    """What ranking.csv needs of a result, as a tuple (a long batch keeps many of these)."""
    return tuple(d.get(k) for k in _COMPACT) + (tuple(x["points"] for x in d["criteria"]),)


def _expand(c, policy, lang):
    d = dict(zip(_COMPACT, c))
    d.update(currency=policy.currency, language=lang, max_score=_num(policy.max_score),
             pass_score=_num(policy.pass_score))
    d["criteria"] = [{"id": x.id, "points": p, "max": _num(x.max)} for x, p in zip(policy.criteria, c[-1])]
    return d


def _num(v):
    from .result import json_number
    return json_number(v)


def _default_letter_date(policy):
    import datetime as _dt
    closes = policy.checked.header.get("decision") or policy.checked.header.get("closes")
    if closes is None:
        return _dt.date(1970, 1, 1)
    return closes.date() if hasattr(closes, "hour") else closes


def _read_previous(path):
    """Grants already awarded in an earlier run (scorrimento): id -> Decimal."""
    if not path:
        return None
    prev = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            d = json.loads(line)
            if d.get("status") == "funded" and d.get("grant") is not None:
                prev[d["application"]] = Decimal(d["grant"])
    return prev
