"""docs/diagnostics.md is true: every code bando can emit is listed, every listed code exists, and
each example really produces its code, with the first line the page shows.

Each example is a ```` ```bando error=CODE [options] ```` block holding a whole ``policy.bando``,
followed by a ```` ```text ```` block with the first line bando prints for it. Options set up what a
block of text cannot hold: ``module`` (the block is a shared module a policy uses), ``repeat=N``
(its last line N more times), ``encoding=NAME``, ``no-tz-database``.
"""
from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from unittest import mock

import pytest

from dsl.errors import PolicyError
from engine.evaluate.policy import check_source, read_source

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "diagnostics.md"
EXAMPLE = re.compile(r"^```bando error=([EW]\d{3})([^\n]*)\n(.*?)^```\n\n```text\n([^\n]*)\n```", re.S | re.M)
SECTION = re.compile(r"^## ([EW]\d{3}) ", re.M)
USES_MODULE = ('use "module.bando"\ncall "Prova" version "1" { budget 1_000 EUR }\ninput { firms: int }\n'
               'eligibility { gate g "Imprese": firms >= 3 }\n')

TEXT = DOC.read_text(encoding="utf-8")
EXAMPLES = {m.group(1): (m.group(2).split(), m.group(3), m.group(4)) for m in EXAMPLE.finditer(TEXT)}


def _emitted_codes() -> set[str]:
    """Every code written in the source of the parser, checker and loader (as a string literal)."""
    found = set()
    for path in [*(ROOT / "dsl").glob("*.py"), *(ROOT / "engine").glob("*.py")]:
        found.update(re.findall(r"\"([EW]\d{3})\"", path.read_text(encoding="utf-8")))
    found.discard("E000")  # Diagnostic's default, which every reporting place overrides
    return found


def diagnostics(tmp_path, monkeypatch, text, options):
    encoding = "utf-8"
    for o in options:
        if o.startswith("repeat="):
            lines = text.rstrip("\n").split("\n")
            text = "\n".join(lines + [lines[-1]] * int(o.split("=")[1])) + "\n"
        elif o.startswith("encoding="):
            encoding = o.split("=")[1]
    if "module" in options:
        (tmp_path / "module.bando").write_bytes(text.encode(encoding))
        text = USES_MODULE
    (tmp_path / "policy.bando").write_bytes(text.encode(encoding))
    monkeypatch.chdir(tmp_path)  # the diagnostics name the file as given: policy.bando
    if "no-tz-database" in options:
        monkeypatch.setattr(zoneinfo, "ZoneInfo", mock.Mock(side_effect=zoneinfo.ZoneInfoNotFoundError))
        monkeypatch.setattr(zoneinfo, "available_timezones", lambda: set())
    try:
        return check_source(read_source("policy.bando")).diagnostics
    except PolicyError as e:
        return e.diagnostics


def test_every_code_in_the_source_is_documented_and_every_documented_code_is_in_the_source():
    documented = set(SECTION.findall(TEXT))
    emitted = _emitted_codes()
    assert emitted - documented == set(), "codes emitted but not in docs/diagnostics.md"
    assert documented - emitted == set(), "codes in docs/diagnostics.md that nothing emits"
    assert len(SECTION.findall(TEXT)) == len(documented), "a code has two sections"


def test_every_documented_code_has_an_example():
    assert set(SECTION.findall(TEXT)) == set(EXAMPLES)


@pytest.mark.parametrize("code", sorted(EXAMPLES))
def test_the_example_produces_its_code_and_the_line_shown(code, tmp_path, monkeypatch):
    options, text, shown = EXAMPLES[code]
    diags = diagnostics(tmp_path, monkeypatch, text, options)
    mine = [d for d in diags if d.code == code]
    assert mine, f"{code}: the example gives {[d.code for d in diags]}"
    assert shown in [d.render().split("\n")[0] for d in mine]
    assert "E000" not in [d.code for d in diags]
