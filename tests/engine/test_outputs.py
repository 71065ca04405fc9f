"""Tests of engine/score/outputs.py: atomic writes, CSV injection, results.jsonl,
ranking.csv, errors.csv and summary.json."""

from __future__ import annotations

import csv
import gc
import importlib.util
import io
import json
import os
import stat
import weakref
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.score.outputs import (
    FORMULA_CHARS,
    SummaryBuilder,
    atomic_open,
    atomic_write,
    csv_safe,
    is_plain_number,
    summarize,
    summary_json,
    write_errors_csv,
    write_ranking_csv,
    write_results_jsonl,
    write_summary_json,
)


def _load_fixtures():
    path = Path(__file__).with_name("test_report.py")
    spec = importlib.util.spec_from_file_location("_bando_report_fixtures_outputs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_fx = _load_fixtures()
make_results, make_call, CRITERIA = _fx.make_results, _fx.make_call, _fx.CRITERIA


class R(dict):
    """A result dict that can be weak-referenced (to prove streaming)."""


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


def _read_csv(path: Path, delimiter: str = ";") -> list[list[str]]:
    """Read a CSV bando wrote: ``;`` for the Italian layout (excel-it), ``,`` for rfc4180."""
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM"
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh, delimiter=delimiter))


def _it_number(cell: str) -> Decimal:
    assert "." not in cell, cell  # excel-it: a decimal comma and no thousands separator
    return Decimal(cell.replace(",", "."))


# --------------------------------------------------------------------------
# atomic writes
# --------------------------------------------------------------------------

def test_atomic_write_replaces_text_and_bytes(tmp_path):
    p = tmp_path / "out.txt"
    atomic_write(p, "prima riga\nè\n")
    assert p.read_text(encoding="utf-8") == "prima riga\nè\n"
    atomic_write(p, b"\x00\x01bytes")
    assert p.read_bytes() == b"\x00\x01bytes"
    assert _leftovers(tmp_path) == []


