"""The ``bando`` command.

Exit codes: 0 success; 1 a policy has errors (check/fmt/test) or an
application is invalid (eval); 2 a policy cannot be loaded where it is an
input to another job (eval, score, letters, schema) or a usage error.
"""
from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import click

from dsl.errors import PolicyError


class BandoError(click.ClickException):
    """A clean error message, no traceback."""

    def __init__(self, message, exit_code=2):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None):
        click.echo(self.format_message(), err=True)


def _load(path):
    from engine.policy import load_policy
    try:
        return load_policy(Path(path))
    except PolicyError as e:
        raise BandoError(e.render(), exit_code=2) from None


def _json_default(o):
    if isinstance(o, Decimal):
        return format(o, "f")
    if hasattr(o, "isoformat"):
        return o.isoformat()
    raise TypeError(type(o).__name__)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bando")
def main():
    """bando — executable funding calls: check a policy, evaluate, rank, write letters."""


@main.command()
@click.argument("policies", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--no-templates", is_flag=True, help="Do not check the policy's letter templates.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only, not warnings.")
def check(policies, no_templates, quiet):
    """Parse and type-check POLICIES; print every problem as file:line:col."""
    from engine.policy import check_source, read_source
    failed = False
    for path in policies:
        try:
            cp = check_source(read_source(path))
        except PolicyError as e:
            click.echo(e.render(), err=True)
            failed = True
            continue
        shown = cp.diagnostics if not quiet else cp.errors
        for d in sorted(shown, key=lambda d: d.sort_key()):
            click.echo(d.render(), err=True)
        if cp.errors:
            failed = True
            n = len(cp.errors)
            click.echo(f"{path}: {n} error{'s' if n != 1 else ''}", err=True)
            continue
        if not no_templates:
            problems = _check_templates(path)
            for p in problems:
                click.echo(f"{path}: error: letter template: {p}", err=True)
            if problems:
                failed = True
                continue
        click.echo(f"{path}: ok" + (f" ({len(cp.warnings)} warning{'s' if len(cp.warnings) != 1 else ''})"
                                    if cp.warnings else ""))
    sys.exit(1 if failed else 0)


def _check_templates(path):
    """Problems in the policy's letter templates (its own folder, or the defaults)."""
    try:
        from engine import letters
    except ImportError:  # pragma: no cover - letters is part of the package
        return []
    from engine.policy import load_policy
    policy = load_policy(Path(path))
    tdir = _templates_dir(path, None)
    renderer = letters.LetterRenderer(templates_dir=tdir, lang=policy.language)
    return [str(p) for p in renderer.check_templates(policy.call_info())]


def _templates_dir(policy_path, given):
    if given:
        return Path(given)
    p = Path(policy_path)
    candidate = p.parent / (p.stem + ".letters")
    return candidate if candidate.is_dir() else None


@main.command()
@click.argument("policies", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--check", "check_only", is_flag=True, help="Do not write; exit 1 if a file would change.")
def fmt(policies, check_only):
    """Rewrite POLICIES in the canonical layout (comments are kept)."""
    from dsl.fmt import format_policy
    from dsl.parser import parse_source
    from engine.outputs import atomic_write
    from engine.policy import read_source
    changed, failed = [], False
    for path in policies:
        try:
            src = read_source(path)
            out = format_policy(parse_source(src))
        except PolicyError as e:
            click.echo(e.render(), err=True)
            failed = True
            continue
        if out != src.text:
            changed.append(path)
            if not check_only:
                atomic_write(path, out)
                click.echo(f"formatted {path}")
    if check_only and changed:
        for p in changed:
            click.echo(f"would reformat {p}", err=True)
    sys.exit(1 if failed or (check_only and changed) else 0)


def _read_application(path):
    from engine.policy import load_application
    try:
        return load_application(path)
    except FileNotFoundError:
        raise BandoError(f"application file not found: {path}") from None
    except UnicodeDecodeError:
        raise BandoError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise BandoError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}", exit_code=1) from None


@main.command(name="eval")
@click.argument("policy", type=click.Path(dir_okay=False))
@click.argument("application", type=click.Path(dir_okay=False))
@click.option("--format", "fmt_", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(["it", "en"]), default=None, help="Default: the policy's language.")
def eval_(policy, application, fmt_, lang):
    """Evaluate one APPLICATION (JSON) against POLICY and explain the outcome."""
    from engine.explain import render_text
    pol = _load(policy)
    data = _read_application(application)
    result = pol.evaluate(data, lang=lang)
    if fmt_ == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=_json_default))
    else:
        click.echo(render_text(result, lang or pol.language), nl=False)
    sys.exit(1 if result.status == "invalid" else 0)


@main.command()
@click.argument("policy", type=click.Path(dir_okay=False))
def schema(policy):
    """Print the JSON Schema of POLICY's application input."""
    pol = _load(policy)
    click.echo(json.dumps(pol.json_schema(), ensure_ascii=False, indent=2))


@main.command()
@click.argument("policies", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-v", "--verbose", is_flag=True, help="Print every case, not only failures.")
def test(policies, verbose):
    """Run the example cases written in POLICIES (`examples { case ... }`)."""
    from engine.cases import run_cases
    passed = failed = 0
    for path in policies:
        pol = _load(path)
        for outcome in run_cases(pol, Path(path).parent):
            if outcome.ok:
                passed += 1
                if verbose:
                    click.echo(f"ok   {path} {outcome.case.file}")
            else:
                failed += 1
                click.echo(f"FAIL {path}:{outcome.case.span.line if outcome.case.span else '?'} "
                           f"{outcome.case.file}")
                click.echo(outcome.report())
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
