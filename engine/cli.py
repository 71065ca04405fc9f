"""The ``bando`` command.

Exit codes: 0 success; 1 a policy has errors (check/fmt/test) or an
application is invalid (eval); 2 a policy cannot be loaded where it is an
input to another job (eval, score, letters, schema) or a usage error; 2 also
when an output cannot be written (disk full, read-only folder, `-o` under a
file: one message naming the path and the cause, see `_writes_files`).
"""
from __future__ import annotations

import contextlib
import functools
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

import click

from dsl.errors import PolicyError
from engine.text import i18n

#: the languages --lang accepts: those with a message catalogue (docs/translating.md)
_LANGUAGES = i18n.languages()


class BandoError(click.ClickException):
    """A clean error message, no traceback."""

    def __init__(self, message, exit_code=2):
        super().__init__(message)
        self.exit_code = exit_code

    def show(self, file=None):
        click.echo(self.format_message(), err=True)


#: what the commands below say, in one place (the message catalogue will take these over)
_TEXT = {
    "ok": "{path}: ok",
    "n_errors": "{path}: {n} error{s}",
    "n_warnings": " ({n} warning{s})",
    "template": "{path}: error: letter template: {problem}",
    "would_reformat": "would reformat {path}",
    "formatted": "formatted {path}",
    "summary": "{passed} passed, {failed} failed",
    "no_examples": "{path}: no examples: the policy has no `examples {{ case ... }}` block",
    "none_at_all": "no examples: none of the policies has example cases; nothing was tested",
    "coverage_head": "{path}: coverage {percent}% ({covered} of {targets} rules and outcomes exercised)",
    "coverage_none": "{path}: coverage: no examples, nothing is exercised",
    "not_covered": "  not exercised by any example:",
    "stdin_json": "<stdin>",
}


def _plural(n):
    return "s" if n != 1 else ""


def _writes_files(command):
    """Disk full, a read-only folder, `-o` under a file...: one message that
    names the path and the cause, exit 2, never a traceback. The writers
    (engine/score/rundir.py, engine/score/outputs.py) leave the earlier outputs intact."""
    @functools.wraps(command)
    def run(*args, **kwargs):
        from engine.score.outputs import os_error_text
        from engine.score.rundir import OutputError, RunDirError
        try:
            return command(*args, **kwargs)
        except OutputError as e:  # already says which folder, and what state it is in
            raise BandoError(str(e)) from None
        except OSError as e:
            raise BandoError(os_error_text(e)) from None
        except RunDirError as e:
            raise BandoError(str(e)) from None
    return run


def _load(path, root=None, params=None):
    from engine.evaluate.policy import load_policy
    try:
        return load_policy(Path(path), root=root, params=params or None)
    except PolicyError as e:
        raise BandoError(e.render(), exit_code=2) from None


def _param_pairs(ctx, option, values):
    """``--param action=IA`` given any number of times, as ``{"action": "IA"}`` (read with each
    parameter's type when the policy is loaded)."""
    out = {}
    for v in values:
        name, eq, value = v.partition("=")
        name = name.strip()
        if not eq or not name:
            raise click.BadParameter(f"`{v}`: write NAME=VALUE, e.g. --param action=IA")
        if name in out:
            raise click.BadParameter(f"`{name}` is given twice")
        out[name] = value
    return out


#: the commands that evaluate take the values of the call's parameters for the run
_param_option = click.option(
    "--param", "params", multiple=True, callback=_param_pairs, metavar="NAME=VALUE",
    help="The value of one of the call's parameters for this run (`parameters { ... }` in the policy), "
         "e.g. --param action=IA --param budget=500_000; the others keep their defaults.")


#: every command that loads a policy takes it: the folder the files a policy names must stay in
_root_option = click.option(
    "--root", type=click.Path(file_okay=False, exists=True), default=None,
    help="Folder that the files a policy names (use, case, templates) must stay in. Default: the policy's "
         "folder, or the nearest folder above it holding a .bando-root file.")


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


_format_option = click.option(
    "--format", "fmt_", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="json: one document on standard output, for editors and CI systems.")


