"""The CLI for the call designer: machine-readable check and test, coverage, fmt --diff, eval -,
the progress bar, shell completion, and the library's embedding surface (score_batch, py.typed)."""
from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import junitparser
import pytest
from click.testing import CliRunner

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
SALENTONET = ROOT / "policies" / "salentonet.bando"

POLICY = """call "Prova" version "1" { budget 1_000 EUR }
input { id: text  firms: int  innovation: int in 0..5  requested: money in 0..1_000_000  cost: money in 0..1_000_000 }
eligibility { gate min_firms "Imprese": firms >= 3 }
score max 10 pass 0 {
  criterion innovation "Innovazione" max 10 {
    innovation >= 4 -> 10
    innovation >= 2 -> 5
    otherwise -> 0
  }
}
grant = min(requested, 50% of cost)
requested = requested
ranking {
  order by score desc, firms desc
}
{examples}
"""
CASES = """examples {
  case "a.json" expect admitted grant 100 EUR
  case "b.json" expect admitted grant 500 EUR
}"""
APPS = {"a.json": {"id": "A", "firms": 3, "innovation": 5, "requested": 100, "cost": 1000},
        "b.json": {"id": "B", "firms": 4, "innovation": 5, "requested": 900, "cost": 1000}}


def write(tmp_path, examples=CASES, name="prova.bando"):
    p = tmp_path / name
    p.write_text(POLICY.replace("{examples}", examples), encoding="utf-8")
    for f, data in APPS.items():
        (tmp_path / f).write_text(json.dumps(data), encoding="utf-8")
    return p


