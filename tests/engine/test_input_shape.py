"""engine.score.input_shape: the readers' field tree from the checked types is the one the JSON Schema
describes (the readers took the schema before; every reader behaviour must stay)."""
from pathlib import Path

import pytest

from engine.score.input_shape import EMPTY, Field, from_json_schema, from_policy
from engine.evaluate.policy import load_policy

ROOT = Path(__file__).resolve().parents[2]
POLICIES = sorted((ROOT / "policies").glob("*.bando")) + [ROOT / "benchmarks" / "bench.bando"]


def _flat(f: Field, path="", depth=0, out=None) -> dict:
    """Every node of the tree by path, with what the readers read of it."""
    out = {} if out is None else out
    title = f.title.strip() if isinstance(f.title, str) and f.title.strip() else None
    out[path] = (f.kind, title if f.kind != "record" else None, f.currency if f.kind == "money" else None,
                 f.options, sorted(f.required), f.type_name if f.records_list else None)
    if depth < 8:
        for name, sub in f.props.items():
            _flat(sub, f"{path}.{name}", depth + 1, out)
        if f.kind == "list":
            _flat(f.items, path + "[]", depth + 1, out)
    return out


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_types_give_the_tree_the_schema_gives(path):
    policy = load_policy(path)
    typed, schema = _flat(from_policy(policy)), _flat(from_json_schema(policy.json_schema()))
    assert typed == schema
    assert any(k for k, v in typed.items() if v[0] == "record" and k)  # a policy with records: not trivial


def test_schema_refs_and_type_words():
    schema = {"type": "object", "required": ["firms"], "properties": {
        "firms": {"type": "array", "title": "Imprese", "items": {"$ref": "#/$defs/Firm"}},
        "when": {"type": "string", "format": "date-time"},
        "n": {"type": ["integer", "null"]},
        "amount": {"type": ["number", "string"], "x-bando-type": "money", "x-bando-currency": "CHF"},
        "kind": {"enum": ["a", "b"]},
    }, "$defs": {"Firm": {"type": "object", "properties": {"name": {"type": "string"}}}}}
    root = from_json_schema(schema)
    firms = root.props["firms"]
    assert firms.records_list and firms.type_name == "Firm" and firms.title == "Imprese"
    assert firms.items.props["name"].kind == "text"
    assert [root.props[k].kind for k in ("when", "n", "amount", "kind")] == ["datetime", "int", "money", "enum"]
    assert root.props["amount"].currency == "CHF" and root.props["kind"].options == ["a", "b"]
    assert root.required == frozenset({"firms"}) and root.nested == ("firms",)
    assert root.props["when"].items is EMPTY
    with pytest.raises(TypeError):
        from_json_schema([])
