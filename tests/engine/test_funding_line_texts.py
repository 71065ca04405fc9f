"""True sentences about the grant and in the letters (issue 11, part 2).

* a grant the rules make negative (or zero) is never payable: ``grant`` is 0,
  ``grant_computed`` keeps the amount, and the words say so;
* ``eligible`` is null for invalid data (eligibility was not assessed);
* ``grant_because`` names the term of ``min``/``max`` that bound the grant and
  the rounding that changed it, in Italian and English, the same word for word
  on the compiled explaining path and on the typed path;
* letters state only what the policy says: no invented date, appeal term,
  acceptance term or de minimis paragraph; the ranking's own sentence instead
  of claims about the budget; letters for ``tied`` and ``withdrawn``.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import load_policy
from engine.score.batch import default_letter_date
from engine.cli import main
from engine.explain.explain import render_text
from engine.letters.letters import FORMATS, LetterRenderer
from engine.evaluate.policy import load_application

from test_evaluate import reference_result  # tests/engine is on sys.path (rootdir-less layout)

REPO = Path(__file__).resolve().parents[2]
SALENTONET = REPO / "policies" / "salentonet.bando"
EXAMPLES = REPO / "examples" / "salentonet"

# a call with no dates, no appeal and no de minimis rule; a request may be negative (valid input)
BARE = """
call "Prova senza date" version "1" {
  authority "Ente di prova"
  language it
  budget 100_000 EUR
}
input {
  id: text
  amount_requested "Contributo richiesto" en "Grant requested": money in -1_000_000..1_000_000
  cost "Spese ammissibili" en "Eligible costs": money in 0..10_000_000
  quality "Qualità" en "Quality": int in 0..10
}
eligibility {
  gate cost_ok "Spese positive" en "Positive costs": cost > 0 EUR
}
score max 10 pass 1 {
  criterion q "Qualità" en "Quality" max 10 = quality
}
grant = min(amount_requested, 50% of cost, 50_000 EUR) rounded down to 1 EUR
requested = amount_requested
"""


@pytest.fixture(scope="module")
def bare():
    return load_policy(BARE)


@pytest.fixture(scope="module")
def salentonet():
    return load_policy(SALENTONET)


def _app(name, **project):
    data = load_application(EXAMPLES / f"{name}.json")
    data["project"].update(project)
    return data


# --- a grant below zero, or zero ---------------------------------------------------------------------

@pytest.mark.parametrize("requested, computed, shown", [
    (-50_000, "-50000", {"it": "-€ 50.000,00", "en": "-€50,000.00"}),
    (-0.01, "-1", {"it": "-€ 1,00", "en": "-€1.00"}),  # rounded down to the euro: -1
])
def test_a_negative_grant_is_admitted_but_nothing_is_payable(bare, requested, computed, shown):
    data = {"id": "N-1", "amount_requested": requested, "cost": 100_000, "quality": 5}
    d = bare.decide(data)
    assert d.status == "admitted" and d.grant == 0 and d.grant_computed == Decimal(computed)
    for lang in ("it", "en"):
        r = bare.evaluate(data, lang=lang)
        out = r.to_dict()
        assert out["status"] == "admitted"
        assert out["grant"] == "0.00" and Decimal(out["grant_computed"]) == Decimal(computed)
        if lang == "it":
            assert "inferiore a zero (" + shown["it"] + "): nessun importo può essere erogato" in r.summary
            assert r.grant_because.startswith("Nessun importo erogabile: il contributo calcolato con le regole "
                                              "del bando è inferiore a zero — " + shown["it"] + ": ")
        else:
            assert "is below zero (" + shown["en"] + "), so nothing can be paid" in r.summary
            assert r.grant_because.startswith("Nothing can be paid: the grant calculated under the call's rules "
                                              "is below zero — " + shown["en"] + ": ")
        assert r.to_dict() == reference_result(bare, data, lang).to_dict()


def test_a_zero_grant_says_there_is_nothing_to_pay(bare):
    data = {"id": "Z-1", "amount_requested": 0, "cost": 100_000, "quality": 5}
    r = bare.evaluate(data, lang="en")
    assert r.grant == 0 and r.grant_computed == 0
    assert r.summary == ("Eligible and admitted with 5 of 10 points; the grant calculated under the call's rules "
                         "is zero, so there is nothing to pay.")
    assert r.grant_because.startswith("Nothing to pay: the grant calculated under the call's rules is zero — €0.00: "
                                      "«Grant requested», lower than")


def test_a_policy_without_a_grant_has_no_grant_and_no_reason():
    policy = load_policy(BARE.replace("grant = min(amount_requested, 50% of cost, 50_000 EUR) rounded down to 1 EUR\n",
                                      ""))
    r = policy.evaluate({"id": "R-1", "amount_requested": 10, "cost": 10, "quality": 5})
    assert r.status == "admitted"
    assert r.to_dict()["grant"] is None and r.to_dict()["grant_computed"] is None
    assert r.to_dict()["grant_because"] is None


# --- eligible is "not assessed" for invalid data --------------------------------------------------------

def test_invalid_data_has_eligibility_not_assessed(bare, salentonet):
    r = bare.evaluate({"id": "I-1", "amount_requested": "molti", "cost": 1, "quality": 5})
    assert r.status == "invalid" and r.eligible is None and r.to_dict()["eligible"] is None
    assert json.loads(json.dumps(r.to_dict()))["eligible"] is None  # JSON null
    assert bare.decide({"id": "I-1", "cost": 1}).eligible is None
    inel = salentonet.evaluate(load_application(EXAMPLES / "SN-2013-003.json"))
    assert inel.status == "ineligible" and inel.to_dict()["eligible"] is False
    assert salentonet.evaluate(load_application(EXAMPLES / "SN-2013-022.json")).to_dict()["eligible"] is None


# --- the grant explained --------------------------------------------------------------------------------

GRANT_BECAUSE = [
    # capped by the ceiling: 80.000 requested, 50 % of 150.000 = 75.000
    ("SN-2013-008", {}, "50000",
     "€ 50.000,00: il massimale del bando, più basso di «Contributo richiesto» (€ 80.000,00) e di € 75.000,00 "
     "(il 50 % di «Spese ammissibili»)",
     "€50,000.00: the call's ceiling, lower than «Grant requested» (€80,000.00) and €75,000.00 (50% of "
     "«Eligible costs»)"),
    # bound by the request
    ("SN-2013-008", {"amount_requested": 45_000}, "45000",
     "€ 45.000,00: «Contributo richiesto», più basso di € 75.000,00 (il 50 % di «Spese ammissibili») e del "
     "massimale del bando (€ 50.000,00)",
     "€45,000.00: «Grant requested», lower than €75,000.00 (50% of «Eligible costs») and the call's ceiling "
     "(€50,000.00)"),
    # bound by 50 % of the costs, and rounded down: 50 % of 33.333,33 = 16.666,665 -> 16.666
    ("SN-2013-025", {}, "16666",
     "€ 16.666,00: il 50 % di «Spese ammissibili» (€ 33.333,33), più basso di «Contributo richiesto» "
     "(€ 16.666,67) e del massimale del bando (€ 50.000,00); arrotondato per difetto all'euro: "
     "€ 16.666,665 → € 16.666,00",
     "€16,666.00: 50% of «Eligible costs» (€33,333.33), lower than «Grant requested» (€16,666.67) "
     "and the call's ceiling (€50,000.00); rounded down to the euro: €16,666.665 → €16,666.00"),
    # request, half the costs and the ceiling all 50.000: the call's own limit is named first
    ("SN-2013-001", {}, "50000",
     "€ 50.000,00: il massimale del bando, pari a «Contributo richiesto» e al 50 % di «Spese ammissibili» "
     "(€ 100.000,00)",
     "€50,000.00: the call's ceiling, equal to «Grant requested» and 50% of «Eligible costs» "
     "(€100,000.00)"),
]


@pytest.mark.parametrize("name, change, grant, it, en", GRANT_BECAUSE)
def test_the_grant_names_the_term_that_bound_it(salentonet, name, change, grant, it, en):
    data = _app(name, **change)
    for lang, expected in (("it", it), ("en", en)):
        r = salentonet.evaluate(data, lang=lang)
        assert r.status == "admitted" and r.grant == Decimal(grant)
        assert r.grant_because == expected
        # the typed path writes the same sentence, word for word
        assert reference_result(salentonet, data, lang).grant_because == expected
        # and `bando eval`'s text shows it on the line under the grant
        lines = render_text(r).splitlines()
        at = next(i for i, ln in enumerate(lines) if ln.startswith(("Contributo:", "Grant:")))
        assert lines[at + 1] == "  " + expected


def test_the_compiled_path_computes_the_grant_sentence_itself(salentonet):
    data = _app("SN-2013-025")
    salentonet.evaluate(data, lang="it")
    out = salentonet._explainers[None](data)
    *_, lets, grant_values = out
    assert lets is None and grant_values is not None  # no full conversion of the application was needed
    for path in sorted((REPO / "policies").glob("*.bando")):
        policy = load_policy(path)
        for app in sorted((REPO / "examples" / path.stem).glob("*.json")):
            d = load_application(app)
            for lang in ("it", "en"):
                got = policy.evaluate(d, lang=lang)
                assert got.grant_because == reference_result(policy, d, lang).grant_because, (app.name, lang)
                if got.status == "admitted" and got.grant_computed is not None:
                    assert got.grant_because and "None" not in got.grant_because


def test_a_plain_grant_is_given_in_words_with_its_value():
    policy = load_policy(BARE.replace("min(amount_requested, 50% of cost, 50_000 EUR)", "40% of cost"))
    data = {"id": "P-1", "amount_requested": 1, "cost": 12_345.67, "quality": 5}
    it = policy.evaluate(data, lang="it").grant_because
    en = policy.evaluate(data, lang="en").grant_because
    assert it == ("€ 4.938,00: il 40 % di «Spese ammissibili» (€ 12.345,67); arrotondato per difetto "
                  "all'euro: € 4.938,268 → € 4.938,00")
    assert en == ("€4,938.00: 40% of «Eligible costs» (€12,345.67); rounded down to the euro: "
                  "€4,938.268 → €4,938.00")
    assert it == reference_result(policy, data, "it").grant_because


def test_a_max_names_its_floor():
    policy = load_policy(BARE.replace("min(amount_requested, 50% of cost, 50_000 EUR) rounded down to 1 EUR",
                                      "max(amount_requested, 1_000 EUR)"))
    r = policy.evaluate({"id": "M-1", "amount_requested": 200, "cost": 10, "quality": 5}, lang="it")
    assert r.grant_because == "€ 1.000,00: l'importo minimo del bando, più alto di «Contributo richiesto» (€ 200,00)"


# --- letters --------------------------------------------------------------------------------------------

# what no output may show: a Python None, a NaN, a Decimal repr, a date of 1970
_UNWORDS = re.compile(r"\bNone\b|\bnan\b|\bNaN\b|Decimal\(|1970")


def _scored(tmp_path, policy_text, batch, *args):
    (tmp_path / "p.bando").write_text(policy_text, encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(batch), encoding="utf-8")
    res = CliRunner().invoke(main, ["score", str(tmp_path / "p.bando"), str(tmp_path / "b.json"),
                                    "-o", str(tmp_path / "out"), *args])
    assert res.exit_code == 0, res.output
    results = {}
    for line in (tmp_path / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        results[d["application"]] = d
    folder = tmp_path / "out" / "letters"
    letters = {p.stem: p.read_text(encoding="utf-8") for p in folder.iterdir()} if folder.exists() else {}
    return res, results, letters


BATCH = [{"id": "A-1", "amount_requested": 40_000, "cost": 100_000, "quality": 9},
         {"id": "A-2", "amount_requested": -5_000, "cost": 100_000, "quality": 8},
         {"id": "A-3", "amount_requested": 90_000, "cost": 300_000, "quality": 7},
         {"id": "A-4", "amount_requested": 30_000, "cost": 100_000, "quality": 6},
         {"id": "A-5", "amount_requested": 30_000, "cost": 100_000, "quality": 5}]


def test_letters_of_a_call_without_dates_appeal_or_de_minimis_invent_none(tmp_path, bare):
    assert default_letter_date(bare) is None
    res, results, letters = _scored(tmp_path, BARE, BATCH)
    # in the call's language (issue 16)
    assert res.output.count("le lettere non sono datate") == 1 and "--date AAAA-MM-GG" in res.output
    assert {d["status"] for d in results.values()} == {"funded", "not_funded"}
    for app, text in letters.items():
        assert "1970" not in text and "gennaio" not in text, app
        assert "Ricorso" not in text and "riesame" not in text and "30 giorni" not in text, app
        assert "de minimis" not in text, app
        assert not _UNWORDS.search(text), (app, _UNWORDS.search(text))
        assert "domande ammissibili" not in text, app
        assert re.search(r"^Prot\. n\. BANDO/A-\d\s*$", text, re.M), app  # the protocol line, no date after it
    funded = letters["A-1"]
    assert "entro il termine indicato dal bando" in " ".join(funded.split())
    assert "€ 40.000,00: «Contributo richiesto», più basso di € 50.000,00 (il 50 % di «Spese ammissibili») e del " \
           "massimale del bando (€ 50.000,00)." in " ".join(funded.split())
    # the negative grant: not funded, says why in words, and is not told it may be funded later
    negative = " ".join(letters["A-2"].split())
    assert results["A-2"]["status"] == "not_funded" and results["A-2"]["grant_computed"] == "-5000.00"
    assert "inferiore a zero" in negative and "Scorrimento" not in negative
    # a partial award: the rules' amount and the ranking's sentence, both true
    partial = " ".join(letters["A-4"].split())
    assert "Contributo calcolato con le regole del bando — € 30.000,00" in partial
    assert results["A-4"]["placement"]["because"] in partial
    # the application the budget did not reach: the ranking's own sentence, not "allocated in full"
    unfunded = " ".join(letters["A-5"].split())
    assert results["A-5"]["placement"]["because"] in unfunded
    assert "interamente assegnate" not in unfunded and "esaurimento" not in unfunded
    assert f"su {results['A-5']['placement']['of']} domande in graduatoria" in unfunded


def test_bando_letters_warns_once_when_undated(tmp_path):
    res, _results, _letters = _scored(tmp_path, BARE, BATCH[:2], "--no-letters")
    assert "non sono datate" not in res.output  # no letters, no warning
    again = CliRunner().invoke(main, ["letters", str(tmp_path / "p.bando"), str(tmp_path / "out" / "results.jsonl"),
                                      "-o", str(tmp_path / "letters")])
    assert again.exit_code == 0, again.output
    assert again.output.count("le lettere non sono datate") == 1
    dated = CliRunner().invoke(main, ["letters", str(tmp_path / "p.bando"), str(tmp_path / "out" / "results.jsonl"),
                                      "-o", str(tmp_path / "dated"), "--date", "2026-03-02"])
    assert "non sono datate" not in dated.output
    assert all("2 marzo 2026" in p.read_text(encoding="utf-8") for p in (tmp_path / "dated").glob("*.txt"))


def _result(status, **kw):
    base = {"application": "X-1", "status": status, "eligible": True, "score": 70, "max_score": 100,
            "pass_score": 60, "requested": "50000.00", "grant": None, "currency": "EUR", "rank": 3,
            "language": "it", "gates": [], "criteria": [], "errors": [], "placement": None,
            "policy": {"name": "p", "version": "1", "sha256": "0" * 64}}
    base.update(kw)
    return base


@pytest.mark.parametrize("body, days, it, en", [
    (None, None, None, None),  # neither: no appeal paragraph (it used to invent 30 days and a review)
    (None, 45, "ricorso entro 45 giorni", "within 45 days"),  # days only: no invented review request
])  # a body alone ("nei termini di legge") is in test_letters.py::test_appeal_sentence
def test_the_appeal_is_what_the_call_says(body, days, it, en):
    call = {"name": "Bando", "appeal_body": body, "appeal_days": days}
    r = _result("ineligible", eligible=False, score=None)
    for lang, expected in (("it", it), ("en", en)):
        text = " ".join(LetterRenderer(lang=lang).render(r, call, date=dt.date(2026, 3, 2)).split())
        if expected is None:
            assert "Ricorso" not in text and "appeal" not in text.lower() and "30" not in text
        else:
            assert expected in text
            assert ("Autorità cui è possibile ricorrere" in text) == (lang == "it" and body is not None)


def test_de_minimis_only_where_the_policy_has_a_rule(salentonet, bare):
    assert salentonet.call_info()["de_minimis"] is True
    assert bare.call_info()["de_minimis"] is False
    assert load_policy(REPO / "policies" / "2ins_clusters.bando").call_info()["de_minimis"] is False
    funded = _result("funded", grant="40000.00", placement={"rank": 3, "of": 9, "tied_with": [],
                                                             "reason": "funded", "because": "Finanziata."})
    for lang in ("it", "en"):
        with_rule = LetterRenderer(lang=lang).render(funded, salentonet.call_info(), date=dt.date(2014, 2, 28))
        without = LetterRenderer(lang=lang).render(funded, bare.call_info(), date=None)
        assert "de minimis" in with_rule and "de minimis" not in without


@pytest.mark.parametrize("status, it, en", [
    ("tied", "A PARI MERITO SULLA LINEA DI FINANZIAMENTO con la domanda X-2",
     "tied at the funding line with application X-2"),
    ("withdrawn", "RITIRATA O REVOCATA", "withdrawn or revoked"),
])
def test_tied_and_withdrawn_letters(status, it, en):
    placement = {"rank": 3, "of": 9, "tied_with": ["X-2"], "reason": "tie_pending" if status == "tied" else "withdrawn",
                 "because": "La frase della graduatoria."}
    r = _result(status, placement=placement, grant_computed="40000.00",
                grant_because="€ 40.000,00: il massimale del bando" if status == "tied" else None)
    call = {"name": "Bando", "appeal_body": "TAR Puglia", "appeal_days": 60}
    for lang, expected in (("it", it), ("en", en)):
        for fmt in FORMATS:
            text = LetterRenderer(lang=lang, fmt=fmt).render(r, call, date=dt.date(2026, 3, 2))
            flat = " ".join(text.split())
            if fmt == "txt":
                assert expected in flat
                assert "La frase della graduatoria." in flat
                if status == "tied":
                    assert ("non è assegnato alcun contributo" if lang == "it" else "no grant is awarded") in flat
                else:
                    assert ("torna disponibile" if lang == "it" else "is released") in flat
            assert not _UNWORDS.search(text)
    assert LetterRenderer().check_templates(call) == []


def test_no_output_shows_none_nan_or_a_repr(salentonet):
    for app in sorted(EXAMPLES.glob("SN-2013-0*.json")):
        data = load_application(app)
        for lang in ("it", "en"):
            r = salentonet.evaluate(data, lang=lang)
            for text in (json.dumps(r.to_dict(), ensure_ascii=False), render_text(r)):
                assert not _UNWORDS.search(text), (app.name, lang, _UNWORDS.search(text))
            if r.status == "admitted":
                letter = LetterRenderer(lang=lang).render(r.to_dict(), salentonet.call_info(), date=None)
                assert not _UNWORDS.search(letter), (app.name, lang)


def test_bando_check_dry_renders_the_tied_and_withdrawn_letters(tmp_path):
    # a policy's own template for the new statuses, with a mistake only a render can find
    (tmp_path / "tied.en.j2").write_text('{% extends "_letter.en.j2" %}{% block body %}{{ resutl.score }}'
                                         '{% endblock %}', encoding="utf-8")
    (tmp_path / "withdrawn.it.j2").write_text('{% extends "_letter.it.j2" %}{% block body %}{{ placement.because }}'
                                              '{% endblock %}', encoding="utf-8")
    problems = [str(p) for p in LetterRenderer(templates_dir=tmp_path).check_templates({"name": "x"})]
    assert any("tied.en.j2" in p and "resutl" in p for p in problems), problems
    assert any("withdrawn.it.j2" in p and "placement" in p for p in problems), problems
