"""Load a policy once; evaluate many applications.

>>> from engine import load_policy
>>> policy = load_policy("policies/salentonet.bando")       # doctest: +SKIP
>>> result = policy.evaluate({"id": "A-1", ...})             # doctest: +SKIP
>>> result.status, result.score, result.to_dict()["gates"]   # doctest: +SKIP

A loaded :class:`Policy` is immutable after loading and safe to share between
threads: evaluation only reads it (explanation helpers are compiled on first
use under a lock).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from decimal import Decimal
from pathlib import Path

from dsl import ast
from dsl.checker import CheckedPolicy, check
from dsl.errors import (FILE_NOT_FOUND, NOT_A_POLICY, PATH_REFUSED, TOO_LARGE, UNREADABLE, Diagnostic,
                        PolicyError)
from dsl.limits import MAX_POLICY_BYTES, Budget, describe_bytes
from dsl.numbers import int_problem
from dsl.parser import not_a_policy, parse_source
from dsl.source import Source, Span

from engine.explain import explain as _explain
from engine.text import i18n
from engine.text.exact import json_number
from engine.compile.compiler import compile_policy
from engine.paths import NotRegularFile, PathRefused, PolicyTree, TooLarge, file_kind, read_regular
from engine.evaluate import params as _params
from engine.evaluate import stages as _stages
from engine.evaluate.result import Decision, Result
from engine.compile.validate import Prevalidated, Validator, const_eval, exact_json_float


def read_source(path) -> Source:
    """Read a policy file as UTF-8, with a clean error for binary or non-UTF-8 files.

    Only a regular file is read (a FIFO or ``/dev/zero`` is refused before it is
    opened), and at most :data:`dsl.limits.MAX_POLICY_BYTES` of it.
    """
    p = Path(path)
    where = Source("", str(p))
    try:
        data = read_regular(os.fspath(p), MAX_POLICY_BYTES)
    except FileNotFoundError:
        raise PolicyError([Diagnostic(f"policy file not found: {p}", None, where, code=FILE_NOT_FOUND)]) from None
    except NotRegularFile as e:
        raise PolicyError([Diagnostic(f"{p} is {e.kind}, not a policy file", None, where,
                                      code=PATH_REFUSED)]) from None
    except TooLarge:
        raise PolicyError([_too_large(p, where)]) from None
    except OSError as e:
        raise PolicyError([Diagnostic(f"cannot read {p}: {e.strerror}", None, where, code=UNREADABLE)]) from None
    return _decode(data, str(path), str(p))


def _too_large(name, where, modules=False, span=None) -> Diagnostic:
    together = " (the policy and the shared modules it uses, together)" if modules else ""
    return Diagnostic(f"{name} is too large: a policy may have at most {describe_bytes(MAX_POLICY_BYTES)}"
                      f"{together}", span, where, code=TOO_LARGE, quote=False,
                      hint="the largest calls shipped with bando have about 15 KiB")


def _decode(data: bytes, name: str, path: str) -> Source:
    """The text of a policy file; a file that is not UTF-8 is reported without showing its bytes
    unless it starts like a policy (see :func:`dsl.parser.not_a_policy`)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        source = Source(data.decode("utf-8", errors="replace"), name, path)
        refused = not_a_policy(source)
        if refused is not None:
            raise PolicyError([refused]) from None
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise PolicyError([Diagnostic(
            f"this file is not UTF-8 text (byte 0x{data[e.start]:02x} at line {line}); "
            "save the policy as UTF-8", Span(line, col, line, col + 1), source, code=UNREADABLE)]) from None
    return Source(text.replace("\r\n", "\n"), name, path)


def _quoted_span(node, source: Source) -> Span | None:
    """The span of the first text in quotes inside ``node`` (the path of a `use`, a `case`, a header
    item), so that the caret points at the path rather than under the whole line."""
    span = node.span
    if span is None or span.end <= span.start:
        return span
    i = source.text.find('"', span.start, span.end)
    if i < 0:
        return span
    j = i + 1
    while j < span.end and source.text[j] != '"':
        j += 2 if source.text[j] == "\\" else 1
    line, col = source.position(i)
    return Span(line, col, line, col + (min(j, span.end - 1) - i) + 1, i, min(j + 1, span.end))


