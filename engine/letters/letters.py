"""Letters to applicants: the outcome of a funding call and the reasons for it.

Every applicant receives one letter, in the call's language, that states the
same facts as its evaluation result (docs/contracts.md, "Result dict"): the
outcome, the unmet requirements or the score table with the ``because`` text
of every criterion, the grant and its conditions, the place in the ranking,
and how and by when to appeal.

Quick start::

    import datetime
    from engine.letters.letters import LetterRenderer, write_letters

    renderer = LetterRenderer(lang="it", fmt="txt")
    text = renderer.render(result, call, date=datetime.date(2014, 3, 14))
    paths = write_letters(results, call, "out/letters", renderer=renderer,
                          date=datetime.date(2014, 3, 14))

``result`` is one result dict and ``call`` the call info dict
(``policy.call_info()``), both as pinned in docs/contracts.md. The letter date
is always passed in, so the same inputs give byte-identical letters.

Templates
---------
Letters are Jinja2 templates run in an immutable sandbox (a template cannot
reach Python internals nor change the data it is given), with undefined names
raising errors instead of printing nothing. For a status, language and format
the renderer picks the first template that exists among::

    <status>.<lang>.<fmt>.j2     e.g. funded.it.html.j2  (one format only)
    <status>.<lang>.j2           e.g. funded.it.j2       (every format)

looking first in the policy's own ``templates_dir`` and then in the shipped
defaults (``engine/letters/templates/``). The defaults are written once per
status and language, in plain prose; the format (txt, md, html) is applied by
the helpers in ``_fx.<fmt>.j2`` and the page by ``_layout.<fmt>.j2``, and the
parts every letter shares (subject, appeal, closing) live in
``_letter.<lang>.j2``. Any of these can be overridden by a file with the same
name in ``templates_dir``.

A template sees these names:

``result``    the result dict; optional keys of the contract are always present
              (``None`` or ``[]`` when the result did not carry them)
``call``      the call info dict, likewise completed
``date``      the letter date (``datetime.date``), or None: the letter carries no date line
``protocol``  the protocol (reference) number of the letter
``lang``      ``"it"`` or ``"en"``; ``fmt``: ``"txt"``, ``"md"`` or ``"html"``
``t``         short labels in the letter's language (see :func:`labels`)
``fx``        the format helpers of ``_fx.<fmt>.j2``: ``{% call fx.p() %}...{% endcall %}``
              (paragraph), ``fx.h(title)``, ``fx.strong(text)``, ``fx.outcome(text)``,
              ``fx.facts([[label, value], ...])``, ``fx.steps(items)``,
              ``fx.criteria(result)``, ``fx.gates(gates)``, ``fx.errors(errors)``
``failed_gates``  the gates with ``passed`` false
``below_minimum`` the criteria whose points are below their own ``minimum``
``call_open``     whether the call is still open on ``date`` (None if unknown)

and these filters: ``money``, ``date``, ``datetime``, ``percent``, ``points``,
``ordinal`` (from :mod:`engine.text.formatting`, in the letter's language),
``decimal`` (exact number, for comparisons), ``squash`` (collapse white space),
``wrap`` and ``leader`` (plain-text layout).
"""

from __future__ import annotations

import copy
from decimal import Decimal
import datetime as _dt
import functools
import hashlib
import os
import re
import textwrap
import unicodedata
from pathlib import Path
from typing import Callable, Iterable

import attrs
from jinja2 import (
    ChoiceLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplatesNotFound,
    TemplateSyntaxError,
    Undefined,
    UndefinedError,
    pass_context,
)
from jinja2.exceptions import SecurityError
from markupsafe import Markup

from engine.text import formatting
from engine.text import i18n
from engine.evaluate.result import STATUSES  # every outcome a result can have, in the order letters are checked
from engine.letters.escaping import clean_text, code_span, escape_for
from engine.letters.sandbox import (
    BoundedSandbox,
    BudgetExceeded,
    LimitExceeded,
    RenderLimits,
    check_size,
    render_scope,
)
from engine.letters.template_files import FolderLoader, TemplateRefused

__all__ = [
    "FORMATS",
    "labels",
    "STATUSES",
    "LetterError",
    "LetterRenderer",
    "RenderLimits",
    "letter_id",
    "safe_filename",
    "write_letters",
]

#: What ``bando score`` and ``bando letters`` print when the letters carry no date: a letter states
#: only what the policy says, and a date is not something to invent.

#: Text formats rendered from templates; ``"pdf"`` is HTML printed by WeasyPrint.
FORMATS = ("txt", "md", "html")

DEFAULT_TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"

def labels(lang: str) -> dict:
    """Short labels in ``lang``, available to templates as ``t`` (the catalogue's ``letters.*`` messages).

    Sentences live in the templates themselves; these are the words the layouts share.
    """
    return i18n.table(lang, "letters")


_TXT_WIDTH = 76

#: ``check_templates`` dry-renders 72 letters within this many times the
#: time, steps and produced characters of one letter (RenderLimits).
CHECK_TIME_FACTOR = 3


class LetterError(Exception):
    """A letter template could not be compiled or rendered.

    ``template`` is the template's name (``"funded.it.j2"``), ``lineno`` the
    line in it (both None when the problem is not in a template), ``path`` the
    location shown in the message: ``letters/<name>`` for a shipped template,
    ``<templates_dir>/<name>`` for a policy's own. ``str(err)`` reads::

        letters/funded.it.j2:12: undefined variable 'grnat'

    ``over_budget`` is true when the render used up its time or steps
    (:class:`engine.letters.sandbox.BudgetExceeded`).
    """

    def __init__(self, message: str, *, template: str | None = None,
                 lineno: int | None = None, path: str | None = None, over_budget: bool = False):
        super().__init__(message)
        self.message = message
        self.template = template
        self.lineno = lineno
        self.path = path or (f"letters/{template}" if template else None)
        self.over_budget = over_budget

    def __reduce__(self):
        # `bando score` renders letters in worker processes: the error crosses intact
        return (_rebuild_letter_error, (self.message, self.template, self.lineno, self.path,
                                        self.over_budget))

    def __str__(self) -> str:
        where = self.path
        if where and self.lineno:
            where = f"{where}:{self.lineno}"
        return f"{where}: {self.message}" if where else self.message