@main.command()
@click.argument("policies", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--no-templates", is_flag=True, help="Do not check the policy's letter templates.")
@click.option("-q", "--quiet", is_flag=True, help="Print errors only, not warnings.")
@_format_option
@_root_option
def check(policies, no_templates, quiet, fmt_, root):
    """Parse and type-check POLICIES; print every problem as file:line:col.

    Exit code 0 when every policy is clean (warnings allowed), 1 when any has errors.
    With --format json, standard output is one document: per file its diagnostics (each with its
    stable code, see docs/diagnostics.md) and letter template problems.
    """
    from engine.evaluate.policy import check_source, read_source
    failed = False
    report = []
    for path in policies:
        entry = {"path": path, "ok": False, "diagnostics": [], "templates": []}
        report.append(entry)
        try:
            cp = check_source(read_source(path), root=root)
        except PolicyError as e:
            entry["diagnostics"] = [d.to_dict() for d in e.diagnostics]
            if fmt_ == "text":
                click.echo(e.render(), err=True)
            failed = True
            continue
        shown = sorted(cp.diagnostics if not quiet else cp.errors, key=lambda d: d.sort_key())
        entry["diagnostics"] = [d.to_dict() for d in shown]
        if fmt_ == "text":
            for d in shown:
                click.echo(d.render(), err=True)
        if cp.errors:
            failed = True
            if fmt_ == "text":
                n = len(cp.errors)
                click.echo(_TEXT["n_errors"].format(path=path, n=n, s=_plural(n)), err=True)
            continue
        if not no_templates:
            problems = _check_templates(path, cp, root)
            entry["templates"] = problems
            if fmt_ == "text":
                for p in problems:
                    click.echo(_TEXT["template"].format(path=path, problem=p), err=True)
            if problems:
                failed = True
                continue
        entry["ok"] = True
        if fmt_ == "text":
            n = len(cp.warnings)
            click.echo(_TEXT["ok"].format(path=path) + (_TEXT["n_warnings"].format(n=n, s=_plural(n)) if n else ""))
    if fmt_ == "json":
        diags = [d for e in report for d in e["diagnostics"]]
        click.echo(json.dumps({"files": report,
                               "errors": sum(d["severity"] == "error" for d in diags)
                               + sum(len(e["templates"]) for e in report),
                               "warnings": sum(d["severity"] == "warning" for d in diags)},
                              ensure_ascii=False, indent=2))
    sys.exit(1 if failed else 0)


def _check_templates(path, cp, root=None):
    """Problems in the policy's letter templates (its own folder, or the defaults); ``cp`` is the
    policy as `check` checked it, compiled here rather than read and parsed a second time."""
    try:
        from engine.letters import letters
    except ImportError:  # pragma: no cover - letters is part of the package
        return []
    from engine.evaluate.params import stand_ins
    from engine.evaluate.policy import compile_checked
    params = stand_ins(cp)
    if params is None:
        return []  # a parameter that must be given and has no stand-in: the templates are checked at `bando score`
    try:
        policy = compile_checked(cp, params)
    except PolicyError as e:
        return [e.render()]
    except Exception as e:  # a bug in bando's compiler, not in the policy: say so, no traceback
        return [f"internal error while compiling the policy: {e!r}"]
    try:
        tdir = _templates_dir(path, None, root, policy)
    except BandoError as e:
        return [e.message]
    renderer = letters.LetterRenderer(templates_dir=tdir, lang=policy.language)
    return [str(p) for p in renderer.check_templates(policy.call_info())]


def _templates_dir(policy_path, given, root=None, policy=None):
    """--templates, else the folder the policy names (`templates "..."`), else NAME.letters/ beside it.

    The operator's --templates is taken as given; the other two must stay inside the policy's tree
    (engine/paths.py), symbolic links resolved. ``policy``: the loaded policy, if the caller has it.
    """
    if given:
        return Path(given)
    p = Path(policy_path)
    from engine.paths import PathRefused, PolicyTree
    from engine.evaluate.policy import check_source, read_source
    if policy is not None:
        named = policy.checked.header.get("templates")
    else:
        try:
            named = check_source(read_source(p), root=root).header.get("templates")
        except PolicyError:
            named = None
    try:
        tree = PolicyTree.of(str(p), root)
        if named:
            tree.resolve(str(p.parent), named, "the letter templates folder")
        elif (p.parent / (p.stem + ".letters")).is_dir():
            tree.resolve(str(p.parent), p.stem + ".letters", "the letter templates folder")
    except PathRefused as e:
        raise BandoError(f"{p}: {e.message}" + (f"\n  hint: {e.hint}" if e.hint else "")) from None
    if named:
        folder = p.parent / named
        if not folder.is_dir():
            raise BandoError(f"{p}: the letter templates folder {folder} named in the call header does not exist")
        return folder
    candidate = p.parent / (p.stem + ".letters")
    return candidate if candidate.is_dir() else None


@main.command()
@click.argument("policies", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--check", "check_only", is_flag=True, help="Do not write; exit 1 if a file would change.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Do not write; print a unified diff of what would change, exit 1 if anything would.")
@_writes_files
def fmt(policies, check_only, show_diff):
    """Rewrite POLICIES in the canonical layout (comments are kept).

    Exit code 0 when nothing changed or every file was written; with --check or --diff, 1 when a
    file would change; 1 when a file does not parse; 2 when a file could not be written.
    """
    import difflib
    from dsl.fmt import format_policy
    from dsl.parser import parse_source
    from engine.score.outputs import atomic_write
    from engine.evaluate.policy import read_source
    from engine.score.outputs import os_error_text
    dry = check_only or show_diff
    changed, failed, unwritten = [], False, False
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
            if show_diff:
                click.echo("".join(difflib.unified_diff(src.text.splitlines(keepends=True),
                                                         out.splitlines(keepends=True),
                                                         fromfile=f"{path} (as written)",
                                                         tofile=f"{path} (formatted)")), nl=False)
            if not dry:
                try:
                    atomic_write(path, out)
                except OSError as e:  # the others are still formatted; this one is left as it was
                    click.echo(f"cannot write {path}: {os_error_text(e)}; the file is unchanged", err=True)
                    unwritten = True
                    continue
                click.echo(_TEXT["formatted"].format(path=path))
    if check_only and changed:
        for p in changed:
            click.echo(_TEXT["would_reformat"].format(path=p), err=True)
    sys.exit(2 if unwritten else 1 if failed or (dry and changed) else 0)


def _read_application(path):
    from engine.paths import PathRefused
    from engine.evaluate.policy import MAX_APPLICATION_BYTES, load_application, parse_application
    try:
        if path == "-":  # a portal or a shell pipe: the application on standard input
            path = _TEXT["stdin_json"]
            data = sys.stdin.buffer.read(MAX_APPLICATION_BYTES + 1)
            if len(data) > MAX_APPLICATION_BYTES:
                raise BandoError(f"{path}: more than {MAX_APPLICATION_BYTES:,} bytes; an application is a "
                                 f"JSON document of a few KB")
            return parse_application(data)
        return load_application(path)
    except FileNotFoundError:
        raise BandoError(f"application file not found: {path}") from None
    except PathRefused as e:  # a FIFO, a device, a folder, or more than an application can hold
        raise BandoError(f"{path}: {e.message}; an application is a JSON file") from None
    except UnicodeDecodeError:
        raise BandoError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise BandoError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}", exit_code=1) from None
    except RecursionError:
        raise BandoError(f"{path}: invalid JSON: nested too deeply to read", exit_code=1) from None
    except ValueError as e:  # e.g. an integer longer than Python's digit limit
        raise BandoError(f"{path}: invalid JSON: {e}", exit_code=1) from None


@main.command(name="eval")
@click.argument("policy", type=click.Path(dir_okay=False))
@click.argument("application", type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt_", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--lang", type=click.Choice(_LANGUAGES), default=None, help="Default: the policy's language.")
@_param_option
@_root_option
def eval_(policy, application, fmt_, lang, params, root):
    """Evaluate one APPLICATION (JSON; `-` reads it from standard input) against POLICY and explain
    the outcome."""
    from engine.explain.explain import render_text
    pol = _load(policy, root, params)
    data = _read_application(application)
    result = pol.evaluate(data, lang=lang)
    if fmt_ == "json":
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=_json_default))
    else:
        click.echo(render_text(result, lang or pol.language), nl=False)
    sys.exit(1 if result.status == "invalid" else 0)


