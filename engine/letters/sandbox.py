"""A Jinja sandbox in which a template cannot run unbounded.

Letter templates may come from someone else (a policy's own folder), and one
template runs once per applicant, so a template must not be able to hang a
batch or fill the memory. Jinja's ``ImmutableSandboxedEnvironment`` already
refuses Python internals and changes to the data; :class:`BoundedSandbox`
adds bounds on what a template can compute, using Jinja's own hooks:

* **values** — a value a template makes is at most ``limits.value``
  characters or items (a container counts what it holds, nested), an integer
  at most :data:`MAX_INT_DIGITS` digits. Where the size of a result is known
  beforehand it is refused *before* it is built: ``'x' * n`` and ``10 ** n``
  (``call_binop``), ``'x'.ljust(n)``, ``s.replace(a, b)``, ``sep.join(items)``,
  ``str.format`` and ``%`` widths (``call`` and ``wrap_str_format``), the
  ``center``, ``indent``, ``wordwrap``, ``join``, ``replace``, ``format``,
  ``batch``, ``slice``, ``sum``, ``urlize`` and ``tojson`` filters, and
  ``range()`` (at most ``limits.range`` numbers). Everything else is checked
  as soon as it exists: the results of filters, calls and operators, list,
  tuple and dict literals and ``~`` (a code generator that wraps them), and
  the buffers of macros, blocks and ``{% set %}`` (``concat``).
* **work** — every loop iteration (every ``{% for %}`` iterates through a
  guard), every call and every item of a ``range()`` is a step; one render
  may take at most ``limits.steps`` steps and ``limits.seconds`` of wall time
  (the clock is read every :data:`CLOCK_EVERY` steps and at every chunk of output,
  so a loop with an empty body stops too),
  and may produce at most ``limits.produced`` characters or items in all
  (so that many values each under the limit cannot fill the memory either).
* **output** — :meth:`BoundedSandbox.render` streams the template with
  ``generate()`` and stops past ``limits.output`` characters.

A breach raises :class:`LimitExceeded` (a Jinja ``SecurityError``) from
inside the template code, so that its traceback names the template line.

A sandbox can also be given its own ``escape`` function (Markdown letters
escape data for Markdown): it is then used for every ``{{ value }}``, for
``~`` next to markup, and by the ``e``/``escape``/``forceescape`` filters,
exactly where HTML autoescaping would apply ``markupsafe.escape``.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import math
import re
import string
import time
import types
from decimal import Decimal
from typing import Any, Callable, Iterable

import attrs
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, optimizeconst
from jinja2.environment import Template, TemplateModule
from jinja2.exceptions import SecurityError
from jinja2.filters import make_attrgetter
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace
from markupsafe import Markup, escape as html_escape

__all__ = [
    "MAX_INT_DIGITS",
    "MAX_OUTPUT",
    "MAX_PAD",
    "MAX_PRODUCED",
    "MAX_RANGE",
    "MAX_SECONDS",
    "MAX_STEPS",
    "MAX_VALUE",
    "BoundedSandbox",
    "BudgetExceeded",
    "LimitExceeded",
    "RenderLimits",
    "check_size",
    "render_scope",
]

#: Characters of one rendered letter (a letter is a few KB).
MAX_OUTPUT = 1_000_000
#: Wall time of one render, in seconds.
MAX_SECONDS = 5.0
#: Loop iterations, calls and range items of one render (a shipped letter needs a few hundred).
MAX_STEPS = 2_000_000
#: Characters (or items) of any one value a template makes.
MAX_VALUE = 1_000_000
#: Characters (or items) a render may make in all, summed over every value.
MAX_PRODUCED = 10_000_000
#: Numbers in one ``range()``.
MAX_RANGE = 100_000
#: A width or precision in a format (``'%10d'``, ``'{:>10}'``): per field.
MAX_PAD = 10_000
#: Digits of an integer (Python itself refuses to print longer ones).
MAX_INT_DIGITS = 4_300

_LOG2_10 = math.log2(10)
_MAX_INT_BITS = int(MAX_INT_DIGITS * _LOG2_10)


@attrs.frozen
class RenderLimits:
    """The bounds of one render; the defaults are the module constants.
    Tests lower them (``RenderLimits(seconds=0.5)``)."""

    output: int = MAX_OUTPUT
    seconds: float = MAX_SECONDS
    steps: int = MAX_STEPS
    value: int = MAX_VALUE
    produced: int = MAX_PRODUCED
    range: int = MAX_RANGE
    pad: int = MAX_PAD


class LimitExceeded(SecurityError):
    """A template went past one of the bounds of :class:`RenderLimits`."""


class BudgetExceeded(LimitExceeded):
    """The render used up its time, steps or produced characters: every
    further step of the same render fails too."""


# --------------------------------------------------------------------------
# the budget of the render under way (one per thread / context)


@attrs.define
class _Budget:
    limits: RenderLimits
    deadline: float
    steps: int = 0
    produced: int = 0


_BUDGET: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("bando_render_budget",
                                                                          default=None)


def _n(number: float) -> str:
    return f"{number:,.0f}"


def _weight(value: Any, cap: int) -> int:
    """How many characters or items ``value`` holds (nested containers
    included), counted until ``cap`` is passed; a rough upper bound of the
    length of ``str(value)`` divided by a small factor."""
    total = 0
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (str, bytes, bytearray)):
            total += len(v)
        elif isinstance(v, (list, tuple, set, frozenset)):
            total += len(v)
            if total <= cap:
                stack.extend(v)
        elif isinstance(v, dict):
            total += len(v)
            if total <= cap:
                stack.extend(v.keys())
                stack.extend(v.values())
        elif isinstance(v, bool):
            total += 1
        elif isinstance(v, int):
            total += v.bit_length() // 3 + 1
        elif isinstance(v, Decimal):
            if v.is_finite():
                sign, digits, exponent = v.as_tuple()
                total += len(digits) + abs(exponent) + 2
            else:
                total += 3
        elif isinstance(v, BoundedNamespace):
            total += _namespace_weight(v)
        else:  # numbers, dates, macros, undefined values: small, and never looked into
            total += 1
        if total > cap:
            return total
    return total


def _repr_factor(value: Any) -> int:
    # str() of a container is its repr: quotes, commas and escapes (\x00 is 4 characters)
    return 1 if isinstance(value, (str, int, float, Decimal)) else 6


class BoundedNamespace(Namespace):
    """``namespace()`` whose attributes count against the value bound: a
    namespace holds at most ``limits.value`` characters in all."""

    # Namespace answers every attribute from its own dict, so the sizes are
    # kept (and read) with object's own attribute access; templates cannot see them.

    def __init__(*args: Any, **kwargs: Any) -> None:  # noqa: N805 - as Namespace.__init__
        self, args = args[0], args[1:]
        Namespace.__init__(self, *args, **kwargs)
        sizes = {key: _weight(v, MAX_VALUE * 8) for key, v in dict(*args, **kwargs).items()}
        object.__setattr__(self, "bando_sizes", sizes)
        check_size(sum(sizes.values()), "a namespace()")

    def __setitem__(self, name: str, value: Any) -> None:
        sizes = object.__getattribute__(self, "bando_sizes")
        size = _weight(value, MAX_VALUE * 8)
        check_size(_namespace_weight(self) - sizes.get(name, 0) + size, f"namespace attribute {name!r}")
        Namespace.__setitem__(self, name, value)
        sizes[name] = size


def _namespace_weight(ns: BoundedNamespace) -> int:
    return sum(object.__getattribute__(ns, "bando_sizes").values())


_DEFAULT_LIMITS = RenderLimits()


def _limits() -> RenderLimits:
    budget = _BUDGET.get()
    return budget.limits if budget is not None else _DEFAULT_LIMITS


def check_size(size: int, what: str) -> None:
    """Refuse a value of ``size`` characters/items before it is made (for
    filters and helpers that know the size of what they are about to build)."""
    limit = _limits().value
    if size > limit:
        raise LimitExceeded(f"too large: {what} would be {_n(size)} characters or items long "
                            f"(at most {_n(limit)})")


#: The clock is read at one step in this many (a power of two): a step is a few microseconds at most,
#: so a render still stops within a few hundred microseconds of its deadline, and most steps cost a
#: counter increment instead of a clock call.
CLOCK_EVERY = 32


def _step() -> None:
    budget = _BUDGET.get()
    if budget is None:
        return
    budget.steps += 1
    if budget.steps > budget.limits.steps:
        raise BudgetExceeded(f"the letter needs more than {_n(budget.limits.steps)} steps "
                            "(loop iterations and calls) to render: does a loop never end?")
    if not budget.steps & (CLOCK_EVERY - 1) and time.monotonic() > budget.deadline:
        raise BudgetExceeded(f"the letter took more than {budget.limits.seconds:g} s to render: "
                             "does a loop never end?")


def _account(value: Any, what: str) -> Any:
    """Check a value that now exists, and count it in the render's total."""
    cls = type(value)
    if cls is int:
        if value.bit_length() > _MAX_INT_BITS:
            raise LimitExceeded(f"too large: {what} has more than {_n(MAX_INT_DIGITS)} digits")
        return value
    if cls is float or cls is bool or value is None:
        return value  # nothing to count
    budget = _BUDGET.get()
    limits = budget.limits if budget is not None else _DEFAULT_LIMITS
    if cls is str or cls is Markup:  # the common case, counted without _weight
        size = len(value)
    elif isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise LimitExceeded(f"too large: {what} has more than {_n(MAX_INT_DIGITS)} digits")
    else:
        size = _weight(value, limits.value)
    if size > limits.value:
        raise LimitExceeded(f"too large: {what} is more than {_n(limits.value)} characters or items long")
    if budget is not None:
        budget.produced += size
        if budget.produced > limits.produced:
            raise BudgetExceeded(f"the letter made more than {_n(limits.produced)} characters or items "
                                "in all while rendering")
    return value


