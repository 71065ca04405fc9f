"""The canonical formatter (`bando fmt`).

``tests/golden/fmt/NAME.bando`` is messy input (one-line blocks, odd spacing,
comments in odd places); ``NAME.bando.formatted`` is what ``bando fmt`` must
write. ``BANDO_UPDATE_GOLDEN=1 pytest tests/dsl`` rewrites the expected files.
"""
from __future__ import annotations

import os
import shutil
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsl import ast
from dsl.fmt import format_expr, format_policy, format_text
from dsl.parser import parse
from engine.cli import main

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "fmt"
UPDATE = os.environ.get("BANDO_UPDATE_GOLDEN") == "1"
NAMES = sorted(p.name[:-len(".bando")] for p in GOLDEN.glob("*.bando"))


def _comments(text):
    return [c.text.rstrip() for c in parse(text).comments]


def test_enough_formatter_goldens():
    assert len(NAMES) >= 8


@pytest.mark.parametrize("name", NAMES)
def test_formatter_golden(name):
    messy = (GOLDEN / f"{name}.bando").read_text(encoding="utf-8")
    out = format_text(messy)
    expected_file = GOLDEN / f"{name}.bando.formatted"
    if UPDATE:
        expected_file.write_text(out, encoding="utf-8")
    assert out == expected_file.read_text(encoding="utf-8")
    # idempotent, meaning preserved, no comment lost
    assert format_text(out) == out
    assert parse(out) == parse(messy)
    assert len(_comments(out)) == len(_comments(messy))
    assert sorted(_comments(out)) == sorted(_comments(messy))


@pytest.mark.parametrize("name", NAMES)
def test_formatted_goldens_check_like_their_input(name):
    """Formatting never turns a good policy bad (the goldens are all valid)."""
    from dsl.source import Source
    from engine.evaluate.policy import check_source
    out = (GOLDEN / f"{name}.bando.formatted").read_text(encoding="utf-8")
    cp = check_source(Source(out, f"{name}.bando"))
    assert not cp.errors, "\n".join(d.render() for d in cp.errors)


def test_bando_fmt_command_writes_the_canonical_text(tmp_path):
    name = "comments_everywhere"
    target = tmp_path / f"{name}.bando"
    shutil.copy(GOLDEN / f"{name}.bando", target)
    runner = CliRunner()
    result = runner.invoke(main, ["fmt", "--check", str(target)])
    assert result.exit_code == 1 and "would reformat" in result.output
    result = runner.invoke(main, ["fmt", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == (GOLDEN / f"{name}.bando.formatted").read_text(encoding="utf-8")
    result = runner.invoke(main, ["fmt", "--check", str(target)])
    assert result.exit_code == 0


def test_fmt_refuses_a_broken_file_and_leaves_it_alone(tmp_path):
    target = tmp_path / "broken.bando"
    text = 'call "X" version "1" {\n  authority "A"\n}\neligibility { gate a: x = 1 }\n'
    target.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["fmt", str(target)])
    assert result.exit_code == 1
    assert "to compare, write `==`" in result.output
    assert target.read_text(encoding="utf-8") == text


# --- details ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("1000000", "1_000_000"),
    ("1000", "1000"),
    ("10000", "10_000"),
    ("0.50", "0.5"),
    ("12.50%", "12.5%"),
    ("100000 EUR", "100_000 EUR"),
    ("-5 EUR", "-5 EUR"),
    ("1 years", "1 year"),
    ("2 year", "2 years"),
    ("2025-06-30 12:00:00", "2025-06-30 12:00"),
    ("2025-06-30 12:00:30", "2025-06-30 12:00:30"),
    ('"a \\"b\\" \\\\ c"', '"a \\"b\\" \\\\ c"'),
    ("((a + b)) * (c)", "(a + b) * c"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a - b) - c", "a - b - c"),
    ("a * -5", "a * (-5)"),
    ("a - -5", "a - -5"),
    ("-(-x)", "--x"),
    ("not (a and b)", "not (a and b)"),
    ("(not a) or b", "not a or b"),
    ("(a > b) == c", "(a > b) == c"),
    ("(if a then 1 else 2) + 3", "(if a then 1 else 2) + 3"),
    ("x and (all f in L: f.ok)", "x and (all f in L: f.ok)"),
    ("count(f in L where f.ok)", "count(f in L where f.ok)"),
    ("sum(f.x for f in L where f.ok and f.y > 1)", "sum(f.x for f in L where f.ok and f.y > 1)"),
    ("x between (1 + 2) and 3", "x between 1 + 2 and 3"),
    ("(x is missing) and y", "x is missing and y"),
    ("x in {1,2,3}", "x in {1, 2, 3}"),
])
def test_expression_layout(text, expected):
    let = parse(f"let v = {text}").items[0]
    assert format_expr(let.expr) == expected
    assert parse(f"let v = {expected}").items[0] == let


