"""Call parameters at run time: values given with --param (and by the API of load_policy), checked with
the parameter's type, written into the policy before it is compiled, stated at the head of every
explanation and recorded with the run (results.jsonl, summary.json, manifest.json: `bando verify`).

Golden files in ``tests/golden/params/``: one proposal of ``policies/horizon_evaluation.bando`` as a
RIA and as an IA, in Italian and English. After an intended change of wording::

    BANDO_UPDATE_GOLDEN=1 python -m pytest tests/engine/test_call_parameters_run.py
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsl.errors import PolicyError
from engine.cli import main
from engine.evaluate.policy import load_application, load_policy
from engine.explain.explain import render_text
from golden_files import check_golden  # tests/engine is on sys.path (rootdir-less layout)

REPO = Path(__file__).resolve().parents[2]
HORIZON = REPO / "policies" / "horizon_evaluation.bando"
EXAMPLES = REPO / "examples" / "horizon_evaluation"
GOLDEN = REPO / "tests" / "golden" / "params"


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def ria():
    return load_policy(HORIZON)


@pytest.fixture(scope="module")
def ia():
    return load_policy(HORIZON, params={"action": "IA"})


def _golden(name, text):
    check_golden(GOLDEN / name, text)


@pytest.mark.parametrize("action", ["RIA", "IA"])
@pytest.mark.parametrize("lang", ["it", "en"])
def test_explanations_state_the_values_golden(action, lang, ria, ia):
    policy = ia if action == "IA" else ria
    result = policy.evaluate(load_application(EXAMPLES / "HZ-2025-013.json"), lang=lang)
    _golden(f"HZ-2025-013.{action}.{lang}.txt", render_text(result, lang))
    _golden(f"HZ-2025-013.{action}.{lang}.json",
            json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str) + "\n")


def test_the_head_line_in_both_languages(ia):
    app = load_application(EXAMPLES / "HZ-2025-013.json")
    assert ia.evaluate(app, lang="it").parameters == \
        "Parametri del bando: tipo di azione IA; dotazione del topic € 40.000.000,00"
    assert ia.evaluate(app, lang="en").parameters == \
        "Call parameters: type of action IA; topic budget €40,000,000.00"


def test_the_values_change_the_rules_they_reach(ria, ia):
    app = load_application(EXAMPLES / "HZ-2025-013.json")
    r, i = ria.decide(app), ia.decide(app)
    assert r.score == i.score  # the score and its thresholds do not move
    assert i.ranking_score - r.ranking_score == app["evaluation"]["impact"] / 2  # impact × 1.5 for ranking in IA
    assert ia.evaluate(load_application(EXAMPLES / "HZ-2025-001.json")).status == "ineligible"  # 70% rate
    assert ria.call_info()["budget"] == "40000000.00"
    assert load_policy(HORIZON, params={"budget": "50_000_000 EUR"}).call_info()["budget"] == "50000000.00"


def test_a_policy_without_parameters_reads_as_before():
    policy = load_policy(REPO / "policies" / "salentonet.bando")
    assert policy.params == () and "params" not in policy.policy_info
    assert "parameters" not in policy.evaluate(load_application(REPO / "examples" / "salentonet" /
                                                                "SN-2013-001.json")).to_dict()


@pytest.mark.parametrize("given, code, words", [
    ({"acton": "IA"}, "E423", "did you mean `action`?"),
    ({"action": "XA"}, "E424", 'expected one of "IA", "RIA"'),
    ({"budget": "abc"}, "E424", "expected an amount in EUR"),
    ({"budget": "0"}, "E424", "expected a value in 1..1000000000"),
])
def test_bad_values_are_the_call_s_language_errors(given, code, words):
    with pytest.raises(PolicyError) as e:
        load_policy(HORIZON, params=given)
    text = e.value.render()
    assert f"error[{code}]" in text and words in text
    assert "horizon_evaluation.bando:" in text  # file:line:col of the parameter's declaration


def test_a_parameter_without_default_must_be_given(tmp_path):
    text = HORIZON.read_text(encoding="utf-8").replace('one of {"IA", "RIA"} = "RIA"', 'one of {"IA", "RIA"}')
    text = text[:text.index("# Example cases")]
    path = tmp_path / "h.bando"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as e:
        load_policy(path)
    assert "error[E425]" in e.value.render() and "--param action=" in e.value.render()
    assert load_policy(path, params={"action": "IA"}).param_values["action"] == "IA"
    result = _run("check", path)  # checking needs no value: the letters' dry run takes a stand-in
    assert result.exit_code == 0 and "error" not in result.output, result.output


def test_no_parameters_to_give():
    with pytest.raises(PolicyError) as e:
        load_policy(REPO / "policies" / "salentonet.bando", params={"action": "IA"})
    assert "E423" in e.value.render() and "declares no parameters" in e.value.render()


def test_cli_eval_refuses_an_unknown_parameter():
    result = _run("eval", HORIZON, EXAMPLES / "HZ-2025-013.json", "--param", "acton=IA")
    assert result.exit_code == 2
    assert "error[E423]" in result.output and "did you mean `action`?" in result.output
    result = _run("eval", HORIZON, EXAMPLES / "HZ-2025-013.json", "--param", "action")
    assert result.exit_code == 2 and "NAME=VALUE" in result.output


def test_cli_eval_states_the_values():
    result = _run("eval", HORIZON, EXAMPLES / "HZ-2025-013.json", "--param", "action=IA", "--lang", "it")
    assert result.exit_code == 0
    assert result.output.splitlines()[1] == "Parametri del bando: tipo di azione IA; dotazione del topic € 40.000.000,00"


def _tie_batch(tmp_path) -> Path:
    """Four proposals, eligible in both types of action, whose order tells the variants apart."""
    base = load_application(EXAMPLES / "HZ-2025-013.json")

    def proposal(pid, exc, imp, impl):
        a = json.loads(json.dumps(base, default=str))
        a["id"], a["project"]["acronym"] = pid, pid
        a["evaluation"] = {"excellence": exc, "impact": imp, "implementation": impl}
        a["project"]["amount_requested"] = 1_000_000  # one third of the cost: fits 70% and 100%
        return a
    apps = [proposal("A", 5, 4, 4), proposal("B", 4, 5, 3.5), proposal("C", 4.5, 4, 4), proposal("D", 4, 4.5, 4)]
    path = tmp_path / "ties.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in apps), encoding="utf-8")
    return path


def _order(outdir):
    text = (outdir / "ranking.csv").read_text(encoding="utf-8-sig")
    return [row["application"] for row in csv.DictReader(io.StringIO(text))]


def test_score_ranks_each_variant_by_its_own_rules(tmp_path):
    batch = _tie_batch(tmp_path)
    assert _run("score", HORIZON, batch, "-o", tmp_path / "ria", "--no-letters").exit_code == 0
    assert _run("score", HORIZON, batch, "-o", tmp_path / "ia", "--no-letters", "--param", "action=IA").exit_code == 0
    # RIA: A 13; C, B, D 12.5: excellence first (C 4.5), then impact (B 5 before D 4.5)
    assert _order(tmp_path / "ria") == ["A", "C", "B", "D"]
    # IA, ranking score with impact × 1.5: B 15, A 15 (impact first: B), D 14.75, C 14.5
    assert _order(tmp_path / "ia") == ["B", "A", "D", "C"]


def test_the_run_records_its_values_and_verify_repeats_them(tmp_path):
    batch = _tie_batch(tmp_path)
    out = tmp_path / "ia"
    assert _run("score", HORIZON, batch, "-o", out, "--no-letters", "--param", "action=IA").exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run"]["policy"]["params"] == {"action": "IA", "budget": "40000000"}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["policy"]["params"] == {"action": "IA", "budget": "40000000"}
    first = json.loads((out / "results.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert first["policy"]["params"]["action"] == "IA"
    assert first["parameters"].startswith("Call parameters: type of action IA")
    result = _run("verify", out)
    assert result.exit_code == 0, result.output


def test_same_values_same_bytes_across_jobs(tmp_path):
    batch = EXAMPLES / "batch.jsonl"
    for jobs in ("1", "2"):
        result = _run("score", HORIZON, batch, "-o", tmp_path / jobs, "--no-letters", "--param", "action=IA",
                      "--jobs", jobs)
        assert result.exit_code == 0, result.output
    for name in ("results.jsonl", "ranking.csv", "summary.json", "errors.csv", "report.html"):
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name


def test_report_and_letters_state_the_values(tmp_path):
    batch = _tie_batch(tmp_path)
    out = tmp_path / "ia"
    assert _run("score", HORIZON, batch, "-o", out, "--param", "action=IA", "--lang", "it").exit_code == 0
    line = "Parametri del bando: tipo di azione IA; dotazione del topic € 40.000.000,00"
    assert f'<p class="parameters">{line}</p>' in (out / "report.html").read_text(encoding="utf-8")
    letter = " ".join((out / "letters" / "A.txt").read_text(encoding="utf-8").split())
    assert line + "." in letter


def test_whatif_compares_two_editions_of_one_policy(tmp_path):
    batch = _tie_batch(tmp_path)
    out = tmp_path / "wi"
    result = _run("whatif", HORIZON, HORIZON, batch, "-o", out, "--param-after", "action=IA", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "Call parameters: action RIA → IA" in result.output
    data = json.loads((out / "diff.json").read_text(encoding="utf-8"))
    assert (data["old"]["policy"]["params"]["action"], data["new"]["policy"]["params"]["action"]) == ("RIA", "IA")
    assert _order(out / "after") == ["B", "A", "D", "C"]


def test_cases_evaluate_each_variant():
    result = _run("test", HORIZON)
    assert result.exit_code == 0, result.output
    policy = load_policy(HORIZON)
    with_ia = [c for c in policy.cases if dict(c.params).get("action") is not None]
    assert with_ia and policy.variant({"action": "IA"}) is policy.variant({"action": "IA"})


def test_scorrimento_keeps_the_edition_of_the_earlier_run(tmp_path):
    batch = _tie_batch(tmp_path)
    assert _run("score", HORIZON, batch, "-o", tmp_path / "ia", "--no-letters", "--param", "action=IA").exit_code == 0
    refused = _run("score", HORIZON, batch, "-o", tmp_path / "ria", "--no-letters", "--previous", tmp_path / "ia")
    assert refused.exit_code != 0 and "other values of the call's parameters" in refused.output
    again = _run("score", HORIZON, batch, "-o", tmp_path / "ia2", "--no-letters", "--param", "action=IA",
                 "--previous", tmp_path / "ia", "--budget", "50000000")
    assert again.exit_code == 0, again.output
