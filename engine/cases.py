"""``bando test``: run the example cases a policy carries with it.

Each ``case "file.json" expect STATUS [score N] [grant X EUR] [failing a, b]
[points c 10, d 5]`` is evaluated and compared fact by fact; a failure reports
expected against actual, with the explanation of what the engine saw.
"""
from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import attrs

from .explain import render_text
from .paths import PathRefused, PolicyTree, TooLarge, read_regular
from .validate import const_eval, exact_json_float

#: an example application is a few KiB; a larger "example" is not read
MAX_CASE_BYTES = 1024 * 1024


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


def _read_case(case, base: Path, tree: PolicyTree):
    """The example application of ``case``: a regular file inside the policy's tree, read with a limit."""
    real = tree.resolve(os.fspath(base), case.file, "example file")
    data = read_regular(real, MAX_CASE_BYTES)
    return json.loads(data.decode("utf-8-sig"), parse_float=exact_json_float)


def run_case(policy, case, base: Path, tree: PolicyTree | None = None) -> CaseOutcome:
    """Evaluate one example case; its file is resolved from ``base`` and must stay inside ``tree``
    (by default the tree of the policy file, see :mod:`engine.paths`)."""
    tree = tree if tree is not None else _tree(policy, base, None)
    try:
        data = _read_case(case, Path(base), tree)
    except TooLarge:
        return CaseOutcome(case, False, (("application file", f"at most {MAX_CASE_BYTES:,} bytes",
                                          "a larger file"),))
    except PathRefused as e:
        return CaseOutcome(case, False, (("application file", "a regular file inside the policy's folder tree",
                                          f"{case.file} {e.message}" if not e.message.startswith("example file")
                                          else e.message),))
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


def _tree(policy, base, root) -> PolicyTree:
    path = policy.source.path
    return PolicyTree.of(path, root) if path else PolicyTree.of(None, root if root is not None else base)


def run_cases(policy, base, root=None) -> list[CaseOutcome]:
    """Run every example case of ``policy``, their files relative to ``base``, inside the policy's tree
    (or ``root``). Raises :class:`engine.paths.PathRefused` for a ``root`` that does not hold the policy."""
    base = Path(base)
    tree = _tree(policy, base, root)
    return [run_case(policy, c, base, tree) for c in policy.cases]
