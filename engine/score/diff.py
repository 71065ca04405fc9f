"""``bando diff``: what changed between two runs, application by application, and why.

An appeal re-run, a corrected application, scorrimento or a call designer's
what-if all end with the same question: who moved, and because of what. This
module reads two result folders (each a ``bando score`` output: results.jsonl
checked against its manifest, and summary.json) and compares every
application present in either:

* *what* changed: its outcome (status), its place in the graduatoria, its
  score, the grant it gets;
* *why*: the gates whose outcome flipped, the criteria whose points changed,
  rules that exist in only one of the runs, data that became valid or
  invalid, the pass mark, and for the graduatoria the budget and the funding
  line; when the application itself is unchanged, that its rank moved
  because of the others.

Everything is read from the results themselves (the values each rule used
and the sentences the run wrote), so a diff needs neither the policies nor
the batch. :func:`compare` returns plain data (:class:`RunDiff`);
:func:`render_text`, :func:`write_csv` and :func:`to_json` write it for a
person, a spreadsheet and a program, in the language asked (by default the
newer run's). The words are in the message catalogue, group ``diff``.
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Iterable

import attrs

from engine.text import i18n
from engine.score import rundir
from engine.text.exact import decimal_of, exact_json, money_text
from engine.text.formatting import format_money, format_points
from engine.score.outputs import TABLE_KINDS, write_csv_table

__all__ = ["check_run", "DiffError", "Side", "Reason", "Change", "RunInfo", "RunDiff", "compare", "render_text", "write_csv",
           "to_json", "json_text", "describe", "FIELDS"]

#: what a change can be about, in the order a person reads it
FIELDS = ("status", "rank", "score", "grant")


class DiffError(ValueError):
    """A folder that is not a run's output (no results.jsonl, a tampered file, a line that is not JSON)."""


@attrs.frozen
class Side:
    """One application as one run left it."""

    status: str
    rank: int | None
    score: Decimal | None
    grant: Decimal | None  # what is paid: the award, not the amount the rules computed
    applicant: str | None = None
    grant_computed: Decimal | None = None
    gates: tuple = ()  # (id, label, passed, because)
    criteria: tuple = ()  # (id, label, points, because)
    errors: tuple = ()  # texts of the data problems
    placement: str | None = None  # the run's sentence on its place in the graduatoria
    source: str | None = None


@attrs.frozen
class Reason:
    """One cause of a change. ``kind``: gate_failed, gate_passed, criterion, rule_added, rule_removed,
    invalid_now, valid_now, grant_rule, pass_score, budget, line, others, placement."""

    kind: str
    id: str | None = None
    label: str | None = None
    old: object = None
    new: object = None
    because: str | None = None


@attrs.frozen
class Change:
    application: str
    old: Side | None  # None: not in the earlier run
    new: Side | None  # None: not in the later run
    changed: tuple  # the FIELDS that differ (all of them when the application is in one run only)
    reasons: tuple  # Reason, most telling first

    @property
    def applicant(self) -> str | None:
        return (self.new or self.old).applicant or (self.old.applicant if self.old else None)


@attrs.frozen
class RunInfo:
    """What a whole run was: its folder, policy, budget and funding line."""

    folder: str
    policy_name: str | None
    policy_version: str | None
    policy_sha256: str | None
    budget: Decimal | None
    funding_line: int | None  # the rank of the last application the budget reached
    pass_score: Decimal | None
    currency: str
    language: str
    total: int
    rules: frozenset = frozenset()  # the ids of the run's gates and criteria
    params: tuple = ()  # a call with parameters: (name, value) of the run, as its summary records them


@attrs.frozen
class RunDiff:
    old: RunInfo
    new: RunInfo
    changes: tuple  # Change, in the order of the later run's graduatoria (then input order)
    compared: int  # applications present in both runs
    only_old: int
    only_new: int

    @property
    def same(self) -> bool:
        return not self.changes

    @property
    def policy_changed(self) -> bool:
        return self.old.policy_sha256 != self.new.policy_sha256


# --- reading a run ---------------------------------------------------------------------------------

def _results_path(folder: Path) -> Path:
    if folder.is_file() and folder.name.endswith(".jsonl"):
        return folder
    path = folder / "results.jsonl"
    if not path.is_file():
        raise DiffError(f"{folder}: no results.jsonl here: expected the output folder of `bando score`")
    return path


