"""Issue 12: mutated policies never crash bando — they load, or they fail with positioned diagnostics.

Each mutant is one of the shipped policies (policies/*.bando) with one to
three edits: a run of bytes, a line or a word deleted, duplicated or moved,
or a random word or character inserted (keywords, operators, numbers, quotes,
braces, NUL, non-ASCII). It is checked in place of the original (its
`use "common/eu.bando"` and its example files are the repository's own) and,
if it checks, compiled. Every mutant must either load or raise
:class:`PolicyError` whose every error points at a place in a file; any other
exception is a bug. Nothing is written anywhere.

Bounded for CI by ``max_examples``. For a long run by hand, with counts::

    python tests/security/test_fuzz_policies.py --mutants 5000 [--seed 1]
"""
from __future__ import annotations

import random
import re
import sys
import traceback
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

REPO = Path(__file__).resolve().parents[2]
if __name__ == "__main__":  # run by hand: the repository's packages
    sys.path.insert(0, str(REPO))

from dsl.errors import PolicyError  # noqa: E402
from dsl.source import Source  # noqa: E402
from engine.evaluate.policy import check_source, compile_checked  # noqa: E402

POLICIES = sorted((REPO / "policies").glob("*.bando"))
TEXTS = {p: p.read_text(encoding="utf-8") for p in POLICIES}

#: what an edit may insert: words of the language, operators, literals, and characters that trip lexers
VOCABULARY = [
    "call", "use", "record", "input", "let", "eligibility", "score", "ranking", "examples", "gate",
    "criterion", "sub", "case", "expect", "otherwise", "max", "pass", "min", "count", "share", "sum", "all",
    "any", "none", "in", "not", "and", "or", "if", "then", "else", "of", "between", "is", "missing", "order",
    "by", "desc", "asc", "reserve", "unique", "keep", "ties", "within", "seed", "draw", "grant", "rounded",
    "down", "to", "list", "int", "money", "text", "date", "bool", "optional", "true", "false",
    "0", "1", "-1", "100_000", "1.5", "50%", "2025-06-30", "2025-06-30 12:00", "3 years", "EUR", "USD",
    "{", "}", "(", ")", ",", ":", ".", "..", "->", "=", "==", ">=", "<", "+", "-", "*", "/", "#", '"',
    '"text"', '"a\\"b"', "x", "firms", "network", "project", "score", "\n", "  ", "\t",
    "\x00", "\x1b", "€", "\ufeff", "à", "\u202e", "'", "@", "$", "\\",
]
_WORDS = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\w+|\s+|\S')


def mutate(text: str, draw_int, draw_choice) -> str:
    """One edit of ``text``, positions drawn with ``draw_int(lo, hi)`` (inclusive) and ``draw_choice``."""
    kind = draw_choice(["delete bytes", "delete line", "duplicate line", "move line", "delete word",
                        "duplicate word", "insert word"])
    if kind.endswith("line"):
        lines = text.split("\n")
        i = draw_int(0, len(lines) - 1)
        if kind == "delete line":
            del lines[i]
        elif kind == "duplicate line":
            lines.insert(i, lines[i])
        else:
            line = lines.pop(i)
            lines.insert(draw_int(0, len(lines)), line)
        return "\n".join(lines)
    if kind == "delete bytes":
        i = draw_int(0, max(0, len(text) - 1))
        return text[:i] + text[i + draw_int(1, 40):]
    words = _WORDS.findall(text)
    i = draw_int(0, len(words) - 1)
    if kind == "delete word":
        del words[i]
    elif kind == "duplicate word":
        words.insert(i, words[i])
    else:
        words.insert(i, draw_choice(VOCABULARY) + draw_choice(["", " ", "\n"]))
    return "".join(words)


def outcome(path: Path, text: str) -> str:
    """``"loaded"`` or ``"refused"``; raises AssertionError (or the unexpected exception) otherwise."""
    source = Source(text, path.name, str(path))
    try:
        cp = check_source(source)
        if not cp.errors:
            compile_checked(cp)
            return "loaded"
        diagnostics = cp.diagnostics
    except PolicyError as e:
        diagnostics = e.diagnostics
    errors = [d for d in diagnostics if d.severity == "error"]
    assert errors, "refused without an error"
    for d in errors:
        assert d.span is not None and d.span.line >= 1 and d.span.column >= 1, d.render()
        rendered = d.render()
        assert "Traceback" not in rendered and "\x00" not in rendered and "\x1b" not in rendered, rendered
    return "refused"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_mutated_policy_loads_or_fails_with_positioned_diagnostics(data):
    path = data.draw(st.sampled_from(POLICIES), label="policy")
    text = TEXTS[path]
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        text = mutate(text, lambda lo, hi: data.draw(st.integers(lo, hi)), lambda xs: data.draw(st.sampled_from(xs)))
    outcome(path, text)


def test_the_shipped_policies_themselves_load():
    assert {outcome(p, t) for p, t in TEXTS.items()} == {"loaded"}


def main(argv=None) -> int:
    import argparse
    import time
    ap = argparse.ArgumentParser(description="mutate the shipped policies and count what happens")
    ap.add_argument("--mutants", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    counts = {"loaded": 0, "refused": 0, "bad diagnostics": 0, "crashed": 0}
    slowest = (0.0, None)
    t_start = time.perf_counter()
    for n in range(args.mutants):
        path = rng.choice(POLICIES)
        text = TEXTS[path]
        for _ in range(rng.randint(1, 3)):
            text = mutate(text, rng.randint, rng.choice)
        t0 = time.perf_counter()
        try:
            counts[outcome(path, text)] += 1
        except AssertionError as e:
            counts["bad diagnostics"] += 1
            print(f"mutant {n} of {path.name}: bad diagnostics: {e}", file=sys.stderr)
        except Exception:
            counts["crashed"] += 1
            print(f"mutant {n} of {path.name}: crashed\n{traceback.format_exc()}", file=sys.stderr)
        took = time.perf_counter() - t0
        if took > slowest[0]:
            slowest = (took, n)
    total = time.perf_counter() - t_start
    print(f"{args.mutants} mutants (seed {args.seed}): " + ", ".join(f"{v} {k}" for k, v in counts.items())
          + f"; {total:.0f} s in all, slowest {slowest[0] * 1000:.0f} ms (mutant {slowest[1]})")
    return 1 if counts["bad diagnostics"] or counts["crashed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
