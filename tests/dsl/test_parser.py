"""The parser: text -> AST, positions, and syntax errors a person can read."""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from dsl import ast
from dsl.errors import PolicyError
from dsl.limits import Budget
from dsl.parser import MAX_DEPTH, MAX_SYNTAX_ERRORS, parse

ROOT = Path(__file__).resolve().parents[2]
HEADER = 'call "Bando" version "1" {\n  authority "Regione"\n}\n\ninput { firms: int, region: text }\n\n'

#: what a message must never show: Lark's names for tokens
TERMINAL_NAMES = re.compile(r"__ANON|\$END|\b(NAME|NUMBER|STRING|RBRACE|LBRACE|LPAR|RPAR|COMP_OP|MUL_OP|"
                            r"BASE_TYPE|AGGREGATE|QUANTIFIER|CRITERION_KW|DIRECTION|ROUND_MODE|COLON|COMMA)\b")


def errors_of(text, budget=None):
    with pytest.raises(PolicyError) as info:
        parse(text, "p.bando", budget=budget)
    return info.value.diagnostics


def roomy():
    """Limits far above dsl.limits: a caller may raise them, and the parser must still never recurse."""
    return Budget(max_tokens=1_000_000, max_bytes=10_000_000)


def test_parse_builds_the_items_in_order():
    p = parse((ROOT / "benchmarks" / "bench.bando").read_text(encoding="utf-8"))
    kinds = [type(i).__name__ for i in p.items]
    assert kinds[:4] == ["CallDef", "RecordDef", "InputDef", "LetDef"]
    assert "Eligibility" in kinds and "ScoreDef" in kinds and "Decl" in kinds


def test_every_node_knows_where_it_comes_from():
    text = (ROOT / "benchmarks" / "bench.bando").read_text(encoding="utf-8")
    p = parse(text)
    lines = text.split("\n")
    for node in ast.walk(p):
        if isinstance(node, (ast.Policy, ast.Comment)):
            continue
        assert node.span is not None, node
        if isinstance(node, ast.Gate):
            assert lines[node.span.line - 1].lstrip().startswith(f"gate {node.id}")
        if isinstance(node, ast.Criterion):
            assert f"criterion {node.id}" in lines[node.span.line - 1]


def test_spans_do_not_take_part_in_equality():
    a = parse("let x = 1 + 2")
    b = parse("\n\n   let   x =\n 1+2")
    assert a == b
    assert a.items[0].span.line != b.items[0].span.line


def test_literals():
    p = parse('let a = 1_000_000.50\nlet b = 12.5%\nlet c = 200_000 EUR\nlet d = 2025-06-30\n'
              'let e = 2025-06-30 12:00\nlet f = 3 years\nlet g = "a \\"b\\"\\n"\nlet h = -5 EUR\nlet i = 1 month')
    v = {i.name: i.expr for i in p.items}
    assert v["a"] == ast.Number(Decimal("1000000.50"))
    assert v["b"] == ast.Percent(Decimal("0.125"))
    assert v["c"] == ast.Money(Decimal(200000), "EUR")
    assert v["d"].value.isoformat() == "2025-06-30"
    assert v["e"].value.isoformat() == "2025-06-30T12:00:00"
    assert v["f"] == ast.Duration(3, "years")
    assert v["g"] == ast.String('a "b"\n')
    assert v["h"] == ast.Money(Decimal(-5), "EUR")
    assert v["i"] == ast.Duration(1, "months")


def test_precedence():
    e = parse("let x = a or b and not c > 1 + 2 * 3").items[0].expr
    assert e.op == "or"
    assert e.right.op == "and"
    assert e.right.right == ast.Unary("not", ast.Binary(">", ast.Name("c"), ast.Binary(
        "+", ast.Number(Decimal(1)), ast.Binary("*", ast.Number(Decimal(2)), ast.Number(Decimal(3))))))


def test_aggregate_forms():
    items = parse("let a = count(L)\nlet b = count(f in L where f.ok)\nlet c = sum(f.x for f in L where f.ok)\n"
                  "let d = median(marks)").items
    assert items[0].expr == ast.Aggregate("count", ast.Name("L"))
    assert items[1].expr == ast.Aggregate("count", ast.Name("L"), "f", None, ast.Attr(ast.Name("f"), "ok"))
    assert items[2].expr == ast.Aggregate("sum", ast.Name("L"), "f", ast.Attr(ast.Name("f"), "x"),
                                          ast.Attr(ast.Name("f"), "ok"))
    assert items[3].expr == ast.Aggregate("median", ast.Name("marks"))