def _side(d: dict) -> Side:
    gates = tuple((str(g.get("id")), g.get("label"), g.get("passed"), g.get("because"))
                  for g in d.get("gates") or ())
    criteria = tuple((str(c.get("id")), c.get("label"), decimal_of(c.get("points")), c.get("because"))
                     for c in d.get("criteria") or ())
    errors = tuple(str(e.get("text") or e.get("message") or "") for e in d.get("errors") or ())
    placement = (d.get("placement") or {}).get("because")
    return Side(str(d.get("status")), d.get("rank"), decimal_of(d.get("score")), decimal_of(d.get("grant")),
                d.get("applicant"), decimal_of(d.get("grant_computed")), gates, criteria, errors, placement,
                d.get("source"))


def _read_run(folder) -> tuple[RunInfo, dict, list]:
    """``(info, {application: Side}, application ids in the run's order)``."""
    folder = Path(folder)
    path = _results_path(folder)
    sides: dict[str, Side] = {}
    order: list[str] = []
    language = currency = None
    policy: dict = {}
    seen_rules: set = set()
    try:
        for n, raw in enumerate(rundir.verified_lines(path), 1):
            if not raw.strip():
                continue
            try:
                d = json.loads(raw, parse_float=Decimal)
            except ValueError as e:
                raise DiffError(f"{path}:{n}: not a result line ({e})") from None
            if not isinstance(d, dict) or "status" not in d:
                raise DiffError(f"{path}:{n}: not a result line (no status)")
            key = d.get("application") or f"({d.get('source') or f'row {n}'})"
            if key in sides:  # duplicated ids are each invalid in a run: keep them apart by row
                key = f"{key} ({d.get('source') or f'row {n}'})"
            side = sides[key] = _side(d)
            seen_rules.update(g[0] for g in side.gates)
            seen_rules.update(c[0] for c in side.criteria)
            order.append(key)
            language = language or d.get("language")
            currency = currency or d.get("currency")
            policy = policy or d.get("policy") or {}
    except rundir.RunDirError as e:
        raise DiffError(str(e)) from None
    summary = {}
    summary_path = path.parent / "summary.json"
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"), parse_float=Decimal)
        except ValueError as e:
            raise DiffError(f"{summary_path}: not a summary ({e})") from None
    policy = summary.get("policy") or policy
    budget = (summary.get("budget") or {}).get("available", (summary.get("call") or {}).get("budget"))
    allocation = summary.get("allocation") or {}
    # the run's rules: the summary lists every gate and criterion; without it, those its results name
    rules = {str(r.get("id")) for key in ("gates", "criteria") for r in summary.get(key) or ()} or seen_rules
    info = RunInfo(str(folder), policy.get("name"), policy.get("version"), policy.get("sha256"),
                   decimal_of(budget), allocation.get("funding_line_rank"),
                   decimal_of((summary.get("scores") or {}).get("pass_score")),
                   currency or summary.get("currency") or "EUR", language or "en", len(order), frozenset(rules),
                   tuple(sorted((str(k), str(v)) for k, v in (policy.get("params") or {}).items())))
    return info, sides, order


# --- comparing -------------------------------------------------------------------------------------

def _changed(old: Side, new: Side) -> tuple:
    return tuple(f for f in FIELDS if getattr(old, f) != getattr(new, f))


