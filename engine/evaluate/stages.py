"""Admissibility, then merit evaluation: how a call with an evaluation panel is decided.

A policy with a ``panel`` block reads the panel's combined marks as ``marks.<id>``.
Every entry point of :class:`engine.evaluate.policy.Policy` goes through here first:

1. :func:`split` judges the application's ``marks`` (:func:`engine.evaluate.panel.judge`)
   and gives the rules the combined marks, or, while the evaluation is not complete, each
   scale's lowest mark: the gates never read a mark (the checker's E812), so the
   admissibility they decide is the same whatever the marks will be;
2. the policy decides as any other;
3. :func:`decision` and :func:`result` keep an ineligible or invalid outcome as it is
   (admissibility failed, or the application's own data is wrong), and otherwise, while
   the evaluation is not complete, replace the outcome with the evaluation's status
   (``awaiting_evaluation``, ``needs_consensus``, ``evaluation_invalid``): no score, no
   grant, the criteria that read a mark awaiting it, the others scored. The marks' own
   sentences go in the result's ``evaluation``.

A policy without a panel is untouched: :func:`split` returns its data as it is.
"""
from __future__ import annotations

import attrs

from dsl import ast
from dsl.checker import MARKS_FIELD
from engine.evaluate import panel
from engine.evaluate.result import Decision, MarkResult, Result
from engine.explain import marks as words
from engine.text import i18n
from engine.text.status import Status

#: outcomes a panel cannot change: admissibility failed, or the application's own data is wrong
_SETTLED = (Status.INELIGIBLE, Status.INVALID)


def criteria_reading_marks(cp) -> dict:
    """Top-level criterion (or bonus, malus) id -> the ids of the panel's marks it reads (directly or
    through lets), for those that read one."""
    out = {}
    for c in [*cp.criteria, *cp.bonuses]:
        found = _marks_read(cp, c)
        if found:
            out[c.id] = found
    return out


def _marks_read(cp, node) -> frozenset:
    found: set = set()
    pending = [node]
    seen_lets: set = set()
    while pending:  # the lets it reads, and the lets they read, without recursion
        for n in ast.walk(pending.pop()):
            if isinstance(n, ast.Attr) and isinstance(n.obj, ast.Name) and cp.ref_of(n.obj) == ("input", MARKS_FIELD):
                found.add(n.name)
            elif isinstance(n, ast.Name) and cp.kind_of(n) == "let":
                name = cp.ref_of(n)[1]
                if name in cp.marks_lets and name not in seen_lets:
                    seen_lets.add(name)
                    pending.append(cp.lets[name].expr)
    return frozenset(found)


def split(rules: dict, data):
    """``(data the rules see, PanelOutcome or None)``; ``rules`` is the checked policy's ``marks``."""
    if not rules or not isinstance(data, dict) or panel.is_judged(data.get(MARKS_FIELD)):
        return data, None
    outcome = panel.judge(rules, data.get(MARKS_FIELD))
    values = outcome.values() if outcome.complete else outcome.values_so_far()
    return {**data, MARKS_FIELD: panel.judged(values)}, outcome


def decision(d: Decision, outcome) -> Decision:
    """The decision with the evaluation's status while it is not complete."""
    if outcome is None or outcome.complete or d.status in _SETTLED:
        return d
    return Decision(d.application, str(outcome.status), requested=d.requested, applicant=d.applicant,
                    submitted=d.submitted)


def result(policy, r: Result, outcome, lang: str) -> Result:
    """The result with the panel's marks in words and, while the evaluation is not complete, its status."""
    if outcome is None:
        return r
    evaluation = tuple(mark_result(policy, m, lang) for m in outcome.marks)
    if outcome.complete or r.status in _SETTLED:
        return attrs.evolve(r, evaluation=evaluation)
    missing = outcome.incomplete()
    reads = policy.panel_criteria
    because = i18n.text(lang, "panel.criterion_pending")
    # the values a waiting rule read are the scale's lowest mark, a stand-in: they are no one's, and not listed
    criteria = tuple(attrs.evolve(c, points=None, because=because, parts=(), values={})
                     if reads.get(c.id, frozenset()) & missing else c for c in r.criteria)
    # a bonus or malus that reads a mark still missing waits as the criteria do (it was computed on the
    # scale's lowest mark, a stand-in that is no one's mark); so does one counted only `after pass` while a
    # criterion waits: whether the application reaches the pass mark is not known yet
    waiting = any(c.points is None for c in criteria)
    bonuses = r.bonuses
    if bonuses is not None:
        bonuses = tuple(attrs.evolve(b, points=None, because=because, applied=False, values={})
                        if reads.get(b.id, frozenset()) & missing or (waiting and b.stage == "after") else b
                        for b in bonuses)
    criteria_score = None if waiting else r.criteria_score
    from engine.evaluate.named_outputs import refresh  # outputs over the grant: none while it waits
    return refresh(policy, attrs.evolve(r, status=str(outcome.status), score=None, ranking_score=None, grant=None,
                                        grant_computed=None, grant_because=None, criteria=criteria,
                                        bonuses=bonuses, criteria_score=criteria_score,
                                        summary=summary(policy, outcome, lang), evaluation=evaluation), lang)


def summary(policy, outcome, lang: str) -> str:
    """The one-line outcome of an admissible application whose evaluation is not complete."""
    state = outcome.state
    if state == panel.INVALID:
        problems = "; ".join(words.problem_text(m, m.problem, lang, True)
                             for m in outcome.marks if m.state == panel.INVALID)
        return i18n.text(lang, "explain.s_evaluation_invalid", problems=problems)
    labels = "; ".join(label(policy, m.rules, lang) for m in outcome.marks if m.state == state)
    return i18n.text(lang, "explain.s_" + str(outcome.status), marks=labels)


def label(policy, rules, lang: str) -> str:
    return rules.label.get(lang, policy.language) if rules.label is not None else rules.id


def mark_result(policy, m: panel.MarkOutcome, lang: str) -> MarkResult:
    r = m.rules
    given = tuple({"evaluator": g.evaluator, "mark": g.text, "conflict": g.conflict, "consensus": g.consensus,
                   "source": g.source} for g in m.given)
    return MarkResult(r.id, label(policy, r, lang), m.state, m.value, r.combine, r.evaluators,
                      words.sentence(m, lang, named=True), words.sentence(m, lang, named=False), given)