def test_comments_are_collected_with_their_line():
    p = parse('# uno\ncall "X" version "1" {  # due\n}\nlet s = "# non un commento"\n  # tre\n')
    assert [(c.text, c.line, c.own_line) for c in p.comments] == [
        ("# uno", 1, True), ("# due", 2, False), ("# tre", 5, True)]


def test_a_field_may_be_named_like_a_keyword_after_a_default():
    p = parse("input {\n  markets: int = 0\n  requested: money\n  score: decimal = 0\n  points: int\n}\n")
    assert [f.name for f in p.items[0].fields] == ["markets", "requested", "score", "points"]


def test_a_band_may_start_with_not():
    p = parse("score max 10 pass 5 {\n  criterion a max 10 {\n    x -> 10\n    not y -> 5\n    otherwise -> 0\n"
              "  }\n}\n")
    tiers = p.items[0].criteria[0].tiers
    assert tiers[1].cond == ast.Unary("not", ast.Name("y"))
    assert tiers[0].points == ast.Number(Decimal(10))


# --- syntax errors --------------------------------------------------------------------------

@pytest.mark.parametrize("text,where,words", [
    ("eligibility {\n  gate a: firms = 3\n}\n", (8, 17), ["to compare, write `==`"]),
    ("eligibility {\n  gate a: region == 'x'\n}\n", (8, 21), ['double quotes']),
    ("eligibility {\n  gate a: firms >= 3\n", (9, 1), ["ends too early", "1 `{` block is not closed"]),
    ("eligibility {\n  gate a: firms >=\n}\n", (9, 1), ["expected a value", "after `>=`"]),
    ("score max 10 pass 5 {\n  criterion a max 10 {\n    firms > 1 => 10\n  }\n}\n", (9, 15),
     ["write `>=`"]),
    ("score max 10 pass 5 {\n  criterion a max 10 {\n    otherwise 0\n  }\n}\n", (9, 15), ["expected `->`"]),
    ("let x = 100_000 euro\n", (7, 17), ["`100_000 EUR`"]),
    ("gate a: firms > 1\n", (7, 1), ["belongs inside eligibility"]),
    ("ranking {\n  order by score descending\n}\n", (8, 18), ["write `desc`"]),
    ("let x = 5 @ 2\n", (7, 11), ["unexpected character `@`"]),
    ('let x = "aperta\n', (7, 9), ['no closing `"`']),
    ("eligibility {\n  gate a: firms >= 3 AND region == \"x\"\n}\n", (8, 22), ["`and`, `or`, `not`"]),
    ("let d = 2025-02-30\n", (7, 9), ["not a valid date"]),
    ("input { x: int in 5..1 }\n", (7, 12), ["empty range"]),
    ("ranking { shortfall all }\n", (7, 11), ["`partial`, `skip` or `stop`"]),
])
def test_syntax_errors_point_at_the_problem_and_say_what_to_do(text, where, words):
    d = errors_of(HEADER + text)[0]
    assert (d.span.line, d.span.column) == where, d.render()
    rendered = d.render()
    for w in words:
        assert w in rendered
    assert not TERMINAL_NAMES.search(rendered), rendered


def test_every_syntax_error_is_reported_once_per_line():
    text = HEADER + "eligibility {\n  gate a: firms =\n  gate b firms > 1\n  gate c: 'x'\n}\n"
    diags = errors_of(text)
    assert [d.span.line for d in diags] == sorted({d.span.line for d in diags})
    assert len(diags) >= 3


SALENTONET = (ROOT / "policies" / "salentonet.bando").read_text(encoding="utf-8")


def test_a_missing_brace_is_one_error_not_one_per_line():
    """Before recovery resynchronised at the start of a construct, this gave 20 errors (one per gate)."""
    text = SALENTONET.replace("\neligibility {\n", "\neligibility\n", 1)
    diags = errors_of(text)
    assert len(diags) == 1, [d.render() for d in diags]
    assert diags[0].code == "E003"
    assert diags[0].message.startswith("expected `{` after `eligibility`, found `gate`")
    assert diags[0].hint == "a block starts with `{`: `eligibility { ... }`"


def test_a_misspelt_section_is_one_error_with_the_word_it_should_be():
    text = SALENTONET.replace("\neligibility {\n", "\neligibilty {\n", 1)
    diags = errors_of(text)
    assert [d.message for d in diags] == ["unknown section `eligibilty`, did you mean `eligibility`?"]
    assert diags[0].code == "E019"
    assert (diags[0].span.line, diags[0].span.column) == (SALENTONET.split("\n").index("eligibility {") + 1, 1)


