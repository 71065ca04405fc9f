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
    code: str = "E000"
    #: show the source line under the message; off for a file that is not a policy
    #: (its lines may be anything: a password file, the process's environment)
    quote: bool = True

    def render(self) -> str:
        where = self.source.name if self.source is not None else "<policy>"
        if self.span is not None:
            where += f":{self.span.line}:{self.span.column}"
        lines = [f"{where}: {self.severity}: {self.message}"]
        lines.extend(f"    {n}" for n in self.notes)
        if self.span is not None and self.source is not None and self.quote:
            lines.extend(self.source.excerpt(self.span))
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def sort_key(self):
        name = self.source.name if self.source is not None else ""
        pos = (self.span.line, self.span.column) if self.span is not None else (0, 0)
        return (name, pos, self.message)


#: stable codes of the problems with the files themselves (not with what a policy says)
NOT_A_POLICY = "E901"  # the file does not look like a bando policy: its lines are never shown
TOO_LARGE = "E902"  # over a limit of dsl.limits
PATH_REFUSED = "E903"  # a path the policy names is outside its tree, or not a regular file


class PolicyError(Exception):
    """A policy could not be loaded: one or more error diagnostics."""

    def __init__(self, diagnostics):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__(self.render())

    @property
    def errors(self):
        return [d for d in self.diagnostics if d.severity == "error"]

    def render(self) -> str:
        body = "\n".join(d.render() for d in self.diagnostics)
        n = len([d for d in self.diagnostics if d.severity == "error"])
        return body + (f"\n{n} error{'s' if n != 1 else ''} found" if n > 1 else "")
