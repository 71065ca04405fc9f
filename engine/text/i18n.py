"""The message catalogue: every sentence and word bando writes, per language, as gettext data.

Each language is one file, ``engine/text/locale/<lang>/LC_MESSAGES/bando.po``,
read with Babel when a language is first asked for (no compiled ``.mo`` is
kept: the ``.po`` is the only copy, so it can never be stale). A message id
names what the text is for and its slots name the facts it writes::

    msgid "validate.expected"
    msgstr "atteso {what}, indicato {given}"

The English catalogue is the reference: it has every id, and the other
languages translate it. A language is available when its catalogue exists,
in ``engine/text/locale`` or in a folder of ``BANDO_LOCALE_PATH`` (folders
separated as in ``PATH``, searched first): adding German is ``de/LC_MESSAGES/
bando.po``, no code.

Fallback, so that a user never sees a message id: a message missing or left
empty in a language (or marked fuzzy) is taken from English; English itself
is complete (an empty English text is meant: there is nothing to write) (``tests/engine/test_i18n.py``), and a lookup of an id that no
catalogue has is a programming error (KeyError), never a text.

Messages are grouped by their id's first part (``explain``, ``ranking``,
``letters`` …); :func:`table` gives one group as a plain dict keyed by the
rest of the id, the form the renderers look sentences up in, one dict lookup
each. Plural messages are tuples of forms; :func:`plural` picks the form with
the catalogue's own ``Plural-Forms`` rule.
"""
from __future__ import annotations

import functools
import gettext
import os
from pathlib import Path

__all__ = ["DOMAIN", "REFERENCE", "languages", "catalogue", "table", "text", "plural", "locale_dirs", "Message", "Joined",
           "render",
           "UnknownLanguage"]

DOMAIN = "bando"
REFERENCE = "en"
SHIPPED = Path(__file__).resolve().parent / "locale"


class UnknownLanguage(ValueError):
    """A language with no catalogue."""


def locale_dirs() -> tuple[Path, ...]:
    """Where catalogues are looked for: ``BANDO_LOCALE_PATH`` first, then the shipped ones."""
    extra = os.environ.get("BANDO_LOCALE_PATH", "")
    return tuple(Path(p) for p in extra.split(os.pathsep) if p) + (SHIPPED,)


def languages() -> tuple[str, ...]:
    """The languages that have a catalogue, sorted."""
    return _languages(locale_dirs())


@functools.lru_cache(maxsize=8)
def _languages(dirs) -> tuple[str, ...]:
    found = set()
    for d in dirs:
        if d.is_dir():
            found.update(p.name for p in d.iterdir() if (p / "LC_MESSAGES" / f"{DOMAIN}.po").is_file())
    return tuple(sorted(found))


class Catalogue:
    """One language's messages: ``messages`` maps an id to its text, or to a tuple of plural forms."""

    def __init__(self, lang: str, messages: dict, plural_index):
        self.lang = lang
        self.messages = messages
        self.plural_index = plural_index


def catalogue(lang: str) -> Catalogue:
    """The catalogue of ``lang`` completed from English (see the module's fallback rules)."""
    return _catalogue(lang, locale_dirs())


@functools.lru_cache(maxsize=16)
def _catalogue(lang, dirs) -> Catalogue:
    own = _read(lang, dirs)
    if own is None:
        raise UnknownLanguage(f"no message catalogue for language {lang!r}: "
                              f"expected one of {', '.join(_languages(dirs))}")
    messages, index = own
    if lang != REFERENCE:
        reference, _ = _read(REFERENCE, dirs)
        messages = {**reference, **messages}
    return Catalogue(lang, messages, index)


def _read(lang, dirs):
    """``(id -> text or forms, plural index function)`` of the first catalogue of ``lang``, or None."""
    for d in dirs:
        path = d / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
        if path.is_file():
            break
    else:
        return None
    from babel.messages.pofile import read_po  # here: a command that writes no text does not pay for Babel
    with open(path, "rb") as f:
        po = read_po(f, locale=None, domain=DOMAIN)
    # in the reference an empty text is meant: write nothing (an English letter has no "Spett.le")
    reference = lang == REFERENCE
    messages = {}
    for m in po:
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, tuple):  # plural: the id of the singular names it
            if all(m.string):
                messages[m.id[0]] = tuple(m.string)
        elif m.string or reference:
            messages[m.id] = m.string
    # gettext's own reading of the C expression in the catalogue's Plural-Forms header
    return messages, gettext.c2py(po.plural_expr or "(n != 1)")