def _refused(e: PathRefused, node, source, hint=True) -> Diagnostic:
    return Diagnostic(e.message, _quoted_span(node, source), source, hint=e.hint if hint else None,
                      code=PATH_REFUSED)


def _load_module(use: ast.Use, source: Source, tree: PolicyTree, budget: Budget, seen: set):
    """``(module source, module AST)`` for one `use`, None if already loaded; raises PolicyError."""
    base = os.path.dirname(source.path) if source.path else os.getcwd()
    try:
        real = tree.resolve(base, use.path, "shared module")
    except PathRefused as e:
        raise PolicyError([_refused(e, use, source)]) from None
    if real in seen:
        return None
    seen.add(real)
    path = os.path.normpath(os.path.join(base, use.path))
    if budget.modules >= budget.max_modules:
        raise PolicyError([Diagnostic(f"too many shared modules: a policy may use at most {budget.max_modules}",
                                      use.span, source, code=TOO_LARGE)])
    budget.modules += 1
    try:
        data = read_regular(real, budget.max_bytes - budget.bytes)
    except FileNotFoundError:
        raise PolicyError([Diagnostic(f"shared module `{use.path}` not found (looked for {path})",
                                      use.span, source, code=FILE_NOT_FOUND)]) from None
    except NotRegularFile as e:
        raise PolicyError([Diagnostic(f"shared module `{use.path}` {e.message}", use.span, source,
                                      hint=e.hint, code=PATH_REFUSED)]) from None
    except TooLarge:
        raise PolicyError([_too_large(f"with shared module `{use.path}` the policy", source, modules=True,
                                      span=_quoted_span(use, source))]) from None
    except OSError as e:
        raise PolicyError([Diagnostic(f"cannot read shared module `{use.path}`: {e.strerror}", use.span,
                                      source, code=UNREADABLE)]) from None
    budget.bytes += len(data)
    msrc = _decode(data, os.path.relpath(path) if not os.path.isabs(source.name) else path, real)
    try:
        return msrc, parse_source(msrc, budget)
    except PolicyError as e:
        if len(e.diagnostics) == 1 and e.diagnostics[0].code == NOT_A_POLICY:
            # said at the `use`: the module's own lines are not shown
            d = e.diagnostics[0]
            raise PolicyError([Diagnostic(f"shared module `{use.path}` is {d.message}", use.span, source,
                                          hint="a shared module holds `record` and `let` definitions",
                                          code=NOT_A_POLICY)]) from None
        raise


def _load_modules(source: Source, policy: ast.Policy, tree: PolicyTree, budget: Budget):
    """Parse the files named by ``use`` (through other modules too, each once), relative to the file
    that names them and inside ``tree``; ``(modules, problems)``, each module after those it uses.

    Walked with an explicit stack: a chain of modules using one another cannot exhaust Python's recursion.
    """
    seen = {os.path.realpath(source.path)} if source.path else set()
    modules, problems = [], []
    stack = [(source, None, iter(policy.of_type(ast.Use)))]
    while stack:
        src, mod, uses = stack[-1]
        use = next(uses, None)
        if use is None:
            stack.pop()
            if mod is not None:
                modules.append((src, mod))
            continue
        try:
            loaded = _load_module(use, src, tree, budget, seen)
        except PolicyError as e:
            problems.extend(e.diagnostics)
            continue
        if loaded is not None:
            msrc, m = loaded
            stack.append((msrc, m, iter(m.of_type(ast.Use))))
    return modules, problems


