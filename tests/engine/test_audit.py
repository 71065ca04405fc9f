"""The run record in manifest.json and `bando verify` (issue 15: an audit trail)."""
from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from engine import score_batch
from engine.score import audit
from engine.cli import main

POLICY = """
call "Bando prova" version "1" {
  authority "Camera di Commercio di Varese"
  language it
  closes 2025-06-30 12:00
  budget 100 EUR
}

input {
  id: text
  name: text
  quality: int in 0..10
  requested: money
}

eligibility {
  gate named "Denominazione indicata" en "Name given": length(name) > 0
}

score max 10 pass 3 {
  criterion quality "Qualità" en "Quality" max 10 = quality
}

grant = requested
requested = requested
applicant = name

ranking {
  order by score desc
  shortfall partial
}
"""

ROWS = "id;name;quality;requested\nA-1;Alfa;9;60\nA-2;Beta;7;50\nA-3;Gamma;2;10\nA-4;Delta;5;30\n"


@pytest.fixture
def run(tmp_path):
    (tmp_path / "p.bando").write_text(POLICY, encoding="utf-8")
    (tmp_path / "batch.csv").write_text(ROWS, encoding="utf-8")
    out = tmp_path / "out"
    r = CliRunner().invoke(main, ["score", str(tmp_path / "p.bando"), str(tmp_path / "batch.csv"), "-o", str(out),
                                  "--budget", "90"])
    assert r.exit_code == 0, r.output
    return tmp_path, out


def test_the_manifest_records_what_the_run_read_and_how(run):
    tmp, out = run
    record = json.loads((out / "manifest.json").read_text("utf-8"))["run"]
    assert record["policy"]["name"] == "Bando prova" and len(record["policy"]["sha256"]) == 64
    assert list(record["policy"]["files"]) == [str(tmp / "p.bando")]
    assert list(record["inputs"]["batch"]["files"]) == [str(tmp / "batch.csv")]
    assert record["options"]["budget"] == "90" and record["options"]["letters"] is True
    assert record["language"] == "it" and record["time"].endswith("+00:00")


def test_two_runs_record_the_same_but_for_the_time(run, tmp_path):
    tmp, out = run
    again = tmp_path / "again"
    r = CliRunner().invoke(main, ["score", str(tmp / "p.bando"), str(tmp / "batch.csv"), "-o", str(again),
                                  "--budget", "90", "--jobs", "2"])
    assert r.exit_code == 0, r.output
    first, second = (json.loads((d / "manifest.json").read_text("utf-8")) for d in (out, again))
    first["run"].pop("time"), second["run"].pop("time")
    assert first == second  # --jobs changes no outcome, so it is not an option of the record


def test_verify_repeats_the_run_and_finds_it_identical(run):
    _, out = run
    r = CliRunner().invoke(main, ["verify", str(out)])
    assert r.exit_code == 0, r.output
    assert "verificata:" in r.output and "file identici a una nuova elaborazione" in r.output


def test_an_output_edited_after_the_run_is_named(run):
    _, out = run
    with open(out / "ranking.csv", "a", encoding="utf-8") as f:
        f.write("A-9;Zeta;;;;\n")
    r = CliRunner().invoke(main, ["verify", str(out), "--lang", "en"])
    assert r.exit_code == 1
    assert r.output.startswith(f"{out}: not verified: ranking.csv: the file in {out} is not the one the run wrote")


def test_a_changed_input_is_named_before_anything_is_scored(run):
    tmp, out = run
    (tmp / "batch.csv").write_text(ROWS.replace("A-2;Beta;7", "A-2;Beta;8"), encoding="utf-8")
    r = CliRunner().invoke(main, ["verify", str(out)])
    assert r.exit_code == 1
    assert f"il file delle domande {tmp / 'batch.csv'} è cambiato dopo l'elaborazione" in r.output


def test_a_changed_policy_is_named(run):
    tmp, out = run
    (tmp / "p.bando").write_text(POLICY.replace("pass 3", "pass 4"), encoding="utf-8")
    v = audit.verify(out)
    assert not v.ok and "the policy file" in str(v.differences[0]) and str(tmp / "p.bando") in str(v.differences[0])


