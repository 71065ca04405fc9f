"""The CLI speaks the call's language from the catalogue (issue 16): the closing summary of `bando score`."""
from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from engine.cli import closing_lines


def summary(lang, counts, results=None, held=Decimal(0)):
    return SimpleNamespace(lang=lang, counts=counts, results=results if results is not None else sum(counts.values()),
                           granted=Decimal("400000"), budget=Decimal("400000"), currency="EUR",
                           allocation=SimpleNamespace(held=held, margin_used=Decimal(0)))


def test_the_closing_summary_in_italian_with_plurals_and_italian_numbers():
    lines = closing_lines(summary("it", {"funded": 15, "not_funded": 1, "ineligible": 2, "invalid": 20_000}), "out")
    assert lines == ["20.018 domande: 15 finanziate, 1 non finanziata, 2 non ammissibili, 20.000 con dati non validi",
                     "concessi € 400.000,00 su € 400.000,00; risultati in out"]


def test_the_closing_summary_in_english_and_for_one_application():
    lines = closing_lines(summary("en", {"admitted": 1}, held=Decimal("1000")), "out")
    assert lines == ["1 application: 1 admitted",
                     "granted €400,000.00 of €400,000.00; €1,000.00 held for tied applications awaiting a decision; "
                     "outputs in out"]
    assert closing_lines(summary("it", {"withdrawn": 1, "funded": 1}), "o")[0] == "2 domande: 1 finanziata, 1 ritirata"


def test_letters_in_another_language_from_results_with_no_run_record_are_one_clear_error(tmp_path):
    # results.jsonl copied away from its run's folder: no manifest records what to repeat in English
    # (with it, the run is repeated in English: tests/engine/test_audit.py)
    from pathlib import Path

    from click.testing import CliRunner

    from engine.cli import main
    root = Path(__file__).resolve().parents[2]
    policy = root / "policies" / "salentonet.bando"
    batch = tmp_path / "b.jsonl"
    batch.write_text("".join((root / "examples" / "salentonet" / "batch.jsonl").read_text(encoding="utf-8")
                             .splitlines(keepends=True)[:3]), encoding="utf-8")
    run = CliRunner().invoke(main, ["score", str(policy), str(batch), "-o", str(tmp_path / "out"), "--no-letters"])
    assert run.exit_code == 0, run.output
    alone = tmp_path / "alone"
    alone.mkdir()
    results = str(alone / "results.jsonl")
    (alone / "results.jsonl").write_bytes((tmp_path / "out" / "results.jsonl").read_bytes())
    en = CliRunner().invoke(main, ["letters", str(policy), results, "-o", str(tmp_path / "en"), "--lang", "en",
                                   "--date", "2014-02-28"])
    assert en.exit_code == 1
    assert "the results are written in Italian (it); their reasons cannot be re-rendered in English (en)" in en.output
    assert "Traceback" not in en.output and not list((tmp_path / "en").glob("*.txt"))
    it = CliRunner().invoke(main, ["letters", str(policy), results, "-o", str(tmp_path / "it"), "--date", "2014-02-28"])
    assert it.exit_code == 0 and "3 lettere scritte in" in it.output
