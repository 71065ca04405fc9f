"""`bando serve` as a user runs it: the real command in a subprocess, and the README's curl lines against it."""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CURL = "/usr/bin/curl"
README = Path("README.md").read_text(encoding="utf-8")


def start(*args, port):
    """``(process, base URL)``: `bando serve ARGS` on loopback, once it answers."""
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "serve", *args, "--port", port, "--no-access-log"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    seen = []
    base = None
    while base is None:
        line = proc.stdout.readline()
        if not line or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("bando serve did not start:\n" + "".join(seen))
        seen.append(line)
        m = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
        if m:
            base = f"http://127.0.0.1:{port}"
    while True:  # workers may still be loading their policies
        try:
            if httpx.get(base + "/readyz", timeout=5).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("bando serve never became ready")
        time.sleep(0.1)


def stop(proc):
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    return out


def readme_curl_lines():
    section = README.split("## Use from a portal", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("curl ")]


@pytest.mark.skipif(not os.access(CURL, os.X_OK), reason="curl is not installed")
def test_readme_curl_examples_against_bando_serve_policies(tmp_path):
    """The README's command, run with two workers sharing the port and a decision log (one start, not three)."""
    lines = readme_curl_lines()
    assert len(lines) >= 6
    assert "bando serve policies/ --port 8000" in README
    with socket.socket() as s:  # uvicorn with workers binds a port it is given (port 0 would not be reported)
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    log = tmp_path / "decisions.jsonl"
    proc, base = start("policies/", "--workers", "2", "--decision-log", str(log), port=port)
    evaluated = 0
    try:
        for line in lines:
            assert "http://127.0.0.1:8000" in line
            argv = shlex.split(line.replace("http://127.0.0.1:8000", base))
            assert argv[0] == "curl"
            out = subprocess.run([CURL, *argv[1:]], capture_output=True, text=True, timeout=60)
            assert out.returncode == 0, (line, out.stderr)
            docs = [json.loads(x) for x in out.stdout.splitlines() if x.strip()]
            assert docs, line
            if "/evaluate" in line:
                evaluated += len(docs)
            if "evaluate-batch" in line:
                assert len(docs) == len(Path("examples/salentonet/batch.jsonl").read_bytes().splitlines())
            elif "lang=en" in line:
                assert docs[0]["status"] == "ineligible" and docs[0]["language"] == "en"
            elif "/validate" in line:
                assert docs[0]["valid"] is True
    finally:
        stop(proc)
    decisions = [json.loads(x) for x in log.read_text().splitlines()]  # both workers wrote whole lines
    assert len(decisions) == evaluated and {d["policy"]["id"] for d in decisions} == {"salentonet"}


def test_startup_with_a_broken_policy_exits_2_with_the_report(tmp_path):
    (tmp_path / "rotta.bando").write_text('call "Rotta" version "1" {\n  language it\n  gate\n')
    out = subprocess.run([sys.executable, "-m", "engine.cli", "serve", str(tmp_path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2
    assert "rotta.bando:" in out.stderr and "Traceback" not in out.stderr + out.stdout
