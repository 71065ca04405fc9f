"""The evaluation panel: one application's marks judged against the policy's `panel` rules.

A call with a ``panel { ... }`` block is decided in two stages. Admissibility (the
gates) is decided on the application's own data; merit evaluation needs the panel's
marks, which arrive later, as a sheet of their own (:mod:`engine.score.marks_io`) or,
for one application, inline under its ``marks`` key:

* a list of rows, as the long sheet has them:
  ``[{"evaluator": "E1", "criterion": "quality", "mark": 4, "conflict": false}, ...]``
  (a row whose evaluator is ``consensus``/``consenso``, or with ``"consensus": true``,
  is the mark agreed at the consensus meeting);
* or, for short: ``{"quality": {"E1": 4, "E2": "4,5", "E3": 3}, ...}``.

:func:`judge` turns them into a :class:`PanelOutcome`: per mark, which marks count
(a conflicted evaluator's never does), whether enough evaluators marked, whether
they are close enough to need no consensus meeting, and the combined mark; and the
evaluation's status when it is not complete (``awaiting_evaluation``,
``needs_consensus``, ``evaluation_invalid``). Nothing here writes a sentence: the
words are :mod:`engine.explain.marks`'.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import attrs

from dsl.checker import MarkRules
from engine.text.status import Status

#: evaluator cells that mark a consensus row, in the languages bando ships
CONSENSUS_WORDS = frozenset({"consensus", "consenso"})
#: combined marks that are not a mark the panel gave (a mean) keep two decimals, rounded half up
PLACES = Decimal("0.01")
#: the states of one mark, worst last: an application's evaluation is as far as its worst mark
COMPLETE, AWAITING, NEEDS_CONSENSUS, INVALID = "complete", "awaiting", "needs_consensus", "invalid"
_STATUS = {AWAITING: Status.AWAITING_EVALUATION, NEEDS_CONSENSUS: Status.NEEDS_CONSENSUS,
           INVALID: Status.EVALUATION_INVALID}
_ORDER = (COMPLETE, AWAITING, NEEDS_CONSENSUS, INVALID)


#: the key that marks the combined marks :func:`engine.evaluate.stages.split` gives the rules: data that
#: holds it has been through the panel and is not judged again. It is not a text, so no JSON document can
#: hold it, and no application can give the rules combined marks of its own. (A key, not a dict subclass:
#: the compiled fast path reads plain dicts only.)
JUDGED = type("Judged", (), {"__repr__": lambda self: "<judged marks>"})()


def judged(values: dict) -> dict:
    """``values`` (mark id -> combined mark) as the rules read them, marked as judged."""
    return {**values, JUDGED: True}


def is_judged(marks) -> bool:
    return isinstance(marks, dict) and JUDGED in marks


@attrs.frozen
class Given:
    """One mark as the panel gave it."""

    evaluator: str
    text: str  # as written: the words of a problem quote it
    mark: Decimal | None  # None: not a number
    conflict: bool = False
    consensus: bool = False
    source: str | None = None  # where it was read: "voti.csv:14"


@attrs.frozen
class Problem:
    """Why a mark cannot be used: ``kind`` names the catalogue message (``marks.problem.<kind>``)."""

    kind: str  # not_a_number | off_scale | off_step | no_evaluator | twice | two_consensus | bad_rows
    given: Given | None = None


@attrs.frozen
class MarkOutcome:
    """What the panel's marks make of one mark of one application."""

    rules: MarkRules
    state: str
    given: tuple[Given, ...] = ()
    counted: tuple[Given, ...] = ()  # the individual marks combined (conflicted ones never are)
    excluded: tuple[Given, ...] = ()  # marks of conflicted evaluators
    consensus: Given | None = None
    value: Decimal | None = None  # the combined mark, when complete
    exact: Decimal | None = None  # the combination before rounding to PLACES (a mean)
    spread: Decimal | None = None  # highest minus lowest of ``counted``
    problem: Problem | None = None


@attrs.frozen
class PanelOutcome:
    """One application's marks, judged: each mark's outcome and the evaluation's status."""

    marks: tuple[MarkOutcome, ...]

    @property
    def state(self) -> str:
        return max((m.state for m in self.marks), key=_ORDER.index, default=COMPLETE)

    @property
    def complete(self) -> bool:
        return self.state == COMPLETE

    @property
    def status(self) -> Status | None:
        """The application's status while its evaluation is not complete; None when it is."""
        return _STATUS.get(self.state)

    def values(self) -> dict:
        """The combined marks as the policy reads them (``marks.<id>``)."""
        return {m.rules.id: m.value for m in self.marks}


    def values_so_far(self) -> dict:
        """The marks for the rules while the evaluation is not complete: the combined mark where there is
        one, else the scale's lowest. Only what does not read a missing mark is kept from such a run:
        the gates (no gate reads a mark: the checker's E812) and the criteria whose marks are complete."""
        return {m.rules.id: m.value if m.state == COMPLETE else m.rules.low for m in self.marks}

    def incomplete(self) -> frozenset:
        """The ids of the marks not complete."""
        return frozenset(m.rules.id for m in self.marks if m.state != COMPLETE)


