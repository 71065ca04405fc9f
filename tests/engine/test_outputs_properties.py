"""Named outputs, property-based: random partner lists and amounts, random output declarations.

* Each partner's share of the grant (tests/golden/outputs/filiere.bando: 100 % of an SME's
  costs, 70 % of a large firm's, rounded down to the euro) never adds up to more than the
  grant, also after a batch cut the grant (``named_outputs.refresh``); every partner has a share,
  and each loses less than a euro to the rounding (an inexact division before `rounded down`
  once cost a whole euro: 30 × (30 / 90) = 9,999…9 → 9).
* No sentence shows a Python value (None, nan, True, False, a Decimal), nor a rule as written
  (``p.kind == "pmi"``, ``sum(…)``) where the policy gives labels.
* ``bando fmt`` (:func:`dsl.fmt.format_text`) round-trips random output declarations: labels in
  two languages with characters to escape, ``for x in list``, ``rounded down|up|nearest to``.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import attrs
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dsl.fmt import format_label, format_text
from dsl import ast
from dsl.parser import parse
from engine import load_policy
from engine.evaluate.named_outputs import refresh
from engine.explain.explain import render_text, texts

ROOT = Path(__file__).resolve().parents[2]
POLICY_PATH = ROOT / "tests" / "golden" / "outputs" / "filiere.bando"
POLICY_TEXT = POLICY_PATH.read_text(encoding="utf-8")
POLICY = load_policy(POLICY_PATH)
RATE = {"pmi": Decimal(1), "grande": Decimal("0.7")}
#: a Python value in a text bando writes (``Finanziata`` has "nan" in it: whole words only)
RAW = re.compile(r"\b(None|nan|NaN|True|False|inf)\b|Decimal\(|\[\]|\{\}")
#: a rule as written where the policy gives labels (a field path, an aggregate's syntax)
RULE_AS_WRITTEN = re.compile(r"network\.partners|\b(p|x|partner)\.(cost|kind|name)\b|\b(sum|count|share|average)\("
                             r"|\b(any|all|none) \w+ in\b|==|>=|<=")

CENTS = st.integers(0, 10**9).map(lambda c: Decimal(c) / 100)  # € 0,00 … € 10.000.000,00
PARTNER = st.fixed_dictionaries({"kind": st.sampled_from(["pmi", "grande"]), "cost": CENTS})


def _application(partners, amount, founded):
    return {"id": "P-1", "founded": founded.isoformat(), "amount": str(amount),
            "network": {"name": "Rete di prova", "partners": [
                {"vat": f"IT{i:011d}", "name": f"Partner {i + 1}", "kind": p["kind"], "cost": str(p["cost"])}
                for i, p in enumerate(partners)]}}


def _no_raw_values(text):
    assert RAW.search(text) is None, (RAW.search(text), text)
    assert RULE_AS_WRITTEN.search(text) is None, (RULE_AS_WRITTEN.search(text), text)


def _said(result):
    """Every text of a result a person reads: the eval text and each output's sentences and values."""
    d = result.to_dict()
    out = [render_text(d)]
    for o in d["outputs"].values():
        out += [o["because"], o["text"] or ""] + [i["text"] for i in o.get("items") or ()]
    return out


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# three equal partners of a € 30 grant: € 10 each, not the € 9 that 30 × 0,333…3 rounded down gave
@example(partners=[{"kind": "pmi", "cost": Decimal(30)}] * 3, amount=Decimal(30), founded=dt.date(2000, 1, 1),
         cut=100, lang="it")
@given(partners=st.lists(PARTNER, max_size=8), amount=CENTS,
       founded=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2025, 6, 30)),
       cut=st.integers(0, 100), lang=st.sampled_from(["it", "en"]))
def test_the_shares_never_add_up_to_more_than_the_grant(partners, amount, founded, cut, lang):
    result = POLICY.evaluate(_application(partners, amount, founded), lang=lang)
    assert result.status in ("admitted", "below_threshold", "ineligible")
    due = sum((RATE[p["kind"]] * p["cost"] for p in partners), Decimal(0))
    grant = result.grant if result.grant is not None else Decimal(0)
    share = result.to_dict()["outputs"]["share"]
    assert len(share["items"]) == len(partners)
    assert [i["position"] for i in share["items"]] == list(range(1, len(partners) + 1))
    missing = texts(lang)["missing"]
    if due > 0:  # every partner has a share, a whole number of euros
        values = [Decimal(i["value"]) for i in share["items"]]
        assert all(v == v.to_integral_value() and v >= 0 for v in values)
        assert sum(values) <= grant
        assert grant - sum(values) < len(partners)  # each share loses less than a euro to the rounding
    else:  # no costs at all: the shares cannot be computed (a division by zero), and the sentence says so
        assert all(i["value"] is None and i["text"] == missing for i in share["items"])
    for text in _said(result):
        _no_raw_values(text)

    # a batch awarded less than the grant: the shares follow the award
    award = (grant * cut / 100).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
    cut_result = refresh(POLICY, attrs.evolve(result, grant=award), lang)
    cut_share = cut_result.to_dict()["outputs"]["share"]
    assert len(cut_share["items"]) == len(partners)
    if due > 0:
        cut_values = [Decimal(i["value"]) for i in cut_share["items"]]
        assert sum(cut_values) <= award
        assert all(c <= v for c, v in zip(cut_values, values))
    assert cut_result.to_dict()["outputs"]["category"] == result.to_dict()["outputs"]["category"]  # reads no grant
    for text in _said(cut_result):
        _no_raw_values(text)


