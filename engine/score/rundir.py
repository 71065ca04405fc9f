"""A run's output folder as one unit.

``bando score`` writes several files (results.jsonl, ranking.csv, errors.csv,
summary.json, report.html, letters/) that only make sense together; ``bando
letters`` writes one file per application. Writing each file atomically is not
enough: a run killed half-way, or a re-run that writes fewer files, would leave
new results next to an old ranking or old letters. This module makes the set
of files one unit:

1. :class:`OutputRun` takes the folder's lock (``flock`` on the folder itself,
   so no lock file is left behind and a killed run's lock dies with it), cleans
   the debris of earlier killed runs, and opens a private staging folder
   ``TARGET/.bando-run-<pid>-<random>/`` (inside the target: same file
   system, so every later step is a rename).
2. Everything is written into the staging folder.
3. :meth:`OutputRun.commit` writes ``manifest.json`` last (every file with
   its size and SHA-256) and a small plan of which names it replaces, then
   renames the staging folder to ``.bando-commit-<pid>-<random>``: that
   rename is the commit point. It then moves the old run's files aside (into
   the commit folder), renames each new file/folder into place, the manifest
   last, and removes the commit folder with the old files in it.

A crash before the commit point leaves the old set untouched plus a
``.bando-run-*`` folder, which the next run removes. A crash after it leaves a
``.bando-commit-*`` folder holding a complete new set; the next run (or a
reader, see :func:`verified_lines`) finishes the swap, which is idempotent.

Which files are bando's: the names a run declares (``SCORE_OUTPUTS``), the
names it writes, and the top-level files the previous run's ``manifest.json``
lists. Only those are ever replaced or removed: anything else the user keeps
in the folder is never touched. Debris is recognised only by bando's own
prefixes (see :func:`clean_debris`).

Readers of a results.jsonl inside such a folder check it against the manifest
(:func:`verified_lines`, :func:`check_file`) and refuse a file that does not
match.
"""
from __future__ import annotations

import errno as _errno
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterable, Iterator, Mapping

try:  # POSIX; elsewhere runs go unlocked and debris is judged by its owner's pid
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from engine.score.outputs import atomic_write, os_error_text

__all__ = [
    "MANIFEST",
    "SCORE_OUTPUTS",
    "OutputRun",
    "OutputError",
    "RunDirError",
    "ManifestError",
    "build_manifest",
    "read_manifest",
    "verify_folder",
    "check_file",
    "verified_lines",
    "clean_debris",
    "recover",
]

MANIFEST = "manifest.json"
#: what ``bando score`` writes; these names in an output folder are bando's
SCORE_OUTPUTS = ("results.jsonl", "ranking.csv", "ranking.xlsx", "errors.csv", "errors.xlsx", "summary.json",
                 "report.html", "letters", "panel.csv", "marks_template.csv", "outputs_items.csv")

_RUN_PREFIX = ".bando-run-"
_COMMIT_PREFIX = ".bando-commit-"
_PLAN = ".plan.json"
_TRASH = ".old"
#: a manifest lists one entry per letter; 64 MiB is ~500,000 of them
MANIFEST_LIMIT = 64 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: bando's own names in a folder of a run: the pid of the owner follows the prefix
_OWNED_DEBRIS = re.compile(r"\.bando-(run|commit)-(\d+)-[A-Za-z0-9_]+")
# Debris of versions before this module: letters staging folders and the temp
# files of atomic_open (".NAME.<8 random chars>.tmp", see tempfile.mkstemp).
_LEGACY_DIR = re.compile(r"\.letters-(old-)?[A-Za-z0-9_]+")
_LEGACY_TMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")
_LETTER_SUFFIXES = (".txt", ".md", ".html", ".pdf")


class RunDirError(Exception):
    """A clean, user-facing problem with an output folder (no traceback)."""


class ManifestError(RunDirError):
    """A file does not match the manifest of the run that wrote it."""


