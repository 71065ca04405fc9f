"""Ranking, tie-breaks, unique firms, reserves, allocation and `bando score` end to end."""
from __future__ import annotations

import csv
import json
from decimal import Decimal

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.score import ranking as rk
from engine.cli import main

POLICY = """
call "Bando prova" version "1" {
  authority "Camera di Commercio di Varese"
  language en
  closes 2025-06-30 12:00
  budget 100 EUR
}

record Firm {
  vat: text
}

input {
  id: text
  name: text
  submitted: datetime
  quality: int in 0..10
  territory: int in 0..10
  requested: money
  artisan: bool = false
  firms: list of Firm
}

eligibility {
  gate has_firms "At least one firm": count(firms) >= 1
}

score max 20 pass 5 {
  criterion quality "Quality" max 10 = quality
  criterion territory "Territory" max 10 = territory
}

grant = requested
requested = requested
applicant = name
submitted = submitted

ranking {
  %s
}
"""

DEFAULT_RANKING = "order by score desc, points(territory) desc, submitted asc\n  shortfall partial"


def app(i, quality, territory, requested, submitted="2025-05-01T10:00:00", firms=("IT001",), **kw):
    d = {"id": f"A-{i:02d}", "name": f"Rete {i}", "submitted": submitted, "quality": quality,
         "territory": territory, "requested": requested, "firms": [{"vat": v} for v in firms]}
    d.update(kw)
    return d


def run_score(tmp_path, apps, ranking=DEFAULT_RANKING, extra=(), name="out"):
    policy = tmp_path / "p.bando"
    policy.write_text(POLICY % ranking, encoding="utf-8")
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(apps), encoding="utf-8")
    out = tmp_path / name
    res = CliRunner().invoke(main, ["score", str(policy), str(batch), "-o", str(out), *extra])
    assert res.exit_code == 0, res.output
    results = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["application"]: r for r in results}, out, results


