"""`bando score --previous/--withdrawn` from the command line: checked before anything is evaluated."""
from __future__ import annotations

import json

from click.testing import CliRunner

from engine.cli import main

from test_funding_line_golden import POLICY, app


def _setup(tmp_path, lang="en", budget=100):
    policy = tmp_path / "p.bando"
    policy.write_text(POLICY % dict(lang=lang, budget=budget, ranking="order by score desc", weight="",
                                    gap_label='"gap"'), encoding="utf-8")
    batch = tmp_path / "b.json"
    batch.write_text(json.dumps([app(1, 9, 9, 40), app(2, 8, 8, 40), app(3, 7, 7, 40)]), encoding="utf-8")
    return policy, batch


def _score(*args):
    return CliRunner().invoke(main, ["score", *map(str, args), "--no-letters"])


def test_previous_that_is_not_a_results_file_is_refused_before_evaluating(tmp_path):
    policy, batch = _setup(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("# not results\n", encoding="utf-8")
    res = _score(policy, batch, "-o", tmp_path / "o", "--previous", readme)
    assert res.exit_code == 2 and "not a line of a bando results.jsonl" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "o" / "results.jsonl").exists()


def test_a_smaller_budget_than_the_earlier_awards_is_refused(tmp_path):
    policy, batch = _setup(tmp_path)
    assert _score(policy, batch, "-o", tmp_path / "o").exit_code == 0
    res = _score(policy, batch, "-o", tmp_path / "o2", "--budget", "50", "--previous", tmp_path / "o" / "results.jsonl")
    assert res.exit_code == 2
    assert "below the €100.00 already awarded" in res.output and "never reduced" in res.output


def test_previous_run_of_another_policy_needs_the_override(tmp_path):
    policy, batch = _setup(tmp_path)
    assert _score(policy, batch, "-o", tmp_path / "o").exit_code == 0
    policy.write_text(policy.read_text(encoding="utf-8").replace("pass 5", "pass 6"), encoding="utf-8")
    prev = tmp_path / "o" / "results.jsonl"
    res = _score(policy, batch, "-o", tmp_path / "o2", "--previous", prev)
    assert res.exit_code == 2 and "another version of the policy" in res.output
    res = _score(policy, batch, "-o", tmp_path / "o2", "--previous", prev, "--allow-policy-change")
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "o2" / "summary.json").read_text(encoding="utf-8"))
    assert summary["allocation"]["previous_run"]["path"].endswith("results.jsonl")
    assert len(summary["allocation"]["previous_run"]["sha256"]) == 64


def test_closing_lines_speak_the_call_language(tmp_path):
    policy, batch = _setup(tmp_path, lang="it", budget=7_500_000)
    res = _score(policy, batch, "-o", tmp_path / "o")
    assert res.exit_code == 0
    assert "3 domande: 3 finanziate" in res.output
    assert "concessi € 120,00 su € 7.500.000,00" in res.output
    assert "granted" not in res.output and ".0000" not in res.output


def test_invalid_results_say_eligibility_not_assessed_and_unique_losers_carry_no_score(tmp_path):
    policy = tmp_path / "p.bando"
    policy.write_text(POLICY % dict(lang="en", budget=100, weight="", gap_label='"gap"',
                                    ranking="order by score desc\n  unique f.vat for f in firms keep best"),
                      encoding="utf-8")
    batch = tmp_path / "b.json"
    batch.write_text(json.dumps([app(1, 9, 9, 40, firms=("IT9",)), app(2, 8, 8, 40, firms=("IT9",)),
                                 {"id": "A-03", "quality": "ten"}]), encoding="utf-8")
    res = _score(policy, batch, "-o", tmp_path / "o")
    assert res.exit_code == 0, res.output
    rows = {json.loads(x)["application"]: json.loads(x)
            for x in (tmp_path / "o" / "results.jsonl").read_text(encoding="utf-8").splitlines()}
    loser = rows["A-02"]
    assert loser["status"] == "ineligible" and loser["score"] is None
    assert all(c["points"] is None for c in loser["criteria"])