# --------------------------------------------------------------------------
# formats: '%10s' % x, '{:>10}'.format(x), the format filter

_PERCENT = re.compile(r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?P<width>\*|\d+)?"
                      r"(?:\.(?P<prec>\*|\d+))?[hlL]?(?P<conv>[a-zA-Z%])?")
_DIGITS = re.compile(r"\d+")


def _arg_weight(values: Iterable[Any], cap: int) -> int:
    return max((_weight(v, cap) * _repr_factor(v) for v in values), default=0)


def _format_size(literal: int, fields: int, pads: int, arg: int) -> int:
    return literal + pads + fields * arg


# formats longer than this are parsed without the cache (a template could fill it with huge texts)
_CACHED_FORMAT = 256


def _percent_fields(fmt: str) -> tuple[tuple[int, ...] | None, ...]:
    """The fields of a % format, in order: the width and precision given of each, None for a ``*``."""
    if len(fmt) > _CACHED_FORMAT:
        return _parse_percent(fmt)
    return _cached_percent(fmt)


def _parse_percent(fmt: str) -> tuple[tuple[int, ...] | None, ...]:
    fields = []
    for m in _PERCENT.finditer(fmt):
        if m["conv"] in (None, "%"):
            continue
        if m["width"] == "*" or m["prec"] == "*":
            fields.append(None)
        else:
            fields.append(tuple(int(x) for x in (m["width"], m["prec"]) if x))
    return tuple(fields)