def _rebuild_letter_error(message, template, lineno, path, over_budget):
    return LetterError(message, template=template, lineno=lineno, path=path, over_budget=over_budget)


# --------------------------------------------------------------------------
# filters


def _squash(value):
    """Collapse every run of white space into one space (keeps HTML markup safe)."""
    if isinstance(value, Markup):
        return Markup(" ").join(value.split())
    return " ".join(str(value).split())


# Spaces a line must not break at: "€ 1.000,00", "CHF 5.00", "80 %",
# "ore 12:00", "domanda n. A-1", "no. A-1", "Prot. n. X". The pattern starts with
# the space itself, so the regex engine looks for spaces and tries the
# alternatives only there (not at every character of the paragraph).
_GLUE = re.compile(" (?:" + "|".join([
    r"(?<=[€$£] )(?=-?\d)",          # € 1.000,00
    r"(?<=\b[A-Z]{3} )(?=-?\d)",     # CHF 5.00
    r"(?<=\d )(?=%)",                # 80 %
    r"(?<=\bore )(?=\d)",            # ore 12:00
    r"(?<=\bn\. )(?=\S)",           # domanda n. A-1
    r"(?<=\bno\. )(?=\S)",          # application no. A-1
]) + ")")
_NBSP = "\u00a0"


# Paragraphs longer than this are wrapped without the cache: a template could
# otherwise fill 4,096 cache entries with huge texts that outlive its render.
_CACHED_TEXT = 4096