def judge(rules: dict, marks) -> PanelOutcome:
    """``marks`` (an application's ``marks`` value: rows, the short form, or None) judged under
    ``rules`` (mark id -> :class:`MarkRules`, the checked policy's ``marks``)."""
    by_mark, bad = _rows(rules, marks)
    out = []
    for mid, r in rules.items():
        if bad is not None:
            out.append(MarkOutcome(r, INVALID, problem=bad))
            continue
        out.append(_judge_one(r, tuple(by_mark.get(mid, ()))))
    return PanelOutcome(tuple(out))


def _rows(rules, marks) -> tuple[dict, Problem | None]:
    """The given marks of each mark id; a Problem when ``marks`` has no shape the panel gives."""
    by_mark: dict[str, list[Given]] = {}
    if marks is None:
        return by_mark, None
    if isinstance(marks, dict):
        for mid, per in marks.items():
            if not isinstance(per, dict):
                return by_mark, Problem("bad_rows")
            for ev, mark in per.items():
                ev = str(ev).strip()
                by_mark.setdefault(str(mid), []).append(
                    _given(ev, mark, False, ev.lower() in CONSENSUS_WORDS, None))
        return by_mark, None
    if not isinstance(marks, (list, tuple)):
        return by_mark, Problem("bad_rows")
    for row in marks:
        if not isinstance(row, dict):
            return by_mark, Problem("bad_rows")
        ev = str(row.get("evaluator") or "").strip()
        consensus = bool(row.get("consensus")) or ev.lower() in CONSENSUS_WORDS
        by_mark.setdefault(str(row.get("criterion") or ""), []).append(
            _given(ev, row.get("mark"), bool(row.get("conflict")), consensus, row.get("source")))
    return by_mark, None


def _given(evaluator, mark, conflict, consensus, source) -> Given:
    if isinstance(mark, Decimal):
        value, text = mark, _plain(mark)
    elif isinstance(mark, bool) or mark is None:
        value, text = None, "" if mark is None else str(mark).lower()
    elif isinstance(mark, (int, float)):
        value = Decimal(repr(mark)) if isinstance(mark, float) else Decimal(mark)
        text = _plain(value)
    else:
        text = str(mark).strip()
        value = parse_mark(text)
    if value is not None and not value.is_finite():
        value = None
    return Given(evaluator, text, value, conflict, consensus, None if source is None else str(source))


def parse_mark(text: str) -> Decimal | None:
    """A mark as a panel writes it: ``4``, ``4.5`` or ``4,5``; None for anything else (``50%``, ``€ 4``,
    ``tre``: not a mark, whatever a number reader would make of it)."""
    t = text.replace(",", ".", 1) if text.count(",") == 1 and "." not in text else text
    if not t or len(t) > 40 or not all(c in "0123456789.+-" for c in t):
        return None
    try:
        return Decimal(t)
    except InvalidOperation:
        return None


def _plain(d: Decimal) -> str:
    d = d.normalize() if d == d.to_integral_value() else d
    return format(d, "f")


def _judge_one(r: MarkRules, given: tuple[Given, ...]) -> MarkOutcome:
    consensus = tuple(g for g in given if g.consensus)
    individual = tuple(g for g in given if not g.consensus)
    # a mark that cannot be used stops the evaluation of the application, whatever the others say
    for g in given:
        problem = _problem(r, g)
        if problem is not None:
            return MarkOutcome(r, INVALID, given, problem=problem)
    seen: dict[str, Given] = {}
    for g in individual:
        if g.evaluator in seen:
            return MarkOutcome(r, INVALID, given, problem=Problem("twice", g))
        seen[g.evaluator] = g
    if len(consensus) > 1:
        return MarkOutcome(r, INVALID, given, problem=Problem("two_consensus", consensus[1]))
    counted = tuple(g for g in individual if not g.conflict)
    excluded = tuple(g for g in individual if g.conflict)
    spread = (max(g.mark for g in counted) - min(g.mark for g in counted)) if counted else None
    common = dict(given=given, counted=counted, excluded=excluded, spread=spread)
    if consensus:  # the panel met and agreed: its mark settles it
        return MarkOutcome(r, COMPLETE, consensus=consensus[0], value=consensus[0].mark, **common)
    if r.combine == "consensus":
        return MarkOutcome(r, NEEDS_CONSENSUS if counted else AWAITING, **common)
    if len(counted) < r.evaluators:
        return MarkOutcome(r, AWAITING, **common)
    if r.spread is not None and spread > r.spread:
        return MarkOutcome(r, NEEDS_CONSENSUS, **common)
    exact = combine(r.combine, [g.mark for g in counted])
    rounded = exact.quantize(PLACES, rounding=ROUND_HALF_UP)
    value = exact if rounded == exact else rounded  # a mark the panel could give keeps its own form
    return MarkOutcome(r, COMPLETE, value=value, exact=exact, **common)


def _problem(r: MarkRules, g: Given) -> Problem | None:
    if not g.evaluator and not g.consensus:
        return Problem("no_evaluator", g)
    if g.mark is None:
        return Problem("not_a_number", g)
    if not r.low <= g.mark <= r.high:
        return Problem("off_scale", g)
    if r.step is not None and (g.mark - r.low) % r.step != 0:
        return Problem("off_step", g)
    return None


def combine(rule: str, marks: list[Decimal]) -> Decimal:
    """The marks combined by ``rule`` (one of :data:`dsl.ast.COMBINE_RULES` but ``consensus``), exactly."""
    s = sorted(marks)
    if rule == "trimmed mean":
        s = s[1:-1]
    if rule == "median":
        mid = len(s) // 2
        return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
    return sum(s, Decimal(0)) / len(s)
