"""``/openapi.json``: an OpenAPI 3.1 description generated from the policies being served.

OpenAPI 3.1 schemas are JSON Schema 2020-12, the dialect of
:func:`engine.compile.schema.json_schema`, so each policy's input schema goes into
``components.schemas`` as it is, under the policy's id; its record
definitions (``$defs``) become components of their own (``ID.Record``) and its
``$ref``\\ s are rewritten to point at them. Every policy has its own paths,
whose request bodies refer to its input schema.
"""
from __future__ import annotations

import copy

from engine.text.status import ALL as STATUSES

from engine.serve.bodies import JSON_TYPES, JSONL_TYPES

_NUM_OR_NULL = {"type": ["number", "null"]}
_STR_OR_NULL = {"type": ["string", "null"]}
_MONEY = {"type": ["string", "null"], "pattern": r"^-?[0-9]+\.[0-9]+$", "description": "exact decimal, as text"}

_ERRORS = {"type": "array", "items": {"type": "object", "required": ["field", "message"],
                                      "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}

_POLICY_REF = {"type": "object", "required": ["name", "version", "sha256"],
               "properties": {"name": {"type": "string"}, "version": {"type": "string"},
                              "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"}}}

_COMMON = {
    "Problem": {
        "type": "object", "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail"],
        "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                       "detail": {"type": "string"}, "instance": {"type": "string"}, "errors": _ERRORS,
                       "result": {"$ref": "#/components/schemas/Result"}},
    },
    "Result": {
        "type": "object", "description": "one application's outcome with its explanation (docs/contracts.md)",
        "required": ["application", "status", "eligible", "score", "max_score", "pass_score", "grant",
                     "gates", "criteria", "errors", "policy"],
        "properties": {
            "application": _STR_OR_NULL, "applicant": _STR_OR_NULL,
            "status": {"type": "string", "enum": list(STATUSES)}, "eligible": {"type": ["boolean", "null"]},
            "score": _NUM_OR_NULL, "ranking_score": _NUM_OR_NULL, "max_score": _NUM_OR_NULL,
            "pass_score": _NUM_OR_NULL, "requested": _MONEY, "grant": _MONEY, "grant_computed": _MONEY,
            "grant_because": _STR_OR_NULL, "currency": {"type": "string"}, "rank": {"type": ["integer", "null"]},
            "language": {"type": "string"}, "summary": {"type": "string"},
            "gates": {"type": "array", "items": {"type": "object", "required": ["id", "label", "passed", "because"],
                                                 "properties": {"id": {"type": "string"}, "label": {"type": "string"},
                                                                # null: a gate across applications, decided only in a batch
                                                                "passed": {"type": ["boolean", "null"]},
                                                                "because": {"type": "string"},
                                                                "values": {"type": "object"},
                                                                "cites": {"type": "string"}}}},
            "criteria": {"type": "array", "items": {"type": "object",
                                                    "required": ["id", "label", "points", "max", "because"],
                                                    "properties": {"id": {"type": "string"},
                                                                   "label": {"type": "string"},
                                                                   "points": _NUM_OR_NULL, "max": {"type": "number"},
                                                                   "because": {"type": "string"},
                                                                   "values": {"type": "object"},
                                                                   "cites": {"type": "string"}}}},
            "errors": _ERRORS, "placement": {"type": ["object", "null"]},
            "submitted": _STR_OR_NULL, "policy": _POLICY_REF,
        },
    },
    "Decision": {
        "type": "object", "description": "the fast path's outcome (`?explain=false`): no sentences",
        "required": ["application", "status", "eligible", "score", "grant", "failed_gates", "errors", "policy"],
        "properties": {
            "application": _STR_OR_NULL, "status": {"type": "string", "enum": list(STATUSES)},
            "eligible": {"type": ["boolean", "null"]}, "score": _NUM_OR_NULL, "ranking_score": _NUM_OR_NULL,
            "max_score": _NUM_OR_NULL, "pass_score": _NUM_OR_NULL,
            "points": {"type": ["object", "null"], "additionalProperties": {"type": "number"}},
            "requested": _MONEY, "grant": _MONEY, "grant_computed": _MONEY, "currency": {"type": "string"},
            "failed_gates": {"type": "array", "items": {"type": "string"}},
            "below_minimum": {"type": "array", "items": {"type": "string"}},
            "errors": _ERRORS, "policy": _POLICY_REF,
        },
    },
    "Validation": {
        "type": "object", "required": ["valid", "errors", "policy"],
        "properties": {"valid": {"type": "boolean"}, "errors": _ERRORS, "policy": _POLICY_REF},
    },
    "PolicyInfo": {
        "type": "object", "required": ["id", "name", "version", "sha256", "language", "languages"],
        "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "version": {"type": "string"},
                       "sha256": {"type": "string"}, "language": {"type": "string"},
                       "languages": {"type": "array", "items": {"type": "string"}}},
    },
}


def _ref(name):
    return {"$ref": f"#/components/schemas/{name}"}


def _problems(*statuses):
    return {str(s): {"description": _WHY[s], "content": {"application/problem+json": {"schema": _ref("Problem")}}}
            for s in statuses}


