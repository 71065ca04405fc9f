"""Every endpoint of `bando serve` and every error status, against a live uvicorn server."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate as validate_openapi

JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}
SN = Path("examples/salentonet")
ADMITTED = (SN / "SN-2013-001.json").read_bytes()
INELIGIBLE = (SN / "SN-2013-005.json").read_bytes()
SHIPPED = sorted(p.stem for p in Path("policies").glob("*.bando"))


def assert_problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert doc["status"] == status and doc["type"].startswith("/problems/") and doc["title"] and doc["detail"]
    assert "Traceback" not in r.text and "<html" not in r.text.lower()
    return doc


def test_policies_lists_every_shipped_policy_with_its_hash(api, registry):
    doc = api.get("/policies").json()
    assert [p["id"] for p in doc["policies"]] == SHIPPED
    sn = next(p for p in doc["policies"] if p["id"] == "salentonet")
    policy = registry.get("salentonet").policy
    assert (sn["name"], sn["version"], sn["sha256"]) == (policy.name, policy.version, policy.sha256)
    assert sn["languages"] == ["it", "en"]
    assert next(p for p in doc["policies"] if p["id"] == "2ins_clusters")["languages"] == ["en", "it"]


def test_schema_is_the_policy_input_schema(api, registry):
    r = api.get("/policies/mechnet/schema")
    assert r.status_code == 200 and r.headers["content-type"] == "application/schema+json"
    assert r.json() == json.loads(json.dumps(registry.get("mechnet").policy.json_schema()))


def test_health_and_readiness(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz").json()
    assert ready["ready"] is True and ready["policies"] == SHIPPED and ready["problems"] == []


def test_validate_valid_and_invalid(api):
    r = api.post("/policies/salentonet/validate", content=ADMITTED, headers=JSON)
    assert r.status_code == 200 and r.json()["valid"] is True and r.json()["errors"] == []
    bad = json.loads(ADMITTED)
    bad["network"]["firms"][1]["employees"] = "dodici"
    del bad["project"]
    doc = assert_problem(api.post("/policies/salentonet/validate", content=json.dumps(bad), headers=JSON), 422)
    fields = [e["field"] for e in doc["errors"]]
    assert fields == ["network.firms[1].employees", "project"], doc
    assert "dodici" in doc["errors"][0]["message"]


def test_validate_words_each_problem_in_the_asked_language(api):
    bad = json.loads(ADMITTED)
    bad["network"]["firms"][1]["employees"] = "dodici"
    body = json.dumps(bad)
    it = assert_problem(api.post("/policies/salentonet/validate", content=body, headers=JSON), 422)
    en = assert_problem(api.post("/policies/salentonet/validate?lang=en", content=body, headers=JSON), 422)
    firm = bad["network"]["firms"][1]["name"]
    # the item is named by its 1-based number and its own name, the field by its label, in the call's language
    assert "n. 2" in it["errors"][0]["text"] and firm in it["errors"][0]["text"], it["errors"]
    assert "«dodici»" in it["errors"][0]["text"] and "atteso" in it["errors"][0]["text"], it["errors"]
    assert "expected" in en["errors"][0]["text"] and firm in en["errors"][0]["text"], en["errors"]
    assert it["errors"][0]["field"] == en["errors"][0]["field"] == "network.firms[1].employees"
    assert it["errors"][0]["message"] == en["errors"][0]["message"]  # the machine message stays as it was


def test_evaluate_explains_in_the_asked_language(api):
    it = api.post("/policies/salentonet/evaluate", content=INELIGIBLE, headers=JSON)
    en = api.post("/policies/salentonet/evaluate?lang=en", content=INELIGIBLE, headers=JSON)
    by_header = api.post("/policies/salentonet/evaluate", content=INELIGIBLE,
                         headers={**JSON, "accept-language": "fr-FR, en;q=0.8, it;q=0.5"})
    assert it.status_code == en.status_code == 200
    assert (it.json()["language"], it.headers["content-language"]) == ("it", "it")
    assert (en.json()["language"], en.headers["content-language"]) == ("en", "en")
    assert by_header.json() == en.json()
    failed_it = [g["because"] for g in it.json()["gates"] if not g["passed"]]
    failed_en = [g["because"] for g in en.json()["gates"] if not g["passed"]]
    assert failed_it and failed_en and failed_it != failed_en
    assert it.json()["status"] == "ineligible"


def test_evaluate_fast_path_agrees_with_the_explained_one(api):
    full = api.post("/policies/salentonet/evaluate", content=ADMITTED, headers=JSON).json()
    fast = api.post("/policies/salentonet/evaluate?explain=false", content=ADMITTED, headers=JSON).json()
    for key in ("application", "status", "eligible", "score", "grant", "requested", "policy"):
        assert fast[key] == full[key], key
    assert fast["points"] == {c["id"]: c["points"] for c in full["criteria"]}
    assert "gates" not in fast and fast["failed_gates"] == []
    ineligible = api.post("/policies/salentonet/evaluate?explain=false", content=INELIGIBLE, headers=JSON).json()
    assert ineligible["failed_gates"] == ["contract_before"]


def test_evaluate_invalid_application_is_422_with_every_problem_and_the_result(api):
    doc = assert_problem(api.post("/policies/salentonet/evaluate", content=b'{"id": "X-1"}', headers=JSON), 422)
    assert {e["field"] for e in doc["errors"]} == {"submitted_at", "network", "project"}
    assert doc["result"]["status"] == "invalid" and doc["result"]["application"] == "X-1"
    assert doc["result"]["errors"] == doc["errors"]
    assert_problem(api.post("/policies/salentonet/evaluate", content=b"[1, 2]", headers=JSON), 422)


@pytest.mark.parametrize("body, where", [(b'{"id": "A",\n "x": }', "line 2, column 7"),
                                          (b"\xff\xfe{}", "not UTF-8"), (b"", "empty"),
                                          (b"[" * 100_000, "nested too deeply")])
def test_malformed_body_is_400(api, body, where):
    doc = assert_problem(api.post("/policies/salentonet/evaluate", content=body, headers=JSON), 400)
    assert where in doc["detail"]


@pytest.mark.parametrize("query", ["lang=fr", "explain=maybe"])
def test_bad_query_parameter_is_400(api, query):
    doc = assert_problem(api.post(f"/policies/salentonet/evaluate?{query}", content=ADMITTED, headers=JSON), 400)
    assert query.split("=")[0] in doc["detail"]


def test_unknown_policy_and_route_are_404_and_wrong_method_405(api):
    doc = assert_problem(api.post("/policies/nope/evaluate", content=ADMITTED, headers=JSON), 404)
    assert '"nope"' in doc["detail"] and "salentonet" in doc["detail"]
    assert_problem(api.get("/policies/nope/schema"), 404)
    assert_problem(api.get("/nothing/here"), 404)
    assert_problem(api.get("/policies/salentonet/evaluate"), 405)


@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(api, ctype):
    headers = {"content-type": ctype} if ctype else {}
    doc = assert_problem(api.post("/policies/salentonet/evaluate", content=ADMITTED, headers=headers), 415)
    assert "application/json" in doc["detail"]
    assert_problem(api.post("/policies/salentonet/evaluate-batch", content=ADMITTED, headers=JSON), 415)
    assert api.post("/policies/salentonet/evaluate", content=ADMITTED,
                    headers={"content-type": "application/json; charset=utf-8"}).status_code == 200


def test_body_over_the_limit_is_413_declared_or_streamed(serve_with):
    c = serve_with(max_body=2000)
    big = b'{"id": "A", "pad": "' + b"x" * 5000 + b'"}'
    doc = assert_problem(c.post("/policies/salentonet/evaluate", content=big, headers=JSON), 413)
    assert "5,0" in doc["detail"] and doc["limit"] == 2000

    def chunks():  # no Content-Length: refused while streaming, after the limit, not at the end
        for _ in range(1000):
            yield b" " * 1000
    doc = assert_problem(c.post("/policies/salentonet/evaluate", content=chunks(), headers=JSON), 413)
    assert "larger than 2,000 bytes" in doc["detail"]
    assert c.post("/policies/salentonet/evaluate", content=INELIGIBLE, headers=JSON).status_code == 200


def test_batch_streams_one_result_per_line_in_input_order(api):
    lines = [INELIGIBLE.replace(b"\n", b""), b"not json", b"", ADMITTED.replace(b"\n", b""), b"[1]"]
    r = api.post("/policies/salentonet/evaluate-batch?lang=en", content=b"\n".join(lines), headers=NDJSON)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    out = [json.loads(line) for line in r.text.splitlines()]
    assert [o["status"] for o in out] == ["ineligible", "invalid", "admitted", "invalid"]
    assert [o["source"] for o in out] == ["request:1", "request:2", "request:4", "request:5"]
    assert "not valid JSON" in out[1]["errors"][0]["message"]
    single = api.post("/policies/salentonet/evaluate?lang=en", content=ADMITTED, headers=JSON).json()
    assert {k: v for k, v in out[2].items() if k != "source"} == single


def test_batch_of_a_shipped_file_fast_path(api):
    body = (SN / "batch.jsonl").read_bytes()
    r = api.post("/policies/salentonet/evaluate-batch?explain=false", content=body, headers=NDJSON)
    out = [json.loads(line) for line in r.text.splitlines()]
    assert len(out) == len(body.splitlines()) and all("status" in o for o in out)
    assert {o["status"] for o in out} >= {"admitted", "ineligible"}


def test_batch_limits(serve_with):
    c = serve_with(max_batch_lines=2)
    doc = assert_problem(c.post("/policies/salentonet/evaluate-batch", content=b"{}\n{}\n{}\n", headers=NDJSON),
                         413)
    assert "at most 2" in doc["detail"]
    assert_problem(c.post("/policies/salentonet/evaluate-batch", content=b"\n \n", headers=NDJSON), 400)


def test_openapi_is_valid_and_holds_every_policy_input_schema(api, registry):
    doc = api.get("/openapi.json").json()
    validate_openapi(doc)  # raises on any deviation from the OpenAPI 3.1 specification
    schemas = doc["components"]["schemas"]
    for pid in SHIPPED:
        assert f"/policies/{pid}/evaluate" in doc["paths"]
        body = doc["paths"][f"/policies/{pid}/evaluate"]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"] == {"$ref": f"#/components/schemas/{pid}"}
        own = registry.get(pid).policy.json_schema()
        assert set(schemas[pid]["properties"]) == set(own["properties"])
        for name in own.get("$defs", {}):
            assert f"{pid}.{name}" in schemas
    text = json.dumps(doc)
    assert "#/$defs/" not in text  # every reference points inside the document


def test_evaluation_pool_bounds_and_time_limit():
    """503 when the pool is full, 504 past the time limit, and a timed-out evaluation keeps its place."""
    import asyncio
    import threading

    from engine.serve.app import EvaluationPool
    from engine.serve.problems import Problem

    release = threading.Event()

    async def scenario():
        pool = EvaluationPool(threads=1, queue=1, timeout=0.5)
        with pytest.raises(Problem) as slow:
            await pool.run(release.wait)
        assert slow.value.status == 504
        assert pool.taken == 1  # the thread is still running: its place is still taken
        waiting = asyncio.ensure_future(pool.run(lambda: 7))
        await asyncio.sleep(0)
        with pytest.raises(Problem) as full:
            await pool.run(lambda: 8)
        assert full.value.status == 503 and full.value.headers["Retry-After"] == "1"
        release.set()  # the slow one ends, and the one queued behind it runs
        assert await waiting == 7
        assert pool.taken == 0
        assert await pool.run(lambda: 9) == 9
        pool.shutdown()
    asyncio.run(scenario())


def test_timeout_answers_504_problem(registry):
    """An evaluation slower than --timeout (here one made to wait) is answered 504; the server goes on."""
    import threading
    from types import MappingProxyType

    import attrs

    from engine.serve import ServeConfig, build_app
    from engine.serve.registry import Registry

    from conftest import client, live_server

    release = threading.Event()
    real = registry.get("salentonet").policy

    class Stuck:  # the real policy, except that evaluating waits until the test lets it go
        def __getattr__(self, name):
            return getattr(real, name)

        def evaluate(self, data, lang=None):
            release.wait(10)
            return real.evaluate(data, lang=lang)

    served = attrs.evolve(registry.get("salentonet"), policy=Stuck())
    app = build_app(ServeConfig(paths=(), eval_timeout=0.2), Registry(MappingProxyType({"salentonet": served})))
    with live_server(app) as base, client(base) as c:
        doc = assert_problem(c.post("/policies/salentonet/evaluate", content=ADMITTED, headers=JSON), 504)
        assert "longer than 0.2 s" in doc["detail"]
        release.set()
        assert c.post("/policies/salentonet/evaluate?explain=false", content=ADMITTED, headers=JSON).status_code == 200


def test_a_call_with_a_panel_takes_the_marks_with_the_application(api):
    """The panel's marks travel with the application (its `marks` key); without them it awaits the panel."""
    case = json.loads(Path("examples/distretto_commissione/valutata.json").read_text(encoding="utf-8"))
    r = api.post("/policies/distretto_commissione/evaluate?lang=en", content=json.dumps(case), headers=JSON)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["status"] == "admitted" and doc["score"] == 74
    assert doc["evaluation"][0]["because"].startswith("three experts: E1 4, E2 4.5, E3 3.5 → median 4")
    del case["marks"]
    doc = api.post("/policies/distretto_commissione/evaluate?lang=en", content=json.dumps(case), headers=JSON).json()
    assert doc["status"] == "awaiting_evaluation" and doc["score"] is None and all(g["passed"] for g in doc["gates"])
    schema = api.get("/policies/distretto_commissione/schema").json()
    assert "marks" not in schema.get("required", []) and "oneOf" in schema["properties"]["marks"]
