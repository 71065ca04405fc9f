"""``bando whatif``: the same applications under two versions of a call, and what moved.

A call designer who changes a threshold, a weight, a band or the budget wants
to see what the change does to real applicants (last year's, or a test
batch) before it is published: OpenFisca's *reforms*, for rankings and
budgets. :func:`whatif` scores the batch under each policy into
``OUT/before`` and ``OUT/after`` (two complete ``bando score`` outputs, each
with its own manifest, so either can be opened, diffed or verified later),
then compares them with :mod:`engine.score.diff` and writes the comparison as
``OUT/diff.txt``, ``OUT/diff.csv`` and ``OUT/diff.json``.

Both runs read the same batch file with the same options; only the policy
(and, with ``budget_after``, the budget of the second run) differ, so every
difference the diff reports comes from the change.
"""
from __future__ import annotations

from pathlib import Path

from engine.score import diff as _diff
from engine.score.batch import score_batch
from engine.score.outputs import atomic_write

__all__ = ["WhatIf", "whatif"]


class WhatIf:
    """The two runs and their comparison."""

    def __init__(self, before, after, comparison: _diff.RunDiff, outdir: Path, lang: str):
        self.before = before  # BatchSummary
        self.after = after
        self.diff = comparison
        self.outdir = outdir
        self.lang = lang


def whatif(policy_before, policy_after, batch, outdir, *, lang=None, budget=None, budget_after=None,
           csv_dialect=None, params=None, params_after=None, **options) -> WhatIf:
    """Score ``batch`` under both policies (letters are not written unless ``letters=True``) and
    compare. ``budget`` overrides both runs' budget, ``budget_after`` only the second one's;
    ``params`` are the call parameters' values of the first run, ``params_after`` of the second
    (the same policy twice with another ``action`` compares two editions of a call)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    options.setdefault("letters", False)
    batch_path = Path(batch)
    before = score_batch(policy_before, batch_path, outdir / "before", lang=lang, budget=budget,
                         csv_dialect=csv_dialect, params=params, **options)
    after = score_batch(policy_after, batch_path, outdir / "after", lang=lang,
                        budget=budget_after if budget_after is not None else budget,
                        csv_dialect=csv_dialect, params=params_after, **options)
    comparison = _diff.compare(outdir / "before", outdir / "after")
    lang = lang or after.lang
    atomic_write(outdir / "diff.txt", _diff.render_text(comparison, lang))
    _diff.write_csv(comparison, outdir / "diff.csv", lang=lang, dialect=csv_dialect)
    atomic_write(outdir / "diff.json", _diff.json_text(comparison, lang))
    return WhatIf(before, after, comparison, outdir, lang)
