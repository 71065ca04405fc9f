"""bando as a peer of the shared rules-engine yardstick (``../shared/bench``).

Same interface as the shared peers (``peers/*.py`` there): ``NAME``,
``label(variant)`` and ``load(variant)``, which starts from the policy *source
text* (``benchmarks/bench.bando``, POLICY.md written in the bando language),
parses, checks and compiles it, and returns ``evaluate(app) -> {"eligible",
"failed_gates", "score", "grant"}``.

Variants:

* ``"compiled"``  -- :meth:`Policy.decide`: input validation (every field, exact
  decimals) plus the compiled rules, no explanation. What a grants portal
  calls to rank and fund.
* ``"explained"`` -- :meth:`Policy.evaluate` in the policy's language (Italian):
  the same decision plus a sentence for every gate and criterion and the
  summary, i.e. the full :class:`engine.evaluate.result.Result`.
* ``"traced"``    -- :meth:`Policy.trace`: the same decision plus the facts every
  explanation rests on (:mod:`engine.evaluate.trace`), no sentence written.

Mapping to the yardstick's four outputs: ``eligible`` is "no gate failed";
``failed_gates`` are the gate ids in policy order (bench.bando declares them
in POLICY.md order); ``score`` is the exact Decimal total; ``grant`` is the
policy's grant for an application that passes the gates and the pass mark
(status ``admitted``: a single evaluation has no budget, so "funded" in
POLICY.md's sense is "admitted" here) and ``0`` otherwise. An application the
engine finds *invalid* is reported as ineligible with the pseudo-gate
``"invalid: ..."`` so that the agreement check flags it instead of hiding it.
"""
from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

from engine.evaluate.policy import load_policy

NAME = "bando"
HERE = os.path.dirname(os.path.abspath(__file__))
POLICY_PATH = os.path.join(HERE, "bench.bando")
VARIANTS = ("compiled", "explained", "traced")
_ZERO = Decimal(0)


def label(variant: str | None) -> str:
    return {
        "compiled": "bando (policy.decide, compiled)",
        "explained": "bando (policy.evaluate, explained, it)",
        "traced": "bando (policy.trace, facts only)",
    }[variant or "compiled"]


def read_source() -> str:
    with open(POLICY_PATH, encoding="utf-8") as fh:
        return fh.read()


def load_from_source(source: str):
    """The policy object, from its text (parse + check + compile)."""
    return load_policy(source, name="bench.bando")


def load(variant: str | None = "compiled"):
    variant = variant or "compiled"
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    policy = load_from_source(read_source())

    if variant == "compiled":
        decide = policy.decide

        def evaluate(app: dict[str, Any]) -> dict[str, Any]:
            d = decide(app)
            status = d.status
            if status == "invalid":
                return _invalid(d.errors, d.score)
            return {"eligible": status != "ineligible", "failed_gates": list(d.failed), "score": d.score,
                    "grant": d.grant if status == "admitted" else _ZERO}

    elif variant == "traced":
        trace = policy.trace

        def evaluate(app: dict[str, Any]) -> dict[str, Any]:
            d, t = trace(app)
            status = d.status
            if status == "invalid":
                return _invalid(d.errors, d.score)
            if t is None:  # pragma: no cover - a valid application always has its facts
                raise AssertionError(f"no trace for {d.application}")
            return {"eligible": status != "ineligible", "failed_gates": list(d.failed), "score": d.score,
                    "grant": d.grant if status == "admitted" else _ZERO}

    else:
        explain = policy.evaluate

        def evaluate(app: dict[str, Any]) -> dict[str, Any]:
            r = explain(app)
            status = r.status
            if status == "invalid":
                return _invalid(r.errors, r.score)
            return {"eligible": status != "ineligible",
                    "failed_gates": [g.id for g in r.gates if not g.passed], "score": r.score,
                    "grant": r.grant if status == "admitted" else _ZERO}

    return evaluate


def _invalid(errors, score):
    first = "; ".join(f"{f}: {m}" for f, m in errors[:3])
    return {"eligible": False, "failed_gates": [f"invalid: {first}"], "score": score if score is not None else -1,
            "grant": _ZERO}
