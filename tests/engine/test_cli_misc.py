"""End-to-end CLI tests: check (with letter templates), fmt, test, letters, schema."""
from __future__ import annotations

import json

from click.testing import CliRunner

from engine.cli import main

POLICY = """
call "Bando prova" version "1" {
  authority "Camera di Commercio"
  language it
  closes 2025-06-30 12:00
  budget 1_000 EUR
  %s
}

input {
  id: text
  firms: int
  requested: money
}

eligibility {
  gate min_firms "Almeno 3 imprese" en "At least 3 firms": firms >= 3
}

grant = requested
requested = requested

examples {
  case "ok.json" expect admitted grant 100 EUR
  case "ko.json" expect ineligible failing min_firms
}
"""


def write_policy(tmp_path, header_extra=""):
    p = tmp_path / "prova.bando"
    p.write_text(POLICY % header_extra, encoding="utf-8")
    (tmp_path / "ok.json").write_text(json.dumps({"id": "A1", "firms": 3, "requested": 100}))
    (tmp_path / "ko.json").write_text(json.dumps({"id": "A2", "firms": 2, "requested": 100}))
    return p


def test_check_reports_a_broken_letter_template_with_its_line(tmp_path):
    p = write_policy(tmp_path)
    tdir = tmp_path / "prova.letters"
    tdir.mkdir()
    (tdir / "funded.it.j2").write_text("Gentile {{ applicant }},\n{% if %}\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["check", str(p)])
    assert res.exit_code == 1
    assert "funded.it.j2" in res.output and ":2" in res.output
    assert "Traceback" not in res.output


def test_check_reports_a_misspelt_variable_before_the_batch(tmp_path):
    p = write_policy(tmp_path, 'templates "lettere"')
    tdir = tmp_path / "lettere"
    tdir.mkdir()
    (tdir / "ineligible.it.j2").write_text("Esito: {{ result.statuss }}\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["check", str(p)])
    assert res.exit_code == 1
    assert "ineligible.it.j2" in res.output


def test_check_clean_policy_passes_and_names_missing_templates_folder(tmp_path):
    p = write_policy(tmp_path)
    assert CliRunner().invoke(main, ["check", str(p)]).exit_code == 0
    p2 = write_policy(tmp_path, 'templates "manca"')
    res = CliRunner().invoke(main, ["check", str(p2)])
    assert res.exit_code == 1 and "manca" in res.output


def test_bando_test_prints_passed_and_failed(tmp_path):
    p = write_policy(tmp_path)
    res = CliRunner().invoke(main, ["test", str(p)])
    assert res.exit_code == 0, res.output
    assert res.output.strip().endswith("2 passed, 0 failed")
    (tmp_path / "ko.json").write_text(json.dumps({"id": "A2", "firms": 5, "requested": 100}))
    res = CliRunner().invoke(main, ["test", str(p)])
    assert res.exit_code == 1
    assert "expected ineligible, got admitted" in res.output
    assert "1 passed, 1 failed" in res.output


def test_fmt_check_lists_files_that_would_change(tmp_path):
    p = write_policy(tmp_path)
    res = CliRunner().invoke(main, ["fmt", "--check", str(p)])
    assert res.exit_code == 1 and "would reformat" in res.output
    assert CliRunner().invoke(main, ["fmt", str(p)]).exit_code == 0
    assert CliRunner().invoke(main, ["fmt", "--check", str(p)]).exit_code == 0


def test_letters_from_results(tmp_path):
    p = write_policy(tmp_path)
    batch = tmp_path / "b.json"
    batch.write_text(json.dumps([{"id": "A1", "firms": 3, "requested": 100},
                                 {"id": "../../x", "firms": 1, "requested": 100}]))
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["score", str(p), str(batch), "-o", str(out), "--no-letters"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["letters", str(p), str(out / "results.jsonl"), "-o", str(tmp_path / "lt"),
                                    "--format", "html", "--date", "2025-07-15"])
    assert res.exit_code == 0, res.output
    files = sorted(f.name for f in (tmp_path / "lt").iterdir() if f.name != "manifest.json")  # the run's list
    assert len(files) == 2 and all(f.endswith(".html") for f in files)
    assert not (tmp_path / "x.html").exists()
    texts = [(tmp_path / "lt" / f).read_text(encoding="utf-8") for f in files]
    assert any("15 luglio 2025" in t for t in texts)


def test_schema_is_json(tmp_path):
    p = write_policy(tmp_path)
    res = CliRunner().invoke(main, ["schema", str(p)])
    schema = json.loads(res.output)
    assert schema["properties"]["firms"]["type"] == "integer"
    assert "requested" in schema["required"]