@functools.lru_cache(maxsize=256)
def table(lang: str, group: str) -> dict:
    """The messages of ``group`` in ``lang``, keyed by the id without ``group.`` (a shared dict: do not change it)."""
    cat = catalogue(lang)
    prefix = group + "."
    return {k[len(prefix):]: v for k, v in cat.messages.items() if k.startswith(prefix)}


def text(lang: str, msgid: str, **slots) -> str:
    """The message ``msgid`` in ``lang`` with its slots filled."""
    found = catalogue(lang).messages[msgid]
    if isinstance(found, tuple):
        raise TypeError(f"{msgid} has plural forms: use plural()")
    return found.format(**slots) if slots else found


def plural(lang: str, msgid: str, n: int, **slots) -> str:
    """The form of plural message ``msgid`` for ``n`` in ``lang``; ``{n}`` is among its slots."""
    cat = catalogue(lang)
    forms = cat.messages[msgid]
    if not isinstance(forms, tuple):
        raise TypeError(f"{msgid} has no plural forms: use text()")
    form = forms[min(cat.plural_index(n), len(forms) - 1)]
    return form.format(n=n, **slots)


def forms(lang: str, msgid: str):
    """``count -> template``: the form of plural message ``msgid`` that agrees with ``count``, its slots
    left to fill (a sentence built once and written for many applications: "1 su 4 soddisfa", "2 su 4
    soddisfano")."""
    cat = catalogue(lang)
    found = cat.messages[msgid]
    if not isinstance(found, tuple):
        raise TypeError(f"{msgid} has no plural forms: use text()")
    index, last = cat.plural_index, len(found) - 1
    return lambda count: found[min(index(count), last)]


def reset() -> None:
    """Forget the catalogues read so far (tests that add a language to ``BANDO_LOCALE_PATH``)."""
    _languages.cache_clear()
    _catalogue.cache_clear()
    table.cache_clear()


def extract_reference(fileobj, keywords, comment_tags, options):
    """Babel extraction method: the ids of the English catalogue, with the English text as a comment.

    ``babel.cfg`` points ``pybabel extract`` here, so the template
    (``bando.pot``) lists every id, including those the code builds from
    parts (``ranking.exhausted_reserve``), each with the reference text the
    translator works from.
    """
    from babel.messages.pofile import read_po
    po = read_po(fileobj, domain=DOMAIN)
    for m in po:
        if not m.id:
            continue
        english = " | ".join(m.string) if isinstance(m.id, tuple) else m.string
        yield (m.lineno, "ngettext" if isinstance(m.id, tuple) else None, m.id,
               [f"English: {english}"] + list(m.auto_comments))


class Message(str):
    """A message id with its slots; as a ``str`` it is its English text.

    Data problems are built as messages: their English text is the machine
    ``message`` of results.jsonl (docs/contracts.md), and :meth:`render`
    writes the same problem in the language of the result. A slot may itself
    be a Message (``what`` in "expected {what}, got {given}"), rendered in the
    same language.
    """

    def __new__(cls, msgid: str, **slots):
        self = super().__new__(cls, _render(REFERENCE, msgid, slots))
        self.msgid = msgid
        self.slots = slots
        return self

    def render(self, lang: str) -> str:
        return _render(lang, self.msgid, self.slots)

    def __reduce__(self):
        # `bando score` validates in worker processes: the id and slots cross, not only the English
        return (_message, (self.msgid, self.slots))


def _message(msgid, slots):
    return Message(msgid, **slots)


class Joined(str):
    """Messages joined by the message ``sep`` (a list of options); as a ``str``, in English."""

    def __new__(cls, sep: str, items):
        items = tuple(items)
        self = super().__new__(cls, text(REFERENCE, sep).join(items))
        self.sep, self.items = sep, items
        return self

    def render(self, lang: str) -> str:
        return text(lang, self.sep).join(render(i, lang) for i in self.items)

    def __reduce__(self):
        return (Joined, (self.sep, self.items))


def _render(lang, msgid, slots):
    filled = {k: v.render(lang) if isinstance(v, (Message, Joined)) else v for k, v in slots.items()}
    return text(lang, msgid, **filled)


def render(message, lang: str) -> str:
    """``message`` in ``lang`` when it is a :class:`Message`; a plain text as it is."""
    return message.render(lang) if isinstance(message, (Message, Joined)) else str(message)
