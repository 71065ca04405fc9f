"""Number sets: `int in {0, 3, 7}`, `decimal in {...}`, `money in {...}` (and `one of {0, 5}`, W104).

A value off the set makes the application invalid, with the field's label and the allowed values in
the call's language, on every path: the compiled fast path (``decide``), the full validator
(``evaluate``), the batch readers (``bando score`` on CSV and JSON Lines) and ``bando eval``.
"""
from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl.fmt import format_text
from engine.cli import main
from engine.compile.schema import json_schema
from engine.evaluate.policy import load_policy

HEADER = """
call "Prova" version "1" {
  authority "Regione di prova"
  language it
  budget 100_000 EUR
}
"""

POLICY = HEADER + """
input {
  id: text
  marks "Voto della commissione" en "Panel mark": int in {0, 3, 7}
  half "Mezzo punto" en "Half point": decimal in {0, 0.5, 1} = 0
  tranche "Tranche richiesta" en "Requested tranche": money in {1_000 EUR, 2_500 EUR}
}

eligibility {
  gate some "Voto positivo" en "Positive mark": marks > 0
  gate half_known "Mezzo punto" en "Half point": half >= 0
}

score max 10 pass 0 {
  criterion m "Voto" max 10 {
    marks >= 7 -> 10
    marks >= 3 -> 4
    otherwise -> 0
  }
}

grant = tranche
"""


@pytest.fixture(scope="module")
def policy():
    return load_policy(POLICY, "sets.bando")


def app(**kw):
    data = {"id": "A", "marks": 7, "half": 0.5, "tranche": 2500}
    data.update(kw)
    return data


from check_helpers import diagnostics  # noqa: E402  (tests/engine is on sys.path, the rootdir-less layout)


def test_values_in_the_set_are_accepted_and_bands_compare_them(policy):
    d = policy.decide(app())
    assert (d.status, d.score, d.grant) == ("admitted", Decimal(10), Decimal("2500.00"))
    assert policy.decide(app(marks=3)).score == 4
    assert policy.decide(app(marks=0)).failed == ("some",)


@pytest.mark.parametrize("lang, expected", [
    ("it", "Voto della commissione: 4 non è ammesso: deve essere uno tra 0, 3 e 7"),
    ("en", "Panel mark: 4 is not allowed: must be one of 0, 3 and 7"),
])
def test_a_value_off_the_set_is_invalid_with_the_values_listed(policy, lang, expected):
    r = policy.evaluate(app(marks=4), lang=lang)
    assert r.status == "invalid"
    assert r.to_dict()["errors"] == [{"field": "marks", "message": "4 is not allowed: must be one of 0, 3 and 7",
                                      "text": expected}]


def test_the_fast_path_and_the_full_validator_agree_on_sets(policy):
    for data in (app(marks=4), app(half=0.25), app(tranche=1001), app(tranche="2500"), app(half="1")):
        fast = policy.decide(data)
        full = policy.evaluate(data)
        assert fast.status == full.status
    assert policy.decide(app(half=0.25)).errors == (("half", "0.25 is not allowed: must be one of 0, 0.5 and 1"),)
    assert policy.decide(app(tranche=1001)).errors == (
        ("tranche", "€1,001.00 is not allowed: must be one of €1,000.00 and €2,500.00"),)


def test_a_default_must_be_in_the_set():
    diags = diagnostics(POLICY.replace("in {0, 0.5, 1} = 0", "in {0, 0.5, 1} = 0.7"))
    assert [d.code for d in diags if d.severity == "error"] == ["E123"]


def test_one_of_numbers_is_one_warning_and_the_number_set_it_means():
    text = POLICY.replace("int in {0, 3, 7}", "one of {0, 3, 7}")
    diags = diagnostics(text)
    assert [(d.code, d.severity) for d in diags] == [("W104", "warning")]
    assert diags[0].hint == "write `int in {0, 3, 7}`"
    p = load_policy(text, "sets.bando")
    assert p.decide(app()).score == 10
    assert p.decide(app(marks=4)).status == "invalid"


def test_one_of_amounts_and_decimals_suggest_their_type():
    for written, hint in (("{1_000 EUR, 2_500 EUR}", "write `money in {1000 EUR, 2500 EUR}`"),
                          ("{0, 0.5, 1}", "write `decimal in {0, 0.5, 1}`")):
        text = POLICY.replace("money in {1_000 EUR, 2_500 EUR}", f"one of {written}") if "EUR" in written \
            else POLICY.replace("decimal in {0, 0.5, 1}", f"one of {written}")
        diags = diagnostics(text)
        assert [d.code for d in diags] == ["W104"] and diags[0].hint == hint


