"""The funding line: allocation in every mode, ties, scorrimento and withdrawals (engine.score.ranking).

Unit tests on :func:`engine.score.ranking.allocate` and a property test over random
batches, modes, tie rules, reserves, earlier awards and budgets: the total
awarded never exceeds the budget (plus the margin a tie rule allows), an
earlier award never decreases, a grant below zero is never funded.
"""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl import ast
from engine.score import ranking as rk

D = Decimal


def entries(*grants, ranks=None, reserves=None):
    out = []
    for i, g in enumerate(grants):
        e = rk.Entry(i, f"A{i + 1:02d}", (D(-i),), D(g), reserves=(reserves[i],) if reserves else ())
        e.rank = ranks[i] if ranks else i + 1
        out.append(e)
    for e in out:  # what rk.rank records for entries that share a rank
        e.tied_with = tuple(o.id for o in out if o.rank == e.rank and o is not e)
    return out


def proc(shortfall="partial", ties="office", margin=None, seed=None, unit="0.01"):
    return rk.Procedure(keys=(), shortfall=shortfall, ties=ast.Ties(ties, margin, seed), unit=D(unit))


def outcome(es):
    return [(e.id, e.status, e.awarded, e.reason) for e in es]


def test_negative_grant_is_never_funded_and_leaves_the_budget_alone():
    es = entries(-1_000_000, 100, 300)
    a = rk.allocate(es, D(400), proc(), [D(400)] if False else [])
    assert es[0].status == "not_funded" and es[0].reason == "no_grant" and es[0].awarded is None
    assert [e.awarded for e in es[1:]] == [D(100), D(300)]
    assert a.granted == D(400)


def test_negative_grant_never_funded_from_a_reserve():
    es = entries(-1_000_000, 100, reserves=[True, True])
    a = rk.allocate(es, D(400), proc(), [D(400)])
    assert es[0].status == "not_funded" and a.granted == D(100)


def test_zero_grant_is_funded_with_nothing():
    es = entries(0, 100)
    rk.allocate(es, D(50), proc())
    assert (es[0].status, es[0].awarded, es[0].reason) == ("funded", D(0), "nothing_due")


def test_stop_rule_says_where_it_stopped_and_what_is_left():
    es = entries(100, 300, 50)
    a = rk.allocate(es, D(317), proc("stop"))
    assert outcome(es) == [("A01", "funded", D(100), "funded"), ("A02", "not_funded", None, "stop_here"),
                           ("A03", "not_funded", None, "stopped")]
    assert es[2].line_rank == 2 and es[2].left == D(217) and a.left == D(217) and a.line_rank == 2


def test_skip_rule_passes_over_and_records_what_was_left():
    es = entries(100, 300, 50)
    rk.allocate(es, D(317), proc("skip"))
    assert outcome(es) == [("A01", "funded", D(100), "funded"), ("A02", "not_funded", None, "skipped"),
                           ("A03", "funded", D(50), "funded")]
    assert es[1].left == D(217)


def test_tie_at_the_line_is_left_to_the_office_by_default():
    es = entries(100, 80, 80, 10, ranks=[1, 2, 2, 4])
    a = rk.allocate(es, D(150), proc())
    assert [e.status for e in es] == ["funded", "tied", "tied", "not_funded"]
    assert es[1].reason == "tie_pending" and es[1].group_total == D(160) and es[1].left == D(50)
    assert es[3].reason == "below_line_pending" and es[3].line_rank == 2
    assert a.held == D(50) and a.granted == D(100)


def test_tie_share_equally_water_fills_and_rounds_down():
    es = entries(30, 100, 100, ranks=[1, 1, 1])
    a = rk.allocate(es, D("200.01"), proc(ties="equal"))
    assert [e.awarded for e in es] == [D(30), D("85.00"), D("85.00")]
    assert a.granted <= D("200.01")


