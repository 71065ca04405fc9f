"""Every example in docs/language.md is checked.

Code blocks are marked by their info string:

* ```` ```bando ```` — a complete policy: it must check with no error and no
  warning;
* ```` ```bando prelude ```` — a complete policy (warnings allowed) that the
  following ```` ```bando-expr ```` blocks are checked against;
* ```` ```bando-expr ```` — one expression per line: each must check inside
  the last prelude (as ``let doc_expr_N = ...``);
* ```` ```bando-fragment ```` — a piece of a policy, not checked;
* ```` ```text ```` blocks in "Errors you may meet" — real ``bando check``
  output: every line must appear in the golden output of the file it names
  (tests/golden/check/NAME.bando.err).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from dsl.errors import PolicyError
from dsl.fmt import format_policy
from dsl.parser import parse
from dsl.source import Source
from engine.evaluate.policy import check_source

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "language.md"
GOLDEN = ROOT / "tests" / "golden" / "check"

FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```$", re.S | re.M)


def _blocks():
    text = DOC.read_text(encoding="utf-8")
    errors_at = text.find("## Errors you may meet")
    out = []
    for m in FENCE.finditer(text):
        info = m.group(1).strip()
        line = text.count("\n", 0, m.start()) + 1
        out.append((info, m.group(2), line, errors_at != -1 and m.start() > errors_at))
    return out


BLOCKS = _blocks()


def _check(text, where):
    try:
        return check_source(Source(text, where))
    except PolicyError as e:
        pytest.fail(f"{where}: does not parse\n{e.render()}")


def _render(diags):
    return "\n".join(d.render() for d in diags)


def test_doc_has_examples():
    kinds = [b[0] for b in BLOCKS]
    assert kinds.count("bando") >= 6
    assert "bando prelude" in kinds
    assert kinds.count("bando-expr") >= 6


COMPLETE = [(c, n) for i, c, n, _ in BLOCKS if i == "bando"]


@pytest.mark.parametrize("code,line", COMPLETE, ids=[f"line{n}" for _, n in COMPLETE])
def test_complete_examples_check_clean(code, line):
    where = f"docs/language.md:{line}"
    cp = _check(code, where)
    assert not cp.diagnostics, _render(cp.diagnostics)
    # and they read back the same after formatting
    policy = parse(code)
    assert parse(format_policy(policy)) == policy


def _expr_cases():
    cases, prelude = [], None
    for info, code, line, _ in BLOCKS:
        if info == "bando prelude":
            prelude = (code, line)
        elif info == "bando-expr":
            assert prelude is not None, f"docs/language.md:{line}: a bando-expr block needs a prelude above it"
            for i, expr in enumerate(code.splitlines()):
                if expr.strip() and not expr.strip().startswith("#"):
                    cases.append((prelude[0], expr.strip(), line + 1 + i))
    return cases


PRELUDES = [(c, n) for i, c, n, _ in BLOCKS if i == "bando prelude"]


@pytest.mark.parametrize("code,line", PRELUDES, ids=[f"line{n}" for _, n in PRELUDES])
def test_prelude_checks(code, line):
    cp = _check(code, f"docs/language.md:{line}")
    assert not cp.errors, _render(cp.errors)


EXPRS = _expr_cases()


def test_expression_examples_check():
    """All expression examples at once (one policy per prelude keeps this fast)."""
    assert EXPRS
    by_prelude: dict[str, list] = {}
    for prelude, expr, line in EXPRS:
        by_prelude.setdefault(prelude, []).append((expr, line))
    for prelude, exprs in by_prelude.items():
        lets = "\n".join(f"let doc_expr_{line} = {expr}" for expr, line in exprs)
        cp = _check(prelude + "\n" + lets + "\n", "docs/language.md")
        problems = []
        for d in cp.errors:
            # map the message back to the doc line of the expression
            src_line = d.source.line_text(d.span.line) if d.span else ""
            m = re.match(r"let doc_expr_(\d+) = ", src_line)
            problems.append(f"docs/language.md:{m.group(1) if m else '?'}: {d.message}")
        assert not problems, "\n".join(problems)


MESSAGE = re.compile(r"^(?P<file>[\w.-]+\.bando)(:\d+:\d+)?: (error|warning|ok)")


def _error_lines():
    out = []
    for info, code, line, in_errors in BLOCKS:
        if info != "text" or not in_errors:
            continue
        current = None
        for i, ln in enumerate(code.splitlines()):
            m = MESSAGE.match(ln)
            if m:
                current = m.group("file")
            out.append((current, ln, line + 1 + i))
    return out


def test_error_section_quotes_real_output():
    lines = _error_lines()
    assert len(lines) >= 40
    missing = []
    for name, text, line in lines:
        assert name is not None, f"docs/language.md:{line}: output line before any file name: {text!r}"
        golden = GOLDEN / f"{name}.err"
        assert golden.exists(), f"docs/language.md:{line}: no golden output {golden.name}"
        if text not in golden.read_text(encoding="utf-8").splitlines():
            missing.append(f"docs/language.md:{line}: not in {golden.name}: {text!r}")
    assert not missing, "\n".join(missing)