class OutputError(OSError):
    """An OSError while writing a run's outputs, with a message that says which
    file, why, and what state the folder is left in."""

    def __init__(self, message: str, cause: OSError | None = None):
        if cause is not None:
            super().__init__(cause.errno, cause.strerror, cause.filename)
        else:
            super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------
# manifest
# --------------------------------------------------------------------------

def _bando_version() -> str:
    from importlib import metadata
    try:
        return metadata.version("bando")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def file_digests(paths) -> dict:
    """The size and SHA-256 of each file, worked out now (with ``--jobs``, in a process that has a core
    to spare) for :func:`build_manifest` and the run record to take instead of reading the file again:
    ``{absolute path: (what stat said, size, sha256)}``. One is taken only while the file's device,
    inode, size and modification time (in nanoseconds) are still those of when it was read."""
    known = {}
    for p in paths:
        p = os.path.abspath(p)
        before = _identity(p)
        size, digest = _hash_file(p)
        if _identity(p) == before:  # not being written meanwhile: else it is read again when asked
            known[p] = (before, size, digest)
    return known


def _identity(path: str) -> tuple:
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def file_digest(path, known: Mapping | None = None) -> tuple[int, str]:
    """``(size, sha256)`` of a file: from ``known`` (:func:`file_digests`) while it still holds, else read."""
    path = os.path.abspath(path)
    entry = known.get(path) if known else None
    if entry is not None and entry[0] == _identity(path):
        return entry[1], entry[2]
    return _hash_file(path)


def _hash_file(path: str) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            if not block:
                break
            size += len(block)
            h.update(block)
    return size, h.hexdigest()


def _walk_files(root: str, rel: str = "") -> Iterator[str]:
    """Relative paths ('/'-separated) of the regular files under ``root``,
    sorted; hidden entries (temp files) are not outputs and are skipped."""
    with os.scandir(os.path.join(root, rel) if rel else root) as it:
        entries = sorted(it, key=lambda e: e.name)
    for e in entries:
        if e.name.startswith("."):
            continue
        path = f"{rel}/{e.name}" if rel else e.name
        if e.is_dir(follow_symlinks=False):
            yield from _walk_files(root, path)
        elif e.is_file(follow_symlinks=False):
            yield path
        else:
            raise RunDirError(f"{os.path.join(root, path)}: not a regular file or folder; a run writes only files")


def build_manifest(folder: str | os.PathLike, kind: str, extra: Mapping | None = None,
                   known: Mapping | None = None) -> dict:
    """The manifest of the files under ``folder``: ``{"bando_version",
    "kind", "files": {path: {"size", "sha256"}}, ...extra}``. Deterministic
    (no time stamps): two identical runs give identical manifests. ``known``: digests worked out
    earlier (:func:`file_digests`)."""
    folder = os.fspath(folder)
    files = {}
    for rel in _walk_files(folder):
        if rel == MANIFEST:
            continue
        size, digest = file_digest(os.path.join(folder, *rel.split("/")), known)
        files[rel] = {"size": size, "sha256": digest}
    manifest = dict(extra or {})
    manifest.update(bando_version=_bando_version(), kind=kind, files=files)
    return manifest


