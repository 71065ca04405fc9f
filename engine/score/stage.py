"""The stage of a batch run for a call with an evaluation panel: admissibility, or merit evaluation.

Without ``--marks`` a run decides admissibility only: every admissible application
comes out ``awaiting_evaluation``, and the run writes ``panel.csv`` (the applications
to send to the panel) and ``marks_template.csv`` (the sheet the panel fills in, one
row per application and evaluator). With ``--marks`` the panel's sheet
(:mod:`engine.score.marks_io`) gives each application its marks; those whose
evaluation is not complete keep their status (``awaiting_evaluation``,
``needs_consensus``, ``evaluation_invalid``), and while any is left the ranking is
provisional and nothing is allocated (engine/score/batch.py).
"""
from __future__ import annotations

import csv
import io

from pathlib import Path

import attrs

from engine.score import outputs
from engine.score.marks_io import MarksError, read_marks, marks_template
from engine.text import i18n
from engine.explain.explain import status_label
from engine.text.status import PENDING, Status


@attrs.frozen
class Sheet:
    """The panel's marks sheet as a run uses it."""

    path: str
    layout: str
    by_application: dict  # application id -> tuple of given-mark dicts (engine.evaluate.panel)
    problems: tuple  # i18n Messages
    remarks: tuple


def labels(policy) -> dict:
    """Mark id -> {language: label}: the names a sheet may give the marks' columns."""
    out = {}
    for mid, r in policy.marks.items():
        out[mid] = {policy.language: r.label.text} | dict(r.label.translations) if r.label is not None else {}
    return out


def load_marks(policy, path, lang) -> Sheet | None:
    """The sheet at ``path`` (None: no sheet, an admissibility run); raises MarksError."""
    if path is None:
        return None
    if not policy.marks:
        raise MarksError(i18n.Message("marks.file.no_panel", call=policy.name))
    read = read_marks(path, labels(policy), lang=lang)
    by_app: dict = {}
    for row in read.rows:
        by_app.setdefault(row.application, []).append(row.as_given())
    # the sheet's name, not its path: a run repeated from elsewhere (bando verify) writes the same summary
    return Sheet(Path(read.path).name, read.layout, {k: tuple(v) for k, v in by_app.items()}, read.problems, read.remarks)


def summary(policy, sheet: Sheet | None, counts: dict, seen_ids: set, lang: str) -> dict:
    """What summary.json (and the report) say of the stage."""
    pending = {str(s): counts.get(str(s), 0) for s in PENDING}
    waiting = sum(pending.values())
    ranked = sum(counts.get(s, 0) for s in outputs.RANKED_STATUSES)
    notes = []
    if sheet is None:
        notes.append(i18n.text(lang, "marks.stage.admissibility", n=waiting))
    else:
        notes.append(i18n.text(lang, "marks.stage.evaluation", file=sheet.path))
        if waiting and ranked:
            notes.append(i18n.text(lang, "marks.stage.provisional", n=waiting))
    problems = [i18n.render(m, lang) for m in (sheet.problems + sheet.remarks if sheet else ())]
    unknown = sorted(set(sheet.by_application) - seen_ids) if sheet else []
    if unknown:
        problems.append(i18n.text(lang, "marks.not_in_batch", ids=", ".join(unknown[:20]) +
                                  ("…" if len(unknown) > 20 else "")))
    return {"stage": "admissibility" if sheet is None else "evaluation", "marks": sheet.path if sheet else None,
            "layout": sheet.layout if sheet else None, "pending": pending, "provisional": bool(waiting and ranked),
            "notes": notes, "sheet_problems": problems}


def write_panel_files(outdir, policy, rows, lang, dialect) -> None:
    """panel.csv (the applications the panel has still to evaluate) and marks_template.csv (their empty sheet)."""
    sep = outputs.CSV_DIALECTS[dialect][0]
    out = io.StringIO()
    w = csv.writer(out, delimiter=sep, lineterminator="\r\n")
    it = lang == "it"
    w.writerow(["domanda", "proponente", "stato"] if it else ["application", "applicant", "status"])
    for app, applicant, status in rows:
        w.writerow([app or "", applicant or "", status_label(status, lang)])
    outputs.atomic_write(outdir / "panel.csv", "\ufeff" + out.getvalue())
    evaluators = max((r.evaluators for r in policy.marks.values()), default=1)
    awaiting = [app for app, _a, status in rows if status == Status.AWAITING_EVALUATION and app]
    outputs.atomic_write(outdir / "marks_template.csv",
                         "\ufeff" + marks_template(awaiting, labels(policy), evaluators, lang))
