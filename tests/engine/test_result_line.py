"""engine.score.batch.result_line: one line of results.jsonl, written by orjson, json.dumps's bytes."""
from __future__ import annotations

import json

from hypothesis import given, strategies as st

from engine.score.batch import result_line


def stdlib(d):
    return json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n"


plain_floats = st.floats(min_value=1e-4, max_value=1e16, exclude_max=True, allow_nan=False) | st.just(0.0)
texts = st.text(st.characters(exclude_categories=("Cs",)))  # no lone surrogates: orjson refuses them
values = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | plain_floats | texts,
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
                      max_leaves=20)


@given(st.dictionaries(texts, values, max_size=6))
def test_same_bytes_as_json_dumps(d):
    assert result_line(d) == stdlib(d)


def test_what_orjson_refuses_json_dumps_writes():
    big = {"requested": 10**30, "note": "x"}
    assert result_line(big) == stdlib(big)
    lone = {"applicant": "Rete \ud800"}
    assert result_line(lone) == stdlib(lone)


def test_a_tiny_float_is_the_same_number():
    line = result_line({"share": 1e-05})
    assert json.loads(line) == {"share": 1e-05}
