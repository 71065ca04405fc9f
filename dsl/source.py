"""Source text and positions.

Every AST node carries a :class:`Span` so that errors, explanations and the
formatter can point back at the policy text (Catala's ``Mark.ed``).
"""
from __future__ import annotations

import bisect
import functools
import hashlib
import re

import attrs

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@attrs.frozen
class Span:
    """A region of a source file; lines and columns are 1-based."""

    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0

    @classmethod
    def from_meta(cls, meta) -> "Span | None":
        if getattr(meta, "empty", True):
            return None
        return cls(meta.line, meta.column, meta.end_line, meta.end_column,
                   meta.start_pos, meta.end_pos)

    @classmethod
    def from_token(cls, tok) -> "Span":
        return cls(tok.line, tok.column, tok.end_line or tok.line,
                   tok.end_column or tok.column, tok.start_pos or 0, tok.end_pos or 0)

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


@attrs.frozen
class Source:
    """A policy's text and the name to show in messages (usually its path)."""

    text: str
    name: str = "<policy>"
    path: str | None = None

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @functools.cached_property
    def _line_starts(self) -> list[int]:
        # once per source: splitting the whole text for every diagnostic made a policy
        # with thousands of errors quadratic to report
        starts = [0]
        find = self.text.find
        i = find("\n")
        while i >= 0:
            starts.append(i + 1)
            i = find("\n", i + 1)
        return starts

    def line_text(self, line: int) -> str:
        starts = self._line_starts
        if not 0 < line <= len(starts):
            return ""
        end = starts[line] - 1 if line < len(starts) else len(self.text)
        return self.text[starts[line - 1]:end]

    def position(self, offset: int) -> tuple[int, int]:
        """1-based ``(line, column)`` of a character offset."""
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def excerpt(self, span: Span, width: int = 160) -> list[str]:
        """The source line of ``span`` with a caret under its column.

        Very long lines are cut to a window around the column so an error in
        a 100,000-character line stays readable.
        """
        text = self.line_text(span.line).replace("\t", " ")
        # control characters (NUL, ESC, ...) would garble the terminal: show them as ␀, ␛, ...
        text = _CONTROL.sub(lambda m: chr(0x2400 + ord(m.group(0))) if m.group(0) != "\x7f" else "\u2421", text)
        col = max(span.column, 1)
        start = 0
        if len(text) > width:
            start = max(0, col - width // 2)
            text = ("…" if start else "") + text[start:start + width] + "…"
            col = col - start + (1 if start else 0)
        if span.end_line == span.line and span.end_column > span.column:
            length = min(span.end_column - span.column, max(1, len(text) - col + 1))
        else:
            length = 1
        gutter = str(span.line)
        return [
            f"  {gutter} | {text}",
            f"  {' ' * len(gutter)} | {' ' * (col - 1)}{'^' * max(1, length)}",
        ]
