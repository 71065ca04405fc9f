"""The values a run gives the call's parameters (``--param action=IA``, a case's ``with``, a query).

:func:`values_for` reads them against the ``parameters`` block of a checked policy (the call's
language errors, with the parameter's declaration as the place: an unknown name with a
did-you-mean, a value of the wrong type, off the set, out of range, a parameter with no default not
given); :func:`bound` checks the policy again with the values written in (:func:`dsl.params.bind`).
"""
from __future__ import annotations

import datetime as _dt
import difflib
from decimal import Decimal

import attrs

from dsl import params as _p
from dsl.literals import expect_literal
from dsl.checker import CheckedPolicy, check
from dsl.errors import Diagnostic, PolicyError
from engine.text import i18n
from engine.text.formatting import format_date, format_datetime, format_money, format_percent


@attrs.frozen
class ParamValue:
    """One parameter with the value of this run."""

    id: str
    label: object  # ast.Label | None
    type: object  # dsl.types.Type
    value: object

    @property
    def plain(self) -> str:
        """The value as the run records it (results.jsonl, summary.json, manifest.json) and as
        ``--param`` accepts it back."""
        v = self.value
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, Decimal):
            if self.type.kind == "percent":
                return format(v * 100, "f") + "%"
            return format(v, "f")
        if isinstance(v, (_dt.date, _dt.datetime)):
            return v.isoformat()
        return str(v)

    def shown(self, lang: str, call_language: str, currency: str) -> str:
        """``tipo di azione IA`` / ``type of action IA``: the parameter as a sentence names it."""
        label = self.label.get(lang, call_language) if self.label is not None else self.id.replace("_", " ")
        if len(label) > 1 and label[0].isupper() and not label[1].isupper():  # "Tipo di azione", not "IVA"
            label = label[0].lower() + label[1:]
        v, kind = self.value, self.type.kind
        if kind == "money":
            text = format_money(v, lang, currency)
        elif kind == "percent":
            text = format_percent(v, lang)
        elif kind == "date":
            text = format_date(v, lang)
        elif kind == "datetime":
            text = format_datetime(v, lang)
        elif kind == "bool":
            text = i18n.text(lang, "params.yes" if v else "params.no")
        else:
            text = self.plain
        return i18n.text(lang, "params.item", label=label, value=text)


def _problem(cp: CheckedPolicy, code, message, node=None, hint=None) -> Diagnostic:
    return Diagnostic(message, getattr(node, "span", None), cp.source, hint=hint, code=code)


def values_for(cp: CheckedPolicy, given: dict | None, where: str = "--param") -> tuple[ParamValue, ...]:
    """Every parameter of ``cp`` with its value for this run: ``given`` (name -> text as typed, or a
    literal of the policy) else its default. Raises :class:`PolicyError` with every problem."""
    given = dict(given or {})
    fields = cp.parameters.fields if cp.parameters is not None else {}
    problems = []
    for name in given:
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1)
            problems.append(_problem(
                cp, "E423", f"`{where} {name}=…`: " + (f"unknown parameter `{name}`" if fields
                                                       else "this policy declares no parameters"),
                cp.parameters.node if cp.parameters is not None else None,
                hint=f"did you mean `{close[0]}`?" if close else
                ("parameters: " + ", ".join(f"`{n}`" for n in fields) if fields else None)))
    out = []
    for name, f in fields.items():
        if name in given:
            raw = given[name]
            if isinstance(raw, str):
                value, expected = _p.from_text(raw, f.type)
                if expected is not None:
                    problems.append(_problem(cp, "E424", f"`{where} {name}={raw}`: `{name}` is {f.type.describe()}; "
                                             f"expected {expected}", f.node))
                    continue
            else:
                value = expect_literal(raw)
            bad = _p.fit_problem(value, f.type)
            if bad is not None:
                problems.append(_problem(cp, "E424", f"`{where} {name}={_text(raw)}`: {bad}", f.node))
                continue
        elif f.default is not None:
            value = expect_literal(f.default)
        else:
            problems.append(_problem(cp, "E425", f"parameter `{name}` has no default: give it with "
                                     f"`{where} {name}=…`", f.node))
            continue
        out.append(ParamValue(name, f.label, f.type, value))
    if problems:
        raise PolicyError(problems)
    return tuple(out)


def stand_ins(cp: CheckedPolicy) -> dict | None:
    """Values for the parameters without a default, for checking what does not depend on them (the
    letter templates' dry run of ``bando check``): an option, the low end of a range, ``false``. None
    when one of them has no such value (a text, a date)."""
    out = {}
    fields = cp.parameters.fields if cp.parameters is not None else {}
    for name, f in fields.items():
        if f.default is not None:
            continue
        t = f.type
        if t.kind == "enum" and t.options:
            out[name] = _p.literal(t.options[0], t)
        elif t.kind == "bool":
            out[name] = _p.literal(False, t)
        elif t.low is not None and not t.implicit_range:
            out[name] = _p.literal(t.low, t)
        else:
            return None
    return out


def _text(raw) -> str:
    return raw if isinstance(raw, str) else ParamValue("", None, None, expect_literal(raw)).plain


def bound(cp: CheckedPolicy, values: tuple[ParamValue, ...]) -> CheckedPolicy:
    """``cp`` with ``values`` written in, checked again (what is compiled). Its warnings are those of
    the policy as written (a warning about a literal the binding wrote would only confuse)."""
    literals = {v.id: _p.literal(v.value, v.type) for v in values}
    checked = check(_p.bind(cp.policy, literals), cp.source, cp.modules, languages=i18n.languages())
    if checked.errors:
        raise PolicyError(checked.errors)
    checked.diagnostics = [d for d in checked.diagnostics if d.severity == "error"] + list(cp.warnings)
    return checked


def line(values: tuple[ParamValue, ...], lang: str, call_language: str, currency: str) -> str:
    """``Parametri del bando: tipo di azione IA; dotazione 400.000,00 €`` ("" with no parameters)."""
    if not values:
        return ""
    items = i18n.text(lang, "params.sep").join(v.shown(lang, call_language, currency) for v in values)
    return i18n.text(lang, "params.line", values=items)
