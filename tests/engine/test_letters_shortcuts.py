"""The short ways of the letters' hot path give what the long ways give (issue 13).

Each shortcut in engine/letters/letters.py, engine/letters/sandbox.py and engine/letters/escaping.py skips work that
a letter repeats hundreds of times; these tests hold each one to the long way it replaces:
textwrap for paragraphs, the old alternation for the glued spaces, translate() for control
characters, Jinja's own sandbox for attribute access, and a fresh read of a changed call.
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap

import pytest
from hypothesis import given, settings, strategies as st
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from engine.letters import letters
from engine.letters.escaping import clean_text
from engine.letters.sandbox import BoundedSandbox

# -- paragraphs -------------------------------------------------------------------------------

# the glued spaces as the pattern was written before it was anchored on the space
_GLUE_BEFORE = re.compile("|".join([
    r"(?<=[€$£]) (?=-?\d)", r"(?<=\b[A-Z]{3}) (?=-?\d)", r"(?<=\d) (?=%)",
    r"(?<=\bore) (?=\d)", r"(?<=\bn\.) (?=\S)", r"(?<=\bno\.) (?=\S)",
]))

_PIECES = st.sampled_from(["€", "$", "EUR", "CHF", "ore", "n.", "no.", "%", "-", "12", "1.000,00",
                           "a", "Società", "x" * 30, " ", "  ", "\n", "\t", "\u00a0", "«≥ 2»"])
_TEXTS = st.lists(_PIECES, max_size=30).map("".join)


def _textwrap_lines(text: str, width: int, indent: str, hanging: str) -> tuple[str, ...]:
    glued = _GLUE_BEFORE.sub("\u00a0", " ".join(text.split()))
    lines = textwrap.wrap(glued, width=width, initial_indent=indent, subsequent_indent=hanging,
                          break_long_words=False, break_on_hyphens=False)
    return tuple(line.replace("\u00a0", " ") for line in lines)


@settings(max_examples=400, deadline=None)
@given(_TEXTS, st.integers(-4, 4), st.integers(1, 90), st.booleans(),
       st.sampled_from(["", "    ", " 1. ", "x" * 12]), st.sampled_from(["", "    "]))
def test_wrapped_paragraphs_are_textwraps(text, near, width, at_the_edge, indent, hanging):
    if at_the_edge:  # the paragraph just fits on one line, or just does not
        width = max(1, len(indent) + len(" ".join(text.split())) + near)
    assert letters._wrap_lines(text, width, indent, hanging) == _textwrap_lines(text, width, indent, hanging)


@settings(max_examples=300, deadline=None)
@given(_TEXTS)
def test_glued_spaces_are_the_same(text):
    assert letters._GLUE.sub("_", text) == _GLUE_BEFORE.sub("_", text)


# -- control characters ---------------------------------------------------------------------

_CONTROLS = [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0),
             *range(0x202A, 0x202F), *range(0x2066, 0x206A)]


@pytest.mark.parametrize("code", _CONTROLS + [0x2028, 0x2029])
def test_every_control_character_is_dropped_even_in_printable_text(code):
    got = clean_text({"a": [f"Rete{chr(code)} Salento", 1, None, True, 2.5, {"b": chr(code)}]})
    kept = " " if code in (0x2028, 0x2029) else ""
    assert got == {"a": [f"Rete{kept} Salento", 1, None, True, 2.5, {"b": kept}]}


def test_tab_line_feed_and_no_break_space_stay():
    assert clean_text(["a\tb\nc\u00a0d", ("e\x1bf",)]) == ["a\tb\nc\u00a0d", ["ef"]]


def test_a_str_subclass_comes_back_as_plain_text():
    class Text(str):
        pass

    got = clean_text(Text("Rete"))
    assert got == "Rete" and type(got) is str


# -- attribute access in the sandbox ---------------------------------------------------------

_SOURCES = [
    "{{ d.score }}", "{{ d['score'] }}", "{{ d.items is defined }}", "{{ d.values|list|length }}",
    "{{ d.missing }}", "{{ d.pop }}", "{{ d.pop('score') }}", "{{ d.__class__ }}", "{{ d.update }}",
    "{% for x in [1, 2] %}{{ loop.index }}{{ loop.last }}{{ loop.length }}{{ loop.cycle('a', 'b') }}"
    "{{ loop.__class__ is defined }}{% endfor %}",
]


def _outcome(env, source: str):
    try:
        return env.from_string(source).render(d={"score": 7, "values": "own key"})
    except Exception as exc:  # noqa: BLE001 - the same error, word for word, is the point
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("source", _SOURCES)
def test_attribute_access_is_jinjas_sandbox(source):
    ours = BoundedSandbox(undefined=StrictUndefined)
    jinja = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    assert _outcome(ours, source) == _outcome(jinja, source)


def test_a_missing_key_is_the_usual_undefined():
    assert _outcome(BoundedSandbox(undefined=StrictUndefined), "{{ d.missing }}") == (
        "UndefinedError", "'dict object' has no attribute 'missing'")


# -- the call info, completed once ------------------------------------------------------------

def test_a_call_changed_in_place_is_read_again():
    renderer = letters.LetterRenderer(lang="en")
    call = {"name": "Network grants", "contact": "first@example.org"}
    result = {"application": "A-1", "status": "ineligible"}
    first = renderer.render(result, call, date=dt.date(2026, 11, 25))
    call["contact"] = "second@example.org"
    second = renderer.render(result, call, date=dt.date(2026, 11, 25))
    assert "first@example.org" in first and "second@example.org" in second
    assert second == letters.LetterRenderer(lang="en").render(result, call, date=dt.date(2026, 11, 25))


# -- Markdown escaping ------------------------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="ab 1٣.)#-+=*_`[]|~<>&'\"\\\n\r\t\u2028\u00a0", max_size=10))
def test_markdown_escaping_of_plain_text_is_the_whole_escape(text):
    from engine.letters.escaping import _escape_markdown_text, escape_markdown

    assert escape_markdown(text) == _escape_markdown_text(text)
