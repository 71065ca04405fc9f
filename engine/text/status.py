"""The outcome of an application: one vocabulary for the engine, its files and its readers.

A decision (:mod:`engine.evaluate.policy`) ends ``ineligible``, ``below_threshold``,
``admitted`` or ``invalid``. Ranking and allocation (:mod:`engine.score.ranking`)
turn an admitted application into ``funded``, ``not_funded`` or ``tied`` (a
tie at the funding line the budget cannot split), and ``withdrawn`` (withdrawn
or revoked, its award released) exists only after a batch.

:class:`Status` is a :class:`str` enum: a status compares equal to its name
(``Status.FUNDED == "funded"``) and is written as that name in JSON, CSV and
templates, so results files read the same as before there was an enum. The
words a person reads (``ammessa, non finanziata``) are in the message
catalogue, group ``status`` (:mod:`engine.text.i18n`).
"""
from __future__ import annotations

import enum


class Status(enum.StrEnum):
    INELIGIBLE = "ineligible"
    BELOW_THRESHOLD = "below_threshold"
    ADMITTED = "admitted"
    FUNDED = "funded"
    NOT_FUNDED = "not_funded"
    TIED = "tied"
    WITHDRAWN = "withdrawn"
    INVALID = "invalid"
    # a call with an evaluation panel: admissible, and its merit evaluation not complete
    AWAITING_EVALUATION = "awaiting_evaluation"
    NEEDS_CONSENSUS = "needs_consensus"
    EVALUATION_INVALID = "evaluation_invalid"


#: every status, in the order a result's outcome is decided (letters test them in this order)
ALL = tuple(Status)
#: admissible, the panel's evaluation not complete (engine.evaluate.panel): not ranked, nothing allocated
PENDING = (Status.AWAITING_EVALUATION, Status.NEEDS_CONSENSUS, Status.EVALUATION_INVALID)
#: the outcomes of deciding one application, before any ranking
DECIDED = (Status.INELIGIBLE, Status.BELOW_THRESHOLD, Status.ADMITTED, Status.INVALID) + PENDING
#: in the graduatoria: what the ranking and the budget made of an admitted application
RANKED = (Status.FUNDED, Status.TIED, Status.NOT_FUNDED, Status.ADMITTED)
#: scored, whether or not the score reached the pass mark
SCORED = RANKED + (Status.BELOW_THRESHOLD,)
#: the order of the report and of the summary's counts: ranked first, then the others
REPORT_ORDER = RANKED + (Status.BELOW_THRESHOLD,) + PENDING + (Status.INELIGIBLE, Status.WITHDRAWN, Status.INVALID)


def eligible(status: str) -> bool | None:
    """True when the gates passed, False when one failed, None when nobody knows (invalid)."""
    if status == Status.INVALID:
        return None
    return status != Status.INELIGIBLE