# A letter formats the same few literals ("%2d. ") on every line of a list: parse each once.
_cached_percent = functools.lru_cache(maxsize=1024)(_parse_percent)


def _check_percent(fmt: str, args: Any) -> None:
    """``fmt % args``: no ``*`` widths, widths at most ``pad``, result bounded."""
    limits = _limits()
    fields = pads = 0
    for numbers in _percent_fields(fmt):
        if numbers is None:
            raise LimitExceeded("a '*' width or precision in a % format is not allowed in letter "
                                "templates: write the number")
        for number in numbers:
            if number > limits.pad:
                raise LimitExceeded(f"too large: width or precision {_n(number)} in a % format "
                                    f"(at most {_n(limits.pad)})")
        fields += 1
        pads += max(numbers, default=0)
    values = args.values() if isinstance(args, dict) else args if isinstance(args, tuple) else (args,)
    check_size(_format_size(len(fmt), fields, pads, _arg_weight(values, limits.value)), "a % format")


def _check_format(fmt: str, args: tuple, kwargs: dict) -> None:
    """``fmt.format(*args, **kwargs)``: literal widths at most ``pad``, result bounded."""
    limits = _limits()
    fields = pads = 0
    factor = 1
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error with a clear message
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if spec and "{" in spec:
            raise LimitExceeded("a width taken from an argument ('{:{w}}') is not allowed in letter "
                                "templates: write the number")
        numbers = [int(x) for x in _DIGITS.findall(spec or "")]
        for number in numbers:
            if number > limits.pad:
                raise LimitExceeded(f"too large: width or precision {_n(number)} in a format "
                                    f"(at most {_n(limits.pad)})")
        if conversion in ("r", "a"):
            factor = 6
        fields += 1
        pads += max(numbers, default=0)
    arg = _arg_weight(list(args) + list(kwargs.values()), limits.value) * factor
    check_size(_format_size(len(fmt), fields, pads, arg), "a format")


