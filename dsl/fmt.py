"""AST -> canonical policy text (``bando fmt``).

One layout for every policy: two-space indentation, one statement per line,
a blank line between sections, thousands grouped with ``_``, parentheses only
where precedence needs them. Comments are kept: a comment on its own line stays
before the statement that follows it, a comment at the end of a line stays at
the end of that statement. Formatting is idempotent and never changes meaning:
``parse(format_policy(p)) == p`` (spans are outside equality).
"""
from __future__ import annotations

import datetime as _dt
import re
from decimal import Decimal

from . import ast

WRAP_AT = 100

# precedence levels (higher binds tighter)
_OR, _AND, _NOT, _CMP, _SUM, _PROD, _UNARY, _ATOM = range(1, 9)
_BIN_PREC = {"or": _OR, "and": _AND, "+": _SUM, "-": _SUM, "*": _PROD, "/": _PROD, "of": _PROD,
             ">=": _CMP, "<=": _CMP, ">": _CMP, "<": _CMP, "==": _CMP, "!=": _CMP, "in": _CMP, "not in": _CMP}


def format_number(d: Decimal) -> str:
    if d.is_nan() or d.is_infinite():  # pragma: no cover - the grammar cannot produce these
        return str(d)
    sign = "-" if d < 0 else ""
    d = d.copy_abs()  # exact: abs() would round to the context's 28 digits
    text = format(d, "f")
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0")
    else:
        whole, frac = text, ""
    if len(whole) > 4:
        groups = []
        while len(whole) > 3:
            groups.insert(0, whole[-3:])
            whole = whole[:-3]
        whole = "_".join([whole] + groups)
    return sign + whole + ("." + frac if frac else "")


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def _datetime(v: _dt.datetime) -> str:
    # isoformat, not strftime: %Y does not pad year 25 to 0025 on every platform
    return v.isoformat(sep=" ", timespec="minutes" if v.second == 0 else "seconds")


def format_expr(e, prec: int = 0) -> str:
    """Canonical text of an expression; ``prec`` is the binding strength of the context."""
    if isinstance(e, ast.Number):
        s = format_number(e.value)
        return f"({s})" if e.value < 0 and prec >= _UNARY else s
    if isinstance(e, ast.Percent):
        sign, digits, exp = e.value.as_tuple()
        return format_number(Decimal((sign, digits, exp + 2))).replace("_", "") + "%"  # exact × 100
    if isinstance(e, ast.Money):
        s = f"{format_number(e.amount)} {e.currency}"
        return f"({s})" if e.amount < 0 and prec >= _UNARY else s
    if isinstance(e, ast.Duration):
        unit = e.unit if e.amount != 1 else e.unit[:-1]
        return f"{e.amount} {unit}"
    if isinstance(e, ast.String):
        return _quote(e.value)
    if isinstance(e, ast.DateLit):
        return e.value.isoformat()
    if isinstance(e, ast.DateTimeLit):
        return _datetime(e.value)
    if isinstance(e, ast.Bool):
        return "true" if e.value else "false"
    if isinstance(e, ast.Name):
        return e.id
    if isinstance(e, ast.ScoreRef):
        return "score"
    if isinstance(e, ast.Attr):
        return f"{format_expr(e.obj, _ATOM)}.{e.name}"
    if isinstance(e, ast.Call):
        return f"{e.func}({', '.join(format_expr(a) for a in e.args)})"
    if isinstance(e, ast.SetLit):
        return "{" + ", ".join(format_expr(a) for a in e.items) + "}"
    if isinstance(e, ast.Aggregate):
        if e.value is not None:
            inner = f"{format_expr(e.value)} for {e.var} in {format_expr(e.source, _OR)}"
        elif e.var is not None:
            inner = f"{e.var} in {format_expr(e.source, _SUM)}"
        else:
            inner = format_expr(e.source)
        if e.where is not None:
            inner += f" where {format_expr(e.where)}"
        return f"{e.func}({inner})"
    if isinstance(e, ast.If):
        s = f"if {format_expr(e.cond)} then {format_expr(e.then)} else {format_expr(e.else_)}"
        return f"({s})" if prec > 0 else s
    if isinstance(e, ast.Quantified):
        s = f"{e.kind} {e.var} in {format_expr(e.source, _OR)}: {format_expr(e.cond)}"
        return f"({s})" if prec > 0 else s
    if isinstance(e, ast.Unary):
        if e.op == "not":
            s = f"not {format_expr(e.operand, _NOT)}"
            return f"({s})" if prec > _NOT else s
        s = f"-{format_expr(e.operand, _UNARY)}"
        return f"({s})" if prec > _UNARY else s
    if isinstance(e, ast.Binary):
        p = _BIN_PREC[e.op]
        if e.op == "of":
            s = f"{format_expr(e.left, _UNARY)} of {format_expr(e.right, _UNARY)}"
        elif p == _CMP:
            s = f"{format_expr(e.left, _SUM)} {e.op} {format_expr(e.right, _SUM)}"
        else:
            s = f"{format_expr(e.left, p)} {e.op} {format_expr(e.right, p + 1)}"
        return f"({s})" if prec > p else s
    if isinstance(e, ast.Between):
        s = f"{format_expr(e.value, _SUM)} between {format_expr(e.low, _SUM)} and {format_expr(e.high, _SUM)}"
        return f"({s})" if prec > _CMP else s
    if isinstance(e, ast.IsMissing):
        s = f"{format_expr(e.operand, _SUM)} is {'present' if e.negate else 'missing'}"
        return f"({s})" if prec > _CMP else s
    if isinstance(e, ast.At):
        s = f"{format_expr(e.param, _ATOM)} at {format_expr(e.when, _ATOM)}"
        return f"({s})" if prec > _UNARY else s
    if isinstance(e, ast.Dated):  # a let's value writes it one entry a line (``_Formatter.item``)
        return "dated { " + " ".join(format_dated_entry(x) for x in e.entries) + " }"
    raise TypeError(f"cannot format {type(e).__name__}")


