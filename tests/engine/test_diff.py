"""bando diff and bando whatif: who moved between two runs, and why (issue 15).

The runs are the 28 hand-made SalentoNet applications scored under the shipped
policy and under a changed one: a gate made stricter (at least 4 firms), a
band worth more (4+ firms: 5 points instead of 3) and half the budget. Every
sentence is compared with a golden file in Italian and English.
"""
import csv
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.score import diff
from engine.cli import main
from engine.score.whatif import whatif
from golden_files import check_golden  # tests/engine is on sys.path (rootdir-less layout)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "diff"


def _changed_policy(text: str) -> str:
    for old, new in (("members >= 3\n", "members >= 4\n"), ("members >= 4 -> 3", "members >= 4 -> 5"),
                     ("budget 400_000 EUR", "budget 200_000 EUR")):
        assert old in text
        text = text.replace(old, new, 1)
    return text


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(folder, whatif result): the batch, both policies and the what-if output under one folder."""
    tmp = tmp_path_factory.mktemp("whatif")
    (tmp / ".bando-root").write_text("")  # the policies' examples are in ../examples, as in the repository
    shutil.copytree(ROOT / "policies" / "common", tmp / "policies" / "common")
    source = (ROOT / "policies" / "salentonet.bando").read_text("utf-8")
    (tmp / "policies" / "before.bando").write_text(source, encoding="utf-8")
    (tmp / "policies" / "after.bando").write_text(_changed_policy(source), encoding="utf-8")
    batch = tmp / "examples" / "salentonet"
    batch.mkdir(parents=True)
    for f in sorted((ROOT / "examples" / "salentonet").glob("SN-2013-0*.json")):
        shutil.copy(f, batch / f.name)
    cwd = os.getcwd()
    os.chdir(tmp)  # the diff names the folders as given: relative, so the golden text is the same anywhere
    try:
        w = whatif("policies/before.bando", "policies/after.bando", "examples/salentonet", "out")
    finally:
        os.chdir(cwd)
    return tmp, w


def _golden(name, text):
    check_golden(GOLDEN / name, text)


@pytest.mark.parametrize("lang", ["it", "en"])
def test_the_diff_says_who_moved_and_why_in_each_language(runs, lang):
    tmp, w = runs
    text = (tmp / "out" / "diff.txt").read_text("utf-8") if lang == "it" else diff.render_text(w.diff, lang)
    _golden(f"salentonet_whatif.{lang}.txt", text)


def test_reasons_are_the_facts_of_each_application(runs):
    _, w = runs
    changes = {c.application: c for c in w.diff.changes}
    kinds = {k for c in changes.values() for k in (r.kind for r in c.reasons)}
    assert {"gate_failed", "criterion", "budget", "line"} <= kinds
    for c in changes.values():
        for r in c.reasons:
            if r.kind == "gate_failed":  # the stricter gate: it failed now, and only for networks of 3
                assert r.id == "min_firms" and c.new.status == "ineligible" and c.old.status != "ineligible"
                assert dict((g[0], g[2]) for g in c.old.gates)["min_firms"] is True
            if r.kind == "criterion":  # the band worth more: 3 -> 5 points, exactly
                assert (r.id, r.old, r.new) == ("size", Decimal(3), Decimal(5))
                assert c.new.score - c.old.score == 2
            if r.kind == "budget":
                assert (r.old, r.new) == (Decimal("400000.00"), Decimal("200000.00"))
    # an application that did not change is not listed
    unchanged = w.diff.compared - len(changes)
    assert unchanged > 0 and w.diff.only_old == w.diff.only_new == 0


def test_a_run_compared_with_itself_has_no_difference_and_exits_0(runs):
    tmp, _ = runs
    result = CliRunner().invoke(main, ["diff", str(tmp / "out" / "before"), str(tmp / "out" / "before")])
    assert result.exit_code == 0, result.output
    assert "Nessuna differenza" in result.output
    assert diff.compare(tmp / "out" / "before", tmp / "out" / "before" / "results.jsonl").same


def test_the_cli_exits_1_on_differences_and_writes_csv_and_json(runs, tmp_path):
    tmp, w = runs
    before, after = str(tmp / "out" / "before"), str(tmp / "out" / "after")
    r = CliRunner().invoke(main, ["diff", before, after, "--lang", "en"])
    assert r.exit_code == 1
    assert r.output.splitlines()[1:] == diff.render_text(w.diff, "en").splitlines()[1:]  # the folders as given
    out = tmp_path / "d.csv"
    r = CliRunner().invoke(main, ["diff", before, after, "--format", "csv", "-o", str(out), "--csv-dialect", "it"])
    assert r.exit_code == 1, r.output
    rows = list(csv.reader(out.read_text("utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0][:3] == ["Domanda", "Soggetto richiedente", "Esito prima"]
    assert len(rows) - 1 == len(w.diff.changes)
    r = CliRunner().invoke(main, ["diff", before, after, "--format", "json"])
    data = json.loads(r.output)
    assert data["changed"] == len(w.diff.changes) and data["new"]["budget"] == "200000.00"
    assert all(reason["text"] for c in data["changes"] for reason in c["reasons"])
    written = json.loads((tmp / "out" / "diff.json").read_text("utf-8"))  # what whatif wrote: the same changes
    assert written["changes"] == data["changes"] and written["old"]["folder"] == "out/before"


def test_what_is_not_a_run_is_a_clear_error(tmp_path):
    r = CliRunner().invoke(main, ["diff", str(tmp_path), str(tmp_path)])
    assert r.exit_code == 2 and "no results.jsonl here" in r.output and "Traceback" not in r.output
    bad = tmp_path / "results.jsonl"
    bad.write_text('{"status": "funded"}\nnot json\n', encoding="utf-8")
    r = CliRunner().invoke(main, ["diff", str(tmp_path), str(tmp_path)])
    assert r.exit_code == 2 and "results.jsonl:2: not a result line" in r.output


def test_a_tampered_results_file_is_refused(runs, tmp_path):
    tmp, _ = runs
    copy = tmp_path / "before"
    shutil.copytree(tmp / "out" / "before", copy)
    lines = (copy / "results.jsonl").read_text("utf-8").replace('"funded"', '"not_funded"', 1)
    (copy / "results.jsonl").write_text(lines, encoding="utf-8")
    with pytest.raises(diff.DiffError, match="manifest"):
        diff.compare(copy, tmp / "out" / "after")


def test_an_application_in_one_run_only_is_listed_as_such(runs, tmp_path):
    tmp, _ = runs
    lines = (tmp / "out" / "after" / "results.jsonl").read_text("utf-8").splitlines(keepends=True)
    (tmp_path / "results.jsonl").write_text("".join(lines[1:]), encoding="utf-8")  # not a run: no manifest
    d = diff.compare(tmp / "out" / "after", tmp_path)
    assert d.only_old == 1 and d.only_new == 0
    gone = [c for c in d.changes if c.new is None]
    assert len(gone) == 1 and json.loads(lines[0])["application"] == gone[0].application
    assert "no longer in the later run" in diff.render_text(d, "en")


def test_quoted_sentences_stay_in_their_language(runs):
    # the Italian runs' own sentences are quoted in an Italian diff, never inside an English one
    _, w = runs
    english = diff.render_text(w.diff, "en")
    assert "richiesto" not in english and "Posizione" not in english
    assert "graduatoria: Posizione" in diff.render_text(w.diff, "it")


def test_the_report_lists_the_changes_at_the_top(runs):
    from engine.report.report import render_report
    tmp, w = runs
    after = tmp / "out" / "after"
    summary = json.loads((after / "summary.json").read_text("utf-8"))
    rows = [json.loads(line) for line in (after / "results.jsonl").read_text("utf-8").splitlines()]
    html = render_report(rows, summary, summary["call"], "it", rows=rows, changes=diff.describe(w.diff, "it"))
    section = html[html.index('<section id="changes">'):html.index('<section id="figures">')]
    assert "Cambiamenti rispetto ai risultati precedenti" in section and 'href="#changes"' in html
    assert section.count("<tr><td>") == len(w.diff.changes)
    assert "requisito ora non soddisfatto: Almeno 3 imprese in rete" in section
    plain = render_report(rows, summary, summary["call"], "it", rows=rows)
    assert 'id="changes"' not in plain


def test_score_compare_writes_the_diff_into_the_run_and_verify_repeats_it(runs):
    # bando score --compare OLD: the appeal re-run's own folder says who moved (diff.*, the report's section)
    from engine.score import audit
    tmp, _ = runs
    out = tmp / "compared"
    r = CliRunner().invoke(main, ["score", str(tmp / "policies" / "after.bando"), str(tmp / "examples" / "salentonet"),
                                  "-o", str(out), "--no-letters", "--compare", str(tmp / "out" / "before")])
    assert r.exit_code == 0, r.output
    written = (out / "diff.txt").read_text("utf-8").splitlines()
    whatif_text = (tmp / "out" / "diff.txt").read_text("utf-8").splitlines()
    assert written[0] == f"Confronto dei risultati: {tmp / 'out' / 'before'} → questa elaborazione"
    assert written[1:] == whatif_text[1:]  # the same comparison as bando whatif's
    assert 'id="changes"' in (out / "report.html").read_text("utf-8")
    assert audit.verify(out).ok  # the run compared with is a recorded input: the re-run writes the same diff


def test_score_compare_with_what_is_not_a_run_fails_before_scoring(runs, tmp_path):
    tmp, _ = runs
    r = CliRunner().invoke(main, ["score", str(tmp / "policies" / "after.bando"), str(tmp / "examples" / "salentonet"),
                                  "-o", str(tmp_path / "o"), "--compare", str(tmp_path)])
    assert r.exit_code == 2 and "no results.jsonl here" in r.output
    assert not (tmp_path / "o" / "results.jsonl").exists()  # nothing scored, nothing written
