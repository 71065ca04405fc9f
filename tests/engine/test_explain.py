"""Explanations: golden files for bench applications, and the sentences' contract.

Golden files live in ``tests/golden/explain/``: for each case ``<case>.input.json``
(an application of the shared yardstick's workload, evaluated against
``benchmarks/bench.bando``), its text rendering ``<case>.<lang>.txt``
(:func:`engine.explain.explain.render_text`) and its JSON form ``<case>.<lang>.json``
(``result.to_dict()``), in Italian and English.

After an intended change of wording, regenerate them and read the diff::

    BANDO_UPDATE_GOLDEN=1 python -m pytest tests/engine/test_explain.py
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from engine.explain.explain import render_text
from engine.evaluate.policy import load_application, load_policy
from golden_files import check_golden  # tests/engine is on sys.path (rootdir-less layout)

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "explain"
BENCH = REPO / "benchmarks" / "bench.bando"
LANGS = ("it", "en")

#: case -> what it shows (the inputs are in GOLDEN/<case>.input.json)
CASES = {
    "admitted": "5 firms, admitted with its grant; two firms without export_share, no women_led_share",
    "capped_at_deadline": "submitted exactly at the deadline, grant capped at 200,000",
    "score_60": "exactly the pass mark",
    "below_threshold": "eligible, score 16; markets, women-led share and three firms' ISO flags missing",
    "pact_and_late": "two gates fail: a firm did not sign the pact, one second late",
    "sme_and_sector": "a firm is not an SME, another works in an excluded sector",
    "three_firms": "too few firms and an excluded sector",
    "invalid": "three data errors, with their paths",
}


def _json_default(o):
    if isinstance(o, Decimal):
        return format(o, "f")
    if hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(type(o).__name__)


def _dump(d) -> str:
    return json.dumps(d, ensure_ascii=False, indent=2, default=_json_default) + "\n"


@pytest.fixture(scope="module")
def bench():
    return load_policy(BENCH)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_explanations(bench, case, lang):
    data = load_application(GOLDEN / f"{case}.input.json")  # as `bando eval` reads it: exact decimals
    result = bench.evaluate(data, lang=lang)
    check_golden(GOLDEN / f"{case}.{lang}.txt", render_text(result, lang))
    check_golden(GOLDEN / f"{case}.{lang}.json", _dump(result.to_dict()))


@pytest.mark.parametrize("case", sorted(CASES))
def test_explanation_matches_the_decision(bench, case):
    with open(GOLDEN / f"{case}.input.json", encoding="utf-8") as fh:
        data = json.load(fh)  # plain floats this time: same outcome, same sentences
    decision = bench.decide(data)
    for lang in LANGS:
        result = bench.evaluate(data, lang=lang)
        assert result.to_dict() == bench.evaluate(load_application(GOLDEN / f"{case}.input.json"), lang).to_dict()
        assert result.status == decision.status and result.score == decision.score
        assert result.grant == decision.grant and result.errors == decision.errors
        if decision.status == "invalid":
            assert result.gates == () and result.criteria == ()
            continue
        assert [g.id for g in result.gates if not g.passed] == list(decision.failed)
        assert all(g.because and not g.because.startswith("(") for g in result.gates)
        assert tuple(c.points for c in result.criteria) == decision.points
        assert all(c.because for c in result.criteria)
        assert result.language == lang


def test_golden_cases_cover_what_they_say(bench):
    statuses = {case: bench.decide(load_application(GOLDEN / f"{case}.input.json")).status for case in CASES}
    assert statuses["admitted"] == statuses["capped_at_deadline"] == statuses["score_60"] == "admitted"
    assert statuses["below_threshold"] == "below_threshold" and statuses["invalid"] == "invalid"
    assert {statuses[c] for c in ("pact_and_late", "sme_and_sector", "three_firms")} == {"ineligible"}
    d = bench.decide(load_application(GOLDEN / "capped_at_deadline.input.json"))
    assert d.grant == Decimal("200000.00") and d.submitted.isoformat() == "2025-06-30T12:00:00"
    assert bench.decide(load_application(GOLDEN / "score_60.input.json")).score == 60


def test_no_stale_golden_files():
    known = {f"{c}.{suffix}" for c in CASES for suffix in ("input.json",) + tuple(
        f"{lang}.{ext}" for lang in LANGS for ext in ("txt", "json"))}
    assert {p.name for p in GOLDEN.iterdir()} == known


# --- sentences on small policies --------------------------------------------------------------------

SMALL = """
call "Piccolo" version "1" { authority "A" language it closes 2025-06-30 12:00 budget 1_000 EUR }
record Firm "Impresa" en "Firm" { name: text, employees "Addetti" en "Employees": int, signed: bool }
input {
  id: text
  firms "Imprese" en "Firms": list of Firm
  sector "Settore" en "Sector": one of {"A", "B", "C"}
  amount "Importo" en "Amount": money
}
let members "imprese" en "firms" = count(firms)
eligibility {
  gate signed "Patto firmato" en "Pact signed": all f in firms: f.signed
  gate members "Almeno 2 imprese" en "At least 2 firms": members >= 2
  gate sector "Settore ammesso" en "Sector allowed": sector in {"A", "B"}
  gate amount "Importo massimo" en "Maximum amount": amount <= 1_000 EUR
}
"""


def _firms(n, unsigned=()):
    return [{"name": f"Impresa {i}", "employees": 3, "signed": i not in unsigned} for i in range(n)]


def test_quantifier_lists_the_first_failing_items():
    p = load_policy(SMALL)
    data = {"id": "X", "firms": _firms(6, unsigned=(0, 2, 3, 5)), "sector": "A", "amount": 10}
    g = p.evaluate(data).gates[0]
    assert not g.passed
    assert g.because == ("4 su 6 non soddisfano «f.signed»: #1 Impresa 0 (f.signed = no), "
                         "#3 Impresa 2 (f.signed = no), #4 Impresa 3 (f.signed = no), … +1")
    g = p.evaluate(data, lang="en").gates[0]
    assert g.because.startswith("4 of 6 do not satisfy «f.signed»: #1 Impresa 0 (f.signed = no)")
    assert g.because.endswith(", … +1")


def test_sentences_in_both_languages():
    p = load_policy(SMALL)
    data = {"id": "X", "firms": _firms(1), "sector": "C", "amount": "1000.01"}
    it = {g.id: g for g in p.evaluate(data).gates}
    en = {g.id: g for g in p.evaluate(data, lang="en").gates}
    assert it["members"].because == "imprese = 1, richiesto almeno 2"
    assert en["members"].because == "firms = 1, required at least 2"
    assert it["members"].label == "Almeno 2 imprese" and en["members"].label == "At least 2 firms"
    assert it["sector"].because == 'Settore = "C", richiesto uno tra {"A", "B"}'
    assert en["sector"].because == 'Sector = "C", required one of {"A", "B"}'
    assert it["amount"].because == "Importo = € 1.000,01, richiesto al massimo € 1.000,00"
    assert en["amount"].because == "Amount = €1,000.01, required at most €1,000.00"
    assert it["signed"].passed and it["signed"].because == "1 su 1 soddisfa «f.signed»"


def test_summaries():
    p = load_policy(SMALL)
    ok = {"id": "X", "firms": _firms(2), "sector": "A", "amount": 10}
    assert p.evaluate(ok).summary == "Ammissibile e ammessa."
    assert p.evaluate(ok, lang="en").summary == "Eligible and admitted."
    bad = dict(ok, sector="C")
    assert p.evaluate(bad).summary == "Non ammissibile: 1 requisito non soddisfatto (Settore ammesso)."
    assert p.evaluate(bad, lang="en").summary == "Not eligible: 1 requirement not met (Sector allowed)."


def test_render_text_of_an_invalid_application():
    p = load_policy(SMALL)
    r = p.evaluate({"id": "X", "firms": [{"name": "A", "employees": "tre", "signed": True}], "sector": "Z"})
    text = render_text(r)
    assert text.splitlines()[:3] == ["Domanda X", "Esito: dati non validi",
                                     "I dati della domanda non sono validi: 3 problemi da correggere."]
    # in the call's language, with the fields' labels and the item named by its own data (issue 16)
    assert "  ✗ Impresa n. 1 (A), Addetti: atteso un numero intero, indicato «tre»" in text
    assert "  ✗ Settore: «Z» non è tra i valori ammessi: «A», «B», «C»" in text
    assert "  ✗ Importo: dato obbligatorio mancante" in text
    # the machine path and the English message stay in the result (docs/contracts.md)
    assert r.to_dict()["errors"][0] == {"field": "firms[0].employees", "message": 'expected a whole number, got "tre"',
                                        "text": "Impresa n. 1 (A), Addetti: atteso un numero intero, indicato «tre»"}
    assert render_text(r, "en").splitlines()[1] == "Outcome: invalid data"


HUGE = """
call "Grande" version "1" { authority "A" language it budget 1 EUR }
input { id: text, factor: decimal }
let big "prodotto" = factor * factor
eligibility { gate small "Prodotto contenuto": big <= 1 }
"""


def test_huge_computed_values_are_explained():
    # inputs stay below the validator's 10^18, a product of two of them does not
    r = load_policy(HUGE).evaluate({"id": "H", "factor": 1e13})
    assert r.status == "ineligible"
    assert not r.gates[0].because.startswith("("), r.gates[0].because


NEGATED = '''call "P" version "1" { budget 1_000 EUR }
input {
  id: text
  firms "Imprese" en "Firms": int in 0..100
  sector "Settore" en "Sector": text
}
let large "rete di almeno 10 imprese" en "network of at least 10 firms" = firms >= 10
eligibility {
  gate small "Meno di 10 imprese" en "Fewer than 10 firms": not large
  gate direct "Al massimo 20 imprese" en "At most 20 firms": not (firms > 20)
  gate other "Settore diverso da A" en "Sector other than A": not (sector == "A")
}
'''


def test_a_negated_comparison_states_the_requirement_it_makes():
    """`not (firms >= 10)` requires fewer than 10: the sentence says so, never "required at least 10"."""
    p = load_policy(NEGATED)
    for firms, ok in ((4, True), (12, False)):
        it = {g.id: g for g in p.evaluate({"id": "X", "firms": firms, "sector": "A"}).gates}
        en = {g.id: g for g in p.evaluate({"id": "X", "firms": firms, "sector": "A"}, lang="en").gates}
        assert it["small"].passed is ok
        assert it["small"].because == f"Imprese = {firms}, richiesto meno di 10"
        assert en["small"].because == f"Firms = {firms}, required less than 10"
    it = {g.id: g for g in p.evaluate({"id": "X", "firms": 25, "sector": "A"}).gates}
    assert it["direct"].because == "Imprese = 25, richiesto al massimo 20" and not it["direct"].passed
    assert it["other"].because == 'Settore = "A", richiesto diverso da "A"' and not it["other"].passed