def format_dated_entry(x) -> str:
    return f"from {x.start.isoformat()} -> {format_expr(x.value, _SUM)}{format_citations(x.cites)}"


def _wrapped(e, indent: str, first_width: int) -> list[str]:
    """An expression on one line, or a long and/or chain one operand per line."""
    text = format_expr(e)
    if first_width + len(text) <= WRAP_AT or not (isinstance(e, ast.Binary) and e.op in ("and", "or")):
        return [text]
    op = e.op
    parts = []
    x = e
    while isinstance(x, ast.Binary) and x.op == op:
        parts.insert(0, x.right)
        x = x.left
    parts.insert(0, x)
    p = _BIN_PREC[op]
    lines = [format_expr(parts[0], p)]
    lines += [f"{indent}{op} {format_expr(q, p + 1)}" for q in parts[1:]]
    return lines


def format_type(t) -> str:
    if isinstance(t, ast.BaseType):
        if t.values is not None:
            listed = "{" + ", ".join(format_expr(v) for v in t.values) + "}"
            return f"one of {listed}" if t.as_one_of else f"{t.name} in {listed}"
        s = t.name
        if t.low is not None:
            s += f" in {format_number(t.low)}..{format_number(t.high)}"
        if t.step is not None:
            s += f" step {format_number(t.step)}"
        return s
    if isinstance(t, ast.EnumType):
        return "one of {" + ", ".join(_quote(o) for o in t.options) + "}"
    if isinstance(t, ast.ListType):
        return f"list of {format_type(t.item)}"
    if isinstance(t, ast.TypeRef):
        return t.name
    if isinstance(t, ast.RecordType):  # inline, on one line (function parameters)
        parts = []
        for f in t.fields:
            part = f"{f.name}{format_label(f.label)}: {format_type(f.type)}"
            if f.optional:
                part += " optional"
            if f.default is not None:
                part += f" = {format_expr(f.default)}"
            parts.append(part)
        return "record { " + ", ".join(parts) + " }" if parts else "record {}"
    raise TypeError(type(t).__name__)


def format_label(label) -> str:
    if label is None:
        return ""
    return " " + " ".join([_quote(label.text)] + [f"{c} {_quote(t)}" for c, t in label.translations])


def format_citations(cites) -> str:
    """`` cites "Art. 4" en "Art. 4(1)"`` for each citation of a rule (more than one is an error, kept as written)."""
    return "".join(" cites" + format_label(c) for c in cites)


def format_panel_rule(r) -> str:
    """One rule of the evaluation panel as the language writes it."""
    if r.kind == "scale":
        low, high, step = r.value
        text = f"scale {format_number(low)}..{format_number(high)}"
        return text + (f" step {format_number(step)}" if step is not None else "")
    if r.kind == "evaluators":
        return f"evaluators {format_number(r.value)}"
    if r.kind == "combine":
        return f"combine {r.value}"
    return f"spread at most {format_number(r.value)}"


