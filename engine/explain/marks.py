"""The evaluation panel's marks in words: what the panel gave, what counted, how it was combined.

One sentence per mark of an application (:class:`engine.evaluate.panel.MarkOutcome`),
written twice: *named* for the office (results.jsonl, the report: "E1 4, E2 4.5, E3 3"),
and *anonymous* for the applicant (letters: "three experts: 3, 4, 4.5"), where an
evaluator is never named and the marks are listed in order of value, not of the sheet.
"""
from __future__ import annotations

from engine.evaluate.panel import AWAITING, COMPLETE, INVALID, NEEDS_CONSENSUS, MarkOutcome, Problem
from engine.text import i18n
from engine.text.formatting import format_points


def sentence(m: MarkOutcome, lang: str, named: bool) -> str:
    """What happened to one mark, in ``lang``; ``named``: evaluators by their ids (the office's words)."""
    t = i18n.table(lang, "panel")
    if m.state == INVALID:
        return problem_text(m, m.problem, lang, named)
    if m.state == COMPLETE and m.consensus is not None:
        text = t["consensus"].format(value=_n(m.value, lang))
        if m.counted:
            text += t["consensus_over"].format(marks=_marks(m.counted, lang, named))
        return text + _excluded(m, lang, named)
    if m.state == COMPLETE:
        text = t["combined"].format(experts=_experts(len(m.counted), lang), marks=_marks(m.counted, lang, named),
                                    rule=t["rule." + m.rules.combine], value=_n(m.value, lang))
        if m.exact is not None and m.exact != m.value:
            text += t["rounded"]
        if m.rules.spread is not None and len(m.counted) > 1:
            text += t["spread_within"].format(spread=_n(m.spread, lang), limit=_n(m.rules.spread, lang))
        return text + _excluded(m, lang, named)
    if m.state == NEEDS_CONSENSUS:
        if m.rules.combine == "consensus":
            text = t["needs_consensus_rule"].format(marks=_marks(m.counted, lang, named))
        else:
            text = t["needs_consensus"].format(spread=_n(m.spread, lang), marks=_marks(m.counted, lang, named),
                                               limit=_n(m.rules.spread, lang))
        return text + _excluded(m, lang, named)
    assert m.state == AWAITING, m.state
    required = m.rules.evaluators
    if not m.counted:
        text = i18n.plural(lang, "panel.awaiting_none", required)
    else:
        text = t["awaiting"].format(given=len(m.counted), required=required)
        text += " (" + _marks(m.counted, lang, named) + ")"
    return text + _excluded(m, lang, named)


def problem_text(m: MarkOutcome, p: Problem, lang: str, named: bool) -> str:
    """Why a mark of the panel cannot be used: the mark and who gave it (in the office's words, where)."""
    t = i18n.table(lang, "panel")
    g = p.given
    if g is None:
        return t["problem." + p.kind]
    r = m.rules
    slots = dict(text=g.text, mark=_n(g.mark, lang) if g.mark is not None else g.text,
                 low=_n(r.low, lang), high=_n(r.high, lang), step=_n(r.step, lang) if r.step is not None else "")
    if named:
        slots["of"] = t["of_named"].format(name=g.evaluator)
        slots["who"] = g.evaluator
    else:
        n = _position(m, g)
        slots["of"] = t["of_anonymous"].format(n=n)
        slots["who"] = t["who_anonymous"].format(n=n)
    text = t["problem." + p.kind].format(**slots)
    if named and g.source:
        text += t["where"].format(source=g.source)
    return text


def _position(m: MarkOutcome, g) -> int:
    """An evaluator's number for the applicant: the order in which the panel's evaluators first appear."""
    seen: list[str] = []
    for x in m.given:
        if not x.consensus and x.evaluator not in seen:
            seen.append(x.evaluator)
    return seen.index(g.evaluator) + 1 if g.evaluator in seen else len(seen) + 1


def _experts(n: int, lang: str) -> str:
    t = i18n.table(lang, "panel")
    return i18n.plural(lang, "panel.experts", n, count=t.get(f"word.{n}", str(n)))


def _marks(given, lang: str, named: bool) -> str:
    t = i18n.table(lang, "panel")
    if named:
        parts = [t["named_mark"].format(name=g.evaluator, mark=_n(g.mark, lang)) for g in given]
    else:
        parts = [_n(g.mark, lang) for g in sorted(given, key=lambda g: g.mark)]
    return t["list_separator"].join(parts)


def _excluded(m: MarkOutcome, lang: str, named: bool) -> str:
    n = len(m.excluded)
    if not n:
        return ""
    if named:
        names = i18n.table(lang, "panel")["list_separator"].join(g.evaluator for g in m.excluded)
        return i18n.plural(lang, "panel.excluded_named", n, names=names)
    return i18n.plural(lang, "panel.excluded_anonymous", n)


def _n(d, lang: str) -> str:
    return format_points(d, lang)
