"""The HTML report of ``bando score``: one self-contained page.

``render_report(results, summary, call, lang)`` returns the page as text:

* no network at all: no CDN, no web fonts, no external scripts or images;
  CSS and a few lines of JavaScript are inline, the charts are inline SVG
  generated here;
* everything coming from data (names, labels, ``because`` texts, ids) is
  escaped by Jinja2's autoescape (template ``templates/report/report.html.j2``);
* deterministic: the same input gives the same bytes (no timestamp unless
  ``generated`` is passed);
* usable with tens of thousands of applications: the ranking table lists
  every ranked application (sortable, filterable, searchable by a small
  inline script), and one collapsed ``<details>`` per detailed application
  is anchor-linked from it; how many are detailed is stated on the page.

``results`` are result dicts as in ``docs/contracts.md`` (or objects with
``to_dict()``), ``summary`` is what :func:`engine.score.outputs.summarize` returns,
``call`` is ``policy.call_info()``.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from decimal import Decimal
from functools import lru_cache
from typing import IO, Any, Iterable, Mapping, Sequence

import jinja2

from engine.text.exact import decimal_of
from engine.explain.explain import score_words
from engine.score.outputs import as_dict, format_source
from engine.text.status import RANKED as RANKED_STATUSES, REPORT_ORDER as STATUSES

from engine.text import i18n
from engine.text.formatting import format_date, format_datetime, format_money, format_percent, format_points

__all__ = ["render_report", "write_report", "report_text", "status_text"]

TEMPLATE_DIR = os.path.dirname(os.path.abspath(__file__))
TEMPLATE_NAME = "report.html.j2"
#: the table of applications not ranked lists at most this many (the ranking table is never
#: limited); the page says so, and points to results.jsonl and errors.csv for the rest
OTHERS_LIMIT = 2000
#: characters of the page gathered before each write of :func:`write_report` (Jinja's template stream
#: counts the pieces it yields: about 20 make a line of the ranking table)
STREAM_BUFFER = 2000

# --------------------------------------------------------------------------
# texts
# --------------------------------------------------------------------------

def report_text(lang: str) -> dict:
    """The report's words in ``lang`` (the catalogue's ``report.*`` messages)."""
    return i18n.table(lang, "report")


def status_text(lang: str) -> dict:
    """Each outcome's words as the report writes them: the one set of status words, capitalised."""
    return {s: _capitalised(i18n.text(lang, "status." + s)) for s in STATUSES}


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


_STATUS_ORDER = {s: i for i, s in enumerate(STATUSES)}


def _norm_lang(lang: str | None) -> str:
    base = (lang or "en").replace("_", "-").split("-")[0].lower()
    return base if base in i18n.languages() else "en"


# --------------------------------------------------------------------------
# jinja environment
# --------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


# --------------------------------------------------------------------------
# view model
# --------------------------------------------------------------------------

class _Fmt:
    """Number formatting bound to a language and currency."""

    def __init__(self, lang: str, currency: str):
        self.lang = lang
        self.currency = currency or "EUR"

    def money(self, value: Any) -> str:
        d = decimal_of(value)
        return "" if d is None else format_money(d, self.lang, currency=self.currency)

    def points(self, value: Any) -> str:
        d = decimal_of(value)
        return "" if d is None else format_points(d, self.lang)

    def percent(self, fraction: Decimal | None) -> str:
        return "" if fraction is None else format_percent(fraction, self.lang)

    def date(self, value: Any) -> str:
        if value in (None, ""):
            return ""
        try:
            return format_date(value, self.lang)
        except (TypeError, ValueError):
            return str(value)

    def count(self, n: int) -> str:
        return format_points(int(n), self.lang)  # a whole number with the language's thousands separator


def _anchor_ids(ids: Iterable[str]) -> list[str]:
    """HTML ids for the applications: readable, unique, deterministic."""
    out, seen = [], set()
    for raw in ids:
        base = "app-" + (re.sub(r"[^A-Za-z0-9_.-]+", "_", raw).strip("_") or "x")
        anchor, k = base, 2
        while anchor in seen:
            anchor, k = f"{base}-{k}", k + 1
        seen.add(anchor)
        out.append(anchor)
    return out


