"""Functions fed missing data, shared modules, zero grants: regressions found while writing the policies."""
from __future__ import annotations

from decimal import Decimal

from click.testing import CliRunner

from engine import load_policy
from engine.score import ranking as rk
from engine.cli import main

POLICY = """
call "X" version "1" { authority "A" budget 1 EUR language en }
input { id: text, b: money optional, c: money }
let small(x: money) = x <= 10 EUR
eligibility {
  gate g "Small amount": small(b)
  gate h "Small cost": small(c)
}
"""


def test_a_missing_argument_fails_the_gate_and_says_which_data_is_missing():
    p = load_policy(POLICY)
    r = p.evaluate({"id": "1", "c": 5})
    assert r.status == "ineligible"
    g = {x.id: x for x in r.gates}
    assert not g["g"].passed and g["g"].because == "b: missing"
    assert g["h"].passed
    assert p.decide({"id": "1", "b": 3, "c": 5}).status == "admitted"


def test_a_shared_module_checks_clean_without_a_header(tmp_path):
    m = tmp_path / "common.bando"
    m.write_text("record Firm { staff: int }\nlet is_small(f: Firm) = f.staff < 50\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["check", str(m)])
    assert res.exit_code == 0, res.output


def test_zero_grants_are_funded_even_after_the_budget_runs_out():
    entries = [rk.Entry(0, "A", (1,), Decimal(100)), rk.Entry(1, "B", (2,), Decimal(50)),
               rk.Entry(2, "C", (3,), Decimal(0))]
    total = rk.allocate(entries, Decimal(120), rk.Procedure(keys=(), shortfall="partial")).granted
    assert total == Decimal(120)
    assert [(e.status, e.awarded) for e in entries] == [("funded", 100), ("funded", 20), ("funded", 0)]


def test_a_date_beyond_year_9999_is_missing_not_an_internal_error():
    p = load_policy("""
call "X" version "1" { authority "A" language en }
input { id: text, d: date }
let later = d + 9999 years
eligibility { gate g "Later": later >= 2030-01-01 }
""")
    r = p.evaluate({"id": "1", "d": "2020-01-01"})
    assert r.status == "ineligible" and r.gates[0].because == "later: missing"
    assert p.evaluate({"id": "1", "d": "2020-01-01"}).errors == ()
