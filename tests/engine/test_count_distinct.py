"""`count distinct(x.v for x in list where c)`: how many different values.

The fused fast path keeps one set per ``count distinct`` as an accumulator of
the list's one loop; the typed path computes it with ``_rt.count_distinct``.
Both must agree (decisions and the facts behind the explanations), missing
values add no value, and the explanation names the values when there are few.

Golden explanations live in ``tests/golden/distinct/`` (``<case>.<lang>.txt``);
regenerate with ``BANDO_UPDATE_GOLDEN=1`` and read the diff.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.fmt import format_text
from engine.cli import main
from engine.compile.plan import lower
from engine.evaluate.policy import load_policy
from engine.explain.explain import render_text

from check_helpers import codes as _codes
from test_evaluate import full_path, reference_result  # tests/engine is on sys.path (rootdir-less layout)
from golden_files import check_golden  # tests/engine is on sys.path (rootdir-less layout)

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "distinct"

POLICY = """
call "Reti europee" version "1" {
  authority "Regione di prova"
  language it
  budget 100_000 EUR
}

record Partner "Partner" en "Partner" {
  name "Denominazione" en "Name": text
  country "Stato membro" en "Member State": text
  independent "Indipendente" en "Independent": bool
  size "Classe dimensionale" en "Size class": int in 1..4 optional
}

input {
  id: text
  partners "Partner" en "Partners": list of Partner
}

let states "Stati membri diversi" en "different Member States" = count distinct(p.country for p in partners where p.independent)

eligibility {
  gate three_states "Almeno 3 Stati membri" en "At least 3 Member States": states >= 3
}