def _safe_relpath(key: object) -> bool:
    """A manifest key may only name a file inside the folder."""
    if not isinstance(key, str) or not key or "\\" in key or "\x00" in key or key.startswith("/"):
        return False
    return all(part not in ("", ".", "..") for part in key.split("/"))


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The manifest of ``folder``, or None when there is none. A manifest
    that is unreadable, too large or not shaped like bando's is refused
    (:class:`ManifestError`): a folder is checked against it, so it is
    untrusted input too."""
    path = os.path.join(os.fspath(folder), MANIFEST)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MANIFEST_LIMIT + 1)
    except (FileNotFoundError, NotADirectoryError):  # no manifest there (or no folder at all)
        return None
    except IsADirectoryError:
        raise ManifestError(f"{path}: a folder, not a manifest") from None
    if len(data) > MANIFEST_LIMIT:
        raise ManifestError(f"{path}: larger than {MANIFEST_LIMIT // (1024 * 1024)} MiB; not a bando manifest")
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ManifestError(f"{path}: not valid JSON ({e}); the folder cannot be checked") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise ManifestError(f"{path}: not a bando manifest (no \"files\" object)")
    for key, entry in files.items():
        if not _safe_relpath(key):
            raise ManifestError(f"{path}: file name {key!r} is not a plain path inside the folder")
        if (not isinstance(entry, dict) or type(entry.get("size")) is not int or entry["size"] < 0
                or not isinstance(entry.get("sha256"), str) or not _SHA256.fullmatch(entry["sha256"])):
            raise ManifestError(f"{path}: entry for {key!r} must have a size and a sha256")
    return manifest


def verify_folder(folder: str | os.PathLike) -> list[str]:
    """Problems of ``folder`` against its manifest ([] when it matches, or
    when there is no manifest): missing files, wrong sizes, wrong hashes.
    Every entry is resolved inside the folder; one that leads elsewhere (a
    symlink planted in place of a file) is reported, not read."""
    folder = os.fspath(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return []
    root = os.path.realpath(folder)
    problems = []
    for key, entry in sorted(manifest["files"].items()):
        path = os.path.join(folder, *key.split("/"))
        real = os.path.realpath(path)
        if not real.startswith(root + os.sep) or os.path.islink(path):
            problems.append(f"{path}: leads outside the folder; not checked")
            continue
        if not os.path.isfile(path):
            problems.append(f"{path}: listed in {MANIFEST} but missing")
            continue
        size, digest = _hash_file(path)
        if size != entry["size"] or digest != entry["sha256"]:
            problems.append(f"{path}: does not match {MANIFEST} (changed after the run wrote it)")
    return problems


def _entry_for(path: str) -> tuple[str, dict] | None:
    """(manifest path, entry) of ``path`` in its folder's manifest, finishing
    an interrupted commit of that folder first; None when not listed."""
    folder = os.path.dirname(os.path.abspath(path))
    if _commit_dirs(folder):
        _recover_for_reader(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return None
    entry = manifest["files"].get(os.path.basename(path))
    return None if entry is None else (os.path.join(folder, MANIFEST), entry)


def _mismatch(path: str, manifest_path: str) -> ManifestError:
    return ManifestError(
        f"{path}: does not match {manifest_path} (the file was changed after the bando run that wrote it); "
        "refusing to use it. Re-run `bando score` to get results you can trust")


def check_file(path: str | os.PathLike) -> None:
    """Refuse (:class:`ManifestError`) ``path`` if the manifest of its folder
    lists it with another size or hash. A file not listed, or in a folder
    without a manifest, passes: it is not a run's output."""
    path = os.fspath(path)
    found = _entry_for(path)
    if found is None:
        return
    manifest_path, entry = found
    if _hash_file(path) != (entry["size"], entry["sha256"]):
        raise _mismatch(path, manifest_path)


def verified_lines(path: str | os.PathLike) -> Iterator[bytes]:
    """The lines (bytes) of a results.jsonl, checked against its folder's manifest
    while they are read (one pass, and the bytes checked are the bytes used):
    a wrong size is refused before the first line, a wrong hash when the last
    line has been read, so a caller that writes into an :class:`OutputRun`
    discards everything it made from a tampered file."""
    path = os.fspath(path)
    found = _entry_for(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if found is not None and os.fstat(fh.fileno()).st_size != found[1]["size"]:
            raise _mismatch(path, found[0])
        for raw in fh:
            h.update(raw)
            yield raw
    if found is not None and h.hexdigest() != found[1]["sha256"]:
        raise _mismatch(path, found[0])


# --------------------------------------------------------------------------
# locking
# --------------------------------------------------------------------------

_LOCK_FDS: set[int] = set()


def _close_locks_in_child():
    # A forked worker must not keep the folder locked after the parent dies
    # (flock locks belong to the open file, which fork shares): close its copy.
    for fd in list(_LOCK_FDS):
        try:
            os.close(fd)
        except OSError:
            pass
    _LOCK_FDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_locks_in_child)