def test_ties_share_a_rank_and_are_listed_by_id(tmp_path):
    apps = [app(2, 5, 5, 10), app(1, 5, 5, 10), app(3, 9, 9, 10)]
    by_id, out, _ = run_score(tmp_path, apps)
    assert by_id["A-03"]["rank"] == 1
    assert by_id["A-01"]["rank"] == by_id["A-02"]["rank"] == 2
    assert by_id["A-01"]["placement"]["tied_with"] == ["A-02"]
    rows = list(csv.reader((out / "ranking.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert [r[1] for r in rows[1:]] == ["A-03", "A-01", "A-02"]


def test_tie_on_score_broken_by_territory_is_explained(tmp_path):
    apps = [app(1, 8, 2, 10), app(2, 6, 4, 10)]  # both 10 points
    by_id, _, _ = run_score(tmp_path, apps)
    assert by_id["A-02"]["rank"] == 1 and by_id["A-01"]["rank"] == 2
    because = by_id["A-02"]["placement"]["because"]
    assert "above A-01" in because and "Territory" in because and "4 against 2" in because


def test_budget_runs_out_last_gets_partial_grant(tmp_path):
    apps = [app(1, 9, 9, 40), app(2, 8, 8, 40), app(3, 7, 7, 40), app(4, 6, 6, 40)]
    by_id, out, _ = run_score(tmp_path, apps)
    assert [by_id[f"A-0{i}"]["status"] for i in range(1, 5)] == ["funded", "funded", "funded", "not_funded"]
    assert by_id["A-03"]["grant"] == "20.00"
    assert "only €20.00 remained" in by_id["A-03"]["placement"]["because"]
    summary = json.loads((out / "summary.json").read_text())
    assert Decimal(summary["budget"]["used"]) == Decimal("100")


def test_skip_rule_funds_the_next_that_fits(tmp_path):
    apps = [app(1, 9, 9, 60), app(2, 8, 8, 50), app(3, 7, 7, 30)]
    by_id, _, _ = run_score(tmp_path, apps, "order by score desc\n  shortfall skip")
    assert by_id["A-01"]["status"] == "funded"
    assert by_id["A-02"]["status"] == "not_funded" and "did not fit" in by_id["A-02"]["placement"]["because"]
    assert by_id["A-03"]["status"] == "funded" and by_id["A-03"]["grant"] == "30.00"


def test_stop_rule_funds_nobody_after_the_first_that_does_not_fit(tmp_path):
    apps = [app(1, 9, 9, 60), app(2, 8, 8, 50), app(3, 7, 7, 30)]
    by_id, _, _ = run_score(tmp_path, apps, "order by score desc\n  shortfall stop")
    assert [by_id[f"A-0{i}"]["status"] for i in (1, 2, 3)] == ["funded", "not_funded", "not_funded"]


def test_reserve_funds_lower_ranked_artisans_and_unused_reserve_flows_back(tmp_path):
    ranking = 'order by score desc\n  shortfall stop\n  reserve 30% "Artisan networks" for artisan'
    apps = [app(1, 9, 9, 50), app(2, 8, 8, 40), app(3, 2, 3, 30, artisan=True), app(4, 1, 4, 20)]
    by_id, _, _ = run_score(tmp_path, apps, ranking)
    assert by_id["A-03"]["status"] == "funded"
    assert "reserve «Artisan networks»" in by_id["A-03"]["placement"]["because"]
    assert by_id["A-01"]["status"] == "funded"
    assert by_id["A-02"]["status"] == "not_funded"  # 100 - 30 (reserve) - 50 = 20 < 40, and stop
    total = sum(Decimal(r["grant"]) for r in by_id.values() if r["grant"])
    assert total == Decimal("80")


def test_a_firm_in_two_networks_stays_with_the_earlier_one(tmp_path):
    ranking = DEFAULT_RANKING + "\n  unique f.vat for f in firms keep earliest submitted"
    apps = [app(1, 9, 9, 10, "2025-05-02T09:00:00", ("IT001", "IT002")),
            app(2, 5, 5, 10, "2025-05-01T09:00:00", ("it002 ", "IT003"))]
    by_id, _, _ = run_score(tmp_path, apps, ranking)
    assert by_id["A-02"]["status"] == "funded"
    assert by_id["A-01"]["status"] == "ineligible"
    gate = by_id["A-01"]["gates"][-1]
    assert gate["id"] == "unique" and not gate["passed"]
    assert "IT002" in gate["because"] and "A-02" in gate["because"]


def test_first_come_first_served_orders_by_submission(tmp_path):
    ranking = "first come first served by submitted\n  shortfall stop"
    apps = [app(1, 9, 9, 60, "2025-05-03T09:00:00"), app(2, 5, 5, 60, "2025-05-01T09:00:00")]
    by_id, _, _ = run_score(tmp_path, apps, ranking)
    assert by_id["A-02"]["rank"] == 1 and by_id["A-02"]["status"] == "funded"
    assert by_id["A-01"]["status"] == "not_funded"
    assert "order of submission" in by_id["A-02"]["placement"]["because"]


def test_scorrimento_keeps_earlier_awards_and_funds_next_in_line(tmp_path):
    apps = [app(1, 9, 9, 40), app(2, 8, 8, 40), app(3, 7, 7, 40), app(4, 6, 6, 40)]
    first, out, _ = run_score(tmp_path, apps)
    assert first["A-03"]["grant"] == "20.00" and first["A-04"]["status"] == "not_funded"
    again, _, _ = run_score(tmp_path, apps, extra=["--budget", "140", "--previous",
                                                   str(out / "results.jsonl")], name="out2")
    for i in (1, 2):
        assert again[f"A-0{i}"]["grant"] == first[f"A-0{i}"]["grant"]
    # the freed funds first complete the earlier partial award, then go down the list
    assert again["A-03"]["grant"] == "40.00" and again["A-03"]["placement"]["reason"] == "topped_up"
    assert again["A-04"]["status"] == "funded" and again["A-04"]["grant"] == "20.00"


def test_bad_rows_become_invalid_results_and_lose_nothing(tmp_path):
    apps = [app(1, 9, 9, 40), {"id": "A-02", "quality": "dieci"}, "not an object", app(4, 6, 6, 40)]
    by_id, out, results = run_score(tmp_path, apps)
    assert len(results) == 4
    assert results[1]["status"] == "invalid"
    fields = {e["field"] for e in results[1]["errors"]}
    assert "quality" in fields and "territory" in fields
    assert results[2]["status"] == "invalid"
    errors = (out / "errors.csv").read_text(encoding="utf-8-sig")
    assert "A-02" in errors and "quality" in errors


def test_jobs_give_identical_output(tmp_path):
    apps = [app(i, i % 10, (i * 7) % 10, 10 + i) for i in range(1, 40)]
    _, out1, _ = run_score(tmp_path, apps, name="j1")
    _, out2, _ = run_score(tmp_path, apps, extra=["--jobs", "2"], name="j2")
    for name in ("results.jsonl", "ranking.csv", "summary.json", "report.html"):
        assert (out1 / name).read_bytes() == (out2 / name).read_bytes(), name
    assert sorted(p.name for p in (out1 / "letters").iterdir()) == sorted(p.name for p in (out2 / "letters").iterdir())


def test_formula_injection_is_neutralised_in_ranking_csv(tmp_path):
    apps = [app(1, 9, 9, 10, name="=HYPERLINK(\"http://x\")")]
    apps[0]["name"] = '=HYPERLINK("http://x")'
    _, out, _ = run_score(tmp_path, apps)
    text = (out / "ranking.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in text


def test_missing_batch_file_is_a_clean_error(tmp_path):
    policy = tmp_path / "p.bando"
    policy.write_text(POLICY % DEFAULT_RANKING, encoding="utf-8")
    res = CliRunner().invoke(main, ["score", str(policy), str(tmp_path / "nope.csv"), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2
    assert "nope.csv" in res.output and "Traceback" not in res.output


@settings(max_examples=200, deadline=None)
@given(grants=st.lists(st.decimals(min_value=0, max_value=1000, places=2), max_size=30),
       budget=st.decimals(min_value=0, max_value=5000, places=2),
       mode=st.sampled_from(["partial", "skip", "stop"]),
       reserve=st.one_of(st.none(), st.decimals(min_value=0, max_value=1, places=2)))
def test_allocation_never_exceeds_the_budget(grants, budget, mode, reserve):
    entries = [rk.Entry(i, f"A{i:03d}", (Decimal(-i),), g, reserves=(i % 2 == 0,), rank=i + 1)
               for i, g in enumerate(grants)]
    proc = rk.Procedure(keys=(), shortfall=mode)
    amounts = [budget * reserve] if reserve is not None else []
    total = rk.allocate(entries, budget, proc, amounts).granted
    awarded = sum((e.awarded or 0) for e in entries)
    assert awarded == total <= budget
    for e in entries:
        assert e.status in ("funded", "not_funded")
        assert (e.awarded or 0) <= e.grant
        if e.status == "funded" and e.reason != "partial":
            assert e.awarded == e.grant


def test_rank_is_competition_ranking_and_deterministic():
    entries = [rk.Entry(i, f"A{i}", (Decimal(s),), Decimal(1)) for i, s in enumerate([5, 7, 7, 3, 7])]
    proc = rk.Procedure(keys=(type("K", (), {"descending": True})(),))
    ordered = rk.rank(entries, proc)
    assert [(e.id, e.rank) for e in ordered] == [("A1", 1), ("A2", 1), ("A4", 1), ("A0", 4), ("A3", 5)]


def test_reader_warnings_reach_the_evaluator(tmp_path):
    policy = tmp_path / "p.bando"
    policy.write_text(POLICY % DEFAULT_RANKING, encoding="utf-8")
    (tmp_path / "b.csv").write_text(
        "id,name,submitted,quality,territory,requested,qualty\nA-01,Rete 1,2025-05-01T10:00:00,5,5,10,3\n",
        encoding="utf-8")
    (tmp_path / "b.firms.csv").write_text("application,vat\nA-01,IT001\n", encoding="utf-8")
    out = tmp_path / "o"
    res = CliRunner().invoke(main, ["score", str(policy), str(tmp_path / "b.csv"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "qualty" in res.output  # warning printed
    summary = json.loads((out / "summary.json").read_text())
    assert any("qualty" in w for w in summary["reader_warnings"])


def test_a_call_without_a_score_says_the_place_without_points(tmp_path):
    """A call ranked by date or amount has no score: its placement sentence names no points (it said
    "with — points"), in the letters as in results.jsonl."""
    unscored = POLICY.replace("score max 20 pass 5 {\n  criterion quality \"Quality\" max 10 = quality\n"
                              "  criterion territory \"Territory\" max 10 = territory\n}\n", "")
    assert "score max" not in unscored
    (tmp_path / "p.bando").write_text(unscored % "order by submitted asc\n  shortfall partial", encoding="utf-8")
    (tmp_path / "batch.json").write_text(json.dumps([app(1, 0, 0, 60, "2025-05-02T09:00:00"),
                                                     app(2, 0, 0, 60, "2025-05-01T09:00:00")]), encoding="utf-8")
    for lang, first in (("en", "Ranked 1 of 2 in the ranking."), ("it", "Posizione 1 su 2 in graduatoria.")):
        out = tmp_path / f"out-{lang}"
        res = CliRunner().invoke(main, ["score", str(tmp_path / "p.bando"), str(tmp_path / "batch.json"),
                                        "-o", str(out), "--lang", lang])
        assert res.exit_code == 0, res.output
        by_id = {r["application"]: r for r in map(json.loads, (out / "results.jsonl").read_text().splitlines())}
        assert by_id["A-02"]["placement"]["because"].startswith(first)
        for r in by_id.values():
            assert "—" not in r["placement"]["because"]
        letters = " ".join(p.read_text(encoding="utf-8") for p in (out / "letters").rglob("*.txt"))
        assert letters and "— punti" not in letters and "— points" not in letters


WEIGHTED_SCORE = """score max 20 pass 5 {
  criterion quality "Quality" max 10 weight 1.5 for ranking = quality
  criterion territory "Territory" max 10 = territory
  bonus artisans "Artisan premium" max 2 after pass {
    artisan -> 2
    otherwise -> 0
  }
}"""


def test_a_firm_lost_to_another_network_reads_as_a_failed_gate_weights_and_bonuses_included(tmp_path):
    # one sentence per rule: an application the batch's `unique` rule makes ineligible says of its criteria
    # and bonus what the renderer says of an application that failed a gate (not a shorter text of its own)
    ranking = DEFAULT_RANKING + "\n  unique f.vat for f in firms keep earliest submitted"
    policy_text = POLICY.replace(POLICY[POLICY.index("score max"):POLICY.index("grant =")],
                                 WEIGHTED_SCORE + "\n\n")
    apps = [app(1, 9, 9, 10, "2025-05-02T09:00:00", ("IT001",), artisan=True),
            app(2, 5, 5, 10, "2025-05-01T09:00:00", ("IT001",)),
            app(3, 9, 9, 10, "2025-05-01T09:00:00", ())]  # fails the gate: no firm
    policy = tmp_path / "p.bando"
    policy.write_text(policy_text % ranking, encoding="utf-8")
    batch = tmp_path / "batch.json"
    batch.write_text(json.dumps(apps), encoding="utf-8")
    res = CliRunner().invoke(main, ["score", str(policy), str(batch), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    by_id = {r["application"]: r for r in map(json.loads, (tmp_path / "out" / "results.jsonl")
                                              .read_text(encoding="utf-8").splitlines())}
    lost, failed = by_id["A-01"], by_id["A-03"]
    assert lost["status"] == failed["status"] == "ineligible" and lost["gates"][-1]["id"] == "unique"
    assert lost["criteria"] == failed["criteria"]
    assert lost["bonuses"] == failed["bonuses"]
    assert "1.5" in lost["criteria"][0]["because"]  # the ranking weight is said, as for any unscored criterion
    assert all(c["points"] is None for c in lost["criteria"] + lost["bonuses"])
    for k in ("score", "ranking_score", "criteria_score", "grant", "grant_computed", "grant_because"):
        assert lost[k] is None, k