score max 20 pass 0 {
  criterion spread "Diffusione" en "Spread" max 10 = 2 * count distinct(p.country for p in partners)
  criterion sizes "Classi dimensionali" en "Size classes" max 10 = count distinct(p.size for p in partners)
}
"""

def partner(country, independent=True, size=None, name=None):
    p = {"name": name or f"P-{country}", "country": country, "independent": independent}
    if size is not None:
        p["size"] = size
    return p


CASES = {
    "few": [partner("IT", size=1), partner("FR", size=1), partner("IT", size=2),
            partner("DE", False), partner("ES", size=4)],
    "unsized": [partner("IT"), partner("FR"), partner("ES", size=None)],
    "one": [partner("IT"), partner("IT", name="Altro")],
    "none": [],
    "many": [partner(c, size=1 + i % 4) for i, c in enumerate(
        ["AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR"])],
}


@pytest.fixture(scope="module")
def policy():
    return load_policy(POLICY, "reti.bando")


def app(partners, id_="A"):
    return {"id": id_, "partners": partners}


@pytest.mark.parametrize("lang", ("it", "en"))
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_explanations(policy, case, lang):
    result = policy.evaluate(app(CASES[case]), lang=lang)
    assert result.to_dict() == reference_result(policy, app(CASES[case]), lang).to_dict()
    check_golden(GOLDEN / f"{case}.{lang}.txt", render_text(result, lang))


def test_the_explanation_names_the_values_in_both_languages(policy):
    it = render_text(policy.evaluate(app(CASES["few"]), lang="it"), "it")
    en = render_text(policy.evaluate(app(CASES["few"]), lang="en"), "en")
    assert "Stati membri diversi = 3 (ES, FR, IT), richiesto almeno 3" in it  # DE is not independent
    assert "4 valori diversi di «Stato membro»: DE, ES, FR, IT" in it
    assert "different Member States = 3 (ES, FR, IT), required at least 3" in en
    assert "4 different values of «Member State»: DE, ES, FR, IT" in en
    many = render_text(policy.evaluate(app(CASES["many"]), lang="it"), "it")
    assert "12 valori diversi di «Stato membro»" in many and "Stati membri diversi = 12, richiesto" in many
    unsized = render_text(policy.evaluate(app(CASES["unsized"]), lang="it"), "it")
    assert "nessun valore di «Classe dimensionale»" in unsized


def test_counts_each_value_once_and_skips_missing_values(policy):
    d = policy.decide(app(CASES["few"]))
    assert d.status == "admitted" and d.points == (8, 3)  # 4 countries; sizes 1, 2, 4 (DE has none)
    assert policy.decide(app(CASES["unsized"])).points == (6, 0)
    assert policy.decide(app(CASES["one"])).failed == ("three_states",)
    assert policy.decide(app([])).failed == ("three_states",)


def test_the_count_is_one_accumulator_of_the_loop(policy):
    described = lower(policy.checked).describe()
    assert "partners: loop [count distinct@" in described
    assert described.count("count distinct@") == 3


COUNTRIES = st.sampled_from(["IT", "FR", "DE", "ES", "it"])
PARTNERS = st.lists(st.builds(partner, COUNTRIES, st.booleans(), st.one_of(st.none(), st.integers(1, 4))),
                    max_size=12)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(partners=PARTNERS)
def test_fast_and_typed_paths_agree_with_a_plain_count(policy, partners):
    data = app(partners)
    d = policy.decide(data)
    assert d == full_path(policy, data)
    independent = {p["country"] for p in partners if p["independent"]}
    assert (d.failed == ()) == (len(independent) >= 3)
    years = {p["size"] for p in partners if "size" in p}
    if not d.failed:  # an ineligible application is not scored
        assert d.points == (min(2 * len({p["country"] for p in partners}), 10), min(len(years), 10))
    for lang in ("it", "en"):
        assert policy.evaluate(data, lang=lang).to_dict() == reference_result(policy, data, lang).to_dict()


@pytest.mark.parametrize("expr, code", [
    ("count distinct(p in partners where p.independent) >= 3", "E134"),
    ("count distinct(partners) >= 3", "E134"),
    ("sum distinct(p.size for p in partners) >= 3", "E135"),
    ("count distinct(partners where true) >= 3", "E011"),
])
def test_wrong_uses_get_one_clear_error(expr, code):
    text = POLICY.replace("states >= 3", expr)
    assert _codes(text) == [code]


def test_distinct_is_still_a_name_elsewhere():
    text = POLICY.replace("  id: text\n", "  id: text\n  distinct \"Soglia\": int = 3\n") \
        .replace("states >= 3", "states >= distinct")
    assert _codes(text) == []


def test_a_bare_list_of_values_and_fmt_round_trip():
    text = POLICY.replace("  id: text\n", "  id: text\n  marks \"Voti\": list of int in 0..10\n") \
        .replace("states >= 3", "states >= 3 and count distinct(marks) >= 2")
    assert _codes(text) == []
    p = load_policy(text, "reti.bando")
    assert p.decide({"id": "A", "partners": CASES["few"], "marks": [1, 1, 2]}).failed == ()
    assert p.decide({"id": "A", "partners": CASES["few"], "marks": [1, 1]}).failed == ("three_states",)
    once = format_text(text, "reti.bando")
    assert "count distinct(p.country for p in partners where p.independent)" in once
    assert "count distinct(marks) >= 2" in once
    assert format_text(once, "reti.bando") == once


def test_cli_eval_explains_the_values(tmp_path):
    pol = tmp_path / "reti.bando"
    pol.write_text(POLICY, encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps(app(CASES["few"])), encoding="utf-8")
    r = CliRunner().invoke(main, ["eval", str(pol), str(tmp_path / "a.json"), "--lang", "en"])
    assert r.exit_code == 0, r.output
    assert "different Member States = 3 (ES, FR, IT), required at least 3" in r.output
    r = CliRunner().invoke(main, ["eval", str(pol), str(tmp_path / "a.json"), "--format", "json"])
    gate = json.loads(r.output)["gates"][0]
    assert gate["values"] == {"states": 3}


def test_bands_on_a_count_distinct_say_its_values():
    text = POLICY.replace(
        'criterion sizes "Classi dimensionali" en "Size classes" max 10 = count distinct(p.size for p in partners)',
        'criterion sizes "Classi dimensionali" en "Size classes" max 10 {\n'
        '    count distinct(p.size for p in partners) >= 3 -> 10\n'
        '    count distinct(p.size for p in partners) >= 2 -> 5\n'
        '    otherwise -> 0\n  }')
    p = load_policy(text, "reti.bando")
    for partners in CASES.values():
        assert p.decide(app(partners)) == full_path(p, app(partners))
        for lang in ("it", "en"):
            assert p.evaluate(app(partners), lang=lang).to_dict() == reference_result(p, app(partners), lang).to_dict()
    it = render_text(p.evaluate(app(CASES["few"]), lang="it"), "it")
    assert "3 valori diversi di «Classe dimensionale»: 1, 2, 4 → fascia «≥ 3» → 10 su 10 punti" in it
    en = render_text(p.evaluate(app(CASES["few"]), lang="en"), "en")
    assert "3 different values of «Size class»: 1, 2, 4 → band «≥ 3» → 10 of 10 points" in en
