"""`bando score` end to end for what evaluators open: ranking.xlsx and errors.xlsx,
the CSV dialects, the reserves in summary.json and the report, and the stop on a
batch that was almost certainly read wrong (issue 16)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "salentonet.bando"
BATCH = ROOT / "examples" / "salentonet" / "batch.csv"


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    out = tmp_path_factory.mktemp("sn") / "out"
    res = CliRunner().invoke(main, ["score", str(POLICY), str(BATCH), "-o", str(out), "--no-letters"])
    assert res.exit_code == 0, res.output
    return out


def _results(out):
    return [json.loads(x) for x in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]


def test_italian_call_writes_ranking_csv_for_italian_excel(scored):
    text = (scored / "ranking.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:4] == ["posizione", "domanda", "richiedente", "punteggio"]
    ranked = {r["application"]: r for r in _results(scored) if r["rank"] is not None}
    assert len(rows) - 1 == len(ranked)
    grant_col = rows[0].index("contributo")
    for row in rows[1:]:
        r = ranked[row[1]]
        assert row[grant_col] == ("" if r["grant"] is None else r["grant"].replace(".", ","))


def test_csv_dialect_option_gives_the_machine_readable_layout(tmp_path, scored):
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["score", str(POLICY), str(BATCH), "-o", str(out), "--no-letters",
                                    "--csv-dialect", "rfc4180"])
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO((out / "ranking.csv").read_text(encoding="utf-8-sig"))))
    first = rows[1]
    grant = first[rows[0].index("contributo")]
    assert Decimal(grant) > 0 and "," not in grant
    errs = list(csv.reader(io.StringIO((out / "errors.csv").read_text(encoding="utf-8-sig"))))
    assert errs[0] == ["domanda", "codice esito", "origine", "campo", "messaggio"]
    # the rest of the run is the same: only the CSV layout changed
    assert (out / "results.jsonl").read_bytes() == (scored / "results.jsonl").read_bytes()
    res = CliRunner().invoke(main, ["score", str(POLICY), str(BATCH), "-o", str(tmp_path / "x"),
                                    "--csv-dialect", "excel-de"])
    assert res.exit_code == 2 and "excel-de" in res.output and "Traceback" not in res.output


def test_ranking_and_errors_xlsx_hold_the_same_cells_as_the_csv(scored):
    openpyxl = pytest.importorskip("openpyxl")
    ws = openpyxl.load_workbook(scored / "ranking.xlsx").worksheets[0]
    rows = list(csv.reader(io.StringIO((scored / "ranking.csv").read_text(encoding="utf-8-sig")),
                           delimiter=";"))
    assert ws.max_row == len(rows) and ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
    for xrow, crow in zip(ws.iter_rows(min_row=2, max_row=40, values_only=True), rows[1:40]):
        for value, cell in zip(xrow, crow):
            if isinstance(value, (int, float)):
                assert Decimal(cell.replace(",", ".")) == Decimal(str(value))
            else:
                assert (value or "") == cell.lstrip("'") or cell == "'" + (value or "")
    errs = openpyxl.load_workbook(scored / "errors.xlsx").worksheets[0]
    ecsv = list(csv.reader(io.StringIO((scored / "errors.csv").read_text(encoding="utf-8-sig")),
                           delimiter=";"))
    assert errs.max_row == len(ecsv) > 1
    manifest = json.loads((scored / "manifest.json").read_text(encoding="utf-8"))
    names = json.dumps(manifest)
    assert "ranking.xlsx" in names and "errors.xlsx" in names


def test_two_runs_write_byte_identical_workbooks(tmp_path, scored):
    out = tmp_path / "again"
    res = CliRunner().invoke(main, ["score", str(POLICY), str(BATCH), "-o", str(out), "--no-letters"])
    assert res.exit_code == 0, res.output
    for name in ("ranking.xlsx", "errors.xlsx", "ranking.csv", "report.html", "summary.json"):
        assert (out / name).read_bytes() == (scored / name).read_bytes(), name


def test_reserves_panel_in_summary_and_report(scored):
    summary = json.loads((scored / "summary.json").read_text(encoding="utf-8"))
    (reserve,) = summary["allocation"]["reserves"]
    results = _results(scored)
    from_reserve = [r for r in results if r["status"] == "funded" and r["placement"].get("reserve") == 0]
    assert reserve["label"] == "Reti di sole microimprese"
    assert reserve["funded"] == len(from_reserve) > 0
    assert Decimal(reserve["granted"]) == sum(Decimal(r["grant"]) for r in from_reserve)
    assert Decimal(reserve["granted"]) + Decimal(reserve["returned"]) == Decimal(reserve["amount"])
    assert reserve["last_rank"] == max(r["rank"] for r in from_reserve)
    page = (scored / "report.html").read_text(encoding="utf-8")
    panel = page.split('<section id="reserves">', 1)[1].split("</section>", 1)[0]
    assert "Reti di sole microimprese" in panel
    table = page.split('<table class="ranking"', 1)[1].split("</table>", 1)[0]
    for r in from_reserve:
        row = table.split(f">{r['application']}<", 1)[1].split("</tr>", 1)[0]
        assert "riserva «Reti di sole microimprese»" in row


def test_a_misspelled_column_stops_the_run_and_says_what_is_wrong(tmp_path, scored):
    folder = tmp_path / "in"
    folder.mkdir()
    text = BATCH.read_text(encoding="utf-8").replace("project.amount_requested", "project.amount_requsted", 1)
    (folder / "batch.csv").write_text(text, encoding="utf-8")
    shutil.copy(BATCH.with_name("batch.firms.csv"), folder / "batch.firms.csv")
    out = tmp_path / "out"
    shutil.copytree(scored, out)  # the previous run's outputs must survive the refused one
    before = (out / "results.jsonl").read_bytes()
    res = CliRunner().invoke(main, ["score", str(POLICY), str(folder / "batch.csv"), "-o", str(out)])
    assert res.exit_code == 2
    assert "500 domande su 500 hanno dati non validi" in res.output
    assert "«project.amount_requsted»" in res.output and "«project.amount_requested»" in res.output
    assert "--allow-invalid" in res.output and "Traceback" not in res.output
    assert (out / "results.jsonl").read_bytes() == before
    res = CliRunner().invoke(main, ["score", str(POLICY), str(folder / "batch.csv"), "-o", str(out),
                                    "--allow-invalid", "--no-letters"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["mostly_invalid"] == {"rows": 500, "invalid": 500}
    page = (out / "report.html").read_text(encoding="utf-8")
    warnings = page.split('<section id="warnings"', 1)[1].split("</section>", 1)[0]
    assert "500 domande su 500 hanno dati non validi" in warnings and "amount_requsted" in warnings


def test_a_short_batch_with_a_few_invalid_rows_is_scored(tmp_path):
    lines = BATCH.read_text(encoding="utf-8").splitlines()
    (tmp_path / "b.csv").write_text("\n".join(lines[:10]) + "\n", encoding="utf-8")  # 9 applications
    shutil.copy(BATCH.with_name("batch.firms.csv"), tmp_path / "b.firms.csv")
    res = CliRunner().invoke(main, ["score", str(POLICY), str(tmp_path / "b.csv"), "-o", str(tmp_path / "o"),
                                    "--no-letters"])
    assert res.exit_code == 0, res.output
