"""The graduatoria: order admitted applications, settle shared firms, allocate the budget.

Pure functions over small :class:`Entry` records (one per admitted
application), so a batch of a million applications keeps only what ranking
needs in memory. Passes, in order:

1. :func:`apply_unique` — a firm (by VAT number) may belong to only one
   funded application; the policy says which one keeps it, the others fail a
   ``unique`` gate that names the application that kept the firm.
2. :func:`rank` — order by the policy's keys and tie-breaks (or by submission
   time for a first-come-first-served call); entries equal on every key share
   a rank and are listed by id.
3. :func:`allocate` — fund in rank order until the budget runs out, reserved
   quotas first (unused reserve flows back), with the policy's shortfall rule
   for the last application that does not fit, keeping earlier awards fixed
   when a previous run is given (scorrimento).

Every entry ends with a ``placement`` sentence in the call's language.
"""
from __future__ import annotations

import functools
from decimal import Decimal

import attrs

from dsl import ast
from dsl.fmt import format_expr

from .formatting import format_money, format_points

D0 = Decimal(0)


@attrs.define
class Entry:
    """What ranking needs to know about one admitted application."""

    index: int
    id: str
    keys: tuple  # values of the order keys (None = missing)
    grant: Decimal  # the grant the policy's formula gives (the request, capped)
    requested: Decimal | None = None
    score: Decimal | None = None
    reserves: tuple = ()  # one bool per reserve: does the entry qualify?
    unique_keys: tuple = ()
    keep_value: object = None  # value compared by `keep earliest/latest`
    # outcome
    excluded_by: tuple | None = None  # (key, other id, other keep value)
    rank: int | None = None
    status: str = "admitted"
    awarded: Decimal | None = None
    reserve: int | None = None  # index of the reserve that funded it
    tied_with: tuple = ()
    tie_break: tuple | None = None  # (key index, my value, other value, other id)
    note: str = ""
    left: Decimal | None = None  # budget left when a skipped entry did not fit


@attrs.frozen
class Procedure:
    """The ranking block of a policy, resolved into plain data."""

    keys: tuple  # ast.OrderKey
    sportello: bool = False
    shortfall: str = "partial"
    reserves: tuple = ()  # ast.Reserve
    unique: tuple = ()  # ast.Unique

    @classmethod
    def of(cls, policy) -> "Procedure":
        r = policy.ranking
        keys, sportello, shortfall, reserves, unique = None, False, "partial", [], []
        for it in (r.items if r is not None else ()):
            if isinstance(it, ast.Order):
                keys = it.keys
            elif isinstance(it, ast.Sportello):
                keys = (ast.OrderKey(it.by, False, True, span=it.span),)
                sportello = True
            elif isinstance(it, ast.Shortfall):
                shortfall = it.mode
            elif isinstance(it, ast.Reserve):
                reserves.append(it)
            elif isinstance(it, ast.Unique):
                unique.append(it)
        if keys is None:
            keys = (ast.OrderKey(ast.ScoreRef(), True, True),)
            if "submitted" in policy.checked.decls:
                name = ast.Name("submitted")
                policy.checked.resolved[id(name)] = ("result", "submitted")
                keys += (ast.OrderKey(name, False, True),)
        return cls(tuple(keys), sportello, shortfall, tuple(reserves), tuple(unique))


def _cmp(a, b, descending):
    """Compare two key values; missing values always go last."""
    if a == b:
        return 0
    if a is None:
        return 1
    if b is None:
        return -1
    if descending:
        a, b = b, a
    return -1 if a < b else 1


def apply_unique(entries: list[Entry], rule: ast.Unique, order_key) -> None:
    """Settle firms claimed by several applications (``unique … keep …``).

    Entries are visited in keep order (earliest/latest ``keep_value``, or rank
    order for ``keep best``); the first to claim a key keeps it, a later entry
    that shares any key is excluded and told which application kept it.
    """
    if rule.keep == "best":
        ordered = sorted(entries, key=order_key)
    else:
        reverse = rule.keep == "latest"
        present = [e for e in entries if e.keep_value is not None]
        missing = [e for e in entries if e.keep_value is None]
        ordered = sorted(sorted(present, key=lambda e: e.id), key=lambda e: e.keep_value, reverse=reverse)
        ordered += sorted(missing, key=lambda e: e.id)
    claimed: dict = {}
    for e in ordered:
        if e.excluded_by is not None:
            continue
        clash = next((k for k in e.unique_keys if k in claimed), None)
        if clash is not None:
            other = claimed[clash]
            e.excluded_by = (clash, other.id, other.keep_value)
            e.status = "ineligible"
            continue
        for k in e.unique_keys:
            claimed[k] = e


