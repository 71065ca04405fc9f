"""A run's outputs are one unit; disk errors are clean (issue 12, part 4).

Each test here fails on the code before engine/score/rundir.py: outputs were
replaced file by file, stale letters survived, debris of killed runs stayed for
ever, disk errors were tracebacks and results.jsonl was read unchecked.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.score import outputs
from engine.score import rundir
from engine.score.batch import score_batch
from engine.cli import main

POLICY = """
call "Bando prova" version "1" {
  authority "Camera di Commercio"
  language it
  closes 2025-06-30 12:00
  budget 100_000_000 EUR
}

input {
  id: text
  firms: int in 0..1000
  requested: money in 0..1_000_000
}

eligibility {
  gate min_firms "Almeno 3 imprese" en "At least 3 firms": firms >= 3
}

grant = requested
requested = requested
"""

REPO = Path(__file__).resolve().parents[2]


def _policy(tmp_path) -> Path:
    p = tmp_path / "prova.bando"
    p.write_text(POLICY, encoding="utf-8")
    return p


def _batch(tmp_path, n, name="batch.jsonl", start=0, requested=100) -> Path:
    b = tmp_path / name
    with open(b, "w", encoding="utf-8") as fh:
        for i in range(start, start + n):
            fh.write(json.dumps({"id": f"A{i:05d}", "firms": 2 + i % 4, "requested": requested + i}) + "\n")
    return b


def _score(policy, batch, out, *extra):
    res = CliRunner().invoke(main, ["score", str(policy), str(batch), "-o", str(out), "--date", "2025-07-15",
                                    *extra])
    assert res.exit_code == 0, res.output
    return res


def _tree(folder: Path) -> dict:
    """Every file under ``folder`` (hidden ones too) -> its bytes; in manifest.json the time of
    the run (engine/score/audit.py) is left out: two runs of the same inputs write the same set but for it."""
    found = {}
    for root, _dirs, files in os.walk(folder):
        for f in files:
            p = Path(root, f)
            data = p.read_bytes()
            if f == "manifest.json":
                manifest = json.loads(data)
                manifest.get("run", {}).pop("time", None)
                data = json.dumps(manifest, sort_keys=True).encode()
            found[p.relative_to(folder).as_posix()] = data
    return found


def _hidden(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith("."))


def _one_message(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert "Traceback" not in output
    assert len(lines) == 1, output
    return lines[0]


@pytest.fixture
def run_a(tmp_path):
    """An output folder holding a complete first run (batch A, with letters)."""
    policy = _policy(tmp_path)
    out = tmp_path / "out"
    _score(policy, _batch(tmp_path, 6, "a.jsonl"), out)
    return policy, out


# --------------------------------------------------------------------------
# the manifest
# --------------------------------------------------------------------------

def test_manifest_lists_every_file_with_its_size_and_hash(run_a):
    _policy_path, out = run_a
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["bando_version"] and manifest["kind"] == "bando score"
    files = {k: v for k, v in _tree(out).items() if k != "manifest.json"}
    assert set(manifest["files"]) == set(files)
    assert {"results.jsonl", "ranking.csv", "errors.csv", "summary.json", "report.html"} <= set(files)
    assert sum(k.startswith("letters/") for k in files) == 6
    for name, data in files.items():
        assert manifest["files"][name] == {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert rundir.verify_folder(out) == []
    assert _hidden(out) == []


def test_a_changed_output_is_reported_by_verify_folder(run_a):
    _policy_path, out = run_a
    letter = sorted((out / "letters").iterdir())[0]
    letter.write_text("altered", encoding="utf-8")
    (out / "summary.json").unlink()
    problems = rundir.verify_folder(out)
    assert any(letter.name in p and "does not match" in p for p in problems)
    assert any("summary.json" in p and "missing" in p for p in problems)


# --------------------------------------------------------------------------
# a failed or killed run leaves the old set intact and complete
# --------------------------------------------------------------------------

class Killed(BaseException):
    """Stands for the process dying at that point (not an Exception: nothing may catch it)."""


def test_a_run_failing_after_results_jsonl_leaves_the_old_set(run_a, monkeypatch, tmp_path):
    policy, out = run_a
    before = _tree(out)

    def die(*args, **kwargs):
        raise Killed()

    # results.jsonl of the new run is complete when ranking.csv is written
    monkeypatch.setattr(outputs, "write_ranking_csv", die)
    with pytest.raises(Killed):
        score_batch(policy, _batch(tmp_path, 9, "b.jsonl", start=100), out)
    assert _tree(out) == before
    assert rundir.verify_folder(out) == []


def _crash_points(monkeypatch, fail_at):
    """Make the ``fail_at``-th rename/replace after the commit starts raise Killed."""
    count = {"armed": False, "n": 0}
    real_rename, real_replace, real_build = os.rename, os.replace, rundir.build_manifest

    def arm(*a, **k):
        count["armed"] = True
        return real_build(*a, **k)

    def counting(real):
        def op(src, dst, *a, **k):
            if count["armed"]:
                count["n"] += 1
                if count["n"] == fail_at:
                    raise Killed()
            return real(src, dst, *a, **k)
        return op

    monkeypatch.setattr(rundir, "build_manifest", arm)
    monkeypatch.setattr(os, "rename", counting(real_rename))
    monkeypatch.setattr(os, "replace", counting(real_replace))
    return count


def test_a_crash_at_any_step_of_the_commit_ends_old_or_new(tmp_path, monkeypatch):
    """Kill the commit at every rename in turn: the folder is then either the
    old complete set, or carries a .bando-commit-* folder that the next reader
    turns into the new complete set. Never a mixture without that marker."""
    policy = _policy(tmp_path)
    batch_a, batch_b = _batch(tmp_path, 5, "a.jsonl"), _batch(tmp_path, 3, "b.jsonl", start=50)
    reference = tmp_path / "ref"
    score_batch(policy, batch_b, reference, letters=False)
    new = _tree(reference)
    first = tmp_path / "first"
    score_batch(policy, batch_a, first)  # with letters: a run without them must remove them
    (first / "notes.txt").write_text("mine", encoding="utf-8")
    old = _tree(first)
    fail_at, seen_commit_marker = 1, False
    while True:
        out = tmp_path / f"out{fail_at}"
        shutil.copytree(first, out)
        with monkeypatch.context() as m:
            count = _crash_points(m, fail_at)
            try:
                score_batch(policy, batch_b, out, letters=False)
                finished = True
            except Killed:
                finished = False
        if finished:
            assert count["n"] < fail_at
            break
        marker = [n for n in os.listdir(out) if n.startswith(".bando-commit-")]
        if not marker:
            assert _tree(out) == old, f"crash at rename {fail_at}: neither the old set nor marked"
        else:
            seen_commit_marker = True
            if (out / "manifest.json").exists():
                assert rundir.verify_folder(out) == []  # a manifest never describes a mixture
            # a reader finishes the interrupted swap before it reads
            rundir.check_file(out / "results.jsonl")
            assert _hidden(out) == []
            tree = _tree(out)
            assert tree.pop("notes.txt") == b"mine"
            assert tree == new, f"crash at rename {fail_at}"
        fail_at += 1
    assert seen_commit_marker and fail_at > 5


def test_rerun_without_letters_removes_the_old_letters(run_a, tmp_path):
    policy, out = run_a
    assert (out / "letters").is_dir()
    _score(policy, _batch(tmp_path, 3, "b.jsonl", start=40), out, "--no-letters")
    assert not (out / "letters").exists()
    assert rundir.verify_folder(out) == []
    assert not any(k.startswith("letters/") for k in json.loads((out / "manifest.json").read_text())["files"])


def test_rerun_replaces_letters_of_applications_no_longer_in_the_batch(run_a, tmp_path):
    policy, out = run_a
    _score(policy, _batch(tmp_path, 2, "b.jsonl", start=70), out)
    assert sorted(p.stem for p in (out / "letters").iterdir()) == ["A00070", "A00071"]


def test_the_users_own_files_are_never_touched(run_a, tmp_path):
    policy, out = run_a
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    (out / ".my-settings").write_text("mine", encoding="utf-8")
    (out / "drafts").mkdir()
    (out / "drafts" / "letter.txt").write_text("mine", encoding="utf-8")
    (out / ".results.jsonl.backup").write_text("mine", encoding="utf-8")
    _score(policy, _batch(tmp_path, 2, "b.jsonl", start=70), out, "--no-letters")
    for name in ("notes.txt", ".my-settings", "drafts/letter.txt", ".results.jsonl.backup"):
        assert (out / name).read_text(encoding="utf-8") == "mine", name


# --------------------------------------------------------------------------
# debris of killed runs
# --------------------------------------------------------------------------

def _age(path: Path, seconds=3600):
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_debris_of_killed_runs_is_cleaned_on_the_next_run(run_a, tmp_path):
    policy, out = run_a
    staging = out / ".bando-run-4000000-abc123"  # a staging folder of a dead run
    (staging / "letters").mkdir(parents=True)
    (staging / ".results.jsonl.k2j4h5g6.tmp").write_bytes(b"x" * 1000)
    (staging / "letters" / "A1.txt").write_text("old", encoding="utf-8")
    legacy_tmp = out / ".results.jsonl.ab12cd34.tmp"  # what a kill left before manifests existed
    legacy_tmp.write_bytes(b"{}\n" * 100)
    legacy_letters = out / ".letters-x7y8z9w0"
    legacy_letters.mkdir()
    (legacy_letters / "A1.txt").write_text("old", encoding="utf-8")
    for p in (legacy_tmp, legacy_letters):
        _age(p)
    fresh = out / ".ranking.csv.qq11ww22.tmp"  # newer than the run: maybe an older bando writing now
    fresh.write_text("x", encoding="utf-8")
    future = time.time() + 3600
    os.utime(fresh, (future, future))
    (out / ".bando-notes").write_text("mine", encoding="utf-8")  # not bando's pattern: kept
    _score(policy, _batch(tmp_path, 2, "b.jsonl", start=70), out)
    assert _hidden(out) == [".bando-notes", ".ranking.csv.qq11ww22.tmp"]
    assert rundir.verify_folder(out) == []


def test_an_interrupted_commit_found_by_the_next_run_is_finished_not_lost(tmp_path, monkeypatch):
    policy = _policy(tmp_path)
    out = tmp_path / "out"
    score_batch(policy, _batch(tmp_path, 4, "a.jsonl"), out)
    with monkeypatch.context() as m:
        _crash_points(m, 5)  # after the commit point, during the swap
        with pytest.raises(Killed):
            score_batch(policy, _batch(tmp_path, 2, "b.jsonl", start=30), out)
    assert [n for n in os.listdir(out) if n.startswith(".bando-commit-")]
    assert rundir.clean_debris(out)  # what the next run does first
    assert _hidden(out) == [] and rundir.verify_folder(out) == []
    ids = [json.loads(line)["application"] for line in (out / "results.jsonl").read_text().splitlines()]
    assert ids == ["A00030", "A00031"]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
def test_kill_9_while_results_are_written_keeps_the_old_set_and_the_rerun_cleans(tmp_path):
    policy = _policy(tmp_path)
    out = tmp_path / "out"
    _score(policy, _batch(tmp_path, 4, "a.jsonl"), out)
    old = _tree(out)
    big = _batch(tmp_path, 3000, "big.jsonl", start=1000)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "score", str(policy), str(big), "-o", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    writing = None
    try:
        deadline = time.monotonic() + 300  # a bound against a hang, not a timing assertion
        while writing is None and proc.poll() is None and time.monotonic() < deadline:
            # the temp file of results.jsonl: in the folder, or in a hidden staging folder of it
            for folder in [out] + [out / n for n in _hidden(out) if (out / n).is_dir()]:
                try:
                    hits = [f for f in os.listdir(folder) if f.startswith(".results.jsonl.") and f.endswith(".tmp")]
                    if hits and os.path.getsize(folder / hits[0]) > 0:
                        writing = folder / hits[0]
                except FileNotFoundError:  # the staging folder went away meanwhile
                    continue
            time.sleep(0.005)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert writing is not None, "the run ended before results.jsonl was being written; use a larger batch"
    assert proc.returncode == -signal.SIGKILL
    assert {k: v for k, v in _tree(out).items() if not k.startswith(".")} == old  # the old set, complete
    assert rundir.verify_folder(out) == []
    assert _hidden(out)  # the killed run's debris...
    _score(policy, _batch(tmp_path, 2, "b.jsonl", start=70), out)
    assert _hidden(out) == []  # ...is gone after the next run
    assert rundir.verify_folder(out) == []


# --------------------------------------------------------------------------
# disk errors: one message, exit 2, old outputs intact
# --------------------------------------------------------------------------

def test_output_folder_under_a_file_is_one_clear_message(tmp_path):
    policy = _policy(tmp_path)
    blocker = tmp_path / "a-file.txt"
    blocker.write_text("x", encoding="utf-8")
    res = CliRunner().invoke(main, ["score", str(policy), str(_batch(tmp_path, 2)), "-o", str(blocker / "out")])
    assert res.exit_code == 2
    line = _one_message(res.output)
    assert str(blocker / "out") in line and "ENOTDIR" in line and f"{blocker} is a file, not a folder" in line


def _failing(real, err, when=lambda *a: True):
    def op(*args, **kwargs):
        if when(*args):
            raise OSError(err, os.strerror(err))
        return real(*args, **kwargs)
    return op


@pytest.mark.parametrize("where, err, hint", [
    ("fsync", errno.ENOSPC, "the disk is full"),          # a full disk shows on write/flush/fsync
    ("replace", errno.EROFS, "read-only"),                  # a folder that became read-only
    ("mkdir", errno.EACCES, "may not write there"),         # no permission to create the staging folder
])
def test_disk_errors_in_score_give_one_message_and_keep_the_old_outputs(run_a, tmp_path, monkeypatch,
                                                                       where, err, hint):
    policy, out = run_a
    before = _tree(out)
    real = getattr(os, where)
    when = (lambda *a: True) if where != "mkdir" else (lambda path, *a: ".bando-run-" in os.fspath(path))
    monkeypatch.setattr(os, where, _failing(real, err, when))
    res = CliRunner().invoke(main, ["score", str(policy), str(_batch(tmp_path, 3, "b.jsonl", start=40)),
                                    "-o", str(out)])
    monkeypatch.undo()
    assert res.exit_code == 2, res.output
    line = _one_message(res.output)
    assert str(out) in line and errno.errorcode[err] in line and hint in line
    assert "None" not in line
    assert _tree(out) == before


def test_disk_full_in_letters_gives_one_message_and_keeps_the_old_letters(run_a, tmp_path, monkeypatch):
    policy, out = run_a
    dest = tmp_path / "lt"
    res = CliRunner().invoke(main, ["letters", str(policy), str(out / "results.jsonl"), "-o", str(dest)])
    assert res.exit_code == 0, res.output
    before = _tree(dest)
    real_open = os.open
    monkeypatch.setattr(os, "open", _failing(real_open, errno.ENOSPC,
                                             lambda path, *a: os.fspath(path).endswith(".tmp")))
    res = CliRunner().invoke(main, ["letters", str(policy), str(out / "results.jsonl"), "-o", str(dest),
                                    "--format", "md"])
    monkeypatch.undo()
    assert res.exit_code == 2
    assert "ENOSPC" in _one_message(res.output)
    assert _tree(dest) == before


def test_fmt_on_a_read_only_file_system_is_one_message_and_the_file_is_unchanged(tmp_path, monkeypatch):
    p = tmp_path / "p.bando"
    text = POLICY.replace("  budget", "      budget")  # not in canonical layout
    p.write_text(text, encoding="utf-8")
    monkeypatch.setattr(os, "replace", _failing(os.replace, errno.EROFS))
    res = CliRunner().invoke(main, ["fmt", str(p)])
    monkeypatch.undo()
    assert res.exit_code == 2
    line = _one_message(res.output)
    assert str(p) in line and "EROFS" in line and "unchanged" in line
    assert p.read_text(encoding="utf-8") == text
    assert sorted(os.listdir(tmp_path)) == ["p.bando"]


def test_a_second_run_on_the_same_folder_at_the_same_time_is_refused(run_a, tmp_path):
    policy, out = run_a
    before = _tree(out)
    with rundir.OutputRun(out, outputs=rundir.SCORE_OUTPUTS, kind="bando score"):
        res = CliRunner().invoke(main, ["score", str(policy), str(_batch(tmp_path, 2, "b.jsonl")), "-o", str(out)])
    assert res.exit_code == 2
    assert "another bando run is writing" in _one_message(res.output)
    assert _tree(out) == before


# --------------------------------------------------------------------------
# readers check the manifest
# --------------------------------------------------------------------------

def _tamper_same_size(path: Path):
    data = path.read_bytes()
    i = data.index(b'"grant":"') + len(b'"grant":"')
    digit = data[i:i + 1]
    path.write_bytes(data[:i] + (b"9" if digit != b"9" else b"8") + data[i + 1:])


@pytest.mark.parametrize("how", ["same size", "appended"])
def test_letters_refuses_a_tampered_results_jsonl(run_a, tmp_path, how):
    policy, out = run_a
    results = out / "results.jsonl"
    if how == "same size":
        _tamper_same_size(results)
    else:
        with open(results, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"application": "FAKE", "status": "funded", "grant": "1000000"}) + "\n")
    dest = tmp_path / "lt"
    res = CliRunner().invoke(main, ["letters", str(policy), str(results), "-o", str(dest)])
    assert res.exit_code == 2
    line = _one_message(res.output)
    assert str(results) in line and "does not match" in line and "manifest.json" in line
    assert not dest.exists() or [n for n in os.listdir(dest)] == []  # nothing made from it


def test_previous_run_with_a_tampered_results_jsonl_is_refused(run_a, tmp_path):
    policy, out = run_a
    _tamper_same_size(out / "results.jsonl")
    res = CliRunner().invoke(main, ["score", str(policy), str(_batch(tmp_path, 2, "b.jsonl")), "-o",
                                    str(tmp_path / "out2"), "--previous", str(out / "results.jsonl")])
    assert res.exit_code == 2
    assert "does not match" in _one_message(res.output)


def test_letters_reads_an_untampered_run_and_its_folder_is_a_unit_too(run_a, tmp_path):
    policy, out = run_a
    dest = tmp_path / "lt"
    (dest).mkdir()
    (dest / "cover-note.txt").write_text("mine", encoding="utf-8")
    res = CliRunner().invoke(main, ["letters", str(policy), str(out / "results.jsonl"), "-o", str(dest)])
    assert res.exit_code == 0, res.output
    assert len([n for n in os.listdir(dest) if n.startswith("A")]) == 6
    # fewer results: the letters of the earlier `bando letters` run do not survive, the user's file does
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()[:2]
    few = tmp_path / "few.jsonl"
    few.write_text("\n".join(lines) + "\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["letters", str(policy), str(few), "-o", str(dest)])
    assert res.exit_code == 0, res.output
    assert sorted(os.listdir(dest)) == ["A00000.txt", "A00001.txt", "cover-note.txt", "manifest.json"]
    assert rundir.verify_folder(dest) == []


@pytest.mark.parametrize("sub", ["letters", "."])
def test_letters_into_a_score_runs_folder_is_refused(run_a, sub):
    policy, out = run_a
    before = _tree(out)
    res = CliRunner().invoke(main, ["letters", str(policy), str(out / "results.jsonl"), "-o", str(out / sub)])
    assert res.exit_code == 2
    assert "choose another folder" in _one_message(res.output).lower()
    assert _tree(out) == before


# --------------------------------------------------------------------------
# a manifest is untrusted input too
# --------------------------------------------------------------------------

def _rewrite_manifest(out: Path, change):
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    change(m)
    (out / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


def test_a_manifest_naming_files_outside_the_folder_is_refused(run_a, tmp_path):
    policy, out = run_a
    secret = tmp_path / "secret.txt"
    secret.write_text("s", encoding="utf-8")
    _rewrite_manifest(out, lambda m: m["files"].update({"../secret.txt": {"size": 1, "sha256": "0" * 64}}))
    with pytest.raises(rundir.ManifestError, match="not a plain path"):
        rundir.verify_folder(out)
    res = CliRunner().invoke(main, ["letters", str(policy), str(out / "results.jsonl"), "-o", str(tmp_path / "lt")])
    assert res.exit_code == 2 and "not a plain path" in _one_message(res.output)


def test_a_huge_manifest_is_refused_without_reading_it_all(run_a, monkeypatch):
    _policy_path, out = run_a
    monkeypatch.setattr(rundir, "MANIFEST_LIMIT", 100)
    with pytest.raises(rundir.ManifestError, match="larger than"):
        rundir.read_manifest(out)


def test_a_users_own_manifest_json_is_not_overwritten(tmp_path):
    policy = _policy(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"project": "mine"}', encoding="utf-8")
    res = CliRunner().invoke(main, ["score", str(policy), str(_batch(tmp_path, 2)), "-o", str(out)])
    assert res.exit_code == 2
    assert "move that file away" in _one_message(res.output)
    assert (out / "manifest.json").read_text(encoding="utf-8") == '{"project": "mine"}'
    assert os.listdir(out) == ["manifest.json"]


# --------------------------------------------------------------------------
# property: whatever the folder holds and wherever a run dies, the user's
# files survive and bando's are the old set or the new one
# --------------------------------------------------------------------------

_user_names = st.text(alphabet="abcdefgh.-_", min_size=1, max_size=12).filter(
    lambda n: n not in (".", "..") and n not in rundir.SCORE_OUTPUTS and n != "manifest.json"
    and not n.startswith((".bando-", ".letters-")) and not n.endswith(".tmp"))


def _write_set(folder: Path, files: dict):
    for rel, data in files.items():
        p = folder / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(user=st.dictionaries(_user_names, st.binary(max_size=20), max_size=4),
       new_letters=st.lists(st.sampled_from(["A.txt", "B.txt", "C.txt"]), unique=True),
       fail_at=st.integers(min_value=0, max_value=12))
def test_property_user_files_survive_and_bando_files_are_old_or_new(tmp_path_factory, user, new_letters, fail_at):
    out = tmp_path_factory.mktemp("prop")
    old_set = {"results.jsonl": b"old\n", "ranking.csv": b"old", "letters/A.txt": b"old", "letters/Z.txt": b"old"}
    with rundir.OutputRun(out, outputs=rundir.SCORE_OUTPUTS, kind="bando score") as run:
        _write_set(run.path, old_set)
        run.commit()
    _write_set(out, user)
    new_set = {"results.jsonl": b"new\n", "summary.json": b"{}"}
    new_set.update({f"letters/{n}": b"new" for n in new_letters})
    mp = pytest.MonkeyPatch()
    try:
        _crash_points(mp, fail_at)
        with rundir.OutputRun(out, outputs=rundir.SCORE_OUTPUTS, kind="bando score") as run:
            _write_set(run.path, new_set)
            run.commit()
    except Killed:
        pass
    finally:
        mp.undo()
    rundir.recover(out)
    tree = {k: v for k, v in _tree(out).items() if k != "manifest.json"}
    for name, data in user.items():
        assert tree.pop(name) == data
    assert tree in (old_set, new_set)
    assert rundir.verify_folder(out) == []


def test_digests_worked_out_earlier_stand_only_while_the_file_is_as_it_was(tmp_path):
    import hashlib
    import os
    from engine.score import rundir
    f = tmp_path / "results.jsonl"
    f.write_bytes(b"one\n")
    known = rundir.file_digests([f])
    assert rundir.file_digest(f, known) == (4, hashlib.sha256(b"one\n").hexdigest())
    # a planted digest for the same file as it is is taken (so the test sees which one was used) ...
    (ident, size, _), = known.values()
    planted = {os.path.abspath(f): (ident, size, "0" * 64)}
    assert rundir.file_digest(f, planted) == (4, "0" * 64)
    # ... but not once the file changed: same size, other bytes, another modification time
    f.write_bytes(b"two\n")
    os.utime(f, ns=(ident[3] + 1_000_000, ident[3] + 1_000_000))
    assert rundir.file_digest(f, planted) == (4, hashlib.sha256(b"two\n").hexdigest())
    manifest = rundir.build_manifest(tmp_path, "bando score", known=planted)
    assert manifest["files"]["results.jsonl"]["sha256"] == hashlib.sha256(b"two\n").hexdigest()


def test_a_scored_run_records_the_digests_of_the_files_as_written(tmp_path):
    import hashlib
    import json
    from pathlib import Path
    from engine.score.batch import score_batch
    root = Path(__file__).resolve().parents[2]
    src = root / "examples" / "mechnet" / "batch.jsonl"
    for jobs in (1, 2):
        out = tmp_path / f"j{jobs}"
        summary = score_batch(root / "policies" / "mechnet.bando", src, out, letters=False, jobs=jobs)
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["files"]["results.jsonl"]["sha256"] == \
            hashlib.sha256((out / "results.jsonl").read_bytes()).hexdigest()
        # worked out during the run (results.jsonl where it was written: the run's staging folder)
        assert sorted(Path(k).name for k in summary.file_digests) == ["batch.jsonl", "results.jsonl"]
        batch_files = manifest["run"]["inputs"]["batch"]["files"]
        assert batch_files == {str(src): hashlib.sha256(src.read_bytes()).hexdigest()}