def test_mixed_texts_and_numbers_is_one_error():
    text = POLICY.replace("int in {0, 3, 7}", 'one of {"a", 1}').replace("marks > 0", 'marks == "a"') \
        .replace("marks >= 7 -> 10\n    marks >= 3 -> 4\n", 'marks == "a" -> 10\n')
    with pytest.raises(Exception) as e:
        diagnostics(text)
    codes = [d.code for d in e.value.diagnostics]
    assert codes == ["E131"]


@pytest.mark.parametrize("written, code", [
    ("int in {0, 2.5}", "E132"),
    ("text in {1, 2}", "E132"),
    ("int in {1_000 EUR}", "E132"),
    ("int in {0, 5, 5.0}", "E133"),
])
def test_sets_that_do_not_fit_their_type(written, code):
    diags = diagnostics(POLICY.replace("int in {0, 3, 7}", written))
    assert [d.code for d in diags if d.severity == "error"] == [code]


@pytest.mark.parametrize("written, code", [
    ("money in {1_000, 2_500 EUR}", "E132"),
    ("money in {1_000 USD, 2_500 EUR}", "E132"),
])
def test_amount_sets_need_the_call_currency(written, code):
    diags = diagnostics(POLICY.replace("money in {1_000 EUR, 2_500 EUR}", written))
    assert [d.code for d in diags if d.severity == "error"] == [code]


def test_the_schema_gives_the_values_as_enum(policy):
    props = json_schema(policy)["properties"]
    assert props["marks"]["enum"] == [0, 3, 7] and "minimum" not in props["marks"]
    assert props["half"]["enum"] == [0, 0.5, 1]
    assert props["tranche"]["enum"] == [1000, 2500]


def test_fmt_round_trips_number_sets():
    text = POLICY.replace("int in {0, 3, 7}", "int in {-1, 3, 7,}")
    once = format_text(text, "p.bando")
    assert "int in {-1, 3, 7}" in once and "money in {1000 EUR, 2500 EUR}" in once
    assert format_text(once, "p.bando") == once
    kept = POLICY.replace("int in {0, 3, 7}", "one of {0, 3, 7}")
    assert "one of {0, 3, 7}" in format_text(kept, "p.bando")


NUMBERS = st.one_of(st.integers(-10**20, 10**20), st.decimals(allow_nan=False, allow_infinity=False, places=3),
                    st.floats(allow_nan=True, allow_infinity=True))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=NUMBERS, as_text=st.booleans())
def test_any_value_in_the_set_passes_any_other_number_is_refused(policy, value, as_text):
    raw = str(value) if as_text else (float(value) if isinstance(value, Decimal) else value)
    for field, allowed in (("marks", {0, 3, 7}), ("half", {0, Decimal("0.5"), 1}), ("tranche", {1000, 2500})):
        d = policy.decide(app(**{field: raw}))
        r = policy.evaluate(app(**{field: raw}))
        try:
            inside = Decimal(str(value)) in allowed
        except ArithmeticError:
            inside = False
        if field == "marks" and isinstance(raw, float) and inside:
            inside = True  # 7.0 is the whole number 7
        assert (d.status != "invalid") == inside, (field, raw)
        assert (r.status != "invalid") == inside, (field, raw)
        if not inside:
            assert [f for f, _ in d.errors] == [field]


@given(value=st.sampled_from([0, 3, 7]), half=st.sampled_from(["0", "0.5", "1", 0.5, 1]),
       tranche=st.sampled_from([1000, 2500, "1000", 2500.0]))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_value_of_the_sets_is_accepted(policy, value, half, tranche):
    assert policy.decide(app(marks=value, half=half, tranche=tranche)).status != "invalid"


def test_cli_eval_and_score_refuse_a_value_off_the_set(tmp_path):
    pol = tmp_path / "sets.bando"
    pol.write_text(POLICY, encoding="utf-8")
    (tmp_path / "a.json").write_text(json.dumps(app(marks=4)), encoding="utf-8")
    r = CliRunner().invoke(main, ["eval", str(pol), str(tmp_path / "a.json")])
    assert r.exit_code == 1
    assert "Voto della commissione: 4 non è ammesso: deve essere uno tra 0, 3 e 7" in r.output
    r = CliRunner().invoke(main, ["eval", str(pol), str(tmp_path / "a.json"), "--lang", "en"])
    assert "Panel mark: 4 is not allowed: must be one of 0, 3 and 7" in r.output
    batch = tmp_path / "batch.csv"
    batch.write_text('id,marks,half,tranche\nA,7,"0,5",2500\nB,4,"0,7",1001\n', encoding="utf-8")
    r = CliRunner().invoke(main, ["score", str(pol), str(batch), "-o", str(tmp_path / "out"), "--no-letters"])
    assert r.exit_code == 0, r.output
    errors = (tmp_path / "out" / "errors.csv").read_text(encoding="utf-8-sig").splitlines()
    assert errors[1:] == [
        "B;invalid;batch.csv:3;marks;Voto della commissione: 4 non è ammesso: deve essere uno tra 0, 3 e 7",
        # the list of decimals is joined by "; " (0,5 has a comma), so the CSV cell is quoted
        'B;invalid;batch.csv:3;half;"Mezzo punto: 0,7 non è ammesso: deve essere uno tra 0; 0,5 e 1"',
        "B;invalid;batch.csv:3;tranche;Tranche richiesta: € 1.001,00 non è ammesso: deve essere uno tra € 1.000,00 "
        "e € 2.500,00",
    ]