def _reasons(old: Side, new: Side, run_old: RunInfo, run_new: RunInfo) -> tuple:
    reasons: list[Reason] = []
    if old.errors and not new.errors:
        reasons.append(Reason("valid_now"))
    elif new.errors and not old.errors:
        reasons.append(Reason("invalid_now", because=new.errors[0]))
    old_gates = {g[0]: g for g in old.gates}
    new_gates = {g[0]: g for g in new.gates}
    for gid, (_, label, passed, because) in new_gates.items():
        before = old_gates.get(gid)
        if before is None:
            if gid not in run_old.rules:
                reasons.append(Reason("rule_added", gid, label, because=because))
            elif passed is False and old.gates:  # checked now and not before (a batch rule such as unique)
                reasons.append(Reason("gate_failed", gid, label, None, False, because))
        elif before[2] != passed and passed is not None and before[2] is not None:
            reasons.append(Reason("gate_passed" if passed else "gate_failed", gid, label, before[2], passed, because))
    for gid, (_, label, passed, _because) in old_gates.items():
        if gid in new_gates:
            continue
        if gid not in run_new.rules:
            reasons.append(Reason("rule_removed", gid, label))
        elif passed is False and new.gates:
            reasons.append(Reason("gate_not_applied", gid, label))
    old_crit = {c[0]: c for c in old.criteria}
    new_crit = {c[0]: c for c in new.criteria}
    for cid, (_, label, points, because) in new_crit.items():
        before = old_crit.get(cid)
        if before is None:
            if cid not in run_old.rules:
                reasons.append(Reason("rule_added", cid, label, because=because))
        elif before[2] != points and points is not None and before[2] is not None:
            reasons.append(Reason("criterion", cid, label, before[2], points, because))
    reasons += [Reason("rule_removed", cid, c[1]) for cid, c in old_crit.items()
                if cid not in new_crit and cid not in run_new.rules]
    if old.grant_computed != new.grant_computed and None not in (old.grant_computed, new.grant_computed):
        reasons.append(Reason("grant_rule", old=old.grant_computed, new=new.grant_computed))
    if run_old.pass_score != run_new.pass_score and new.score is not None and \
            (old.status == "below_threshold") != (new.status == "below_threshold"):
        reasons.append(Reason("pass_score", old=run_old.pass_score, new=run_new.pass_score))
    ranked = ("funded", "not_funded", "tied", "admitted")
    in_graduatoria = old.status in ranked and new.status in ranked
    if in_graduatoria and (old.status != new.status or old.grant != new.grant):
        if run_old.budget != run_new.budget:
            reasons.append(Reason("budget", old=run_old.budget, new=run_new.budget))
        if run_old.funding_line != run_new.funding_line:
            reasons.append(Reason("line", old=run_old.funding_line, new=run_new.funding_line))
    if in_graduatoria and old.rank != new.rank and old.score == new.score and not any(
            r.kind in ("criterion", "gate_failed", "gate_passed") for r in reasons):
        reasons.append(Reason("others"))
    if in_graduatoria and new.placement and (old.status != new.status or old.grant != new.grant):
        reasons.append(Reason("placement", because=new.placement))
    return tuple(reasons)


def check_run(folder) -> None:
    """Raise :class:`DiffError` unless ``folder`` is a run that can be compared (before any work)."""
    path = _results_path(Path(folder))
    try:
        rundir.check_file(path)
    except rundir.RunDirError as e:
        raise DiffError(str(e)) from None


def compare(old_folder, new_folder, *, names: tuple | None = None) -> RunDiff:
    """Compare two runs (output folders of ``bando score``, or their results.jsonl files).
    ``names``: how the two runs are named in the texts (default: the folders as given)."""
    run_old, old, _ = _read_run(old_folder)
    run_new, new, new_order = _read_run(new_folder)
    if names is not None:
        run_old, run_new = attrs.evolve(run_old, folder=names[0]), attrs.evolve(run_new, folder=names[1])
    changes = []
    for key in new_order:
        n = new[key]
        o = old.get(key)
        if o is None:
            changes.append(Change(key, None, n, FIELDS, ()))
            continue
        changed = _changed(o, n)
        if changed:
            changes.append(Change(key, o, n, changed, _reasons(o, n, run_old, run_new)))
    gone = [Change(key, o, None, FIELDS, ()) for key, o in old.items() if key not in new]

    def order(c: Change):
        side = c.new or c.old
        return (side.rank is None, side.rank or 0)
    changes.sort(key=order)  # stable: input order among the unranked
    compared = sum(1 for key in new_order if key in old)
    return RunDiff(run_old, run_new, tuple(changes) + tuple(gone), compared,
                   only_old=len(gone), only_new=len(new_order) - compared)


# --- writing ---------------------------------------------------------------------------------------