def rank(entries: list[Entry], proc: Procedure) -> list[Entry]:
    """Sort and number the entries (competition ranking: 1, 2, 2, 4)."""
    directions = [k.descending for k in proc.keys]

    def compare(a, b):
        for i, desc in enumerate(directions):
            c = _cmp(a.keys[i], b.keys[i], desc)
            if c:
                return c
        return (a.id > b.id) - (a.id < b.id)

    ordered = sorted(entries, key=functools.cmp_to_key(compare))
    prev = None
    for pos, e in enumerate(ordered, start=1):
        if prev is not None and prev.keys == e.keys:
            e.rank = prev.rank
        else:
            e.rank = pos
        prev = e
    # ties and how they were broken, for the placement sentence
    by_rank: dict[int, list[Entry]] = {}
    for e in ordered:
        by_rank.setdefault(e.rank, []).append(e)
    for i, e in enumerate(ordered):
        group = by_rank[e.rank]
        if len(group) > 1:
            e.tied_with = tuple(x.id for x in group if x is not e)
        # a neighbour with the same first key, separated by a later key
        for j in (i - 1, i + 1):
            if 0 <= j < len(ordered):
                o = ordered[j]
                if o.rank != e.rank and len(directions) > 1 and o.keys[0] == e.keys[0]:
                    k = next(k for k in range(len(directions)) if o.keys[k] != e.keys[k])
                    e.tie_break = (k, e.keys[k], o.keys[k], o.id)
                    break
    return ordered


def allocate(ordered: list[Entry], budget: Decimal, proc: Procedure, reserve_amounts=(), previous=None) -> Decimal:
    """Fund in rank order; return the total granted (never above ``budget``).

    ``reserve_amounts`` gives the amount of each reserve; ``previous`` maps
    application ids to grants already awarded (they stay as they were).
    """
    remaining = budget
    previous = previous or {}
    # earlier awards are fixed (scorrimento): charge them first
    for e in ordered:
        if e.status == "admitted" and e.id in previous:
            amount = min(previous[e.id], remaining)
            e.status, e.awarded = "funded", amount
            e.note = "previous"
            remaining -= amount
    # reserved quotas: only entries that fit whole are funded from a reserve
    for ri, amount in enumerate(reserve_amounts):
        pot = min(amount, remaining)
        for e in ordered:
            if e.status != "admitted" or not (e.reserves and e.reserves[ri]):
                continue
            if e.grant <= pot:
                e.status, e.awarded, e.reserve = "funded", e.grant, ri
                pot -= e.grant
                remaining -= e.grant
            else:
                break
    stopped = False
    for e in ordered:
        if e.status != "admitted":
            continue
        if e.grant <= 0:  # nothing to pay (e.g. a recognition): it never competes for funds
            e.status, e.awarded = "funded", D0
            continue
        if stopped:
            e.status, e.awarded = "not_funded", D0
            continue
        if e.grant <= remaining:
            e.status, e.awarded = "funded", e.grant
            remaining -= e.grant
            continue
        if proc.shortfall == "partial" and remaining > 0:
            e.status, e.awarded, e.note = "funded", remaining, "partial"
            remaining = D0
            stopped = True
        elif proc.shortfall == "skip":
            e.status, e.awarded, e.note, e.left = "not_funded", D0, "skipped", remaining
        else:
            e.status, e.awarded, e.note = "not_funded", D0, "exhausted"
            stopped = True
    total = budget - remaining
    assert total <= budget
    return total


