"""Named outputs (`output NAME "label" en "…" [for x in list] = expr [rounded …]`), as a user reads them.

The call is tests/golden/outputs/filiere.bando: a category from the date the network was founded
(A from 2020, else B), the SMEs and the large firms among the partners (two counts), and each
partner's share of the grant (100 % of an SME's eligible costs, 70 % of a large firm's, rounded
down to the euro). Three applications: FIL-001 admitted and funded in full, FIL-002 not eligible
(its outputs are still published, its shares are of no grant), FIL-003 admitted but cut by the
budget in a batch, so that its shares follow the award. Golden files, Italian and English:
`bando eval` text and JSON of each, the batch's ranking.csv and outputs_items.csv, and the letter
of the application that was cut. Regenerate with BANDO_UPDATE_GOLDEN=1 and read the diff.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import load_policy, score_batch
from engine.cli import main
from golden_files import check_golden  # tests/engine is on sys.path (rootdir-less layout)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "outputs"
POLICY = GOLDEN / "filiere.bando"
APPS = ("FIL-001", "FIL-002", "FIL-003")
#: what a sentence never shows: a Python value, or the rule as written where the policy gives labels
RAW = re.compile(r"\b(None|nan|NaN|True|False)\b|Decimal\(|network\.partners|\bp\.(kind|cost)\b|\bcount\(")


def _golden(name, text):
    check_golden(GOLDEN / name, text)


def _input(app):
    return GOLDEN / f"{app}.input.json"


def _no_raw_values(text):
    assert RAW.search(text) is None, RAW.search(text)


@pytest.fixture(scope="module")
def batches(tmp_path_factory):
    """The three applications scored as one batch, in each language (budget € 150.000: FIL-001 takes
    € 100.000, FIL-003 gets the € 50.000 left of the € 78.000 due)."""
    root = tmp_path_factory.mktemp("outputs")
    batch = root / "batch.jsonl"
    batch.write_text("".join(json.dumps(json.loads(_input(a).read_text(encoding="utf-8"))) + "\n" for a in APPS),
                     encoding="utf-8")
    out = {}
    for lang in ("it", "en"):
        score_batch(str(POLICY), str(batch), str(root / lang), lang=lang)
        out[lang] = root / lang
    return out


# --- bando eval -------------------------------------------------------------------------------
@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("app", APPS)
def test_bando_eval_text_states_every_output(app, lang):
    res = CliRunner().invoke(main, ["eval", str(POLICY), str(_input(app)), "--lang", lang])
    assert res.exit_code == 0, res.output
    _golden(f"{app}.{lang}.txt", res.output)
    _no_raw_values(res.output)


@pytest.mark.parametrize("lang", ["it", "en"])
@pytest.mark.parametrize("app", APPS)
def test_bando_eval_json_carries_every_output(app, lang):
    res = CliRunner().invoke(main, ["eval", str(POLICY), str(_input(app)), "--lang", lang, "--format", "json"])
    assert res.exit_code == 0, res.output
    _golden(f"{app}.{lang}.json", res.output)
    outputs = json.loads(res.output)["outputs"]
    assert list(outputs) == ["category", "smes", "large", "share"]
    for o in outputs.values():
        _no_raw_values(o["because"])


def test_the_outputs_values_are_those_of_the_rules():
    policy = load_policy(POLICY)
    values = {}
    for app in APPS:
        d = policy.evaluate(json.loads(_input(app).read_text(encoding="utf-8")), lang="it").to_dict()
        o = d["outputs"]
        values[app] = (d["status"], o["category"]["value"], o["smes"]["value"], o["large"]["value"],
                       [i["value"] for i in o["share"]["items"]])
    # 100000 × (40000, 30000, 15000, 70 % of 50000) / 120000, rounded down
    assert values["FIL-001"] == ("admitted", "A", 3, 1, ["33333.00", "25000.00", "12500.00", "29166.00"])
    # not eligible: still categorised and counted; no grant, so every share is 0
    assert values["FIL-002"] == ("ineligible", "B", 0, 1, ["0.00"])
    # founded on 31/12/2019: category B; the grant is what it asked for, the partners' maximum
    assert values["FIL-003"] == ("admitted", "B", 2, 1, ["30000.00", "20000.00", "28000.00"])


# --- the batch: the shares follow the award --------------------------------------------------
@pytest.mark.parametrize("lang", ["it", "en"])
def test_ranking_csv_has_a_column_per_one_value_output(batches, lang):
    text = (batches[lang] / "ranking.csv").read_text(encoding="utf-8-sig")
    _golden(f"ranking.{lang}.csv", text)
    header = text.splitlines()[0]
    assert ("Categoria della rete;PMI tra i partner;Grandi imprese tra i partner" if lang == "it"
            else "Category of the network,SMEs among the partners,Large firms among the partners") in header
    assert "Quota" not in header and "share" not in header  # per item: outputs_items.csv


@pytest.mark.parametrize("lang", ["it", "en"])
def test_outputs_items_csv_has_a_row_per_partner_after_the_award(batches, lang):
    text = (batches[lang] / "outputs_items.csv").read_text(encoding="utf-8-sig")
    _golden(f"outputs_items.{lang}.csv", text)
    rows = [r for r in text.splitlines()[1:] if r.startswith("FIL-003")]
    sep, comma = (";", ",") if lang == "it" else (",", ".")
    shares = [Decimal(r.split(sep)[-1].replace(comma, ".")) for r in rows]
    # € 50.000 × (30000, 20000, 70 % of 40000) / 78000, rounded down: not the € 78.000 the rules gave
    assert shares == [Decimal("19230"), Decimal("12820"), Decimal("17948")]
    assert sum(shares) <= Decimal("50000")


def test_results_jsonl_says_the_shares_of_the_award(batches):
    rows = {json.loads(line)["application"]: json.loads(line)
            for line in (batches["it"] / "results.jsonl").read_text(encoding="utf-8").splitlines()}
    cut = rows["FIL-003"]
    assert (cut["status"], cut["grant"]) == ("funded", "50000.00")
    assert "contributo = € 50.000,00" in cut["outputs"]["share"]["because"]
    assert rows["FIL-001"]["grant"] == "100000.00" and rows["FIL-002"]["status"] == "ineligible"


@pytest.mark.parametrize("lang", ["it", "en"])
def test_the_letter_lists_the_outputs_of_the_award(batches, lang):
    text = (batches[lang] / "letters" / "FIL-003.txt").read_text(encoding="utf-8")
    _golden(f"letter-FIL-003.{lang}.txt", text)
    _no_raw_values(text)
    assert ("19.230,00" if lang == "it" else "19,230.00") in text


def test_a_text_per_item_is_quoted_in_the_sentence_as_it_is_in_the_letter():
    """`#1 Ferrara & Figli S.r.l. "fornitura"`: unquoted, the value would read as the end of the name."""
    policy = load_policy(ROOT / "policies" / "distretto_riconoscimento.bando")
    app = json.loads((ROOT / "examples" / "distretto_riconoscimento" / "RIC-2025-018.json").read_text(encoding="utf-8"))
    for lang in ("it", "en"):
        stage = policy.evaluate(app, lang=lang).to_dict()["outputs"]["firm_stage"]
        first = stage["items"][0]
        assert f'#1 {first["name"]} "{first["value"]}"; #2 ' in stage["because"]
        assert first["text"] == first["value"] == "fornitura"  # the value itself, as the letter lists it
        # ten items in the sentence, the others counted; every one of them in `items`
        assert len(stage["items"]) == 58 and f"; … +48 (" in stage["because"]


def test_a_yes_no_output_says_why_as_a_gate_does_and_a_score_or_share_is_said_once():
    policy = load_policy(POLICY.read_text(encoding="utf-8") + '''
output large_too "Con grandi imprese" en "With large firms" = any p in network.partners: p.kind == "grande"
output all_smes "Tutte PMI" en "All SMEs" = all p in network.partners: p.kind == "pmi"
output points "Punteggio" en "Score" = score
output large_share "Quota di grandi imprese" en "Share of large firms" = share(p in network.partners where p.kind == "grande")
''')
    app = json.loads(_input("FIL-001").read_text(encoding="utf-8"))
    it = {k: o["because"] for k, o in policy.evaluate(app, lang="it").to_dict()["outputs"].items()}
    en = {k: o["because"] for k, o in policy.evaluate(app, lang="en").to_dict()["outputs"].items()}
    assert it["large_too"] == 'Con grandi imprese: sì (1 su 4 soddisfa «Tipo di soggetto = "grande"»)'
    assert en["large_too"] == 'With large firms: yes (1 of 4 satisfies «Type of entity = "grande"»)'
    assert it["all_smes"] == ('Tutte PMI: no (1 su 4 non soddisfa «Tipo di soggetto = "pmi"»: '
                              '#4 Gruppo Tessile Nord spa (Tipo di soggetto = "grande", richiesto "pmi"))')
    assert (it["points"], en["points"]) == ("Punteggio: 10", "Score: 10")
    # the value is the percentage: the counts are not followed by it again
    assert it["large_share"] == 'Quota di grandi imprese: 25 % (1 su 4 soddisfa «Tipo di soggetto = "grande"»)'
    for text in list(it.values()) + list(en.values()):
        _no_raw_values(text)