def test_a_word_far_from_every_section_is_the_usual_error():
    diags = errors_of(HEADER + "banana {\n  gate a: firms > 1\n}\n")
    assert [d.code for d in diags] == ["E003"]


def test_two_broken_gates_of_one_block_are_two_errors_and_the_rest_is_read():
    """Recovery goes back to the innermost block that takes the next line's word."""
    text = HEADER + ("eligibility {\n  gate a: firms = 3\n  gate b: firms > 1\n  gate c firms > 2\n}\n"
                     "score max 10 pass 5 {\n  criterion x max 10 {\n    firms >= 3 -> 10\n    otherwise 0\n  }\n}\n")
    diags = errors_of(text)
    assert [(d.span.line, d.code) for d in diags] == [(8, "E003"), (10, "E003"), (15, "E003")]


def test_a_missing_closing_brace_is_one_error():
    text = SALENTONET.replace("  gate on_time", "}\n  gate on_time", 1)  # one `}` too many closes the block early
    assert len(errors_of(text)) == 1
    text = SALENTONET.replace("    otherwise -> 0\n  }\n  criterion internationalisation",
                              "    otherwise -> 0\n  criterion internationalisation", 1)
    assert len(errors_of(text)) == 1


def test_the_error_after_a_comment_is_placed_after_the_last_word_not_the_comment():
    diags = errors_of(HEADER + "eligibility\n  # requisiti (art. 3).\n  gate a: firms > 1\n}\n")
    assert "after `eligibility`" in diags[0].message


def test_errors_are_capped():
    text = HEADER + "".join(f"let x{i} = = {i}\n" for i in range(100))
    assert len(errors_of(text)) <= MAX_SYNTAX_ERRORS


@pytest.mark.parametrize("prefix", ["not ", "-", "- ", "(1 + "])
def test_ten_thousand_levels_of_nesting_give_a_clean_error(prefix):
    closing = ")" * 10_000 if prefix.startswith("(") else ""
    text = HEADER + "let x = " + prefix * 10_000 + "firms" + closing + "\n"
    diags = errors_of(text, roomy())
    assert len(diags) == 1
    assert f"more than {MAX_DEPTH} levels" in diags[0].message
    assert diags[0].span.line == 7


def test_ten_thousand_parentheses_around_a_name_are_just_the_name():
    p = parse("let x = " + "(" * 10_000 + "firms" + ")" * 10_000, budget=roomy())
    assert p.items[0].expr == ast.Name("firms")


def test_nesting_up_to_the_limit_is_fine():
    depth = MAX_DEPTH - 5
    p = parse("let x = " + "not " * depth + "ok")
    e, n = p.items[0].expr, 0
    while isinstance(e, ast.Unary):
        e, n = e.operand, n + 1
    assert n == depth


def test_a_long_policy_parses_without_recursion():
    text = HEADER + "eligibility {\n" + "".join(f"  gate g{i}: firms >= {i}\n" for i in range(5000)) + "}\n"
    p = parse(text, budget=roomy())
    assert len(p.items[-1].gates) == 5000


def test_a_100_000_character_line_is_shown_around_the_error():
    line = "let total = " + " + ".join(["firms"] * 12_500) + " + @"
    d = errors_of(HEADER + line + "\n", roomy())[0]
    excerpt = d.render().split("\n")
    assert d.span.column == len(line)
    assert all(len(x) < 200 for x in excerpt)
    assert excerpt[1].rstrip().endswith("@…") or "@" in excerpt[1]


@pytest.mark.parametrize("text,what", [
    ("call \x00", "NUL byte"),
    ("let x = 1\x1b[31m", "U+001B"),
    ("let x = 1 \u202e", "U+202E"),
    ("\ufeffcall", "U+FEFF"),
])
def test_odd_characters(text, what):
    rendered = PolicyError(errors_of(text)).render()
    assert what in rendered
    assert "\x00" not in rendered and "\x1b" not in rendered


def test_labels_only_take_known_language_codes():
    d = errors_of('eligibility { gate a "Cinque" inglese "Five": firms >= 5 }')[0]
    assert "`inglese` is not a language code" in d.message


@pytest.mark.parametrize("word", ["count", "sum", "share"])
def test_aggregate_names_cannot_be_used_as_values(word):
    d = errors_of(HEADER + f"eligibility {{\n  gate g: {word} > 1\n}}\n")[0]
    assert "cannot be used as a name" in (d.hint or "")
