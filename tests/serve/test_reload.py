"""--reload: a changed policy is swapped in whole; a broken one keeps the old serving and is reported."""
from __future__ import annotations

import json
import os
import time

import pytest

from engine.serve.registry import StartupError, discover, load_all, reload

JSON = {"content-type": "application/json"}


def policy_text(minimum: int) -> str:
    return f"""call "Prova" version "{minimum}" {{ language it }}
input {{ id: text  firms: int }}
eligibility {{
  gate enough "Imprese sufficienti": firms >= {minimum}
}}
"""


def write(path, text):
    """Write and move the file's time forward, so a change is seen even within one clock tick."""
    path.write_text(text, encoding="utf-8")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))


def wait_for(predicate, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError("the server did not reload in time")


def test_reload_swaps_keeps_the_old_on_failure_and_reports_it(tmp_path, serve_with):
    write(tmp_path / "prova.bando", policy_text(3))
    c = serve_with(paths=(str(tmp_path),), reload=True, reload_interval=0.1)
    app = json.dumps({"id": "A", "firms": 4})

    def status():
        return c.post("/policies/prova/evaluate?explain=false", content=app, headers=JSON).json()["status"]
    assert status() == "admitted"
    old_sha = c.get("/policies").json()["policies"][0]["sha256"]

    write(tmp_path / "prova.bando", policy_text(5))  # a stricter call: 4 firms are no longer enough
    wait_for(lambda: status() == "ineligible")
    new_sha = c.get("/policies").json()["policies"][0]["sha256"]
    assert new_sha != old_sha

    write(tmp_path / "prova.bando", "call \"Prova\" version \"x\" {\n  gate oops\n")  # broken: the last good one stays
    ready = wait_for(lambda: (r := c.get("/readyz").json())["problems"] and r)
    assert ready["ready"] is True and ready["problems"][0]["id"] == "prova"
    assert "prova.bando:" in ready["problems"][0]["error"]
    assert status() == "ineligible" and c.get("/policies").json()["policies"][0]["sha256"] == new_sha

    write(tmp_path / "altra.bando", policy_text(1))  # a new file is served; the fixed one clears the problem
    write(tmp_path / "prova.bando", policy_text(2))
    wait_for(lambda: [p["id"] for p in c.get("/policies").json()["policies"]] == ["altra", "prova"]
             and not c.get("/readyz").json()["problems"])
    assert status() == "admitted"

    (tmp_path / "altra.bando").unlink()  # a removed file is no longer served
    wait_for(lambda: c.post("/policies/altra/evaluate", content=app, headers=JSON).status_code == 404)


def test_reload_is_a_no_op_when_nothing_changed(tmp_path):
    write(tmp_path / "prova.bando", policy_text(3))
    first = load_all((str(tmp_path),))
    assert reload(first, (str(tmp_path),)) is None
    os.utime(tmp_path / "prova.bando")  # touched, same text: the same policy object keeps serving
    second = reload(first, (str(tmp_path),))
    assert second is None or second.get("prova").policy is first.get("prova").policy


def test_startup_refuses_what_cannot_be_served(tmp_path):
    write(tmp_path / "bad name.bando", policy_text(1))
    write(tmp_path / "broken.bando", "call {")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "x.bando", policy_text(1))
    outside = tmp_path.parent / f"{tmp_path.name}-outside.bando"
    write(outside, policy_text(1))
    os.symlink(outside, tmp_path / "link.bando")
    found, problems = discover((str(tmp_path), str(tmp_path / "sub" / "x.bando"), str(tmp_path / "missing.bando")))
    assert [pid for pid, _ in found] == ["broken", "x"]
    messages = "\n".join(p.error for p in problems)
    assert "`bad name`" in messages and "leads outside the folder" in messages and "no such file" in messages
    with pytest.raises(StartupError) as e:
        load_all((str(tmp_path),))
    assert "broken.bando:1:" in str(e.value) and "Traceback" not in str(e.value)
    dup = tmp_path / "other"
    dup.mkdir()
    write(dup / "x.bando", policy_text(1))
    _, problems = discover((str(tmp_path / "sub"), str(dup)))
    assert "already taken" in problems[0].error