class _Words:
    """The diff's words in one language, with the run's currency."""

    def __init__(self, lang: str, currency: str, quote: bool):
        self.lang = lang
        self.currency = currency
        self.quote = quote  # the runs' own sentences are quoted only in their language
        self.t = i18n.table(lang, "diff")
        self.status_words = i18n.table(lang, "status")

    def status(self, s):
        return self.status_words.get(s, s)

    def rank(self, r):
        return self.t["no_rank"] if r is None else str(r)

    def score(self, s):
        return self.t["no_score"] if s is None else format_points(s, self.lang)

    def grant(self, g):
        return self.t["no_grant"] if g is None else format_money(g, self.lang, self.currency)

    def line(self, rank):
        return self.t["no_line"] if rank is None else self.t["line_at"].format(rank=rank)

    def money(self, m):
        return self.t["no_budget"] if m is None else format_money(m, self.lang, self.currency)

    def field(self, name, side: Side):
        return getattr(self, name)(getattr(side, name))

    def reason(self, r: Reason) -> str:
        t = self.t
        # a rule's label is the run's own words too: in another language the rule is named by its id
        label = r.label if self.quote and r.label else r.id
        if r.kind == "criterion":
            return t["why.criterion"].format(label=label, old=format_points(r.old, self.lang),
                                             new=format_points(r.new, self.lang))
        if r.kind in ("grant_rule", "budget"):
            return t["why." + r.kind].format(old=self.money(r.old), new=self.money(r.new))
        if r.kind == "line":
            return t["why.line"].format(old=self.line(r.old), new=self.line(r.new))
        if r.kind == "pass_score":
            return t["why.pass_score"].format(old=self.score(r.old), new=self.score(r.new))
        because = r.because if self.quote else None
        if r.kind in ("gate_failed", "gate_passed"):  # the run's own sentence on the gate, when it wrote one
            return t["why." + r.kind].format(label=label, because=f" ({because})" if because else "")
        if r.kind == "invalid_now" and not because:
            return t["why.invalid"]
        return t["why." + r.kind].format(label=label, because=because or "", old=r.old, new=r.new)

    def says(self, r: Reason) -> bool:
        """Whether this reason is written: the graduatoria's sentence is the run's own words."""
        return r.kind != "placement" or self.quote

    def change(self, name, c: Change) -> str:
        return self.t["field"].format(what=self.t["field." + name], old=self.field(name, c.old),
                                      new=self.field(name, c.new))


def _words(diff: RunDiff, lang: str | None) -> _Words:
    lang = lang or diff.new.language
    lang = lang if lang in i18n.languages() else i18n.REFERENCE
    return _Words(lang, diff.new.currency, quote=lang == diff.new.language)


def _policy_line(w: _Words, diff: RunDiff) -> str:
    o, n = diff.old, diff.new
    if not diff.policy_changed:
        return w.t["policy_same"].format(name=n.policy_name or "", version=n.policy_version or "")
    if (o.policy_name, o.policy_version) == (n.policy_name, n.policy_version):
        return w.t["policy_edited"].format(name=n.policy_name or "", version=n.policy_version or "")
    return w.t["policy_changed"].format(old_name=o.policy_name or "", old_version=o.policy_version or "",
                                        new_name=n.policy_name or "", new_version=n.policy_version or "")


def describe(diff: RunDiff, lang: str | None = None) -> dict:
    """The diff in words, for the text and for the report: ``head`` (lines on the two runs and the
    counts), ``changes`` (per application: ``application``, ``applicant``, ``what`` changed, the
    ``reasons``), ``none`` (the sentence for no difference, or "")."""
    w = _words(diff, lang)
    t = w.t
    head = [t["title"].format(old=diff.old.folder, new=diff.new.folder), _policy_line(w, diff)]
    if diff.old.params != diff.new.params:  # the same call in another edition: which values moved
        old, new = dict(diff.old.params), dict(diff.new.params)
        moved = [t["param_changed"].format(name=k, old=old.get(k, "—"), new=new.get(k, "—"))
                 for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)]
        head.append(t["params"].format(changes="; ".join(moved)))
    if diff.old.budget != diff.new.budget:
        head.append(t["budget"].format(old=w.money(diff.old.budget), new=w.money(diff.new.budget)))
    if diff.old.funding_line != diff.new.funding_line:
        head.append(t["line"].format(old=w.line(diff.old.funding_line), new=w.line(diff.new.funding_line)))
    counts = [i18n.plural(w.lang, "diff.compared", diff.compared, count=diff.compared)]
    changed = sum(1 for c in diff.changes if c.old is not None and c.new is not None)
    counts.append(i18n.plural(w.lang, "diff.changed", changed, count=changed))
    if diff.only_old:
        counts.append(i18n.plural(w.lang, "diff.only_old", diff.only_old, count=diff.only_old))
    if diff.only_new:
        counts.append(i18n.plural(w.lang, "diff.only_new", diff.only_new, count=diff.only_new))
    head.append("; ".join(counts) + ".")
    changes = []
    for c in diff.changes:
        if c.old is None:
            what, reasons = t["only_new_app"].format(status=w.status(c.new.status)), []
        elif c.new is None:
            what, reasons = t["only_old_app"].format(status=w.status(c.old.status)), []
        else:
            what = "; ".join(w.change(f, c) for f in c.changed)
            reasons = [w.reason(r) for r in c.reasons if w.says(r)]
        changes.append({"application": c.application, "applicant": c.applicant or "", "what": what,
                        "reasons": reasons})
    return {"lang": w.lang, "head": head, "changes": changes, "none": t["none"] if diff.same else ""}


