"""Citations (`cites`) and dated parameters (`dated { ... }`, `x at d`), from the policy to the letter.

Golden files (Italian and English) hold what a user reads: `bando eval` of a shipped
call whose de minimis gate fails (the dated ceiling in force on the decision date,
with its regulation) and whose registration gate fails (L. 122/2010), and the letter
of exclusion that quotes both. Regenerate with BANDO_UPDATE_GOLDEN=1 and read the diff.
"""
from __future__ import annotations

import bisect
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from dsl.errors import PolicyError
from dsl.fmt import format_policy
from dsl.parser import parse
from engine import load_policy
from engine.cli import main
from engine.compile import runtime
from engine.explain.explain import render_text
from engine.letters.letters import LetterRenderer
from engine.text.formatting import format_date
from golden_files import check_golden  # tests/engine is on sys.path (rootdir-less layout)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "cites"
SALENTONET = ROOT / "policies" / "salentonet.bando"
EXAMPLES = ROOT / "examples" / "salentonet"

POLICY = '''
call "Prova" version "1" {
  budget 100_000 EUR
  decision 2014-02-28
}
input {
  id: text
  aid "Aiuti ricevuti" en "Aid received": money in 0..10_000_000
  granted "Data di concessione" en "Date of grant": date
  firms "Imprese" en "Firms": int in 0..100
}
let ceiling "massimale de minimis" en "de minimis ceiling" = dated {
  from 2007-01-01 -> 200_000 EUR cites "Reg. (CE) 1998/2006, art. 2, par. 2" en "Reg. (EC) 1998/2006, Art. 2(2)"
  from 2014-01-01 -> 200_000 EUR cites "Reg. (UE) 1407/2013, art. 3, par. 2" en "Reg. (EU) 1407/2013, Art. 3(2)"
  from 2024-01-01 -> 300_000 EUR cites "Reg. (UE) 2023/2831, art. 3, par. 2" en "Reg. (EU) 2023/2831, Art. 3(2)"
}
let within(received: money, on: date) "entro il massimale" en "within the ceiling" = received <= ceiling at on
let grant_due "contributo spettante" en "grant due" cites "Art. 6" en "Art. 6" = 10_000 EUR
eligibility {
  gate min_firms "Almeno 3 imprese" en "At least 3 firms" cites "Art. 4, c. 2" en "Art. 4(2)": firms >= 3
  gate at_decision "De minimis alla decisione" en "De minimis at the decision": aid <= ceiling at call.decision
  gate at_grant "De minimis alla concessione" en "De minimis at the grant": aid <= ceiling at granted
  gate through "De minimis (funzione)" en "De minimis (function)": within(aid, call.decision)
}
score max 10 pass 0 {
  criterion size "Dimensione" en "Size" max 10 cites "Art. 7, c. 1, lett. a)" en "Art. 7(1)(a)" = firms
}
grant = grant_due
'''


def _policy(tmp_path, text=POLICY):
    path = tmp_path / "p.bando"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


def _app(**kw):
    app = {"id": "A-1", "aid": "150000", "granted": "2025-05-01", "firms": 4}
    app.update(kw)
    return app


def _golden(name, text):
    check_golden(GOLDEN / name, text)


# --- the language -----------------------------------------------------------------------------
def test_every_citation_and_the_dated_table_round_trip_through_the_formatter():
    text = POLICY + '''ranking {
  order by score desc
  reserve 10% "Riserva" en "Reserve" cites "Art. 9" for firms > 5
  unique id for f in {1} keep best cites "Art. 10"
  ties draw seed 7 cites "Art. 11" en "Art. 11"
}
'''
    p = parse(text)
    formatted = format_policy(p)
    assert parse(formatted) == p
    assert format_policy(parse(formatted)) == formatted
    assert 'cites "Art. 4, c. 2" en "Art. 4(2)": firms >= 3' in formatted
    assert 'max 10 cites "Art. 7, c. 1, lett. a)" en "Art. 7(1)(a)" = firms' in formatted
    assert "  from 2014-01-01 -> 200_000 EUR cites" in formatted
    assert 'ties draw seed 7 cites "Art. 11" en "Art. 11"' in formatted


