"""Tests for engine.score.batch_io: JSON, JSON Lines, CSV, Excel and folder batches."""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import shutil
import tempfile
import tracemalloc
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.score.batch_io import BatchError, Row, parse_number, read_batch, read_jsonl

DATA = Path(__file__).resolve().parent.parent / "data" / "batch"


def _text():
    return {"type": "string", "x-bando-type": "text"}


def _money():
    return {"type": ["number", "string"], "x-bando-type": "money"}


# The input schema of a small network-contract call, as `bando schema` would
# emit it (docs/contracts.md); Firm is a named record reached through $ref.
SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object", "x-bando-type": "record", "additionalProperties": True,
    "required": ["id", "network", "project"],
    "properties": {
        "id": _text(),
        "network": {
            "type": "object", "x-bando-type": "record", "additionalProperties": True,
            "required": ["name", "firms"],
            "properties": {
                "name": _text(),
                "signed": {"type": "string", "format": "date", "x-bando-type": "date"},
                "firms": {"type": "array", "x-bando-type": "list",
                          "items": {"$ref": "#/$defs/Firm"}},
            },
        },
        "project": {
            "type": "object", "x-bando-type": "record", "additionalProperties": True,
            "required": ["cost", "requested"],
            "properties": {
                "cost": _money(),
                "requested": _money(),
                "cofinancing": {"type": ["number", "string"], "x-bando-type": "percent",
                                "minimum": 0, "maximum": 1},
                "innovation": {"type": "integer", "x-bando-type": "int",
                               "minimum": 0, "maximum": 5},
                "kind": {"type": "string", "x-bando-type": "enum",
                         "enum": ["research", "development", "training"]},
                "submitted": {"type": "string", "format": "date-time",
                              "x-bando-type": "datetime"},
                "marks": {"type": "array", "x-bando-type": "list",
                          "items": {"type": "integer", "x-bando-type": "int"}},
                "abroad": {"type": "boolean", "x-bando-type": "bool"},
            },
        },
    },
    "$defs": {
        "Firm": {
            "type": "object", "x-bando-type": "record", "additionalProperties": True,
            "required": ["name", "employees", "turnover", "province"],
            "properties": {
                "name": _text(),
                "employees": {"type": "integer", "x-bando-type": "int"},
                "turnover": _money(),
                "province": _text(),
                "iso9001": {"type": "boolean", "x-bando-type": "bool"},
            },
        },
    },
}

A001 = {
    "id": "A-001",
    "network": {
        "name": "Rete Mech-Net", "signed": "2025-03-15",
        "firms": [
            {"name": "Meccanica Rossi srl", "employees": 12, "turnover": Decimal("1250000.00"),
             "province": "VA", "iso9001": True},
            {"name": "Bianchi snc", "employees": 8, "turnover": Decimal("640000"),
             "province": "VA", "iso9001": False},
        ],
    },
    "project": {
        "cost": Decimal("120000.50"), "requested": Decimal("50000"),
        "cofinancing": Decimal("0.50"), "innovation": 4, "kind": "research",
        "submitted": "2025-06-30T12:00:00", "marks": [7, 8, 9], "abroad": True,
    },
}


def _rows(path, **kw):
    return list(read_batch(path, SCHEMA, **kw))


# --------------------------------------------------------------------------- JSON

def exact(number):
    """The exact value the validator reads from a JSON number (a float through its repr)."""
    return Decimal(repr(number)) if isinstance(number, float) else number


def test_json_array_keeps_exact_numbers_and_never_drops_a_row():
    rows = _rows(DATA / "apps.json")
    assert [r.index for r in rows] == [0, 1, 2, 3]
    assert [r.source for r in rows] == [f"apps.json:item {n}" for n in (1, 2, 3, 4)]
    first = rows[0]
    assert first.app_id == "A-001" and first.errors == ()
    cost = first.data["project"]["cost"]
    # a float where that is exact (the fast path compares floats), a Decimal where it would not be
    assert isinstance(cost, float) and exact(cost) == Decimal("120000.50")
    assert first.data["project"]["requested"] == 50000
    assert type(first.data["project"]["requested"]) is int
    assert exact(rows[1].data["project"]["requested"]) == Decimal("0.1")  # not 0.1000000000000000055
    assert rows[2].data is None and rows[2].app_id is None
    assert rows[2].errors == (("", "item 3 is not an application object but a string"),)
    assert rows[3].app_id is None and rows[3].data["network"]["name"] == "Rete senza numero"
    assert rows[3].errors == (("id", "missing: the application has no id"),)


def test_json_single_object_and_bare_array(tmp_path):
    (tmp_path / "one.json").write_text('{"id": 7, "project": {"cost": 1.10}}')
    (row,) = _rows(tmp_path / "one.json")
    assert row.source == "one.json" and row.app_id == "7" and row.data["id"] == 7
    assert exact(row.data["project"]["cost"]) == Decimal("1.10")
    (tmp_path / "long.json").write_text('{"id": 8, "cost": 1234567890123.4567, "share": 1e-2}')
    (row,) = _rows(tmp_path / "long.json")
    assert row.data["cost"] == Decimal("1234567890123.4567") and row.data["share"] == Decimal("0.01")
    assert all(isinstance(row.data[k], Decimal) for k in ("cost", "share"))
    (tmp_path / "many.json").write_text('[{"id": "X"}, {"id": "Y"}, {"id": 1.5}]')
    rows = _rows(tmp_path / "many.json")
    assert [r.app_id for r in rows] == ["X", "Y", None]
    assert rows[2].errors == (
        ("id", "the id must be text or a whole number, got 1.5"),)