# --------------------------------------------------------------------------
# str/bytes/int methods whose result size is known from their arguments


# str/bytes/int methods are builtin methods; Markup's are Python methods
_METHODS = (types.BuiltinMethodType, types.MethodType)


def _int_arg(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) else default


def _check_method(obj: Any, args: tuple, kwargs: dict) -> tuple:
    """Refuse a method call that would build a too large value; returns the
    arguments to call with (an iterable given to ``join`` is read once here)."""
    if not isinstance(obj, _METHODS):  # macros, filters, globals: nothing to check here
        return args
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", None)
    if isinstance(owner, (str, bytes)):
        n = len(owner)
        if name in ("ljust", "rjust", "center", "zfill") and args:
            check_size(max(n, _int_arg(args[0])), f"{name}({args[0]!r})")
        elif name == "expandtabs":
            size = _int_arg(args[0] if args else kwargs.get("tabsize", 8), 8)
            check_size(n + owner.count("\t" if isinstance(owner, str) else b"\t") * size, "expandtabs()")
        elif name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)):
                hits = n + 1 if not old else owner.count(old)
                if len(args) > 2 and isinstance(args[2], int) and args[2] >= 0:
                    hits = min(hits, args[2])
                check_size(n + hits * max(0, len(new) - len(old)), "replace()")
        elif name == "join" and args:
            items = list(args[0])
            size = sum(len(i) if isinstance(i, (str, bytes)) else 0 for i in items)
            check_size(size + max(0, len(items) - 1) * n, "join()")
            args = (items,) + args[1:]
        elif name == "translate" and args and isinstance(args[0], dict):
            longest = max((len(v) for v in args[0].values() if isinstance(v, (str, bytes))), default=1)
            check_size(n * max(1, longest), "translate()")
    elif isinstance(owner, int) and name == "to_bytes":
        check_size(_int_arg(args[0] if args else kwargs.get("length", 1), 1), "to_bytes()")
    return args


# --------------------------------------------------------------------------
# filters: checks before the filters that can build a large value from small arguments


def _pre_center(env, value, width=80):
    check_size(max(len(str(value)), _int_arg(width)), f"center({width!r})")
    return value


def _pre_indent(env, s, width=4, first=False, blank=False):
    text = str(s)
    pad = len(width) if isinstance(width, str) else _int_arg(width)
    check_size(len(text) + (text.count("\n") + 1) * pad, "indent()")
    return s


def _pre_wordwrap(env, s, width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True):
    text = str(s)
    breaks = len(text) // max(1, _int_arg(width, 1)) + text.count("\n") + 1
    check_size(len(text) + breaks * len(str(wrapstring or "\n")), "wordwrap()")
    return s


def _pre_format(env, value, *args, **kwargs):
    _check_percent(str(value), kwargs or args)
    return value


