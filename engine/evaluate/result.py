"""Outcomes of evaluating applications.

:class:`Decision` is what the fast path returns: the facts needed to rank and
fund, no sentences. :class:`Result` adds the explanation of every gate and
criterion and is what ``to_dict()`` / ``results.jsonl`` / letters use (the
contract in ``docs/contracts.md``).
"""
from __future__ import annotations

from decimal import Decimal

import attrs

from engine.text import status
from engine.text.status import eligible as eligible_status
from engine.text.exact import json_number, money_text

#: every outcome a result can have; "funded", "not_funded", "tied" (at the funding line, the office
#: decides) and "withdrawn" (withdrawn or revoked, its award released) exist only after batch ranking
STATUSES = tuple(str(s) for s in status.ALL)


# Results are frozen but not slotted: attrs then fills a frozen instance's __dict__ directly,
# about a third faster to build than setting slots through object.__setattr__ (an
# explained application builds one object per gate and criterion).
@attrs.frozen(slots=False)
class Decision:
    """The fast path's outcome for one application.

    >>> d = policy.decide(application)          # doctest: +SKIP
    >>> d.status, d.score, d.grant               # doctest: +SKIP
    ('admitted', Decimal('72'), Decimal('40000.00'))
    """

    application: str | None
    status: str
    failed: tuple = ()
    points: tuple | None = None  # per top-level criterion, Decimal/int, policy order
    score: Decimal | None = None
    ranking_score: Decimal | None = None
    grant: Decimal | None = None
    requested: Decimal | None = None
    applicant: str | None = None
    submitted: object = None
    below: tuple = ()  # criteria under their minimum
    errors: tuple = ()  # (field, message)
    # the grant as the call's rules compute it, before it is made payable: `grant` is never below
    # zero, this is (so a batch can tell "nothing to pay" from a grant); None when not admitted
    grant_computed: Decimal | None = None
    # a call with `bonus`/`malus` lines: the criteria's own score (``score`` adds the bonuses that counted)
    # and, per bonus in policy order, whether it counted; None / () for any other call
    criteria_score: Decimal | None = None
    bonus_applied: tuple = ()

    @property
    def eligible(self) -> bool | None:
        """False when a requirement failed; None when the data was invalid (eligibility not assessed)."""
        return eligible_status(self.status)


@attrs.frozen(slots=False)
class GateResult:
    id: str
    label: str
    passed: bool
    because: str
    values: dict = attrs.field(factory=dict)
    missing: bool = False
    cites: str | None = None  # the article the gate comes from (``cites``), in the result's language

    def to_dict(self):
        d = {"id": self.id, "label": self.label, "passed": self.passed, "because": self.because,
             "values": self.values}
        if self.cites is not None:
            d["cites"] = self.cites
        return d


@attrs.frozen(slots=False)
class CriterionResult:
    id: str
    label: str
    points: Decimal | None
    max: Decimal
    because: str
    minimum: Decimal | None = None
    weight: Decimal | None = None
    ranking_weight: Decimal | None = None
    values: dict = attrs.field(factory=dict)
    parts: tuple = ()
    # a bonus or malus (Result.bonuses): its kind ("bonus" | "malus"), stage ("after" | "before" the pass
    # mark) and whether it counted in the score; a criterion keeps kind "criterion"
    kind: str = "criterion"
    stage: str | None = None
    applied: bool | None = None
    cites: str | None = None  # the article the criterion comes from (``cites``), in the result's language

    def to_dict(self):
        if self.kind != "criterion":
            return {"id": self.id, "label": self.label, "kind": self.kind, "stage": self.stage,
                    "points": json_number(self.points), "max": json_number(self.max), "applied": self.applied,
                    "because": self.because, "values": self.values}
        d = {"id": self.id, "label": self.label, "points": json_number(self.points), "max": json_number(self.max),
             "minimum": json_number(self.minimum), "weight": json_number(self.weight or 1),
             "because": self.because, "values": self.values}
        if self.ranking_weight is not None:
            d["ranking_weight"] = json_number(self.ranking_weight)
        if self.parts:
            d["parts"] = [p.to_dict() for p in self.parts]
        if self.cites is not None:
            d["cites"] = self.cites
        return d


@attrs.frozen(slots=False)
class MarkResult:
    """One mark of the evaluation panel for one application (:mod:`engine.evaluate.panel`).

    ``because`` names the evaluators (the office's words); ``because_anonymous`` never does
    (the applicant's: letters). ``marks`` are the marks as given, in the sheet's order.
    """
    id: str
    label: str
    state: str  # complete | awaiting | needs_consensus | invalid
    value: Decimal | None
    combine: str
    evaluators: int  # how many marks the mark needs
    because: str
    because_anonymous: str
    marks: tuple = ()  # ({"evaluator", "mark", "conflict", "consensus", "source"}, ...)

    def to_dict(self):
        return {"id": self.id, "label": self.label, "state": self.state, "value": json_number(self.value),
                "combine": self.combine, "evaluators": self.evaluators, "because": self.because,
                "because_anonymous": self.because_anonymous, "marks": [dict(m) for m in self.marks]}


