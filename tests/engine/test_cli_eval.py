"""``bando eval POLICY APPLICATION`` through click's CliRunner.

Exit codes (engine/cli.py): 0 when the application was evaluated (admitted,
below threshold, ineligible), 1 when the application is invalid or is not
JSON, 2 when the policy cannot be loaded or the command is misused. Never a
Python traceback.
"""
from __future__ import annotations

import json
import os
import re
from decimal import Decimal

import pytest
from click.testing import CliRunner

from engine.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, "benchmarks", "bench.bando")


def firm(i, **kw):
    f = {"vat_id": f"IT0000000000{i}", "employees": 12, "turnover_eur": 1_500_000.25, "sector": "C25",
         "region": "Puglia", "founded": 1999, "has_iso9001": True, "export_share": 0.4, "signed_pact": True}
    f.update(kw)
    return f


def application(**project):
    p = {"title": "Progetto", "requested_amount_eur": 50_000.5, "eligible_costs_eur": 120_000, "innovation_level": 4,
         "international_markets": 6, "months": 24, "partners_research": True, "women_led_share": 0.35}
    p.update(project)
    return {"id": "APP-1", "submitted_at": "2025-06-30T11:59:59",
            "network": {"name": "Rete Murgia", "contract_type": "rete-soggetto", "firms": [firm(i) for i in range(6)]},
            "project": p}


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()

    def invoke(*args, app=None, text=None, raw=None, policy=BENCH):
        path = tmp_path / "app.json"
        if app is not None:
            path.write_text(json.dumps(app), encoding="utf-8")
        elif text is not None:
            path.write_text(text, encoding="utf-8")
        elif raw is not None:
            path.write_bytes(raw)
        result = runner.invoke(main, ["eval", str(policy), str(path), *args])
        out = result.stdout + result.stderr
        assert "Traceback" not in out
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        return result

    return invoke


def test_text_output_of_an_admitted_application(run):
    r = run(app=application())
    assert r.exit_code == 0
    out = r.stdout
    assert out.startswith("Domanda APP-1 — Rete Murgia\nEsito: ammessa\n")
    assert "✓ Almeno 5 imprese" in out and "imprese in rete = 6, richiesto almeno 5" in out
    assert "Contributo: € 50.000,50 (richiesti € 50.000,50)" in out
    assert "Totale" in out and "(soglia 60)" in out
    assert r.stderr == ""


def test_text_output_in_english(run):
    r = run("--lang", "en", app=application())
    assert r.exit_code == 0
    assert r.stdout.startswith("Application APP-1 — Rete Murgia\nOutcome: admitted\n")
    assert "Grant: €50,000.50 (requested €50,000.50)" in r.stdout


def test_json_output(run):
    r = run("--format", "json", app=application(innovation_level=1))
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert d["application"] == "APP-1" and d["status"] in ("admitted", "below_threshold")
    assert d["language"] == "it" and d["currency"] == "EUR"
    assert isinstance(d["score"], int) and d["max_score"] == 100 and d["pass_score"] == 60
    assert d["requested"] == "50000.50"
    assert [g["id"] for g in d["gates"]][:2] == ["min_firms", "min_employees"]
    assert all(set(g) >= {"id", "label", "passed", "because", "values"} for g in d["gates"])
    assert all(set(c) >= {"id", "label", "points", "max", "because"} for c in d["criteria"])
    assert d["errors"] == [] and d["policy"]["name"].startswith("Reti d'impresa")
    # the JSON reads back to the exact amounts
    assert Decimal(d["requested"]) == Decimal("50000.5")


@pytest.mark.parametrize("project, status", [
    ({"innovation_level": 0, "international_markets": 0, "partners_research": False, "women_led_share": 0},
     "below_threshold"),
    ({"months": 40}, "ineligible"),
])
def test_evaluated_outcomes_exit_0(run, project, status):
    r = run("--format", "json", app=application(**project))
    assert r.exit_code == 0
    assert json.loads(r.stdout)["status"] == status


def test_ineligible_text_lists_the_failed_gate(run):
    r = run(app=application(months=40))
    assert r.exit_code == 0
    assert "Esito: non ammissibile" in r.stdout
    assert "✗ Durata tra 12 e 36 mesi" in r.stdout and "Durata (mesi) = 40, richiesto tra 12 e 36" in r.stdout


