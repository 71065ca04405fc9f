"""Tests of engine/text/formatting.py: Italian and English number and date conventions."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, strategies as st

from engine.text.formatting import (
    format_date,
    format_datetime,
    format_money,
    format_ordinal,
    format_percent,
    format_points,
    normalize_lang,
    to_decimal,
)


# -- money -------------------------------------------------------------------

@pytest.mark.parametrize("value, it, en", [
    ("1234.56", "€ 1.234,56", "€1,234.56"),
    ("40000.00", "€ 40.000,00", "€40,000.00"),
    ("1000000", "€ 1.000.000,00", "€1,000,000.00"),
    ("999.999", "€ 1.000,00", "€1,000.00"),
    ("0", "€ 0,00", "€0.00"),
    ("7", "€ 7,00", "€7.00"),
    ("-1234.5", "-€ 1.234,50", "-€1,234.50"),
    ("123456789012.34", "€ 123.456.789.012,34", "€123,456,789,012.34"),
])
def test_money_it_en(value, it, en):
    assert format_money(value, "it") == it
    assert format_money(value, "en") == en


@pytest.mark.parametrize("value, expected", [
    ("0.005", "€ 0,01"),      # half up, not banker's rounding
    ("0.015", "€ 0,02"),
    ("0.025", "€ 0,03"),
    ("2.675", "€ 2,68"),      # exact decimal: a float would give 2.67
    ("1.004", "€ 1,00"),
    ("-0.005", "-€ 0,01"),
    ("-0.001", "€ 0,00"),     # no negative zero
])
def test_money_rounds_cents_half_up(value, expected):
    assert format_money(value, "it") == expected


def test_money_accepts_decimal_int_and_float_without_float_arithmetic():
    assert format_money(Decimal("1234.5"), "it") == "€ 1.234,50"
    assert format_money(1234, "en") == "€1,234.00"
    assert format_money(0.1 + 0.2, "en") == "€0.30"
    assert format_money(2.675, "it") == "€ 2,68"   # read as "2.675", not 2.67499999...
    assert format_money("1_000", "it") == "€ 1.000,00"


def test_money_other_currencies():
    assert format_money("1234.5", "it", "USD") == "$ 1.234,50"
    assert format_money("1234.5", "en", "GBP") == "£1,234.50"
    assert format_money("1234.5", "it", "CHF") == "CHF 1.234,50"
    assert format_money("-5", "en", "chf") == "-CHF 5.00"
    assert format_money("5", "en", None) == "€5.00"


@pytest.mark.parametrize("bad", [None, True, "abc", "", "NaN", "Infinity", float("nan"), [1]])
def test_money_refuses_non_numbers(bad):
    with pytest.raises(ValueError):
        format_money(bad, "it")


@given(st.decimals(min_value=-10**12, max_value=10**12, places=4, allow_nan=False))
def test_money_round_trips_to_the_cent(value):
    text = format_money(value, "it")
    digits = text.replace("€ ", "").replace(".", "").replace(",", ".")
    assert Decimal(digits) == value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert format_money(value, "en").replace(",", "").replace("€", "") == digits


# -- dates -------------------------------------------------------------------

@pytest.mark.parametrize("value, it, en", [
    ("2026-11-25", "25 novembre 2026", "25 November 2026"),
    (dt.date(2014, 3, 14), "14 marzo 2014", "14 March 2014"),
    (dt.datetime(2013, 12, 31, 12, 0), "31 dicembre 2013", "31 December 2013"),
    ("2013-12-31T12:00:00", "31 dicembre 2013", "31 December 2013"),
    ("2025-06-12T09:31:07Z", "12 giugno 2025", "12 June 2025"),
    ("2026-01-01", "1º gennaio 2026", "1 January 2026"),
    ("2024-02-29", "29 febbraio 2024", "29 February 2024"),
])
def test_date_it_en(value, it, en):
    assert format_date(value, "it") == it
    assert format_date(value, "en") == en


@pytest.mark.parametrize("bad", ["25/11/2026", "2026-02-30", "", None, 20261125])
def test_date_refuses_other_forms(bad):
    with pytest.raises(ValueError):
        format_date(bad, "it")


def test_datetime_adds_the_time_unless_midnight():
    assert format_datetime("2013-12-31T12:00:00", "it") == "31 dicembre 2013, ore 12:00"
    assert format_datetime(dt.datetime(2013, 12, 31, 9, 5), "en") == "31 December 2013, 09:05"
    assert format_datetime("2013-12-31T00:00:00", "it") == "31 dicembre 2013"
    assert format_datetime(dt.date(2013, 12, 31), "en") == "31 December 2013"


# -- percent, points, ordinals ---------------------------------------------------

@pytest.mark.parametrize("value, it, en", [
    ("0.8", "80 %", "80%"),
    (Decimal("0.125"), "12,5 %", "12.5%"),
    ("0.33333", "33,33 %", "33.33%"),
    ("0.666666", "66,67 %", "66.67%"),
    (1, "100 %", "100%"),
    (0, "0 %", "0%"),
    ("12.5", "1.250 %", "1,250%"),
    ("-0.05", "-5 %", "-5%"),
])
def test_percent(value, it, en):
    assert format_percent(value, "it") == it
    assert format_percent(value, "en") == en


@pytest.mark.parametrize("value, it, en", [
    (72.5, "72,5", "72.5"),
    (72, "72", "72"),
    (72.0, "72", "72"),
    ("72.50", "72,5", "72.5"),
    (Decimal("13.333"), "13,33", "13.33"),
    (Decimal("0.005"), "0,01", "0.01"),
    (-3.5, "-3,5", "-3.5"),
    (1250, "1.250", "1,250"),
    (0, "0", "0"),
])
def test_points(value, it, en):
    assert format_points(value, "it") == it
    assert format_points(value, "en") == en


def test_ordinal():
    assert [format_ordinal(n, "en") for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th"]
    assert format_ordinal(14, "it") == "14º"
    with pytest.raises(ValueError):
        format_ordinal(2.5, "en")


def test_languages():
    assert normalize_lang("it-IT") == "it"
    assert normalize_lang("EN_gb") == "en"
    for bad in ("fr", "", None):
        with pytest.raises(ValueError):
            normalize_lang(bad)
    with pytest.raises(ValueError):
        format_money("1", "de")


def test_to_decimal():
    assert to_decimal(" 40000.00 ") == Decimal("40000.00")
    assert to_decimal(0.1) == Decimal("0.1")
    with pytest.raises(ValueError):
        to_decimal(False)


@pytest.mark.parametrize("value", ["NaN", "sNaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("fmt", [format_money, format_points, format_percent])
def test_numbers_that_are_not_finite_are_refused_not_written(value, fmt):
    # "€ NaN" in a letter would be a sentence bando made up; a clear error names what was given
    with pytest.raises(ValueError, match=r"\(finite\), got Decimal"):
        fmt(Decimal(value), "it")


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**12, max_value=10**12),
       st.sampled_from(["it", "en"]))
def test_points_of_a_decimal_read_from_the_memo_are_those_worked_out(value, lang):
    worked_out = format_points(str(value), lang)  # a text takes the path without the memo
    assert format_points(value, lang) == worked_out
    assert format_points(value, lang) == worked_out  # the second time from the memo


def test_points_of_a_decimal_nan_is_still_refused():
    for bad in (Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity")):
        with pytest.raises(ValueError):
            format_points(bad, "it")
