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
3. :func:`allocate` — fund in rank order until the budget runs out: earlier
   awards first, exactly as they were (scorrimento), then the top-up of an
   earlier partial award, reserved quotas, and everybody else, with the
   policy's shortfall rule for an application that does not fit and its tie
   rule for applications tied at the funding line.

Every entry ends with a ``reason`` code and the facts behind it, and
:func:`placement` turns them into a sentence in the call's language. Each
sentence states only what the allocation did for that application.
"""
from __future__ import annotations

import functools
import random
from decimal import ROUND_FLOOR, Decimal

import attrs

from dsl import ast

from engine.text.formatting import format_date, format_datetime, format_money, format_percent, format_points
from engine.text import i18n

D0 = Decimal(0)


@attrs.define
class Entry:
    """What ranking needs to know about one admitted application, and what it decided."""

    index: int
    id: str
    keys: tuple  # values of the order keys (None = missing)
    grant: Decimal  # the grant the policy's formula gives (the request, capped); may be <= 0
    requested: Decimal | None = None
    score: Decimal | None = None
    reserves: tuple = ()  # one bool per reserve: does the entry qualify?
    unique_keys: tuple = ()
    keep_value: object = None  # value compared by `keep earliest/latest`
    ranking_score: Decimal | None = None
    grant_declared: bool = True  # False: the policy declares no grant (a recognition)
    # outcome
    excluded_by: tuple | None = None  # (key, other id, other keep value)
    rank: int | None = None
    status: str = "admitted"
    awarded: Decimal | None = None
    reserve: int | None = None  # index of the reserve that funded it
    tied_with: tuple = ()
    tie_break: tuple | None = None  # (key index, my value, other value, other id)
    reason: str = ""  # what the allocation did: a key of the placement sentences
    previous: Decimal | None = None  # the award of the earlier ranking (scorrimento)
    left: Decimal | None = None  # budget left when the allocation reached it
    line_rank: int | None = None  # the rank where funding stopped, or where a tie awaits the office
    draw: tuple | None = None  # (position, of, seed): its place in the public draw among tied entries
    group_total: Decimal | None = None  # a tie at the funding line: what the tied entries are due in all
    group_left: Decimal | None = None  # ... and what was left of the budget when the allocation reached them
    over: Decimal | None = None  # `ties fund all within`: how far the tied entries went beyond the budget


@attrs.frozen
class PreviousAward:
    """An award of an earlier ranking, as its results.jsonl recorded it."""

    amount: Decimal
    reserve: int | None = None  # the reserve it was funded from


class AllocationError(ValueError):
    """The allocation cannot be done as asked (a budget below what is already awarded)."""


@attrs.define
class Allocation:
    """The totals of one allocation, for the summary and the CLI."""

    budget: Decimal
    granted: Decimal = D0  # everything awarded, earlier awards included
    left: Decimal = D0  # what no application received (held funds included)
    held: Decimal = D0  # kept for applications tied at the funding line, awaiting the office
    line_rank: int | None = None  # where funding stopped (None: every admitted application was funded)
    margin_used: Decimal = D0  # spent beyond the budget under `ties fund all within`
    committed_elsewhere: Decimal = D0  # earlier awards of applications not in this ranking
    reserve_funded: bool = False  # some application was funded from a reserve (before the others)
    changes: list = attrs.Factory(list)  # (id, award before, award now) for every award that changed


@attrs.frozen
class Procedure:
    """The ranking block of a policy, resolved into plain data."""

    keys: tuple  # ast.OrderKey
    sportello: bool = False
    shortfall: str = "partial"
    reserves: tuple = ()  # ast.Reserve
    unique: tuple = ()  # ast.Unique
    ties: ast.Ties = ast.Ties("office")  # the safe default: never a silent pick
    unit: Decimal = Decimal("0.01")  # the smallest amount a shared award is rounded down to

    @classmethod
    def of(cls, policy) -> "Procedure":
        r = policy.ranking
        keys, sportello, shortfall, reserves, unique = None, False, "partial", [], []
        ties = ast.Ties("office")
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
            elif isinstance(it, ast.Ties):
                ties = it
        if keys is None:
            keys = (ast.OrderKey(ast.ScoreRef(), True, True),)
            if "submitted" in policy.checked.decls:
                name = ast.Name("submitted")
                policy.checked.resolve(name, "result", "submitted")
                keys += (ast.OrderKey(name, False, True),)
        unit = Decimal("0.01")
        decl = policy.checked.decls.get("grant")
        rounding = getattr(decl, "rounding", None)
        if rounding is not None and isinstance(rounding.unit, ast.Money):
            unit = rounding.unit.amount  # a grant rounded down to 1 EUR is shared in whole euros too
        return cls(tuple(keys), sportello, shortfall, tuple(reserves), tuple(unique), ties, unit)

    def margin(self, policy, budget: Decimal) -> Decimal:
        """The amount `ties fund all within X` allows beyond ``budget``."""
        if self.ties.rule != "fund_all" or self.ties.margin is None:
            return D0
        value = policy.compile_expr(self.ties.margin)({})
        t = policy.checked.type_of(self.ties.margin)
        return Decimal(value) if t.kind == "money" else (budget * Decimal(value))


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


def _floor(amount: Decimal, unit: Decimal) -> Decimal:
    """``amount`` rounded down to a multiple of ``unit`` (shares never add up to more than the pot)."""
    return (amount / unit).to_integral_value(ROUND_FLOOR) * unit


def _groups(ordered):
    """The entries in rank order, as lists of the entries that share a rank."""
    group: list[Entry] = []
    for e in ordered:
        if group and (e.rank is None or group[0].rank != e.rank):  # unranked entries stand alone
            yield group
            group = []
        group.append(e)
    if group:
        yield group


def committed(previous, withdrawn=()) -> Decimal:
    """What an earlier ranking already awarded, less the withdrawn applications' awards."""
    return sum((a.amount for i, a in (previous or {}).items() if i not in withdrawn), D0)


