"""Escaping of applicant data for the letter formats.

An HTML letter escapes data with ``markupsafe.escape`` (Jinja's autoescape).
A Markdown letter needs more: applicant text must neither become Markdown
(``**bold**``, ``[a link](http://...)``, a ``# heading`` or a table cell
break ``|``) nor HTML, which Markdown passes through
(``<img src=x onerror=alert(1)>``). :func:`escape_markdown` does both, and
is the escape function of the Markdown letters' environment, applied where
HTML letters apply ``markupsafe.escape``. Plain-text letters are not escaped.

>>> str(escape_markdown("**<img src=x onerror=alert(1)>** & [x](y)"))
'\\\\*\\\\*&lt;img src=x onerror=alert(1)&gt;\\\\*\\\\* &amp; \\\\[x\\\\](y)'
"""

from __future__ import annotations

import re
from typing import Any, Callable

from markupsafe import Markup, escape as escape_html

__all__ = ["code_span", "escape_for", "escape_markdown"]

# Characters that start inline Markdown anywhere in a line (CommonMark and the
# GitHub extensions: tables, strikethrough); a backslash makes each literal.
_INLINE = re.compile(r"([\\`*_\[\]|~])")
# What starts a block when it opens a line (the value may be printed at the
# start of one): a heading "# ", a list item "- " / "+ " / "1. " / "1) ", a
# setext underline "===" / "---". "2013.1" or "-5" start nothing and stay as they are.
_LINE_START = re.compile(r"^(\s*)(#{1,6}(?=\s|$)|[-+](?=\s|$)|\d{1,9}(?=[.)](?:\s|$))|[=-](?=[=\s-]*$))")
_NEWLINES = re.compile(r"\r\n|\r|\n|\u2028|\u2029")


def escape_markdown(value: Any) -> Markup:
    """``value`` as Markdown text that shows exactly ``str(value)``: inline
    markup characters backslash-escaped, ``< > &`` as HTML entities, line
    breaks as spaces, white space at either end dropped. Markup is returned
    as it is."""
    if hasattr(value, "__html__"):
        return Markup(value.__html__())
    # line breaks could start a block; white space around the value could make
    # it a code block (a tab at the start of a line) or stop ** around it from
    # being bold: neither shows in the letter, so it goes
    text = _NEWLINES.sub(" ", str(value)).strip()
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
