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
    for first, blob, at in driver.jsonl_slices(4):
        assert src.read_bytes()[at:at + len(blob)] == blob  # where a worker reads it
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


def test_workers_send_where_their_records_and_lines_are_not_the_bytes(tmp_path, small_slices, monkeypatch):
    # with --jobs the spilled records of the pass and the lines of results.jsonl are put in shared files by
    # the workers; only their places cross the pipes (a duplicate id is scored again here: its record is bytes)
    src = _awkward_batch(tmp_path / "b.jsonl")
    records, parts = [], []
    scored, mapped = batch._scored, batch._map

    def watch_scored(*args):
        for answer in scored(*args):
            records.append(answer[1])
            yield answer

    def watch_map(fn, *args, **kw):
        for answer in mapped(fn, *args, **kw):
            if fn is batch._write_chunk:
                parts.append(answer.lines)
            yield answer

    monkeypatch.setattr(batch, "_scored", watch_scored)
    monkeypatch.setattr(batch, "_map", watch_map)
    score_batch(POLICY, src, tmp_path / "j2", letters=False, jobs=2, allow_invalid=True)
    placed = [r for r in records if isinstance(r, tuple)]
    assert len(records) == 13 and len(placed) == 12  # all but the repeated id, scored again in the driver
    assert all(isinstance(at, int) and size > 0 for at, size in placed)
    assert len(parts) == 4 and all(isinstance(p, tuple) for p in parts)  # 13 results, 4 a chunk
    assert sum(size for _, size in parts) == (tmp_path / "j2" / "results.jsonl").stat().st_size
    # without workers, nothing goes through a shared file
    records.clear(), parts.clear()
    score_batch(POLICY, src, tmp_path / "j1", letters=False, jobs=1, allow_invalid=True)
    assert len(records) == 13 and all(isinstance(r, bytes) for r in records)
    assert len(parts) == 4 and all(isinstance(p, bytes) for p in parts)


def _append_many(appended, seed, answers):
    for k in range(200):
        blob = bytes([seed]) * (1 + (k * 37 + seed) % 5000)
        answers.put((appended.append(blob), len(blob), seed))
    answers.put(None)


def test_appends_of_forked_processes_land_whole_where_they_say(tmp_path):
    import multiprocessing
    ctx = multiprocessing.get_context("fork")
    with open(tmp_path / "shared", "w+b") as f:
        appended = batch._Appended(f, ctx.Lock())
        answers = ctx.Queue()
        workers = [ctx.Process(target=_append_many, args=(appended, seed, answers)) for seed in (1, 2, 3)]
        for w in workers:
            w.start()
        got, done = [], 0
        while done < len(workers):
            a = answers.get(timeout=60)
            if a is None:
                done += 1
            else:
                got.append(a)
        for w in workers:
            w.join()
        data = (tmp_path / "shared").read_bytes()
    assert len(got) == 600
    spans = sorted((at, at + size) for at, size, _ in got)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))  # none overlaps another
    assert spans[-1][1] == len(data) == sum(size for _, size, _ in got)
    assert all(data[at:at + size] == bytes([seed]) * size for at, size, seed in got)


def test_copy_to_copies_a_range_with_or_without_copy_file_range(tmp_path, monkeypatch):
    with open(tmp_path / "src", "w+b") as f:
        appended = batch._Appended(f)
        a = appended.append(b"first line\n")
        b = appended.append(b"x" * 3_000_000 + b"\n")  # more than the fallback's piece
        outs = []
        for broken in (False, True):
            if broken:
                def refuse(*args, **kw):
                    raise OSError(18, "Invalid cross-device link")
                monkeypatch.setattr(batch.os, "copy_file_range", refuse)
            with open(tmp_path / f"out{broken}", "wb") as out:
                out.write(b"head\n")  # a buffered write before: it lands first
                appended.copy_to(out, b, 3_000_001)
                appended.copy_to(out, a, 11)
            outs.append((tmp_path / f"out{broken}").read_bytes())
    assert outs[0] == outs[1] == b"head\n" + b"x" * 3_000_000 + b"\nfirst line\n"


def test_segments_join_records_end_to_end_and_cut_chunks(monkeypatch):
    monkeypatch.setattr(batch, "WRITE_CHUNK", 3)
    segments = batch._Segments()
    for at, size in [(0, 5), (5, 5), (100, 4), (104, 1), (10, 2), (200, 3), (203, 3)]:
        segments.add(at, size)
    segments.close()
    assert segments.chunks == [(0, [[0, 10], [100, 104]]), (3, [[104, 105], [10, 12], [200, 203]]),
                               (6, [[203, 206]])]


def test_spill_records_reads_records_across_segments(tmp_path):
    with open(tmp_path / "spill", "w+b") as f:
        appended = batch._Appended(f)
        blobs = [batch._spill(batch._FINAL, f"line {k}\n") for k in range(5)]
        at = [appended.append(b) for b in blobs]
        # records 3 and 4, then 0 and 1 (two runs, end to end within each)
        records = batch._spill_records(f, [(at[3], at[4] + len(blobs[4])), (at[0], at[2])])
    import pickle
    assert [pickle.loads(r) for r in records] == [(batch._FINAL, f"line {k}\n") for k in (3, 4, 0, 1)]


def test_a_worker_reads_its_slice_where_the_driver_says_and_tells_a_file_cut_short(tmp_path):
    import pickle
    from engine.score.batch_io import BatchError
    src = tmp_path / "b.jsonl"
    src.write_bytes(b'{"a": 1}\n{"b": 2}\n')
    assert batch._read_slice(str(src), 9, 9) == b'{"b": 2}\n'
    src.write_bytes(b'{"a": 1}\n')  # cut short while the run reads it
    batch._W.pop("batch_files", None)
    with pytest.raises(BatchError) as e:
        batch._read_slice(str(src), 9, 9)
    batch._W.pop("batch_files", None)
    again = pickle.loads(pickle.dumps(e.value))  # raised in a worker, it reaches the driver whole
    assert again.render("it") == ("b.jsonl: il file è cambiato durante la lettura; "
                                  "rilanciare la valutazione quando non è più in scrittura")
    assert again.render("en").startswith("b.jsonl: the file changed while it was being read")