def check_budget(budget: Decimal, previous, withdrawn=(), money=None) -> None:
    """Refuse a budget below what earlier rankings awarded: earlier awards are never reduced."""
    done = committed(previous, withdrawn)
    if budget < done:
        show = money or (lambda d: f"{d:f}")
        raise AllocationError(
            f"the budget of {show(budget)} is below the {show(done)} already awarded in the earlier ranking; "
            f"earlier awards are never reduced: give a budget of at least {show(done)}, or list the "
            f"applications withdrawn or revoked with --withdrawn")


class _Ledger:
    """The budget as the allocation spends it; every award goes through :meth:`fund`."""

    def __init__(self, budget: Decimal, margin: Decimal):
        self.budget = budget
        self.remaining = budget
        self.margin = margin  # what `ties fund all within` may still spend beyond the budget
        self.margin_used = D0

    def fund(self, e: Entry, amount: Decimal, reason: str, reserve=None) -> None:
        assert amount >= 0 and (amount <= self.remaining or reason == "tie_margin")
        e.status, e.awarded, e.reason = "funded", amount, reason
        if reserve is not None:
            e.reserve = reserve
        self.remaining -= amount

    def refuse(self, e: Entry, reason: str, line_rank=None) -> None:
        e.status, e.awarded, e.reason = "not_funded", None, reason
        e.left, e.line_rank = max(self.remaining, D0), line_rank  # below zero only past a tie margin