@pytest.mark.parametrize("snippet, code", [
    ('gate g "G" cites "": firms >= 3', "E140"),
    ('gate g "G" cites "Art. 4" en " ": firms >= 3', "E140"),
    ('gate g "G" cites "Art. 4" cites "Art. 5": firms >= 3', "E141"),
    ('gate g "G": aid <= ceiling', "E145"),
    ('gate g "G": aid <= firms at call.decision', "E145"),
    ('gate g "G": aid <= ceiling at firms', "E146"),
    ('gate g "G": aid <= ceiling at 2006-12-31', "E147"),
    ('gate g "G": aid <= dated { from 2024-01-01 -> 1 EUR }', "E144"),
])
def test_the_checker_refuses(tmp_path, snippet, code):
    text = POLICY.replace('gate min_firms "Almeno 3 imprese" en "At least 3 firms" cites "Art. 4, c. 2" en "Art. 4(2)": '
                          'firms >= 3', snippet)
    with pytest.raises(PolicyError) as e:
        _policy(tmp_path, text)
    assert code in {d.code for d in e.value.diagnostics}


@pytest.mark.parametrize("table, code", [
    ("from 2014-01-01 -> 1 EUR\n  from 2014-01-01 -> 2 EUR", "E142"),
    ("from 2014-01-01 -> 1 EUR\n  from 2013-01-01 -> 2 EUR", "E142"),
    ("from 2014-01-01 -> 1 EUR\n  from 2015-01-01 -> 2", "E143"),
    ("from 2014-01-01 -> 1 EUR\n  from 2015-01-01 -> grant_due", "E143"),
])
def test_a_dated_table_goes_forward_with_one_type_of_constant(tmp_path, table, code):
    text = POLICY.replace(POLICY[POLICY.index("dated {") + 8:POLICY.index("}\nlet within")],
                          f"  {table}\n")
    with pytest.raises(PolicyError) as e:
        _policy(tmp_path, text)
    assert code in {d.code for d in e.value.diagnostics}


# --- evaluation -------------------------------------------------------------------------------
STARTS = (dt.date(2007, 1, 1), dt.date(2014, 1, 1), dt.date(2024, 1, 1))
VALUES = (Decimal(200_000), Decimal(200_000), Decimal(300_000))


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2040, 12, 31)))
def test_the_value_in_force_is_the_last_one_from_on_or_before_the_date(day):
    expected = None
    for start, value in zip(STARTS, VALUES):
        if start <= day:
            expected = value
    assert runtime.dated_at(STARTS, VALUES, day) == expected
    assert runtime.dated_at(STARTS, VALUES, dt.datetime.combine(day, dt.time(23, 59))) == expected
    assert bisect.bisect_right(STARTS, day) == sum(s <= day for s in STARTS)


@pytest.mark.parametrize("granted, ok", [("2013-12-31", True), ("2014-01-01", True), ("2023-12-31", True),
                                         ("2024-01-01", True), ("2006-12-31", None)])
def test_a_date_per_application_picks_its_value_and_before_the_first_one_is_missing(tmp_path, granted, ok):
    policy = _policy(tmp_path)
    aid = "250000" if granted >= "2024" else "150000"
    r = policy.evaluate(_app(granted=granted, aid=aid), lang="it")
    gate = next(g for g in r.gates if g.id == "at_grant")
    if ok is None:  # no value in force: the gate is not satisfied, and says what was missing
        assert not gate.passed and "dato mancante" in gate.because
    else:
        assert gate.passed is ok
    assert policy.decide(_app(granted=granted, aid=aid)).status == r.status


@pytest.mark.parametrize("granted, regulation, ceiling", [
    ("2013-12-31", "Reg. (CE) 1998/2006, art. 2, par. 2", "€ 200.000,00"),
    ("2014-01-01", "Reg. (UE) 1407/2013, art. 3, par. 2", "€ 200.000,00"),
    ("2024-03-15", "Reg. (UE) 2023/2831, art. 3, par. 2", "€ 300.000,00")])
def test_a_date_per_application_says_which_value_applied(tmp_path, granted, regulation, ceiling):
    r = _policy(tmp_path).evaluate(_app(granted=granted), lang="it")
    gate = next(g for g in r.gates if g.id == "at_grant")
    day = format_date(dt.date.fromisoformat(granted), "it")
    assert f"massimale de minimis al {day}: {ceiling} ({regulation}, in vigore dal " in gate.because
    # only the regulation in force on that date is named
    others = {"Reg. (CE) 1998/2006", "Reg. (UE) 1407/2013", "Reg. (UE) 2023/2831"} - {regulation.split(",")[0]}
    assert not any(o in gate.because for o in others)


