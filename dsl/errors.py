"""Diagnostics: every problem found in a policy, with the place it comes from.

A :class:`Diagnostic` renders the way compilers do::

    policies/salentonet.bando:14:22: error: cannot compare money with a number
       14 |   gate cap "Tetto": project.requested <= 50000
          |                                         ^
      hint: write `50000 EUR`

:class:`PolicyError` carries a list of them; the CLI prints them all and exits 1.
"""
from __future__ import annotations

import attrs

from .source import Source, Span


@attrs.frozen
class Diagnostic:
    """One problem: ``severity`` is ``"error"`` or ``"warning"``."""

    message: str
    span: Span | None
    source: Source | None = None
    severity: str = "error"
    hint: str | None = None
    notes: tuple[str, ...] = ()
    code: str = "E000"  # never left so: every place that reports a problem gives its code
    #: show the source line under the message; off for a file that is not a policy
    #: (its lines may be anything: a password file, the process's environment)
    quote: bool = True

    def render(self) -> str:
        where = self.source.name if self.source is not None else "<policy>"
        if self.span is not None:
            where += f":{self.span.line}:{self.span.column}"
        lines = [f"{where}: {self.severity}[{self.code}]: {self.message}"]
        lines.extend(f"    {n}" for n in self.notes)
        if self.span is not None and self.source is not None and self.quote:
            lines.extend(self.source.excerpt(self.span))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The diagnostic for a machine (``bando check --format json``): positions 1-based."""
        span = self.span
        return {"file": self.source.name if self.source is not None else None, "code": self.code,
                "severity": self.severity, "message": self.message,
                "line": span.line if span else None, "column": span.column if span else None,
                "end_line": span.end_line if span else None, "end_column": span.end_column if span else None,
                "notes": list(self.notes), "hint": self.hint}

    def sort_key(self):
        name = self.source.name if self.source is not None else ""
        pos = (self.span.line, self.span.column) if self.span is not None else (0, 0)
        return (name, pos, self.message)


#: stable codes of the reading of a policy (the checker's codes are written where it finds each
#: problem, dsl/checker.py; docs/diagnostics.md lists every code with an example and the fix)
UNEXPECTED_CHARACTER = "E001"
ENDS_TOO_EARLY = "E002"
UNEXPECTED_WORD = "E003"
NESTED_TOO_DEEPLY = "E004"
THOUSANDS_SEPARATOR = "E018"  # `400.000 EUR`: a dot groups thousands in Italian, but is the decimal point here
UNKNOWN_SECTION = "E019"  # a misspelt section word (`eligibilty {`)

#: stable codes of the problems with the files themselves (not with what a policy says)
NOT_A_POLICY = "E901"  # the file does not look like a bando policy (binary, another format): its lines are never shown
TOO_LARGE = "E902"  # over a limit of dsl.limits
PATH_REFUSED = "E903"  # a path the policy names is outside its tree, or not a regular file
FILE_NOT_FOUND = "E904"  # the policy, or a shared module it uses, does not exist
UNREADABLE = "E905"  # the file exists but cannot be read, or is not UTF-8 text


class PolicyError(Exception):
    """A policy could not be loaded: one or more error diagnostics."""

    def __init__(self, diagnostics):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        # the exception's args stay short (a log line, a traceback, ``repr``): the report, with the
        # policy lines it quotes, is ``str(error)``
        super().__init__(self.summary())

    def summary(self) -> str:
        """``E201 at salentonet.bando:48:31 (and 2 more)``: which problem, where, how many."""
        if not self.diagnostics:
            return "no diagnostics"
        d = self.diagnostics[0]
        where = d.source.name if d.source is not None else "<policy>"
        if d.span is not None:
            where += f":{d.span.line}:{d.span.column}"
        more = len(self.diagnostics) - 1
        return f"{d.code} at {where}" + (f" (and {more} more)" if more else "")

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"PolicyError({self.summary()!r})"

    @property
    def errors(self):
        return [d for d in self.diagnostics if d.severity == "error"]

    def render(self) -> str:
        body = "\n".join(d.render() for d in self.diagnostics)
        n = len([d for d in self.diagnostics if d.severity == "error"])
        return body + (f"\n{n} error{'s' if n != 1 else ''} found" if n > 1 else "")
