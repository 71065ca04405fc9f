"""Named outputs (`output NAME "label" [for x in list] = expr`): parsed, formatted, checked, explained,
and following the batch's allocation (docs/language.md, "Outputs")."""
from __future__ import annotations

import csv
import json

from dsl.fmt import format_text
from engine import load_policy, score_batch

from check_helpers import diagnostics, error_codes as codes  # tests/engine is on sys.path (rootdir-less layout)

POLICY = '''call "T" version "1" {
  authority "X"
  budget 60_000 EUR
}

input {
  id: text
  founded: date
  network: record {
    name: text
    firms: list of record {
      vat: text
      employees: int in 0..100_000
    }
  }
  amount: money in 0..1_000_000
}

requested = amount
applicant = network.name
grant = min(amount, 100_000 EUR)

output category "Categoria della filiera" en "Category of the supply chain" = if founded >= 2020-01-01 then "A" else "B"
output share "Quota del contributo" en "Share of the grant" for f in network.firms = grant * f.employees / sum(g.employees for g in network.firms) rounded down to 1 EUR

eligibility {
  gate firms "Almeno un'impresa": count(network.firms) >= 1
}

ranking {
  order by requested desc
}
'''


def app(i, founded, amount, employees):
    return {"id": i, "founded": founded, "amount": amount, "network": {"name": f"Rete {i}", "firms": [
        {"vat": f"IT{i}{k}", "employees": e} for k, e in enumerate(employees)]}}


def test_fmt_round_trips_outputs():
    assert format_text(POLICY) == POLICY


def test_checker_codes():
    head = 'call "P" version "1" { budget 1_000 EUR }\ninput { firms: list of record { vat: text }, n: int }\n'
    assert codes(head + 'output a "A" = n\noutput a "B" = n\n') == ["E320"]
    assert codes(head + 'output n "N" = n\n') == ["E321"]
    assert codes(head + 'output s "S" for f in n = 1\n') == ["E322"]
    assert codes(head + 'output s "S" = firms\n') == ["E323"]
    assert codes(head + 'output s "S" = n rounded down to 1 EUR\n') == ["E403"]


def test_explained_in_both_languages():
    p = load_policy(POLICY)
    it = p.evaluate(app("A", "2021-03-01", "50000", [10, 30]), lang="it").to_dict()["outputs"]
    en = p.evaluate(app("A", "2021-03-01", "50000", [10, 30]), lang="en").to_dict()["outputs"]
    assert it["category"]["because"] == ("Categoria della filiera: A (condizione verificata: founded = "
                                         "1º marzo 2021, richiesto non prima del 1º gennaio 2020)")
    assert en["category"]["because"].startswith("Category of the supply chain: A (condition met:")
    assert [i["value"] for i in it["share"]["items"]] == ["12500.00", "37500.00"]
    assert [i["key"] for i in it["share"]["items"]] == ["ITA0", "ITA1"]
    assert it["share"]["because"].startswith("Quota del contributo: #1 ITA0 € 12.500,00; #2 ITA1 € 37.500,00")
    ko = p.evaluate(app("B", "2019-01-01", "50000", []), lang="it")
    assert ko.status == "ineligible"
    assert ko.to_dict()["outputs"]["category"]["value"] == "B"  # still published for an ineligible one


def test_policy_without_outputs_has_no_outputs_key():
    p = load_policy(POLICY.split("output category")[0] + 'eligibility {\n  gate g "G": amount >= 0 EUR\n}\n')
    assert "outputs" not in p.evaluate(app("A", "2021-03-01", "1", [1])).to_dict()


def test_batch_outputs_follow_the_award(tmp_path):
    batch = tmp_path / "b.jsonl"
    batch.write_text("".join(json.dumps(a) + "\n" for a in (app("A", "2021-03-01", "50000", [10, 30]),
                                                            app("B", "2018-03-01", "40000", [5]))))
    policy = tmp_path / "t.bando"
    policy.write_text(POLICY)
    score_batch(str(policy), str(batch), str(tmp_path / "out"), letters=False)
    rows = {json.loads(line)["application"]: json.loads(line) for line in
            (tmp_path / "out" / "results.jsonl").read_text().splitlines()}
    assert rows["B"]["grant"] == "10000.00"  # partial award: the share follows it
    assert rows["B"]["outputs"]["share"]["items"][0]["value"] == "10000.00"
    ranking = list(csv.reader((tmp_path / "out" / "ranking.csv").read_text(encoding="utf-8-sig").splitlines(),
                              delimiter=";"))
    assert "Categoria della filiera" in ranking[0]
    items = (tmp_path / "out" / "outputs_items.csv").read_text(encoding="utf-8-sig").splitlines()
    assert items[1:] == ["A;Rete A;Quota del contributo;1;ITA0;ITA0;12500,00",
                         "A;Rete A;Quota del contributo;2;ITA1;ITA1;37500,00",
                         "B;Rete B;Quota del contributo;1;ITB0;ITB0;10000,00"]


def test_the_item_key_of_a_per_item_output_is_not_an_unused_field():
    head = ('call "P" version "1" { budget 1_000 EUR }\n'
            'input { firms: list of record { vat: text, employees: int in 0..10 } }\n'
            'eligibility {\n  gate g "G": count(firms) >= 1\n}\n')
    warned = lambda text: [d.message for d in diagnostics(text) if d.code == "W103"]  # noqa: E731
    assert warned(head) == ["input field `firms[].vat` is never used", "input field `firms[].employees` is never used"]
    # the per-item output reads `employees`, and names each row of outputs_items.csv by `vat`
    assert warned(head + 'output size "Addetti" for f in firms = f.employees\n') == []
