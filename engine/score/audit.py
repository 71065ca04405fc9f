"""The audit trail of a run: what it read, and a re-run that proves what it wrote.

Every ``bando score`` writes ``manifest.json`` last (engine/score/rundir.py: every
output file with its size and SHA-256). This module adds the ``run`` record
to it: which bando, which policy (its name, version and SHA-256, and the
SHA-256 of each file it is made of: the policy, its modules, its letter
templates), the SHA-256 of every input file (the applications and their
items files, the previous run, the withdrawals), every option that changes
an outcome (budget, language, letters and their date, CSV layout, how numbers
are read), and the time of the run.

:func:`verify` reads that record back, checks that every input is still the
file that was read, scores it again into a temporary folder, and compares
every output with the recorded hashes. Outputs are deterministic, so a
faithful run reproduces them byte for byte; the time of the run is the only
thing that differs, and it is not an output. A difference means an input or a
file of the policy changed, a different bando, or an output edited after the
run: the first difference is named, with the count of the others.
"""
from __future__ import annotations

import datetime as _dt
import os
import tempfile
from decimal import Decimal
from pathlib import Path

import attrs

from engine.score import rundir
from engine.text.i18n import Message

__all__ = ["AuditError", "Verification", "record", "verify", "repeat", "changed_inputs", "input_files"]

#: the key of the run record in manifest.json
KEY = "run"
#: the options of `bando score` that change what a run writes (``jobs`` does not: byte-identical)
OUTCOME_OPTIONS = ("lang", "budget", "letters", "letter_format", "letter_date", "decimal_comma", "csv_dialect",
                   "allow_invalid", "allow_policy_change")


class AuditError(ValueError):
    """A run that cannot be verified (no run record, an input read from a stream...): ``message``
    is a catalogue :class:`~engine.text.i18n.Message`, ``str()`` its English text."""

    def __init__(self, message: Message):
        super().__init__(str(message))
        self.message = message


def _sha256(path: Path, known=None) -> str:
    return rundir.file_digest(path, known)[1]


def input_files(batch: Path) -> list[Path]:
    """The files a batch is read from: the file and its items files (``batch.firms.csv`` next to
    ``batch.csv``), or every regular file of a batch folder."""
    batch = Path(batch)
    if batch.is_dir():
        return sorted((p for p in batch.iterdir() if p.is_file() and not p.name.startswith(".")),
                      key=lambda p: p.name)
    items = sorted(p for p in batch.parent.glob(batch.stem + ".*" + batch.suffix) if p.is_file() and p != batch)
    return [batch] + items


def _files_entry(paths) -> dict:
    return {os.path.abspath(p): _sha256(Path(p)) for p in paths}


def _policy_files(policy) -> list[str]:
    files = [policy.source.path] + [src.path for src, _ in policy.checked.modules]
    return [f for f in files if f]


def _template_files(templates_dir) -> list[Path]:
    if templates_dir is None:
        return []
    root = Path(templates_dir)
    return sorted((p for p in root.rglob("*") if p.is_file()), key=lambda p: p.as_posix())


def _plain(value):
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(map(str, value))
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def record(policy, policy_path, batch_path, *, stream: bool = False, templates_dir=None, previous=None,
           withdrawn=None, root=None, compare=None, marks=None, options: dict, known=None) -> dict:
    """The run record for manifest.json. ``stream``: the batch came from a stream (kept in a
    temporary file): its hash is recorded, but the run cannot be repeated from it. ``known``: digests
    of the batch's files worked out during the run (:func:`engine.score.rundir.file_digests`)."""
    inputs = {"batch": {"path": None if stream else os.path.abspath(batch_path), "stream": stream,
                        "files": {("<stream>" if stream else os.path.abspath(p)): _sha256(p, known)
                                  for p in input_files(Path(batch_path))}}}
    if previous is not None:
        p = Path(previous)
        results = p / "results.jsonl" if p.is_dir() else p
        inputs["previous"] = {"path": os.path.abspath(previous), "files": _files_entry([results.resolve()])}
    if withdrawn is not None and not isinstance(withdrawn, (set, frozenset, list, tuple)):
        inputs["withdrawn"] = {"path": os.path.abspath(withdrawn), "files": _files_entry([Path(withdrawn).resolve()])}
    elif withdrawn:
        inputs["withdrawn"] = {"ids": sorted(map(str, withdrawn))}
    if marks is not None:  # the panel's marks sheet
        inputs["marks"] = {"path": os.path.abspath(marks), "files": _files_entry([Path(marks).resolve()])}
    if compare is not None:  # the run compared with: its results and summary make diff.* and the report's section
        c = Path(compare)
        folder = c if c.is_dir() else c.parent
        inputs["compare"] = {"path": os.path.abspath(compare), "files": _files_entry(
            [p for p in (folder / "results.jsonl", folder / "summary.json") if p.is_file()])}
    return {
        "language": options.get("lang") or policy.language,
        "time": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "policy": {"path": os.path.abspath(policy_path), "name": policy.name, "version": policy.version,
                   "sha256": policy.sha256, "root": os.path.abspath(root) if root else None,
                   # the values of the call's parameters this run used (defaults included): what verify repeats
                   **({"params": policy.param_values} if policy.params else {}),
                   "files": _files_entry(_policy_files(policy)),
                   "templates": None if templates_dir is None else os.path.abspath(templates_dir),
                   "template_files": _files_entry(_template_files(templates_dir))},
        "inputs": inputs,
        "options": {k: _plain(options.get(k)) for k in OUTCOME_OPTIONS},
    }