_WHY = {400: "malformed JSON, or a query parameter out of range", 401: "no bearer token",
        403: "wrong bearer token", 404: "unknown policy", 413: "body over the limit",
        415: "wrong content type", 422: "the application does not match the input; `errors` lists every problem",
        503: "too many evaluations waiting, or the decision log cannot be written",
        504: "the evaluation exceeded the time limit"}

_LANG = {"name": "lang", "in": "query", "required": False, "description": "language of the explanations "
         "(default: Accept-Language, else the call's own)", "schema": {"type": "string", "enum": ["it", "en"]}}
_EXPLAIN = {"name": "explain", "in": "query", "required": False, "description": "false: the fast path, "
            "no explanation", "schema": {"type": "boolean", "default": True}}


def _rewrite_refs(node, prefix):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = f"#/components/schemas/{prefix}.{ref[len('#/$defs/'):]}"
        for v in node.values():
            _rewrite_refs(v, prefix)
    elif isinstance(node, list):
        for v in node:
            _rewrite_refs(v, prefix)


def _policy_schemas(served) -> dict:
    schema = copy.deepcopy(served.policy.json_schema())
    schema.pop("$schema", None)  # the document's dialect is JSON Schema 2020-12 already
    defs = schema.pop("$defs", {})
    _rewrite_refs(schema, served.id)
    out = {served.id: schema}
    for name, d in defs.items():
        _rewrite_refs(d, served.id)
        out[f"{served.id}.{name}"] = d
    return out


def _policy_paths(served) -> dict:
    pid, p = served.id, served.policy
    body = {"required": True, "content": {t: {"schema": _ref(pid)} for t in JSON_TYPES}}
    batch = {"required": True, "description": f"one application of `{pid}` per line",
             "content": {t: {"schema": {"type": "string"}} for t in JSONL_TYPES}}
    tag = [pid]
    return {
        f"/policies/{pid}/schema": {"get": {
            "summary": f"JSON Schema of the input of {p.name}", "tags": tag, "operationId": f"{pid}.schema",
            "responses": {"200": {"description": "JSON Schema 2020-12",
                                  "content": {"application/schema+json": {"schema": _ref(pid)}}},
                          **_problems(401, 403, 404)}}},
        f"/policies/{pid}/validate": {"post": {
            "summary": f"Every problem of an application to {p.name}", "tags": tag,
            "operationId": f"{pid}.validate", "requestBody": body,
            "responses": {"200": {"description": "the application matches the input",
                                  "content": {"application/json": {"schema": _ref("Validation")}}},
                          **_problems(400, 401, 403, 404, 413, 415, 422)}}},
        f"/policies/{pid}/evaluate": {"post": {
            "summary": f"Evaluate an application to {p.name}", "tags": tag, "operationId": f"{pid}.evaluate",
            "parameters": [_LANG, _EXPLAIN], "requestBody": body,
            "responses": {"200": {"description": "the result (with explain=false, the decision)",
                                  "content": {"application/json": {"schema": {"oneOf": [_ref("Result"),
                                                                                        _ref("Decision")]}}}},
                          **_problems(400, 401, 403, 404, 413, 415, 422, 503, 504)}}},
        f"/policies/{pid}/evaluate-batch": {"post": {
            "summary": f"Evaluate applications to {p.name}, one JSON line each", "tags": tag,
            "operationId": f"{pid}.evaluate_batch", "parameters": [_LANG, _EXPLAIN], "requestBody": batch,
            "responses": {"200": {"description": "one result per application line, in input order, streamed; "
                                                 "a line that is a problem ends the stream",
                                  "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                          **_problems(400, 401, 403, 404, 413, 415, 503)}}},
    }


def build(registry, secured: bool = False) -> dict:
    """The OpenAPI document of ``registry``; ``secured``: every operation but health needs the token."""
    schemas = dict(_COMMON)
    paths = {
        "/policies": {"get": {"summary": "The policies served", "operationId": "policies",
                              "responses": {"200": {"description": "every policy with its id and SHA-256",
                                                    "content": {"application/json": {"schema": {
                                                        "type": "object", "required": ["policies"],
                                                        "properties": {"policies": {"type": "array",
                                                                                    "items": _ref("PolicyInfo")}}}}}},
                                            **_problems(401, 403)}}},
        "/healthz": {"get": {"summary": "The process answers", "operationId": "healthz", "security": [],
                             "responses": {"200": {"description": "alive",
                                                   "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/readyz": {"get": {"summary": "Policies loaded; problems of the last reload", "operationId": "readyz",
                            "security": [],
                            "responses": {"200": {"description": "ready",
                                                  "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "operationId": "openapi",
                                  "responses": {"200": {"description": "OpenAPI 3.1",
                                                        "content": {"application/json": {"schema": {"type": "object"}}}},
                                                **_problems(401, 403)}}},
    }
    for served in registry.policies.values():
        schemas.update(_policy_schemas(served))
        paths.update(_policy_paths(served))
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "bando", "version": registry_version(registry),
                 "description": "Evaluate applications to funding calls against their bando policies."},
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "tags": [{"name": s.id, "description": f"{s.policy.name} ({s.policy.version})"}
                 for s in registry.policies.values()],
    }
    if secured:
        doc["security"] = [{"bearer": []}]
    return doc


def registry_version(registry) -> str:
    """The API's version: the generation of the policies (it changes with every reload)."""
    return f"policies-{registry.generation}"
