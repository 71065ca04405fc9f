"""The facts an explanation rests on: what one application's rules used, as plain data.

The explaining function (:mod:`engine.compile.tracegen` writes it, for the fused
fast path and for the typed path alike) records, per gate and criterion, only
*facts*: the values a rule used, the band it hit, the items that broke a
quantifier. :mod:`engine.explain.explain` turns a :class:`Trace` into sentences; it
never computes a rule again. A trace is made of tuples, Decimals, ints,
strings, bools, dates and None: cheap to build, picklable, small.

The shape of a fact follows the rule it describes (the renderer walks the rule
and the fact together), so a fact carries no names or labels:

Conditions (a gate's ``cond``, a band's test, a quantifier's condition on one item)
    ``a op b`` (a comparison)        ``(left value, right value)``; ``(left, right, values)``
                                      when ``a`` is a ``count distinct`` (or a let that is one):
                                      ``values`` the different values, in order
    ``a and b and …`` / ``or``        ``(whole value, (value, fact) of each operand)``
    ``not a``                         the fact of ``a``
    ``v between lo and hi``           ``(v, lo, hi)``
    ``v in s`` / ``not in``           ``(v, s)``
    ``x is missing``                  the value of ``x``
    ``any``                           ``(n items, k that hold)``
    ``all`` / ``none``                ``(n, k breaking it, shown)``: ``shown`` is None when
                                      nothing breaks it, else up to :data:`MAX_ITEMS_SHOWN`
                                      ``(position, item's name or None, fact of the condition)``
    a ``let`` with its own rule       the fact of the let's rule (outside a quantifier)
    ``starts_with``/… a user function ``v`` / ``(argument values, fact of the body)``
    anything else                     its value

Criteria: ``(points, body, values)``; ``points`` as scored (a part: its share of
the parent, missing counting 0, kept in 0..max), ``values`` those of the input
fields and lets the rule uses (:func:`engine.explain.explain.value_nodes` lists them), and
``body``:
    a formula                         ``(raw value, aggregates)``
    bands                             ``(band index or None, a test was missing,
                                      subject's value, facts of the band tests,
                                      bound values of each band (empty when
                                      its bounds are constants), aggregates)``
    parts                             the facts of the parts, in order
where ``aggregates`` are ``(k, n)`` for each ``share``/``count … where`` of the rule, and
``(k, values)`` for each ``count distinct`` (``values``: the different values, in order).

Gates: ``(fact of the condition, values)``.

The grant: the values of :attr:`engine.explain.explain.GrantPlan.exprs` (None when no
grant was computed).

Named outputs (``output category "Categoria" = ...``), in policy order:
    one value                         ``(value, condition, aggregates, values, decided)``: ``condition``
                                      is ``(its value, its fact)`` when the rule is ``if … then … else``,
                                      ``(None, its fact)`` when the output is a condition (yes/no), else
                                      None; ``aggregates`` as for a criterion's formula (the counts of
                                      ``count(p in … where …)``); ``decided`` the values of the decision the rule reads
                                      (``grant``, ``score``…, :func:`engine.evaluate.named_outputs.decided_names`)
    per item (``for f in list``)      ``(((position, key, name, value), …), values, decided)``
"""
from __future__ import annotations

import attrs

#: the items a failed ``all`` / ``none`` names at most (the rest are counted)
MAX_ITEMS_SHOWN = 3


@attrs.frozen
class Trace:
    """One application's facts: ``gates`` and ``criteria`` in policy order, ``grant`` the grant's values.

    ``criteria`` is None when the application was not scored (a gate failed);
    ``grant`` is None when no grant was computed.
    """

    gates: tuple
    criteria: tuple | None
    grant: tuple | None
    outputs: tuple | None = None  # the named outputs' facts; None for a call that declares none
    #: the typed values the outputs that read the decision use (engine.evaluate.named_outputs.env_for)
    output_env: dict | None = None