def _sort_key(r: Mapping[str, Any]) -> tuple:
    status = r.get("status")
    group = 0 if status in RANKED_STATUSES else 1 + _STATUS_ORDER.get(status, len(STATUSES))
    rank = r.get("rank")
    score = decimal_of(r.get("score"))
    return (
        group,
        rank is None,
        rank if rank is not None else 0,
        -(score if score is not None else Decimal(0)),
        str(r.get("application", "")),
    )


def _fraction(part: Decimal | None, whole: Decimal | None) -> Decimal | None:
    if part is None or whole is None or whole <= 0:
        return None
    return part / whole


def _pct_width(part: Decimal | None, whole: Decimal | None) -> str:
    """CSS/SVG width percentage, clamped to 0..100, as fixed text."""
    f = _fraction(part, whole)
    if f is None:
        return "0"
    return f"{max(0.0, min(100.0, float(f) * 100)):.1f}"


def _short(text: str, limit: int = 90) -> str:
    """A label shortened for an SVG line (SVG text does not wrap)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _nice_step(maximum: int, target: int = 5) -> int:
    if maximum <= target:
        return 1
    raw = maximum / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return int(m * mag)
    return int(10 * mag)  # pragma: no cover


def _reason(status: str, failed: list[str], n_errors: int, score: Decimal | None, pass_score: Decimal | None,
            fmt: _Fmt, T: Mapping[str, str]) -> str:
    """Why an application is not in the ranking, in a few words."""
    if status == "ineligible":
        return "; ".join(failed)
    if status == "below_threshold":
        return T["reason_below"].format(score=fmt.points(score), pass_score=fmt.points(pass_score))
    if status == "invalid":
        return T["reason_invalid_0"] if n_errors == 0 else (
            T["reason_invalid_1"] if n_errors == 1 else T["reason_invalid_n"].format(n=n_errors))
    return ""


#: placement reasons of an award smaller than the grant due (results without the batch's
#: own ``partial`` flag, e.g. read back from results.jsonl)
PARTIAL_REASONS = frozenset({"partial", "previous_partial", "topped_up_partial", "tie_pro_rata"})


def _identity(r: Mapping[str, Any], anchor: str | None, status: str, S: Mapping[str, str]) -> dict[str, Any]:
    """What the ranking row and the application's detail both show of who it is and how it came out."""
    return {
        "anchor": anchor,
        "id": str(r.get("application") if r.get("application") is not None else ""),
        "applicant": "" if r.get("applicant") is None else str(r.get("applicant")),
        "status": status,
        "status_class": status if status in STATUSES else "unknown",
        "status_text": S.get(status, status),
        "rank": r.get("rank"),
    }


#: the kinds of named output whose column sorts as numbers (the others as text, a date by its ISO form)
_NUMERIC_OUTPUTS = frozenset({"money", "int", "decimal", "percent"})