@main.command()
@click.argument("policy", type=click.Path(dir_okay=False))
@_root_option
def schema(policy, root):
    """Print the JSON Schema of POLICY's application input."""
    pol = _load(policy, root)
    click.echo(json.dumps(pol.json_schema(), ensure_ascii=False, indent=2))


@main.command()
@click.argument("policies", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-v", "--verbose", is_flag=True, help="Print every case, not only failures.")
@click.option("--format", "fmt_", type=click.Choice(["text", "json", "junit"]), default="text", show_default=True,
              help="json: one document on standard output; junit: JUnit XML, as CI systems read test results.")
@click.option("--coverage", is_flag=True,
              help="Also report the gates (passing and failing), bands, grant terms and ranking rules that no "
                   "example exercises, per policy.")
@click.option("--threshold", type=click.IntRange(0, 100), default=0, show_default=True,
              help="With --coverage: exit 1 when a policy's coverage is below this percentage.")
@_root_option
def test(policies, verbose, fmt_, coverage, threshold, root):
    """Run the example cases written in POLICIES (`examples { case ... }`).

    Ends with `N passed, M failed`. Exit code 0 when every case passed; 1 when a case failed, when
    no policy has any example (nothing was tested: that is not a pass), and under --coverage when a
    policy has no examples or is covered below --threshold; 2 when a policy cannot be loaded.
    """
    from engine.evaluate.cases import coverage as coverage_of, run_cases
    suites = []
    for path in policies:
        pol = _load(path, root)
        outcomes = run_cases(pol, Path(path).parent, root)
        suites.append((path, outcomes, coverage_of(pol, outcomes) if coverage and outcomes else None))
    passed = sum(o.ok for _, outcomes, _ in suites for o in outcomes)
    failed = sum(not o.ok for _, outcomes, _ in suites for o in outcomes)
    empty = [path for path, outcomes, _ in suites if not outcomes]
    below = [path for path, _, cov in suites if cov is not None and cov.percent < threshold]
    bad = failed or len(empty) == len(suites) or (coverage and (empty or below))
    if fmt_ == "json":
        click.echo(json.dumps(_test_json(suites, passed, failed, coverage), ensure_ascii=False, indent=2))
    elif fmt_ == "junit":
        click.echo(_test_junit(suites), nl=False)
    else:
        for path, outcomes, cov in suites:
            if not outcomes:
                click.echo(_TEXT["no_examples"].format(path=path), err=True)
            for o in outcomes:
                if o.ok:
                    if verbose:
                        click.echo(f"ok   {path} {o.case.file}")
                else:
                    click.echo(f"FAIL {path}:{o.case.span.line if o.case.span else '?'} {o.case.file}")
                    click.echo(o.report())
            if coverage:
                for line in _coverage_lines(path, cov):
                    click.echo(line)
        if passed or failed:
            click.echo(_TEXT["summary"].format(passed=passed, failed=failed))
        else:
            click.echo(_TEXT["none_at_all"], err=True)
    sys.exit(1 if bad else 0)


def _coverage_lines(path, cov) -> list[str]:
    if cov is None:
        return [_TEXT["coverage_none"].format(path=path)]
    lines = [_TEXT["coverage_head"].format(path=path, percent=cov.percent, covered=len(cov.covered),
                                           targets=len(cov.targets))]
    missing = cov.not_covered
    if missing:
        lines.append(_TEXT["not_covered"])
        lines.extend(f"    {path}:{t.span.line}:{t.span.column}: {t.what}" if t.span is not None else f"    {t.what}"
                     for t in missing)
    return lines


def _case_dict(o) -> dict:
    return {"file": o.case.file, "line": o.case.span.line if o.case.span else None, "ok": o.ok,
            "expected": o.case.status, "status": o.result.status if o.result is not None else None,
            "differences": [{"what": w, "expected": e, "got": g} for w, e, g in o.differences]}


def _test_json(suites, passed, failed, coverage) -> dict:
    out = []
    for path, outcomes, cov in suites:
        entry = {"path": path, "examples": len(outcomes), "passed": sum(o.ok for o in outcomes),
                 "failed": sum(not o.ok for o in outcomes), "cases": [_case_dict(o) for o in outcomes]}
        if coverage:
            entry["coverage"] = cov.to_dict() if cov is not None else None
        out.append(entry)
    return {"policies": out, "passed": passed, "failed": failed}


def _test_junit(suites) -> str:
    """JUnit XML (the Ant/Jenkins schema that CI systems read): one <testsuite> per policy, one
    <testcase> per example, a <failure> with the differences and the explanation. Written by
    ElementTree, so every attribute and text is escaped as XML requires."""
    from xml.etree import ElementTree as ET
    root = ET.Element("testsuites", name="bando test",
                      tests=str(sum(len(o) for _, o, _ in suites)),
                      failures=str(sum(not x.ok for _, o, _ in suites for x in o)), errors="0")
    for path, outcomes, _ in suites:
        suite = ET.SubElement(root, "testsuite", name=path, tests=str(len(outcomes)),
                              failures=str(sum(not o.ok for o in outcomes)), errors="0", skipped="0")
        if not outcomes:
            ET.SubElement(suite, "system-err").text = _TEXT["no_examples"].format(path=path)
        for o in outcomes:
            case = ET.SubElement(suite, "testcase", classname=Path(path).stem, name=o.case.file, file=path)
            if o.case.span is not None:
                case.set("line", str(o.case.span.line))
            if not o.ok:
                first = o.differences[0] if o.differences else ("status", o.case.status, "?")
                failure = ET.SubElement(case, "failure", type="ExampleMismatch",
                                        message=f"{first[0]}: expected {first[1]}, got {first[2]}")
                failure.text = o.report()
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


class _Bar:
    """click's progress bar on standard error, behind the small interface the batch calls:
    ``bar(n)`` after n more applications, ``bar.close()`` at the end of a pass.

    With a known ``total`` it shows the bar, the percentage, the count and the time left; without
    one (the first pass: the batch is read as it is scored, and counting the rows first would
    mean reading a 1,000,000-row file, CSV quotes and Excel sheets included, one more time) it shows
    a moving bar and the count so far. The second pass knows the total from the first.
    """

    def __init__(self, label, total=None):
        steps = max(1, total // 200) if total else 50  # redraw a few hundred times, not once per row
        self._bar = click.progressbar(length=total, iterable=None if total else (x for x in ()), label=label,
                                      file=sys.stderr, show_pos=True, show_eta=True,
                                      show_percent=total is not None, update_min_steps=steps)

    def __call__(self, n=1):
        self._bar.update(n)

    def close(self):
        self._bar.render_finish()


def _progress_factory(stream=None):
    """A progress bar factory when standard error is a terminal; None in pipes and CI logs, where
    a bar redrawn in place would only fill the log with carriage returns."""
    stream = stream if stream is not None else sys.stderr
    if not stream.isatty():
        return None
    return _Bar


def _parse_date(value):
    import datetime as _dt
    if value is None:
        return None
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        raise BandoError(f"--date: expected YYYY-MM-DD, got {value!r}") from None


class _Amount(click.ParamType):
    """An amount of money given on the command line: ``400000``, ``1_500_000`` or ``400000.50``.

    Plain digits only (no sign, no exponent, at most two decimals) within the limits of
    :mod:`dsl.numbers`, checked before the text becomes a number: ``--budget 1e30`` or ``-5`` is a
    usage error (exit 2), never a traceback from the allocation.
    """

    name = "amount"

    def convert(self, value, param, ctx):
        from dsl import numbers
        if isinstance(value, Decimal):
            return value
        flag = param.opts[0] if param is not None and param.opts else "amount"
        text = str(value).strip()
        # quoted as given, but always printable (an argument that is not UTF-8 arrives with surrogates)
        shown = '"' + text[:40].encode("utf-8", "backslashreplace").decode("utf-8") + '"'
        if not re.fullmatch(r"[0-9](_?[0-9])*(\.[0-9]{1,2})?", text, re.ASCII) or len(text) > 40:
            raise BandoError(f"{flag}: expected an amount in EUR like 400000 or 400000.50, got {shown}")
        amount = Decimal(text.replace("_", ""))
        if numbers.number_problem(amount):
            raise BandoError(f"{flag}: expected an amount in EUR like 400000 or 400000.50 "
                             f"(below {numbers.LIMIT_TEXT}), got {shown}")
        return amount


AMOUNT = _Amount()


@main.command()
@click.argument("policy", type=click.Path(dir_okay=False))
@click.argument("batch", type=click.Path())
@click.option("-o", "--out", "outdir", required=True, type=click.Path(file_okay=False),
              help="Output folder (created if needed).")
@click.option("--lang", type=click.Choice(_LANGUAGES), default=None, help="Default: the policy's language.")
@click.option("--budget", default=None, type=AMOUNT,
              help="Override the call's budget (scorrimento), e.g. 1500000 or 1500000.50.")
@click.option("--previous", type=click.Path(exists=True), default=None,
              help="results.jsonl (or the output folder) of an earlier run: its awards stay exactly as they were.")
@click.option("--withdrawn", type=click.Path(dir_okay=False, exists=True), default=None,
              help="File of application ids (one per line, or a CSV with an id column) withdrawn or revoked "
                   "since the earlier run: their awards are released and flow down the ranking.")
@click.option("--allow-policy-change", is_flag=True,
              help="Accept a --previous run made with another version of the policy.")
@click.option("--compare", type=click.Path(exists=True), default=None,
              help="An earlier run's output folder: write diff.txt, diff.csv, diff.json (who moved, and why) and a "
                   "section of the report on the changes.")
@click.option("--marks", type=click.Path(dir_okay=False), default=None,
              help="The evaluation panel's marks sheet (CSV or xlsx, long or wide: docs/batch-formats.md). "
                   "Without it a call with a panel is scored for admissibility only.")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes to use; the output is identical to --jobs 1.")
@click.option("--no-letters", is_flag=True, help="Do not write letters.")
@click.option("--letter-format", type=click.Choice(["txt", "md", "html"]), default="txt", show_default=True)
@click.option("--templates", type=click.Path(file_okay=False, exists=True), default=None,
              help="Folder of letter templates (default: POLICY's NAME.letters/ folder if present).")
@click.option("--date", "letter_date", default=None, help="Date printed on letters (default: the call's decision or closing date).")
@click.option("--decimal-comma/--decimal-point", default=None,
              help="How numbers in CSV/Excel text cells are written (default: guess per cell).")
@click.option("--allow-invalid", is_flag=True,
              help="Score the batch even when more than half of its rows are invalid (by default that stops "
                   "the run: the batch was probably read wrong).")
@click.option("--csv-dialect", type=click.Choice(["it", "excel-it", "en", "rfc4180"]), default=None,
              help="Layout of ranking.csv and errors.csv: excel-it (alias it: ';' and 30000,00, what Italian "
                   "Excel opens) or rfc4180 (alias en: ',' and 30000.00, for programs). Default: the call's language.")
@_param_option
@_root_option
@_writes_files
def score(policy, batch, outdir, lang, budget, previous, withdrawn, allow_policy_change, compare, marks, jobs, no_letters,
          letter_format, templates, letter_date, decimal_comma, allow_invalid, csv_dialect, params, root):
    """Score a BATCH (JSON, JSON Lines, CSV + items CSV, Excel, or a folder) into OUTDIR.

    Writes results.jsonl (one result per input row, in input order), ranking.csv and
    ranking.xlsx (the graduatoria), errors.csv and errors.xlsx, summary.json, report.html
    and letters/.
    """
    from engine.score.batch import default_letter_date, score_batch
    from engine.score.batch_io import BatchError
    from engine.score.marks_io import MarksError
    from engine.letters.letters import LetterError
    from engine.score.diff import DiffError
    from engine.score.previous import PreviousRunError
    from engine.score.ranking import AllocationError
    pol = _load(policy, root, params)
    if budget is not None:
        from engine.compile.validate import Problem, to_decimal
        try:
            budget = to_decimal(budget, "an amount")
        except Problem as e:
            raise BandoError(f"--budget: {e.message}") from None
    try:
        s = score_batch(policy, batch, outdir, lang=lang, budget=budget, jobs=jobs, previous=previous,
                        withdrawn=withdrawn, allow_policy_change=allow_policy_change, letters=not no_letters, letter_format=letter_format,
                        templates_dir=_templates_dir(policy, templates, root), root=root, letter_date=_parse_date(letter_date),
                        decimal_comma=decimal_comma, progress=_progress_factory(), allow_invalid=allow_invalid,
                        csv_dialect=csv_dialect, compare=compare, marks=marks, params=params or None)
    except (BatchError, MarksError) as e:  # in the run's language, as the rest of what bando score says
        raise BandoError(e.render(lang or pol.language)) from None
    except (PreviousRunError, AllocationError, DiffError) as e:
        raise BandoError(str(e)) from None
    except LetterError as e:
        raise BandoError(f"letters: {e}") from None
    for w in s.warnings:
        click.echo(i18n.text(s.lang, "cli.warning", text=w), err=True)
    for note in s.stage_notes:  # a call with a panel: which stage this was
        click.echo(note)
    if not no_letters and letter_date is None and default_letter_date(pol) is None:
        click.echo(i18n.text(s.lang, "cli.undated"), err=True)
    for failed in s.letter_errors:  # every other output, and every other letter, was written
        click.echo(f"error: letter for application {failed['application']!r} not written: {failed['error']}",
                   err=True)
    for line in closing_lines(s, outdir):
        click.echo(line)
    if s.letter_errors:
        n = len(s.letter_errors)
        click.echo(i18n.plural(s.lang, "cli.letters_not_written", n, count=n), err=True)
        sys.exit(1)


#: the outcomes the closing summary of `bando score` counts, in this order
_CLOSING_ORDER = ("funded", "not_funded", "tied", "admitted", "below_threshold", "awaiting_evaluation",
                  "needs_consensus", "evaluation_invalid", "ineligible", "withdrawn", "invalid")


def closing_lines(s, outdir) -> list[str]:
    """The two lines `bando score` ends with: counts by outcome, then the money, in the call's language."""
    from engine.text.formatting import format_money, format_points
    lang = s.lang

    def count(msgid, n, **slots):
        return i18n.plural(lang, msgid, n, count=format_points(n, lang), **slots)

    parts = i18n.text(lang, "cli.parts_sep").join(count("cli.count." + k, s.counts[k])
                                                  for k in _CLOSING_ORDER if s.counts.get(k))
    head = count("cli.applications", s.results, parts=parts)
    money = lambda d: format_money(d, lang, s.currency)  # noqa: E731
    tail = [i18n.text(lang, "cli.granted", granted=money(s.granted), budget=money(s.budget))]
    a = s.allocation
    if a is not None and a.held:
        tail.append(i18n.text(lang, "cli.held", held=money(a.held)))
    if a is not None and a.margin_used:
        tail.append(i18n.text(lang, "cli.over", over=money(a.margin_used)))
    tail.append(i18n.text(lang, "cli.outputs", out=outdir))
    return [head, i18n.text(lang, "cli.tail_sep").join(tail)]


@main.command()
@click.argument("policy", type=click.Path(dir_okay=False))
@click.argument("results", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--out", "outdir", required=True, type=click.Path(file_okay=False))
@click.option("--lang", type=click.Choice(_LANGUAGES), default=None)
@click.option("--format", "fmt_", type=click.Choice(["txt", "md", "html"]), default="txt", show_default=True)
@click.option("--templates", type=click.Path(file_okay=False, exists=True), default=None)
@click.option("--date", "letter_date", default=None, help="Date printed on letters (YYYY-MM-DD).")
@_root_option
@_writes_files
def letters(policy, results, outdir, lang, fmt_, templates, letter_date, root):
    """(Re)render one letter per application from a RESULTS file (results.jsonl)."""
    from engine.score.batch import default_letter_date
    from engine.letters.letters import LetterRenderer
    pol = _load(policy, root)
    date = _parse_date(letter_date) or default_letter_date(pol)
    lang = lang or pol.language
    if date is None:
        click.echo(i18n.text(lang, "cli.undated"), err=True)
    renderer = LetterRenderer(templates_dir=_templates_dir(policy, templates, root, pol), lang=lang, fmt=fmt_)
    with contextlib.ExitStack() as stack:
        results = _results_in(results, lang, stack)
        _write_letter_files(pol, results, outdir, renderer, date, fmt_, lang)


def _results_in(results, lang, stack):
    """``results``, or, when they are written in another language than ``lang`` and the run that
    wrote them recorded its inputs (manifest.json), the results of the same run repeated in ``lang``
    into a temporary folder: every sentence of a letter is then written in its language from the
    facts, not translated. The repeated run must reach exactly the same outcomes (engine.score.diff)."""
    import tempfile

    from engine.score import audit
    from engine.score import diff
    with open(results, "rb") as f:
        first = f.readline()
    try:
        written = json.loads(first).get("language") if first.strip() else None
    except (ValueError, AttributeError):
        return results  # not results: the reader below says where and why
    folder = Path(results).parent
    if not written or written == lang or not (folder / "manifest.json").is_file():
        return results  # the same language, or nothing recorded to repeat: the letters refuse to mix two
    try:
        changed = audit.changed_inputs(folder)
    except audit.AuditError:
        return results
    if changed:
        raise BandoError(i18n.text(lang, "cli.rerender_changed", first=i18n.render(changed[0], lang)))
    again = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bando-letters-"))) / "again"
    audit.repeat(folder, again, lang=lang, letters=False)
    if not diff.compare(folder, again).same:  # cannot happen with deterministic runs; never write a letter then
        raise BandoError(i18n.text(lang, "cli.rerender_differs", folder=folder))
    click.echo(i18n.text(lang, "cli.rerendered", folder=folder), err=True)
    return again / "results.jsonl"


def _write_letter_files(pol, results, outdir, renderer, date, fmt_, lang):
    from engine.score import rundir
    from engine.letters.letters import LetterError, write_letters

    def read():
        # checked against the manifest of the run that wrote it, as it is read
        for n, raw in enumerate(rundir.verified_lines(results), start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise BandoError(f"{results}:{n}: not UTF-8 text", exit_code=1) from None
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as e:
                raise BandoError(f"{results}:{n}:{e.colno}: invalid JSON: {e.msg}", exit_code=1) from None

    # the letters are one unit too: a failure leaves the earlier ones, and a
    # re-run removes the letters of the previous run that it does not write again
    failed = []
    with rundir.OutputRun(outdir, kind="bando letters") as run:
        try:
            paths = write_letters(read(), pol.call_info(), run.path, renderer=renderer,
                                  date=date, fmt=fmt_,
                                  on_error=lambda app, err: failed.append((app, err)))
        except LetterError as e:
            raise BandoError(f"letters: {e}", exit_code=1) from None
        run.commit()
    for app, err in failed:  # one bad letter does not cost the others
        click.echo(f"error: letter for application {app!r} not written: {err}", err=True)
    click.echo(i18n.plural(lang, "cli.letters_written", len(paths), count=len(paths), out=outdir)
               + (i18n.plural(lang, "cli.letters_failed", len(failed), count=len(failed)) if failed else ""))
    if failed:
        sys.exit(1)


@main.command(name="diff")
@click.argument("old", type=click.Path(exists=True))
@click.argument("new", type=click.Path(exists=True))
@click.option("--format", "fmt_", type=click.Choice(["text", "csv", "json"]), default="text", show_default=True,
              help="text for a person; csv for a spreadsheet (the layout of ranking.csv); json for programs.")
@click.option("-o", "--out", "outfile", type=click.Path(dir_okay=False), default=None,
              help="Write to this file instead of standard output.")
@click.option("--lang", type=click.Choice(_LANGUAGES), default=None, help="Default: the language of NEW.")
@click.option("--csv-dialect", type=click.Choice(["it", "excel-it", "en", "rfc4180"]), default=None,
              help="Layout of the CSV (as for bando score). Default: the language's.")
@_writes_files
def diff_cmd(old, new, fmt_, outfile, lang, csv_dialect):
    """Compare two runs: who changed outcome, rank, score or grant, and why.

    OLD and NEW are output folders of `bando score` (or their results.jsonl). Exit 0 when
    nothing changed, 1 when something did (as diff(1) does), 2 when a run cannot be read.
    """
    from engine.score import diff as d
    try:
        comparison = d.compare(old, new)
    except d.DiffError as e:
        raise BandoError(str(e)) from None
    _write_diff(comparison, fmt_, outfile, lang, csv_dialect)
    sys.exit(0 if comparison.same else 1)


def _write_diff(comparison, fmt_, outfile, lang, csv_dialect):
    import os
    import tempfile

    from engine.score import diff as d
    from engine.score.outputs import atomic_write
    if fmt_ == "csv":
        if outfile is not None:
            d.write_csv(comparison, outfile, lang=lang, dialect=csv_dialect)
            return
        with tempfile.TemporaryDirectory() as tmp:  # the CSV writer writes files: copy it to stdout
            path = os.path.join(tmp, "diff.csv")
            d.write_csv(comparison, path, lang=lang, dialect=csv_dialect)
            with open(path, "rb") as f:
                sys.stdout.buffer.write(f.read())
        return
    text = d.json_text(comparison, lang) if fmt_ == "json" else d.render_text(comparison, lang)
    if outfile is not None:
        atomic_write(outfile, text)
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("policy_before", type=click.Path(dir_okay=False))
@click.argument("policy_after", type=click.Path(dir_okay=False))
@click.argument("batch", type=click.Path())
@click.option("-o", "--out", "outdir", required=True, type=click.Path(file_okay=False),
              help="Output folder: before/ and after/ (two complete runs) and diff.txt, diff.csv, diff.json.")
@click.option("--lang", type=click.Choice(_LANGUAGES), default=None, help="Default: the language of POLICY_AFTER.")
@click.option("--budget", default=None, type=AMOUNT, help="Override the budget of both runs.")
@click.option("--budget-after", default=None, type=AMOUNT,
              help="Override the budget of the second run only (the what-if of a larger or smaller budget).")
@click.option("--marks", type=click.Path(dir_okay=False), default=None,
              help="The evaluation panel's marks sheet, for a call with a panel (both runs read it).")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--letters", "with_letters", is_flag=True, help="Also write each run's letters.")
@click.option("--decimal-comma/--decimal-point", default=None,
              help="How numbers in CSV/Excel text cells are written (default: guess per cell).")
@click.option("--allow-invalid", is_flag=True, help="As for bando score.")
@click.option("--csv-dialect", type=click.Choice(["it", "excel-it", "en", "rfc4180"]), default=None)
@_param_option
@click.option("--param-after", "params_after", multiple=True, callback=_param_pairs, metavar="NAME=VALUE",
              help="A call parameter's value for the second run only (over --param): the what-if of another "
                   "edition of the call, e.g. POLICY POLICY BATCH --param-after action=IA.")
@_root_option
@_writes_files
def whatif(policy_before, policy_after, batch, outdir, lang, budget, budget_after, marks, jobs, with_letters,
           decimal_comma, allow_invalid, csv_dialect, params, params_after, root):
    """What a changed call does to the same applications: score BATCH under POLICY_BEFORE and
    POLICY_AFTER (the same file with --budget-after works too) and compare the two runs."""
    from engine.score import diff as d
    from engine.score.batch_io import BatchError
    from engine.letters.letters import LetterError
    from engine.score.marks_io import MarksError
    from engine.score.ranking import AllocationError
    from engine.score.whatif import whatif as run_whatif
    after_params = {**params, **params_after}
    _load(policy_before, root, params)  # both must load before anything is scored
    after = _load(policy_after, root, after_params)
    budgets = []
    for name, amount in (("--budget", budget), ("--budget-after", budget_after)):
        if amount is not None:
            from engine.compile.validate import Problem, to_decimal
            try:
                amount = to_decimal(amount, "an amount")
            except Problem as e:
                raise BandoError(f"{name}: {e.message}") from None
        budgets.append(amount)
    try:
        w = run_whatif(policy_before, policy_after, batch, outdir, lang=lang, budget=budgets[0],
                       budget_after=budgets[1], jobs=jobs, letters=with_letters, decimal_comma=decimal_comma,
                       allow_invalid=allow_invalid, csv_dialect=csv_dialect, root=root, marks=marks,
                       templates_dir=_templates_dir(policy_after, None, root) if with_letters else None,
                       params=params or None, params_after=after_params or None)
    except (BatchError, MarksError) as e:
        raise BandoError(e.render(lang or after.language)) from None
    except (AllocationError, d.DiffError) as e:
        raise BandoError(str(e)) from None
    except LetterError as e:
        raise BandoError(f"letters: {e}") from None
    head = d.render_text(w.diff, w.lang).split("\n\n", 1)[0]  # the runs and the counts; the rest is in diff.txt
    click.echo(head)
    click.echo(i18n.text(w.lang, "cli.whatif_written", out=outdir))


@main.command()
@click.argument("outdir", type=click.Path(file_okay=False, exists=True))
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option("--lang", type=click.Choice(_LANGUAGES), default=None, help="Default: the run's language.")
@_writes_files
def verify(outdir, jobs, lang):
    """Repeat the `bando score` that wrote OUTDIR from the inputs its manifest records, and compare.

    Exit 0 when every output is byte-identical, 1 with the first difference otherwise (an
    input that changed, another bando, an output edited since), 2 when the run cannot be repeated.
    """
    from engine.score import audit
    from engine.score import rundir
    from engine.score.batch_io import BatchError
    try:
        manifest = rundir.read_manifest(outdir) or {}
    except rundir.ManifestError as e:
        raise BandoError(str(e)) from None
    lang = lang or (manifest.get(audit.KEY) or {}).get("language")
    lang = lang if lang in _LANGUAGES else i18n.REFERENCE
    try:
        v = audit.verify(outdir, jobs=jobs)
    except audit.AuditError as e:
        raise BandoError(i18n.render(e.message, lang)) from None
    except BatchError as e:
        raise BandoError(e.render(lang)) from None
    if v.ok:
        click.echo(i18n.text(lang, "verify.ok", folder=outdir, count=v.checked))
        return
    first = i18n.render(v.differences[0], lang)
    more = len(v.differences) - 1
    click.echo(i18n.text(lang, "verify.failed", folder=outdir, first=first)
               + (" " + i18n.text(lang, "verify.more", count=more) if more else ""))
    sys.exit(1)


@main.command()
@click.argument("policies", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Processes, each loading the policies (stateless: scale out freely).")
@click.option("--token-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="File holding a bearer token required on every endpoint but /healthz and /readyz.")
@click.option("--reload", "reload_", is_flag=True, help="Reload policies when their files change (atomically).")
@click.option("--reload-interval", default=1.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds between looks at the policy files.")
@click.option("--decision-log", type=click.Path(dir_okay=False), default=None,
              help="Append one JSON line per evaluation to this file.")
@click.option("--decision-log-input", is_flag=True, help="Also write each application's JSON into the decision log.")
@click.option("--max-body", default=1 << 20, show_default=True, type=click.IntRange(1),
              help="Largest body (bytes) of /validate and /evaluate.")
@click.option("--max-batch-body", default=16 << 20, show_default=True, type=click.IntRange(1),
              help="Largest body (bytes) of /evaluate-batch.")
@click.option("--max-batch-lines", default=10_000, show_default=True, type=click.IntRange(1),
              help="Most applications in one /evaluate-batch request.")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0.001),
              help="Seconds an evaluation may take before the answer is 504.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 256),
              help="Evaluations running at once in each worker.")
@click.option("--queue", default=64, show_default=True, type=click.IntRange(0),
              help="Evaluations that may wait for a thread before the answer is 503.")
@click.option("--cors-origin", multiple=True, help="Origin allowed by CORS (repeat for more); default: CORS off.")
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@_root_option
def serve(policies, host, port, workers, token_file, reload_, reload_interval, decision_log, decision_log_input,
          max_body, max_batch_body, max_batch_lines, timeout, threads, queue, cors_origin, access_log, root):
    """Serve POLICIES (files, or folders of *.bando files) as an HTTP API (see docs/serve.md)."""
    from engine.serve.config import ServeConfig
    from engine.serve.run import ServeError, serve as run_server
    config = ServeConfig(paths=tuple(policies), root=root, token_file=token_file, max_body=max_body,
                         max_batch_body=max_batch_body, max_batch_lines=max_batch_lines, eval_timeout=timeout,
                         threads=threads, queue=queue, reload=reload_, reload_interval=reload_interval,
                         decision_log=decision_log, log_input=decision_log_input, cors_origins=tuple(cors_origin))
    try:
        run_server(config, host=host, port=port, workers=workers, access_log=access_log)
    except ServeError as e:
        raise BandoError(str(e)) from None


if __name__ == "__main__":  # pragma: no cover
    main()