def test_atomic_open_keeps_old_file_when_writing_raises(tmp_path):
    p = tmp_path / "results.jsonl"
    p.write_text("old content\n", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_open(p) as fh:
            fh.write("half of the new content")
            fh.flush()
            raise RuntimeError("boom")
    assert p.read_text(encoding="utf-8") == "old content\n"
    assert _leftovers(tmp_path) == []


def test_writer_failing_midway_keeps_old_output(tmp_path):
    p = tmp_path / "results.jsonl"
    p.write_text("old\n", encoding="utf-8")

    def broken():
        for i in range(2000):
            yield {"application": f"A-{i}"}
        raise ValueError("bad row")

    with pytest.raises(ValueError):
        write_results_jsonl(p, broken())
    assert p.read_text(encoding="utf-8") == "old\n"
    # NaN is not JSON: refused, old file intact
    with pytest.raises(ValueError):
        write_results_jsonl(p, [{"application": "A", "score": float("nan")}])
    assert p.read_text(encoding="utf-8") == "old\n"
    assert _leftovers(tmp_path) == []


def test_atomic_open_missing_file_gets_normal_permissions(tmp_path):
    p = tmp_path / "report.html"
    atomic_write(p, "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
    os.chmod(p, 0o640)
    atomic_write(p, "y")
    assert stat.S_IMODE(p.stat().st_mode) == 0o640


def test_atomic_open_refuses_append(tmp_path):
    with pytest.raises(ValueError):
        with atomic_open(tmp_path / "x", "a"):
            pass


# --------------------------------------------------------------------------
# CSV injection
# --------------------------------------------------------------------------

@pytest.mark.parametrize("raw, expected", [
    ("=1+1", "'=1+1"),
    ("+39 0832 123456", "'+39 0832 123456"),
    ("-1+2", "'-1+2"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=cmd", "'\t=cmd"),
    ("\r=cmd", "'\r=cmd"),
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
    ("-12.5", "-12.5"),
    ("+3", "+3"),
    ("-1e5", "-1e5"),
    ("-", "'-"),
    ("-nan", "'-nan"),
    ("- 12", "'- 12"),
    ("Rete Mech-Net", "Rete Mech-Net"),
    (" =1", " =1"),
    ("", ""),
    (None, ""),
    (Decimal("-4E+4"), "-40000"),
    (Decimal("40000.00"), "40000.00"),
    (True, "true"),
    (-3, "-3"),
])
def test_csv_safe_examples(raw, expected):
    assert csv_safe(raw) == expected


def test_is_plain_number_is_ascii_only():
    assert is_plain_number("-12.5") and is_plain_number(".5") and is_plain_number("3.")
    assert not is_plain_number("-١٢")  # Arabic-Indic digits are not a plain number
    assert not is_plain_number("-12.5\n")
    assert not is_plain_number("-Infinity")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_csv_safe_round_trips_through_csv(text):
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerow([csv_safe(text), "x"])
    buf.seek(0)
    (row,) = list(csv.reader(buf))
    value = row[0]
    assert row[1] == "x"
    if is_plain_number(text):
        assert value == text
    else:
        assert not value.startswith(FORMULA_CHARS)
        assert value in (text, "'" + text)


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1).map(lambda s: "=" + s) | st.text())
def test_ranking_csv_cells_never_start_a_formula(tmp_path_factory, name):
    p = tmp_path_factory.mktemp("csv") / "ranking.csv"
    result = make_results(1, seed=1)[0]
    result.update(status="funded", rank=1, applicant=name, application="-" + name, score=70,
                  grant="-1000.50")
    write_ranking_csv(p, [result], [(cid, labels["it"]) for cid, labels, _ in CRITERIA])
    rows = _read_csv(p)
    for cell in rows[1]:
        # a number with the Italian decimal comma is still only a number
        assert not cell.startswith(FORMULA_CHARS) or is_plain_number(cell.replace(",", ".")), cell
    assert rows[1][2] in (name, "'" + name)
    assert "-1000,50" in rows[1]


# --------------------------------------------------------------------------
# results.jsonl
# --------------------------------------------------------------------------

def test_results_jsonl_one_compact_line_each_in_input_order(tmp_path):
    results = make_results(50)
    results[0]["applicant"] = "Società «Né» 🙂"
    results[1]["grant"] = Decimal("1.10")  # a stray Decimal is written as a string
    p = tmp_path / "results.jsonl"
    assert write_results_jsonl(p, iter(results)) == 50
    text = p.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[-1] == "" and len(lines) == 51
    assert "Società «Né» 🙂" in lines[0]
    assert lines[2] == json.dumps(results[2], ensure_ascii=False, separators=(",", ":"))
    back = [json.loads(line) for line in lines[:-1]]
    assert [r["application"] for r in back] == [r["application"] for r in results]
    assert back[1]["grant"] == "1.10"
    assert list(back[5]) == list(results[5])  # key order preserved


def test_writers_stream_without_keeping_results(tmp_path):
    def check(writer, **kw):
        refs = []

        def gen():
            for i in range(3000):
                r = R(application=f"A-{i}", status="invalid" if i % 2 else "funded",
                      errors=[{"field": "x", "message": "m"}] if i % 2 else [],
                      gates=[], criteria=[], score=None, grant="1.00", rank=None)
                if i < 5:
                    refs.append(weakref.ref(r))
                yield r
                if i == 2500:
                    gc.collect()
                    assert all(ref() is None for ref in refs), writer.__name__

        writer(tmp_path / "out", gen(), **kw)

    check(write_results_jsonl)
    check(write_errors_csv)
    check(lambda path, results: summarize(results, {}))


# --------------------------------------------------------------------------
# ranking.csv
# --------------------------------------------------------------------------

def test_ranking_csv_is_the_graduatoria(tmp_path):
    results = make_results(50)
    criteria = [(cid, labels["it"]) for cid, labels, _ in CRITERIA]
    p = tmp_path / "graduatoria.csv"
    n = write_ranking_csv(p, reversed(results), criteria)
    rows = _read_csv(p)
    assert p.read_bytes().count(b"\r\n") == len(rows)
    header, body = rows[0], rows[1:]
    assert header == ["posizione", "domanda", "richiedente", "punteggio",
                      "Profilo di innovazione", "Internazionalizzazione", "Processi certificati",
                      "importo richiesto", "contributo", "esito", "codice esito"]
    ranked = [r for r in results if r["status"] in ("funded", "not_funded", "admitted")]
    assert n == len(body) == len(ranked)
    assert [int(row[0]) for row in body] == sorted(r["rank"] for r in ranked)
    by_id = {r["application"]: r for r in results}
    for row in body:
        r = by_id[row[1]]
        assert row[2] == r["applicant"]
        assert _it_number(row[3]) == Decimal(str(r["score"]))
        points = {c["id"]: c["points"] for c in r["criteria"]}
        for (cid, _), cell in zip(criteria, row[4:7]):
            assert _it_number(cell) == Decimal(str(points[cid]))
            assert "E" not in cell
        assert row[7] == r["requested"].replace(".", ",")
        assert row[8] == (r["grant"] or "").replace(".", ",")
        assert row[10] == r["status"]
    assert {row[10] for row in body} == {"funded", "not_funded"}


def test_ranking_csv_ties_by_id_and_english_headers(tmp_path):
    base = make_results(1, seed=2, lang="en")[0]
    rows = []
    for app_id, rank in (("B", 2), ("C", 1), ("A", 2), ("D", None)):
        r = dict(base, application=app_id, rank=rank, status="admitted", score=70)
        rows.append(r)
    p = tmp_path / "ranking.csv"
    write_ranking_csv(p, rows, [])
    got = _read_csv(p, ",")  # an English call: rfc4180
    assert got[0][:4] == ["rank", "application", "applicant", "score"]
    assert [r[1] for r in got[1:]] == ["C", "A", "B", "D"]
    assert got[-1][0] == ""


def test_ranking_csv_dialects_by_name_and_by_alias(tmp_path):
    results = make_results(30, seed=3)
    criteria = [(cid, labels["it"]) for cid, labels, _ in CRITERIA]
    machine = tmp_path / "machine.csv"
    write_ranking_csv(machine, results, criteria, dialect="rfc4180")
    alias = tmp_path / "alias.csv"
    write_ranking_csv(alias, results, criteria, dialect="en")
    assert machine.read_bytes() == alias.read_bytes()
    rows = _read_csv(machine, ",")
    funded = next(r for r in results if r["status"] == "funded")
    row = next(x for x in rows if x[1] == funded["application"])
    assert row[8] == funded["grant"] and "." in row[8]  # 30000.00: what a program reads
    italian = tmp_path / "it.csv"
    write_ranking_csv(italian, results, criteria, dialect="it")
    write_ranking_csv(tmp_path / "default.csv", results, criteria)  # an Italian call: excel-it
    assert italian.read_bytes() == (tmp_path / "default.csv").read_bytes()
    assert italian.read_bytes().split(b"\r\n")[0].count(b";") == len(rows[0]) - 1
    with pytest.raises(ValueError, match="unknown CSV dialect 'excel-de'.*excel-it, it, rfc4180"):
        write_ranking_csv(tmp_path / "x.csv", results, criteria, dialect="excel-de")


def _sheet(path: Path):
    import openpyxl

    wb = openpyxl.load_workbook(path)
    return wb, wb.worksheets[0]


def test_ranking_xlsx_typed_cells_money_format_frozen_header_autofilter(tmp_path):
    import zipfile

    from engine.score.outputs import write_ranking_xlsx

    results = make_results(50)
    funded = next(r for r in results if r["status"] == "funded")
    funded["grant"] = "685.57"  # openpyxl alone would write 685.5700000000001
    funded["applicant"] = "=HYPERLINK(\"http://x\")"
    criteria = [(cid, labels["it"]) for cid, labels, _ in CRITERIA]
    p = tmp_path / "ranking.xlsx"
    n = write_ranking_xlsx(p, results, criteria, lang="it", currency="EUR")
    wb, ws = _sheet(p)
    assert ws.title == "Graduatoria" and ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == f"A1:K{n + 1}"
    assert [c.value for c in ws[1]][:4] == ["posizione", "domanda", "richiedente", "punteggio"]
    row = next(r for r in ws.iter_rows(min_row=2) if r[1].value == funded["application"])
    assert row[0].data_type == "n" and isinstance(row[0].value, int)
    assert row[3].data_type == "n" and row[8].data_type == "n"
    assert row[8].number_format == '#,##0.00 "€"'
    assert row[2].data_type == "s" and row[2].value == funded["applicant"]  # text, never a formula
    sheet_xml = zipfile.ZipFile(p).read("xl/worksheets/sheet1.xml").decode()
    assert "<v>685.57</v>" in sheet_xml and "685.5700000000001" not in sheet_xml
    assert "<f>" not in sheet_xml
    en = tmp_path / "en.xlsx"
    write_ranking_xlsx(en, make_results(20, seed=2, lang="en"), [], currency="EUR")
    _wb, ws_en = _sheet(en)
    assert ws_en.title == "Ranking"
    assert any(c.number_format == '"€"#,##0.00' for r in ws_en.iter_rows(min_row=2) for c in r)


def test_xlsx_files_are_byte_identical_across_runs_and_carry_the_declared_date(tmp_path):
    import datetime as dt

    from engine.score.outputs import write_errors_xlsx, write_ranking_xlsx

    results = make_results(40)
    criteria = [(cid, labels["it"]) for cid, labels, _ in CRITERIA]
    paths = []
    for k in range(2):
        p, e = tmp_path / f"r{k}.xlsx", tmp_path / f"e{k}.xlsx"
        write_ranking_xlsx(p, results, criteria, currency="EUR", created=dt.datetime(2013, 12, 31))
        write_errors_xlsx(e, results, created=dt.datetime(2013, 12, 31))
        paths.append((p.read_bytes(), e.read_bytes()))
    assert paths[0] == paths[1]
    wb, ws = _sheet(tmp_path / "r0.xlsx")
    assert wb.properties.created == wb.properties.modified == dt.datetime(2013, 12, 31)
    _wb, errs = _sheet(tmp_path / "e0.xlsx")
    assert errs.title == "Errori"
    expected = sum(max(len(r["errors"]), 1) for r in results if r["errors"] or r["status"] == "invalid")
    assert errs.max_row == expected + 1 and errs.auto_filter.ref == f"A1:E{expected + 1}"


# --------------------------------------------------------------------------
# errors.csv
# --------------------------------------------------------------------------

def test_errors_csv_lists_every_error_with_its_source(tmp_path):
    results = make_results(50)
    invalid = [r for r in results if r["status"] == "invalid"]
    results.append(dict(invalid[0], application="X-NODETAIL", errors=[], source="riga 99"))
    results.append(dict(results[0], application="X-WARN", status="admitted",
                        errors=[{"field": "=cmd", "message": "-2+3"}], source=None))
    p = tmp_path / "errors.csv"
    n = write_errors_csv(p, iter(results))
    rows = _read_csv(p)
    assert rows[0] == ["domanda", "codice esito", "origine", "campo", "messaggio"]
    expected = sum(len(r["errors"]) for r in invalid) + 2
    assert n == len(rows) - 1 == expected
    first = invalid[0]
    assert rows[1][:4] == [first["application"], "invalid",
                           f"domande.csv:{first['source']['row']}", first["errors"][0]["field"]]
    assert rows[-2] == ["X-NODETAIL", "invalid", "riga 99", "",
                        "dati non validi (nessun dettaglio)"]
    assert rows[-1] == ["X-WARN", "admitted", "", "'=cmd", "'-2+3"]


def test_errors_csv_with_no_errors_has_just_a_header(tmp_path):
    p = tmp_path / "errors.csv"
    assert write_errors_csv(p, []) == 0
    assert _read_csv(p, ",") == [["application", "status code", "source", "field", "message"]]


# --------------------------------------------------------------------------
# summary.json
# --------------------------------------------------------------------------

def _r(app, status, score=None, grant=None, requested=None, gates=(), criteria=(), errors=()):
    return {
        "application": app, "status": status, "score": score, "grant": grant,
        "requested": requested, "max_score": 100, "pass_score": 60, "currency": "EUR",
        "gates": [{"id": g, "label": g.upper(), "passed": ok, "because": ""} for g, ok in gates],
        "criteria": [{"id": c, "label": c.title(), "points": p, "max": m, "because": ""}
                     for c, p, m in criteria],
        "errors": [{"field": f, "message": "m"} for f in errors],
    }


def test_summary_counts_and_exact_budget():
    ok = (("min", True), ("sme", True))
    results = [
        _r("A", "funded", 80, "0.10", "0.10", ok, [("inn", 40, 40), ("intl", 40, 60)]),
        _r("B", "funded", 70.5, "0.20", "0.30", ok, [("inn", 20, 40), ("intl", 50.5, 60)]),
        _r("C", "not_funded", 65, None, "100000.00", ok, [("inn", 20, 40), ("intl", 45, 60)]),
        _r("D", "below_threshold", 30, None, "5.00", ok, [("inn", 0, 40), ("intl", 30, 60)]),
        _r("E", "ineligible", None, None, "7.00", (("min", False), ("sme", True))),
        _r("F", "ineligible", None, None, None, (("min", False), ("sme", False))),
        _r("G", "invalid", errors=("a", "b")),
        _r("H", "funded", 100, "0.30", "0.30", ok, [("inn", 40, 40), ("intl", 60, 60)]),
    ]
    call = make_call("it", budget="1.00")
    builder = SummaryBuilder(call)
    for r in results:
        builder.add(r)
    s = builder.finish()
    assert s == summarize(iter(results), call)
    assert s["total"] == 8
    assert s["counts"] == {"funded": 3, "not_funded": 1, "admitted": 0, "below_threshold": 1,
                           "ineligible": 2, "invalid": 1, "tied": 0, "withdrawn": 0}
    # 0.1 + 0.2 + 0.3 in float is 0.6000000000000001
    assert s["budget"] == {"available": "1.00", "used": "0.60", "remaining": "0.40",
                           "requested_ranked": "100000.70", "requested_funded": "0.70"}
    assert Decimal(s["budget"]["used"]) == Decimal("0.6")
    sc = s["scores"]
    assert sc["count"] == 5
    assert (sc["min"], sc["max"], sc["median"], sc["mean"]) == ("30", "100", "70.5", "69.1")
    assert (sc["max_score"], sc["pass_score"], sc["funded_min"]) == ("100", "60", "70.5")
    gates = {g["id"]: g for g in s["gates"]}
    assert [g["id"] for g in s["gates"]] == ["min", "sme"]
    assert gates["min"] == {"id": "min", "label": "MIN", "evaluated": 7, "passed": 5,
                            "failed": 2, "only_failure": 1}
    assert gates["sme"]["failed"] == 1 and gates["sme"]["only_failure"] == 0
    crit = {c["id"]: c for c in s["criteria"]}
    assert crit["inn"]["mean"] == "24" and crit["inn"]["count"] == 5
    assert crit["intl"]["mean"] == "45.1" and crit["intl"]["max"] == "60"
    assert crit["intl"]["min"] == "30" and crit["intl"]["max_points"] == "60"
    bins = s["histogram"]["bins"]
    assert len(bins) == 10 and bins[0] == {"from": "0", "to": "10", "count": 0}
    assert [b["count"] for b in bins] == [0, 0, 0, 1, 0, 0, 1, 1, 1, 1]  # 100 in the last bin
    assert s["errors"] == {"applications": 1, "messages": 2}


def test_summary_median_even_and_mean_rounding():
    results = [_r(str(i), "admitted", v) for i, v in enumerate([10, 20, 20, 35, 1, 2])]
    s = summarize(results, {"max_score": 40})
    assert s["scores"]["median"] == "15"
    assert s["scores"]["mean"] == "14.6667"  # 88/6 rounded half-even to 4 places
    assert s["histogram"]["bins"][1] == {"from": "4", "to": "8", "count": 0}
    assert s["budget"]["available"] is None and s["budget"]["remaining"] is None


def test_summary_of_nothing():
    s = summarize([], make_call())
    assert s["total"] == 0
    assert s["scores"]["count"] == 0 and s["scores"]["median"] is None
    assert all(b["count"] == 0 for b in s["histogram"]["bins"])
    assert s["budget"]["used"] == "0"


def test_summary_json_is_deterministic(tmp_path):
    results = make_results(50)
    call = make_call()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    write_summary_json(a, summarize(results, call))
    write_summary_json(b, summarize(list(results), call))
    assert a.read_bytes() == b.read_bytes()
    text = a.read_text(encoding="utf-8")
    assert text.endswith("}\n") and text.startswith("{\n  \"budget\"")
    data = json.loads(text)
    assert summary_json(data) == text
    assert data["total"] == 50
    assert sum(data["counts"].values()) == 50
    used = sum(Decimal(r["grant"]) for r in results if r["status"] == "funded")
    assert Decimal(data["budget"]["used"]) == used


def test_xlsx_longer_than_a_sheet_ends_with_a_row_saying_where_the_rest_is(tmp_path, monkeypatch):
    from engine.score import outputs

    monkeypatch.setattr(outputs, "XLSX_MAX_ROWS", 11)  # a header and ten rows
    results = [r for r in make_results(60) if r["status"] in outputs.RANKED_STATUSES]
    assert len(results) > 12
    p = tmp_path / "ranking.xlsx"
    written = outputs.write_ranking_xlsx(p, results, [], lang="it", currency="EUR")
    _wb, ws = _sheet(p)
    assert written == 9 and ws.max_row == 11
    left = len(results) - 9
    assert ws.cell(11, 1).value == (f"… e altre {left} righe, in ranking.csv: un foglio Excel ne contiene al "
                                    "massimo 1.048.576")
    exact = tmp_path / "exact.xlsx"  # ten rows fit: no note
    assert outputs.write_ranking_xlsx(exact, results[:10], [], lang="it", currency="EUR") == 10
    _wb, ws = _sheet(exact)
    assert ws.max_row == 11 and not str(ws.cell(11, 1).value).startswith("…")
    en = tmp_path / "errors.xlsx"
    errors = [dict(r, errors=[{"field": "x", "message": "m"}] * 3) for r in results]
    outputs.write_errors_xlsx(en, errors, lang="en")
    _wb, ws = _sheet(en)
    assert ws.cell(11, 1).value == (f"… and {3 * len(errors) - 9} more rows, in errors.csv: an Excel sheet holds "
                                    "at most 1,048,576")


def test_xlsx_text_longer_than_a_cell_holds_is_cut_with_an_ellipsis(tmp_path):
    from engine.score.outputs import XLSX_MAX_TEXT, write_ranking_xlsx

    results = make_results(10)
    ranked = next(r for r in results if r["status"] == "funded")
    ranked["applicant"] = "R" * (XLSX_MAX_TEXT + 10)
    p = tmp_path / "ranking.xlsx"
    write_ranking_xlsx(p, results, [], lang="it", currency="EUR")
    _wb, ws = _sheet(p)
    cell = next(r[2].value for r in ws.iter_rows(min_row=2) if r[1].value == ranked["application"])
    assert len(cell) == XLSX_MAX_TEXT and cell.endswith("R…")


def test_xlsx_text_replaces_exactly_what_openpyxl_calls_illegal():
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from engine.score.outputs import _xlsx_text

    for i in range(0x3000):
        c = chr(i)
        assert (_xlsx_text(c) == "\ufffd") == bool(ILLEGAL_CHARACTERS_RE.fullmatch(c)), hex(i)


@given(st.integers(0, 60), st.lists(st.integers(1, 15), max_size=8), st.integers(0, 5))
def test_summary_of_chunks_merged_in_order_is_the_summary_of_the_batch(n, cuts, seed):
    results = make_results(n, seed=seed)
    call = make_call("it", budget="1000000.00")
    whole = SummaryBuilder(call).extend(results).finish()
    merged, start = SummaryBuilder(call), 0
    for size in cuts + [n]:
        merged.merge(SummaryBuilder(call).extend(results[start:start + size]))
        start += size
    assert json.dumps(merged.finish()) == json.dumps(whole)  # the same keys in the same order