def _lock(folder: str) -> int | None:
    """Lock ``folder`` for this process; None where locks are not available.
    Raises RunDirError when another run holds it."""
    if fcntl is None:
        return None
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunDirError(f"{folder}: another bando run is writing this folder right now; "
                          "wait for it to finish, or choose another output folder") from None
    except OSError as e:
        os.close(fd)
        if e.errno in (_errno.ENOLCK, _errno.EOPNOTSUPP, _errno.ENOSYS, _errno.EINVAL):
            return None  # a file system without locks: run unlocked, debris judged by pid
        raise
    _LOCK_FDS.add(fd)
    return fd


def _unlock(fd: int | None) -> None:
    if fd is not None:
        _LOCK_FDS.discard(fd)
        os.close(fd)  # closing the last copy releases the flock


def _fsync_dir(path: str) -> None:
    """Make renames in ``path`` durable (ignored where directories cannot be fsynced)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# debris and recovery
# --------------------------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's live process (or we cannot tell): keep its files
    return True


def _commit_dirs(folder: str) -> list[str]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(n for n in names if n.startswith(_COMMIT_PREFIX) and _OWNED_DEBRIS.fullmatch(n))


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _move_aside(src: str, dst: str) -> None:
    if os.path.lexists(dst):  # left by an earlier attempt at this same commit
        _remove(dst)
    os.rename(src, dst)


def _plain_name(name: object) -> bool:
    return (isinstance(name, str) and _safe_relpath(name) and "/" not in name
            and not name.startswith(".") and name != MANIFEST)


def _roll_forward(target: str, commit: str) -> None:
    """Finish the swap of the complete new set in ``commit`` into ``target``.
    Idempotent: run again after a crash at any step, it ends in the same state."""
    new_manifest = os.path.join(commit, MANIFEST)
    if os.path.exists(new_manifest):
        try:
            with open(os.path.join(commit, _PLAN), encoding="utf-8") as fh:
                plan = json.load(fh)
            replace = plan["replace"]
            new = set(plan["new"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RunDirError(f"{commit}: the plan of an interrupted run cannot be read ({e}); "
                              "remove that folder by hand") from None
        if not all(map(_plain_name, replace)) or not all(map(_plain_name, new)) or not new <= set(replace):
            raise RunDirError(f"{commit}: the plan of an interrupted run names files outside its outputs; "
                              "remove that folder by hand")
        trash = os.path.join(commit, _TRASH)
        os.makedirs(trash, exist_ok=True)
        # the old manifest goes first, so the folder never shows a manifest
        # that describes a mixture
        if os.path.lexists(os.path.join(target, MANIFEST)):
            _move_aside(os.path.join(target, MANIFEST), os.path.join(trash, MANIFEST))
        for name in replace:
            src, dst = os.path.join(commit, name), os.path.join(target, name)
            if os.path.lexists(src):
                if os.path.lexists(dst):
                    _move_aside(dst, os.path.join(trash, name))
                os.rename(src, dst)
            elif name not in new and os.path.lexists(dst):
                _move_aside(dst, os.path.join(trash, name))  # stale: the new run does not write it
        _fsync_dir(target)
        os.replace(new_manifest, os.path.join(target, MANIFEST))
        _fsync_dir(target)
    shutil.rmtree(commit)


def clean_debris(target: str | os.PathLike, *, started: float | None = None, locked: bool = True) -> list[str]:
    """Remove what killed runs left in ``target``; return the names handled.

    * ``.bando-commit-*``: a complete new set whose swap was interrupted:
      the swap is finished (never thrown away);
    * ``.bando-run-*``: an unfinished staging folder: removed;
    * from versions before manifests: ``.letters-*`` folders and
      ``.NAME.xxxxxxxx.tmp`` temp files of bando's outputs (or of letters),
      only when older than ``started`` (the start of the current run).

    With the folder's lock held (``locked``), every ``.bando-*`` entry is a
    dead run's; without it only those whose owner pid is gone are touched.
    Nothing else is ever removed.
    """
    target = os.fspath(target)
    started = time.time() if started is None else started
    done = []
    for name in sorted(os.listdir(target)):
        path = os.path.join(target, name)
        m = _OWNED_DEBRIS.fullmatch(name)
        if m is not None:
            if not locked and _pid_alive(int(m.group(2))):
                continue
            if m.group(1) == "commit":
                _roll_forward(target, path)
            else:
                shutil.rmtree(path, ignore_errors=True)
            done.append(name)
            continue
        legacy = _LEGACY_DIR.fullmatch(name)
        tmp = _LEGACY_TMP.fullmatch(name)
        if tmp is not None:
            base = tmp.group("name")
            legacy = base in SCORE_OUTPUTS or base == MANIFEST or base.endswith(_LETTER_SUFFIXES)
        if not legacy:
            continue
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if st.st_mtime >= started:
            continue  # could be a run of an older bando writing right now
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
        done.append(name)
    return done


def recover(target: str | os.PathLike) -> list[str]:
    """Finish the interrupted swaps in ``target`` (its ``.bando-commit-*``
    folders), under the folder's lock. Readers call this: it only completes
    what a run already committed, it removes nothing else."""
    target = os.fspath(target)
    fd = _lock(target)
    try:
        done = []
        for name in _commit_dirs(target):
            _roll_forward(target, os.path.join(target, name))
            done.append(name)
        return done
    finally:
        _unlock(fd)


def _recover_for_reader(folder: str) -> None:
    try:
        recover(folder)
    except OSError as e:
        raise RunDirError(
            f"{folder}: an earlier bando run was interrupted while putting its outputs in place, "
            f"and finishing it failed ({os_error_text(e)}); run `bando score` again") from None


# --------------------------------------------------------------------------
# a run
# --------------------------------------------------------------------------

def _write_plan(staging: str, replace: Iterable[str], new: Iterable[str]) -> None:
    text = json.dumps({"replace": sorted(set(replace)), "new": sorted(set(new))}, indent=1) + "\n"
    atomic_write(os.path.join(staging, _PLAN), text)


def _managed_by_parent(target: str) -> str | None:
    """The parent folder when ``target`` is inside a run of it (e.g. the
    ``letters/`` of a ``bando score`` output folder)."""
    parent = os.path.dirname(os.path.abspath(target))
    try:
        manifest = read_manifest(parent)
    except ManifestError:
        return None
    if manifest is None:
        return None
    prefix = os.path.basename(os.path.abspath(target)) + "/"
    return parent if any(k.startswith(prefix) for k in manifest["files"]) else None


class OutputRun:
    """One run writing ``target`` as a unit.

    >>> with OutputRun("out/sn", outputs=SCORE_OUTPUTS, kind="bando score") as run:  # doctest: +SKIP
    ...     write_everything_into(run.path)
    ...     run.commit()

    ``outputs`` are the names this kind of run owns even when a run does not
    write them (so ``--no-letters`` removes the letters of an earlier run).
    Leaving the block without :meth:`commit` (an exception, Ctrl-C) removes
    the staging folder: the folder is as it was. An OSError inside the block
    becomes an :class:`OutputError` that says so.
    """

    def __init__(self, target: str | os.PathLike, *, outputs: Iterable[str] = (), kind: str = "bando"):
        self.target = Path(target)
        self.outputs = tuple(outputs)
        self.kind = kind
        self.path: Path | None = None
        self._fd = None
        self._state = "new"

    # -- setting up ----------------------------------------------------------------------------

    def __enter__(self) -> "OutputRun":
        started = time.time()
        target = os.fspath(self.target)
        owner = _managed_by_parent(target)
        if owner is not None:
            raise RunDirError(
                f"{target}: this folder belongs to the bando run in {owner} (listed in its {MANIFEST}); "
                "writing into it would make that run's outputs inconsistent. Choose another folder")
        try:
            os.makedirs(target, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create the output folder {target}: {os_error_text(e)}", e) from e
        try:
            self._fd = _lock(target)
            try:
                self._check_previous(target)
                clean_debris(target, started=started, locked=self._fd is not None)
                self.path = Path(tempfile.mkdtemp(prefix=f"{_RUN_PREFIX}{os.getpid()}-", dir=target))
            except BaseException:
                _unlock(self._fd)
                self._fd = None
                raise
        except OSError as e:
            raise OutputError(f"cannot write the outputs in {target}: {os_error_text(e)}; "
                              "nothing in the folder was changed", e) from e
        self._state = "staging"
        return self

    def _check_previous(self, target: str) -> None:
        """The folder may hold a run of this kind, or none: anything else
        would lose files (the letters of `bando letters` written over a
        score run would count its results.jsonl as stale)."""
        try:
            previous = read_manifest(target)
        except ManifestError as e:
            raise RunDirError(f"{e}. bando keeps its own {MANIFEST} in an output folder: "
                              "move that file away, or choose another folder") from None
        if previous is not None and previous.get("kind") != self.kind:
            raise RunDirError(
                f"{target}: holds the outputs of a `{previous.get('kind')}` run (see its {MANIFEST}), "
                f"not of `{self.kind}`; choose another folder")

    def __exit__(self, exc_type, exc, tb):
        try:
            if self._state == "staging":  # not committed: the folder stays as it was
                shutil.rmtree(self.path, ignore_errors=True)
        finally:
            _unlock(self._fd)
            self._fd = None
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            if self._state == "committing":
                raise OutputError(
                    f"the new outputs for {self.target} are complete, but putting them in place failed: "
                    f"{os_error_text(exc)}; the next bando run in this folder finishes it", exc) from exc
            raise OutputError(f"cannot write the outputs in {self.target}: {os_error_text(exc)}; "
                              "the outputs already there are unchanged", exc) from exc
        return False

    # -- committing ----------------------------------------------------------------------------

    def commit(self, extra: Mapping | None = None, known: Mapping | None = None) -> dict:
        """Write the manifest, then swap the new set in for the old one.
        ``extra`` adds keys to the manifest (it stays a dict with ``files``
        and ``bando_version``); ``known``, digests of its files worked out earlier
        (:func:`file_digests`). Returns the manifest."""
        if self._state != "staging":
            raise RuntimeError(f"OutputRun.commit: the run is {self._state}, not staging")
        staging, target = os.fspath(self.path), os.fspath(self.target)
        manifest = build_manifest(staging, self.kind, extra, known)
        new = {key.split("/", 1)[0] for key in manifest["files"]}
        for name in os.listdir(staging):  # an empty folder (no letters) is an output too
            if not name.startswith(".") and name != MANIFEST:
                new.add(name)
        previous = read_manifest(target) or {"files": {}}  # checked on entering; the folder is locked
        replace = set(self.outputs) | new | {k for k in previous["files"] if "/" not in k}
        bad = sorted(n for n in replace if not _plain_name(n))
        if bad:
            raise RunDirError(f"{staging}: cannot commit outputs named {', '.join(map(repr, bad))}")
        _write_plan(staging, replace, new)
        atomic_write(os.path.join(staging, MANIFEST),
                     json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
        _fsync_dir(staging)
        commit_dir = os.path.join(target, _COMMIT_PREFIX + os.path.basename(staging)[len(_RUN_PREFIX):])
        os.rename(staging, commit_dir)  # the commit point
        self._state = "committing"
        self.path = Path(commit_dir)
        _fsync_dir(target)
        _roll_forward(target, commit_dir)
        self._state = "committed"
        return manifest
