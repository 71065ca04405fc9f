"""Gates across applications: ``gate ID LABEL: unique KEY for VAR in LIST among applications earlier by ORDER``.

A batch decides them, one application alone cannot (its result shows them undecided,
:func:`engine.explain.explain.with_cross_pending`). :mod:`engine.score.batch` asks :class:`CrossKeys`
for the keys and the "earlier" value of every valid application during its one pass (a worker
with ``--jobs``), keeps them in memory as it keeps the ranking entries, and calls :func:`settle`
after the pass, before the ranking: an application that fails is then ineligible and never ranked.

The rule (docs/language.md, "Gates across applications"):

- applications are taken from the earliest by ``ORDER`` (``input order``: as the batch lists
  them); equal values, and applications without one (last), follow the input order;
- an application fails when one of its keys (compared as texts, trimmed, case ignored) is held by
  an application before it;
- an application holds its keys when it is valid, passes every other gate (a score below the
  pass mark does not matter: the gates decide admissibility) and every gate across applications
  written before this one, and is not withdrawn. An invalid or ineligible application, or one this
  gate excludes, holds nothing: the firm stays free for the next one.
"""
from __future__ import annotations

import attrs


@attrs.define(slots=True)
class CrossRow:
    """What a gate across applications needs of one valid application, kept between the pass and the ranking."""
    index: int
    application: str
    eligible: bool  # passed every other gate
    keys: tuple  # per gate, its keys (normalised, each once)
    orders: tuple  # per gate, its value of "earlier" (None: by input order, or not given)


def norm(k) -> str:
    """A key as compared: the same text the ranking's ``unique`` compares (trimmed, case ignored)."""
    return str(k).strip().upper()


class CrossKeys:
    """The compiled keys and orders of a policy's gates across applications."""

    def __init__(self, policy):
        self.policy = policy
        c = policy.compile_expr
        self.gates = [(c(g.source), c(g.key, (g.var,)), c(g.order) if g.order is not None else None)
                      for g in policy.cross_gates]

    def row(self, index, decision, value) -> CrossRow:
        env = self.policy.env(value)
        keys, orders = [], []
        for source, key, order in self.gates:
            found = []
            for item in source(env) or ():
                k = key(env, item)
                if k is not None and str(k).strip():
                    found.append(norm(k))
            keys.append(tuple(dict.fromkeys(found)))
            orders.append(order(env) if order is not None else None)
        app = decision.application or f"#{index + 1}"
        return CrossRow(index, app, decision.status != "ineligible", tuple(keys), tuple(orders))


def settle(policy, rows: list[CrossRow], withdrawn=frozenset()) -> dict:
    """``{index: shared}`` for every row: ``shared`` holds, per gate, what the application shares
    with the applications before it, ``(key, other application, other's value of "earlier", tie)``
    (:func:`engine.explain.explain.cross_gate_result` writes it); an empty tuple is a gate passed."""
    out = {r.index: [] for r in rows}
    eligible = {r.index: r.eligible and r.application not in withdrawn for r in rows}
    for gi, g in enumerate(policy.cross_gates):
        by_input = g.order is None
        # the earliest first; equal values and missing ones (last) in input order: deterministic
        ordered = sorted(rows, key=lambda r: (by_input or r.orders[gi] is None,
                                              0 if by_input or r.orders[gi] is None else r.orders[gi], r.index))
        held: dict = {}  # key -> (application, its value of "earlier")
        for r in ordered:
            when = r.orders[gi]
            shared = []
            for k in r.keys[gi]:
                h = held.get(k)
                if h is not None:
                    tie = not by_input and h[1] is not None and h[1] == when
                    shared.append((k, h[0], None if by_input else h[1], tie))
            out[r.index].append(tuple(shared))
            if shared:
                eligible[r.index] = False
            elif eligible[r.index]:
                for k in r.keys[gi]:
                    held[k] = (r.application, when)
    return {i: tuple(v) for i, v in out.items()}


def failed(decided: dict) -> frozenset:
    """The input positions of the applications a gate across applications excludes."""
    return frozenset(i for i, per_gate in decided.items() if any(per_gate))