def render_text(diff: RunDiff, lang: str | None = None) -> str:
    """The diff for a person: the two runs, then one paragraph per application that changed."""
    d = describe(diff, lang)
    lines = list(d["head"])
    if d["none"]:
        lines += ["", d["none"]]
    for c in d["changes"]:
        lines += ["", c["application"] + (f" ({c['applicant']})" if c["applicant"] else "") + ": " + c["what"]]
        lines += [f"  - {r}" for r in c["reasons"]]
    return "\n".join(lines) + "\n"


def _rows(diff: RunDiff, w: _Words) -> Iterable[list]:
    for c in diff.changes:
        o, n = c.old, c.new
        row = [c.application, c.applicant]
        for side in (o, n):
            row += [w.status(side.status) if side else None, side.status if side else None]
        row += [o.rank if o else None, n.rank if n else None, o.score if o else None, n.score if n else None,
                o.grant if o else None, n.grant if n else None]
        if o is None:
            why = [w.t["only_new_app"].format(status=w.status(n.status))]
        elif n is None:
            why = [w.t["only_old_app"].format(status=w.status(o.status))]
        else:
            why = [w.reason(r) for r in c.reasons if w.says(r)]
        row.append(" | ".join(why))
        yield row


def write_csv(diff: RunDiff, path, *, lang: str | None = None, dialect: str | None = None) -> int:
    """One row per application that changed, in the layout of ranking.csv (``dialect``: see
    :func:`engine.score.outputs.csv_dialect`). Returns the number of rows."""
    from engine.score.outputs import csv_dialect
    w = _words(diff, lang)
    t = w.t
    K = TABLE_KINDS
    header = [(t["col.application"], K["text"]), (t["col.applicant"], K["text"])]
    for when in ("old", "new"):
        header += [(t[f"col.status_{when}"], K["text"]), (t[f"col.status_code_{when}"], K["text"])]
    header += [(t["col.rank_old"], K["int"]), (t["col.rank_new"], K["int"]),
               (t["col.score_old"], K["points"]), (t["col.score_new"], K["points"]),
               (t["col.grant_old"], K["money"]), (t["col.grant_new"], K["money"]), (t["col.why"], K["text"])]
    return write_csv_table(path, header, _rows(diff, w), csv_dialect(dialect, w.lang))


def _side_json(s: Side | None):
    if s is None:
        return None
    return {"status": s.status, "rank": s.rank, "score": exact_json(s.score), "grant": money_text(s.grant)}


def _value_json(v):
    if isinstance(v, Decimal):
        return exact_json(v)
    return v


def to_json(diff: RunDiff, lang: str | None = None) -> dict:
    """The diff as plain JSON data; every reason also as a sentence (``text``) in ``lang``."""
    w = _words(diff, lang)

    def run(r: RunInfo):
        policy = {"name": r.policy_name, "version": r.policy_version, "sha256": r.policy_sha256}
        if r.params:  # only a call with parameters has them
            policy["params"] = dict(r.params)
        return {"folder": r.folder, "policy": policy,
                "budget": money_text(r.budget), "funding_line_rank": r.funding_line,
                "pass_score": exact_json(r.pass_score), "applications": r.total}

    changes = []
    for c in diff.changes:
        changes.append({
            "application": c.application, "applicant": c.applicant,
            "old": _side_json(c.old), "new": _side_json(c.new), "changed": list(c.changed),
            "reasons": [{"kind": r.kind, "id": r.id, "label": r.label, "old": _value_json(r.old),
                         "new": _value_json(r.new), "because": r.because,
                         "text": w.reason(r) if w.says(r) else r.because}
                        for r in c.reasons]})
    return {"language": w.lang, "old": run(diff.old), "new": run(diff.new), "policy_changed": diff.policy_changed,
            "compared": diff.compared, "changed": sum(1 for c in diff.changes if c.old and c.new),
            "only_old": diff.only_old, "only_new": diff.only_new, "changes": changes}


def json_text(diff: RunDiff, lang: str | None = None) -> str:
    """:func:`to_json` as the text ``bando diff --format json`` prints and diff.json holds."""
    return json.dumps(to_json(diff, lang), ensure_ascii=False, indent=2) + "\n"