class _Writer:
    def __init__(self, comments):
        self.out: list[str] = []
        self.comments = sorted(comments, key=lambda c: c.line)
        self.used = [False] * len(self.comments)

    def lead(self, line: int | None, indent: str):
        """Own-line comments that come before ``line``."""
        if line is None:
            return
        for i, c in enumerate(self.comments):
            if not self.used[i] and c.own_line and c.line < line:
                self.out.append(indent + c.text.rstrip())
                self.used[i] = True

    def trail(self, first: int | None, last: int | None) -> list[str]:
        """End-of-line comments written on lines ``first``..``last``."""
        if first is None:
            return []
        found = []
        for i, c in enumerate(self.comments):
            if not self.used[i] and not c.own_line and first <= c.line <= last:
                found.append(c.text.rstrip())
                self.used[i] = True
        return found

    def line(self, text: str, node=None, first=None, last=None, indent=None, start=None):
        span = getattr(node, "span", None)
        if span is not None and first is None:
            first, last = span.line, span.end_line
        found = self.trail(first, last)
        if start is None:
            start = len(self.out)
        self.out.append(text + ("  " + found[-1] if found else ""))
        # a statement written over several lines may carry several end-of-line
        # comments: the last stays at the end, the others go on their own lines
        # just before the statement (joined on one line they would become one
        # comment; before the statement they stay put when formatted again)
        if indent is None:
            indent = text[:len(text) - len(text.lstrip())]
        self.out[start:start] = [indent + c for c in found[:-1]]

    def lines(self, head: str, body: list[str], node):
        """A statement whose text may continue on several lines."""
        span = getattr(node, "span", None)
        text = [head + body[0]] + body[1:]
        start = len(self.out)
        for t in text[:-1]:
            self.out.append(t)
        self.line(text[-1], None, *((span.line, span.end_line) if span else (None, None)),
                  indent=head[:len(head) - len(head.lstrip())], start=start)

    def rest(self):
        for i, c in enumerate(self.comments):
            if not self.used[i]:
                self.out.append(c.text.rstrip())
                self.used[i] = True


#: words that may continue the field before them (`x: int = 0 and ...`, `x: int in 0..5`,
#: `x: int optional`, `0 EUR`): a field with one of these names needs the comma
_CONTINUATION_WORDS = frozenset({"and", "or", "not", "in", "is", "of", "between", "optional", "step",
                                 "EUR", "USD", "GBP", "CHF"})


def _is_keyword(name: str) -> bool:
    return name in _CONTINUATION_WORDS


def _span_line(n):
    return n.span.line if getattr(n, "span", None) is not None else None


def _end_line(n):
    return n.span.end_line if getattr(n, "span", None) is not None else None