def _lines(text, width: int, indent: str, hanging: str) -> list[str]:
    """textwrap without breaking words or the glued spaces of :data:`_GLUE`."""
    text, width, indent, hanging = str(text), int(width), str(indent), str(hanging)
    pad = max(len(indent), len(hanging))
    # every line repeats the indent: refuse a wrap that would build a huge text
    check_size(len(text) + (len(text) // max(1, width - pad) + 1) * (pad + 1), "wrap()")
    if len(text) + 2 * pad > _CACHED_TEXT:
        return list(_wrap_lines(text, width, indent, hanging))
    return list(_cached_lines(text, width, indent, hanging))


@functools.lru_cache(maxsize=4096)
def _cached_lines(text: str, width: int, indent: str, hanging: str) -> tuple[str, ...]:
    # Letters of a batch share most of their paragraphs: wrap each one once.
    return _wrap_lines(text, width, indent, hanging)


def _wrap_lines(text: str, width: int, indent: str, hanging: str) -> tuple[str, ...]:
    words = " ".join(text.split())
    if 0 < width and len(indent) + len(words) <= width:
        # What textwrap gives for a paragraph that fits on its first line (most reasons of a score
        # table do), without its chunking: the indent and the words. No words, no line, as textwrap.
        return (indent + words,) if words else ()
    glued = _GLUE.sub(_NBSP, words)
    lines = textwrap.wrap(glued, width=width, initial_indent=indent, subsequent_indent=hanging,
                          break_long_words=False, break_on_hyphens=False)
    return tuple(line.replace(_NBSP, " ") for line in lines)


def _wrap(value, width: int = _TXT_WIDTH, indent: str = "", hanging: str | None = None) -> str:
    """Wrap a paragraph to ``width`` columns; the first line starts with
    ``indent``, the others with ``hanging`` (default: ``indent``). Words are
    never broken, so an e-mail address or a long id stays whole, and an amount
    stays next to its currency sign."""
    return "\n".join(_lines(value, width, indent, indent if hanging is None else hanging))


def _leader(left, right, width: int = _TXT_WIDTH, indent: str = "",
            hanging: str | None = None, fill: str = ".") -> str:
    """``left ........ right`` filling ``width`` columns, the way printed
    forms align amounts. A long ``left`` wraps; the leader goes on its last line."""
    hanging = indent if hanging is None else hanging
    right = _squash(right)
    room = max(width - len(right) - 5, 20)
    lines = _lines(left, room, indent, hanging) or [indent]
    last = lines[-1]
    dots = width - len(last) - len(right) - 2
    check_size(len(str(fill)) * dots, "leader()")
    lines[-1] = f"{last} {fill * dots} {right}" if dots >= 1 else f"{last} {right}"
    return "\n".join(lines)


def _formatters(lang: str) -> dict:
    """The locale filters bound to one language."""

    def named(name, func):
        def apply(value, *args):
            if isinstance(value, Undefined):
                value._fail_with_undefined_error()
            try:
                return func(value, *args)
            except ValueError as exc:
                raise ValueError(f"filter {name!r}: {exc}") from None
        return apply

    @pass_context
    def money(ctx, value, currency: str | None = None):
        return named("money", formatting.format_money)(
            value, lang, currency or ctx.get("currency") or "EUR")

    shown = value_words(lang)

    def squash(value):
        return _squash(shown(value))

    def wrap(value, *args, **kwargs):
        return _wrap(shown(value), *args, **kwargs)

    def leader(left, right, *args, **kwargs):
        return _leader(shown(left), shown(right), *args, **kwargs)

    return {
        "money": money,
        "date": named("date", lambda value: formatting.format_date(value, lang)),
        "datetime": named("datetime", lambda value: formatting.format_datetime(value, lang)),
        "percent": named("percent", lambda value: formatting.format_percent(value, lang)),
        "points": named("points", lambda value: formatting.format_points(value, lang)),
        "ordinal": named("ordinal", lambda value: formatting.format_ordinal(value, lang)),
        "decimal": named("decimal", formatting.to_decimal),
        # a call with bonuses: "75 punti: 65 su 100 più 10 di premialità" ("" when none counted)
        "score_words": named("score_words", lambda result: _score_words(result, lang) or ""),
        "bonus_points": named("bonus_points", lambda bonus: _bonus_points(bonus, lang)),
        # the layout filters write a value as the letter prints it (a bool as "sì", a list item by item)
        "squash": squash,
        "wrap": wrap,
        "leader": leader,
    }


@functools.lru_cache(maxsize=8)
def value_words(lang: str) -> Callable:
    """``shown(value)``: a value as a letter prints it in ``lang`` — never as Python writes it.

    ``True``/``False`` become "sì"/"no" ("yes"/"no"), None the word for a missing value; a list
    (or set, or tuple) is written item by item, each the same way, numbers as the language writes
    them (``0,5``), joined by ", " (by "; " when an item has a comma of its own: ``0,5; 1``); a
    mapping as ``key: value`` pairs. Any other value (a text, a number, markup) is returned as it is,
    for the template's own filters and escaping."""
    yes, no = i18n.text(lang, "explain.yes"), i18n.text(lang, "explain.no")
    missing = i18n.text(lang, "explain.missing")

    def item(v):
        if v is True:
            return yes
        if v is False:
            return no
        if v is None:
            return missing
        if isinstance(v, (int, float, Decimal)):
            try:
                return formatting.format_exact(v, lang)
            except ValueError:  # NaN, infinity: as written
                return str(v)
        if isinstance(v, _dt.datetime):
            return formatting.format_datetime(v, lang)
        if isinstance(v, _dt.date):
            return formatting.format_date(v, lang)
        if isinstance(v, (list, tuple, set, frozenset, dict)):
            return shown(v)
        return str(v)

    def joined(items):
        return ("; " if any("," in i for i in items) else ", ").join(items)

    def shown(value):
        if value is True or value is False or value is None:
            return item(value)
        if isinstance(value, dict):
            return joined([f"{item(k)}: {item(v)}" for k, v in value.items()])
        if isinstance(value, (set, frozenset)):
            return joined(sorted(item(v) for v in value))
        if isinstance(value, (list, tuple)) and not isinstance(value, Markup):
            return joined([item(v) for v in value])
        return value

    return shown


def _shown_finalize(shown, then):
    """Jinja's ``finalize``: ``shown`` (:func:`value_words`) first, then the sandbox's own (escaping)."""
    def finalize(value):
        return then(shown(value)) if then is not None else shown(value)
    return finalize


def _score_words(result, lang):
    from engine.explain.explain import score_words
    return score_words(dict(result), lang)


def _bonus_points(bonus, lang) -> str:
    """A bonus's points as a letter's score table shows them: +10, −5, (+10) when it did not count."""
    if bonus.get("points") is None:
        return "—"
    points = formatting.to_decimal(bonus["points"])
    if not points:
        return formatting.format_points(points, lang)
    shown = ("+" if bonus.get("kind") == "bonus" else "−") + formatting.format_points(points, lang)
    return shown if bonus.get("applied") else f"({shown})"


# --------------------------------------------------------------------------
# data preparation

_RESULT_DEFAULTS = {
    "applicant": None, "eligible": None, "score": None, "ranking_score": None,
    "max_score": None, "pass_score": None, "requested": None, "grant": None,
    "grant_computed": None, "grant_because": None, "currency": None, "rank": None,
    "language": None, "gates": (), "criteria": (),
    "errors": (), "placement": None, "submitted": None, "policy": None,
    "parameters": None,  # a call with parameters: "Parametri del bando: tipo di azione IA"
}

_CALL_DEFAULTS = {
    "name": None, "version": None, "authority": None, "language": None,
    "currency": "EUR", "budget": None, "opens": None, "closes": None,
    "reference": None, "signatory": None, "appeal_days": None, "appeal_body": None,
    "contact": None, "max_score": None, "pass_score": None, "policy": None,
    "titles": None,  # the call's title in other languages (``{"en": "…"}``, from title_en): call.title reads it
    # not in the contract (yet); optional extras a call may carry:
    "place": None,  # the town on the date line ("Lecce, 14 marzo 2014")
    "acceptance_days": None,  # days to accept a grant (unset: "within the time the call sets")
    "de_minimis": False,  # whether the policy applies a de minimis rule (letters state its conditions)
}


def _complete(data: dict, defaults: dict) -> dict:
    out = {**defaults, **data}
    for key, value in defaults.items():
        if value is not None and out[key] is None:
            out[key] = value
    return out


def _complete_call(call: dict) -> dict:
    """A copy of the call info with its control characters dropped and every optional key present."""
    return _complete(clean_text(call), _CALL_DEFAULTS)


def _prepare(result: dict, call: dict, lang: str, completed: dict | None = None) -> tuple[dict, dict]:
    """Copies of ``result`` and ``call`` with every optional key present; ``completed`` is
    ``_complete_call(call)`` when the caller already has it (a batch's letters share one call)."""
    if not isinstance(result, dict):
        raise LetterError(f"a result must be a dict, got {type(result).__name__}")
    if not isinstance(call, dict):
        raise LetterError(f"the call info must be a dict, got {type(call).__name__}")
    if result.get("status") in (None, ""):
        raise LetterError("result has no 'status'")
    if result.get("application") in (None, "") and not (
            result["status"] == "invalid" and _source_text(result.get("source"))):
        raise LetterError("result has no 'application'")
    if result["status"] not in STATUSES:
        raise LetterError(f"result {result['application']!r} has unknown status "
                          f"{result['status']!r} (expected one of {', '.join(STATUSES)})")
    result = clean_text(result)  # applicant text never drives a terminal or a printer
    c = completed if completed is not None else _complete_call(call)
    r = _complete(result, _RESULT_DEFAULTS)
    r["application"] = letter_id(result)
    r["currency"] = r["currency"] or c["currency"]
    r["language"] = r["language"] or c["language"] or lang
    for key in ("max_score", "pass_score", "policy"):
        if r[key] is None:
            r[key] = c[key]
    r["policy"] = _complete(r["policy"] or {}, {"name": None, "version": None, "sha256": None})
    r["gates"] = [_complete(g, {"id": None, "label": None, "passed": None, "because": "",
                                "values": None}) for g in r["gates"] or ()]
    r["criteria"] = [_complete(k, {"id": None, "label": None, "points": None, "max": None,
                                   "minimum": None, "weight": 1, "because": "",
                                   "values": None}) for k in r["criteria"] or ()]
    r["errors"] = [_complete(e, {"field": None, "message": "", "text": None}) for e in r["errors"] or ()]
    for item in r["gates"] + r["criteria"]:
        item["label"] = item["label"] or item["id"]
    if r["placement"] is not None:
        r["placement"] = _complete(r["placement"], {"rank": r["rank"], "of": None,
                                                    "tied_with": (), "because": None, "reason": None})
        r["placement"]["tied_with"] = list(r["placement"]["tied_with"] or ())
    return r, c


def _outputs(r: dict) -> list[dict]:
    """The named outputs of a result as the letters list them: ``name``, ``label``, ``kind``, ``value``,
    ``text``, ``because`` and ``per_item``: None for an output of one value, else its items
    (``position``, ``key``, ``name``, ``value``, ``text``; not ``items``, which a template would read
    as the dict's method)."""
    found = r.get("outputs")
    if not isinstance(found, dict):
        return []
    out = []
    for name, o in found.items():
        if not isinstance(o, dict):
            continue
        items = o.get("items")
        out.append({"name": str(name), "label": o.get("label") or str(name), "kind": o.get("kind"),
                    "value": o.get("value"), "text": o.get("text"), "because": o.get("because") or "",
                    "per_item": [_complete(i, {"position": None, "key": None, "name": None, "value": None,
                                            "text": ""}) for i in items if isinstance(i, dict)]
                    if isinstance(items, list) else None})
    return out


def _source_text(source) -> str:
    """Where a batch row came from, as text: ``domande.csv:12``."""
    if source in (None, ""):
        return ""
    try:
        from engine.score.outputs import format_source  # the batch's own locator format
    except ImportError:  # pragma: no cover - outputs is part of the package
        return str(source)
    return format_source(source)


def letter_id(result: dict) -> str:
    """The application id a letter shows, and its file is named after (:func:`safe_filename`): by
    ``bando score`` and ``bando letters`` alike. A batch row whose id could not be read (status
    ``invalid``) is named by where it came from, so that its letter can still be traced:
    ``domande.csv:12``."""
    app = result.get("application")
    return str(app) if app not in (None, "") else _source_text(result.get("source"))


def _closing_date(closes) -> _dt.date | None:
    if closes in (None, ""):
        return None
    try:
        return formatting._to_date(closes)
    except ValueError:
        return None


# --------------------------------------------------------------------------
# error translation

_UNDEFINED_NAME = re.compile(r"^'(?P<name>[^']+)' is undefined$")
_UNDEFINED_ATTR = re.compile(r"^'(?P<obj>[^']+)' has no attribute '(?P<name>[^']+)'$")


def _explain(exc: BaseException) -> str:
    message = str(exc)
    if isinstance(exc, UndefinedError):
        m = _UNDEFINED_NAME.match(message)
        if m:
            return f"undefined variable {m['name']!r}"
        m = _UNDEFINED_ATTR.match(message)
        if m:
            kind = "key" if m["obj"] == "dict object" else "attribute"
            return f"undefined {kind} {m['name']!r} (no such {kind} on a {m['obj'].replace(' object', '')})"
        return f"undefined value: {message}"
    if isinstance(exc, TemplateRefused):
        return message
    if isinstance(exc, LimitExceeded):
        return f"limit exceeded: {message}"
    if isinstance(exc, SecurityError):
        return f"refused by the sandbox: {message}"
    if isinstance(exc, RecursionError):
        return ("the template nests too deeply: a macro that calls itself without end, "
                "templates that include or extend each other, or an expression nested too deep")
    if isinstance(exc, SyntaxError):  # Python refused the code the template compiles to
        if "nested blocks" in str(exc.msg):
            return "the template nests too deeply: at most 20 {% for %}/{% if %}/{% macro %} blocks inside each other"
        return f"the template cannot be compiled: {exc.msg}"
    if isinstance(exc, TemplateNotFound):
        return f"template not found: {exc.name!r}"
    if isinstance(exc, (ValueError, TypeError, ArithmeticError)):
        return f"{message}"
    return f"{type(exc).__name__}: {message}"


class LetterRenderer:
    """Renders letters from results, in one language and format.

    ``templates_dir`` holds a policy's own templates (optional; they take
    precedence over the shipped defaults, file by file). ``lang`` is ``"it"``
    or ``"en"``; ``None`` uses each call's ``language``. ``fmt`` is ``"txt"``,
    ``"md"``, ``"html"``, or ``"pdf"`` when WeasyPrint is installed.
    ``limits`` bound each letter's render (size, steps, time; see
    :class:`engine.letters.sandbox.RenderLimits`, default: the module constants there).

    >>> import datetime
    >>> renderer = LetterRenderer(lang="en", fmt="txt")
    >>> call = {"name": "Network grants", "version": "1", "authority": "Region",
    ...         "reference": "NG-2026"}
    >>> result = {"application": "A-1", "status": "invalid",
    ...           "errors": [{"field": "network.firms", "message": "missing"}]}
    >>> text = renderer.render(result, call, date=datetime.date(2026, 11, 25))
    >>> "Ref. NG-2026/A-1" in text and "network.firms" in text
    True
    """

    def __init__(self, templates_dir: str | os.PathLike | None = None,
                 lang: str | None = "it", fmt: str = "txt", limits: RenderLimits | None = None):
        if fmt not in FORMATS + ("pdf",):
            raise LetterError(f"unknown letter format {fmt!r} (expected txt, md, html or pdf)")
        self.templates_dir = None if templates_dir is None else Path(templates_dir)
        if self.templates_dir is not None and not self.templates_dir.is_dir():
            raise LetterError(f"letter templates folder not found: {self.templates_dir}")
        try:
            self.lang = None if lang is None else formatting.normalize_lang(lang)
        except ValueError as exc:
            raise LetterError(str(exc)) from None
        self.fmt = fmt
        self.limits = limits or RenderLimits()
        self._envs: dict[tuple[str, str], BoundedSandbox] = {}
        self._helpers: dict[tuple[str, str], object] = {}
        # the template of each (lang, fmt, status), chosen once: auto_reload is off, so the choice
        # cannot change, and a miss on "<status>.<lang>.<fmt>.j2" (which Jinja does not cache) would
        # otherwise look in both folders for every letter
        self._templates: dict[tuple[str, str, str], object] = {}
        self._call: tuple[dict, dict, dict] | None = None  # (call, snapshot, completed): _completed_call

    def __repr__(self) -> str:
        return (f"LetterRenderer(templates_dir={self.templates_dir!r}, "
                f"lang={self.lang!r}, fmt={self.fmt!r})")

    # -- environments -----------------------------------------------------

    def _loader(self) -> ChoiceLoader:
        # templates are read only from inside their folders (links out, FIFOs,
        # huge files and '..' names are refused: engine/letters/template_files.py)
        loaders = []
        if self.templates_dir is not None:
            loaders.append(FolderLoader(self.templates_dir))
        loaders.append(FolderLoader(DEFAULT_TEMPLATES_DIR))
        return ChoiceLoader(loaders)

    def _env(self, lang: str, fmt: str) -> BoundedSandbox:
        """One sandboxed environment per language and format (escaping differs
        by format; the locale filters are bound to the language). HTML and
        Markdown letters autoescape data, each with its own escape function
        (engine/letters/escaping.py)."""
        key = (lang, fmt)
        env = self._envs.get(key)
        if env is None:
            escape = escape_for(fmt)
            env = BoundedSandbox(
                loader=self._loader(),
                undefined=StrictUndefined,
                autoescape=escape is not None,
                escape=escape,
                limits=self.limits,
                booleans=(i18n.text(lang, "explain.yes"), i18n.text(lang, "explain.no")),
                keep_trailing_newline=True,
                trim_blocks=True,
                lstrip_blocks=True,
                auto_reload=False,
            )
            # every value a template prints goes through value_words: no "True", "None" or "[1, 2]"
            env.finalize = _shown_finalize(value_words(lang), env.finalize)
            env.filters.update(_formatters(lang))
            env.filters["code"] = functools.partial(code_span, fmt=fmt)
            self._envs[key] = env
        return env

    def _fx(self, env, lang: str, fmt: str):
        key = (lang, fmt)
        fx = self._helpers.get(key)
        if fx is None:
            fx = env.get_template(f"_fx.{fmt}.j2").make_module(
                {"t": labels(lang), "lang": lang, "fmt": fmt})
            self._helpers[key] = fx
        return fx

    def _location(self, filename: str | None) -> tuple[str | None, str | None]:
        """(template name, display path) of a template file."""
        if not filename or not filename.endswith(".j2"):
            return None, None
        full = os.path.abspath(filename)
        roots = [(DEFAULT_TEMPLATES_DIR, "letters")]
        if self.templates_dir is not None:
            roots.insert(0, (self.templates_dir.resolve(), str(self.templates_dir)))
        for root, shown in roots:
            try:
                rel = Path(full).relative_to(root).as_posix()
            except ValueError:
                continue
            return rel, f"{shown.rstrip('/')}/{rel}"
        return os.path.basename(filename), filename

    def _shown_path(self, name: str, must_exist: bool = False) -> str | None:
        """How a template is named in messages: in the policy's folder if it
        is there, else among the shipped ones (None: in neither, with must_exist)."""
        if self.templates_dir is not None and (self.templates_dir / name).exists():
            return f"{str(self.templates_dir).rstrip('/')}/{name}"
        if must_exist and not (DEFAULT_TEMPLATES_DIR / name).exists():
            return None
        return f"letters/{name}"

    def _error(self, exc: BaseException, fallback: str | None = None) -> LetterError:
        """Translate a Jinja or filter exception into a LetterError that names
        the template and line where it happened."""
        if isinstance(exc, LetterError):
            return exc
        if isinstance(exc, TemplateSyntaxError):
            name, path = self._location(exc.filename)
            return LetterError(f"syntax error: {exc.message}", template=name or exc.name,
                               lineno=exc.lineno, path=path)
        name = path = None
        lineno = None
        tb = exc.__traceback__
        while tb is not None:
            found, shown = self._location(tb.tb_frame.f_code.co_filename)
            if found:
                name, path, lineno = found, shown, tb.tb_lineno
            tb = tb.tb_next
        if name is None and isinstance(exc, TemplateRefused):
            return LetterError(_explain(exc), path=exc.path)
        if name is None and fallback:
            name, path = fallback, self._shown_path(fallback)
        return LetterError(_explain(exc), template=name, lineno=lineno, path=path,
                           over_budget=isinstance(exc, BudgetExceeded))

    # -- rendering ------------------------------------------------------------

    def template_names(self, status: str, lang: str, fmt: str) -> list[str]:
        """Template names tried for a letter, most specific first."""
        fmt = "html" if fmt == "pdf" else fmt
        return [f"{status}.{lang}.{fmt}.j2", f"{status}.{lang}.j2"]

    def render(self, result: dict, call: dict, *, date: _dt.date | None,
               protocol: str | None = None) -> str:
        """Render the letter for one result.

        ``date`` is the date printed on the letter (never today's date, so the
        output is reproducible); None leaves the letter undated (the policy
        gives no date and none was passed: nothing is invented). ``protocol``
        defaults to ``"<call reference or BANDO>/<application id>"``. Returns text, or
        bytes for ``fmt="pdf"``. Raises :class:`LetterError`.

        >>> import datetime
        >>> r = LetterRenderer(lang="it")
        >>> letter = r.render({"application": "A-7", "status": "ineligible"},
        ...                   {"name": "Bando reti", "reference": None},
        ...                   date=datetime.date(2026, 11, 25))
        >>> "Prot. n. BANDO/A-7" in letter, "25 novembre 2026" in letter
        (True, True)
        """
        lang = self.lang or self._call_lang(call)
        if self.fmt == "pdf":
            html = self._render(result, call, date=date, protocol=protocol, lang=lang, fmt="html")
            return html_to_pdf(html)
        return self._render(result, call, date=date, protocol=protocol, lang=lang, fmt=self.fmt)

    @staticmethod
    def _call_lang(call: dict) -> str:
        try:
            return formatting.normalize_lang(call.get("language") or "it")
        except ValueError as exc:
            raise LetterError(f"call language: {exc}") from None

    def _completed_call(self, call) -> dict | None:
        """``_complete_call(call)``, made once for the letters of a batch (they share one call).

        The copy is reused only while ``call`` is the same object *and* still equal to the
        snapshot taken with it, so a call info changed in place between two letters is read again."""
        if not isinstance(call, dict):
            return None  # _prepare refuses it
        cached = self._call
        if cached is not None and cached[0] is call and cached[1] == call:
            return cached[2]
        completed = _complete_call(call)
        self._call = (call, copy.deepcopy(call), completed)
        return completed

    def _select(self, env: BoundedSandbox, status: str, lang: str, fmt: str):
        """The template of a status, language and format (the first of :meth:`template_names` that exists)."""
        names = self.template_names(status, lang, fmt)
        try:
            return env.select_template(names)
        except TemplatesNotFound:
            raise LetterError(f"no letter template for status {status!r} in "
                              f"{lang!r} ({fmt}): looked for {', '.join(names)}") from None
        except Exception as exc:  # noqa: BLE001 - a template that cannot even compile
            # (nesting too deep for Python, a refused file...) is a LetterError too
            existing = [n for n in names if self._shown_path(n, must_exist=True)]
            raise self._error(exc, (existing or names)[0]) from None

    def _render(self, result: dict, call: dict, *, date, protocol, lang: str, fmt: str) -> str:
        if date is not None and not isinstance(date, _dt.date):  # None: an undated letter
            raise LetterError(f"the letter date must be a datetime.date or None, got {date!r}")
        if isinstance(date, _dt.datetime):
            date = date.date()
        try:
            r, c = _prepare(result, call, lang, self._completed_call(call))
        except LetterError:
            raise
        except (TypeError, ValueError, AttributeError) as exc:
            app = result.get("application") if isinstance(result, dict) else None
            raise LetterError(f"malformed result {app!r}: {exc}") from None
        if protocol is None:
            protocol = f"{c['reference'] or 'BANDO'}/{r['application']}"
        env = self._env(lang, fmt)
        template = self._templates.get((lang, fmt, r["status"]))
        if template is None:
            template = self._templates[lang, fmt, r["status"]] = self._select(env, r["status"], lang, fmt)
        closes = _closing_date(c["closes"])
        titles = c["titles"] if isinstance(c["titles"], dict) else {}
        context = {
            "result": r,
            # call.title: the call's name in the letter's language (title_en in an English letter)
            "call": {**c, "title": titles.get(lang) or c["name"]},
            "date": date,
            "protocol": str(protocol),
            "lang": lang,
            "fmt": fmt,
            "t": labels(lang),
            "currency": r["currency"],
            "failed_gates": [g for g in r["gates"] if g["passed"] is False],  # None: decided only in a batch
            "below_minimum": [k for k in r["criteria"] if k["minimum"] is not None
                              and k["points"] is not None and k["points"] < k["minimum"]],
            "call_open": None if closes is None or date is None else date <= closes,
            # the call's named outputs (docs/language.md, "Outputs"), in policy order, each with its name
            "outputs": _outputs(r),
        }

        def with_helpers(ctx: dict) -> dict:
            return dict(ctx, fx=self._fx(env, lang, fmt))

        try:
            # streamed within the limits; the helpers are built inside the same budget
            text = env.render(template, context, prepare=with_helpers)
        except Exception as exc:  # every template failure becomes a LetterError
            raise self._error(exc, template.name) from None
        return _tidy(text)

    # -- checking ---------------------------------------------------------------

    def check_templates(self, call: dict) -> list[LetterError]:
        """Compile every template and dry-render every status × language ×
        format against built-in sample results; return the problems found.

        Run it before a batch: a misspelt variable in a branch that the first
        applications do not reach is found here, not halfway through.

        >>> LetterRenderer().check_templates({"name": "Bando reti", "version": "1"})
        []
        """
        problems: list[LetterError] = []
        seen: set[str] = set()

        def add(err: LetterError) -> None:
            if str(err) not in seen:
                seen.add(str(err))
                problems.append(err)

        env = self._env("it", "txt")
        try:
            names = sorted(set(env.loader.list_templates()))
        except TemplateRefused as exc:  # a folder of thousands of files
            return [LetterError(_explain(exc), path=exc.path)]
        for name in names:
            if not name.endswith(".j2"):
                continue
            try:
                env.get_template(name)
            except TemplateSyntaxError as exc:
                add(self._error(exc, name))
            except TemplateRefused as exc:  # a link out of the folder, a FIFO: even if unused
                add(LetterError(_explain(exc), path=exc.path))
            except TemplateError:
                pass  # reported by the dry renders below
            except Exception as exc:  # noqa: BLE001 - e.g. nesting too deep for Python's compiler
                add(self._error(exc, name))
        if problems:
            return problems
        date = _dt.date(2026, 11, 25)
        # All the dry renders share one budget: a slow template stops the check
        # once, instead of taking its time limit for each of the renders.
        budget = attrs.evolve(self.limits, seconds=self.limits.seconds * CHECK_TIME_FACTOR,
                              steps=self.limits.steps * CHECK_TIME_FACTOR,
                              produced=self.limits.produced * CHECK_TIME_FACTOR)
        with render_scope(budget):
            for i, sample in enumerate(_sample_results(call)):
                when = date if i % 2 == 0 else None  # the sparse sample of each status is undated
                for lang in formatting.LANGUAGES:
                    for fmt in FORMATS:
                        try:
                            self._render(sample, call, date=when, protocol=None, lang=lang, fmt=fmt)
                        except LetterError as err:
                            add(err)
                            if err.over_budget:
                                return problems
        return problems


def _tidy(text: str) -> str:
    """No trailing blanks, at most one empty line in a
    row, no empty lines at the start, exactly one newline at the end."""
    lines = [line.rstrip() for line in text.split("\n")]
    out: list[str] = []
    for line in lines:
        if not line and (not out or not out[-1]):
            continue
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------
# samples for check_templates


def _sample_results(call: dict) -> list[dict]:
    """Two results per status: one with every optional field filled, then one with
    the optional fields null or empty, so both branches of a template run."""
    policy = call.get("policy") or {"name": "sample", "version": "1", "sha256": "0" * 64}
    max_score = call.get("max_score") or 100
    pass_score = call.get("pass_score") or 60
    gates_ok = [
        {"id": "min_firms", "label": "At least 3 firms", "passed": True,
         "because": "members = 5, required >= 3", "values": {"members": 5}},
    ]
    gates_ko = gates_ok + [
        {"id": "all_sme", "label": "All firms are SMEs", "passed": False,
         "because": "1 firm has 320 employees", "values": {}},
    ]
    criteria = [
        {"id": "innovation", "label": "Innovation", "points": 30, "max": 40, "minimum": 10,
         "weight": 1, "because": "level 3 → 30 of 40 points", "values": {}},
        {"id": "intl", "label": "Internationalisation", "points": 12.5, "max": 30,
         "minimum": None, "weight": 1, "because": "1.25 markets × 10", "values": {}},
    ]
    low = [dict(criteria[0], points=5), dict(criteria[1], points=20)]
    base = {
        "applicant": "Sample network", "eligible": True, "score": 42.5, "ranking_score": 42.5,
        "max_score": max_score, "pass_score": pass_score, "requested": "50000.00",
        "grant": None, "currency": call.get("currency") or "EUR", "rank": None,
        "language": "en", "gates": gates_ok, "criteria": criteria, "errors": [],
        "placement": None, "submitted": "2026-06-12T09:31:07", "policy": policy,
        "outputs": {"category": {"label": "Category", "kind": "text", "value": "A", "text": "A",
                                 "because": "Category: A (condition met: founded = 1 March 2021)"},
                    "share": {"label": "Share of the grant", "kind": "money", "value": None, "text": None,
                              "because": "Share of the grant: #1 Alfa €20,000.00",
                              "items": [{"position": 1, "key": "IT01", "name": "Alfa", "value": "20000.00",
                                         "text": "€20,000.00"}]}},
    }
    full = {
        "ineligible": dict(base, eligible=False, score=None, gates=gates_ko, criteria=[]),
        "below_threshold": dict(base, score=25, criteria=low),
        "admitted": dict(base, grant="40000.00", grant_computed="40000.00",
                         grant_because="€40,000.00: the call's ceiling, lower than «Grant requested» (€50,000.00)"),
        "funded": dict(base, grant="30000.00", grant_computed="40000.00", rank=1,
                       grant_because="€40,000.00: the call's ceiling, lower than «Grant requested» (€50,000.00)",
                       placement={"rank": 1, "of": 2, "tied_with": ["S-2"], "reason": "partial",
                                  "because": "Funded for €30,000.00 of the €40,000.00 due."}),
        "not_funded": dict(base, rank=2, placement={
            "rank": 2, "of": 2, "tied_with": ["S-1"], "reason": "exhausted", "because": "later signature"}),
        "tied": dict(base, rank=2, grant_computed="40000.00", placement={
            "rank": 2, "of": 3, "tied_with": ["S-3"], "reason": "tie_pending",
            "because": "The office chooses among the tied applications."}),
        "withdrawn": dict(base, placement={"reason": "withdrawn", "because": "Withdrawn or revoked."}),
        "awaiting_evaluation": dict(base, score=None, ranking_score=None, criteria=[
            dict(criteria[0], points=None, because="awaiting the panel's marks"), criteria[1]], evaluation=[
            {"id": "innovation", "label": "Innovation", "state": "awaiting", "value": None, "combine": "median",
             "evaluators": 3, "because": "2 of the 3 marks required so far (E1 4, E2 4.5)",
             "because_anonymous": "2 of the 3 marks required so far (4, 4.5)", "marks": []}]),
        "needs_consensus": dict(base, score=None, ranking_score=None),
        "evaluation_invalid": dict(base, score=None, ranking_score=None),
        "invalid": dict(base, eligible=False, score=None, gates=[], criteria=[],
                        errors=[{"field": "network.firms[0].employees",
                                 "message": "expected a whole number"}]),
    }
    samples = []
    for status in STATUSES:
        rich = dict(full[status], application=f"S-{status}", status=status)
        sparse = {key: rich[key] for key in ("status", "eligible", "score", "max_score",
                                             "pass_score", "gates", "criteria", "errors")}
        sparse.update(application=f"S-{status}-min", applicant=None, requested=None,
                      grant=rich["grant"] if status == "funded" else None, rank=None,
                      placement=None, submitted=None, policy=None, grant_computed=None, grant_because=None)
        samples += [rich, sparse]
    return samples


# --------------------------------------------------------------------------
# PDF


def html_to_pdf(html: str) -> bytes:
    """Print an HTML letter to PDF with WeasyPrint (optional dependency).

    Raises :class:`LetterError` with installation advice when WeasyPrint or
    the Pango libraries it needs are missing. WeasyPrint fetches nothing: a
    template's ``<img src="file:///etc/passwd">``, ``<link rel=attachment>``
    or ``http://`` URL is refused (the shipped layouts are self-contained).
    """
    try:
        import weasyprint  # noqa: PLC0415 - optional, heavy
    except (ImportError, OSError) as exc:
        raise LetterError(
            "PDF letters need WeasyPrint: `pip install weasyprint` (it also needs the "
            f"Pango libraries of the system); the import failed with: {exc}") from None
    return weasyprint.HTML(string=html, base_url=None, url_fetcher=_fetch_nothing).write_pdf()


def _fetch_nothing(url: str, *args, **kwargs):
    # WeasyPrint would read local files and URLs named by the (untrusted) template
    raise ValueError(f"a letter may not load {url!r}: letters are self-contained")


# --------------------------------------------------------------------------
# file names and writing

_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{dev}{n}" for dev in ("COM", "LPT") for n in list("123456789") + ["¹", "²", "³"]]
)
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9._-]+")
_MAX_STEM = 60