def test_invalid_json_document_is_a_batch_error(tmp_path):
    (tmp_path / "bad.json").write_text('[{"id": "X"},\n {"id": ]')
    with pytest.raises(BatchError, match=r"^bad\.json:2:9: not valid JSON"):
        _rows(tmp_path / "bad.json")
    (tmp_path / "nan.json").write_text('[{"id": "X", "score": NaN}]')
    with pytest.raises(BatchError, match="nan.json: not valid JSON: NaN is not a valid JSON value"):
        _rows(tmp_path / "nan.json")
    (tmp_path / "num.json").write_text("42")
    with pytest.raises(BatchError, match="num.json: expected an array"):
        _rows(tmp_path / "num.json")


# --------------------------------------------------------------------------- JSON Lines

def test_jsonl_bad_lines_become_rows_and_reading_goes_on():
    rows = _rows(DATA / "apps.jsonl")
    assert [r.source for r in rows] == [f"apps.jsonl:{n}" for n in (1, 3, 4, 5, 6)]
    assert [r.index for r in rows] == [0, 1, 2, 3, 4]  # the blank line 2 is no row
    assert rows[1].data is None
    assert rows[1].errors[0][1].startswith("line 3, column 1: not valid JSON")
    assert exact(rows[2].data["project"]["requested"]) == Decimal("12.30")
    assert rows[3].errors == (("", "line 5: expected an application object, got a list"),)
    assert rows[4].app_id == "A-001"
    assert rows[4].errors == (("id", "duplicate id 'A-001', first seen at apps.jsonl:1"),)


def test_jsonl_is_lazy_over_an_endless_stream():
    consumed = itertools.count()

    def endless():
        for i in itertools.count():
            next(consumed)
            yield json.dumps({"id": f"A-{i}", "project": {"cost": "1.00"}}).encode() + b"\n"

    rows = read_jsonl(endless(), name="stream.jsonl")
    first = list(itertools.islice(rows, 3))
    assert [r.app_id for r in first] == ["A-0", "A-1", "A-2"]
    assert next(consumed) <= 4  # only the lines asked for were read


def test_jsonl_file_is_not_read_whole(tmp_path):
    path = tmp_path / "big.jsonl"
    line = json.dumps({"id": "A", "blob": "x" * 1000}) + "\n"
    with open(path, "w") as f:
        for i in range(5000):  # ~5 MB
            f.write(line.replace('"A"', f'"A-{i}"'))
    tracemalloc.start()
    try:
        reader = read_batch(path, SCHEMA)
        row = next(reader)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    reader.close()
    assert row.app_id == "A-0"
    assert peak < 1_000_000


def test_the_ids_seen_are_given_back_once_the_batch_is_read(tmp_path):
    # the duplicate check keeps every id while the batch is read; a long batch's results are written
    # after it, and that memory is not held through them
    path = tmp_path / "ids.jsonl"
    path.write_text("".join(f'{{"id": "DOMANDA-{i:06d}"}}\n' for i in range(20_000)))
    tracemalloc.start()
    try:
        reader = read_batch(path, SCHEMA)
        rows = 0
        for _row in itertools.islice(reader, 19_999):
            rows += 1
        reading = tracemalloc.get_traced_memory()[0]
        assert next(reader).app_id == "DOMANDA-019999"
        assert next(reader, None) is None
        read = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert rows == 19_999
    assert reading - read > 20_000 * 60  # an id is about 120 bytes kept


def test_jsonl_bytes_not_utf8_and_bom(tmp_path):
    path = tmp_path / "x.ndjson"
    path.write_bytes(b'\xef\xbb\xbf{"id": "A"}\n{"id": "\xe0"}\n{"id": "C"}\n')
    rows = _rows(path)
    assert [r.app_id for r in rows] == ["A", None, "C"]
    assert "line 2: not UTF-8 text" in rows[1].errors[0][1]


# --------------------------------------------------------------------------- CSV

def test_csv_italian_numbers_bom_semicolon_and_items_file():
    reader = read_batch(DATA / "domande.csv", SCHEMA)
    rows = list(reader)
    assert [r.source for r in rows] == [
        "domande.csv:2", "domande.csv:3", "domande.csv:4", "domande.csv:6", "domande.csv:7",
        "domande.firms.csv",
    ]
    assert rows[0].data == A001 and rows[0].errors == ()
    a2 = rows[1].data
    assert a2["project"] == {
        "cost": Decimal("80000"), "requested": Decimal("1234.56"),
        "cofinancing": Decimal("0.35"), "innovation": 2, "kind": "training",
        "submitted": "2025-06-29T09:15:00", "marks": [6, 7], "abroad": False,
    }
    assert [f["name"] for f in a2["network"]["firms"]] == ["Salento Tessile spa",
                                                           "Lecce Digitale srl"]
    assert a2["network"]["firms"][1]["turnover"] == Decimal("210500.75")
    assert reader.warnings == [
        "domande.csv: column 'note interne' ignored: not a field of the policy's input"]