def test_a_date_before_the_first_value_states_no_value(tmp_path):
    r = _policy(tmp_path).evaluate(_app(granted="2006-12-31"), lang="it")
    gate = next(g for g in r.gates if g.id == "at_grant")
    assert "in vigore dal" not in gate.because and "Reg." not in gate.because


LETS = (POLICY
        .replace('= 10_000 EUR\n', '= 10_000 EUR\nlet big "rete di almeno 10 imprese" en "network of at least 10 firms" '
                 'cites "Art. 3, c. 1" en "Art. 3(1)" = firms >= 10\n')
        .replace("grant = grant_due", "grant = min(grant_due, 50% of aid)")
        .replace(": firms >= 3\n", ": firms >= 3\n  gate not_big \"Rete di meno di 10 imprese\" "
                 "en \"Network of fewer than 10 firms\": not big\n"))


def test_a_sentence_quotes_the_lets_it_reads_after_its_own_article(tmp_path):
    assert "gate not_big" in LETS and "min(grant_due" in LETS
    r = _policy(tmp_path, LETS).evaluate(_app(), lang="it").to_dict()
    gate = next(g for g in r["gates"] if g["id"] == "not_big")
    assert gate["because"].endswith("(rif. Art. 3, c. 1)")
    assert "cites" not in gate  # the gate itself cites nothing: the article is that of the value it reads
    # the grant is min(grant_due, …): its term "contributo spettante" is named, so its article is quoted
    assert r["grant_because"].endswith("(rif. Art. 6)")
    en = _policy(tmp_path, LETS).evaluate(_app(aid="10000"), lang="en").to_dict()
    assert en["grant_because"].endswith("(ref. Art. 6)")


@pytest.mark.parametrize("lang", ["it", "en"])
def test_golden_dated_value_at_the_application_date_and_cited_lets(tmp_path, lang):
    policy = _policy(tmp_path, LETS)
    text = "\n\n".join(render_text(policy.evaluate(_app(granted=g, aid=a), lang=lang))
                       for g, a in (("2013-06-30", "150000"), ("2024-03-15", "250000"), ("2024-03-15", "350000")))
    _golden(f"dated_at_application.{lang}.txt", text + "\n")


def test_the_function_reads_the_table_at_the_date_it_is_given(tmp_path):
    policy = _policy(tmp_path)
    r = policy.evaluate(_app(aid="200000.01"), lang="en")
    through = next(g for g in r.gates if g.id == "through")
    assert not through.passed
    assert ("de minimis ceiling on 28 February 2014: €200,000.00 (Reg. (EU) 1407/2013, Art. 3(2), "
            "in force from 1 January 2014)") in through.because


def test_citations_are_in_the_json_result_and_the_sentences(tmp_path):
    d = _policy(tmp_path).evaluate(_app(firms=2), lang="en").to_dict()
    gate = d["gates"][0]
    assert gate["cites"] == "Art. 4(2)" and gate["because"].endswith(" (ref. Art. 4(2))")
    assert "cites" not in d["gates"][2]  # a gate that cites nothing has no field
    crit = d["criteria"][0]
    assert crit["cites"] == "Art. 7(1)(a)" and crit["because"].endswith("(ref. Art. 7(1)(a))")
    it = _policy(tmp_path).evaluate(_app(), lang="it").to_dict()
    assert it["gates"][0]["cites"] == "Art. 4, c. 2"
    assert it["grant_because"].endswith("(rif. Art. 6)")


# --- what a user reads: golden, Italian and English -------------------------------------------
@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("app", ["SN-2013-004", "SN-2013-010"])
def test_bando_eval_quotes_the_citations_and_the_dated_ceiling(app, lang):
    res = CliRunner().invoke(main, ["eval", str(SALENTONET), str(EXAMPLES / f"{app}.json"), "--lang", lang])
    assert res.exit_code == 0, res.output
    _golden(f"{app}.{lang}.txt", res.output)


@pytest.mark.parametrize("lang", ["it", "en"])
def test_the_letter_of_exclusion_quotes_the_regulation(lang):
    policy = load_policy(SALENTONET)
    app = json.loads((EXAMPLES / "SN-2013-010.json").read_text(encoding="utf-8"))
    result = policy.evaluate(app, lang=lang).to_dict()
    text = LetterRenderer(lang=lang, fmt="txt").render(result, policy.call_info(), date=dt.date(2014, 2, 28))
    _golden(f"letter-SN-2013-010.{lang}.txt", text)
    assert "1407/2013" in text