def safe_filename(app_id: str, used: set[str]) -> str:
    """A file *stem* for an application id, safe on any file system.

    The stem uses only ``A-Z a-z 0-9 . _ -``, starts with a letter, a digit or
    ``_`` (never a dot or a hyphen), has no ``..``, is at most 80 characters
    and is never a Windows device name (``CON``, ``LPT1``...), so it can never
    leave the output folder whatever extension is added. An id that is already
    safe (and at most 60 characters) is kept as it is; any other gets a
    readable version plus ``-`` and the first 10 hex digits of the id's
    SHA-256, so ``A/7`` and ``A\\7`` get different names. ``used`` holds the names
    already taken in this folder (compared without regard to case, as on
    Windows and macOS) and is updated; pass the same set for a whole batch.
    The result depends only on the id and on the ids seen before it.

    >>> used = set()
    >>> [safe_filename(i, used) for i in ["A-001", "../../etc/x", "A/7", "A\\\\7", "CON", ""]]
    ['A-001', 'etc_x-56da1a2ef2', 'A_7-2e35802be4', 'A_7-cc6591e894', '_CON-a3dbc4b644', 'application-e3b0c44298']
    """
    raw = app_id if isinstance(app_id, str) else str(app_id)
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()
    # fold accents (Società → Societa), then replace anything else
    folded = unicodedata.normalize("NFKD", raw)
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    stem = _UNSAFE_RUN.sub("_", folded)
    stem = stem.strip("._- ")
    stem = re.sub(r"\.{2,}", ".", stem)
    if not stem:
        stem = "application"
    if stem.split(".")[0].upper() in _WINDOWS_RESERVED:
        stem = "_" + stem
    stem = stem[:_MAX_STEM].rstrip("._-")
    candidate = stem if stem == raw else f"{stem}-{digest[:10]}"
    if candidate.casefold() in used:
        candidate = f"{stem}-{digest[:10]}"
        n = 2
        while candidate.casefold() in used:
            candidate = f"{stem}-{digest[:10]}-{n}"
            n += 1
    used.add(candidate.casefold())
    return candidate


