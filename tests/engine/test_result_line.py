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


def test_a_final_result_spilled_as_its_line_reads_back_as_the_same_dict():
    import pickle

    from engine.score import batch  # the spill's own record format, not a public contract

    plain = {"application": "A-1", "score": 72.5, "tied_with": ["B-2"], "values": {"n": 5}, "grant": None}
    huge = dict(plain, values={"n": 10**30})  # orjson would read it back as the float 1e+30
    for d in (plain, huge):
        blob = batch._final(d)
        record = pickle.loads(blob[8:])
        assert int.from_bytes(blob[:8], "little") == len(blob) - 8
        back, line = batch._result_dict(None, "it", 0, record, outcome=None)
        assert back == d and type(back["values"]["n"]) is type(d["values"]["n"])
        assert line == result_line(d)