def test_band_starting_with_not_after_another_band():
    """Regression: `not research -> 0` after a band was read as `10 not in ...`."""
    text = ('call "X" version "1" {}\nscore max 10 pass 5 {\n  criterion a max 10 {\n    research -> 10\n'
            '    not research -> 0\n  }\n}\n')
    tiers = parse(text).items[1].criteria[0].tiers
    assert [t.cond for t in tiers] == [ast.Name("research"), ast.Unary("not", ast.Name("research"))]


def test_band_conditions_that_would_run_into_the_points_above_get_parentheses():
    crit = ast.Criterion("a", D(10), tiers=(
        ast.Tier(ast.Name("b"), ast.Name("bonus")),
        ast.Tier(ast.Binary("or", ast.Name("x"), ast.Name("y")), ast.Number(D(5))),
        ast.Tier(ast.Binary(">", ast.Unary("-", ast.Name("d")), ast.Number(D(3))), ast.Number(D(2))),
        ast.Tier(None, ast.If(ast.Name("b"), ast.Number(D(1)), ast.Number(D(0)))),
    ))
    policy = ast.Policy((ast.ScoreDef(D(10), D(5), (crit,)),))
    text = format_policy(policy)
    assert "(-d > 3) -> 2" in text
    assert "otherwise -> (if b then 1 else 0)" in text
    assert parse(text) == policy


def test_points_ending_in_a_name_before_a_parenthesised_condition():
    crit = ast.Criterion("a", D(10), tiers=(
        ast.Tier(ast.Name("b"), ast.Name("bonus")),
        ast.Tier(ast.Binary(">", ast.Binary("+", ast.Name("x"), ast.Name("y")), ast.Number(D(1))), ast.Number(D(5))),
    ))
    policy = ast.Policy((ast.ScoreDef(D(10), D(5), (crit,)),))
    text = format_policy(policy)
    assert parse(text) == policy


def test_comment_after_escaped_quote_is_kept():
    text = 'call "A \\" #1" version "1" {  # vero commento\n}\n\nlet x = "#"  # due\n'
    policy = parse(text)
    assert [c.text for c in policy.comments] == ["# vero commento", "# due"]
    assert format_policy(policy) == text


def test_comments_are_never_lost_in_the_shipped_policies():
    from pathlib import Path as P
    root = P(__file__).resolve().parents[2]
    paths = [root / "benchmarks" / "bench.bando", *sorted((root / "policies").glob("*.bando"))]
    for path in paths:
        text = path.read_text(encoding="utf-8")
        out = format_text(text)
        assert sorted(_comments(out)) == sorted(_comments(text)), path
        assert parse(out) == parse(text), path
        assert format_text(out) == out, path


def test_empty_policy_formats_to_empty_text():
    assert format_text("") == ""
    assert format_text("# solo un commento\n") == "# solo un commento\n"


@pytest.mark.parametrize("field", ["requested", "score", "points", "count", "order", "case", "grant"])
def test_field_names_that_are_also_words_of_the_language(field):
    """After a field with a default, a field named like a keyword is still a field."""
    text = f'call "X" version "1" {{}}\ninput {{\n  markets: int = 0\n  {field}: money\n}}\n'
    policy = parse(text)
    assert [f.name for f in policy.items[1].fields] == ["markets", field]
    assert parse(format_policy(policy)) == policy


def test_field_named_like_an_operator_keeps_its_comma():
    text = 'call "X" version "1" {}\ninput { a: int = 0, or: bool, b: int in 0..5, step: int }\n'
    policy = parse(text)
    out = format_policy(policy)
    assert "a: int = 0,\n" in out and "b: int in 0..5,\n" in out
    assert parse(out) == policy
