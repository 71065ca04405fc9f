"""How large a policy may be: the limits that keep checking and loading it quick.

A policy may come from someone else, so its size is bounded before the
expensive work starts. The time bando spends on a policy grows with the
number of its *words and symbols* (names, numbers, texts in quotes,
operators, comments: what the lexer reads as one token each), not with its
bytes — ``{1,1,1,…}`` costs five times more per byte than a typical policy —
so that is the limit that bounds the time; the byte limit bounds what is read
from disk. Both count the policy file and every module it uses, together:
splitting a policy into modules does not lift them.

Measured on the project's shared 2-core machine while it was busy (load 6,
``benchmarks/bench_parse.py``, best of 5 CPU times): parsing costs 20–28 µs
per word or symbol whatever the shape, checking 2–6 more, compiling
(``load_policy``) about 15 more; so 12,000 keeps ``bando check`` under about a
third of a second and ``load_policy`` under about half a second. The policies
shipped with bando have 4.9 to 6.5 words and symbols a line (the largest about
1,300): a 2,000-line call written like them has about 12,000 (the generated one
of the benchmark, 11,337, checks in 0.36 s). A call twice as dense, 23,000 words
and symbols in 2,000 lines, checks in 0.7 s on the busy machine: not "well
under a second", which is why the limit was not raised with the parser's speed-ups.
"""
from __future__ import annotations

import attrs

#: the policy file and its modules together, as read from disk
MAX_POLICY_BYTES = 256 * 1024
#: words and symbols of the policy and its modules together (see the module docstring)
MAX_POLICY_TOKENS = 12_000
#: files named by `use`, directly or through other modules
MAX_MODULES = 64


def describe_bytes(n: int) -> str:
    """``262144`` -> ``"256 KiB"`` (the limits are whole KiB)."""
    return f"{n // 1024:,} KiB" if n >= 1024 and n % 1024 == 0 else f"{n:,} bytes"


@attrs.define
class Budget:
    """The limits for one policy and its modules, and how much of them the files read so far used."""

    max_bytes: int = MAX_POLICY_BYTES
    max_tokens: int = MAX_POLICY_TOKENS
    max_modules: int = MAX_MODULES
    bytes: int = 0
    tokens: int = 0
    modules: int = 0