def test_tie_share_pro_rata():
    es = entries(100, 300, ranks=[1, 1])
    rk.allocate(es, D(200), proc(ties="pro_rata", unit="1"))
    assert [e.awarded for e in es] == [D(50), D(150)] and {e.reason for e in es} == {"tie_pro_rata"}


def test_tie_draw_is_reproducible_from_its_seed():
    first = entries(100, 100, 100, ranks=[1, 1, 1])
    rk.allocate(first, D(150), proc(ties="draw", seed=20131129))
    again = entries(100, 100, 100, ranks=[1, 1, 1])
    rk.allocate(again, D(150), proc(ties="draw", seed=20131129))
    assert outcome(first) == outcome(again)
    assert sorted(e.draw[0] for e in first) == [1, 2, 3]
    assert sorted(e.reason for e in first) == ["exhausted", "funded", "partial"]


def test_tie_fund_all_within_a_margin():
    es = entries(100, 100, ranks=[1, 1])
    a = rk.allocate(es, D(190), proc(ties="fund_all"), margin=D(10))
    assert [e.awarded for e in es] == [D(100), D(100)] and a.margin_used == D(10) and a.granted == D(200)
    es = entries(100, 100, ranks=[1, 1])
    a = rk.allocate(es, D(150), proc(ties="fund_all"), margin=D(10))
    assert [e.status for e in es] == ["tied", "tied"] and es[0].over == D(50) and a.granted == D(0)


def test_a_whole_tie_group_fits_in_the_budget():
    es = entries(50, 50, ranks=[1, 1])
    rk.allocate(es, D(100), proc())
    assert [e.status for e in es] == ["funded", "funded"]


def test_tie_below_a_used_up_budget_is_not_a_tie_at_the_line():
    es = entries(100, 40, 40, ranks=[1, 2, 2])
    rk.allocate(es, D(100), proc())
    assert [e.reason for e in es] == ["funded", "exhausted", "exhausted"]


def test_scorrimento_keeps_awards_tops_up_partial_then_goes_down_the_list():
    es = entries(40, 40, 40, 40)
    prev = {"A01": rk.PreviousAward(D(40)), "A02": rk.PreviousAward(D(40)), "A03": rk.PreviousAward(D(20))}
    a = rk.allocate(es, D(130), proc(), previous=prev)
    assert [e.awarded for e in es] == [D(40), D(40), D(40), D(10)]
    assert [e.reason for e in es] == ["previous", "previous", "topped_up", "partial"]
    assert a.changes == [("A03", D(20), D(40)), ("A04", D(0), D(10))]


def test_scorrimento_refuses_a_budget_below_the_earlier_awards():
    es = entries(40, 40)
    with pytest.raises(rk.AllocationError, match="below the 80 already awarded"):
        rk.allocate(es, D(60), proc(), previous={"A01": rk.PreviousAward(D(40)), "A02": rk.PreviousAward(D(40))})


def test_withdrawal_releases_the_award_down_the_list():
    es = entries(40, 40, 40)  # A01 withdrawn: not in the ranking
    rest = es[1:]
    prev = {"A01": rk.PreviousAward(D(40)), "A02": rk.PreviousAward(D(40))}
    a = rk.allocate(rest, D(80), proc(), previous=prev, withdrawn=frozenset({"A01"}))
    assert [e.awarded for e in rest] == [D(40), D(40)] and a.granted == D(80)


def test_earlier_award_of_an_application_outside_the_ranking_stays_committed():
    es = entries(40, 40)
    a = rk.allocate(es, D(100), proc(), previous={"GONE": rk.PreviousAward(D(70))})
    assert a.committed_elsewhere == D(70) and [e.awarded for e in es] == [D(30), None]
    assert a.granted == D(100)


