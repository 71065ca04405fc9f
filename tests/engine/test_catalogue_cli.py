"""The CLI speaks the call's language from the catalogue (issue 16): the closing summary of `bando score`."""
from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from engine.cli import closing_lines


def summary(lang, counts, results=None, held=Decimal(0)):
    return SimpleNamespace(lang=lang, counts=counts, results=results if results is not None else sum(counts.values()),
                           granted=Decimal("400000"), budget=Decimal("400000"), currency="EUR",
                           allocation=SimpleNamespace(held=held, margin_used=Decimal(0)))


def test_the_closing_summary_in_italian_with_plurals_and_italian_numbers():
    lines = closing_lines(summary("it", {"funded": 15, "not_funded": 1, "ineligible": 2, "invalid": 20_000}), "out")
    assert lines == ["20.018 domande: 15 finanziate, 1 non finanziata, 2 non ammissibili, 20.000 con dati non validi",
                     "concessi € 400.000,00 su € 400.000,00; risultati in out"]


def test_the_closing_summary_in_english_and_for_one_application():
    lines = closing_lines(summary("en", {"admitted": 1}, held=Decimal("1000")), "out")
    assert lines == ["1 application: 1 admitted",
                     "granted €400,000.00 of €400,000.00; €1,000.00 held for tied applications awaiting a decision; "
                     "outputs in out"]
    assert closing_lines(summary("it", {"withdrawn": 1, "funded": 1}), "o")[0] == "2 domande: 1 finanziata, 1 ritirata"
