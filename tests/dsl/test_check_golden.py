"""Golden tests of `bando check` messages.

Every ``tests/golden/check/NAME.bando`` is a broken (or merely suspicious)
policy; ``NAME.bando.err`` is the whole output of ``bando check NAME.bando``
run from that folder, carets included. A few inputs are too big or too odd to
keep as files (a 100,000-character line, 10,000 nested parentheses); they are
written by :data:`GENERATED` and only their ``.err`` is stored.

Regenerate after an intended change of a message::

    BANDO_UPDATE_GOLDEN=1 pytest tests/dsl

and read the diff: every message is part of the user interface.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "check"
UPDATE = os.environ.get("BANDO_UPDATE_GOLDEN") == "1"

HEADER = 'call "Bando reti d\'impresa 2025" version "1" {\n  authority "Regione Puglia"\n}\n\ninput { firms: int }\n\n'

#: inputs written by the test: name -> bytes
GENERATED = {
    # one line of 100,000+ characters with an error near its end (long names: the line stays
    # under the limit of words and symbols, dsl.limits)
    "long_line": (HEADER.replace("firms", "f" * 40) + "let total = " + " + ".join(["f" * 40] * 2_300)
                  + " + @firms\n").encode(),
    # 5,000 parentheses around a name (far more than Python's recursion limit): harmless, the policy is fine
    "nested_parens": (HEADER + "let total = " + "(" * 5_000 + "firms" + ")" * 5_000 + "\n\n"
                      "eligibility {\n  gate min_firms: total >= 5\n}\n").encode(),
    # 2,500 nested sums in parentheses
    "nested_parens_arith": (HEADER + "let total = " + "(1 + " * 2_500 + "firms" + ")" * 2_500 + "\n").encode(),
    # more words and symbols than dsl.limits allows: refused before parsing, pointing at the first one over
    "too_long": (HEADER + "".join(f"let x{i} = firms + {i}\n" for i in range(5_000))).encode(),
    # 10,000 parentheses never closed
    "nested_parens_unclosed": (HEADER + "let total = " + "(" * 10_000 + "firms\n").encode(),
    "nested_not": (HEADER + "eligibility {\n  gate g: " + "not " * 10_000 + "firms > 3\n}\n").encode(),
    "nested_minus": (HEADER + "let total = " + "-" * 10_000 + "firms\n").encode(),
}


def _cases():
    names = sorted(p.name[:-len(".bando")] for p in GOLDEN.glob("*.bando"))
    return names + sorted(GENERATED)


def test_enough_golden_cases():
    assert len(_cases()) >= 25


def _run_check(name, folder):
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        result = runner.invoke(main, ["check", f"{name}.bando"], catch_exceptions=True)
    finally:
        os.chdir(cwd)
    return result


@pytest.mark.parametrize("name", _cases())
def test_check_output_matches_golden(name, tmp_path):
    if name in GENERATED:
        (tmp_path / f"{name}.bando").write_bytes(GENERATED[name])
        folder = tmp_path
    else:
        folder = GOLDEN
    result = _run_check(name, folder)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    out = result.output
    assert "Traceback" not in out
    expected_file = GOLDEN / f"{name}.bando.err"
    if UPDATE:
        expected_file.write_text(out, encoding="utf-8")
    assert expected_file.exists(), f"no golden output for {name}: run BANDO_UPDATE_GOLDEN=1 pytest tests/dsl"
    assert out == expected_file.read_text(encoding="utf-8")
    has_errors = ": error[" in out or out.rstrip().endswith("errors found")
    assert result.exit_code == (1 if has_errors else 0), out


def test_no_stale_golden_outputs():
    """Every .err belongs to an input (renamed cases leave no orphans)."""
    names = set(_cases())
    stale = [p.name for p in GOLDEN.glob("*.err") if p.name[:-len(".bando.err")] not in names]
    assert not stale


def test_check_in_a_real_process_never_prints_a_traceback(tmp_path):
    """The installed command, in a subprocess: exit 1 on errors, 0 when clean, never a traceback."""
    broken = [str(p) for p in sorted(GOLDEN.glob("*.bando"))]
    for name, data in GENERATED.items():
        path = tmp_path / f"{name}.bando"
        path.write_bytes(data)
        broken.append(str(path))
    missing = str(tmp_path / "does-not-exist.bando")
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "check", *broken, missing],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "policy file not found" in proc.stderr

    clean = tmp_path / "clean.bando"
    clean.write_text(HEADER + "eligibility {\n  gate min_firms: firms >= 5\n}\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "check", str(clean)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("clean.bando: ok")
    assert "Traceback" not in proc.stderr


def test_warnings_only_exit_zero():
    result = _run_check("unused_inputs", GOLDEN)
    assert result.exit_code == 0
    assert "warning[W103]: input field `employees` is never used" in result.output