def test_csv_values_that_do_not_convert_pass_through_raw():
    row = _rows(DATA / "domande.csv")[2]
    assert row.app_id == "A-003" and row.errors == ()
    assert row.data["network"] == {"name": 'Rete "Sud"', "signed": "31/02/2025", "firms": []}
    assert row.data["project"] == {
        "cost": "dodicimila", "requested": Decimal("10000.00"), "innovation": "cinque",
        "kind": "altro", "submitted": "ieri", "abroad": "forse",
    }


def test_csv_missing_duplicate_ids_and_orphan_items():
    rows = _rows(DATA / "domande.csv")
    missing, dup, orphans = rows[3], rows[4], rows[5]
    assert missing.app_id is None
    assert missing.errors == (("id", "missing: the application has no id"),)
    assert dup.app_id == "A-001"
    assert dup.errors == (("id", "duplicate id 'A-001', first seen at domande.csv:2"),)
    assert orphans.index == 5 and orphans.data is None and orphans.app_id is None
    assert orphans.errors == (
        ("network.firms", "domande.firms.csv:5: application 'A-999' is not in domande.csv"),)


def test_csv_multiline_cells_keep_line_numbers_and_extra_cells(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,network.name\nA,"Rete\nsu due righe"\n\nB,Rete B,extra\nC,Rete C,,\n',
                    encoding="utf-8")
    rows = _rows(path)
    assert [(r.source, r.app_id) for r in rows] == [("d.csv:2", "A"), ("d.csv:5", "B"),
                                                    ("d.csv:6", "C")]
    assert rows[0].data["network"]["name"] == "Rete\nsu due righe"
    assert rows[1].errors == (("", "1 cell(s) beyond the last column of the header were "
                                   "ignored ('extra'...)"),)
    assert rows[2].errors == ()


def test_csv_broken_records_become_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id;network.name\nA;"ab"cd\nB;Rete "Sud"\nC;"never closed\nD;x\n',
                    encoding="utf-8")
    a, b, c = _rows(path)
    assert (a.source, a.data) == ("d.csv:2", None)
    assert a.errors == (("", "line 2: unreadable CSV record: ';' expected after '\"'"),)
    assert b.data == {"id": "B", "network": {"name": 'Rete "Sud"'}}
    assert (c.source, c.data) == ("d.csv:4", None)
    assert c.errors == (("", "line 4: unreadable CSV record: a quoted cell is never closed: "
                             "lines 4-5 could not be read"),)


def test_items_without_application_id_are_orphans(tmp_path):
    (tmp_path / "d.csv").write_text("id\nA\n")
    (tmp_path / "d.firms.csv").write_text("application,name\nA,Rossi\n,Verdi\n")
    a, orphans = _rows(tmp_path / "d.csv")
    assert a.data == {"id": "A", "network": {"firms": [{"name": "Rossi"}]}}
    assert orphans.source == "d.firms.csv"
    assert orphans.errors == (
        ("network.firms", "d.firms.csv:3: no application id in the link column"),)