@st.composite
def batches(draw):
    n = draw(st.integers(0, 12))
    grants = draw(st.lists(st.integers(-50, 120), min_size=n, max_size=n))
    ranks, r = [], 0
    for i in range(n):
        r = r if i and draw(st.booleans()) and draw(st.booleans()) else i + 1  # some ties
        ranks.append(r)
    nres = draw(st.integers(0, 2))
    reserves = [tuple(draw(st.booleans()) for _ in range(nres)) for _ in range(n)]
    return grants, ranks, reserves, nres


@settings(max_examples=400, deadline=None)
@given(batches(), st.integers(0, 600), st.sampled_from(["partial", "skip", "stop"]),
       st.sampled_from(["office", "equal", "pro_rata", "draw", "fund_all"]), st.integers(0, 40),
       st.lists(st.integers(0, 200), max_size=2), st.data())
def test_property_never_more_than_the_budget(batch, budget, mode, ties, margin, reserve_amounts, data):
    grants, ranks, reserve_flags, nres = batch
    es = []
    for i, g in enumerate(grants):
        e = rk.Entry(i, f"A{i:02d}", (), D(g), reserves=reserve_flags[i])
        e.rank = ranks[i]
        es.append(e)
    ids = [e.id for e in es]
    chosen = data.draw(st.lists(st.sampled_from(ids), unique=True)) if ids else []
    previous = {}
    for i in chosen:
        g = next(e.grant for e in es if e.id == i)
        previous[i] = rk.PreviousAward(D(data.draw(st.integers(0, max(int(g), 0) + 20))))
    withdrawn = frozenset(data.draw(st.lists(st.sampled_from(ids), unique=True, max_size=2))) if ids else frozenset()
    ranked = [e for e in es if e.id not in withdrawn]
    budget = D(budget)
    amounts = [D(a) for a in reserve_amounts[:nres]] + [D(0)] * (nres - len(reserve_amounts[:nres]))
    done = rk.committed(previous, withdrawn)
    if budget < done:
        with pytest.raises(rk.AllocationError):
            rk.allocate(ranked, budget, proc(mode, ties, seed=7), amounts, previous, withdrawn, D(margin))
        return
    a = rk.allocate(ranked, budget, proc(mode, ties, seed=7), amounts, previous, withdrawn, D(margin))
    paid = sum((e.awarded for e in ranked if e.status == "funded"), D(0)) + a.committed_elsewhere
    assert paid == a.granted <= budget + a.margin_used
    assert a.margin_used <= D(margin) and (a.margin_used == 0 or ties == "fund_all")
    for e in ranked:
        assert e.status in ("funded", "not_funded", "tied")
        assert e.reason, e
        if e.grant < 0 and e.id not in previous:
            assert e.status != "funded"
        if e.status == "funded":
            assert e.awarded >= 0
            if e.id not in previous:
                assert e.awarded <= e.grant
        if e.id in previous:  # an earlier award never decreases
            assert e.status == "funded" and e.awarded >= previous[e.id].amount


@pytest.mark.parametrize("rule", ["ties office decides", "ties share equally", "ties share pro rata",
                                  "ties draw seed 20131129", "ties fund all within 5%",
                                  "ties fund all within 20_000 EUR"])
def test_tie_rules_parse_and_format_round_trip(rule):
    from dsl.fmt import format_text
    text = ('call "T" version "1" {\n  language en\n  budget 100 EUR\n}\n\ninput {\n  id: text\n}\n\n'
            f'ranking {{\n  {rule}\n}}\n')
    assert format_text(text) == text


@pytest.mark.parametrize("rule,message", [
    ("ties draw", "needs its recorded seed"), ("ties fund all", "say how much more"),
    ("ties share equally seed 3", "takes no `seed`"), ("ties coin toss", "unknown tie rule"),
])
def test_tie_rule_errors_say_what_to_write(rule, message):
    from dsl.errors import PolicyError
    from dsl.parser import parse
    with pytest.raises(PolicyError, match=message):
        parse('call "T" version "1" {\n  language en\n}\ninput {\n  id: text\n}\n'
              f'ranking {{\n  {rule}\n}}\n')
