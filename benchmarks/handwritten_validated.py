"""The yardstick's policy written by hand *with the checks bando makes*: the floor of ``policy.decide``.

The shared hand-written function (``../shared/bench/peers/handwritten.py``) reads the seven fields of
a firm the rules use and trusts their types. ``policy.decide`` validates every field that
``benchmarks/bench.bando`` declares (types, ranges, non-empty texts, the enum, defaults of optional
fields) and computes money exactly. This module is that same job written by hand, as tightly as one
would write it, in two forms:

* :func:`evaluate_validated` -- every field checked, arithmetic in floats as the shared function does;
* :func:`evaluate_exact` -- the same checks, and money read as :class:`~decimal.Decimal` (the amounts,
  the co-financing limit, the cost per employee and the grant, rounded down to the cent), which is
  what bando computes.

What bando also accepts and converts (a number written as text, a date with a UTC offset, a decimal
comma) these functions refuse: the yardstick's data has none of it. On that data they make bando's checks
but one (bando also looks for lone surrogates in non-ASCII texts), so they are if anything a little
cheaper than the job bando does. Both return the yardstick's four outputs and raise :class:`Invalid` on data bando calls invalid, so
``benchmarks/bench_floor.py`` can check them against the shared function and time them beside it
and ``policy.decide`` in one run. They are measuring instruments, not part of bando.
"""
from __future__ import annotations

from datetime import datetime
from decimal import ROUND_DOWN, Decimal

DEADLINE = datetime(2025, 6, 30, 12, 0, 0)
CONTRACT_TYPES = frozenset(("rete-soggetto", "rete-contratto"))
INNOVATION_POINTS = (0, 4, 9, 15, 20, 25)
LIMIT = 10 ** 18  # bando's bound on numbers (dsl.numbers)
_HALF = Decimal("0.5")
_CAP = Decimal(200_000)
_CENT = Decimal("0.01")
_PER_HEAD = (Decimal(1000), Decimal(2500), Decimal(5000))


class Invalid(ValueError):
    """The data is not what the policy's input declares."""


def _text(v):
    if v.__class__ is not str or not v:
        raise Invalid(v)
    return v


def _int(v, lo=-LIMIT + 1, hi=LIMIT - 1):
    if v.__class__ is not int or not lo <= v <= hi:
        raise Invalid(v)
    return v


def _money(v):
    # a JSON number of at least zero and below the bound; bando refuses what a double cannot say exactly
    if (v.__class__ is not float and v.__class__ is not int) or not 0 <= v < LIMIT or 0 < v < 1e-28:
        raise Invalid(v)
    return v


def _share(v):
    if v is None:
        return 0
    if (v.__class__ is not float and v.__class__ is not int) or not 0 <= v <= 1 or 0 < v < 1e-28:
        raise Invalid(v)
    return v


def _flag(v, default=None):
    if v is None and default is not None:
        return default
    if v is not True and v is not False:
        raise Invalid(v)
    return v


def _firms(firms):
    """The firm counts the rules use, every field of every firm checked."""
    if firms.__class__ is not list:
        raise Invalid(firms)
    employees = puglia = certified = exporters = 0
    pact = sme = sector_ok = True
    for f in firms:  # the checks written inline: a call per field would cost more than the check
        if f.__class__ is not dict:
            raise Invalid(f)
        vat, e, turnover, sector, region, founded, signed = \
            f["vat_id"], f["employees"], f["turnover_eur"], f["sector"], f["region"], f["founded"], f["signed_pact"]
        iso, export = f.get("has_iso9001", False), f.get("export_share", 0)
        if (vat.__class__ is not str or not vat or sector.__class__ is not str or not sector
                or region.__class__ is not str or not region
                or e.__class__ is not int or not 0 <= e <= 1_000_000
                or founded.__class__ is not int or not -LIMIT < founded < LIMIT
                or (turnover.__class__ is not float and turnover.__class__ is not int)
                or not 0 <= turnover < LIMIT or 0 < turnover < 1e-28
                or (signed is not True and signed is not False)):
            raise Invalid(f)
        if iso is None:
            iso = False
        elif iso is not True and iso is not False:
            raise Invalid(iso)
        if export is None:
            export = 0
        elif (export.__class__ is not float and export.__class__ is not int) or not 0 <= export <= 1 \
                or 0 < export < 1e-28:
            raise Invalid(export)
        employees += e
        if region == "Puglia":
            puglia += 1
        if not signed:
            pact = False
        if e >= 250 or turnover > 50_000_000:
            sme = False
        if sector[0] in "AK":
            sector_ok = False
        if iso:
            certified += 1
        if export >= 0.25:
            exporters += 1
    return len(firms), employees, puglia, certified, exporters, pact, sme, sector_ok