def _path_problems(files, tree: PolicyTree) -> list[Diagnostic]:
    """The `case` files and the `templates` folder named by ``files`` (``(source, AST)`` pairs) that are
    outside the tree or not what they should be; checked when the policy is loaded, used later."""
    problems = []
    for source, policy in files:
        if not source.path:
            continue  # a policy given as text: `bando test` resolves its cases against the folder it is given
        base = os.path.dirname(source.path)
        for examples in policy.of_type(ast.Examples):
            for case in examples.cases:
                try:
                    real = tree.resolve(base, case.file, "example file")
                except PathRefused as e:
                    # the hint once: a policy whose examples are all outside its tree has dozens of cases
                    problems.append(_refused(e, case, source, hint=not any(d.code == PATH_REFUSED
                                                                           for d in problems)))
                    continue
                try:
                    kind = file_kind(os.stat(real).st_mode)
                except OSError:
                    continue  # missing: the checker says so
                if kind is not None:
                    problems.append(Diagnostic(f"example file `{case.file}` is {kind}, not a regular file",
                                               _quoted_span(case, source), source, code=PATH_REFUSED,
                                               hint="a policy can only name ordinary files"))
        for call in policy.of_type(ast.CallDef):
            for item in call.items:
                if item.key == "templates" and isinstance(item.value, ast.String):
                    try:
                        tree.resolve(base, item.value.value, "letter templates folder")
                    except PathRefused as e:
                        problems.append(_refused(e, item, source))
    return problems


def check_source(source: Source, root=None) -> CheckedPolicy:
    """Parse and check; raises :class:`PolicyError` on syntax errors and on files the policy may not
    use, returns diagnostics otherwise.

    Every path the policy names must stay inside its tree (:class:`engine.paths.PolicyTree`: the
    policy's folder, a folder above it marked with ``.bando-root``, or ``root``); the policy and its
    modules together are held to :mod:`dsl.limits`.
    """
    budget = Budget()
    size = len(source.text.encode("utf-8"))
    if size > budget.max_bytes:
        raise PolicyError([_too_large(source.name, source)])
    budget.bytes = size
    try:
        tree = PolicyTree.of(source.path, root)
    except PathRefused as e:
        raise PolicyError([Diagnostic(e.message, None, source, hint=e.hint, code=PATH_REFUSED)]) from None
    policy = parse_source(source, budget)
    modules, problems = _load_modules(source, policy, tree, budget)
    problems += _path_problems([(source, policy)] + modules, tree)
    if problems:
        raise PolicyError(problems)
    return check(policy, source, modules, languages=i18n.languages(),
                 template_words=_template_words(source, policy, tree))


#: what the unused-let check reads of a policy's letter templates: enough for any real set of letters
_TEMPLATE_FILES, _TEMPLATE_BYTES = 200, 1_000_000
_TEMPLATE_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _template_words(source: Source, policy: ast.Policy, tree: PolicyTree) -> frozenset:
    """Every word of the policy's own letter templates (the `templates` folder it names, else
    NAME.letters/ beside it): a `let` named in a template is used by the letters, not unused (W110).

    Only files inside the policy's tree are read, regular files only, a bounded number of bounded
    size; a folder that cannot be read gives no words (its problems are `bando check`'s templates
    check's to report)."""
    if not source.path:
        return frozenset()
    base = os.path.dirname(source.path) or "."
    named = next((item.value.value for call in policy.of_type(ast.CallDef) for item in call.items
                  if item.key == "templates" and isinstance(item.value, ast.String)), None)
    stem = os.path.splitext(os.path.basename(source.path))[0]
    try:
        folder = tree.resolve(base, named or stem + ".letters", "letter templates folder")
    except PathRefused:
        return frozenset()
    if not os.path.isdir(folder):
        return frozenset()
    words: set[str] = set()
    try:
        names = sorted(os.listdir(folder))[:_TEMPLATE_FILES]
    except OSError:
        return frozenset()
    for name in names:
        try:
            path = tree.resolve(folder, name, "letter template")
            data = read_regular(path, _TEMPLATE_BYTES)
        except (PathRefused, NotRegularFile, TooLarge, OSError):
            continue
        words.update(_TEMPLATE_WORD.findall(data.decode("utf-8", "replace")))
    return frozenset(words)


