"""The HTTP API and call parameters: ``?param.action=IA`` evaluates with the variant of the policy for
those values (docs/serve.md, "Call parameters"); a value the policy refuses is a 400 problem."""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "horizon_evaluation"


def _app(name):
    return (EXAMPLES / name).read_bytes()


def _post(api, path, body, **params):
    return api.post(path, content=body, params=params, headers={"Content-Type": "application/json"})


def test_the_query_sets_the_call_parameters(api):
    path = "/policies/horizon_evaluation/evaluate"
    default = _post(api, path, _app("HZ-2025-001.json"))
    ia = _post(api, path, _app("HZ-2025-001.json"), **{"param.action": "IA"})
    assert default.status_code == ia.status_code == 200
    assert default.json()["status"] == "admitted" and default.json()["policy"]["params"]["action"] == "RIA"
    assert ia.json()["status"] == "ineligible" and ia.json()["policy"]["params"]["action"] == "IA"
    assert ia.json()["parameters"].startswith("Call parameters: type of action IA")


def test_the_batch_endpoint_takes_them_too(api):
    body = b"\n".join(json.dumps(json.loads(_app(n))).encode() for n in ("HZ-2025-013.json", "HZ-2025-001.json"))
    r = api.post("/policies/horizon_evaluation/evaluate-batch", content=body, params={"param.action": "IA",
                                                                                       "explain": "false"},
                 headers={"Content-Type": "application/x-ndjson"})
    assert r.status_code == 200
    assert [json.loads(line)["status"] for line in r.text.splitlines()] == ["admitted", "ineligible"]


def test_a_refused_value_is_a_bad_request_with_the_code(api):
    r = _post(api, "/policies/horizon_evaluation/evaluate", _app("HZ-2025-001.json"), **{"param.acton": "IA"})
    assert r.status_code == 400
    doc = r.json()
    assert doc["errors"][0]["code"] == "E423" and "action" in doc["errors"][0]["hint"]
    r = _post(api, "/policies/horizon_evaluation/evaluate", _app("HZ-2025-001.json"), **{"param.action": "XA"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "E424"