def test_csv_title_lines_above_header_case_and_suggestions(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("Graduatoria provvisoria;;\n\nID;Project.Kind;project.requsted\n"
                    "A;RESEARCH;100\n", encoding="utf-8")
    reader = read_batch(path, SCHEMA)
    (row,) = list(reader)
    assert row.source == "d.csv:4"
    assert row.data == {"id": "A", "project": {"kind": "research"}}
    assert reader.warnings == ["d.csv: column 'project.requsted' ignored: not a field of the "
                               "policy's input (did you mean 'project.requested'?)",
                               "d.csv: no file d.firms.csv with the rows of network.firms: every "
                               "application has no network.firms"]


def test_csv_windows_1252_is_read_with_a_warning(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes("id;network.name\nA;Società Cooperativa\n".encode("cp1252"))
    reader = read_batch(path, SCHEMA)
    (row,) = list(reader)
    assert row.data["network"]["name"] == "Società Cooperativa"
    assert "not UTF-8; read as cp1252" in reader.warnings[0]


def test_csv_repeated_columns_and_record_list_in_index_columns(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text(
        "id,project.marks[0],project.marks[1],project.marks[2],network.firms[0].name,"
        "network.firms[0].iso9001,network.firms[1].name,network.firms[1].iso9001\n"
        "A,7,,9,Rossi,x,,\n"
        "B,,,,,,,\n",
        encoding="utf-8")
    a, b = _rows(path)
    assert a.data == {"id": "A", "project": {"marks": [7, 9]},
                      "network": {"firms": [{"name": "Rossi", "iso9001": True}]}}
    assert b.data == {"id": "B"}  # all-empty items are no items


@pytest.mark.parametrize("cell, expected", [
    ("true", True), ("FALSE", False), ("1", True), ("0", False), ("Sì", True), ("si", True),
    ("no", False), ("yes", True), ("Vero", True), ("falso", False), ("x", True), ("X", True),
    ("", False), ("forse", "forse"),
])
def test_bool_spellings(tmp_path, cell, expected):
    path = tmp_path / "d.csv"
    path.write_text(f"id;project.abroad\nA;{cell}\n", encoding="utf-8")
    (row,) = _rows(path)
    assert row.data["project"]["abroad"] == expected
    assert type(row.data["project"]["abroad"]) is type(expected)


@pytest.mark.parametrize("date, submitted, want_date, want_dt", [
    ("2025-06-30", "2025-06-30T12:00:00", "2025-06-30", "2025-06-30T12:00:00"),
    ("30/06/2025", "30/06/2025 12:00", "2025-06-30", "2025-06-30T12:00:00"),
    ("1/6/2025", "01/06/2025 09:05:30", "2025-06-01", "2025-06-01T09:05:30"),
    ("30.06.2025", "2025-06-30 12:00", "2025-06-30", "2025-06-30T12:00:00"),
    ("2025-06-30T00:00:00", "2025-06-30T12:00:00+02:00", "2025-06-30",
     "2025-06-30T12:00:00+02:00"),
    ("31/02/2025", "30/06/2025", "31/02/2025", "30/06/2025"),  # raw: validation reports
])
def test_dates_and_datetimes(tmp_path, date, submitted, want_date, want_dt):
    path = tmp_path / "d.csv"
    path.write_text(f"id;network.signed;project.submitted\nA;{date};{submitted}\n",
                    encoding="utf-8")
    (row,) = _rows(path)
    assert row.data["network"]["signed"] == want_date
    assert row.data["project"]["submitted"] == want_dt


# --------------------------------------------------------------------------- numbers

@pytest.mark.parametrize("text, auto, italian, english", [
    ("1234", "1234", "1234", "1234"),
    ("1.234,56", "1234.56", "1234.56", None),
    ("1234,56", "1234.56", "1234.56", None),
    ("€ 1.234,56", "1234.56", "1234.56", None),
    ("1.234,56 €", "1234.56", "1234.56", None),
    ("EUR 1.234.567", "1234567", "1234567", None),
    ("-€ 5,5", "-5.5", "-5.5", None),
    ("1 234,56", "1234.56", "1234.56", None),
    ("1,234.56", "1234.56", None, "1234.56"),
    ("1234.56", "1234.56", None, "1234.56"),
    ("1.234", "1234", "1234", "1.234"),        # ambiguous: Italian unless told otherwise
    ("1,234", "1.234", "1.234", "1234"),
    ("0.125", "0.125", None, "0.125"),
    ("12.345.678", "12345678", "12345678", None),
    (",5", "0.5", "0.5", None),
    ("50%", "0.50", "0.50", "0.50"),
    ("12,5 %", "0.125", "0.125", None),
    ("1.2.3", None, None, None),
    ("12 34", None, None, None),
    ("dodici", None, None, None),
    ("1e3", None, None, None),
    ("", None, None, None),
])
def test_parse_number(text, auto, italian, english):
    for mode, want in ((None, auto), (True, italian), (False, english)):
        got = parse_number(text, mode)
        assert got == (None if want is None else Decimal(want)), (text, mode)
        if want is not None:
            assert str(got) == want, (text, mode)


def test_percent_sign_only_for_percent_fields_and_ints_must_be_whole(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id;project.cost;project.cofinancing;project.innovation\n"
                    "A;50%;0,4;12,0\nB;100;40;2,5\n", encoding="utf-8")
    a, b = _rows(path)
    assert a.data["project"] == {"cost": "50%", "cofinancing": Decimal("0.4"), "innovation": 12}
    assert b.data["project"] == {"cost": Decimal("100"), "cofinancing": Decimal("40"),
                                 "innovation": "2,5"}


def test_only_the_calls_currency_is_accepted_and_only_on_money(tmp_path):
    schema = {"type": "object", "properties": {
        "id": _text(),
        "fee": {"type": ["number", "string"], "x-bando-type": "money", "x-bando-currency": "CHF"},
        "cost": _money(),
        "ratio": {"type": ["number", "string"], "x-bando-type": "decimal"},
    }}
    path = tmp_path / "d.csv"
    path.write_text("id;fee;cost;ratio\nA;CHF 1.000,50;EUR 3;€ 2\nB;€ 5;3 €;2\n",
                    encoding="utf-8")
    a, b = read_batch(path, schema)
    assert a.data == {"id": "A", "fee": Decimal("1000.50"), "cost": Decimal("3"), "ratio": "€ 2"}
    assert b.data == {"id": "B", "fee": "€ 5", "cost": Decimal("3"), "ratio": Decimal("2")}


def test_strict_decimal_comma_modes(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id;project.cost;project.requested\nA;1234.56;"1,234"\n', encoding="utf-8")
    assert _rows(path, decimal_comma=True)[0].data["project"] == {
        "cost": "1234.56", "requested": Decimal("1.234")}
    assert _rows(path, decimal_comma=False)[0].data["project"] == {
        "cost": Decimal("1234.56"), "requested": Decimal("1234")}


# --------------------------------------------------------------------------- XLSX

def _csv_to_xlsx(target: Path, sheets: dict[str, Path]) -> None:
    """Copy CSV files cell by cell (as text) into the sheets of a workbook."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, src in sheets.items():
        ws = wb.create_sheet(title)
        with open(src, newline="", encoding="utf-8-sig") as f:
            for cells in csv.reader(f, delimiter=";"):
                ws.append([c if c != "" else None for c in cells])
    wb.save(target)


def test_xlsx_with_the_same_cells_reads_like_the_csv(tmp_path):
    target = tmp_path / "batch.xlsx"
    _csv_to_xlsx(target, {"Domande": DATA / "domande.csv", "firms": DATA / "domande.firms.csv"})
    from_xlsx = _rows(target)
    from_csv = _rows(DATA / "domande.csv")
    assert [r.data for r in from_xlsx] == [r.data for r in from_csv]
    assert [r.app_id for r in from_xlsx] == [r.app_id for r in from_csv]
    assert [r.source for r in from_xlsx] == [
        "batch.xlsx:Domande!row 2", "batch.xlsx:Domande!row 3", "batch.xlsx:Domande!row 4",
        "batch.xlsx:Domande!row 6", "batch.xlsx:Domande!row 7", "batch.xlsx:firms"]
    assert from_xlsx[4].errors == (
        ("id", "duplicate id 'A-001', first seen at batch.xlsx:Domande!row 2"),)
    assert from_xlsx[5].errors == (
        ("network.firms", "batch.xlsx:firms!row 5: application 'A-999' is not in "
                          "batch.xlsx:Domande"),)


def test_xlsx_typed_cells(tmp_path):
    wb = openpyxl.Workbook()
    notes = wb.active
    notes.title = "Istruzioni"
    notes.append(["Compilare un foglio per domanda"])
    firms = wb.create_sheet("firms")  # items sheet before the main one: still found
    firms.append(["id_domanda", "name", "employees", "turnover", "iso9001"])
    firms.append(["A-001", "Rossi", 12, 1250000.1, True])
    firms.append([2, "Bianchi", 8.0, 640000.1, None])
    ws = wb.create_sheet("applications")
    ws.append(["Graduatoria bando reti 2025"])
    ws.append(["id", "network.name", "network.signed", "project.cost", "project.cofinancing",
               "project.marks[0]", "project.marks[1]", "project.abroad", "project.submitted",
               "project.innovation", "project.kind"])
    ws.append(["A-001", "Rete", dt.datetime(2025, 3, 15), 120000.5, 0.5, 7, 8, True,
               dt.datetime(2025, 6, 30, 12, 0), 4.0, "Research"])
    ws.append([2, "Rete 2", dt.date(2025, 3, 16), "1.234,56", "35%", None, 9, 0,
               "30/06/2025 12:00", "3", None])
    ws.append([])
    wb.save(tmp_path / "b.xlsx")
    reader = read_batch(tmp_path / "b.xlsx", SCHEMA)
    a, b = list(reader)
    assert a.source == "b.xlsx:applications!row 3"
    assert a.data == {
        "id": "A-001",
        "network": {"name": "Rete", "signed": "2025-03-15", "firms": [
            {"name": "Rossi", "employees": 12, "turnover": Decimal("1250000.1"),
             "iso9001": True}]},
        "project": {"cost": Decimal("120000.5"), "cofinancing": Decimal("0.5"), "marks": [7, 8],
                    "abroad": True, "submitted": "2025-06-30T12:00:00", "innovation": 4,
                    "kind": "research"},
    }
    assert b.app_id == "2" and b.data["id"] == "2"
    assert b.data["network"]["firms"] == [{"name": "Bianchi", "employees": 8,
                                           "turnover": Decimal("640000.1"),
                                           "iso9001": False}]
    assert b.data["project"] == {"cost": Decimal("1234.56"), "cofinancing": Decimal("0.35"),
                                 "marks": [9], "abroad": False,
                                 "submitted": "2025-06-30T12:00:00", "innovation": 3}
    assert reader.warnings == ["b.xlsx: sheet 'Istruzioni' ignored (not the applications sheet "
                               "and not a list of the policy's input)"]


def test_unreadable_xlsx_and_missing_id_column(tmp_path):
    (tmp_path / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(BatchError, match=r"^broken\.xlsx: not a readable \.xlsx workbook"):
        _rows(tmp_path / "broken.xlsx")
    wb = openpyxl.Workbook()
    wb.active.append(["codice", "network.name"])
    wb.save(tmp_path / "noid.xlsx")
    with pytest.raises(BatchError, match=r"^noid\.xlsx:Sheet: no 'id' column in the header"):
        _rows(tmp_path / "noid.xlsx")


# --------------------------------------------------------------------------- files and folders

def test_whole_file_problems_raise_batch_errors(tmp_path):
    with pytest.raises(BatchError, match="nope.csv: no such file"):
        read_batch(tmp_path / "nope.csv", SCHEMA)
    (tmp_path / "a.txt").write_text("id\nA\n")
    with pytest.raises(BatchError, match=r"a\.txt: unknown batch format '\.txt'"):
        read_batch(tmp_path / "a.txt", SCHEMA)
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(BatchError, match=r"old\.xls: the old Excel \.xls format"):
        read_batch(tmp_path / "old.xls", SCHEMA)
    (tmp_path / "noid.csv").write_text("codice;network.name\nA;Rete\n")
    with pytest.raises(BatchError, match=r"^noid\.csv: no 'id' column in the header; "
                                         r"found: codice, network\.name"):
        _rows(tmp_path / "noid.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(BatchError, match=r"^empty\.csv: empty file"):
        _rows(tmp_path / "empty.csv")
    (tmp_path / "d.csv").write_text("id\nA\n")
    (tmp_path / "d.firms.csv").write_text("name;employees\nRossi;3\n")
    with pytest.raises(BatchError, match=r"^d\.firms\.csv: no 'application' column"):
        _rows(tmp_path / "d.csv")
    (tmp_path / "dup.csv").write_text("id;project.cost;Project.Cost\nA;1;2\n")
    with pytest.raises(BatchError, match=r"dup\.csv: column 'Project\.Cost' appears twice"):
        _rows(tmp_path / "dup.csv")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(BatchError, match="no batch files"):
        read_batch(empty, SCHEMA)


def test_folder_reads_each_batch_file_once_in_name_order(tmp_path):
    for name in ("domande.csv", "domande.firms.csv", "apps.jsonl"):
        shutil.copy(DATA / name, tmp_path / name)
    (tmp_path / "README.txt").write_text("not a batch")
    (tmp_path / "~$domande.xlsx").write_bytes(b"lock")
    (tmp_path / "z-single.json").write_text('{"id": "Z-1"}')
    (tmp_path / "domande.backup.csv").write_text("id\nA-001\n")
    reader = read_batch(tmp_path, SCHEMA)
    assert [p.name for p in reader.files] == ["apps.jsonl", "domande.csv", "z-single.json"]
    rows = list(reader)
    assert [r.index for r in rows] == list(range(len(rows)))
    assert [r.source for r in rows][5:] == [
        "domande.csv:2", "domande.csv:3", "domande.csv:4", "domande.csv:6", "domande.csv:7",
        "domande.firms.csv", "z-single.json"]
    # duplicate ids are checked across the whole folder
    assert rows[5].errors == (("id", "duplicate id 'A-001', first seen at apps.jsonl:1"),)
    assert any("domande.backup.csv: ignored: 'backup' is not a list" in w
               for w in reader.warnings)


def test_items_file_named_by_full_path_and_link_by_id_field(tmp_path):
    (tmp_path / "d.csv").write_text("id\nA\nB\n")
    (tmp_path / "d.network.firms.csv").write_text("id,name\nB,Rossi\nB,\nA,Verdi\n")
    a, b = _rows(tmp_path / "d.csv")
    assert a.data == {"id": "A", "network": {"firms": [{"name": "Verdi"}]}}
    assert b.data == {"id": "B", "network": {"firms": [{"name": "Rossi"}, {}]}}


# --------------------------------------------------------------------------- property

_BOOL_WORDS = {True: ["true", "1", "sì", "si", "yes", "vero", "x", "X", "Sì"],
               False: ["false", "0", "no", "falso", "", "NO"]}
_names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1,
                 max_size=20).map(str.strip).filter(bool)


def _money_st(max_value=10**9):
    return st.integers(0, max_value * 100).map(lambda c: Decimal(c).scaleb(-2))


def _fmt_number(d: Decimal, italian: bool, group: bool) -> str:
    sign = "-" if d < 0 else ""
    whole, _, frac = f"{abs(d):f}".partition(".")
    if group:
        parts = []
        while len(whole) > 3:
            whole, tail = whole[:-3], whole[-3:]
            parts.insert(0, tail)
        whole = (("." if italian else ",").join([whole] + parts))
    return sign + whole + ((("," if italian else ".") + frac) if frac else "")


@st.composite
def _batches(draw):
    apps = []
    for i in range(draw(st.integers(0, 6))):
        app = {"id": f"A-{i:03d}", "network": {"name": draw(_names)}, "project": {}}
        if draw(st.booleans()):
            app["network"]["signed"] = draw(st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31)))
        p = app["project"]
        p["cost"] = draw(_money_st())
        if draw(st.booleans()):
            p["requested"] = draw(_money_st(10**6))
        if draw(st.booleans()):
            p["cofinancing"] = Decimal(draw(st.integers(0, 10000))).scaleb(-4)
        if draw(st.booleans()):
            p["innovation"] = draw(st.integers(0, 5))
        if draw(st.booleans()):
            p["kind"] = draw(st.sampled_from(["research", "development", "training"]))
        if draw(st.booleans()):
            p["submitted"] = draw(st.datetimes(dt.datetime(2000, 1, 1),
                                               dt.datetime(2099, 1, 1))).replace(microsecond=0)
        marks = draw(st.lists(st.integers(0, 10), max_size=4))
        if marks:
            p["marks"] = marks
        p["abroad"] = draw(st.booleans())
        firms = []
        for _ in range(draw(st.integers(0, 3))):
            firms.append({"name": draw(_names), "employees": draw(st.integers(0, 10**6)),
                          "turnover": draw(_money_st()), "iso9001": draw(st.booleans())})
        app["network"]["firms"] = firms
        apps.append(app)
    return apps


def _cell(draw, key, value, italian):
    if isinstance(value, bool):
        return draw(st.sampled_from(_BOOL_WORDS[value]))
    if key == "cofinancing":
        if draw(st.booleans()):
            return _fmt_number(value.scaleb(2), italian, False) + draw(st.sampled_from(["%", " %"]))
        return _fmt_number(value, italian, False)
    if isinstance(value, Decimal):
        text = _fmt_number(value, italian, draw(st.booleans()))
        return (draw(st.sampled_from(["€ ", "", "EUR "])) + text) if italian else text
    if isinstance(value, int):
        return _fmt_number(Decimal(value), italian, draw(st.booleans()))
    if isinstance(value, dt.datetime):
        return value.strftime(draw(st.sampled_from(["%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M:%S"])))
    if isinstance(value, dt.date):
        return value.strftime(draw(st.sampled_from(["%Y-%m-%d", "%d/%m/%Y"])))
    if isinstance(value, list):
        return draw(st.sampled_from(["; ", ";", "|", " | "])).join(map(str, value))
    if key == "kind":
        return draw(st.sampled_from([value, value.upper(), value.title()]))
    return value


def _expected(value):
    if isinstance(value, dict):
        return {k: _expected(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_expected(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(apps=_batches(), data=st.data())
def test_property_csv_round_trip(apps, data):
    draw = data.draw
    sep = draw(st.sampled_from([";", ",", "\t"]))
    bom = draw(st.booleans())
    italian = draw(st.booleans())
    mode = draw(st.sampled_from([None, True])) if italian else False
    columns = ["id", "network.name", "network.signed", "project.cost", "project.requested",
               "project.cofinancing", "project.innovation", "project.kind",
               "project.submitted", "project.marks", "project.abroad"]
    columns = draw(st.permutations(columns))
    firm_cols = draw(st.permutations(["application", "name", "employees", "turnover",
                                      "iso9001"]))
    newline = draw(st.sampled_from(["\r\n", "\n"]))

    def get(app, col):
        node = app
        for part in col.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node

    main, items = io.StringIO(), io.StringIO()
    w = csv.writer(main, delimiter=sep, lineterminator=newline)
    w.writerow(columns)
    for app in apps:
        w.writerow(["" if get(app, c) is None else _cell(draw, c.split(".")[-1], get(app, c),
                                                          italian) for c in columns])
    w = csv.writer(items, delimiter=sep, lineterminator=newline)
    w.writerow(firm_cols)
    for app in apps:
        for firm in app["network"]["firms"]:
            w.writerow([app["id"] if c == "application" else _cell(draw, c, firm[c], italian)
                        for c in firm_cols])
    with tempfile.TemporaryDirectory() as tmp:
        prefix = "\ufeff" if bom else ""
        Path(tmp, "b.csv").write_text(prefix + main.getvalue(), encoding="utf-8", newline="")
        Path(tmp, "b.firms.csv").write_text(prefix + items.getvalue(), encoding="utf-8",
                                            newline="")
        reader = read_batch(Path(tmp, "b.csv"), SCHEMA, decimal_comma=mode)
        rows = list(reader)
    assert reader.warnings == []
    assert [r.errors for r in rows] == [()] * len(apps)
    assert [r.app_id for r in rows] == [a["id"] for a in apps]
    assert [r.data for r in rows] == [_expected(a) for a in apps]


def test_row_is_frozen():
    row = Row(0, "x", None, None, ())
    with pytest.raises(AttributeError):
        row.index = 1


# --------------------------------------------------------------------------- labels, Italian sheet names,
# missing items, unknown JSON fields (issue 16)

def _labelled():
    """SCHEMA with the labels `bando schema` writes as titles, in the policy's language."""
    import copy

    s = copy.deepcopy(SCHEMA)
    s["properties"]["network"]["properties"]["name"]["title"] = "Denominazione della rete"
    s["properties"]["network"]["properties"]["firms"]["title"] = "Imprese della rete"
    s["properties"]["project"]["properties"]["requested"]["title"] = "Contributo richiesto"
    s["properties"]["project"]["properties"]["cost"]["title"] = "Spese ammissibili"
    s["$defs"]["Firm"]["properties"]["employees"]["title"] = "Occupati (ULA)"
    return s


def test_csv_columns_may_be_headed_with_the_fields_labels(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id;Denominazione della rete;SPESE AMMISSIBILI;Contributo richiesto\n"
                    "A;Rete Uno;1.000,50;500\n", encoding="utf-8")
    (tmp_path / "d.firms.csv").write_text("application;name;Occupati (ULA);turnover;province\n"
                                          "A;Alfa srl;12;100;LE\n", encoding="utf-8")
    reader = read_batch(path, _labelled())
    (row,) = list(reader)
    assert row.data["network"] == {"name": "Rete Uno", "firms": [
        {"name": "Alfa srl", "employees": 12, "turnover": Decimal("100"), "province": "LE"}]}
    assert row.data["project"] == {"cost": Decimal("1000.50"), "requested": Decimal("500")}
    assert reader.warnings == []


def test_a_misspelled_label_gets_the_field_it_probably_means(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("id;Contributo richeisto\nA;500\n", encoding="utf-8")
    reader = read_batch(path, _labelled())
    list(reader)
    assert any("column 'Contributo richeisto' ignored" in w and "did you mean 'project.requested'?" in w
               for w in reader.warnings), reader.warnings


def test_xlsx_sheets_named_in_italian_after_the_lists_label_or_record(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    for sheet in ("Imprese", "Imprese della rete", "Firm"):
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "Domande"
        ws.append(["id", "network.name", "project.cost", "project.requested"])
        ws.append(["A", "Rete", 100, 50])
        items = wb.create_sheet(sheet)
        items.append(["domanda", "name", "employees", "turnover", "province"])
        items.append(["A", "Alfa", 3, 10, "LE"])
        path = tmp_path / f"b-{sheet}.xlsx"
        wb.save(path)
        reader = read_batch(path, _labelled())
        (row,) = list(reader)
        assert [f["name"] for f in row.data["network"]["firms"]] == ["Alfa"], sheet
        assert reader.warnings == [], (sheet, reader.warnings)


def test_xlsx_missing_items_sheet_and_unknown_sheet_are_warned_with_a_hint(tmp_path):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Domande"
    ws.append(["id", "network.name", "project.cost", "project.requested"])
    ws.append(["A", "Rete", 100, 50])
    wb.create_sheet("Frims").append(["domanda", "name"])
    path = tmp_path / "b.xlsx"
    wb.save(path)
    reader = read_batch(path, _labelled(), lang="it")
    list(reader)
    assert reader.warnings == [
        "b.xlsx: foglio «Frims» ignorato (non è il foglio delle domande né un elenco dei dati del bando) "
        "(forse si intendeva «firms»?)",
        "b.xlsx: nessun foglio «firms» con le righe di network.firms (fogli: Domande, Frims): ogni domanda "
        "risulta senza network.firms"]


def test_json_unknown_fields_warn_once_with_the_closest_field(tmp_path):
    path = tmp_path / "apps.jsonl"
    app = {"id": "A", "network": {"name": "R", "firms": [{"name": "x", "employes": 3}]},
           "project": {"cost": 1, "requested": 1, "innovaton": 4}}
    path.write_text("\n".join(json.dumps(dict(app, id=f"A{i}")) for i in range(3)) + "\n", encoding="utf-8")
    reader = read_batch(path, SCHEMA)
    assert len(list(reader)) == 3
    assert reader.warnings == [
        "apps.jsonl: field 'network.firms[].employes' ignored: not a field of the policy's input "
        "(did you mean 'network.firms[].employees'?) (applications: 3)",
        "apps.jsonl: field 'project.innovaton' ignored: not a field of the policy's input "
        "(did you mean 'project.innovation'?) (applications: 3)"]
    one = tmp_path / "one.json"
    one.write_text(json.dumps(app), encoding="utf-8")
    reader = read_batch(one, SCHEMA, lang="it")
    list(reader)
    assert "one.json: campo «project.innovaton» ignorato: non è un campo dei dati del bando " \
           "(forse si intendeva «project.innovation»?) (domande: 1)" in reader.warnings


# --------------------------------------------------------------------------- exact numbers, read fast

_NUMBER_TEXT = st.one_of(
    st.integers(-10**30, 10**30).map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.tuples(st.integers(1, 9), st.integers(-400, 400)).map(lambda t: f"{t[0]}e{t[1]}"),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_NUMBER_TEXT, min_size=1, max_size=6), st.text(max_size=20))
def test_jsonl_numbers_are_exact_whichever_parser_reads_them(numbers, text):
    """orjson reads a line only when no number in it needs a Decimal: every number is the value the
    standard library with ``exact_json_float`` gives (a float only where the text fits a double)."""
    from engine.compile.validate import exact_json_float

    # the numbers are written as their own text (json.dumps would round them): spliced in after the object's
    # last member, never by replacing a placeholder the generated text could also contain
    line = json.dumps({"id": "A", "t": text})[:-1] + ', "n": [' + ", ".join(numbers) + "]}"
    expected = json.loads(line, parse_float=exact_json_float)
    (row,) = read_jsonl([line.encode("utf-8")])
    assert repr(row.data) == repr(expected)


def test_the_readers_row_problems_are_written_in_the_calls_language(tmp_path):
    # issue 16: a duplicate or missing id, cells beyond the header: in an Italian letter, Italian
    from engine.score.batch_io import read_batch
    from engine.text import i18n
    path = tmp_path / "b.csv"
    path.write_text("id;name\nA-1;Alfa\nA-1;Beta\n;Gamma\nA-4;Delta;x\n", encoding="utf-8")
    schema = {"type": "object", "properties": {"id": {"type": "string"}, "name": {"type": "string"}}}
    rows = list(read_batch(path, schema))
    texts = [i18n.render(m, "it") for r in rows for _f, m in r.errors]
    assert texts == ["identificativo «A-1» ripetuto, già presente in b.csv:2",
                     "manca: la domanda non ha un identificativo",
                     "celle oltre l'ultima colonna dell'intestazione, non lette: 1 (la prima: «x»)"]
    assert [str(m) for r in rows for _f, m in r.errors][0] == "duplicate id 'A-1', first seen at b.csv:2"