def compile_checked(cp: CheckedPolicy, params: dict | None = None) -> "Policy":
    """Compile a checked policy; a policy too layered for the compiler is a clear error, not a crash.

    A policy with ``parameters`` is compiled with this run's values (``params``: name -> value as
    typed, else each parameter's default) written in: :mod:`engine.evaluate.params`. Raises
    :class:`PolicyError` when a value is unknown, of the wrong type or missing."""
    values = ()
    unbound = cp
    if cp.parameters is not None or params:
        values = _params.values_for(cp, params)
        cp = _params.bound(cp, values)
    try:
        policy = Policy(cp)
        policy.params = values
        policy._unbound = unbound
        return policy
    except RecursionError:
        # e.g. thousands of `let`s each defined by the one before: far past what a call needs
        raise PolicyError([Diagnostic(
            "this policy's definitions are layered too deeply to compile (a `let` that depends on a `let` "
            "that depends on another…, thousands of times)", None, cp.source, code=TOO_LARGE)]) from None


#: the variants of one policy (other values of its parameters) kept compiled at once
MAX_VARIANTS = 16


class Policy:
    """A compiled policy. Build it with :func:`load_policy`."""

    def __init__(self, cp: CheckedPolicy):
        self.checked = cp
        self.source = cp.source
        call = cp.call
        self.name = call.name if call else "?"
        self.version = call.version if call else "?"
        self.language = cp.language
        self.currency = cp.currency
        h = hashlib.sha256(cp.source.text.encode("utf-8"))
        for msrc, _ in cp.modules:
            h.update(b"\0" + msrc.text.encode("utf-8"))
        self.sha256 = h.hexdigest()
        self.warnings = cp.warnings
        self.gates = list(cp.gates)
        self.cross_gates = list(cp.cross_gates)  # decided across a batch's applications (engine/score/cross.py)
        self.criteria = list(cp.criteria)
        self.score_def = cp.score
        self.max_score = cp.score.max if cp.score else None
        self.pass_score = cp.score.pass_ if cp.score else None
        self.cases = list(cp.cases)
        self.ranking = cp.ranking
        self._compiler = compile_policy(cp)
        self._decide = self._compiler.build_decide()
        self._env = None
        self._validator = Validator(cp, const_eval)
        self._weights = tuple((c.weight if c.weight is not None else 1,
                               (c.weight if c.weight is not None else 1) *
                               (c.ranking_weight if c.ranking_weight is not None else 1)) for c in self.criteria)
        # with no weights the score is a plain sum (the common case, and the fast path's hot spot)
        self._unit_weights = all(w == 1 and rw == 1 for w, rw in self._weights)
        self._has_grant = "grant" in cp.decls
        self._minimums = tuple((c.id, c.minimum) for c in self.criteria if c.minimum is not None)
        self._crit_index = {c.id: i for i, c in enumerate(self.criteria)}
        # bonuses and maluses: their points follow the criteria's in the points tuple
        self.bonuses = list(cp.bonuses)
        self._bonus_rules = tuple((1 if b.kind == "bonus" else -1, b.stage == "after") for b in self.bonuses)
        # a call with an evaluation panel (engine.evaluate.stages): its marks' rules, and the criteria that read them
        self.marks = dict(cp.marks)
        self.panel_criteria = _stages.criteria_reading_marks(cp) if self.marks else {}
        self._explainers: dict = {}  # the explaining fast path (engine.compile.tracegen) under None, built on first use
        self._explain_lock = threading.Lock()

    def __repr__(self):
        return f"<Policy {self.name!r} version {self.version!r}>"

    # what the trace generator (engine.compile.tracegen), the policy's own helper, builds on
    @property
    def compiler(self):
        """The policy's code generator (:class:`engine.compile.compiler.Compiler`)."""
        return self._compiler

    @property
    def validator(self):
        """The policy's input validator (:class:`engine.compile.validate.Validator`)."""
        return self._validator

    @property
    def build_lock(self) -> threading.Lock:
        """Held while a piece of the policy built on first use (explaining function, typed tracer) is built."""
        return self._explain_lock

    #: this run's values of the call's parameters (:class:`engine.evaluate.params.ParamValue`), in
    #: declaration order; empty for a call without parameters (set by :func:`compile_checked`)
    params: tuple = ()

    @property
    def policy_info(self) -> dict:
        info = {"name": self.name, "version": self.version, "sha256": self.sha256}
        if self.params:  # a call without parameters reads exactly as before
            info["params"] = self.param_values
        return info

    @property
    def param_values(self) -> dict:
        """``{"action": "IA", ...}``: the values of this run as ``--param`` takes them (results, manifest)."""
        return {v.id: v.plain for v in self.params}

    def params_line(self, lang: str) -> str:
        """``Parametri del bando: tipo di azione IA`` in ``lang``; "" for a call without parameters."""
        return _params.line(self.params, lang, self.language, self.currency)

    def variant(self, params: dict) -> "Policy":
        """This policy compiled with other parameter values (``params``: name -> text or policy literal,
        the others as in this run); variants are built once each."""
        merged = {**self.param_values, **params}
        key = tuple(sorted((k, v if isinstance(v, str) else repr(v)) for k, v in merged.items()))
        cache = self.__dict__.setdefault("_variants", {})
        found = cache.get(key)
        if found is None:
            found = compile_checked(self._unbound, merged)
            if len(cache) >= MAX_VARIANTS:  # a server asked for ever new values keeps the latest ones only
                del cache[next(iter(cache))]
            cache[key] = found
            found._variants = cache
        return found

    def title(self, lang) -> str:
        """The call's title in ``lang``: its name in the call's own language, the header's
        ``title_<lang>`` (``title_en``) in another language that has one, else its name."""
        if lang == self.language:
            return self.name
        return self.checked.header.get(f"title_{lang}") or self.name

    def titles(self) -> dict:
        """The call's title in each language whose title is not its name (``{"en": "…"}``)."""
        out = {}
        for key, value in self.checked.header.items():
            if key.startswith("title_") and value and key[len("title_"):] != self.language and value != self.name:
                out[key[len("title_"):]] = value
        return dict(sorted(out.items()))

    def result_info(self, lang) -> dict:
        """The ``policy`` of a result in ``lang``: the rules' identity, and the call's ``title`` in
        ``lang`` when it is not its name (an English result of an Italian call with ``title_en``)."""
        cache = self.__dict__.setdefault("_result_info", {})
        found = cache.get(lang)
        if found is None:
            found = self.policy_info
            title = self.title(lang)
            if title != self.name:
                found["title"] = title
            cache[lang] = found
        return found

    # --- evaluation ------------------------------------------------------------------------
    def validate(self, data):
        """``(typed_value, errors)``: errors are ``(path, message)`` pairs."""
        return self._validator.validate(_stages.split(self.marks, data)[0])

    def decide(self, data) -> Decision:
        """Evaluate one application on the fast path (no explanation). Never raises."""
        if self.marks:
            data, outcome = _stages.split(self.marks, data)
            return _stages.decision(self._decide_data(data), outcome)
        return self._decide_data(data)

    def _decide_data(self, data) -> Decision:
        app_id = _app_id(data)
        fast = self._validator.fast_path
        if fast is not None:
            try:
                return self._finish(app_id, *fast(data))
            except Exception:  # Bail, or anything the fast path did not expect: the full path decides
                pass
        value, errors = self._validator.validate(data)
        if errors:
            return Decision(app_id, "invalid", errors=tuple(errors))
        return self.decide_valid(app_id, value)

    def decide_valid(self, app_id, value) -> Decision:
        """The fast path on data already converted by :meth:`validate`."""
        try:
            return self._finish(app_id, *self._decide(value))
        except Exception as e:  # a bug in bando, not in the data: say so, never crash a batch
            return _internal(app_id, e)

    def _finish(self, app_id, failed, points, grant, requested, applicant, submitted):
        score = rscore = criteria_score = None
        below = applied = ()
        judged = None  # the score the pass mark is judged on
        if points is not None and self.score_def is not None:
            crit_points = points[:len(self.criteria)] if self.bonuses else points
            if self._unit_weights:
                score = rscore = Decimal(sum(crit_points))
            else:
                score = Decimal(0)
                rscore = Decimal(0)
                for p, (w, rw) in zip(crit_points, self._weights):
                    score += p * w
                    rscore += p * rw
            if self._minimums:
                below = tuple(cid for cid, m in self._minimums if points[self._crit_index[cid]] < m)
            judged = score
            if self.bonuses:
                score, rscore, judged, applied, criteria_score = self._with_bonuses(points, score, rscore, below)
        computed = None
        if failed:
            status = "ineligible"
            grant = None
        elif judged is not None and (judged < self.pass_score or below):
            status = "below_threshold"
            grant = None
        else:
            status = "admitted"
            if self._has_grant:
                # `grant` is what can be paid: never below zero. The amount the rules gave is kept
                # apart, so that the ranking and the explanation can say why nothing is paid.
                computed = grant
                if grant is None or grant < 0:
                    grant = _ZERO
        return Decision(app_id, status, tuple(failed), points, score, rscore, grant, requested,
                        applicant, submitted, below, grant_computed=computed, criteria_score=criteria_score,
                        bonus_applied=applied)

    def _with_bonuses(self, points, score, rscore, below):
        """``(score, ranking score, score judged against the pass mark, applied per bonus, criteria's score)``.

        A `before pass` bonus or malus counts in the score the pass mark is judged on; an `after
        pass` one only once that score reaches the pass mark (and no criterion is under its
        minimum). A malus subtracts; no score goes below zero.
        """
        extra = list(points[len(self.criteria):])
        before = sum((sign * p for p, (sign, after) in zip(extra, self._bonus_rules) if not after), Decimal(0))
        judged = max(score + before, _ZERO_POINTS)
        reached = judged >= self.pass_score and not below
        after = sum((sign * p for p, (sign, late) in zip(extra, self._bonus_rules) if late), Decimal(0)) \
            if reached else Decimal(0)
        applied = tuple(reached or not late for _sign, late in self._bonus_rules)
        return (max(judged + after, _ZERO_POINTS), max(rscore + before + after, _ZERO_POINTS), judged, applied,
                score)

    def evaluate(self, data, lang: str | None = None) -> Result:
        """Evaluate one application and explain every gate and criterion. Never raises."""
        return self.evaluate_full(data, lang)[0]

    def evaluate_full(self, data, lang: str | None = None):
        """``(result, decision, typed value)``: validates once, for callers that need all three."""
        lang = lang or self.language
        data, outcome = _stages.split(self.marks, data)
        decision, trace, value = self._traced(data)
        if trace is None:  # invalid: its problems in words
            result = _explain.explain(self, value, decision, lang, data)
        else:
            result = _explain.render(self, decision, trace, lang)
        return _stages.result(self, result, outcome, lang), _stages.decision(decision, outcome), value

    def trace(self, data):
        """``(decision, trace)``: the decision and the facts its explanation rests on, no sentence written
        (:mod:`engine.evaluate.trace`; the trace is None for invalid data). Never raises."""
        data, outcome = _stages.split(self.marks, data)
        decision, trace, _value = self._traced(data)
        return _stages.decision(decision, outcome), trace

    def _traced(self, data):
        """``(decision, trace or None, typed value)``, by the explaining fast path when it accepts the data."""
        app_id = _app_id(data)
        compiled = self._explainers.get(None, _UNBUILT)
        if compiled is _UNBUILT:
            compiled = self._build_explainer()
        if compiled is not None:
            # the explaining fast path: checks, decides and records the facts in one generated function;
            # data it does not accept outright (invalid, unusual types) takes the typed path below
            try:
                out = compiled(data)
                decision = self._finish(app_id, *out[0])
            except Exception:
                pass
            else:
                value = Prevalidated(data, out[0], self._validator)
                try:
                    return decision, _explain.fused_trace(self, decision, out, lambda lets: _full_env(self, data, lets)), \
                        value
                except Exception as e:  # a bug in bando, not in the data: say so, never crash a batch
                    return _internal(app_id, e), None, value
        value, errors = self._validator.validate(data)
        if errors:
            return Decision(app_id, "invalid", errors=tuple(errors)), None, value
        decision = self.decide_valid(app_id, value)
        if decision.status == "invalid":
            return decision, None, value
        try:
            return decision, _explain.typed_trace(self, value, decision), value
        except Exception as e:  # a bug in bando, not in the data: say so, never crash a batch
            return _internal(app_id, e), None, value

    def _build_explainer(self):
        from engine.compile.tracegen import build
        with self._explain_lock:
            if None not in self._explainers:
                try:
                    built = build(self)
                except Exception:  # pragma: no cover - a gap in the generator: the typed tracer records everything
                    built = None
                self._explainers[None] = built
            return self._explainers[None]

    def explain(self, data, decision: Decision, lang: str | None = None) -> Result:
        """The full :class:`Result` for an application already decided."""
        lang = lang or self.language
        if self.marks:  # the evaluation's status is the panel's: decided again from the data
            if decision.status != "invalid":  # (the same data decides the same)
                return self.evaluate_full(data, lang)[0]
            data, outcome = _stages.split(self.marks, data)
            return _stages.result(self, self._explain_data(data, decision, lang), outcome, lang)
        return self._explain_data(data, decision, lang)

    def _explain_data(self, data, decision, lang) -> Result:
        if decision.status != "invalid":
            # the facts come from the explaining fast path when it accepts the data (the same data
            # gives the same facts); the sentences are those of ``decision``
            _decided, trace, _value = self._traced(data)
            if trace is not None:
                return _explain.render(self, decision, trace, lang)
            value = self._validator.validate(data)[0]
        else:  # what could be read: its valid fields may name the applicant
            value = self._validator.validate_full(data)[0] if isinstance(data, dict) else None
        return _explain.explain(self, value, decision, lang, data)

    def env(self, value):
        if self._env is None:
            self._env = self._compiler.build_env()
        return self._env(value)

    def compile_expr(self, node, bound=(), result=False):
        return self._compiler.compile_expr(node, bound, result)

    def compile_each(self, node, var, bound=()):
        return self._compiler.compile_each(node, var, bound)

    # --- information ---------------------------------------------------------------------------
    def label_of(self, node, lang):
        label = getattr(node, "label", None)
        if label is None:
            return node.id.replace("_", " ")
        return label.get(lang, self.language)

    def call_info(self) -> dict:
        h = self.checked.header
        closes, opens = h.get("closes"), h.get("opens")
        budget = h.get("budget")
        return {
            "name": self.name, "version": self.version,
            "titles": self.titles(),
            "authority": h.get("authority"),
            "language": self.language, "currency": self.currency,
            "budget": format(budget.quantize(Decimal("0.01")), "f") if budget is not None else None,
            "opens": opens.isoformat() if opens is not None else None,
            "closes": closes.isoformat() if closes is not None else None,
            "reference": h.get("reference"), "signatory": h.get("signatory"),
            "appeal_days": h.get("appeal_days"), "appeal_body": h.get("appeal_body"),
            "contact": h.get("contact"), "place": h.get("place"),
            "acceptance_days": h.get("acceptance_days"),
            "de_minimis": _has_de_minimis_rule(self.checked),
            "max_score": json_number(self.max_score), "pass_score": json_number(self.pass_score),
            "criteria": [{"id": c.id, "label": self.label_of(c, self.language), "max": json_number(c.max)}
                         for c in self.criteria],
            "gates": [{"id": g.id, "label": self.label_of(g, self.language)} for g in self.gates],
            "policy": self.policy_info,
        }

    def json_schema(self) -> dict:
        from engine.compile.schema import json_schema
        return json_schema(self)


