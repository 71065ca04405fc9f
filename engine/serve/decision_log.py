"""The decision log (``--decision-log FILE``): one JSON line per evaluation, as OPA keeps one.

Each line is written with a single ``write`` on a file opened for appending
and unbuffered, so it is in the operating system as soon as the answer is
sent, and several workers can share the file without their lines
interleaving. On a clean shutdown the file is ``fsync``-ed before it is
closed, so nothing written is lost with the machine. A line that cannot be
written fails the request with 503: a decision that is not logged is not
given.

A line: ``time`` (UTC), ``policy`` (id, name, version, sha256), ``application``,
``input_sha256`` (SHA-256 of the application's JSON text exactly as received;
for a batch, of its line without the line ending), ``status``, ``score``,
``grant``, ``explain``, ``language``; with ``--decision-log-input`` also
``input``, that JSON text itself as a string, so the decision can be replayed.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os

from engine.text.exact import json_number, money_text


class DecisionLogError(Exception):
    """The log file cannot be opened or written; the message names it and the cause."""


class DecisionLog:
    def __init__(self, path: str, with_input: bool = False):
        self.path = path
        self.with_input = with_input
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o640)
        except OSError as e:
            raise DecisionLogError(f"cannot open the decision log {path}: {e.strerror}") from None

    def record(self, served, decision, raw: bytes, *, explain: bool, lang: str | None) -> None:
        """Append the line for one evaluation; ``decision`` is a Decision or a Result."""
        p = served.policy
        line = {
            "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "policy": {"id": served.id, "name": p.name, "version": p.version, "sha256": p.sha256},
            "application": decision.application,
            "input_sha256": hashlib.sha256(raw).hexdigest(),
            "status": decision.status,
            "score": json_number(decision.score),
            "grant": money_text(decision.grant),
            "explain": explain,
            "language": lang if explain else None,
        }
        if self.with_input:
            line["input"] = raw.decode("utf-8", "backslashreplace")
        data = (json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        try:
            written = os.write(self._fd, data)
        except OSError as e:
            raise DecisionLogError(f"cannot write the decision log {self.path}: {e.strerror}") from None
        if written != len(data):  # a full disk can take part of a line: say so rather than claim it logged
            raise DecisionLogError(f"cannot write the decision log {self.path}: the disk took only "
                                   f"{written} of {len(data)} bytes")

    def close(self) -> None:
        """fsync, then close (a clean shutdown)."""
        if self._fd is None:
            return
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = None
