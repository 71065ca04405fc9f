"""``bando score --jobs``: workers read their own slices of a JSON Lines file, and the outputs are the
bytes ``--jobs 1`` writes, whatever the file holds (a BOM, blank and broken lines, an id repeated in
another slice, unknown fields, invalid rows)."""
import csv
import json
from pathlib import Path

import pytest

from engine.score import batch
from engine.score.batch import score_batch
from engine.score.batch_io import read_batch, slice_reader
from engine.score.input_shape import from_policy
from engine.evaluate.policy import load_policy

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "mechnet.bando"
OUTPUTS = ("results.jsonl", "ranking.csv", "errors.csv", "summary.json", "report.html")


def _awkward_batch(path: Path) -> Path:
    lines = (ROOT / "examples" / "mechnet" / "batch.jsonl").read_bytes().splitlines(keepends=True)[:14]
    second = json.loads(lines[1])
    second["innovaton"] = 3  # an unknown field, twice in two slices
    lines[1] = json.dumps(second).encode() + b"\n"
    lines[9] = json.dumps(second).encode() + b"\n"  # the id of line 2 again, in another slice
    lines[4] = b"{not json\n"
    lines[6] = b"\n"
    lines[7] = b"[1, 2]\n"
    broken = json.loads(lines[11])
    broken["network"]["firms"][0]["employees"] = "many"
    lines[11] = json.dumps(broken).encode() + b"\n"
    path.write_bytes(b"\xef\xbb\xbf" + b"".join(lines))
    return path


@pytest.fixture
def small_slices(monkeypatch):
    monkeypatch.setattr(batch, "SLICE_LINES", 3)  # many slices from a short file
    monkeypatch.setattr(batch, "WRITE_CHUNK", 4)  # and many chunks of results to write, the last one short


def test_jobs_2_writes_the_bytes_of_jobs_1(tmp_path, small_slices):
    src = _awkward_batch(tmp_path / "b.jsonl")
    one = score_batch(POLICY, src, tmp_path / "j1", letters=False, jobs=1, allow_invalid=True)
    two = score_batch(POLICY, src, tmp_path / "j2", letters=False, jobs=2, allow_invalid=True)
    for name in OUTPUTS:
        assert (tmp_path / "j1" / name).read_bytes() == (tmp_path / "j2" / name).read_bytes(), name
    assert one.counts == two.counts and one.warnings == two.warnings
    results = [json.loads(x) for x in (tmp_path / "j2" / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(results) == 13  # 14 lines, one blank
    dup = next(r for r in results if r["source"] == "b.jsonl:10")
    assert dup["status"] == "invalid" and any("duplicate id" in e["message"] for e in dup["errors"])
    assert any("innovaton" in w and "2" in w for w in two.warnings)
    for run in ("j1", "j2"):  # the spill and the files of the tables' rows are gone with the run
        assert [p.name for p in (tmp_path / run).iterdir() if p.name.startswith(".")] == [], run
    errors = (tmp_path / "j2" / "errors.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(errors) > 4 and any("b.jsonl:10;id;" in e and "ripetuto" in e for e in errors)
    # an unreadable line is told in the run's language (only the parser's own words stay English)
    assert any(e.startswith(";invalid;b.jsonl:5;;La domanda: riga 5, colonna 2: JSON non valido: ") for e in errors)


def test_slices_read_as_the_whole_file(tmp_path):
    """The driver's reader plus the workers' slice readers give the rows the whole-file reader gives."""
    src = _awkward_batch(tmp_path / "b.jsonl")
    shape = from_policy(load_policy(POLICY))
    whole = list(read_batch(src, shape))
    driver, worker = read_batch(src, shape), slice_reader(shape)
    rows = []
    for first, blob in driver.jsonl_slices(4):
        read = [(row, worker.last_key) for row in worker.read_slice(src.name, first, blob)]
        driver.merge_unknown(worker.take_unknown())
        for row, key in read:
            index = len(rows)
            rows.append(driver.reread(first, blob, key, index) if driver.duplicate(row.app_id, key)
                        else row.__class__(index, row.source, row.app_id, row.data, row.errors))
    driver.finish_slices()
    whole_reader = read_batch(src, shape)
    assert rows == list(whole_reader) == whole
    assert driver.warnings == whole_reader.warnings and driver.warnings


@pytest.mark.parametrize("jobs", [1, 2])
def test_ranking_csv_keeps_the_order_of_the_rows_own_keys(tmp_path, monkeypatch, jobs):
    # ranking.csv lists the ranked rows by rank, then id, read back from a file in that order; the order
    # is known from the ranking's entries, and a row whose own rank or id is not its entry's keeps its own
    # (reversed ids here stand for such rows: every row then brings its key)
    src = ROOT / "examples" / "mechnet" / "batch.jsonl"
    score_batch(POLICY, src, tmp_path / "plain", letters=False, jobs=jobs)
    plain = (tmp_path / "plain" / "ranking.csv").read_text(encoding="utf-8-sig").splitlines()
    own = batch._table_key
    monkeypatch.setattr(batch, "_table_key", lambda c: (False, 0, (own(c)[2])[::-1]))
    score_batch(POLICY, src, tmp_path / "own", letters=False, jobs=jobs)
    rows = (tmp_path / "own" / "ranking.csv").read_text(encoding="utf-8-sig").splitlines()
    assert len(rows) == len(plain) > 3
    assert rows[0] == plain[0]  # the header
    assert sorted(rows[1:]) == sorted(plain[1:])
    ids = [next(csv.reader([r], delimiter=";"))[1] for r in rows[1:]]
    assert ids == sorted(ids, key=lambda i: i[::-1]) and ids != sorted(ids)
    assert not list((tmp_path / "own").glob(".ranked-*"))  # the rows' file is gone with the run