def run(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


# --- bando check --format json ------------------------------------------------------------------

def test_check_json_gives_each_diagnostic_with_its_code_and_position(tmp_path):
    bad = tmp_path / "bad.bando"
    bad.write_text('call "P" version "1" { budget 1_000 EUR }\ninput { requested: money in 0..10_000 }\n'
                   'eligibility { gate cap "Tetto": requested <= 50000 }\n', encoding="utf-8")
    good = write(tmp_path)
    r = run("check", "--format", "json", bad, good)
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    first, second = doc["files"]
    assert (first["path"], first["ok"], second["ok"]) == (str(bad), False, True)
    [d] = first["diagnostics"]
    assert (d["code"], d["severity"], d["line"], d["column"]) == ("E710", "error", 3, 33)
    assert d["message"] == "cannot compare money with a number" and d["hint"] == "write `50_000 EUR`"
    assert doc["errors"] == 1 and doc["warnings"] == 0


def test_check_json_of_a_file_that_does_not_parse(tmp_path):
    bad = tmp_path / "bad.bando"
    bad.write_text('call "P" version "1" { budget 1_000 EUR\n', encoding="utf-8")
    r = run("check", "--format", "json", bad)
    assert r.exit_code == 1
    assert [d["code"] for d in json.loads(r.stdout)["files"][0]["diagnostics"]] == ["E002"]


def test_diagnostics_show_their_code_in_text():
    r = run("check", ROOT / "tests" / "golden" / "check" / "type_money_vs_number.bando")
    assert r.exit_code == 1 and "error[E710]: cannot compare money with a number" in r.stderr


def test_policy_error_repr_is_one_short_line(tmp_path):
    from dsl.errors import PolicyError
    from engine import load_policy
    import shutil
    shutil.copytree(ROOT / "policies" / "common", tmp_path / "common")  # the modules it uses
    big = tmp_path / "big.bando"
    text = SALENTONET.read_text(encoding="utf-8")
    big.write_text(text[:text.index("examples {")].replace("members >= 3", "members >= 3 EUR"), encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policy(big)
    e = info.value
    assert repr(e).startswith("PolicyError('E710 at ") and len(repr(e)) < 200
    assert "\n" not in repr(e) and "members >= 3 EUR" in str(e)  # str() is still the whole report


# --- bando test: json, junit, no examples, coverage -------------------------------------------------

def test_test_json_lists_every_case_with_its_differences(tmp_path):
    p = write(tmp_path, CASES.replace("grant 500 EUR", "grant 450 EUR"))
    r = run("test", "--format", "json", p)
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert (doc["passed"], doc["failed"]) == (1, 1)
    a, b = doc["policies"][0]["cases"]
    assert a["ok"] and a["differences"] == []
    assert not b["ok"] and b["differences"] == [{"what": "grant", "expected": "450", "got": "500"}]
    assert (b["line"], b["status"]) == (18, "admitted")


def test_test_junit_is_read_by_a_junit_reader_with_the_failure(tmp_path):
    p = write(tmp_path, CASES.replace("grant 500 EUR", "grant 450 EUR"))
    r = run("test", "--format", "junit", p)
    assert r.exit_code == 1
    root = ET.fromstring(r.stdout.encode("utf-8"))
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures")) == ("2", "1")
    [suite] = root
    assert suite.tag == "testsuite" and suite.get("name") == str(p)
    assert [c.tag for c in suite] == ["testcase", "testcase"]
    xml = junitparser.JUnitXml.fromstring(r.stdout)  # as CI systems read it
    [s] = list(xml)
    cases = list(s)
    assert [c.name for c in cases] == ["a.json", "b.json"] and cases[0].is_passed
    [failure] = cases[1].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "grant: expected 450, got 500"


def test_test_without_examples_says_so_and_fails(tmp_path):
    p = write(tmp_path, "")
    r = run("test", p)
    assert r.exit_code == 1
    assert "no examples" in r.stderr and "0 passed" not in r.output


def test_coverage_reports_what_no_example_exercises(tmp_path):
    p = write(tmp_path)
    r = run("test", "--coverage", p)
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert f"{p}: coverage 55% (5 of 9 rules and outcomes exercised)" in lines
    missing = [ln.strip() for ln in lines if ln.startswith("    ")]
    assert missing == [f"{p}:3:15: gate `min_firms` fails",
                       f"{p}:7:5: criterion `innovation`: band `innovation >= 2 -> 5`",
                       f"{p}:8:5: criterion `innovation`: band `otherwise -> 0`",
                       f"{p}:14:12: ranking: `score` decides the order of two examples"]
    assert lines[-1] == "2 passed, 0 failed"
    # a threshold above it fails the run, as `opa test --threshold` does
    assert run("test", "--coverage", "--threshold", "60", p).exit_code == 1


def test_coverage_counts_an_example_that_fails_a_gate(tmp_path):
    p = write(tmp_path, CASES[:-1] + '  case "c.json" expect ineligible failing min_firms\n}')
    (tmp_path / "c.json").write_text(json.dumps(dict(APPS["a.json"], id="C", firms=2)), encoding="utf-8")
    r = run("test", "--coverage", "--format", "json", p)
    cov = json.loads(r.stdout)["policies"][0]["coverage"]
    assert (cov["covered"], cov["targets"]) == (6, 9)
    assert "gate `min_firms` fails" not in [t["what"] for t in cov["not_covered"]]


def test_coverage_of_a_policy_without_examples_fails(tmp_path):
    with_cases, without = write(tmp_path), write(tmp_path, "", name="vuota.bando")
    r = run("test", "--coverage", with_cases, without)
    assert r.exit_code == 1
    assert f"{without}: coverage: no examples, nothing is exercised" in r.stdout
    assert run("test", with_cases, without).exit_code == 0  # without --coverage: named, not failed


def test_the_shipped_policies_are_covered_except_what_the_report_names():
    r = run("test", "--coverage", "--format", "json", *sorted((ROOT / "policies").glob("*.bando")))
    assert r.exit_code == 0
    for pol in json.loads(r.stdout)["policies"]:
        cov = pol["coverage"]
        assert cov["covered"] + len(cov["not_covered"]) == cov["targets"] and cov["targets"] > 20


# --- fmt --diff, eval - -------------------------------------------------------------------------------

def test_fmt_diff_prints_a_unified_diff_and_leaves_the_file(tmp_path):
    p = tmp_path / "p.bando"
    text = 'call "P" version "1" { budget 1_000 EUR }\ninput { firms: int }\neligibility { gate g "Imprese": firms>=3 }\n'
    p.write_text(text, encoding="utf-8")
    r = run("fmt", "--diff", p)
    assert r.exit_code == 1
    assert r.stdout.startswith(f"--- {p} (as written)\n+++ {p} (formatted)\n@@ ")
    assert "-eligibility { gate g \"Imprese\": firms>=3 }" in r.stdout
    assert p.read_text(encoding="utf-8") == text
    run("fmt", p)
    again = run("fmt", "--diff", p)
    assert (again.exit_code, again.stdout) == (0, "")


def test_eval_dash_reads_the_application_from_stdin(tmp_path):
    p = write(tmp_path)
    r = run("eval", p, "-", "--format", "json", input=json.dumps(APPS["b.json"]))
    assert r.exit_code == 0
    assert json.loads(r.stdout)["grant"] == "500.00"
    bad = run("eval", p, "-", input="{not json")
    assert bad.exit_code == 1 and bad.stderr.startswith("<stdin>:1:2: invalid JSON")


# --- progress bar ------------------------------------------------------------------------------------

def _on_a_terminal(args):
    """Run bando with its standard error on a pseudo-terminal, as in a shell; returns what it drew."""
    bando = Path(sys.executable).with_name("bando")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([str(bando), *map(str, args)], stdout=subprocess.PIPE, stderr=follower, cwd=ROOT)
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the other side closed
            break
        if not chunk:
            break
        drawn += chunk
    proc.wait()
    proc.stdout.close()
    os.close(leader)
    return proc.returncode, drawn.decode("utf-8", "replace")


def test_a_terminal_gets_a_bar_with_total_and_percentage(tmp_path):
    code, drawn = _on_a_terminal(["score", SALENTONET, ROOT / "examples" / "salentonet" / "batch.csv",
                                  "-o", tmp_path / "out", "--no-letters"])
    assert code == 0
    assert "Valutazione" in drawn  # first pass: the count so far (the total is not known yet)
    assert "Spiegazioni e lettere" in drawn and "500/500" in drawn and "100%" in drawn


def test_no_bar_in_a_pipe(tmp_path):
    r = run("score", SALENTONET, ROOT / "examples" / "salentonet" / "batch.csv", "-o", tmp_path / "out",
            "--no-letters")
    assert r.exit_code == 0
    assert "Valutazione" not in r.stderr and "%" not in r.stderr and "\r" not in r.stderr


def test_the_bar_shows_the_time_left_once_it_is_known():
    from engine.cli import _Bar, _progress_factory

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert _progress_factory(io.StringIO()) is None
    assert _progress_factory(Terminal()) is _Bar
    term = Terminal()
    bar = _Bar("Evaluating", 400)
    bar._bar.file, bar._bar._is_atty = term, True
    bar._bar.start -= 10  # as if the first half had taken ten seconds
    bar._bar.last_eta -= 10
    bar(200)
    drawn = term.getvalue()
    assert "200/400" in drawn and "50%" in drawn and "00:00:1" in drawn  # about ten seconds left
    bar.close()


# --- shell completion, py.typed, score_batch -------------------------------------------------------------

def test_bash_completion_script():
    r = CliRunner().invoke(main, [], prog_name="bando", env={"_BANDO_COMPLETE": "bash_source"})
    assert r.exit_code == 0
    assert "_bando_completion()" in r.stdout and "complete -o nosort -F _bando_completion bando" in r.stdout


def test_py_typed_markers_are_package_data():
    from importlib import resources
    assert resources.files("dsl").joinpath("py.typed").is_file()
    assert resources.files("engine").joinpath("py.typed").is_file()
    cfg = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    assert "dsl = *.lark, py.typed" in cfg and "py.typed" in cfg.split("engine =", 1)[1].split("\n", 1)[0]


def _statuses(folder):
    return [(d["application"], d["status"], d["grant"])
            for d in map(json.loads, (folder / "results.jsonl").read_text(encoding="utf-8").splitlines())]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_score_batch_from_a_text_stream_matches_the_file(tmp_path, kind):
    import engine
    apps = [dict(APPS["a.json"], id=f"A{i}", firms=2 + i % 3, innovation=i % 6) for i in range(12)]
    if kind == "jsonl":
        text = "".join(json.dumps(a) + "\n" for a in apps)
    else:
        text = "id,firms,innovation,requested,cost\n" + "".join(
            f"{a['id']},{a['firms']},{a['innovation']},{a['requested']},{a['cost']}\n" for a in apps)
    batch = tmp_path / f"batch.{kind}"
    batch.write_text(text, encoding="utf-8")
    p = write(tmp_path)
    from_file = engine.score_batch(p, batch, tmp_path / "file", letters=False)
    from_stream = engine.score_batch(p, io.StringIO(text), tmp_path / "stream", letters=False)
    assert from_stream.counts == from_file.counts and from_stream.results == 12
    assert _statuses(tmp_path / "stream") == _statuses(tmp_path / "file")
    named = io.BytesIO(text.encode("utf-8"))
    named.name = f"upload.{kind}"
    engine.score_batch(p, named, tmp_path / "named", letters=False, batch_format=kind)
    assert _statuses(tmp_path / "named") == _statuses(tmp_path / "file")


def test_score_batch_refuses_an_unknown_stream_format(tmp_path):
    import engine
    with pytest.raises(ValueError, match="batch_format: expected one of jsonl, json, csv"):
        engine.score_batch(write(tmp_path), io.StringIO(""), tmp_path / "o", batch_format="xlsx")
