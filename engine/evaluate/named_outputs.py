"""Named outputs (``output category "Categoria della filiera" = ...``): what they read of the decision.

A policy publishes derived values with ``output`` (docs/language.md, "Outputs"): one value per
application, or one per item of a list (``for f in network.firms``). They are the same declaration
as the four fixed outputs (``grant``, ``requested``, ``applicant``, ``submitted``: :class:`dsl.ast.Decl`)
and are computed for every valid application by the typed tracer
(:meth:`engine.compile.tracegen.TraceGen.output`, the one emitter's expressions), after the decision,
so that they may read it: ``grant`` (0 for an application with no grant), ``requested``,
``submitted`` and ``score`` (missing when the application was not scored). The sentences are
written by :mod:`engine.explain.explain`, as every other.

A batch's allocation changes the grant after the application was explained (a partial award, not
funded): :func:`refresh` computes again, from the values kept on the result
(``Result.output_env``), the outputs that read the decision.
"""
from __future__ import annotations

from decimal import Decimal

import attrs

from dsl import ast
from dsl.checker import ITEM_KEY_FIELDS

from engine.compile.plan import refs

_ZERO = Decimal("0.00")


def item_key(item) -> str | None:
    """The identifier of one item (its ``vat``, ``id``… as text), None when it has none."""
    if isinstance(item, dict):
        for name in ITEM_KEY_FIELDS:  # the first one present
            v = item.get(name)
            if isinstance(v, str) and v:
                return v
            if isinstance(v, int) and not isinstance(v, bool):
                return str(v)
    return None


def decided_names(cp, d) -> tuple[str, ...]:
    """What output ``d`` reads of the decision (``grant``, ``requested``, ``submitted``, ``score``),
    in the order first read."""
    found: dict = {}
    for part in (d.source, d.expr):
        if part is None:
            continue
        for n in ast.walk(part):
            if isinstance(n, ast.ScoreRef):
                found["score"] = None
            elif isinstance(n, ast.Name) and cp.ref_of(n)[0] == "result":
                found[n.id] = None
    return tuple(found)


@attrs.frozen
class Decided:
    """What an output reads of the decision (``_r`` in the generated code)."""

    grant: Decimal
    requested: Decimal | None
    submitted: object
    score: Decimal | None

    @classmethod
    def of(cls, decided) -> "Decided":
        """From a :class:`~engine.evaluate.result.Decision` or a :class:`~engine.evaluate.result.Result`:
        an application with no grant (not admitted, not funded) has a grant of 0."""
        grant = decided.grant
        return cls(grant if grant is not None else _ZERO, decided.requested, decided.submitted, decided.score)


def env_for(policy, env) -> dict | None:
    """The typed values the outputs that read the decision use, kept on the result for :func:`refresh`
    (None when no output reads the decision)."""
    cp = policy.checked
    names: set = set()
    for d in cp.outputs.values():
        if decided_names(cp, d):
            for part in (d.source, d.expr):
                if part is not None:
                    lets, inputs = refs(cp, part)
                    names |= lets | inputs
            names.add("")
    if not names:
        return None
    names.discard("")
    return {n: env[n] for n in sorted(names)}


def refresh(policy, result, lang):
    """``result`` with the outputs that read the decision computed again from its own grant, score…
    (after the batch's allocation changed them); ``result`` itself when nothing changes."""
    if not result.outputs or result.output_env is None or result.status == "invalid":
        return result
    from engine.compile.tracegen import typed_tracer
    from engine.explain.explain import render_outputs
    cp = policy.checked
    tracer = typed_tracer(policy)
    view = Decided.of(result)
    facts = []
    for i, d in enumerate(cp.outputs.values()):
        facts.append(tracer.outputs[i](result.output_env, view) if decided_names(cp, d) else None)
    outputs = render_outputs(policy, lang, facts, result.outputs)
    return attrs.evolve(result, outputs=outputs)


def columns(policy, lang) -> tuple[list, list]:
    """``(one value, per item)``: the named outputs as ``(name, label in lang, kind)``, in policy order:
    the first are the columns of ranking.csv, the others the rows of outputs_items.csv."""
    cp = policy.checked
    one, per_item = [], []
    for d in cp.outputs.values():
        (one if d.source is None else per_item).append((d.name, policy.label_of(d, lang), cp.type_of(d.expr).kind))
    return one, per_item