@settings(max_examples=300, deadline=None)
@given(grant=CENTS, part=CENTS, whole=CENTS.filter(lambda d: d > 0), unit=st.sampled_from(["1", "0.01", "100"]),
       mode=st.sampled_from(["down", "up"]))
def test_rounding_a_share_gives_the_exact_result_rounded(grant, part, whole, unit, mode):
    """`grant * (part / whole) rounded down to 1 EUR` (the language makes the ratio come first: an amount
    times an amount is refused) is the exact share rounded, although part / whole is not exact."""
    from engine.compile.runtime import quantize
    exact = Fraction(grant) * Fraction(part) / Fraction(whole) / Fraction(unit)
    steps = exact.numerator // exact.denominator
    if mode == "up" and steps != exact:
        steps += 1
    assert quantize(grant * (part / whole), Decimal(unit), mode) == Decimal(steps) * Decimal(unit)


# --- bando fmt round-trips random output declarations ---------------------------------------
#: one value: (the rule, whether it is an amount that may be rounded)
ONE_VALUE = [
    ('count(p in network.partners where p.kind == "pmi")', False),
    ("partners", False),
    ("due", True),
    ("grant", True),
    ("amount - grant", True),
    ('if founded >= 2020-01-01 then "A" else "B"', False),
    ("founded", False),
    ('share(p in network.partners where p.kind == "grande")', False),
    ('sum(p.cost for p in network.partners where p.kind == "pmi")', True),
    ("count distinct(p.kind for p in network.partners)", False),
    ('any p in network.partners: p.kind == "grande"', False),
    ("score", False),
    ("50% of grant", True),
]
#: per item of the partners, ``X`` being the item: (the rule, whether it is an amount)
PER_ITEM = [
    ("X.cost", True),
    ("X.kind", False),
    ("X.name", False),
    ("70% of X.cost", True),
    ("grant * (X.cost / due)", True),
    ("X.cost >= 10_000 EUR", False),
    ('if X.kind == "pmi" then 100% else 70%', False),
    ("X.cost / 3", True),
]
#: label texts: letters, accents, spaces, and the characters a quoted string escapes
LABEL_TEXT = st.text(st.one_of(st.sampled_from(list("abcdeèéìòù ABC'’«»-%€")), st.sampled_from(['"', "\\", "{", "}"])),
                     min_size=1, max_size=16).filter(lambda s: s.strip() and not RAW.search(s))
SPACE = st.sampled_from([" ", "  ", "   "])


@st.composite
def declarations(draw):
    """``(text, (name, label, en label or None, per item, rounding or None))`` of one output declaration,
    written with random spacing."""
    label = draw(LABEL_TEXT)
    en = draw(st.none() | LABEL_TEXT)
    sp = draw(SPACE)
    per_item = draw(st.booleans())
    if per_item:
        var = draw(st.sampled_from(["p", "x", "partner"]))
        rule, money = draw(st.sampled_from(PER_ITEM))
        rule = rule.replace("X", var)
        head = f"for{sp}{var}{sp}in{sp}network.partners{sp}"
    else:
        rule, money = draw(st.sampled_from(ONE_VALUE))
        head = ""
    rounding = None
    if money and draw(st.booleans()):
        rounding = (draw(st.sampled_from(["down", "up", "nearest"])), draw(st.sampled_from(["1", "0.01", "100"])))
    labels = format_label(ast.Label(label, (("en", en),) if en is not None else ()))
    text = f"output{sp}NAME{labels}{sp}{head}={sp}{rule}"
    if rounding is not None:
        text += f"{sp}rounded{sp}{rounding[0]}{sp}to{sp}{rounding[1]}{sp}EUR"
    return text, (label, en, per_item, rounding)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(declarations(), min_size=1, max_size=4))
def test_fmt_round_trips_output_declarations(decls):
    lines = [text.replace("NAME", f"extra_{i}") for i, (text, _facts) in enumerate(decls)]
    source = POLICY_TEXT + "\n" + "\n".join(lines) + "\n"
    formatted = format_text(source)
    assert format_text(formatted) == formatted  # canonical: formatting again changes nothing
    assert parse(formatted) == parse(source)  # and it is the same policy
    policy = load_policy(formatted)  # which still checks
    outputs = list(policy.checked.outputs.values())[4:]
    assert [d.name for d in outputs] == [f"extra_{i}" for i in range(len(decls))]
    for d, (_text, (label, en, per_item, rounding)) in zip(outputs, decls):
        assert policy.label_of(d, "it") == label
        assert policy.label_of(d, "en") == (en if en is not None else label)
        assert (d.source is not None) == per_item
        assert (d.rounding is None) == (rounding is None)
        if rounding is not None:
            assert d.rounding.mode == rounding[0] and d.rounding.unit.amount == Decimal(rounding[1])
    # and every one of them reads as a person writes, in both languages
    app = json.loads((POLICY_PATH.parent / "FIL-001.input.json").read_text(encoding="utf-8"))
    for lang in ("it", "en"):
        for text in _said(policy.evaluate(app, lang=lang)):
            _no_raw_values(text)
