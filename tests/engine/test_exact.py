"""engine.text.exact: one reading and one writing of exact numbers for every output."""
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from engine.text import exact


@pytest.mark.parametrize("value, expected", [
    (72.5, Decimal("72.5")), (0.1, Decimal("0.1")), ("40000.00", Decimal("40000.00")), (3, Decimal(3)),
    (" 1_000.5 ", Decimal("1000.5")), (Decimal("2.50"), Decimal("2.50")), (None, None), ("", None),
])
def test_decimal_of_reads_every_output_number_exactly(value, expected):
    got = exact.decimal_of(value)
    assert got == expected and (got is None or str(got) == str(expected))


@pytest.mark.parametrize("value", [True, False, float("nan"), float("inf"), "NaN", "-Infinity", "abc", "1,5"])
def test_decimal_of_refuses_what_no_output_holds(value):
    with pytest.raises(ValueError):
        exact.decimal_of(value)


@pytest.mark.parametrize("d, number, text, money, json_exact", [
    (Decimal("20.00"), 20, "20", "20.00", 20),
    (Decimal("72.50"), 72.5, "72.5", "72.50", "72.5"),
    (Decimal("16666.665"), 16666.665, "16666.665", "16666.665", "16666.665"),
    (Decimal("1E+3"), 1000, "1000", "1000.00", 1000),
    (Decimal("-0"), 0, "0", "0.00", 0),
])
def test_writers_agree_on_each_number(d, number, text, money, json_exact):
    assert exact.json_number(d) == number and type(exact.json_number(d)) is type(number)
    assert exact.number_text(d) == text
    assert exact.money_text(d) == money
    assert exact.exact_json(d) == json_exact


def test_none_is_written_as_nothing_never_as_none():
    assert exact.json_number(None) is None and exact.money_text(None) is None
    assert exact.exact_json(None) is None and exact.number_text(None) == ""


def test_plain_never_writes_an_exponent():
    assert exact.plain(Decimal("1E+5")) == "100000"
    assert exact.plain(Decimal("1E-7")) == "0.0000001"


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**15, max_value=10**15, places=4))
def test_every_text_written_reads_back_to_the_same_number(d):
    for text in (exact.plain(d), exact.number_text(d), exact.money_text(d)):
        assert exact.decimal_of(text) == d
    assert exact.decimal_of(exact.exact_json(d)) == d


def test_a_result_writes_its_numbers_with_the_one_writer():
    # result.py had its own copies of json_number and money_text, which wrote a computed -0 as "-0.00"
    from engine.evaluate import result

    assert result.money_text is exact.money_text and result.json_number is exact.json_number
    r = result.Result("A-1", "admitted", Decimal("0"), Decimal("100"), Decimal("60"), Decimal("-0.00"), (), (), (),
                      {}, "it", "EUR", grant_computed=Decimal("-0"))
    d = r.to_dict()
    assert d["grant"] == "0.00" and d["grant_computed"] == "0.00"
