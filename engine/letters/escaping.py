"""Escaping of applicant data for the letter formats.

An HTML letter escapes data with ``markupsafe.escape`` (Jinja's autoescape).
A Markdown letter needs more: applicant text must neither become Markdown
(``**bold**``, ``[a link](http://...)``, a ``# heading`` or a table cell
break ``|``) nor HTML, which Markdown passes through
(``<img src=x onerror=alert(1)>``). :func:`escape_markdown` does both, and
is the escape function of the Markdown letters' environment, applied where
HTML letters apply ``markupsafe.escape``. Plain-text letters are not escaped.

Whatever the format, :func:`clean_text` first drops the control characters of
the data a letter is given (the result and the call): a terminal or a printer
obeys them — an ESC sequence could repaint the screen of whoever runs ``cat``
on a letter, a bidirectional override could show "0002" as "2000", a carriage
return or a form feed would start a line of its own in a plain-text letter.

>>> str(escape_markdown("**<img src=x onerror=alert(1)>** & [x](y)"))
'\\\\*\\\\*&lt;img src=x onerror=alert(1)&gt;\\\\*\\\\* &amp; \\\\[x\\\\](y)'
"""

from __future__ import annotations

import re
from typing import Any, Callable

from markupsafe import Markup, escape as escape_html

__all__ = ["clean_text", "code_span", "escape_for", "escape_markdown"]

# Characters that start inline Markdown anywhere in a line (CommonMark and the
# GitHub extensions: tables, strikethrough); a backslash makes each literal.
_INLINE = re.compile(r"([\\`*_\[\]|~])")
# What starts a block when it opens a line (the value may be printed at the
# start of one): a heading "# ", a list item "- " / "+ " / "1. " / "1) ", a
# setext underline "===" / "---". "2013.1" or "-5" start nothing and stay as they are.
_LINE_START = re.compile(r"^(\s*)(#{1,6}(?=\s|$)|[-+](?=\s|$)|\d{1,9}(?=[.)](?:\s|$))|[=-](?=[=\s-]*$))")
_NEWLINES = re.compile(r"\r\n|\r|\n|\u2028|\u2029")
# What escape_markdown changes anywhere in a text: the inline characters, the line breaks and
# < > & (quotes come back as they were). A text with none of them is only stripped, and checked for
# a block start.
_SPECIAL = re.compile(r"[\\`*_\[\]|~<>&\r\n\u2028\u2029]")


# C0 controls but tab and line feed, DEL, C1 controls, and the bidirectional embeddings, overrides and
# isolates (U+202A-U+202E, U+2066-U+2069); the Unicode line and paragraph separators become spaces
_CONTROLS = {c: None for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0),
                               *range(0x202A, 0x202F), *range(0x2066, 0x206A)]}
_CONTROLS.update({0x2028: " ", 0x2029: " "})


def clean_text(value: Any) -> Any:
    """``value`` (a result or call as JSON data: dicts, lists, texts, numbers) with the control characters
    of every text dropped (see the module docstring); tab and line feed stay."""
    # Every character of _CONTROLS is non-printable for Python (Cc, Cf, Zl, Zp), and most texts of a
    # result have none: isprintable() answers in one C loop where translate() builds a copy (it is also
    # false for a tab, a line feed or a no-break space, which translate() then keeps).
    cls = type(value)
    if cls is str:
        return value if value.isprintable() else value.translate(_CONTROLS)
    if cls is dict:
        return {k: _clean_item(v) for k, v in value.items()}
    if cls is list:
        return [_clean_item(v) for v in value]
    if isinstance(value, str):  # a subclass: translate() gives a plain str, as it always did
        return value.translate(_CONTROLS)
    if isinstance(value, dict):
        return {k: clean_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_text(v) for v in value]
    return value


def _clean_item(value: Any) -> Any:
    # the leaves of a result (numbers, booleans, None) are returned without a call of clean_text
    cls = type(value)
    if cls is str:
        return value if value.isprintable() else value.translate(_CONTROLS)
    if cls is int or cls is float or cls is bool or value is None:
        return value
    return clean_text(value)


def escape_markdown(value: Any) -> Markup:
    """``value`` as Markdown text that shows exactly ``str(value)``: inline
    markup characters backslash-escaped, ``< > &`` as HTML entities, line
    breaks as spaces, white space at either end dropped. Markup is returned
    as it is."""
    if hasattr(value, "__html__"):
        return Markup(value.__html__())
    text = str(value)
    if _SPECIAL.search(text) is None:
        # most values (names, amounts, reasons) hold nothing to escape: only a block start can apply
        text = text.strip()
        if _LINE_START.match(text) is None:
            return Markup(text)
    return _escape_markdown_text(text)


def _escape_markdown_text(text: str) -> Markup:
    """The whole of :func:`escape_markdown` for a text."""
    # line breaks could start a block; white space around the value could make
    # it a code block (a tab at the start of a line) or stop ** around it from
    # being bold: neither shows in the letter, so it goes
    text = _NEWLINES.sub(" ", text).strip()
    text = _INLINE.sub(r"\\\1", text)
    text = _LINE_START.sub(lambda m: m[1] + ("\\" + m[2] if not m[2][0].isdigit() else m[2] + "\\"), text)
    # the number's '.' or ')' is escaped ("2013\. ..."), not the digits
    return Markup(str(escape_html(text)).replace("&#39;", "'").replace("&#34;", '"'))


def code_span(value: Any, fmt: str):
    """``value`` shown literally as code: a Markdown code span whose fence is
    longer than any run of backticks inside, ``<code>`` in HTML, the text
    itself in plain text."""
    text = _NEWLINES.sub(" ", str(value))
    if fmt == "md":
        longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
        fence = "`" * (longest + 1)
        pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
        return Markup(f"{fence}{pad}{text}{pad}{fence}")
    if fmt == "html":
        return Markup("<code>%s</code>") % text
    return text


def escape_for(fmt: str) -> Callable[[Any], Markup] | None:
    """The escape function of a letter format (None: no escaping)."""
    return {"html": escape_html, "md": escape_markdown}.get(fmt)