_UNBUILT = object()
_ZERO = Decimal("0.00")
_ZERO_POINTS = Decimal(0)


def _has_de_minimis_rule(cp) -> bool:
    """Whether a gate applies a de minimis rule: its condition uses, directly or through lets and
    functions, a let or function whose name says ``de_minimis`` (``within_de_minimis_2006`` of
    policies/common/eu.bando). Letters state the de minimis conditions only then."""
    seen: set = set()
    stack = [g.cond for g in cp.gates]
    while stack:
        for n in ast.walk(stack.pop()):
            name = None
            if isinstance(n, ast.Name) and cp.ref_of(n)[0] == "let":
                name, target = n.id, cp.lets.get(n.id)
            elif isinstance(n, ast.Call) and n.func in cp.funcs:
                name, target = n.func, cp.funcs[n.func]
            if name is None or name in seen:
                continue
            if "de_minimis" in name.lower():
                return True
            seen.add(name)
            if target is not None:
                stack.append(target.expr)
    return False


def _internal(app_id, e) -> Decision:
    """The decision on an application bando could not evaluate because of a bug of its own."""
    return Decision(app_id, "invalid", errors=(("", i18n.Message("validate.internal", detail=repr(e))),))


def _full_env(policy, data, lets):
    from engine.compile.tracegen import full_env
    return full_env(policy, data, lets)


