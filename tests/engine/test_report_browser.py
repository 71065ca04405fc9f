"""Open a generated report in headless Chromium (scripts/check_report_browser.py)
and check that the screenshot is not blank. Skipped when no Chromium is found."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check_report_browser.py"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_report_renders_in_headless_chromium(tmp_path):
    checker = _load("_bando_check_report_browser", SCRIPT)
    if checker.find_chromium() is None:
        pytest.skip("no chromium binary found (apt-get install chromium, or set BANDO_CHROMIUM)")
    fx = _load("_bando_report_fixtures_browser", Path(__file__).with_name("test_report.py"))
    from engine.outputs import summarize
    from engine.report import render_report

    results = fx.make_results(50, hostile=True)
    call = fx.make_call("it")
    html = tmp_path / "report.html"
    html.write_text(render_report(results, summarize(results, call), call, "it"), encoding="utf-8")
    png = tmp_path / "report.png"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(html), "--screenshot", str(png)],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert png.is_file() and png.stat().st_size > checker.MIN_BYTES


def test_checker_rejects_a_blank_page(tmp_path):
    checker = _load("_bando_check_report_browser", SCRIPT)
    if checker.find_chromium() is None:
        pytest.skip("no chromium binary found (apt-get install chromium, or set BANDO_CHROMIUM)")
    blank = tmp_path / "blank.html"
    blank.write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    ok, message, _png = checker.check(str(blank), str(tmp_path / "blank.png"), "640,480")
    assert not ok, message
    assert "blank" in message
