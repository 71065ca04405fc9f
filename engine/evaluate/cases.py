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

from engine.explain.explain import render_text
from engine.paths import PathRefused, PolicyTree, TooLarge, read_regular
from engine.compile.validate import const_eval, exact_json_float

#: an example application is a few KiB; a larger "example" is not read
MAX_CASE_BYTES = 1024 * 1024


@attrs.frozen
class CaseOutcome:
    """``result`` is kept for every case that was evaluated (coverage reads it), ``value`` the
    application as validated (None when it was not read or is invalid)."""

    case: object
    ok: bool
    diffs: tuple = ()
    result: object = None
    value: object = None

    @property
    def differences(self) -> list[tuple[str, str, str]]:
        """``(what, expected, got)`` as text: amounts written out (``40000``, not ``4E+4``), nothing as "none"."""
        return [(what, shown(exp), shown(got)) for what, exp, got in self.diffs]

    def report(self) -> str:
        lines = [f"    {what}: expected {exp}, got {got}" for what, exp, got in self.differences]
        if self.result is not None and self.diffs:
            lines.append("    explanation:")
            lines.extend("      " + ln for ln in render_text(self.result).rstrip().splitlines())
        return "\n".join(lines)


def shown(v) -> str:
    """An expected or actual fact in a report."""
    if v is None:
        return "none"
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


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
    if case.params:  # `with action = "IA"`: the call as that edition has it (checked with the policy)
        policy = policy.variant(dict(case.params))
    result = policy.evaluate(data)
    value, errors = policy.validate(data) if result.status != "invalid" else (None, ())
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
            got = tuple(g.id for g in result.gates if g.passed is False)  # None: decided only in a batch
            if set(got) != set(e.value):
                diffs.append(("failing gates", ", ".join(e.value) or "none", ", ".join(got) or "none"))
        elif e.kind == "points":
            by_id = {}
            stack = list(result.criteria) + list(result.bonuses or ())  # a bonus: the points its rule gave
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
    return CaseOutcome(case, not diffs, tuple(diffs), result, None if errors else value)


def _tree(policy, base, root) -> PolicyTree:
    path = policy.source.path
    return PolicyTree.of(path, root) if path else PolicyTree.of(None, root if root is not None else base)


def run_cases(policy, base, root=None) -> list[CaseOutcome]:
    """Run every example case of ``policy``, their files relative to ``base``, inside the policy's tree
    (or ``root``). Raises :class:`engine.paths.PathRefused` for a ``root`` that does not hold the policy."""
    base = Path(base)
    tree = _tree(policy, base, root)
    return [run_case(policy, c, base, tree) for c in policy.cases]


# --- coverage ------------------------------------------------------------------------------------

@attrs.frozen
class Target:
    """One thing an example can exercise: a gate passing or failing, a band, a term of the grant,
    a ranking rule. ``what`` says it in words, ``span`` where it is written."""

    kind: str  # gate | band | grant | order | reserve | unique
    rule: str
    what: str
    span: object = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "rule": self.rule, "what": self.what,
                "line": self.span.line if self.span is not None else None,
                "column": self.span.column if self.span is not None else None}


@attrs.frozen
class Coverage:
    """Which targets of one policy its examples exercised, as ``opa test --coverage`` reports lines."""

    targets: tuple
    covered: frozenset  # indexes into targets

    @property
    def not_covered(self) -> list:
        return [t for i, t in enumerate(self.targets) if i not in self.covered]

    @property
    def percent(self) -> int:
        """Rounded down: one target left out of 1,000 is 99 %, never a reassuring 100 %."""
        return 100 * len(self.covered) // len(self.targets) if self.targets else 100

    def to_dict(self) -> dict:
        return {"targets": len(self.targets), "covered": len(self.covered), "percent": self.percent,
                "not_covered": [t.to_dict() for t in self.not_covered]}


