"""The JSON bodies the server answers with, built from bando's own result types.

``/evaluate`` answers exactly what ``bando eval --format json`` prints,
``result.to_dict()`` (docs/contracts.md); the server writes it compactly, so the
two agree once the JSON is normalised. ``?explain=false`` answers the fast
path's :class:`engine.evaluate.result.Decision` in the same field names, without the
sentences.
"""
from __future__ import annotations

import json

from engine.text.exact import json_number, money_text


def dumps(doc) -> bytes:
    """Compact UTF-8 JSON. No ``default=``: a result holds only JSON values (``to_dict``), and anything
    else is a bug to report as a 500, not to paper over with a repr."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def decision_dict(policy, d) -> dict:
    """The fast path's outcome: status, score, grant, which gates failed and which criteria fell short."""
    points = None
    if d.points is not None:
        points = {c.id: json_number(p) for c, p in zip(policy.criteria, d.points)}
    return {
        "application": d.application,
        "status": d.status,
        "eligible": d.eligible,
        "score": json_number(d.score),
        "ranking_score": json_number(d.ranking_score),
        "max_score": json_number(policy.max_score),
        "pass_score": json_number(policy.pass_score),
        "points": points,
        "requested": money_text(d.requested),
        "grant": money_text(d.grant),
        "grant_computed": money_text(d.grant_computed),
        "currency": policy.currency,
        "failed_gates": list(d.failed),
        "below_minimum": list(d.below),
        "errors": errors_list(d.errors),
        "policy": dict(policy.policy_info),
    }


def errors_list(errors, texts=None) -> list[dict]:
    """``(field, message)`` pairs in the contract's shape, with each one's ``text`` in the asked language
    when given (docs/contracts.md: the machine path, the English message, the words for a person)."""
    if texts is None:
        return [{"field": f, "message": m} for f, m in errors]
    return [{"field": f, "message": m, "text": t} for (f, m), t in zip(errors, texts)]