def test_a_run_from_a_stream_cannot_be_repeated_and_says_why(tmp_path):
    (tmp_path / "p.bando").write_text(POLICY, encoding="utf-8")
    out = tmp_path / "out"
    score_batch(str(tmp_path / "p.bando"), io.StringIO(ROWS.replace(";", ",")), out, batch_format="csv",
                letters=False)
    record = json.loads((out / "manifest.json").read_text("utf-8"))["run"]
    assert record["inputs"]["batch"]["stream"] is True and list(record["inputs"]["batch"]["files"]) == ["<stream>"]
    r = CliRunner().invoke(main, ["verify", str(out)])
    assert r.exit_code == 2 and "flusso di dati" in r.output and "Traceback" not in r.output


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path):
    r = CliRunner().invoke(main, ["verify", str(tmp_path), "--lang", "en"])
    assert r.exit_code == 2 and "no manifest.json" in r.output


def test_letters_in_another_language_are_written_from_the_run_repeated_in_it(run, tmp_path):
    # issue 16: Italian results, English letters: not an English frame around Italian reasons,
    # but the recorded run repeated in English, whose outcomes must be those of the Italian one
    tmp, out = run
    letters = tmp_path / "en"
    r = CliRunner().invoke(main, ["letters", str(tmp / "p.bando"), str(out / "results.jsonl"), "-o", str(letters),
                                  "--lang", "en"])
    assert r.exit_code == 0, r.output
    assert "written from a new run of the same inputs in this language" in r.output
    text = (letters / "A-2.txt").read_text("utf-8")
    assert "Dear Sir or Madam" in text and "Quality" in text
    for italian in ("Gentile", "Qualità", "punti", "graduatoria", "domanda"):
        assert italian not in text, italian
    italian_letter = (out / "letters" / "A-2.txt").read_text("utf-8")
    assert "Qualità" in italian_letter  # the run's own letters stay as they were


def test_letters_in_another_language_refuse_when_an_input_changed(run, tmp_path):
    tmp, out = run
    (tmp / "batch.csv").write_text(ROWS.replace("Beta", "Beta bis"), encoding="utf-8")
    r = CliRunner().invoke(main, ["letters", str(tmp / "p.bando"), str(out / "results.jsonl"), "-o",
                                  str(tmp_path / "en"), "--lang", "en"])
    assert r.exit_code == 2 and "the letters cannot be written in this language" in r.output
    assert "the applications file" in r.output and not (tmp_path / "en").exists()


def test_each_result_carries_the_hash_of_its_own_input_row(tmp_path):
    """An outcome is tied to exactly what was submitted: the SHA-256 of the row as read (canonical JSON);
    correcting one application changes its hash and no other."""
    import hashlib as _hashlib
    import json as _json
    from pathlib import Path as _Path
    from engine.score.batch import row_sha256, score_batch as _score
    root = _Path(__file__).resolve().parents[2]
    lines = (root / "examples/salentonet/batch.jsonl").read_text(encoding="utf-8").splitlines()[:12]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    changed = _json.loads(lines[3])
    changed["network"]["name"] = changed["network"]["name"] + " (corretta)"
    (tmp_path / "b.jsonl").write_text("\n".join(lines[:3] + [_json.dumps(changed)] + lines[4:]) + "\n", encoding="utf-8")
    hashes = {}
    for name in ("a", "b"):
        _score(root / "policies/salentonet.bando", tmp_path / f"{name}.jsonl", tmp_path / name, letters=False)
        hashes[name] = [_json.loads(x)["input_sha256"] for x in (tmp_path / name / "results.jsonl").read_text().splitlines()]
    assert all(len(h) == 64 for h in hashes["a"]) and len(set(hashes["a"])) == 12
    assert [i for i, (x, y) in enumerate(zip(hashes["a"], hashes["b"])) if x != y] == [3]
    canonical = _json.dumps({"a": 1, "b": [1, 2]}, sort_keys=True, separators=(",", ":"))
    assert row_sha256({"b": [1, 2], "a": 1}) == _hashlib.sha256(canonical.encode()).hexdigest()


def test_the_row_hash_is_the_same_whichever_json_writer_makes_it():
    """row_sha256 takes orjson's bytes, json.dumps' where orjson cannot write the row: the same rows hash the same."""
    import hashlib as _hashlib
    import json as _json
    from decimal import Decimal as _D
    from engine.score.batch import row_sha256
    row = {"z": "città «Lecce»", "a": {"n": _D("1.50"), "f": 0.1, "l": [1, None, True]}}
    text = _json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    assert row_sha256(row) == _hashlib.sha256(text.encode()).hexdigest()
    lone = {"a": "x\ud800"}  # orjson refuses it: the json writer hashes it
    assert len(row_sha256(lone)) == 64
