"""`bonus` / `malus` lines of the score block: counted after or before the pass mark.

Golden files live in ``tests/golden/bonus/``: the policy ``filiere.bando``, one
``<case>.input.json`` per application, its text rendering and JSON result in Italian and
English, and ``letters/<case>.<lang>.txt``, the letter ``bando score`` writes for it.
``BANDO_UPDATE_GOLDEN=1`` rewrites them; read the diff.
"""
from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from dsl.fmt import format_text
from dsl.parser import parse
from dsl.source import Source
from engine import score_batch
from engine.cli import main
from engine.evaluate.policy import check_source, load_application, load_policy
from engine.explain.explain import render_text

from check_helpers import codes as _codes  # tests/engine is on sys.path (rootdir-less layout)
from golden_files import check_golden  # tests/engine is on sys.path (rootdir-less layout)

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "bonus"
POLICY = GOLDEN / "filiere.bando"
LANGS = ("it", "en")

#: case -> what it shows
CASES = {
    "premium": "65 with the criteria: reaches the pass mark, plus the 10-point premium = 75",
    "premium_below_pass": "64 with the criteria: below the pass mark, the premium is not counted",
    "malus_below_pass": "68 with the criteria, minus the 5-point penalty before the pass mark = 63, below 65",
    "premium_and_malus": "72 − 5 = 67 reaches the pass mark, plus 10 = 77",
}


def _dump(d) -> str:
    return json.dumps(d, ensure_ascii=False, indent=2) + "\n"


@pytest.fixture(scope="module")
def policy():
    return load_policy(POLICY)


def _app(case):
    return load_application(GOLDEN / f"{case}.input.json")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_explanations(policy, case, lang):
    result = policy.evaluate(_app(case), lang=lang)
    check_golden(GOLDEN / f"{case}.{lang}.txt", render_text(result, lang))
    check_golden(GOLDEN / f"{case}.{lang}.json", _dump(result.to_dict()))


