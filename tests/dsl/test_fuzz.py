"""Property tests: the language never crashes, and formatting never changes meaning.

(a) random text and mutations of the shipped policies: parsing and checking
    only ever answer with a PolicyError or with diagnostics, and every
    diagnostic renders;
(b) random policies built as ASTs: ``parse(format(p)) == p`` and formatting
    is idempotent, with and without comments.
"""
from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dsl.errors import PolicyError
from dsl.fmt import format_policy
from dsl.parser import parse
from dsl.source import Source
from engine.evaluate.policy import check_source


def _load_strategies():
    """tests/strategies.py, loaded by path: putting tests/ on sys.path would let
    the folder tests/dsl shadow the real `dsl` package."""
    name = "bando_test_strategies"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "strategies.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


S = _load_strategies()

#: BANDO_FUZZ_EXAMPLES=5000 pytest tests/dsl/test_fuzz.py for a long hunt
N = int(os.environ.get("BANDO_FUZZ_EXAMPLES", "150"))
FAST = settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MORE = settings(max_examples=max(N, 200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
SHIPPED = S.shipped_policies()


#: Lark's names for tokens, which must never reach a message
TERMINAL_NAMES = re.compile(r"__ANON|\$END|\b(NAME|NUMBER|STRING|RBRACE|LBRACE|LPAR|RPAR|COMP_OP|MUL_OP|"
                            r"BASE_TYPE|AGGREGATE|QUANTIFIER|CRITERION_KW|DIRECTION|ROUND_MODE|COLON|COMMA)\b")


def _assert_readable(d):
    rendered = d.render()
    # what the user wrote is quoted in backticks; the rest is ours and must be plain words
    ours = re.sub(r"`[^`]*`", "", d.message + " " + (d.hint or ""))
    assert not TERMINAL_NAMES.search(ours), rendered


def check_never_crashes(text: str):
    """Parse + check ``text``; anything but a PolicyError or diagnostics is a bug."""
    try:
        cp = check_source(Source(text, "fuzz.bando"))
    except PolicyError as e:
        assert e.diagnostics and "Traceback" not in e.render()
        for d in e.diagnostics:
            _assert_readable(d)
        return None
    for d in cp.diagnostics:
        _assert_readable(d)
    return cp


# --- (a) never crash ----------------------------------------------------------------------------

@FAST
@given(S.random_text())
def test_random_text_never_crashes(text):
    check_never_crashes(text)


@FAST
@given(S.mutated_policy())
def test_mutated_policies_never_crash(text):
    check_never_crashes(text)


@FAST
@given(st.sampled_from(sorted(SHIPPED)).flatmap(
    lambda name: st.tuples(st.just(name), st.integers(0, len(S.TOKEN_RE.findall(SHIPPED[name])) - 1))))
def test_deleting_one_token_gives_at_most_a_few_errors(case):
    """Recovery resynchronises at the next construct: one token missing is one mistake, and gives
    one or two errors, never a cascade (a missing `{` gave 20) and never a traceback. Measured over
    every 10th token of the shipped policies: never more than 2."""
    name, i = case
    toks = S.TOKEN_RE.findall(SHIPPED[name])
    assume(not toks[i].isspace())
    text = "".join(toks[:i] + toks[i + 1:])
    try:
        parse(text, "fuzz.bando")
    except PolicyError as e:
        assert len(e.diagnostics) <= 3, e.render()
        for d in e.diagnostics:
            _assert_readable(d)


@FAST
@given(S.policies())
def test_generated_policies_check_without_crashing(policy):
    """Random (often ill-typed) policies: the checker reports, never raises."""
    check_never_crashes(format_policy(policy))


# --- (b) formatting keeps meaning -----------------------------------------------------------------

def roundtrip(policy):
    text = format_policy(policy)
    again = parse(text, "formatted.bando")
    assert again == policy, text
    assert format_policy(again) == text
    return text


@MORE
@given(S.policies())
def test_generated_policies_roundtrip(policy):
    roundtrip(policy)


@FAST
@given(S.any_expr())
def test_generated_expressions_roundtrip(expr):
    from dsl import ast
    policy = ast.Policy((ast.LetDef("v", expr),))
    roundtrip(policy)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_policies_roundtrip(name):
    policy = parse(SHIPPED[name], name)
    text = format_policy(policy)
    assert parse(text) == policy
    assert format_policy(parse(text)) == text
    assert len(parse(text).comments) == len(policy.comments)


@FAST
@given(S.policies().flatmap(lambda p: S.with_comments(format_policy(p))))
def test_comments_survive_formatting(text):
    policy = parse(text)
    out = format_policy(policy)
    again = parse(out)
    assert again == policy
    assert sorted(c.text.rstrip() for c in again.comments) == sorted(c.text.rstrip() for c in policy.comments)
    assert format_policy(again) == out


@FAST
@given(st.sampled_from(sorted(SHIPPED)).flatmap(lambda n: S.with_comments(SHIPPED[n])))
def test_comments_in_shipped_policies_survive(text):
    policy = parse(text)
    out = format_policy(policy)
    assert [c.text.rstrip() for c in parse(out).comments] == [c.text.rstrip() for c in policy.comments] or \
        sorted(c.text.rstrip() for c in parse(out).comments) == sorted(c.text.rstrip() for c in policy.comments)
    assert format_policy(parse(out)) == out


@FAST
@given(S.mutated_policy())
def test_formatting_mutations_that_parse_keeps_meaning(text):
    """Mutated policies that still parse: formatting them keeps meaning and comments."""
    try:
        policy = parse(text)
    except PolicyError:
        assume(False)
        return
    out = format_policy(policy)
    again = parse(out)
    assert again == policy
    assert len(again.comments) == len(policy.comments)
    assert format_policy(again) == out
