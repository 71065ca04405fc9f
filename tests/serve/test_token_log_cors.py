"""The bearer token, the decision log and CORS, on a live server."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from engine.serve.auth import TokenError, read_token

JSON = {"content-type": "application/json"}
APP = Path("examples/salentonet/SN-2013-001.json").read_bytes()
TOKEN = "s3cret-token-0123456789abcdef"


@pytest.fixture
def token_file(tmp_path):
    p = tmp_path / "token"
    p.write_text(TOKEN + "\n")
    return str(p)


def test_token_is_required_everywhere_but_health(serve_with, token_file):
    c = serve_with(token_file=token_file)
    for url in ("/policies", "/openapi.json", "/policies/salentonet/schema"):
        r = c.get(url)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json", url
        assert r.headers["www-authenticate"].startswith("Bearer")
    r = c.post("/policies/salentonet/evaluate", content=APP, headers=JSON)
    assert r.status_code == 401
    r = c.post("/policies/salentonet/evaluate", content=APP, headers={**JSON, "authorization": "Bearer wrong"})
    assert r.status_code == 403 and r.json()["status"] == 403
    r = c.get("/policies", headers={"authorization": f"Basic {TOKEN}"})
    assert r.status_code == 401
    good = {"authorization": f"Bearer {TOKEN}"}
    assert c.post("/policies/salentonet/evaluate", content=APP, headers={**JSON, **good}).status_code == 200
    assert c.get("/openapi.json", headers=good).json()["security"] == [{"bearer": []}]
    assert c.get("/healthz").status_code == 200 and c.get("/readyz").status_code == 200


@pytest.mark.parametrize("content, why", [("short", "at least 16"), ("has a space inside it", "without spaces"),
                                          ("", "at least 16")])
def test_unusable_token_file_is_refused(tmp_path, content, why):
    p = tmp_path / "token"
    p.write_text(content)
    with pytest.raises(TokenError) as e:
        read_token(str(p))
    assert why in str(e.value) and str(p) in str(e.value)


def test_decision_log_one_line_per_evaluation_synced_on_shutdown(tmp_path, registry):
    from engine.serve import ServeConfig, build_app

    from conftest import client, live_server

    log = tmp_path / "decisions.jsonl"
    app = build_app(ServeConfig(paths=("policies",), decision_log=str(log), log_input=True), registry)
    with live_server(app) as base, client(base) as c:
        assert c.post("/policies/salentonet/evaluate?lang=en", content=APP, headers=JSON).status_code == 200
        assert c.post("/policies/salentonet/evaluate?explain=false", content=b'{"id": "Z"}',
                      headers=JSON).status_code == 422
        c.post("/policies/salentonet/validate", content=APP, headers=JSON)  # not an evaluation: not logged
        batch = APP.replace(b"\n", b"") + b"\n\n{}\n"
        assert c.post("/policies/salentonet/evaluate-batch", content=batch,
                      headers={"content-type": "application/x-ndjson"}).status_code == 200
        lines_live = log.read_bytes().count(b"\n")  # written per line, before shutdown
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines_live == len(lines) == 4
    first = lines[0]
    sha = registry.get("salentonet").policy.sha256
    assert first["policy"]["sha256"] == sha and first["policy"]["id"] == "salentonet"
    assert (first["application"], first["status"], first["score"], first["grant"]) == \
        ("SN-2013-001", "admitted", 88, "50000.00")
    assert first["input_sha256"] == hashlib.sha256(APP).hexdigest() and first["input"] == APP.decode()
    assert first["explain"] is True and first["language"] == "en" and first["time"].endswith("Z")
    assert (lines[1]["status"], lines[1]["explain"], lines[1]["language"]) == ("invalid", False, None)
    assert lines[2]["input_sha256"] == hashlib.sha256(APP.replace(b"\n", b"")).hexdigest()
    assert lines[3]["status"] == "invalid" and lines[3]["input"] == "{}"


def test_cors_off_by_default_and_on_for_the_configured_origin(api, serve_with):
    origin = {"origin": "https://portal.example.org"}
    assert "access-control-allow-origin" not in api.get("/policies", headers=origin).headers
    c = serve_with(cors_origins=("https://portal.example.org",))
    assert c.get("/policies", headers=origin).headers["access-control-allow-origin"] == "https://portal.example.org"
    other = c.get("/policies", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