def allocate(ordered: list[Entry], budget: Decimal, proc: Procedure, reserve_amounts=(), previous=None,
             withdrawn=frozenset(), margin: Decimal = D0) -> Allocation:
    """Fund the ranked entries; return the totals. Never awards more than ``budget`` (+ ``margin``).

    ``reserve_amounts`` gives the amount of each reserve; ``previous`` maps
    application ids to :class:`PreviousAward` (scorrimento: kept exactly, an
    earlier partial award completed first); ``withdrawn`` lists applications
    whose award is released (their entries are not in ``ordered``). ``margin``
    is what ``ties fund all within`` allows beyond the budget.
    """
    previous = {i: a for i, a in (previous or {}).items() if i not in withdrawn}
    check_budget(budget, previous)
    out = Allocation(budget)
    book = _Ledger(budget, margin)
    present = {e.id for e in ordered}
    # earlier awards of applications that are not in this ranking stay committed
    out.committed_elsewhere = sum((a.amount for i, a in previous.items() if i not in present), D0)
    book.remaining -= out.committed_elsewhere
    pots = list(reserve_amounts)

    # 1. earlier awards, exactly as they were
    for e in ordered:
        a = previous.get(e.id)
        if a is None or e.status != "admitted":
            continue
        e.previous = a.amount
        book.fund(e, a.amount, "previous" if a.amount >= e.grant else "previous_partial", a.reserve)
        if a.reserve is not None and a.reserve < len(pots):
            pots[a.reserve] -= a.amount
    # 2. freed or added funds first complete an earlier partial award, in rank order
    for e in ordered:
        if e.reason == "previous_partial" and book.remaining > 0:
            add = min(e.grant - e.previous, book.remaining)
            book.remaining -= add
            e.awarded = e.previous + add
            e.reason = "topped_up" if e.awarded >= e.grant else "topped_up_partial"
    # 3. reserved quotas: whole tie groups that fit whole, in rank order; what is left flows back
    for ri in range(len(pots)):
        pot = min(pots[ri], book.remaining)
        for group in _groups(ordered):
            live = [e for e in group if e.status == "admitted" and e.reserves and e.reserves[ri] and e.grant > 0]
            if not live:
                continue
            due = sum((e.grant for e in live), D0)
            if due > pot:
                break
            for e in live:
                book.fund(e, e.grant, "funded_reserve", ri)
            pot -= due
    # 4. everybody else, in rank order
    stopped = None  # why nobody further down is funded: exhausted | stopped | below_line_pending
    for group in _groups(ordered):
        live = []
        for e in group:
            if e.status != "admitted":
                continue
            if not e.grant_declared or e.grant == 0:
                # nothing to pay (a recognition, or a grant of zero): it never competes for funds
                e.status, e.awarded, e.reason = "funded", D0, "nothing_due"
            elif e.grant < 0:
                e.status, e.awarded, e.reason = "not_funded", None, "no_grant"
            else:
                live.append(e)
        if not live:
            continue
        if stopped is not None:
            for e in live:
                book.refuse(e, stopped, out.line_rank)
            continue
        due = sum((e.grant for e in live), D0)
        if due <= book.remaining:
            for e in live:
                book.fund(e, e.grant, "funded")
            continue
        if book.remaining <= 0:
            # the budget was used up above this rank: not a tie at the funding line
            stopped, out.line_rank = "exhausted", group[0].rank
            for e in live:
                book.refuse(e, stopped, out.line_rank)
            continue
        if len(live) > 1:
            for e in live:
                e.group_total, e.group_left, e.left = due, book.remaining, book.remaining
            stopped = _tie_at_the_line(live, due, book, proc)
            if stopped is not None:
                out.line_rank = group[0].rank
            continue
        stopped = _shortfall(live[0], book, proc)
        if stopped is not None:
            out.line_rank = live[0].rank
    out.margin_used = book.margin_used
    out.reserve_funded = any(e.reason == "funded_reserve" for e in ordered)
    if any(e.reason == "tie_pending" for e in ordered):
        out.held = max(book.remaining, D0)
    out.left = max(book.remaining, D0)
    out.granted = budget - book.remaining
    # the invariant the office signs: never more than the budget (and the margin the call allows)
    assert D0 <= out.granted <= budget + out.margin_used, (out.granted, budget, out.margin_used)
    for e in ordered:
        before = e.previous or D0
        now = e.awarded if e.status == "funded" else D0
        if now != before:
            out.changes.append((e.id, before, now))
    return out


def _shortfall(e: Entry, book: _Ledger, proc: Procedure) -> str | None:
    """The call's shortfall rule for ``e``, whose grant does not fit; returns why funding stops, if it does."""
    if book.remaining >= e.grant:
        book.fund(e, e.grant, "funded")
        return None
    if book.remaining <= 0:
        book.refuse(e, "exhausted", e.rank)
        return "exhausted"
    if proc.shortfall == "partial":
        book.fund(e, book.remaining, "partial")
        return "exhausted"
    if proc.shortfall == "skip":
        book.refuse(e, "skipped")
        return None
    book.refuse(e, "stop_here", e.rank)
    return "stopped"