def _app_id(data):
    if isinstance(data, dict):
        v = data.get("id")
        if v is None:
            return None
        if isinstance(v, str):
            # a lone surrogate cannot be written to any file: shown escaped, as the batch readers do
            return v if v.isascii() else v.encode("utf-8", "backslashreplace").decode("utf-8")
        if isinstance(v, (dict, list, tuple)) or (type(v) is int and int_problem(v)):
            return None  # not an id (the validator says so); str() of an int past 4,300 digits raises
        return str(v)
    return None


def load_policy(path_or_text, name: str | None = None, root=None, params: dict | None = None) -> Policy:
    """Load and compile a policy from a file path or from policy text.

    Raises :class:`dsl.errors.PolicyError` (with every problem found) when the
    policy does not check; warnings are kept in ``policy.warnings``.

    The files the policy names (``use``, ``case``, ``templates``) must be inside
    its folder tree: the policy's folder, or the nearest folder above it that
    holds a ``.bando-root`` file, or ``root`` when it is given (for a policy
    given as text, the tree of the current folder, or ``root``). See
    docs/security.md.

    ``params`` gives the call's parameters their values for this run (name -> text as typed on the
    command line, e.g. ``{"action": "IA"}``); the others keep their defaults.
    """
    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                          and path_or_text.endswith(".bando")):
        source = read_source(path_or_text)
    else:
        source = Source(path_or_text, name or "<policy>")
    cp = check_source(source, root)
    if cp.errors:
        raise PolicyError(cp.diagnostics)
    return compile_checked(cp, params)


#: one application's JSON file: far above any real application (the largest shipped one is a few KB), far
#: below what would exhaust memory when someone names a multi-gigabyte dump instead
MAX_APPLICATION_BYTES = 32 * 1024 * 1024


def load_application(path) -> dict:
    """Read an application JSON file with exact decimals.

    Only a regular file of at most :data:`MAX_APPLICATION_BYTES` is read
    (:func:`engine.paths.read_regular`: a FIFO would block, ``/dev/zero`` never ends); otherwise
    :class:`engine.paths.PathRefused` says why."""
    from engine.paths import read_regular
    data = read_regular(os.fspath(path), MAX_APPLICATION_BYTES)
    return parse_application(data)


def parse_application(data: bytes) -> dict:
    """An application given as JSON bytes (a file's, or standard input's for ``bando eval -``),
    exact decimals."""
    return json.loads(data.decode("utf-8-sig"), parse_float=exact_json_float)