def _outputs_meta(results: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """The call's named outputs of one value, in policy order: one column each of the ranking table,
    headed by its label (the results' own, in the language of the run). An output per item (its
    result has ``items``) stays in the application's details."""
    seen: dict[str, dict[str, str] | None] = {}
    for r in results:
        for name, o in (r.get("outputs") or {}).items():
            if name in seen or not isinstance(o, Mapping) or "label" not in o:
                continue  # a ranking row of a batch has only the values: its labels come from a detail
            kind = str(o.get("kind") or "")
            seen[name] = None if "items" in o else {
                "name": str(name), "label": str(o.get("label") or name), "kind": kind,
                "sort": "num" if kind in _NUMERIC_OUTPUTS else "text"}
    return [m for m in seen.values() if m is not None]


def _output_cell(value: Any, kind: str, fmt: _Fmt) -> dict[str, str]:
    """One named output's cell: its value as the report writes values (amounts, points, dates in
    words, yes/no), and the key a date sorts by; an empty cell when the value is missing."""
    if value is None or value == "":
        return {"text": "", "key": ""}
    if kind == "money":
        return {"text": fmt.money(value), "key": ""}
    if kind in ("int", "decimal"):
        return {"text": fmt.points(value), "key": ""}
    if kind == "percent":
        return {"text": fmt.percent(decimal_of(value)), "key": ""}
    if kind == "bool" and isinstance(value, bool):
        return {"text": i18n.text(fmt.lang, "explain.yes" if value else "explain.no"), "key": ""}
    if kind in ("date", "datetime"):
        try:
            text = format_date(value, fmt.lang) if kind == "date" else format_datetime(value, fmt.lang)
        except (TypeError, ValueError):
            return {"text": str(value), "key": str(value)}
        return {"text": text, "key": str(value)}
    return {"text": str(value), "key": ""}


def _row_view(r: Mapping[str, Any], anchor: str | None, fmt: _Fmt, T: Mapping[str, str],
              S: Mapping[str, str], criteria_ids: list[str], reserves: list[Mapping[str, Any]],
              outputs_meta: list[Mapping[str, str]] = ()) -> dict[str, Any]:
    """One line of the ranking table (or of the table of applications not ranked)."""
    status = str(r.get("status"))
    score, grant, requested = decimal_of(r.get("score")), decimal_of(r.get("grant")), decimal_of(r.get("requested"))
    placement = r.get("placement") if isinstance(r.get("placement"), Mapping) else {}
    marks = []
    if status == "funded":
        reserve = placement.get("reserve")
        if isinstance(reserve, int) and 0 <= reserve < len(reserves):
            marks.append({"cls": "reserve", "text": T["reserve_mark"].format(label=reserves[reserve]["label"]),
                          "title": ""})
        partial = r.get("partial") if "partial" in r else placement.get("reason") in PARTIAL_REASONS
        if partial:
            marks.append({"cls": "partial", "text": T["partial_mark"], "title": T["partial_title"]})
    points = {str(c.get("id")): decimal_of(c.get("points")) for c in r.get("criteria") or []}
    gates = r.get("gates") or []
    failed = [str(g.get("label") or g.get("id") or "") for g in gates if not g.get("passed")]
    values = r.get("outputs") or {}
    return {
        **_identity(r, anchor, status, S),
        "score": fmt.points(score), "grant": fmt.money(grant), "requested": fmt.money(requested),
        "points": [fmt.points(points.get(cid)) for cid in criteria_ids],
        "outputs": [{**_output_cell((values.get(m["name"]) or {}).get("value"), m["kind"], fmt), "sort": m["sort"]}
                    for m in outputs_meta],
        "marks": marks,
        "reason": _reason(status, failed, len(r.get("errors") or ()), score, decimal_of(r.get("pass_score")), fmt, T),
    }


def _app_view(r: Mapping[str, Any], anchor: str, fmt: _Fmt, T: Mapping[str, str],
              S: Mapping[str, str], criteria_ids: list[str]) -> dict[str, Any]:
    status = str(r.get("status"))
    score = decimal_of(r.get("score"))
    max_score = decimal_of(r.get("max_score"))
    pass_score = decimal_of(r.get("pass_score"))
    gates = []
    for g in r.get("gates") or []:
        gates.append({
            "id": str(g.get("id", "")), "label": str(g.get("label") or g.get("id") or ""),
            "passed": bool(g.get("passed")), "because": g.get("because") or "",
        })
    criteria = []
    points_by_id: dict[str, str] = {}
    for c in r.get("criteria") or []:
        pts, mx = decimal_of(c.get("points")), decimal_of(c.get("max"))
        points_by_id[str(c.get("id"))] = fmt.points(pts)
        criteria.append({
            "id": str(c.get("id", "")), "label": str(c.get("label") or c.get("id") or ""),
            "points": fmt.points(pts), "max": fmt.points(mx),
            "width": _pct_width(pts, mx), "because": c.get("because") or "",
        })
    for b in r.get("bonuses") or []:  # a bonus or malus: what it added or took off, after the criteria
        pts = decimal_of(b.get("points"))
        shown = fmt.points(pts)
        if pts:
            shown = ("+" if b.get("kind") == "bonus" else "−") + shown
            if not b.get("applied"):
                shown = f"({shown})"  # not counted: its sentence says why
        criteria.append({
            "id": str(b.get("id", "")), "label": str(b.get("label") or b.get("id") or ""),
            "points": shown, "max": fmt.points(decimal_of(b.get("max"))),
            "width": _pct_width(pts if b.get("applied") else None, decimal_of(b.get("max"))),
            "because": b.get("because") or "",
        })
    errors = []
    for e in r.get("errors") or []:
        if isinstance(e, Mapping):
            # the problem in the report's language when the result has it (the path stays the machine's)
            errors.append({"field": str(e.get("field") or ""), "message": str(e.get("text") or e.get("message") or "")})
        else:
            errors.append({"field": "", "message": str(e)})

    reason = _reason(status, [g["label"] for g in gates if not g["passed"]], len(errors), score, pass_score,
                     fmt, T)

    placement = r.get("placement")
    placement_text = ""
    if isinstance(placement, Mapping):
        placement_text = str(placement.get("because") or "")
    elif placement:
        placement_text = str(placement)

    return {
        **_identity(r, anchor, status, S),
        "score": fmt.points(score),
        "max_score": fmt.points(max_score),
        "pass_score": fmt.points(pass_score),
        "score_width": _pct_width(score, max_score),
        # a call with bonuses: "75 punti: 65 su 100 più 10 di premialità" (no "75 / 100")
        "score_text": score_words(r, fmt.lang) or "",
        "requested": fmt.money(r.get("requested")),
        "grant": fmt.money(r.get("grant")),
        "points": [points_by_id.get(cid, "") for cid in criteria_ids],
        "gates": gates,
        "criteria": criteria,
        # a call with a panel: each mark with the evaluators named (the office's report, never a letter)
        "evaluation": [{"label": str(m.get("label") or ""), "because": str(m.get("because") or "")}
                       for m in (r.get("evaluation") or []) if isinstance(m, Mapping)],
        # the call's named outputs, each under its label with its sentence ("A (condizione verificata: …)")
        "outputs": [_output_view(name, o) for name, o in (r.get("outputs") or {}).items() if isinstance(o, Mapping)],
        "errors": errors,
        "reason": reason,
        "placement": placement_text,
        "submitted": fmt.date(r.get("submitted")),
        "source": format_source(r.get("source")),
    }


def _output_view(name: str, o: Mapping[str, Any]) -> dict[str, str]:
    """A named output in an application's details: its label, then its sentence without the label
    it starts with ("Categoria della filiera: A (…)" under "Categoria della filiera" reads "A (…)")."""
    label = str(o.get("label") or name)
    because = str(o.get("because") or "")
    head = label + ": "
    if because.startswith(head) and len(because) > len(head):
        because = because[len(head):]
    return {"label": label, "because": because}


def _histogram_chart(summary: Mapping[str, Any], fmt: _Fmt) -> dict[str, Any] | None:
    hist = summary.get("histogram") or {}
    bins = hist.get("bins") or []
    if not bins or not any(b.get("count") for b in bins):
        return None
    W, H, left, right, top, bottom = 680, 300, 48, 16, 34, 48
    pw, ph = W - left - right, H - top - bottom
    top_count = max(b["count"] for b in bins)
    step = _nice_step(top_count)
    ymax = max(step, math.ceil(top_count / step) * step)
    if ymax - top_count < step / 4:  # room for the count above the tallest bar
        ymax += step
    lo0 = decimal_of(bins[0].get("from")) or Decimal(0)
    hi0 = decimal_of(bins[-1].get("to")) or Decimal(0)
    span = hi0 - lo0
    pass_score = decimal_of((summary.get("scores") or {}).get("pass_score"))

    def x_of(v: Decimal) -> float:
        # bins are drawn to scale: the narrower bins on either side of the pass mark are narrower
        return left + (pw * float((v - lo0) / span) if span > 0 else 0.0)

    bars, xlabels = [], []
    for b in bins:
        lo, hi = decimal_of(b.get("from")), decimal_of(b.get("to"))
        x0, x1 = x_of(lo), x_of(hi)
        h = ph * b["count"] / ymax
        gap = 2 if x1 - x0 > 8 else 0.5
        bars.append({
            "x": f"{x0 + gap:.1f}", "y": f"{top + ph - h:.1f}", "w": f"{max(x1 - x0 - 2 * gap, 1):.1f}",
            "h": f"{h:.1f}", "cx": f"{(x0 + x1) / 2:.1f}", "ty": f"{top + ph - h - 4:.1f}",
            "count": b["count"], "below": pass_score is not None and hi <= pass_score,
            "title": f"{fmt.points(lo)}–{fmt.points(hi)}: {b['count']}",
        })
        xlabels.append({"x": f"{x0:.1f}", "text": fmt.points(lo), "edge": lo})
    xlabels.append({"x": f"{x_of(hi0):.1f}", "text": fmt.points(hi0), "edge": hi0})
    # the pass mark has its own label above the chart: its edge label would crowd its neighbours
    xlabels = [x for x in xlabels if pass_score is None or x["edge"] != pass_score]
    yticks = []
    for v in range(0, ymax + 1, step):
        yticks.append({"y": f"{top + ph - ph * v / ymax:.1f}", "text": fmt.count(v)})
    pass_line = None
    if pass_score is not None and span > 0 and lo0 <= pass_score <= hi0:
        pass_line = {"x": f"{x_of(pass_score):.1f}", "text": fmt.points(pass_score)}
    return {
        "width": W, "height": H, "left": left, "right": W - right, "top": top,
        "bottom": f"{top + ph:.1f}", "bars": bars, "xlabels": xlabels, "yticks": yticks,
        "pass_line": pass_line, "xlabel_y": f"{top + ph + 18:.1f}",
        "axis_title_y": H - 6, "axis_title_x": f"{left + pw / 2:.1f}",
    }


def _criteria_chart(summary: Mapping[str, Any], fmt: _Fmt) -> list[dict[str, Any]]:
    rows = []
    for c in summary.get("criteria") or []:
        mean, mx = decimal_of(c.get("mean")), decimal_of(c.get("max"))
        frac = _fraction(mean, mx)
        rows.append({
            "id": str(c.get("id")), "label": str(c.get("label") or c.get("id")),
            "short": _short(str(c.get("label") or c.get("id"))),
            "mean": fmt.points(mean) if mean is not None else T_NONE,
            "max": fmt.points(mx) if mx is not None else T_NONE,
            "percent": fmt.percent(frac) if frac is not None else "",
            "width": _pct_width(mean, mx),
            "count": c.get("count", 0),
        })
    return rows


T_NONE = "—"


def _exclusions(summary: Mapping[str, Any], fmt: _Fmt, T: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = []
    for g in summary.get("gates") or []:
        if not g.get("failed"):
            continue
        evaluated = g.get("evaluated") or 0
        rows.append({
            "id": str(g.get("id")), "label": str(g.get("label") or g.get("id")),
            "short": _short(str(g.get("label") or g.get("id"))),
            "failed": g["failed"], "only": g.get("only_failure", 0),
            "share": fmt.percent(_fraction(Decimal(g["failed"]), Decimal(evaluated))) if evaluated else "",
            "kind": "gate",
        })
    counts = summary.get("counts") or {}
    if counts.get("below_threshold"):
        rows.append({"id": "", "label": T["below_threshold"], "short": T["below_threshold"], "failed": counts["below_threshold"],
                     "only": None, "share": "", "kind": "below_threshold"})
    if counts.get("invalid"):
        rows.append({"id": "", "label": T["invalid"], "short": T["invalid"], "failed": counts["invalid"],
                     "only": None, "share": "", "kind": "invalid"})
    top = max((r["failed"] for r in rows), default=0)
    for r in rows:
        r["width"] = _pct_width(Decimal(r["failed"]), Decimal(top)) if top else "0"
        r["failed_text"] = fmt.count(r["failed"])
    return rows


class _RankingTable:
    """The lines of the ranking table, built while the page is written: a graduatoria of hundreds of
    thousands of applications is never held as views (each line is a dict of formatted cells).

    ``rows`` is a sequence of result dicts (or objects with ``to_dict()``) read by position; ``order``
    lists the positions of the ranked ones in table order. The funding line is worked out on the way,
    as :meth:`__iter__` meets it: before the first application that is not funded (in rank order), when
    one above it is. A line's ``line`` is its text, or ``""``."""

    def __init__(self, rows, order, view, summary: Mapping[str, Any], fmt: _Fmt, T: Mapping[str, str]):
        self._rows, self._order, self._view = rows, order, view
        self._summary, self._fmt, self._T = summary, fmt, T

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self):
        funded_above = placed = False
        for i in self._order:
            a = self._view(as_dict(self._rows[i]))
            a["line"] = ""
            if not placed and a["status"] in ("not_funded", "tied"):
                placed = True  # only the first such application can have the line above it
                if funded_above:
                    a["line"] = self._line_text(a)
            funded_above = funded_above or a["status"] == "funded"
            yield a

    def _line_text(self, a: Mapping[str, Any]) -> str:
        T, fmt = self._T, self._fmt
        rank = a["rank"] if a["rank"] is not None else T["none"]
        if a["status"] == "tied":
            return T["funding_line_tied"].format(rank=rank)
        budget = self._summary.get("budget") or {}
        return T["funding_line"].format(
            rank=rank, granted=fmt.money(budget.get("used")),
            budget=fmt.money(budget.get("available")) if budget.get("available") is not None else T["none"])


def _table_order(rows) -> tuple[list[int], list[int], set[str]]:
    """The positions of ``rows`` in the order of the tables: the ranked ones by :func:`_sort_key`, the
    others (by status, then the same key), and the statuses the ranked ones have.

    A batch gives its ranked rows already in rank order: then only their positions are kept (one key
    at a time is compared with the one before); an unsorted run is sorted with every key at hand."""
    ranked: list[int] = []
    rest: list[tuple] = []
    statuses: set[str] = set()
    in_order, last = True, None
    for i in range(len(rows)):
        r = as_dict(rows[i])
        key = _sort_key(r)
        if key[0] == 0:
            statuses.add(str(r.get("status")))
            ranked.append(i)
            if in_order and last is not None and key < last:
                in_order = False
            last = key
        else:
            rest.append((key, i))
    if not in_order:
        ranked.sort(key=lambda i: _sort_key(as_dict(rows[i])))
    rest.sort()
    return ranked, [i for _, i in rest], statuses


def _reserves_view(summary: Mapping[str, Any], fmt: _Fmt) -> list[dict[str, Any]]:
    out = []
    for r in (summary.get("allocation") or {}).get("reserves") or []:
        out.append({
            "label": str(r.get("label") or ""), "amount": fmt.money(r.get("amount")),
            "granted": fmt.money(r.get("granted")), "funded": fmt.count(int(r.get("funded") or 0)),
            "qualifying": fmt.count(int(r.get("qualifying") or 0)), "returned": fmt.money(r.get("returned")),
            "last_rank": r.get("last_rank"),
            "used_width": _pct_width(decimal_of(r.get("granted")), decimal_of(r.get("amount"))),
        })
    return out


#: the report lists at most this many changed applications (all of them are in diff.csv)
CHANGES_LIMIT = 2000


def _changes_view(changes: Mapping[str, Any] | None, fmt, T) -> dict | None:
    if changes is None:
        return None
    listed = list(changes.get("changes") or ())
    shown = listed[:CHANGES_LIMIT]
    return {"head": list(changes.get("head") or ()), "none": changes.get("none") or "", "rows": shown,
            "note": T["changes_limited"].format(shown=fmt.count(len(shown)), total=fmt.count(len(listed)))
            if len(shown) < len(listed) else ""}


def render_report(
    results: Iterable[Any],
    summary: Mapping[str, Any],
    call: Mapping[str, Any],
    lang: str | None = None,
    *,
    generated: str | None = None,
    rows: Sequence[Any] | Iterable[Any] | None = None,
    changes: Mapping[str, Any] | None = None,
) -> str:
    """Render the HTML report of a scored batch.

    ``results`` are the applications shown in detail. ``rows``, when given,
    are every application for the tables (result dicts; only the fields the
    tables show are needed): the ranking table always lists every ranked
    one, however many there are, and the report states how many of all
    applications are shown in detail. Without ``rows`` the tables list
    ``results``. A sequence of ``rows`` is read by position, one row at a
    time (see :func:`write_report`); another iterable is listed first.

    ``lang`` is ``"it"`` or ``"en"`` (defaults to the call's language; other
    values fall back to English). ``generated`` is an optional, already
    formatted date/time text shown in the header: the report itself never
    reads the clock. ``changes`` is :func:`engine.score.diff.describe` of this run
    against an earlier one (``bando score --compare``): a section at the top
    lists who changed and why, at most :data:`CHANGES_LIMIT` of them.
    """
    context = _context(results, summary, call, lang, generated=generated, rows=rows, changes=changes)
    return _template().render(context)


def write_report(fh: IO[str], results: Iterable[Any], summary: Mapping[str, Any], call: Mapping[str, Any],
                 lang: str | None = None, *, generated: str | None = None,
                 rows: Sequence[Any] | Iterable[Any] | None = None,
                 changes: Mapping[str, Any] | None = None) -> None:
    """Write the page of :func:`render_report` (the same text) to ``fh`` as it is rendered: the
    ranking table's lines are made one by one from ``rows`` and written in pieces (Jinja's
    template stream), so a long batch's page is never held in memory, nor are its lines."""
    context = _context(results, summary, call, lang, generated=generated, rows=rows, changes=changes)
    stream = _template().stream(context)
    stream.enable_buffering(STREAM_BUFFER)
    stream.dump(fh)


def _template() -> jinja2.Template:
    return _environment().get_template(TEMPLATE_NAME)


def _context(results, summary, call, lang, *, generated, rows, changes) -> dict[str, Any]:
    """What the template is given (the ranking table's lines are made as it reads them)."""
    call = dict(call or {})
    lg = _norm_lang(lang or call.get("language"))
    T, S = report_text(lg), status_text(lg)
    currency = call.get("currency") or summary.get("currency") or "EUR"
    fmt = _Fmt(lg, currency)

    details = sorted((as_dict(r) for r in results), key=_sort_key)
    if rows is None:
        table: Sequence[Any] = details
    else:
        table = rows if isinstance(rows, Sequence) else list(rows)
    ranked_order, rest_order, ranked_seen = _table_order(table)
    # the first line of the tables: a ranked application when there is one
    first = [as_dict(table[i]) for i in (ranked_order or rest_order)[:1]]

    # criteria metadata in policy order (first seen)
    crit_meta: dict[str, dict[str, str]] = {}
    for r in itertools.chain(details, first):
        for c in r.get("criteria") or []:
            cid = str(c.get("id"))
            if cid not in crit_meta:
                crit_meta[cid] = {"id": cid, "label": str(c.get("label") or cid),
                                  "max": fmt.points(c.get("max"))}
    for c in summary.get("criteria") or []:  # labels of criteria the detailed results may not carry
        cid = str(c.get("id"))
        if cid in crit_meta and crit_meta[cid]["label"] == cid and c.get("label"):
            crit_meta[cid]["label"] = str(c["label"])
        if cid in crit_meta and not crit_meta[cid]["max"] and c.get("max") is not None:
            crit_meta[cid]["max"] = fmt.points(c["max"])
    criteria_ids = list(crit_meta)
    # a column per named output of one value, after the criteria (as in ranking.csv)
    outputs_meta = _outputs_meta(itertools.chain(details, first))

    anchors = _anchor_ids(str(r.get("application", "")) for r in details)
    apps = [_app_view(r, a, fmt, T, S, criteria_ids) for r, a in zip(details, anchors)]
    anchor_of: dict[str, str] = {}
    for a in apps:
        anchor_of.setdefault(a["id"], a["anchor"])
    reserves = _reserves_view(summary, fmt)
    reserve_labels = (summary.get("allocation") or {}).get("reserves") or []

    def line(r):
        return _row_view(r, anchor_of.get(str(r.get("application"))), fmt, T, S, criteria_ids, reserve_labels,
                         outputs_meta)

    ranked = _RankingTable(table, ranked_order, line, summary, fmt, T)
    others = [line(as_dict(table[i])) for i in rest_order[:OTHERS_LIMIT]]

    counts = {s: 0 for s in STATUSES}
    counts.update(summary.get("counts") or {})
    total = summary.get("total", len(table))
    others_total = sum(v for k, v in counts.items() if k not in RANKED_STATUSES)
    budget = summary.get("budget") or {}
    available = decimal_of(budget.get("available", call.get("budget")))
    used = decimal_of(budget.get("used")) or Decimal(0)
    requested = decimal_of(budget.get("requested_ranked"))
    remaining = decimal_of(budget.get("remaining"))
    scale = max([v for v in (available, requested, used) if v is not None] or [Decimal(0)])
    budget_view = {
        "available": fmt.money(available) if available is not None else "",
        "used": fmt.money(used),
        "remaining": fmt.money(remaining) if remaining is not None else "",
        "requested": fmt.money(requested) if requested else "",
        "used_percent": fmt.percent(_fraction(used, available)) if available else "",
        "used_width": _pct_width(used, scale),
        "available_width": _pct_width(available, scale),
        "requested_width": _pct_width(requested, scale),
        "has_budget": available is not None,
    }

    stats = summary.get("scores") or {}
    stats_text = ""
    if stats.get("count"):
        stats_text = T["stats"].format(
            count=fmt.count(stats["count"]), min=fmt.points(stats.get("min")),
            max=fmt.points(stats.get("max")), mean=fmt.points(stats.get("mean")),
            median=fmt.points(stats.get("median")),
        )

    figures = [
        {"label": T["applications"], "value": fmt.count(total), "cls": "total"},
        {"label": T["ranked"], "value": fmt.count(sum(counts.get(s, 0) for s in RANKED_STATUSES)), "cls": "admitted"},
        {"label": T["funded"], "value": fmt.count(counts.get("funded", 0)), "cls": "funded"},
        {"label": T["excluded"], "value": fmt.count(sum(counts.get(s, 0) for s in ("below_threshold", "ineligible", "invalid"))), "cls": "ineligible"},
    ]
    status_counts = [
        {"status": s, "text": S[s], "count": fmt.count(counts.get(s, 0))}
        for s in STATUSES if counts.get(s)
    ]
    warnings = [str(w) for w in (summary.get("reader_warnings") or [])]
    warnings += [str(w) for w in (summary.get("scorrimento_warnings") or [])]
    warnings += [str(w) for w in ((summary.get("stage") or {}).get("sheet_problems") or [])]
    mostly = summary.get("mostly_invalid")
    if isinstance(mostly, Mapping):
        warnings.insert(0, T["mostly_invalid"].format(invalid=fmt.count(int(mostly.get("invalid") or 0)),
                                                      total=fmt.count(int(mostly.get("rows") or 0))))

    policy = call.get("policy") or summary.get("policy") or {}
    context = {
        "lang": lg,
        "T": T,
        "call": {
            # the call's title in the report's language (title_en in an English report), else its name
            "name": (titles.get(lg) if isinstance(titles := call.get("titles"), dict) else None)
            or call.get("name") or "",
            "version": call.get("version") or "",
            "authority": call.get("authority") or "",
            "reference": call.get("reference") or "",
            "opens": fmt.date(call.get("opens")),
            "closes": fmt.date(call.get("closes")),
            "contact": call.get("contact") or "",
        },
        "policy": {
            "name": policy.get("name") or "",
            "version": policy.get("version") or "",
            "sha256": policy.get("sha256") or "",
        },
        "generated": generated or "",
        # a call with parameters: the values of this run, as its explanations state them
        "parameters": next((str(r["parameters"]) for r in details if r.get("parameters")), ""),
        "warnings": warnings,
        "stage_notes": [str(n) for n in ((summary.get("stage") or {}).get("notes") or [])],
        "figures": figures,
        "status_counts": status_counts,
        "budget": budget_view,
        "reserves": reserves,
        "criteria_meta": list(crit_meta.values()),
        "outputs_meta": outputs_meta,
        "ranked": ranked,
        "ranked_count": fmt.count(len(ranked)),
        "ranked_statuses": [{"status": s, "text": S[s]} for s in RANKED_STATUSES if s in ranked_seen],
        "others": others,
        "others_note": T["others_limited"].format(shown=fmt.count(len(others)), total=fmt.count(others_total))
        if len(others) < others_total else "",
        "apps": apps,
        "details_note": T["details_limited"].format(shown=fmt.count(len(apps)), total=fmt.count(total))
        if len(apps) < total else "",
        "histogram": _histogram_chart(summary, fmt),
        "stats_text": stats_text,
        "criteria_chart": _criteria_chart(summary, fmt),
        "exclusions": _exclusions(summary, fmt, T),
        "has_gate_exclusions": any(g.get("failed") for g in summary.get("gates") or []),
        "changes": _changes_view(changes, fmt, T),
    }
    return context