_W = {
    "en": {
        "ranked": "Ranked {rank} of {n} with {score} points.",
        "first_come": "Position {rank} of {n} in order of submission.",
        "tied": " Tied with {ids}.",
        "broken": " Placed {side} {other} by {key} ({mine} against {theirs}).",
        "above": "above", "below": "below",
        "funded": " Funded {grant} as calculated.",
        "funded_reserve": " Funded {grant} from the reserve «{label}».",
        "partial": " Funded {grant} of {full}: only {grant} remained after the applications ranked above.",
        "previous": " Funded {grant}, as awarded in the earlier ranking.",
        "not_funded": " Not funded: the budget of {budget} was used up by the applications ranked above.",
        "skipped": " Not funded: the {full} due did not fit in the {left} left; the next applications that fit were funded.",
        "unique": "Firm {key} is also in application {other}, which keeps it ({why}).",
        "unique_gate": "Each firm in only one application",
        "keep_earliest": "submitted earlier", "keep_latest": "submitted later", "keep_best": "better placed",
    },
    "it": {
        "ranked": "Posizione {rank} su {n} con {score} punti.",
        "first_come": "Posizione {rank} su {n} in ordine di presentazione.",
        "tied": " A pari merito con {ids}.",
        "broken": " Collocata {side} {other} in base a {key} ({mine} contro {theirs}).",
        "above": "prima di", "below": "dopo",
        "funded": " Finanziata per {grant}, come calcolato.",
        "funded_reserve": " Finanziata per {grant} con la riserva «{label}».",
        "partial": " Finanziata per {grant} su {full}: dopo le domande collocate prima restavano solo {grant}.",
        "previous": " Finanziata per {grant}, come assegnato nella graduatoria precedente.",
        "not_funded": " Non finanziata: la dotazione di {budget} è stata esaurita dalle domande collocate prima.",
        "skipped": " Non finanziata: il contributo di {full} non rientrava nei {left} residui; sono state finanziate "
                   "le domande successive che vi rientravano.",
        "unique": "L'impresa {key} è presente anche nella domanda {other}, che la mantiene ({why}).",
        "unique_gate": "Ogni impresa in una sola domanda",
        "keep_earliest": "presentata prima", "keep_latest": "presentata dopo", "keep_best": "collocata meglio",
    },
}


def _show(v, lang, currency):
    if isinstance(v, Decimal) or isinstance(v, int):
        return format_points(v, lang)
    if hasattr(v, "isoformat"):
        return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
    return str(v)


def key_label(policy, key, lang) -> str:
    e = key.expr
    if isinstance(e, ast.ScoreRef):
        return "punteggio" if lang == "it" else "score"
    if isinstance(e, ast.Call) and e.func == "points" and e.args and isinstance(e.args[0], ast.Name):
        c = next((c for c in _all(policy.criteria) if c.id == e.args[0].id), None)
        if c is not None:
            return f"«{policy.label_of(c, lang)}»"
    if isinstance(e, ast.Name) and e.id == "submitted":
        return "data di presentazione" if lang == "it" else "submission time"
    return f"«{format_expr(e)}»"


def _all(criteria):
    for c in criteria:
        yield c
        if c.subs:
            yield from _all(c.subs)


def placement(entry: Entry, n: int, policy, proc: Procedure, budget: Decimal, lang: str) -> str:
    w = _W.get(lang, _W["en"])
    cur = policy.currency
    if entry.excluded_by is not None:
        key, other, value = entry.excluded_by
        return w["unique"].format(key=key, other=other, why=w["keep_" + proc.unique[0].keep])
    score = format_points(entry.score, lang) if entry.score is not None else "—"
    text = (w["first_come"] if proc.sportello else w["ranked"]).format(rank=entry.rank, n=n, score=score)
    if entry.tied_with:
        more = len(entry.tied_with) - 5
        text += w["tied"].format(ids=", ".join(entry.tied_with[:5]) + (f" (+{more})" if more > 0 else ""))
    if entry.tie_break is not None:
        k, mine, theirs, other = entry.tie_break
        side = w["above"] if _cmp(mine, theirs, proc.keys[k].descending) < 0 else w["below"]
        text += w["broken"].format(side=side, other=other, key=key_label(policy, proc.keys[k], lang),
                                   mine=_show(mine, lang, cur), theirs=_show(theirs, lang, cur))
    money = lambda d: format_money(d, lang, cur)  # noqa: E731
    if entry.status == "funded":
        if entry.note == "partial":
            text += w["partial"].format(grant=money(entry.awarded), full=money(entry.grant))
        elif entry.note == "previous":
            text += w["previous"].format(grant=money(entry.awarded))
        elif entry.reserve is not None:
            label = proc.reserves[entry.reserve].label.get(lang, policy.language)
            text += w["funded_reserve"].format(grant=money(entry.awarded), label=label)
        else:
            text += w["funded"].format(grant=money(entry.awarded))
    elif entry.status == "not_funded":
        if entry.note == "skipped":
            text += w["skipped"].format(full=money(entry.grant), left=money(entry.left or D0))
        else:
            text += w["not_funded"].format(budget=money(budget))
    return text
