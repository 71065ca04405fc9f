"""The shape of a policy's input as the batch readers see it: a tree of fields.

A :class:`Field` says what a reader must know of one value: its kind (``text``, ``money``, ``record``,
``list``…), its fields (a record) or its item (a list), its label, whether a record requires it, the
currency an amount may be written with, the allowed values of a choice.

Two sources give the same tree:

* :func:`from_policy`: the checked policy's own input record (``policy.checked.input``, dsl/types.py),
  what ``bando score`` reads with: no JSON Schema is written and parsed back for every cell;
* :func:`from_json_schema`: a bando input JSON Schema (``bando schema``), for callers that have only
  that (``engine.score.batch_io.read_batch(path, schema)``); ``$ref`` and the schema's own type words are
  resolved once, here, instead of on every lookup.

The tree is built once per batch, so every question a reader asks of it (``kind``, ``props``) is an
attribute read.
"""
from __future__ import annotations

from typing import Any

import attrs

from dsl.checker import MARKS_FIELD

#: the kinds a scalar field may have (``x-bando-type``)
SCALARS = frozenset({"text", "int", "decimal", "money", "percent", "bool", "date", "datetime", "enum"})


@attrs.define(eq=False, slots=True)
class Field:
    """One value of the input. ``props`` and ``required`` are a record's; ``item`` a list's;
    ``type_name`` the record type's name (``Firm``), another name an items table may have."""

    kind: str = "any"
    props: dict = attrs.Factory(dict)  # name -> Field
    required: frozenset = frozenset()
    item: "Field | None" = None
    title: str | None = None
    currency: str | None = None
    options: list | None = None
    type_name: str | None = None
    _nested: tuple | None = attrs.field(default=None, init=False, repr=False)

    @property
    def nested(self) -> tuple:
        """The names of the fields that are records or lists of records (what a walk goes into)."""
        if self._nested is None:
            self._nested = tuple(n for n, f in self.props.items() if f.kind == "record" or f.records_list)
        return self._nested

    @property
    def items(self) -> "Field":
        return self.item if self.item is not None else EMPTY

    @property
    def records_list(self) -> bool:
        """A list of records (its records go in an items table of their own)."""
        return self.kind == "list" and self.items.kind == "record"


#: what a reader knows of a value the schema does not describe
EMPTY = Field()
#: an id column the schema does not declare: read as text
TEXT = Field("text")


def from_policy(policy) -> Field:
    """The input of a loaded :class:`engine.evaluate.policy.Policy`, from its checked types. Labels are in
    the policy's language, amounts in its currency: what ``engine.compile.schema.json_schema`` writes."""
    cp = policy.checked
    memo: dict[int, Field] = {}
    lang = policy.language

    def of_type(t, title=None) -> Field:
        k = t.kind
        if k == "record":  # a record's own label is never asked for: the node is shared
            return of_record(t.record)
        if k == "list":
            item = of_type(t.item) if t.item is not None else EMPTY
            named = item.kind == "record" and t.item.record.name
            return Field("list", item=item, title=title, type_name=t.item.record.name if named else None)
        return Field(k if k in SCALARS else "any", title=title,
                     currency=policy.currency if k == "money" else None,
                     options=list(t.options) if k == "enum" else None)

    def of_record(rec) -> Field:
        f = memo.get(id(rec))
        if f is not None:  # a record type met again: one node
            return f
        f = memo[id(rec)] = Field("record")
        for name, info in rec.fields.items():
            f.props[name] = of_type(info.type, info.label.get(lang, lang) if info.label is not None else None)
        f.required = frozenset(n for n, i in rec.fields.items() if not i.optional and i.default is None)
        return f

    if cp.input is None:
        return Field("record", props={"id": TEXT})
    root = of_record(cp.input)
    if cp.marks:  # the panel's marks are passed on as given (rows of a JSON batch), judged by engine.evaluate.panel
        root.props[MARKS_FIELD] = Field("any")
        root.required = root.required - {MARKS_FIELD}
    if "id" not in root.props:  # as the JSON Schema: every application has an id
        root.props["id"] = TEXT
    return root


def from_json_schema(root: Any) -> Field:
    """The tree a bando input JSON Schema describes (``$ref`` followed, 32 deep at most)."""
    if not isinstance(root, dict):
        raise TypeError("schema must be a JSON Schema object (dict)")
    memo: dict[int, Field] = {}

    def resolve(node: Any) -> dict:
        for _ in range(32):
            if not isinstance(node, dict):
                return {}
            ref = node.get("$ref")
            if not isinstance(ref, str) or not ref.startswith("#"):
                return node
            target: Any = root
            for part in ref[1:].split("/")[1:]:
                part = part.replace("~1", "/").replace("~0", "~")
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node = target
        return {}

    def build(node: Any) -> Field:
        node = resolve(node)
        f = memo.get(id(node))
        if f is not None:
            return f
        f = memo[id(node)] = Field(_kind(node))
        title = node.get("title")
        f.title = title if isinstance(title, str) else None
        code = node.get("x-bando-currency")
        f.currency = code if isinstance(code, str) else None
        allowed = node.get("enum")
        f.options = allowed if isinstance(allowed, list) else None
        props = node.get("properties")
        if isinstance(props, dict):
            f.props = {name: build(sub) for name, sub in props.items()}
        f.required = frozenset(r for r in node.get("required") or () if isinstance(r, str))
        items = node.get("items", {})
        if "items" in node or f.kind == "list":
            f.item = build(items)
        ref = items.get("$ref") if isinstance(items, dict) else None
        f.type_name = ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None
        return f

    return build(root)


def _kind(node: dict) -> str:
    """A schema node's kind: its ``x-bando-type``, else what its JSON Schema type words mean."""
    x = node.get("x-bando-type")
    if isinstance(x, str):
        word = x.strip().lower()
        if word in SCALARS or word in ("list", "record"):
            return word
        if word.startswith("list"):
            return "list"
    if "enum" in node:
        return "enum"
    types = node.get("type")
    types = {types} if isinstance(types, str) else set(types or ()) - {"null"}
    if "properties" in node or types == {"object"}:
        return "record"
    if types == {"array"} or "items" in node:
        return "list"
    if types == {"integer"}:
        return "int"
    if types & {"number"}:
        return "decimal"
    if types == {"boolean"}:
        return "bool"
    if types == {"string"}:
        return {"date": "date", "date-time": "datetime"}.get(node.get("format"), "text")
    return "any"