# --- the numbers a message quotes are written the way its language writes them ------------------------

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "sentences"
UPDATE = os.environ.get("BANDO_UPDATE_GOLDEN") == "1"

WIDE = HEADER + """
input {
  id: text
  points "Punti assegnati" en "Points given": int in {0, 5, 10, 1_000}
  half "Mezzo punto" en "Half point": decimal in {0.5, 1, 1.5}
  tranche "Tranche richiesta" en "Requested tranche": money in {1_000 EUR, 2_500 EUR, 10_000 EUR}
  only "Quota unica" en "Only share": decimal in {0.25}
  staff "Addetti" en "Staff": int in 0..100_000
  quality "Qualità" en "Quality": decimal in 0..10 step 0.5
}

eligibility {
  gate ok "Sempre" en "Always": points >= 0
}

grant = tranche
"""

WIDE_CASES = {
    "int": {"points": 1500},
    "decimal": {"half": 0.75},
    "money": {"tranche": 1234.5},
    "money_exact": {"tranche": "2500.005"},
    "one": {"only": 0.5},
    "range": {"staff": 123456},
    "step": {"quality": 2.25},
}


def _wide_app(**kw):
    data = {"id": "A", "points": 5, "half": 1, "tranche": 1000, "only": 0.25, "staff": 10, "quality": 2}
    data.update(kw)
    return data


@pytest.mark.parametrize("lang", ["it", "en"])
def test_number_messages_golden(tmp_path, lang):
    """Each value off its set (or range, or step) in turn, as ``bando eval`` writes it: 1.000, 0,5 and
    € 1.000,00 in Italian; 1,000, 0.5 and €1,000.00 in English."""
    pol = tmp_path / "sets.bando"
    pol.write_text(WIDE, encoding="utf-8")
    out = []
    for case, values in WIDE_CASES.items():
        f = tmp_path / f"{case}.json"
        f.write_text(json.dumps(_wide_app(**values)), encoding="utf-8")
        r = CliRunner().invoke(main, ["eval", str(pol), str(f), "--lang", lang])
        assert r.exit_code == 1, r.output
        out.append(f"== {case}\n" + "\n".join(line for line in r.output.splitlines()
                                               if line.startswith("  ")))
    actual = "\n".join(out) + "\n"
    path = GOLDEN / f"number_sets.{lang}.txt"
    if UPDATE:
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("lang, field, value, expected", [
    ("it", "points", 1500, "1.500 non è ammesso: deve essere uno tra 0, 5, 10 e 1.000"),
    ("en", "points", 1500, "1,500 is not allowed: must be one of 0, 5, 10 and 1,000"),
    ("it", "half", 0.75, "0,75 non è ammesso: deve essere uno tra 0,5; 1 e 1,5"),
    ("en", "half", 0.75, "0.75 is not allowed: must be one of 0.5, 1 and 1.5"),
    ("it", "tranche", 1234.5, "€ 1.234,50 non è ammesso: deve essere uno tra € 1.000,00; € 2.500,00 e € 10.000,00"),
    ("en", "tranche", 1234.5, "€1,234.50 is not allowed: must be one of €1,000.00, €2,500.00 and €10,000.00"),
    ("it", "only", 0.5, "0,5 non è ammesso: deve essere 0,25"),
    ("it", "staff", 123456, "123.456 è fuori dall'intervallo ammesso: atteso un numero intero tra 0 e 100.000"),
    ("en", "quality", 2.25, "2.25 is not allowed: values go in steps of 0.5"),
    ("it", "quality", 2.25, "2,25 non è ammesso: i valori vanno per multipli di 0,5"),
])
def test_number_messages_write_numbers_in_the_language(lang, field, value, expected):
    p = load_policy(WIDE, "wide.bando")
    errors = p.evaluate(_wide_app(**{field: value}), lang=lang).to_dict()["errors"]
    assert [e["field"] for e in errors] == [field]
    assert errors[0]["text"].endswith(": " + expected)
    # the machine message is the English text, on the fast path too
    english = p.evaluate(_wide_app(**{field: value}), lang="en").to_dict()["errors"][0]["text"]
    assert p.decide(_wide_app(**{field: value})).errors == ((field, english.split(": ", 1)[1]),)
