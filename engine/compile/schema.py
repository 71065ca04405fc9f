"""JSON Schema (draft 2020-12) of a policy's application input (``bando schema``).

Portals use it to build forms and validate before submitting; batch readers use
``x-bando-type`` to convert spreadsheet cells exactly.
"""
from __future__ import annotations

from dsl.checker import MARKS_FIELD
from dsl.types import Type

from engine.text.exact import json_number


def _label(f, lang, default_lang):
    return f.label.get(lang, default_lang) if f.label is not None else None


def type_schema(t: Type, policy, seen) -> dict:
    k = t.kind
    if k == "text":
        s = {"type": "string"}
    elif k == "int":
        s = {"type": "integer"}
    elif k in ("decimal", "percent", "money"):
        s = {"type": ["number", "string"]}
        if k == "money":
            s["x-bando-currency"] = policy.currency
    elif k == "bool":
        s = {"type": "boolean"}
    elif k == "date":
        s = {"type": "string", "format": "date"}
    elif k == "datetime":
        s = {"type": "string", "format": "date-time"}
    elif k == "enum":
        s = {"type": "string", "enum": list(t.options)}
    elif k == "list":
        s = {"type": "array", "items": type_schema(t.item, policy, seen)}
    elif k == "record":
        s = record_schema(t.record, policy, seen)
    else:
        s = {}
    if t.values is not None:  # a number set: exactly these values (a JSON number, as any number field)
        s["enum"] = [json_number(v) for v in t.values]
    elif t.low is not None:
        s["minimum"] = json_number(t.low)
        if not t.implicit_range:
            s["maximum"] = json_number(t.high)
    if t.step is not None:
        s["multipleOf"] = json_number(t.step)
    s["x-bando-type"] = k
    return s


def record_schema(rec, policy, seen) -> dict:
    if rec.name and rec.name in seen:
        return {"$ref": f"#/$defs/{rec.name}"}
    props, required = {}, []
    for name, f in rec.fields.items():
        s = type_schema(f.type.opt(False), policy, seen)
        title = _label(f, policy.language, policy.language)
        if title:
            s["title"] = title
        if f.default is not None:
            from engine.compile.validate import const_eval
            v = const_eval(f.default)
            s["default"] = json_number(v) if hasattr(v, "as_tuple") else (
                v.isoformat() if hasattr(v, "isoformat") else v)
        if not f.optional and f.default is None:
            required.append(name)
        props[name] = s
    return {"type": "object", "properties": props, "required": required, "additionalProperties": True}


def _marks_schema(cp) -> dict:
    mark = {"type": ["number", "string"]}
    row = {"type": "object", "required": ["evaluator", "criterion", "mark"], "properties": {
        "evaluator": {"type": "string", "description": "the expert's id; consenso/consensus: the consensus mark"},
        "criterion": {"type": "string", "enum": list(cp.marks)}, "mark": mark,
        "conflict": {"type": "boolean"}, "consensus": {"type": "boolean"}}}
    short = {"type": "object", "properties": {mid: {"type": "object", "additionalProperties": mark}
                                              for mid in cp.marks}}
    return {"description": "the evaluation panel's marks: one row per evaluator and mark, or per mark the "
                           "evaluators' marks; absent: awaiting the panel's evaluation",
            "oneOf": [{"type": "array", "items": row}, short], "x-bando-type": "panel marks"}


def json_schema(policy) -> dict:
    cp = policy.checked
    defs = {}
    seen = set()
    for name, rec in cp.records.items():
        seen.add(name)
    for name, rec in cp.records.items():
        defs[name] = record_schema(rec, policy, seen - {name})
        defs[name]["x-bando-type"] = "record"
    root = record_schema(cp.input, policy, seen) if cp.input else {"type": "object"}
    if "id" not in root.get("properties", {}):
        root.setdefault("properties", {})["id"] = {"type": "string", "x-bando-type": "text",
                                                    "description": "application id"}
    if cp.marks:  # the panel's marks, as given: rows, or per mark the evaluators' marks (engine/evaluate/panel.py)
        root.setdefault("properties", {})[MARKS_FIELD] = _marks_schema(cp)
        root["required"] = [r for r in root.get("required", []) if r != MARKS_FIELD]
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "title": f"{policy.name} ({policy.version})", **root, "x-bando-type": "record"}
    if defs:
        out["$defs"] = defs
    return out
