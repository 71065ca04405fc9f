"""The renderer against golden traces: facts written by hand, the sentences they must give (it and en).

The trace generator is not involved here (``test_explain_compiled.py`` checks that
the fused and the typed tracer record the same facts): each case is a
:class:`engine.evaluate.trace.Trace` for one small policy, and the exact result
:func:`engine.explain.explain.render` must write from it, label by label.
"""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from decimal import Decimal as D

from engine.explain import explain
from engine.evaluate.policy import load_policy
from engine.evaluate.result import Decision
from engine.evaluate.trace import Trace

POLICY = '''
call "Misto" version "1" {
  language it
  closes 2025-06-30 12:00
}
record Firm "Impresa" {
  name "Nome": text
  employees "Addetti": int
  turnover "Fatturato": money = 0 EUR
}
input {
  id: text
  submitted_at: datetime
  limit "Soglia dichiarata": int = 3
  firms: list of Firm
  cost "Costo": money
  quality "Qualità": decimal in 0..5 step 0.5 = 0
}
let n "imprese" = count(firms)
eligibility {
  gate many "Almeno due imprese": n >= 2
  gate small "Tutte piccole": all f in firms: f.employees < 50 and f.turnover <= 10_000_000 EUR
  gate on_time "Nei termini": submitted_at <= call.closes
}
score max 30 pass 10 {
  criterion declared "Sopra la soglia dichiarata" max 10 {
    n >= limit -> 10
    otherwise -> 0
  }
  criterion parts "Qualità e dimensione" max 10 {
    sub q "Qualità" max 5 = quality
    sub d "Dimensione" max 5 {
      n >= 3 -> 5
      otherwise -> 1
    }
  }
  criterion cost_points "Costo" max 10 minimum 2 = cost / 10_000 EUR
}
'''

ON_TIME = dt.datetime(2025, 6, 30, 11, 0)
CLOSES = dt.datetime(2025, 6, 30, 12, 0)
ALFA = (0, "Alfa srl", (False, (False, (60, 50)), (False, (D("12000000"), D("10000000")))))

# a network of two firms, one of them too large: not eligible, not scored
INELIGIBLE = (
    Decision("M-1", "ineligible", failed=("small",)),
    Trace(gates=(((2, 2), (2,)), ((2, 1, (ALFA,)), ()), ((ON_TIME, CLOSES), (ON_TIME,))), criteria=None, grant=None),
)
# three small firms, declared limit 4 (the otherwise band), quality 3.5, cost € 15.000: the minimum is not reached
SCORED = (
    Decision("M-2", "below_threshold", points=(0, D("8.5"), D("1.5")), score=D("10"), below=("cost_points",)),
    Trace(gates=(((3, 2), (3,)), ((3, 0, None), ()), ((ON_TIME, CLOSES), (ON_TIME,))),
          criteria=((0, (1, False, 3, (), ((4,), ()), ()), (3, 4)),  # the bound from the data is a fact
                    (D("8.5"), ((D("3.5"), (D("3.5"), ()), (D("3.5"),)),
                                (5, (0, False, 3, (), ((), ()), ()), (3,))), ()),  # a constant bound is not
                    (D("1.5"), (D("1.5"), ()), (D("15000"),))),
          grant=None),
)

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "trace" / "rendered.it-en.json"
UPDATE = os.environ.get("BANDO_UPDATE_GOLDEN") == "1"
CASES = {"ineligible": INELIGIBLE, "scored": SCORED}


def _rendered(policy, case, lang) -> dict:
    decision, trace = case
    d = explain.render(policy, decision, trace, lang).to_dict()
    return {"summary": d["summary"], "gates": [{k: g[k] for k in ("id", "passed", "because", "values")} for g in d["gates"]],
            "criteria": d["criteria"]}


def test_golden_traces_give_their_sentences():
    policy = load_policy(POLICY)
    got = {f"{name} {lang}": _rendered(policy, case, lang) for name, case in CASES.items() for lang in ("it", "en")}
    text = json.dumps(got, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    if UPDATE:
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_the_renderer_reads_the_facts_not_the_application():
    """The same policy, two traces that differ in one fact: only the sentence of that fact changes."""
    policy = load_policy(POLICY)
    decision, trace = INELIGIBLE
    other = Trace(((trace.gates[0][0], trace.gates[0][1]), trace.gates[1], ((ON_TIME, None), (ON_TIME,))), None, None)
    a, b = explain.render(policy, decision, trace, "en"), explain.render(policy, decision, other, "en")
    assert a.gates[:2] == b.gates[:2]
    assert b.gates[2].because == "submitted_at = 2025-06-30 11:00:00; call.closes: missing"
    assert a.gates[2].because == "submitted_at = 2025-06-30 11:00:00, required on or before 2025-06-30 12:00:00"
