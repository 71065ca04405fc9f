"""The evaluation panel: the `panel` block, the judge of one application's marks (engine/evaluate/panel.py),
their words (engine/explain/marks.py), the stages (engine/evaluate/stages.py) and a batch run with the
panel's marks sheet (engine/score/marks_io.py, engine/score/stage.py), on the shipped example
policies/distretto_commissione.bando with examples/distretto_commissione/.

Golden files: tests/golden/panel/<case>.<lang>.txt (regenerate with BANDO_UPDATE_GOLDEN=1).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from dsl.fmt import format_text
from engine import load_policy
from engine.evaluate import panel
from engine.explain.explain import render_text
from engine.score.batch import score_batch
from engine.score.marks_io import MarksError, read_marks

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "distretto_commissione.bando"
EXAMPLE = ROOT / "examples" / "distretto_commissione"
GOLDEN = ROOT / "tests" / "golden" / "panel"
CASES = EXAMPLE


@pytest.fixture(scope="module")
def policy():
    return load_policy(POLICY)


def case(name):
    return json.loads((CASES / f"{name}.json").read_text(encoding="utf-8"))


def rules(policy, mid="innovation"):
    return {mid: policy.marks[mid]}


def given_marks(*marks, mid="innovation"):
    return [{"evaluator": f"E{i}", "criterion": mid, "mark": m} for i, m in enumerate(marks, 1)]


# --- the judge ------------------------------------------------------------------------------------

def test_median_of_three_within_the_spread(policy):
    out = panel.judge(rules(policy), given_marks(4, "4,5", 3))
    m = out.marks[0]
    assert out.complete and m.value == Decimal("4") and m.spread == Decimal("1.5")


def test_too_far_apart_needs_a_consensus_and_a_consensus_row_settles_it(policy):
    far = given_marks(4, 4, "1,5")
    assert panel.judge(rules(policy), far).status == "needs_consensus"
    agreed = far + [{"evaluator": "consenso", "criterion": "innovation", "mark": "3,5"}]
    out = panel.judge(rules(policy), agreed)
    assert out.complete and out.marks[0].value == Decimal("3.5") and out.marks[0].consensus is not None


def test_a_conflicted_evaluator_never_counts(policy):
    rows = given_marks(4, 5, 4)
    rows[1]["conflict"] = True
    out = panel.judge(rules(policy), rows)
    assert out.status == "awaiting_evaluation"  # two marks that count, three required
    rows.append({"evaluator": "E4", "criterion": "innovation", "mark": 3})
    out = panel.judge(rules(policy), rows)
    assert out.complete and out.marks[0].value == Decimal("4")
    assert [g.evaluator for g in out.marks[0].excluded] == ["E2"]


@pytest.mark.parametrize("bad, kind", [("3,25", "off_step"), ("6", "off_scale"), ("tre", "not_a_number")])
def test_an_invalid_mark_names_the_mark_and_the_evaluator(policy, bad, kind):
    out = panel.judge(rules(policy), given_marks(4, bad, 4))
    assert out.status == "evaluation_invalid"
    assert out.marks[0].problem.kind == kind and out.marks[0].problem.given.evaluator == "E2"


def test_the_same_evaluator_twice_is_invalid(policy):
    rows = given_marks(4, 4, 4) + [{"evaluator": "E1", "criterion": "innovation", "mark": 3}]
    assert panel.judge(rules(policy), rows).marks[0].problem.kind == "twice"


@pytest.mark.parametrize("rule, marks, expected", [
    ("mean", ["4", "4.5", "3"], Decimal("3.833333333333333333333333333")),
    ("median", ["4", "4.5", "3", "5"], Decimal("4.25")),
    ("trimmed mean", ["1", "4", "4.5", "5"], Decimal("4.25")),
])
def test_combination_rules(rule, marks, expected):
    assert panel.combine(rule, [Decimal(m) for m in marks]).quantize(Decimal("1e-27")) == \
        expected.quantize(Decimal("1e-27"))


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=5), st.lists(st.one_of(
    st.dictionaries(st.sampled_from(["evaluator", "criterion", "mark", "conflict", "consensus"]),
                    st.one_of(st.none(), st.booleans(), st.integers(-10, 10), st.floats(allow_nan=True),
                              st.text(max_size=6), st.sampled_from(["quality", "innovation", "consenso"]))),
    st.integers(), st.text(max_size=3)), max_size=12),
    st.dictionaries(st.text(max_size=8), st.one_of(st.text(max_size=3), st.dictionaries(
        st.text(max_size=3), st.one_of(st.integers(-3, 9), st.text(max_size=4)), max_size=4)), max_size=3)))
def test_any_marks_value_is_judged_without_raising(policy, marks):
    data = dict(case("valutata"), marks=marks)
    r = policy.evaluate(data)
    assert r.status in ("admitted", "awaiting_evaluation", "needs_consensus", "evaluation_invalid")
    text = json.dumps(r.to_dict(), ensure_ascii=False)
    assert not re.search(r"\bNone\b", render_text(r) + text) and not re.search(r"\bnan\b", text, re.I)


# --- results and their words --------------------------------------------------------------------

@pytest.mark.parametrize("name", ["valutata", "in_attesa", "scarto", "consenso", "conflitto", "voto_errato"])
@pytest.mark.parametrize("lang", ["it", "en"])
def test_golden_explanations(policy, name, lang):
    r = policy.evaluate(case(name), lang=lang)
    d = r.to_dict()
    # the office's text, then what a letter may say of each mark (no evaluator named)
    text = render_text(r, lang) + "\n" + "\n".join(f"{e['label']}: {e['because_anonymous']}"
                                                     for e in d["evaluation"]) + "\n"
    path = GOLDEN / f"{name}.{lang}.txt"
    if os.environ.get("BANDO_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_admissibility_is_kept_whatever_the_marks(policy):
    wrong = policy.evaluate(case("voto_errato"), lang="en")
    assert wrong.status == "evaluation_invalid" and wrong.gates and all(g.passed for g in wrong.gates)
    assert wrong.score is None and wrong.grant is None
    assert "3.25" in wrong.summary and "E2" in wrong.summary
    out = policy.evaluate(case("non_ammissibile"), lang="en")
    assert out.status == "ineligible" and [g.id for g in out.gates if not g.passed] == ["ati_third"]


def test_a_criterion_whose_marks_are_in_is_scored_the_others_wait(policy):
    r = policy.evaluate(case("in_attesa"), lang="en")  # innovation lacks E3's mark
    points = {c.id: c.points for c in r.criteria}
    assert points["innovation"] is None and points["quality"] == 24 and points["involvement"] == 14
    assert r.status == "awaiting_evaluation" and "Innovation (mark)" in r.summary


def test_letters_never_name_the_evaluators(policy):
    d = policy.evaluate(case("conflitto"), lang="it").to_dict()
    assert all("E2" not in e["because_anonymous"] and "E4" not in e["because_anonymous"] for e in d["evaluation"])
    assert any("E2" in e["because"] for e in d["evaluation"])


def test_a_policy_without_a_panel_has_no_evaluation_key():
    d = load_policy(ROOT / "policies" / "distretto_progetti.bando").evaluate(
        json.loads((ROOT / "examples/distretto_progetti/PSV-2026-001.json").read_text()))
    assert "evaluation" not in d.to_dict()


def test_the_panel_block_round_trips_through_fmt():
    text = POLICY.read_text(encoding="utf-8")
    once = format_text(text)
    assert "  mark innovation \"Contenuto innovativo (voto)\" en \"Innovation (mark)\"" in once
    assert format_text(once) == once


# --- the marks sheet and the stages of a run ----------------------------------------------------

def test_long_and_wide_sheets_read_the_same_marks(policy):
    from engine.score.stage import labels
    long = read_marks(EXAMPLE / "voti.csv", labels(policy))
    wide = read_marks(EXAMPLE / "voti_largo.xlsx", labels(policy))
    key = lambda r: (r.application, r.evaluator, r.criterion, r.mark, r.conflict, r.consensus)  # noqa: E731
    assert long.layout == "long" and wide.layout == "wide"
    assert sorted(map(key, long.rows)) == sorted(map(key, wide.rows)) and len(long.rows) == 364


@pytest.mark.parametrize("content, name, msg", [
    ("x;y\n1;2\n", "voti.csv", "no header"),
    ("", "voti.csv", "empty"),
    ("a", "voti.txt", ".csv or .xlsx"),
    ("PK\x03\x04garbage", "voti.xlsx", "not a readable xlsx"),
])
def test_a_sheet_that_cannot_be_read_is_a_clear_error(tmp_path, policy, content, name, msg):
    from engine.score.stage import labels
    p = tmp_path / name
    p.write_text(content, encoding="utf-8")
    with pytest.raises(MarksError) as e:
        read_marks(p, labels(policy))
    assert msg in str(e.value)


def test_sheet_problems_are_named_with_the_row(tmp_path, policy):
    from engine.score.stage import labels
    p = tmp_path / "voti.csv"
    p.write_text("domanda;valutatore;criterio;voto;conflitto\nA-1;E1;inovation;4;\n;E1;quality;4;\nA-1;E2;quality;4;forse\n",
                 encoding="utf-8")
    read = read_marks(p, labels(policy), lang="it")
    from engine.text import i18n
    texts = [i18n.render(m, "it") for m in read.problems]
    assert texts[0].startswith("voti.csv:2: «inovation» non è un voto della commissione") and "innovation" in texts[0]
    assert texts[1] == "voti.csv:3: la riga non indica la domanda: non letta"
    assert "«forse»" in texts[2]


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_as_a_sheet_raise_only_a_marks_error(tmp_path_factory, policy, data):
    from engine.score.stage import labels
    p = tmp_path_factory.mktemp("h") / "voti.csv"
    p.write_bytes(data)
    try:
        read_marks(p, labels(policy))
    except MarksError:
        pass


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def test_admissibility_then_evaluation_from_the_cli(tmp_path):
    first = _run("score", POLICY, EXAMPLE / "domande.csv", "-o", tmp_path / "a", "--no-letters")
    assert first.returncode == 0, first.stderr
    assert "Solo ammissibilità" in first.stdout and "38 in attesa di valutazione" in first.stdout
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["stage"]["stage"] == "admissibility" and summary["stage"]["pending"]["awaiting_evaluation"] == 38
    panel_list = (tmp_path / "a" / "panel.csv").read_text(encoding="utf-8-sig").splitlines()
    assert panel_list[0] == "domanda;proponente;stato" and len(panel_list) == 39
    template = (tmp_path / "a" / "marks_template.csv").read_text(encoding="utf-8-sig").splitlines()
    assert template[0] == "domanda;valutatore;conflitto;quality;innovation;sustainability" and len(template) == 1 + 38 * 3
    second = _run("score", POLICY, EXAMPLE / "domande.csv", "--marks", EXAMPLE / "voti.csv", "-o", tmp_path / "b",
                  "--no-letters")
    assert second.returncode == 0, second.stderr
    assert "17 finanziate" in second.stdout
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["run"]["inputs"]["marks"]["path"].endswith("voti.csv")
    verify = _run("verify", tmp_path / "b")
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_provisional_ranking_allocates_nothing(tmp_path):
    rows = (EXAMPLE / "voti.csv").read_text(encoding="utf-8-sig").splitlines()
    kept = [r for r in rows if not r.startswith("PSV-2026-B0002;E3;")]  # one expert has not marked B0002 yet
    (tmp_path / "voti.csv").write_text("\n".join(kept) + "\n", encoding="utf-8")
    s = score_batch(POLICY, EXAMPLE / "domande.csv", tmp_path / "out", marks=tmp_path / "voti.csv", letters=False)
    assert s.counts.get("awaiting_evaluation") == 1 and s.granted == 0 and "funded" not in s.counts
    results = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    ranked = [r for r in results if r["status"] == "admitted"]
    assert ranked and all(r["rank"] and "provvisoria" in r["placement"]["because"] for r in ranked)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["stage"]["provisional"] is True


def test_jobs_do_not_change_a_run_with_marks(tmp_path):
    for jobs in (1, 2):
        score_batch(POLICY, EXAMPLE / "domande.csv", tmp_path / f"j{jobs}", marks=EXAMPLE / "voti.csv",
                    letters=False, jobs=jobs)
    for name in ("results.jsonl", "ranking.csv", "summary.json"):
        assert (tmp_path / "j1" / name).read_bytes() == (tmp_path / "j2" / name).read_bytes(), name


def test_marks_for_a_call_without_a_panel_are_refused(tmp_path):
    r = _run("score", ROOT / "policies" / "distretto_progetti.bando", ROOT / "examples/distretto_progetti/batch.csv",
             "--marks", EXAMPLE / "voti.csv", "-o", tmp_path / "x", "--no-letters")
    assert r.returncode != 0 and "non prevede una commissione" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("fmt", ["txt", "md", "html"])
def test_a_letter_gives_the_panels_marks_without_naming_anyone(tmp_path, fmt):
    s = score_batch(POLICY, EXAMPLE / "domande.csv", tmp_path / "out", marks=EXAMPLE / "voti.csv", letter_format=fmt)
    assert s.counts["funded"] == 17
    letter = (tmp_path / "out" / "letters" / f"PSV-2026-B0007.{fmt}").read_text(encoding="utf-8")
    assert "Voti della commissione di valutazione" in letter
    assert "tre esperti: 4; 4,5; 4,5 → mediana 4,5" in " ".join(letter.split())
    assert "escluso un voto per conflitto di interessi" in " ".join(letter.split())
    assert not re.search(r"\bE[1-4]\b", letter)  # no evaluator is named to the applicant


@pytest.mark.parametrize("written", ["50%", "€ 4", "4,5,1", "tre", "1e1"])
def test_what_is_not_a_bare_number_is_not_a_mark(tmp_path, policy, written):
    from engine.score.stage import labels
    p = tmp_path / "voti.csv"
    p.write_text(f"domanda;valutatore;criterio;voto\nA-1;E1;quality;{written}\n", encoding="utf-8")
    row = read_marks(p, labels(policy)).rows[0]
    assert row.mark is None and row.text == written
    out = panel.judge(rules(policy, "quality"), [row.as_given()])
    assert out.status == "evaluation_invalid" and out.marks[0].problem.kind == "not_a_number"


def test_whatif_with_the_panels_marks_shows_what_a_stricter_spread_does(tmp_path):
    """The call designer's what-if on a panel rule: the same marks under a 0.5-point spread send most
    applications to a consensus meeting, and with them pending nothing is allocated."""
    import shutil
    (tmp_path / "policies").mkdir()  # a copy of the call with its examples: the policy names them
    (tmp_path / ".bando-root").write_text("", encoding="utf-8")  # the tree they stay in, as the repository's
    shutil.copytree(EXAMPLE, tmp_path / "examples" / EXAMPLE.name)
    strict = tmp_path / "policies" / "strict.bando"
    strict.write_text(POLICY.read_text(encoding="utf-8").replace("spread at most 2", "spread at most 0.5"),
                      encoding="utf-8")
    r = _run("whatif", POLICY, strict, EXAMPLE / "domande.csv", "--marks", EXAMPLE / "voti.csv",
             "-o", tmp_path / "w")
    assert r.returncode == 0, r.stderr
    after = [json.loads(x) for x in (tmp_path / "w" / "after" / "results.jsonl").read_text().splitlines()]
    statuses = {d["status"] for d in after}
    assert "needs_consensus" in statuses and "funded" not in statuses
    assert "esito: finanziata → ammessa" in (tmp_path / "w" / "diff.txt").read_text(encoding="utf-8")