class _Formatter:
    def __init__(self, policy: ast.Policy):
        self.policy = policy
        self.w = _Writer(policy.comments)

    def block_open(self, head: str, node, indent: str):
        self.w.lead(_span_line(node), indent)
        line = _span_line(node)
        self.w.line(indent + head + " {", None, line, line)

    def block_close(self, node, indent: str, inner: str):
        end = _end_line(node)
        self.w.lead(end, inner)
        self.w.line(indent + "}", None, end, end)

    def fields(self, fields, indent):
        for i, f in enumerate(fields):
            # fields go one per line without commas, except before a field whose name
            # could continue the field above (`x: int = 0` then `or: bool`)
            comma = "," if i + 1 < len(fields) and _is_keyword(fields[i + 1].name) else ""
            self.w.lead(_span_line(f), indent)
            head = f"{indent}{f.name}{format_label(f.label)}: "
            rec, prefix = f.type, "record"
            while isinstance(rec, ast.ListType):  # `list of list of record { ... }`
                rec, prefix = rec.item, "list of " + prefix
            if isinstance(rec, ast.RecordType):
                line = _span_line(f)
                self.w.line(head + prefix + " {", None, line, line)
                self.fields(rec.fields, indent + "  ")
                tail = "}" + (" optional" if f.optional else "")
                if f.default is not None:
                    tail += f" = {format_expr(f.default)}"
                end = _end_line(rec)
                self.w.lead(end, indent + "  ")
                self.w.line(indent + tail + comma, None, end, _end_line(f))
                continue
            text = head + format_type(f.type)
            if f.optional:
                text += " optional"
            if f.default is not None:
                text += f" = {format_expr(f.default)}"
            self.w.line(text + comma, f)

    def criterion(self, c, indent):
        kw = "sub" if c.sub else c.kind
        head = f"{kw} {c.id}{format_label(c.label)} max {format_number(c.max)}{format_citations(c.cites)}"
        if c.stage is not None:
            head += f" {c.stage} pass"
        if c.minimum is not None:
            head += f" minimum {format_number(c.minimum)}"
        if c.weight is not None:
            head += f" weight {format_number(c.weight)}"
            if c.weight_if is not None:
                head += f" if ({format_expr(c.weight_if)})"
        if c.ranking_weight is not None:
            head += f" weight {format_number(c.ranking_weight)} for ranking"
            if c.ranking_weight_if is not None:
                head += f" if ({format_expr(c.ranking_weight_if)})"
        if c.formula is not None:
            self.w.lead(_span_line(c), indent)
            self.w.lines(indent + head + " = ", _wrapped(c.formula, indent + "    ", len(indent + head) + 3), c)
            return
        self.block_open(head, c, indent)
        inner = indent + "  "
        if c.tiers is not None:
            for t, (cond, points) in zip(c.tiers, _band_texts(c.tiers)):
                self.w.lead(_span_line(t), inner)
                self.w.line(f"{inner}{cond} -> {points}", t)
        else:
            for s in c.subs:
                self.criterion(s, inner)
        self.block_close(c, indent, inner)

    def item(self, it):
        w = self.w
        if isinstance(it, ast.CallDef):
            self.block_open(f"call {_quote(it.name)} version {_quote(it.version)}", it, "")
            for ci in it.items:
                w.lead(_span_line(ci), "  ")
                w.line(f"  {ci.key} {format_expr(ci.value)}", ci)
            self.block_close(it, "", "  ")
        elif isinstance(it, ast.Use):
            w.lead(_span_line(it), "")
            w.line(f"use {_quote(it.path)}", it)
        elif isinstance(it, ast.RecordDef):
            self.block_open(f"record {it.name}{format_label(it.label)}", it, "")
            self.fields(it.fields, "  ")
            self.block_close(it, "", "  ")
        elif isinstance(it, ast.Parameters):
            self.block_open("parameters", it, "")
            self.fields(it.fields, "  ")
            self.block_close(it, "", "  ")
        elif isinstance(it, ast.InputDef):
            self.block_open("input", it, "")
            self.fields(it.fields, "  ")
            self.block_close(it, "", "  ")
        elif isinstance(it, ast.LetDef):
            w.lead(_span_line(it), "")
            params = ""
            if it.params is not None:
                params = "(" + ", ".join(f"{p.name}: {format_type(p.type)}" for p in it.params) + ")"
            head = f"let {it.name}{params}{format_label(it.label)}{format_citations(it.cites)} = "
            if isinstance(it.expr, ast.Dated):
                w.line(head + "dated {", None, _span_line(it), _span_line(it))
                for x in it.expr.entries:
                    w.lead(_span_line(x), "  ")
                    w.line("  " + format_dated_entry(x), x)
                w.lead(_end_line(it), "  ")
                w.line("}", None, _end_line(it), _end_line(it))
            else:
                w.lines(head, _wrapped(it.expr, "    ", len(head)), it)
        elif isinstance(it, ast.Decl):
            w.lead(_span_line(it), "")
            tail = ""
            if it.rounding is not None:
                tail = f" rounded {it.rounding.mode} to {format_expr(it.rounding.unit)}"
            head = f"{it.name}{format_citations(it.cites)} = "
            if it.named:
                over = f" for {it.var} in {format_expr(it.source)}" if it.source is not None else ""
                head = f"output {it.name}{format_label(it.label)}{over} = "
            body = _wrapped(it.expr, "    ", len(head))
            body[-1] += tail
            w.lines(head, body, it)
        elif isinstance(it, ast.Eligibility):
            self.block_open("eligibility", it, "")
            for g in it.gates:
                w.lead(_span_line(g), "  ")
                head = f"  gate {g.id}{format_label(g.label)}{format_citations(g.cites)}: "
                if isinstance(g, ast.CrossGate):
                    w.lines(head, [format_cross(g)], g)
                    continue
                w.lines(head, _wrapped(g.cond, "      ", len(head)), g)
            self.block_close(it, "", "  ")
        elif isinstance(it, ast.ScoreDef):
            head = f"score max {format_number(it.max)} pass {format_number(it.pass_)}"
            if it.including_ineligible:
                head += " including ineligible"
            self.block_open(head, it, "")
            for c in it.criteria + it.bonuses:
                self.criterion(c, "  ")
            self.block_close(it, "", "  ")
        elif isinstance(it, ast.Ranking):
            self.block_open("ranking", it, "")
            for r in it.items:
                w.lead(_span_line(r), "  ")
                w.line("  " + format_ranking_item(r), r)
            self.block_close(it, "", "  ")
        elif isinstance(it, ast.Panel):
            self.block_open("panel" + format_label(it.label), it, "")
            for r in it.rules:
                w.lead(_span_line(r), "  ")
                w.line("  " + format_panel_rule(r), r)
            for m in it.marks:
                w.lead(_span_line(m), "  ")
                w.line("  " + " ".join([f"mark {m.id}{format_label(m.label)}"] +
                                       [format_panel_rule(r) for r in m.rules]), m)
            self.block_close(it, "", "  ")
        elif isinstance(it, ast.Examples):
            self.block_open("examples", it, "")
            for c in it.cases:
                w.lead(_span_line(c), "  ")
                w.line("  " + format_case(c), c)
            self.block_close(it, "", "  ")
        else:  # pragma: no cover
            raise TypeError(type(it).__name__)

    def run(self) -> str:
        prev = None
        for it in self.policy.items:
            if prev is not None:
                grouped = isinstance(it, (ast.LetDef, ast.Use, ast.Decl)) and type(prev) is type(it) and \
                    (not isinstance(it, ast.LetDef) or (it.params is None) == (prev.params is None)) and \
                    (not isinstance(it, ast.Decl) or it.named == prev.named)  # named outputs: a group of their own
                if not grouped:
                    self.w.out.append("")
            self.item(it)
            prev = it
        self.w.rest()
        text = "\n".join(self.w.out).rstrip("\n")
        return text + "\n" if text else ""