def test_invalid_application_exits_1_with_every_error(run):
    a = application()
    a["network"]["firms"][3]["employees"] = "dodici"
    del a["project"]["months"]
    r = run(app=a)
    assert r.exit_code == 1
    assert "Esito: dati non validi" in r.stdout
    # in the call's language, by the fields' labels; the item is named by its own data (issue 16)
    assert "✗ Impresa aderente n. 4 (IT00000000003), Addetti: atteso un numero intero, indicato «dodici»" in r.stdout
    assert "✗ project, Durata (mesi): dato obbligatorio mancante" in r.stdout
    r = run("--format", "json", app=a)
    assert r.exit_code == 1
    d = json.loads(r.stdout)
    assert d["status"] == "invalid" and d["score"] is None and d["grant"] is None
    assert {"field": "network.firms[3].employees", "message": 'expected a whole number, got "dodici"',
            "text": "Impresa aderente n. 4 (IT00000000003), Addetti: atteso un numero intero, indicato «dodici»"} \
        in d["errors"]


@pytest.mark.parametrize("text, where", [
    ('{"id": "x",\n  "network": [1, 2,,]}', ":2:20: invalid JSON: Expecting value"),
    ("", ":1:1: invalid JSON: Expecting value"),
    ('{"id": "x"', ":1:11: invalid JSON: Expecting ',' delimiter"),
])
def test_bad_json_exits_1_with_line_and_column(run, text, where):
    r = run(text=text)
    assert r.exit_code == 1
    assert r.stdout == ""
    assert re.search(r"app\.json" + re.escape(where), r.stderr), r.stderr


@pytest.mark.parametrize("text", ["[1, 2]", "42", "null", '"text"'])
def test_json_that_is_not_an_object_is_an_invalid_application(run, text):
    r = run(text=text)
    assert r.exit_code == 1
    assert "La domanda: attesi i dati della domanda come oggetto JSON, indicato" in r.stdout
    assert json.loads(run("--format", "json", text=text).stdout)["errors"][0]["message"].startswith(
        "expected an application object, got")


def test_numbers_in_the_json_stay_exact(run):
    a = application(requested_amount_eur=50_000.1, eligible_costs_eur=100_000.2)
    r = run("--format", "json", text=json.dumps(a))
    assert r.exit_code == 0 and json.loads(r.stdout)["grant"] == "50000.10"


def test_broken_policy_exits_2_with_its_position(run, tmp_path):
    bad = tmp_path / "broken.bando"
    bad.write_text('call "x" version "1" {\n  budget 10 EUR\n}\ninput { a: int }\neligibility { gate g: b > 1 }\n',
                   encoding="utf-8")
    r = run(app=application(), policy=bad)
    assert r.exit_code == 2
    assert "broken.bando:5:23: error[E707]: `b` is not defined" in r.stderr
    assert r.stdout == ""


def test_policy_syntax_error_exits_2(run, tmp_path):
    bad = tmp_path / "syntax.bando"
    bad.write_text('call "x" version "1" {\n  budget 10 EUR\n}\neligibility {\n', encoding="utf-8")
    r = run(app=application(), policy=bad)
    assert r.exit_code == 2 and "syntax.bando:" in r.stderr


def test_missing_files_exit_2(run, tmp_path):
    r = run(app=application(), policy=tmp_path / "nope.bando")
    assert r.exit_code == 2 and "policy file not found" in r.stderr
    r = CliRunner().invoke(main, ["eval", BENCH, str(tmp_path / "nope.json")])
    assert r.exit_code == 2 and "application file not found" in r.stderr and "Traceback" not in r.stderr


def test_application_not_utf8_exits_2(run):
    r = run(raw='{"id": "caffè"}'.encode("latin-1"))
    assert r.exit_code == 2 and "not UTF-8 text" in r.stderr


def test_usage_errors_exit_2(run):
    r = run("--format", "xml", app=application())
    assert r.exit_code == 2 and "is not one of 'text', 'json'" in r.stderr
    r = run("--lang", "fr", app=application())
    assert r.exit_code == 2


@pytest.mark.parametrize("text", [
    '{"id": ' + "[" * 100_000 + "]" * 100_000 + "}",   # nesting deeper than the JSON decoder's recursion
    '{"id": "x", "n": ' + "9" * 5000 + "}",            # an integer beyond Python's 4300-digit limit
])
def test_pathological_json_is_a_clean_error(run, text):
    r = run(text=text)
    assert r.exit_code == 1 and "invalid JSON" in r.stderr