def _tie_at_the_line(live: list[Entry], due: Decimal, book: _Ledger, proc: Procedure) -> str | None:
    """Entries tied on every ranking key, due more than is left: the call's tie rule decides."""
    rule = proc.ties.rule
    left = book.remaining
    if rule == "fund_all" and due - left <= book.margin:
        over = due - left
        book.margin -= over
        book.margin_used += over
        for e in live:
            e.over = over
            book.fund(e, e.grant, "tie_margin")
        return None
    if rule == "equal":
        pending = sorted(live, key=lambda e: (e.grant, e.id))
        pot = left
        while pending:
            each = _floor(pot / len(pending), proc.unit)
            if pending[0].grant <= each:  # the smallest due fits in an equal share: paid in full
                e = pending.pop(0)
                book.fund(e, e.grant, "tie_shared")
                pot -= e.grant
                continue
            for e in pending:
                if each > 0:
                    book.fund(e, each, "tie_shared")
                else:
                    book.refuse(e, "exhausted", e.rank)
            break
        return "exhausted"
    if rule == "pro_rata":
        for e in sorted(live, key=lambda e: e.id):
            share = _floor(left * e.grant / due, proc.unit)
            if share > 0:
                book.fund(e, share, "tie_pro_rata")
            else:
                book.refuse(e, "exhausted", e.rank)
        return "exhausted"
    if rule == "draw":
        drawn = sorted(live, key=lambda e: e.id)
        # a public draw: anyone with the seed can repeat it (Python's Mersenne Twister, seeded with text)
        random.Random(f"{proc.ties.seed}:{live[0].rank}").shuffle(drawn)
        stopped = None
        for pos, e in enumerate(drawn, start=1):
            e.draw = (pos, len(drawn), proc.ties.seed)
            if stopped is not None:
                book.refuse(e, stopped, e.rank)
                continue
            stopped = _shortfall(e, book, proc)
        return stopped
    # `ties office decides` (the default), or a margin too small: the office decides; the money is held
    for e in live:
        e.status, e.awarded, e.reason, e.line_rank = "tied", None, "tie_pending", e.rank
        if rule == "fund_all":
            e.over = due - left
    return "below_line_pending"


# The sentences of the graduatoria (the catalogue's ranking.* messages). Each one states only what
# the allocation did for that application: the facts come from the Entry (reason, left, line_rank,
# draw...), never from a guess about what happened to others.
def words(lang: str) -> dict:
    """The sentence templates of the graduatoria in ``lang``."""
    return i18n.table(lang, "ranking")


def _show(v, kind, lang, currency):
    """A ranking key's value as the sentence writes it, by the key's type."""
    w = words(lang)
    if v is None:
        return w["not_given"]
    if v is True or v is False:
        return w["yes"] if v else w["no"]
    if kind == "money":
        return format_money(v, lang, currency)
    if kind == "percent":
        return format_percent(v, lang)
    if hasattr(v, "isoformat"):
        return format_datetime(v, lang) if hasattr(v, "hour") else format_date(v, lang)
    if isinstance(v, (Decimal, int)):
        return format_points(v, lang)
    return f"«{v}»"


def key_label(policy, key, lang) -> str:
    """How the sentence names a ranking key: the policy's label, never a field path or a let's name."""
    from engine.explain.explain import name_of
    w = words(lang)
    e = key.expr
    if isinstance(e, ast.ScoreRef):
        return w["score"]
    if isinstance(e, ast.Call) and e.func == "points" and e.args and isinstance(e.args[0], ast.Name):
        c = next((c for c in _all(policy.criteria) if c.id == e.args[0].id), None)
        if c is not None:
            return f"«{policy.label_of(c, lang)}»"
    if isinstance(e, ast.Name):
        kind, n = policy.checked.ref_of(e)
        if kind == "result" and n in w:
            return w[n]
    return f"«{name_of(policy, e, lang)}»"


def _all(criteria):
    for c in criteria:
        yield c
        if c.subs:
            yield from _all(c.subs)


def _ids(ids):
    more = len(ids) - 5
    return ", ".join(ids[:5]) + (f" (+{more})" if more > 0 else "")