def _pre_replace(env, s, old, new, count=None):
    text, old, new = str(s), str(old), str(new)
    hits = len(text) + 1 if not old else text.count(old)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    check_size(len(text) + hits * max(0, len(new) - len(old)), "replace()")
    return s


def _pre_join(env, value, d="", attribute=None):
    items = list(value)
    parts = map(make_attrgetter(env, attribute), items) if attribute is not None else items
    cap = _limits().value
    size = sum(_weight(p, cap) * _repr_factor(p) for p in parts)
    check_size(size + max(0, len(items) - 1) * len(str(d)), "join()")
    return items


def _pre_sum(env, iterable, attribute=None, start=0):
    if isinstance(start, (int, float, Decimal)):
        return iterable
    items = list(iterable)  # summing lists concatenates them
    parts = map(make_attrgetter(env, attribute), items) if attribute is not None else items
    cap = _limits().value
    check_size(_weight(start, cap) + sum(_weight(p, cap) for p in parts), "sum()")
    return items


def _pre_batch(env, value, linecount, fill_with=None):
    if fill_with is not None:
        check_size(_int_arg(linecount), f"batch({linecount!r})")
    return value


def _pre_slice(env, value, slices, fill_with=None):
    limit = _limits().range
    if _int_arg(slices) > limit:
        raise LimitExceeded(f"too large: slice({slices!r}) (at most {_n(limit)} slices)")
    return value


