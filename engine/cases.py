"""``bando test``: run the example cases a policy carries with it.

Each ``case "file.json" expect STATUS [score N] [grant X EUR] [failing a, b]
[points c 10, d 5]`` is evaluated and compared fact by fact; a failure reports
expected against actual, with the explanation of what the engine saw.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import attrs

from .explain import render_text
from .policy import load_application
from .validate import const_eval


@attrs.frozen
class CaseOutcome:
    case: object
    ok: bool
    diffs: tuple = ()
    result: object = None

    def report(self) -> str:
        lines = [f"    {what}: expected {exp}, got {got}" for what, exp, got in self.diffs]
        if self.result is not None:
            lines.append("    explanation:")
            lines.extend("      " + ln for ln in render_text(self.result).rstrip().splitlines())
        return "\n".join(lines)


def _num(v):
    return None if v is None else Decimal(v).normalize()


def run_case(policy, case, base: Path) -> CaseOutcome:
    path = base / case.file
    try:
        data = load_application(path)
    except (OSError, ValueError) as e:
        return CaseOutcome(case, False, (("application file", "readable JSON", f"{type(e).__name__}: {e}"),))
    result = policy.evaluate(data)
    diffs = []
    if result.status != case.status:
        diffs.append(("status", case.status, result.status))
    for e in case.expectations:
        if e.kind == "score":
            want = _num(const_eval(e.value))
            if _num(result.score) != want:
                diffs.append(("score", want, _num(result.score)))
        elif e.kind == "grant":
            want = _num(const_eval(e.value))
            if _num(result.grant) != want:
                diffs.append(("grant", want, _num(result.grant)))
        elif e.kind == "failing":
            got = tuple(g.id for g in result.gates if not g.passed)
            if set(got) != set(e.value):
                diffs.append(("failing gates", ", ".join(e.value) or "none", ", ".join(got) or "none"))
        elif e.kind == "points":
            by_id = {}
            stack = list(result.criteria)
            while stack:
                c = stack.pop()
                by_id[c.id] = c
                stack.extend(c.parts)
            for cid, v in e.value:
                want = _num(const_eval(v))
                c = by_id.get(cid)
                got = _num(c.points) if c is not None else None
                if got != want:
                    diffs.append((f"points of {cid}", want, got))
    return CaseOutcome(case, not diffs, tuple(diffs), None if not diffs else result)


def run_cases(policy, base) -> list[CaseOutcome]:
    base = Path(base)
    return [run_case(policy, c, base) for c in policy.cases]