def _write_atomic(path: Path, data: bytes) -> None:
    """Write a letter atomically (a reader never sees half a letter); no fsync,
    so 10,000 letters stay fast."""
    from engine.score.outputs import atomic_write
    atomic_write(path, data, fsync=False)


class LanguageMismatch(LetterError):
    """The result's reasons are written in another language than the letter's (see :func:`check_language`)."""


def check_language(result: dict, lang: str) -> None:
    """Refuse to write a letter in ``lang`` around reasons written in another language.

    A result's reasons (gates, criteria, the grant, the ranking) are sentences
    in its ``language``. results.jsonl keeps the values each rule used, not
    every fact its sentence states (the band hit, the items that broke a
    rule, the allocation's figures), so they cannot be written again in
    another language from the file alone: a letter would mix two languages.
    """
    written = result.get("language")
    if written and written != lang:
        name = {"it": "Italian", "en": "English"}
        raise LanguageMismatch(
            f"the results are written in {name.get(written, written)} ({written}); their reasons cannot be "
            f"re-rendered in {name.get(lang, lang)} ({lang}) from results.jsonl, which keeps the values each rule "
            f"used but not every fact its sentence states: run `bando score ... --lang {lang}` to write results and "
            f"letters in {name.get(lang, lang)}")


def write_letters(results: Iterable[dict], call: dict, outdir, *,
                  renderer: LetterRenderer, date: _dt.date | None,
                  fmt: str | None = None,
                  on_error: Callable[[str | None, LetterError], None] | None = None) -> list[Path]:
    """Write one letter per result into ``outdir`` and return their paths.

    File names come from :func:`safe_filename` plus ``.<fmt>``; content is
    UTF-8 with ``\\n`` line ends. Both depend only on the inputs, so running
    twice gives identical files. Each file is written atomically. ``fmt``
    defaults to the renderer's format. A failing letter raises
    :class:`LetterError` naming the application (letters written before it
    stay in place) — unless ``on_error`` is given: then it is called with the
    application id and the error, that letter is skipped and the others are
    written (``bando letters`` reports them all at the end). Results written in another language than the
    letters raise :class:`LanguageMismatch` (see :func:`check_language`). An ``invalid`` result without an application id (a batch
    row whose id could not be read) is named after its ``source``
    (``domande.csv:12`` → ``domande.csv_12-<hash>.txt``).

    >>> import datetime, tempfile
    >>> out = tempfile.mkdtemp()
    >>> paths = write_letters([{"application": "A/1", "status": "invalid"}],
    ...                       {"name": "Bando"}, out, renderer=LetterRenderer(),
    ...                       date=datetime.date(2026, 11, 25))
    >>> [p.name for p in paths]
    ['A_1-a5b3d27a72.txt']
    """
    if fmt is not None and fmt != renderer.fmt:
        renderer = LetterRenderer(renderer.templates_dir, renderer.lang, fmt, limits=renderer.limits)
    fmt = renderer.fmt
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    paths: list[Path] = []
    lang = renderer.lang or renderer._call_lang(call)
    for result in results:
        app_id = letter_id(result) if isinstance(result, dict) else None
        try:
            if isinstance(result, dict):
                check_language(result, lang)  # the same for every letter: one error, not one per application
            letter = renderer.render(result, call, date=date)
        except LanguageMismatch:
            raise
        except LetterError as err:
            if on_error is not None:
                on_error(app_id, err)
                continue
            err.message = f"application {app_id!r}: {err.message}"
            raise err
        path = outdir / f"{safe_filename(app_id if app_id is not None else '', used)}.{fmt}"
        _write_atomic(path, letter if isinstance(letter, bytes) else letter.encode("utf-8"))
        paths.append(path)
    return paths