def _pre_urlize(env, value, trim_url_limit=None, nofollow=False, target=None, rel=None,
                extra_schemes=None):
    text = str(value)
    extra = len(str(target or "")) + len(str(rel or "")) + 40  # added to every link
    check_size(len(text) + (len(text) // 4 + 1) * extra, "urlize()")
    return value


def _pre_tojson(env, value, indent=None):
    pad = len(indent) if isinstance(indent, str) else _int_arg(indent)
    if pad > 16:
        raise LimitExceeded(f"too large: tojson(indent={indent!r}) (at most 16)")
    return value


_PRECHECKS: dict[str, Callable] = {
    "center": _pre_center,
    "indent": _pre_indent,
    "wordwrap": _pre_wordwrap,
    "format": _pre_format,
    "replace": _pre_replace,
    "join": _pre_join,
    "sum": _pre_sum,
    "batch": _pre_batch,
    "slice": _pre_slice,
    "urlize": _pre_urlize,
    "tojson": _pre_tojson,
}


def _bounded_filter(env: "BoundedSandbox", name: str, func: Callable) -> Callable:
    """``func`` with a step, the pre-check of its name if any, and a check of its result."""
    if getattr(func, "bando_bounded", False):
        return func
    pre = _PRECHECKS.get(name)
    # a filter marked pass_context/pass_eval_context/pass_environment gets that object first
    passes = getattr(func, "jinja_pass_arg", None) is not None

    @functools.wraps(func)  # keeps jinja_pass_arg, so Jinja passes the same arguments
    def bounded(*args, **kwargs):
        _step()
        if pre is not None:
            head, rest = (args[:1], args[1:]) if passes else ((), args)
            if rest:
                rest = (pre(env, *rest, **kwargs),) + rest[1:]
                args = head + rest
        return _account(func(*args, **kwargs), f"the result of the {name!r} filter")

    bounded.bando_bounded = True
    return bounded


class _BoundedFilters(dict):
    """The filters of a bounded sandbox: every filter put in is wrapped."""

    def __init__(self, env: "BoundedSandbox", filters: dict):
        super().__init__()
        self._env = env
        self.update(filters)

    def __setitem__(self, name, func):
        super().__setitem__(name, _bounded_filter(self._env, name, func))

    def update(self, *args, **kwargs):
        for name, func in dict(*args, **kwargs).items():
            self[name] = func

    def setdefault(self, name, func=None):
        if name not in self:
            self[name] = func
        return self[name]


# --------------------------------------------------------------------------
# globals


class BoundedRange:
    """What ``range()`` gives a template: a range of at most ``limits.range``
    numbers whose iteration counts one step per number."""

    __slots__ = ("_range",)

    def __init__(self, rng: range):
        self._range = rng

    def __iter__(self):
        for number in self._range:
            _step()
            yield number

    def __reversed__(self):
        return iter(BoundedRange(self._range[::-1]))

    def __len__(self) -> int:
        return len(self._range)

    def __contains__(self, item) -> bool:
        return item in self._range

    def __getitem__(self, index):
        got = self._range[index]
        return BoundedRange(got) if isinstance(got, range) else got

    def __eq__(self, other) -> bool:
        return isinstance(other, BoundedRange) and other._range == self._range

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._range)


def bounded_range(*args: int) -> BoundedRange:
    rng = range(*args)
    limit = _limits().range
    if len(rng) > limit:
        raise LimitExceeded(f"too large: range() of {_n(len(rng))} numbers (at most {_n(limit)})")
    return BoundedRange(rng)


class NotReproducible(SecurityError):
    """A template asked for something that differs from one run to the next."""


def _not_reproducible(name: str) -> Callable:
    # a letter is a decision's record: the same results and templates must give the same bytes every time
    def refuse(*args: Any, **kwargs: Any):
        raise NotReproducible(f"{name} is not available: a letter must read the same on every run")
    return refuse


def _bounded_dumps(obj: Any, **kwargs: Any) -> str:
    """json.dumps for the ``tojson`` filter, stopped as soon as it is too long."""
    limit = _limits().value
    out: list[str] = []
    size = 0
    for chunk in json.JSONEncoder(**kwargs).iterencode(obj):
        size += len(chunk)
        if size > limit:
            raise LimitExceeded(f"too large: tojson would be more than {_n(limit)} characters long")
        out.append(chunk)
    return "".join(out)


# --------------------------------------------------------------------------
# code generation: guard every loop, check ~ and literals


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with three changes: the iterable of every
    ``{% for %}`` goes through ``environment.guard_loop`` (a step per
    iteration), and ``~`` and list/tuple/dict literals go through
    ``environment.join_values`` / ``environment.checked``."""

    def visit_For(self, node: nodes.For, frame) -> None:
        guarded = nodes.Call(nodes.EnvironmentAttribute("guard_loop", lineno=node.iter.lineno,
                                                        environment=self.environment),
                             [node.iter], [], None, None, lineno=node.iter.lineno,
                             environment=self.environment)
        copy = nodes.For(node.target, guarded, node.body, node.else_, node.test, node.recursive,
                         lineno=node.lineno, environment=self.environment)
        super().visit_For(copy, frame)

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame) -> None:
        if frame.eval_ctx.volatile:
            autoescape = "context.eval_ctx.autoescape"
        else:
            autoescape = "True" if frame.eval_ctx.autoescape else "False"
        self.write("environment.join_values((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {autoescape})")

    def _checked(self, visit, node, frame) -> None:
        if getattr(node, "ctx", "load") != "load":  # an assignment target: {% for a, b in ... %}
            visit(node, frame)
            return
        self.write("environment.checked(")
        visit(node, frame)
        self.write(")")

    def visit_List(self, node, frame) -> None:
        self._checked(super().visit_List, node, frame)

    def visit_Tuple(self, node, frame) -> None:
        self._checked(super().visit_Tuple, node, frame)

    def visit_Dict(self, node, frame) -> None:
        self._checked(super().visit_Dict, node, frame)


class _BoundedTemplate(Template):
    """Templates of a bounded sandbox: an imported template (``{% import %}``)
    is rendered through the same count of produced characters."""

    def make_module(self, vars=None, shared=False, locals=None):  # noqa: A002 - Jinja's names
        ctx = self.new_context(vars, shared, locals)
        return TemplateModule(self, ctx, list(self.environment.counted(self.root_render_func(ctx))))


# --------------------------------------------------------------------------
# the environment


def _bool_words(words: tuple[str, str], then: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """A ``finalize`` writing ``True``/``False`` as ``words`` (yes, no), then applying ``then``."""
    yes, no = words

    def finalize(value: Any) -> Any:
        if value is True:
            value = yes
        elif value is False:
            value = no
        return then(value) if then is not None else value
    return finalize


# what getattr(a_dict, name) finds on the type itself (a dict has no attributes of its own)
_DICT_ATTRIBUTES = frozenset(dir(dict))
# the loop variables Jinja documents: properties and methods the sandbox lets through anyway
_LOOP_ATTRIBUTES = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length",
                              "depth", "depth0", "previtem", "nextitem", "cycle", "changed"})


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """An immutable sandbox whose renders are bounded (see the module doc).

    ``limits`` are the bounds of each :meth:`render`; ``escape`` replaces
    ``markupsafe.escape`` for autoescaped output (``autoescape=True`` is
    needed for it to apply). Other arguments are those of
    ``jinja2.Environment``.
    """

    code_generator_class = _BoundedCodeGenerator
    template_class = _BoundedTemplate
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, limits: RenderLimits | None = None,
                 escape: Callable[[Any], Markup] | None = None,
                 booleans: tuple[str, str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.limits = limits or RenderLimits()
        self.escape_value = escape or html_escape
        # markupsafe's escape is Jinja's own: a finalize step would only escape every value twice
        if escape is not None and escape is not html_escape:
            if kwargs.get("finalize") is not None:
                raise TypeError("BoundedSandbox: give either escape or finalize")
            # runs before Jinja's own escape(), which leaves Markup as it is
            self.finalize = self._escape_output
            self.filters.update(e=self._escape_output, escape=self._escape_output,
                                forceescape=self._force_escape)
        if booleans is not None:
            # a letter says "sì"/"no" ("yes"/"no"), never Python's True/False: ``booleans`` are the
            # language's words for true and false, written wherever a template prints a bool
            self.finalize = _bool_words(booleans, self.finalize)
        self.filters["random"] = _not_reproducible("the random filter")
        self.filters = _BoundedFilters(self, self.filters)
        self.globals.update(range=bounded_range, lipsum=_not_reproducible("lipsum()"), namespace=BoundedNamespace)
        self.policies["json.dumps_function"] = _bounded_dumps

    def _escape_output(self, value):
        return value if hasattr(value, "__html__") else self.escape_value(value)

    def _force_escape(self, value):
        # as Jinja's forceescape: markup is turned back into text, then escaped
        return self.escape_value(str(value.__html__() if hasattr(value, "__html__") else value))

    # -- the hooks Jinja calls from template code -------------------------------------------

    def getattr(self, obj: Any, attribute: str) -> Any:
        """``obj.attribute``: as Jinja's sandbox, with a short way for the keys of a plain dict.

        Jinja tries the attribute first and the item after the AttributeError; a letter reads
        ``result.score`` a hundred times, so for a ``dict`` whose type has no such attribute
        (``values``, ``items``... still go the sandbox's way) the key is read directly: the same
        value, or the same undefined, without raising and catching an exception each time."""
        cls = type(obj)
        if cls is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        if cls is LoopContext and attribute in _LOOP_ATTRIBUTES:
            return getattr(obj, attribute)  # loop.index on every line of a list: public, plain values
        return super().getattr(obj, attribute)

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_product(left, right)
        elif operator == "+":
            if isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
                cap = self.limits.value
                check_size(_weight(left, cap) + _weight(right, cap), "'+'")
        elif operator == "%" and isinstance(left, str):
            _check_percent(left, right)
        return _account(self.binop_table[operator](left, right), f"the result of {operator!r}")

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 - Jinja's signature
        _step()
        if isinstance(__obj, LoopContext) and args:  # loop(children) in a recursive loop
            args = (__self.guard_loop(args[0]),) + args[1:]
        args = _check_method(__obj, args, kwargs)
        return _account(super().call(__context, __obj, *args, **kwargs), "the result of a call")

    def wrap_str_format(self, value: Any):
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__
        is_map = value.__name__ == "format_map"

        @functools.wraps(wrapped)
        def bounded(*args, **kwargs):
            if is_map and len(args) == 1 and isinstance(args[0], dict):
                _check_format(fmt, (), args[0])
            else:
                _check_format(fmt, args, kwargs)
            return _account(wrapped(*args, **kwargs), "the result of format()")

        return bounded

    def concat(self, parts: Iterable[str]) -> str:
        """Join a buffer (a macro's output, a block, ``{% set %}...{% endset %}``)."""
        parts = list(parts)
        check_size(sum(map(len, parts)), "the text of a macro, block or {% set %}")
        return _account("".join(parts), "the text of a macro, block or {% set %}")

    def join_values(self, parts: tuple, autoescape: bool):
        """``a ~ b ~ c``: as Jinja's markup_join/str_join, with this sandbox's
        escape and a bounded result."""
        if autoescape and any(hasattr(p, "__html__") for p in parts):
            texts = [p if hasattr(p, "__html__") else self.escape_value(p) for p in parts]
            check_size(sum(map(len, texts)), "'~'")
            # every part is markup already: Markup.join would escape each one again
            return _account(Markup("".join(texts)), "the result of '~'")
        texts = [str(p) for p in parts]
        check_size(sum(map(len, texts)), "'~'")
        return _account("".join(texts), "the result of '~'")

    def checked(self, value):
        """A list, tuple or dict literal of the template."""
        return _account(value, "a list, tuple or dict")

    def guard_loop(self, iterable):
        """Every ``{% for %}`` iterates through here: one step per item."""
        for item in iterable:
            _step()
            yield item

    def counted(self, stream: Iterable[str]):
        """The body of an imported template, counted as produced text."""
        for chunk in stream:
            _account(chunk, "an imported template")
            yield chunk

    # -- rendering -----------------------------------------------------------------------------

    def render(self, template: Template, context: dict,
               prepare: Callable[[dict], dict] | None = None) -> str:
        """Render ``template`` with ``context`` within the limits. ``prepare``
        runs first inside the same budget (to build helpers the template
        uses). Raises what the template raises, :class:`LimitExceeded` on a breach."""
        with render_scope(self.limits) as budget:
            if prepare is not None:
                context = prepare(context)
            out: list[str] = []
            size = 0
            stream = template.generate(context)
            for chunk in stream:
                size += len(chunk)
                out.append(chunk)
                problem = None
                if size > budget.limits.output:
                    problem = LimitExceeded(f"the letter is longer than {_n(budget.limits.output)} characters")
                elif time.monotonic() > budget.deadline:
                    problem = BudgetExceeded(f"the letter took more than {budget.limits.seconds:g} s to render")
                if problem is not None:
                    # raised where the template stands, so that the error names its line
                    stream.throw(problem)
                    raise problem  # pragma: no cover - throw() re-raises it
            return "".join(out)


@contextlib.contextmanager
def render_scope(limits: RenderLimits):
    """The scope of a render: its step count, clock and totals, under
    ``limits``. A scope opened inside another one is the outer one: so a
    caller can give several renders one budget (``bando check`` dry-renders
    every template within one time limit)."""
    current = _BUDGET.get()
    if current is not None:
        yield current
        return
    token = _BUDGET.set(_Budget(limits, time.monotonic() + limits.seconds))
    try:
        yield _BUDGET.get()
    finally:
        _BUDGET.reset(token)


def _check_power(left: Any, right: Any) -> None:
    if isinstance(left, bool) or isinstance(right, bool):
        return
    if isinstance(left, int) and isinstance(right, int) and right > 1 and abs(left) > 1:
        digits = right * math.log10(abs(left))
        if digits > MAX_INT_DIGITS:
            raise LimitExceeded(f"too large: {left} ** {right} would have about {_n(digits + 1)} digits "
                                f"(at most {_n(MAX_INT_DIGITS)})")


def _check_product(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int):
        if left.bit_length() + right.bit_length() > _MAX_INT_BITS + 1:
            raise LimitExceeded(f"too large: the product would have more than {_n(MAX_INT_DIGITS)} digits")
        return
    seq, times = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(seq, (str, bytes, list, tuple)) and isinstance(times, int) and times > 0:
        shown = seq if len(seq) <= 10 else type(seq).__name__
        check_size(_weight(seq, _limits().value) * times, f"{shown!r} * {times}")