@attrs.frozen(slots=False)
class OutputItem:
    """One item's value of a per-item output: ``position`` from 1, ``key`` the item's identifier
    (its ``vat``, ``id``… field: :data:`dsl.checker.ITEM_KEY_FIELDS`), ``name`` how a
    sentence calls it."""
    position: int
    key: str | None
    name: str | None
    value: object
    text: str

    def to_dict(self):
        return {"position": self.position, "key": self.key, "name": self.name, "value": self.value,
                "text": self.text}


@attrs.frozen(slots=False)
class OutputResult:
    """One named output of an application (``output category "Categoria" = ...``, docs/contracts.md).

    ``value`` is already the JSON value (money as "1234.00", dates ISO, percentages as fractions),
    ``text`` the value as a person reads it in the result's language, ``because`` the sentence; a
    per-item output has ``items`` (its value and text are None)."""
    name: str
    label: str
    kind: str
    value: object
    text: str | None
    because: str
    items: tuple | None = None

    def to_dict(self):
        d = {"label": self.label, "kind": self.kind, "value": self.value, "text": self.text,
             "because": self.because}
        if self.items is not None:
            d["items"] = [i.to_dict() for i in self.items]
        return d


@attrs.frozen(slots=False)
class Result:
    """One application's outcome with its explanation (the JSON contract).

    >>> r = policy.evaluate({"id": "A-1", ...}, lang="en")   # doctest: +SKIP
    >>> r.status, [g.because for g in r.gates if not g.passed]  # doctest: +SKIP
    """

    application: str | None
    status: str
    score: Decimal | None
    max_score: Decimal | None
    pass_score: Decimal | None
    grant: Decimal | None
    gates: tuple = ()
    criteria: tuple = ()
    errors: tuple = ()
    policy: dict = attrs.field(factory=dict)
    language: str = "it"
    currency: str = "EUR"
    ranking_score: Decimal | None = None
    requested: Decimal | None = None
    applicant: str | None = None
    submitted: object = None
    rank: int | None = None
    placement: dict | None = None
    summary: str = ""
    source: object = None
    grant_computed: Decimal | None = None  # as Decision.grant_computed
    grant_because: str | None = None  # which rule gave the grant, in words; None without a grant
    error_texts: tuple = ()  # each of ``errors`` in the result's language, with the fields' labels
    evaluation: tuple | None = None  # a call with a panel: its MarkResults; None for any other call
    # a call with `bonus`/`malus` lines: their CriterionResults (kind bonus/malus) and the criteria's own
    # score (``score`` is the final one, bonuses that counted included); None for any other call
    bonuses: tuple | None = None
    criteria_score: Decimal | None = None
    #: the named outputs (OutputResult, policy order); None for a call that declares none
    outputs: tuple | None = None
    #: what the outputs that read the decision (``grant``, ``score``…) are computed again from when the
    #: batch's allocation changes it (engine.evaluate.named_outputs.refresh); never written out
    output_env: dict | None = attrs.field(default=None, eq=False, repr=False)
    #: a call with parameters: "Parametri del bando: tipo di azione IA" (the values this run used); "" otherwise
    parameters: str = ""

    @property
    def eligible(self) -> bool | None:
        """False when a requirement failed; None when the data was invalid (eligibility not assessed)."""
        return eligible_status(self.status)

    def to_dict(self) -> dict:
        submitted = self.submitted
        if submitted is not None and hasattr(submitted, "isoformat"):
            submitted = submitted.isoformat()
        d = {
            "application": self.application,
            "applicant": self.applicant,
            "status": self.status,
            "eligible": self.eligible,
            "score": json_number(self.score),
            "ranking_score": json_number(self.ranking_score),
            "max_score": json_number(self.max_score),
            "pass_score": json_number(self.pass_score),
            "requested": money_text(self.requested),
            "grant": money_text(self.grant),
            "grant_computed": money_text(self.grant_computed),
            "grant_because": self.grant_because,
            "currency": self.currency,
            "rank": self.rank,
            "language": self.language,
            "summary": self.summary,
            "gates": [g.to_dict() for g in self.gates],
            "criteria": [c.to_dict() for c in self.criteria],
            "errors": _errors(self.errors, self.error_texts),
            "placement": self.placement,
            "submitted": submitted,
            "policy": dict(self.policy),
        }
        if self.bonuses is not None:  # only a call with bonuses has them: others read as before
            d["criteria_score"] = json_number(self.criteria_score)
            d["bonuses"] = [b.to_dict() for b in self.bonuses]
        if self.evaluation is not None:  # only a call with a panel has it: others read as before
            d["evaluation"] = [m.to_dict() for m in self.evaluation]
        if self.outputs is not None:  # only a call with named outputs has them: others read as before
            d["outputs"] = {o.name: o.to_dict() for o in self.outputs}
        if self.parameters:  # only a call with parameters has it
            d["parameters"] = self.parameters
        if self.source is not None:
            d["source"] = self.source
        return d


def _errors(errors, texts):
    """``errors`` as the result dict lists them: machine path and English message, and the localized text."""
    if not texts:
        return [{"field": f, "message": str(m)} for f, m in errors]
    return [{"field": f, "message": str(m), "text": t} for (f, m), t in zip(errors, texts)]