def _cited(text: str, rule, policy, lang: str) -> str:
    """``text`` with the article ``rule`` (a ranking rule) comes from before its closing full stop."""
    c = ast.citation_of(rule)
    if c is None:
        return text
    cite = i18n.table(lang, "explain")["cites"].format(c=c.get(lang, policy.language))
    return text[:-1] + cite + "." if text.endswith(".") else text + cite


def placement(entry: Entry, n: int, policy, proc: Procedure, alloc: Allocation, lang: str,
              margin: Decimal = D0) -> str:
    """The sentence that says where ``entry`` stands and what it was awarded, from its own facts."""
    budget = alloc.budget
    w = words(lang)
    cur = policy.currency
    money = lambda d: format_money(d, lang, cur)  # noqa: E731
    if entry.excluded_by is not None:
        key, other, value = entry.excluded_by
        return _cited(w["unique"].format(key=key, other=other, why=w["keep_" + proc.unique[0].keep]),
                      proc.unique[0], policy, lang)
    if entry.status == "withdrawn":
        return (w["withdrawn"].format(prev=money(entry.previous)) if entry.previous
                else w["withdrawn_unfunded"])
    score = format_points(entry.score, lang) if entry.score is not None else None
    if proc.sportello:
        text = w["first_come"].format(rank=entry.rank, n=n)
    elif score is None:  # a call with no score (ranked by date, by amount…): no "con — punti"
        text = w["ranked_unscored"].format(rank=entry.rank, n=n)
    elif entry.ranking_score is not None and entry.score is not None and entry.ranking_score != entry.score:
        text = w["ranked_rw"].format(rank=entry.rank, n=n, score=score,
                                     rscore=format_points(entry.ranking_score, lang))
    else:
        text = w["ranked"].format(rank=entry.rank, n=n, score=score)
    at_line = entry.group_total is not None
    if entry.tied_with and not at_line:
        text += w["tied"].format(ids=_ids(entry.tied_with))
    if entry.tie_break is not None:
        k, mine, theirs, other = entry.tie_break
        kind = policy.checked.type_of(proc.keys[k].expr).kind
        side = w["above"] if _cmp(mine, theirs, proc.keys[k].descending) < 0 else w["below"]
        text += w["broken"].format(side=side, other=other, key=key_label(policy, proc.keys[k], lang),
                                   mine=_show(mine, kind, lang, cur), theirs=_show(theirs, kind, lang, cur))
    facts = dict(grant=money(entry.awarded) if entry.awarded is not None else "", full=money(entry.grant),
                 left=money(entry.left) if entry.left is not None else "", line=entry.line_rank,
                 budget=money(budget), margin=money(margin),
                 over=money(entry.over) if entry.over is not None else "",
                 prev=money(entry.previous) if entry.previous is not None else "",
                 added=money(entry.awarded - entry.previous) if entry.previous is not None and entry.awarded else "",
                 total=money(entry.group_total) if at_line else "")
    if at_line:
        tie = w["tie_line"].format(ids=_ids(entry.tied_with), **dict(facts, left=money(entry.group_left)))
        if entry.draw is not None:
            pos, k, seed = entry.draw
            tie += w["tie_draw"].format(seed=seed, pos=pos, k=k)
        text += _cited(tie, proc.ties, policy, lang)
    reason = entry.reason
    if reason == "funded_reserve":
        label = proc.reserves[entry.reserve].label.get(lang, policy.language)
        return text + _cited(w["funded_reserve"].format(label=label, **facts), proc.reserves[entry.reserve],
                             policy, lang)
    if reason == "nothing_due" and not entry.grant_declared:
        return text + w["nothing_declared"]
    if reason == "no_grant":
        facts["grant"] = money(entry.grant)
    if reason == "tie_shared" and entry.awarded == entry.grant:
        reason = "tie_shared_full"
    if reason == "exhausted" and entry.left:
        reason = "exhausted_left"
    elif reason in ("exhausted", "partial"):
        if entry.draw is not None:
            reason += "_draw"
        elif alloc.reserve_funded:
            reason += "_reserve"
    if reason == "tie_pending" and entry.over is not None:
        reason = "tie_pending_margin"
    if reason in w:
        text += w[reason].format(**facts)
    return text