@pytest.fixture(scope="module", params=LANGS)
def run(request, tmp_path_factory):
    """`bando score` of the four applications, in each language."""
    out = tmp_path_factory.mktemp(f"bonus-{request.param}")
    batch = out / "batch.jsonl"
    batch.write_text("".join(json.dumps(json.loads((GOLDEN / f"{c}.input.json").read_text())) + "\n"
                             for c in sorted(CASES)), encoding="utf-8")
    r = CliRunner().invoke(main, ["score", str(POLICY), str(batch), "-o", str(out / "run"), "--lang", request.param],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return request.param, out / "run"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_letters(run, case):
    lang, out = run
    app_id = json.loads((GOLDEN / f"{case}.input.json").read_text())["id"]
    check_golden(GOLDEN / "letters" / f"{case}.{lang}.txt", (out / "letters" / f"{app_id}.txt").read_text("utf-8"))


def test_golden_cases_show_what_they_say(policy):
    d = {c: policy.decide(_app(c)) for c in CASES}
    assert (d["premium"].status, d["premium"].criteria_score, d["premium"].score) == ("admitted", 65, 75)
    assert d["premium_below_pass"].status == "below_threshold" and d["premium_below_pass"].score == 64
    assert d["premium_below_pass"].points[1] == 10 and d["premium_below_pass"].bonus_applied == (False, True)
    assert (d["malus_below_pass"].status, d["malus_below_pass"].criteria_score, d["malus_below_pass"].score) == \
        ("below_threshold", 68, 63)
    assert d["premium_and_malus"].status == "admitted" and d["premium_and_malus"].score == 77


def test_no_stale_golden_files():
    known = {"filiere.bando", "letters"} | {f"{c}.{s}" for c in CASES for s in
                                            ("input.json",) + tuple(f"{lg}.{x}" for lg in LANGS for x in ("txt", "json"))}
    assert {p.name for p in GOLDEN.iterdir()} == known
    assert {p.name for p in (GOLDEN / "letters").iterdir()} == {f"{c}.{lg}.txt" for c in CASES for lg in LANGS}


# --- the sentences ----------------------------------------------------------------------------------

def test_the_score_is_said_out_of_the_criteria_maximum_with_the_premium_beside_it(policy):
    it = policy.evaluate(_app("premium"), lang="it")
    en = policy.evaluate(_app("premium"), lang="en")
    assert it.summary.startswith("Ammissibile e ammessa con 75 punti: 65 su 100 più 10 di premialità;")
    assert en.summary.startswith("Eligible and admitted with 75 points: 65 out of 100 plus a 10-point premium;")
    assert "75 su 100" not in it.summary and "75 of 100" not in en.summary


def test_an_application_below_the_pass_mark_is_told_the_premium_counts_only_above_it(policy):
    r = policy.evaluate(_app("premium_below_pass"), lang="it")
    assert r.summary == "Ammissibile, ma il punteggio 64 è inferiore alla soglia di 65."
    (bonus, _malus) = r.bonuses
    assert bonus.applied is False and bonus.points == 10
    assert bonus.because.endswith("non conteggiati: valgono solo per le domande che raggiungono la soglia di 65 punti")
    en = policy.evaluate(_app("premium_below_pass"), lang="en").bonuses[0]
    assert en.because.endswith("not counted: they count only for applications that reach the pass mark of 65")


def test_a_malus_before_the_pass_mark_is_named_in_the_summary(policy):
    assert policy.evaluate(_app("malus_below_pass"), lang="it").summary == \
        "Ammissibile, ma il punteggio 63 (68 su 100 meno 5 di penalità) è inferiore alla soglia di 65."
    assert policy.evaluate(_app("malus_below_pass"), lang="en").summary == \
        "Eligible, but the score 63 (68 out of 100 minus a 5-point penalty) is below the pass mark 65."


def test_the_result_dict_lists_the_bonuses_beside_the_criteria(policy):
    d = policy.evaluate(_app("premium_and_malus"), lang="en").to_dict()
    assert d["score"] == 77 and d["criteria_score"] == 72 and d["max_score"] == 100
    assert [(b["id"], b["kind"], b["stage"], b["points"], b["max"], b["applied"]) for b in d["bonuses"]] == [
        ("filiera_a", "bonus", "after", 10, 10, True), ("late", "malus", "before", 5, 5, True)]
    assert [c["id"] for c in d["criteria"]] == ["q"]
    assert "None" not in json.dumps(d) and "nan" not in json.dumps(d)


def test_a_call_without_bonuses_has_no_bonus_keys():
    d = load_policy(REPO / "policies" / "salentonet.bando").evaluate(
        json.loads((REPO / "examples/salentonet/SN-2013-001.json").read_text())).to_dict()
    assert "bonuses" not in d and "criteria_score" not in d


# --- the rules ----------------------------------------------------------------------------------------

VARIANT = """
call "Prova" version "1" {{ budget 1_000 EUR }}
input {{ id: text, q: int in 0..100, a: int in 0..10, b: int in 0..10 }}
score max 100 pass 60 {{
  criterion q "Q" max 100 = q
  {first} x "X" max 10 {stage_x} pass = a
  {second} y "Y" max 10 {stage_y} pass = b
}}
"""


def _variant(first, stage_x, second, stage_y):
    return load_policy(VARIANT.format(first=first, stage_x=stage_x, second=second, stage_y=stage_y), "v.bando")


def _expected(q, a, b, rules, pass_=60):
    """The score and status by the rule in words (docs/language.md), written independently of the engine."""
    before = sum((p if kind == "bonus" else -p) for p, (kind, stage) in zip((a, b), rules) if stage == "before")
    judged = max(q + before, 0)
    after = sum((p if kind == "bonus" else -p) for p, (kind, stage) in zip((a, b), rules) if stage == "after")
    if judged < pass_:
        return judged, "below_threshold"
    return max(judged + after, 0), "admitted"


_RULES = [(("bonus", "after"), ("malus", "before")), (("malus", "after"), ("bonus", "before")),
          (("bonus", "before"), ("malus", "before")), (("malus", "after"), ("malus", "after"))]
_VARIANTS = {}


@settings(max_examples=60, deadline=None)
@given(q=st.integers(0, 100), a=st.integers(0, 10), b=st.integers(0, 10), which=st.integers(0, len(_RULES) - 1))
def test_score_and_status_follow_the_stages_on_every_path(q, a, b, which):
    rules = _RULES[which]
    pol = _VARIANTS.get(which)
    if pol is None:
        pol = _VARIANTS[which] = _variant(rules[0][0], rules[0][1], rules[1][0], rules[1][1])
    app = {"id": "x", "q": q, "a": a, "b": b}
    score, status = _expected(q, a, b, rules)
    fast = pol.decide(app)
    typed = pol.decide_valid("x", pol.validate(app)[0])
    explained = pol.evaluate(app, lang="en")
    for d in (fast, typed, explained):
        assert (d.score, d.status) == (Decimal(score), status)
    assert fast.ranking_score == fast.score >= 0


def test_the_score_never_goes_below_zero():
    pol = _variant("malus", "before", "malus", "before")
    r = pol.evaluate({"id": "x", "q": 3, "a": 10, "b": 0}, lang="it")
    assert r.score == 0 and r.status == "below_threshold"
    assert r.summary == ("Ammissibile, ma il punteggio 0 (3 su 100 meno 10 di penalità, senza scendere sotto zero) "
                         "è inferiore alla soglia di 60.")


def test_points_of_a_bonus_order_the_ranking(tmp_path):
    text = POLICY.read_text(encoding="utf-8")
    apps = [{"id": "P-1", "name": "Uno", "quality": 80, "category": "B", "late_report": False, "cost": 1000},
            {"id": "P-2", "name": "Due", "quality": 70, "category": "A", "late_report": False, "cost": 1000},
            {"id": "P-3", "name": "Tre", "quality": 75, "category": "A", "late_report": True, "cost": 1000}]
    (tmp_path / "p.bando").write_text(text, encoding="utf-8")
    (tmp_path / "b.jsonl").write_text("".join(json.dumps(a) + "\n" for a in apps), encoding="utf-8")
    s = score_batch(tmp_path / "p.bando", tmp_path / "b.jsonl", tmp_path / "out", letters=False)
    assert s.counts["funded"] == 3
    with open(tmp_path / "out" / "ranking.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    head = rows[0]
    assert head[4:7] == ["Qualità del progetto", "Premialità per le filiere di categoria A",
                         "Relazione consegnata in ritardo"]
    # P-1 80 + 0, P-2 70 + 10, P-3 75 − 5 + 10: tied at 80, then P-2 and P-3 (premium 10) before P-1
    ids = [r[1] for r in rows[1:]]
    assert [r[3] for r in rows[1:]] == ["80", "80", "80"]
    assert ids[2] == "P-1" and set(ids[:2]) == {"P-2", "P-3"}
    assert [r[4:7] for r in rows[1:] if r[1] == "P-3"] == [["75", "10", "-5"]]


def test_an_example_case_checks_a_bonus_points_and_the_final_score(tmp_path):
    (tmp_path / "a.json").write_text((GOLDEN / "premium_below_pass.input.json").read_text(), encoding="utf-8")
    (tmp_path / "p.bando").write_text(POLICY.read_text(encoding="utf-8") + """
examples {
  case "a.json" expect below_threshold score 64 points q 64, filiera_a 10, late 0
}
""", encoding="utf-8")
    r = CliRunner().invoke(main, ["test", str(tmp_path / "p.bando")], catch_exceptions=False)
    assert r.exit_code == 0 and "1 passed, 0 failed" in r.output, r.output


def test_eval_on_the_command_line(tmp_path):
    r = CliRunner().invoke(main, ["eval", str(POLICY), str(GOLDEN / "premium.input.json"), "--lang", "en"],
                           catch_exceptions=False)
    assert r.exit_code == 0
    assert "Premium for category-A supply chains        +10" in r.output
    assert "Criteria score" in r.output and "Total                                        75" in r.output


# --- the language: parse, format, check ---------------------------------------------------------------

def test_bonus_and_malus_round_trip_through_fmt():
    text = POLICY.read_text(encoding="utf-8")
    once = format_text(text)
    assert once == text  # the golden policy is written as bando fmt writes it
    sd = next(i for i in parse(text).items if type(i).__name__ == "ScoreDef")
    assert [(b.id, b.kind, b.stage) for b in sd.bonuses] == [("filiera_a", "bonus", "after"), ("late", "malus", "before")]
    assert [c.id for c in sd.criteria] == ["q"]


@pytest.mark.parametrize("line, code", [
    ('bonus x "X" max 0 after pass = 1', "E330"),
    ('malus x "X" max -2 before pass = 1', "E330"),
    ('bonus x "X" max 4 after pass {\n sub s "S" max 4 = 4\n }', "E331"),
    ('bonus q "X" max 4 after pass = 1', "E103"),
    ('bonus x "X" max 4 after pass { a -> 5 }', "E311"),
    ('bonus x "X" max 4 after pass = "tanti"', "E309"),
    ('bonus x "X" max 4 = 1', "E003"),
])
def test_diagnostics(line, code):
    text = f'call "P" version "1" {{ budget 1 EUR }}\ninput {{ q: int in 0..10, a: bool }}\n' \
           f'score max 10 pass 5 {{\n criterion q "Q" max 10 = q\n {line}\n}}\n'
    assert code in _codes(text)


def test_after_pass_with_a_pass_mark_of_zero_warns():
    text = 'call "P" version "1" { budget 1 EUR }\ninput { q: int in 0..10 }\n' \
           'score max 10 pass 0 {\n criterion q "Q" max 10 = q\n bonus x "X" max 2 after pass = 2\n}\n'
    assert _codes(text) == ["W135"]


def test_criteria_after_a_bonus_are_refused_with_a_hint():
    text = 'call "P" version "1" { budget 1 EUR }\ninput { q: int in 0..10 }\n' \
           'score max 10 pass 5 {\n bonus x "X" max 2 after pass = 2\n criterion q "Q" max 10 = q\n}\n'
    from dsl.errors import PolicyError
    with pytest.raises(PolicyError) as e:
        check_source(Source(text, "p.bando"))
    assert "the criteria come first" in e.value.diagnostics[0].hint


def test_points_of_a_bonus_are_known_to_the_ranking_and_the_maximum_stays_the_criteria():
    text = POLICY.read_text(encoding="utf-8")
    assert _codes(text) == []
    # the bonus's maximum is not part of the criteria's sum: max 100 stays true
    assert "E304" not in _codes(text)
    assert "E304" in _codes(text.replace("score max 100", "score max 110"))


# --- a bonus that reads the panel's marks -----------------------------------------------------------
PANEL_POLICY = '''call "Bando con commissione" version "1" {
  authority "Regione"
  budget 100_000 EUR
}

input {
  id: text
  cost: money in 0..1_000_000
}

panel "Commissione di valutazione" en "Evaluation panel" {
  scale 0..5 step 0.5
  evaluators 3
  combine median
  spread at most 2
  mark quality "Qualità del piano (voto)" en "Quality of the plan (mark)"
}

score max 50 pass 30 {
  criterion quality "Qualità del piano" en "Quality of the plan" max 50 = 10 * marks.quality
  bonus excellence "Premialità per i piani eccellenti" en "Premium for excellent plans" max 5 after pass {
    marks.quality >= 4.5 -> 5
    otherwise -> 0
  }
}

grant = 50% of cost rounded down to 1 EUR
'''


def _marked(*marks):
    return {"id": "P-1", "cost": "10000",
            "marks": [{"evaluator": f"E{i}", "criterion": "quality", "mark": m} for i, m in enumerate(marks, 1)]}


@pytest.mark.parametrize("marks, score, bonus, status", [
    (("4,5", 5, "4,5"), Decimal("45"), Decimal("5"), "admitted"),   # median 4.5: 45 + the premium
    ((4, 4, "4,5"), Decimal("40"), Decimal("0"), "admitted"),      # median 4: no premium
    ((2, "2,5", 3), Decimal("25"), Decimal("0"), "below_threshold"),  # median 2.5: 25, below 30
])
def test_a_bonus_reads_the_panel_mark_once_the_evaluation_is_complete(marks, score, bonus, status):
    policy = load_policy(PANEL_POLICY)
    r = policy.evaluate(_marked(*marks), lang="it").to_dict()
    assert r["status"] == status
    assert Decimal(r["criteria_score"]) + Decimal(r["bonuses"][0]["points"]) == Decimal(r["score"]) or status != "admitted"
    assert Decimal(r["bonuses"][0]["points"]) == bonus
    if status == "admitted":
        assert Decimal(r["score"]) == score + bonus
    assert policy.decide(_marked(*marks)).status == status


def test_a_bonus_on_a_mark_still_missing_waits_for_the_panel_as_the_criteria_do():
    policy = load_policy(PANEL_POLICY)
    for lang in LANGS:
        r = policy.evaluate(_marked(5, 5), lang=lang).to_dict()  # two marks of three
        assert r["status"] == "awaiting_evaluation" and r["score"] is None and r["grant"] is None
        text = render_text(r)
        assert "None" not in text and "nan" not in text
        b = r["bonuses"][0]
        # no stand-in mark is shown as if it were one, and no "0 points" is said of a premium not yet known
        assert b["points"] is None and not b["applied"] and b["values"] == {}
        assert r["criteria_score"] is None and r["criteria"][0]["values"] == {}
        lines = [ln for ln in text.splitlines() if b["label"] in ln]
        assert len(lines) == 1 and "—" in lines[0] and b["because"] in lines[0]


def test_a_premium_after_the_pass_mark_waits_while_a_criterion_waits_even_if_it_reads_no_mark():
    policy = load_policy(PANEL_POLICY.replace("marks.quality >= 4.5 -> 5", "cost >= 5000 EUR -> 5"))
    waiting = policy.evaluate(_marked(5, 5), lang="en").to_dict()
    assert waiting["bonuses"][0]["points"] is None  # whether it counts depends on the pass mark, not known yet
    done = policy.evaluate(_marked(5, 5, 5), lang="en").to_dict()
    assert done["bonuses"][0]["points"] == 5 and done["bonuses"][0]["applied"] is True
