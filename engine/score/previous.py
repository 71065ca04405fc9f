"""Scorrimento inputs: the awards of an earlier run, and the applications withdrawn since.

Both are read and checked *before* a batch is evaluated, so that a wrong file
costs nothing and says what is wrong: an earlier run must be a bando
``results.jsonl`` of the same policy (same SHA-256, unless the caller allows a
changed policy), and its awards are kept exactly as they were
(:func:`engine.score.ranking.allocate`).
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path

import attrs

from engine.score.ranking import PreviousAward


class PreviousRunError(ValueError):
    """An earlier run or a withdrawal list that cannot be used; the message says where and why."""


@attrs.frozen
class PreviousRun:
    """The awards of an earlier ``bando score`` run."""

    path: str
    sha256: str  # of the results file, recorded in summary.json
    policy_sha256: str | None
    awards: dict  # application id -> PreviousAward

    def describe(self) -> dict:
        # the absolute path: a run repeated from another folder (bando verify) writes the same summary
        return {"path": os.path.abspath(self.path), "sha256": self.sha256, "policy_sha256": self.policy_sha256,
                "awards": len(self.awards),
                "awarded": format(sum((a.amount for a in self.awards.values()), Decimal(0)), "f")}


def read_previous(path, policy, *, allow_policy_change: bool = False) -> PreviousRun:
    """The funded awards in ``path`` (an earlier run's results.jsonl), checked line by line."""
    p = Path(path)
    if p.is_dir() and (p / "results.jsonl").is_file():
        p = p / "results.jsonl"  # the earlier run's output folder
    try:
        data = p.read_bytes()
    except OSError as e:
        raise PreviousRunError(f"--previous {path}: cannot read it ({e.strerror or e})") from None
    awards: dict = {}
    policies = set()
    params = set()  # the values of the call's parameters each result was reached with
    for n, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        where = f"--previous {p}:{n}"
        try:
            d = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise PreviousRunError(f"{where}: not a line of a bando results.jsonl (expected one JSON result "
                                   f"per line, as `bando score` writes them)") from None
        if not isinstance(d, dict) or "status" not in d or "application" not in d:
            raise PreviousRunError(f"{where}: not a bando result (no `application` and `status`)")
        sha = (d.get("policy") or {}).get("sha256") if isinstance(d.get("policy"), dict) else None
        policies.add(sha)
        given = (d.get("policy") or {}).get("params") if isinstance(d.get("policy"), dict) else None
        params.add(tuple(sorted(given.items())) if isinstance(given, dict) else ())
        if d["status"] != "funded" or d.get("grant") is None:
            continue
        app = d["application"]
        try:
            amount = Decimal(str(d["grant"]))
        except InvalidOperation:
            raise PreviousRunError(f"{where}: the grant of application {app} is not an amount") from None
        if not amount.is_finite() or amount < 0:
            raise PreviousRunError(f"{where}: the grant of application {app} is not an amount of 0 or more")
        if app in awards:
            raise PreviousRunError(f"{where}: application {app} is funded twice")
        reserve = (d.get("placement") or {}).get("reserve") if isinstance(d.get("placement"), dict) else None
        awards[app] = PreviousAward(amount, reserve if isinstance(reserve, int) else None)
    if not policies:
        raise PreviousRunError(f"--previous {p}: no results in it")
    policies.discard(None)
    if len(policies) > 1:
        raise PreviousRunError(f"--previous {p}: its results come from {len(policies)} different policies")
    found = next(iter(policies), None)
    if found != policy.sha256 and not allow_policy_change:
        raise PreviousRunError(
            f"--previous {p}: it was produced by another version of the policy (SHA-256 "
            f"{(found or 'unknown')[:12]}…, this one is {policy.sha256[:12]}…); earlier awards are kept only "
            f"under the rules that made them. If the change is intended (e.g. an amended call), pass "
            f"--allow-policy-change")
    # the same policy with other values of its parameters is another edition of the call
    now = tuple(sorted(policy.param_values.items()))
    if params != {now} and not allow_policy_change:
        then = "; ".join(", ".join(f"{k}={v}" for k, v in s) or "none" for s in sorted(params))
        raise PreviousRunError(
            f"--previous {p}: it was produced with other values of the call's parameters ({then}; this run: "
            f"{', '.join(f'{k}={v}' for k, v in now) or 'none'}); earlier awards are kept only under the rules "
            f"that made them. To fund more applications use --budget; if the change is intended, pass "
            f"--allow-policy-change")
    return PreviousRun(str(p), hashlib.sha256(data).hexdigest(), found, awards)


def read_withdrawn(path) -> tuple[frozenset, str]:
    """Application ids from a withdrawal list: one per line (``#`` comments), or a CSV with an ``id`` column."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise PreviousRunError(f"--withdrawn {path}: cannot read it as UTF-8 text "
                               f"({getattr(e, 'strerror', None) or e})") from None
    lines = [ln.strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    ids: list[str] = []
    if lines and ("," in lines[0] or ";" in lines[0]):
        dialect = ";" if lines[0].count(";") > lines[0].count(",") else ","
        rows = list(csv.reader(lines, delimiter=dialect))
        header = [h.strip().lower() for h in rows[0]]
        col = next((header.index(h) for h in ("id", "application", "domanda") if h in header), None)
        if col is None:
            raise PreviousRunError(f"--withdrawn {path}:1: a CSV list needs a column `id` (or `application`)")
        ids = [r[col].strip() for r in rows[1:] if len(r) > col and r[col].strip()]
    else:
        ids = lines
    return frozenset(ids), hashlib.sha256(text.encode("utf-8")).hexdigest()