def _band_texts(tiers) -> list[tuple[str, str]]:
    """(condition, points) texts of a band table.

    Bands are not separated by any punctuation, so a band must not read as the
    continuation of the points above it: a condition starting with `-` gets
    parentheses (`5` then `-x > 1` would read `5 - x > 1`), and so do points
    ending in a bare name before a condition in parentheses (`bonus` then
    `(a or b)` would read as a call `bonus(a or b)`).
    """
    texts = [["otherwise" if t.cond is None else format_expr(t.cond), format_expr(t.points, _SUM)]
             for t in tiers]
    for prev, cur in zip(texts, texts[1:]):
        if cur[0].startswith("-"):
            cur[0] = f"({cur[0]})"
        if cur[0].startswith("(") and re.search(r"(?<![\w.])[A-Za-z_]\w*$", prev[1]):
            prev[1] = f"({prev[1]})"
    return [(c, p) for c, p in texts]


def format_ranking_item(r) -> str:
    if isinstance(r, ast.Order):
        keys = []
        for k in r.keys:
            s = format_expr(k.expr)
            if k.explicit or k.descending:
                s += " desc" if k.descending else " asc"
            keys.append(s)
        return "order by " + ", ".join(keys)
    if isinstance(r, ast.Sportello):
        return f"first come first served by {format_expr(r.by)}"
    if isinstance(r, ast.Shortfall):
        return f"shortfall {r.mode}"
    if isinstance(r, ast.Reserve):
        return f"reserve {format_expr(r.share)}{format_label(r.label)}{format_citations(r.cites)} for {format_expr(r.cond)}"
    if isinstance(r, ast.Ties):
        s = f"ties {ast.TIE_WORDS[r.rule]}"
        if r.margin is not None:
            s += f" within {format_expr(r.margin)}"
        if r.seed is not None:
            s += f" seed {r.seed}"
        return s + format_citations(r.cites)
    if isinstance(r, ast.Unique):
        s = f"unique {format_expr(r.key)} for {r.var} in {format_expr(r.source)} keep {r.keep}"
        return s + (f" {format_expr(r.by)}" if r.by is not None else "") + format_citations(r.cites)
    raise TypeError(type(r).__name__)  # pragma: no cover


def format_cross(g) -> str:
    """The body of a gate across applications, after ``gate ID LABEL: ``."""
    order = "input order" if g.order is None else format_expr(g.order)
    return f"unique {format_expr(g.key)} for {g.var} in {format_expr(g.source)} among applications earlier by {order}"


def format_case(c) -> str:
    parts = [f"case {_quote(c.file)}"]
    if c.params:
        parts.append("with " + ", ".join(f"{k} = {format_expr(v)}" for k, v in c.params))
    parts.append(f"expect {c.status}")
    for e in c.expectations:
        if e.kind in ("score", "grant"):
            parts.append(f"{e.kind} {format_expr(e.value)}")
        elif e.kind == "failing":
            parts.append("failing " + ", ".join(e.value))
        elif e.kind == "points":
            parts.append("points " + ", ".join(f"{k} {format_expr(v)}" for k, v in e.value))
    return " ".join(parts)


def format_policy(policy: ast.Policy) -> str:
    """The canonical text of a parsed policy (comments included)."""
    return _Formatter(policy).run()


def format_text(text: str, name: str = "<policy>") -> str:
    """Parse and format; raises :class:`~dsl.errors.PolicyError` on syntax errors."""
    from .parser import parse
    return format_policy(parse(text, name))