def _targets(policy) -> list[tuple[Target, object]]:
    """Every target of ``policy`` with its key in the facts :func:`coverage` collects."""
    from dsl.fmt import format_expr
    from engine.explain.explain import grant_plan
    from engine.score.ranking import Procedure
    out = []
    for g in policy.gates:
        out.append((Target("gate", g.id, f"gate `{g.id}` passes", g.span), ("gate", g.id, True)))
        out.append((Target("gate", g.id, f"gate `{g.id}` fails", g.span), ("gate", g.id, False)))
    stack = list(reversed(policy.criteria + policy.bonuses))
    while stack:
        c = stack.pop()
        if c.subs is not None:
            stack.extend(reversed(c.subs))
        elif c.tiers is not None:
            for i, tier in enumerate(c.tiers):
                cond = format_expr(tier.cond) if tier.cond is not None else "otherwise"
                kind = "criterion" if c.kind == "criterion" else c.kind
                out.append((Target("band", c.id, f"{kind} `{c.id}`: band `{cond} -> {format_expr(tier.points)}`",
                                   tier.span or c.span), ("band", c.id, i)))
    plan = grant_plan(policy)
    if plan is not None and plan.op is not None:
        for i, term in enumerate(plan.terms):
            out.append((Target("grant", "grant", f"grant: `{format_expr(term)}` gives the amount",
                               term.span or plan.decl.span), ("grant", i)))
    if policy.ranking is not None:
        proc = Procedure.of(policy)
        if len(proc.keys) > 1:  # with one key there is nothing for a later key to decide
            for k, key in enumerate(proc.keys):
                if key.span is not None:
                    out.append((Target("order", "ranking", f"ranking: `{format_expr(key.expr)}` decides the order "
                                       "of two examples" + (" tied on the keys before it" if k else ""), key.span),
                                ("order", k)))
        for i, r in enumerate(proc.reserves):
            out.append((Target("reserve", "ranking", f"ranking: an admitted example qualifies for the reserve "
                               f"`{format_expr(r.cond)}`", r.span), ("reserve", i)))
        for i, u in enumerate(proc.unique):
            out.append((Target("unique", "ranking", f"ranking: `unique {format_expr(u.key)}` excludes an example",
                               u.span), ("unique", i)))
    return out


def coverage(policy, outcomes) -> Coverage:
    """What the evaluated examples of ``policy`` exercised, read from their results and the
    explainer's facts (:func:`engine.explain.explain.rules_applied`); the ranking rules from ranking the
    admitted examples together, as a batch of them would be (:mod:`engine.score.ranking`)."""
    from engine.score.batch import Ranker
    from engine.explain.explain import rules_applied
    from engine.score import ranking as rk
    seen: set = set()
    admitted = []
    for o in outcomes:
        r = o.result
        if r is None or r.status == "invalid":
            continue
        for g in r.gates:
            seen.add(("gate", g.id, g.passed))
        if o.value is None or r.status not in ("admitted", "below_threshold"):
            continue  # criteria are scored only for an eligible application
        bands, terms = rules_applied(policy, o.value)
        seen.update(("band", cid, i) for cid, i in bands.items() if i is not None)
        if r.status == "admitted":
            seen.update(("grant", i) for i in terms)
            admitted.append(o)
    if policy.ranking is not None and admitted:
        proc = rk.Procedure.of(policy)
        ranker = Ranker(policy, proc)
        entries = [ranker.entry(i, policy.decide_valid(o.result.application, o.value), o.value)
                   for i, o in enumerate(admitted)]
        ordered = rk.rank(list(entries), proc)
        for a, b in zip(ordered, ordered[1:]):
            k = next((k for k in range(len(proc.keys)) if a.keys[k] != b.keys[k]), None)
            if k is not None:
                seen.add(("order", k))
        for e in entries:
            seen.update(("reserve", i) for i, q in enumerate(e.reserves) if q)
        pos = {id(e): n for n, e in enumerate(ordered)}
        for i, rule in enumerate(proc.unique):  # in turn, as the batch applies them
            before = sum(e.excluded_by is not None for e in entries)
            rk.apply_unique(entries, rule, lambda e: pos[id(e)])
            if sum(e.excluded_by is not None for e in entries) > before:
                seen.add(("unique", i))
    targets = _targets(policy)
    return Coverage(tuple(t for t, _ in targets), frozenset(i for i, (_, key) in enumerate(targets) if key in seen))