@attrs.frozen
class Verification:
    """What :func:`verify` found: ``differences`` is empty when the run was reproduced exactly."""

    folder: str
    checked: int  # output files compared
    differences: tuple

    @property
    def ok(self) -> bool:
        return not self.differences


def _changed_inputs(run: dict) -> list[str]:
    out = []
    groups = [("policy", run["policy"].get("files") or {}), ("template", run["policy"].get("template_files") or {})]
    groups += [(name, entry.get("files") or {}) for name, entry in (run.get("inputs") or {}).items()]
    for what, files in groups:
        for path, digest in files.items():
            if path == "<stream>":
                continue
            if not os.path.isfile(path):
                out.append(Message("verify.input_gone", what=Message("verify.what." + what), path=path))
            elif _sha256(Path(path)) != digest:
                out.append(Message("verify.input_changed", what=Message("verify.what." + what), path=path,
                                   then=digest[:12], now=_sha256(Path(path))[:12]))
    return out


def _run_record(folder: Path) -> tuple[dict, dict]:
    manifest = rundir.read_manifest(folder)
    if manifest is None:
        raise AuditError(Message("verify.no_manifest", folder=str(folder)))
    run = manifest.get(KEY)
    if not isinstance(run, dict) or not isinstance(run.get("policy"), dict):
        raise AuditError(Message("verify.no_record", folder=str(folder)))
    batch = (run.get("inputs") or {}).get("batch") or {}
    if batch.get("stream") or not batch.get("path"):
        raise AuditError(Message("verify.stream", folder=str(folder)))
    return manifest, run


def changed_inputs(folder) -> list:
    """What changed since the run that wrote ``folder`` (messages; [] when every input is the same)."""
    return _changed_inputs(_run_record(Path(folder))[1])


def repeat(folder, into, *, jobs: int = 1, **overrides) -> dict:
    """Score again, into ``into``, what the run that wrote ``folder`` scored, with its recorded
    options (``overrides`` replace some: ``lang`` for letters in another language, ``letters``).
    Returns the new run's manifest. The caller checks :func:`changed_inputs` first."""
    from engine.score.batch import score_batch  # the batch imports this module to record its runs
    _manifest, run = _run_record(Path(folder))
    options = dict(run.get("options") or {})
    if options.get("budget") is not None:
        options["budget"] = Decimal(options["budget"])
    if options.get("letter_date") is not None:
        options["letter_date"] = _dt.date.fromisoformat(options["letter_date"])
    options.update(overrides)
    if run["policy"].get("params"):  # the values the call's parameters had in the run
        options["params"] = dict(run["policy"]["params"])
    inputs = run.get("inputs") or {}
    withdrawn = inputs.get("withdrawn") or {}
    score_batch(run["policy"]["path"], Path(inputs["batch"]["path"]), into, jobs=jobs,
                previous=(inputs.get("previous") or {}).get("path"),
                withdrawn=withdrawn.get("path") or (frozenset(withdrawn["ids"]) if "ids" in withdrawn else None),
                compare=(inputs.get("compare") or {}).get("path"),
                marks=(inputs.get("marks") or {}).get("path"),
                templates_dir=run["policy"].get("templates"), root=run["policy"].get("root"), **options)
    return rundir.read_manifest(into) or {"files": {}}


def verify(folder, jobs: int = 1) -> Verification:
    """Re-run the ``bando score`` that wrote ``folder`` from its recorded inputs and compare every output."""
    folder = Path(folder)
    manifest, run = _run_record(folder)
    changed = _changed_inputs(run)
    if changed:  # a re-run would only repeat what the changed input says
        return Verification(str(folder), 0, tuple(changed))
    with tempfile.TemporaryDirectory(prefix="bando-verify-") as tmp:
        fresh = repeat(folder, Path(tmp) / "again", jobs=jobs)
    differences = []
    if manifest.get("bando_version") != fresh.get("bando_version"):  # outputs may differ for that alone
        differences.append(Message("verify.version", then=str(manifest.get("bando_version")),
                                   now=str(fresh.get("bando_version"))))
    recorded, now = manifest["files"], fresh["files"]
    for name in sorted(set(recorded) | set(now)):
        if name not in now:
            differences.append(Message("verify.not_again", name=name))
        elif name not in recorded:
            differences.append(Message("verify.only_again", name=name))
        elif recorded[name]["sha256"] != now[name]["sha256"]:
            differences.append(Message("verify.differs", name=name, then=recorded[name]["sha256"][:12],
                                       now=now[name]["sha256"][:12]))
        elif not (folder / name).is_file() or _sha256(folder / name) != recorded[name]["sha256"]:
            differences.append(Message("verify.edited", name=name, folder=str(folder)))
    return Verification(str(folder), len(recorded), tuple(differences))