def _read(app):
    """Every field of the application checked; the values the rules use."""
    if app.__class__ is not dict:
        raise Invalid(app)
    _text(app["id"])
    submitted = app["submitted_at"]
    if submitted.__class__ is not str:
        raise Invalid(submitted)
    submitted = datetime.fromisoformat(submitted)
    network = app["network"]
    if network.__class__ is not dict:
        raise Invalid(network)
    _text(network["name"])
    if network["contract_type"] not in CONTRACT_TYPES:
        raise Invalid(network["contract_type"])
    counts = _firms(network["firms"])
    project = app["project"]
    if project.__class__ is not dict:
        raise Invalid(project)
    _text(project["title"])
    requested = _money(project["requested_amount_eur"])
    costs = _money(project["eligible_costs_eur"])
    innovation = _int(project["innovation_level"], 0, 5)
    markets = project.get("international_markets")
    markets = 0 if markets is None else _int(markets)
    months = _int(project["months"])
    research = _flag(project.get("partners_research"), False)
    women = _share(project.get("women_led_share"))
    return counts, submitted, requested, costs, innovation, markets, months, research, women


def _decide(app, exact):
    (n, employees, puglia, certified, exporters, pact, sme, sector_ok), submitted, requested, costs, \
        innovation, markets, months, research, women = _read(app)
    if exact:
        requested, costs = Decimal(repr(requested)), Decimal(repr(costs))
        half_costs = _HALF * costs
    else:
        half_costs = 0.5 * costs
    failed = []
    if n < 5:
        failed.append("min_firms")
    if employees < 30:
        failed.append("min_employees")
    if not pact:
        failed.append("all_signed_pact")
    if 3 * puglia < 2 * n:
        failed.append("regional_share")
    if not sme:
        failed.append("all_sme")
    if not sector_ok:
        failed.append("no_excluded_sector")
    if not 12 <= months <= 36:
        failed.append("duration")
    if requested > half_costs:
        failed.append("cofinancing")
    if submitted > DEADLINE:
        failed.append("deadline")

    score = INNOVATION_POINTS[innovation]
    score += 15 if markets >= 10 else 10 if markets >= 5 else 6 if markets >= 2 else 3 if markets >= 1 else 0
    # shares compared as whole numbers (k/n >= 3/5 is 5k >= 3n): exact, as bando compares them
    score += 12 if 5 * exporters >= 3 * n else 8 if 5 * exporters >= 2 * n else 4 if 5 * exporters >= n else 0
    score += 10 if 4 * certified >= 3 * n else 6 if 2 * certified >= n else 3 if 4 * certified >= n else 0
    if research:
        score += 10
    score += 10 if n >= 50 else 7 if n >= 20 else 4 if n >= 10 else 0
    score += 8 if women >= 0.5 else 5 if women >= 0.3 else 2 if women >= 0.1 else 0
    if employees:
        per_head = requested / employees
        low, mid, high = _PER_HEAD if exact else (1000, 2500, 5000)
        score += 10 if per_head <= low else 6 if per_head <= mid else 3 if per_head <= high else 0

    if failed or score < 60:
        grant = 0
    elif exact:
        grant = min(requested, half_costs, _CAP).quantize(_CENT, ROUND_DOWN)
    else:
        grant = min(requested, half_costs, 200_000)
    return {"eligible": not failed, "failed_gates": failed, "score": score, "grant": grant}


def evaluate_validated(app):
    """Every field checked, float arithmetic."""
    return _decide(app, False)


def evaluate_exact(app):
    """Every field checked, money as Decimal: the job ``policy.decide`` does."""
    return _decide(app, True)
