"""What `bando check` says about a policy text, for tests that assert on diagnostic codes.

Import it as the test files of this folder import each other (tests/engine is on sys.path, the
rootdir-less layout): ``from check_helpers import codes``.
"""
from __future__ import annotations

from dsl.errors import PolicyError
from dsl.source import Source
from engine.evaluate.policy import check_source


def diagnostics(text: str, name: str = "policy.bando") -> list:
    """Every diagnostic the checker gives ``text``; a text that does not parse raises
    :class:`~dsl.errors.PolicyError` with its syntax errors."""
    return check_source(Source(text, name)).diagnostics


def codes(text: str, name: str = "policy.bando") -> list[str]:
    """The codes of every diagnostic of ``text``, errors and warnings, syntax errors included."""
    try:
        return [d.code for d in diagnostics(text, name)]
    except PolicyError as e:
        return [d.code for d in e.diagnostics]


def error_codes(text: str, name: str = "policy.bando") -> list[str]:
    """The codes of the errors of ``text`` (warnings left out), syntax errors included."""
    try:
        return [d.code for d in diagnostics(text, name) if d.severity == "error"]
    except PolicyError as e:
        return [d.code for d in e.diagnostics if d.severity == "error"]
