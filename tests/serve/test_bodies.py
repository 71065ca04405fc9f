"""Reading requests (engine/serve/bodies.py): any header or body gives a language or a clean 400, never a crash."""
from __future__ import annotations

from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.serve.bodies import language, parse_json
from engine.serve.problems import Problem

SERVED = SimpleNamespace(policy=SimpleNamespace(language="it"))


def request(header=None, lang=None):
    return SimpleNamespace(headers={"accept-language": header} if header is not None else {},
                           query_params={"lang": lang} if lang is not None else {})


def test_accept_language_is_a_ranked_preference():
    assert language(request("en-GB,en;q=0.9,it;q=0.8"), SERVED) == "en"
    assert language(request("de, it;q=0.1, en;q=0.5"), SERVED) == "en"
    assert language(request("en;q=0, it;q=0.2"), SERVED) == "it"  # q=0 means "not this one"
    assert language(request("fr, de"), SERVED) == "it"  # none supported: the call's own
    assert language(request("*"), SERVED) == "it"
    assert language(request("en", lang="it-IT"), SERVED) == "it"  # ?lang= wins


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_accept_language_header_gives_a_supported_language(header):
    assert language(request(header), SERVED) in ("it", "en")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=80) | st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_body_parses_or_is_a_400_that_says_why(body):
    try:
        parse_json(body)
    except Problem as e:
        assert e.status == 400 and e.detail and "Traceback" not in e.detail
