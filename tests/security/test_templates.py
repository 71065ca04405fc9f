"""Issue 12, letter templates: a policy's templates folder is untrusted.

Each test is one finding: reading files outside the folder, templates that
hang or fill the memory, one bad letter failing a whole batch, a letters/
folder nobody else can read, applicant text copied raw into Markdown.

Where the old code hung, the work runs in a daemon thread (or a subprocess)
watched by :func:`finishes`: its generous time-out only turns a hang into a
failure instead of a stuck test run; what the tests assert is the refusal.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st
from markdown_it import MarkdownIt

from engine.cli import main
from engine.letters.escaping import escape_markdown
from engine.letters.letters import LetterError, LetterRenderer, RenderLimits

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "golden" / "letters" / "samples"
POLICY = ROOT / "policies" / "salentonet.bando"
DATE = dt.date(2014, 3, 14)
HANG = 120  # seconds: only a hang gets there


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def folder_with(tmp_path: Path, files: dict[str, str], name: str = "tpl") -> Path:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    for fname, text in files.items():
        (folder / fname).write_text(text, encoding="utf-8")
    return folder


def body(text: str) -> str:
    """A funded letter whose body is ``text`` (on line 3 of funded.it.j2)."""
    return '{% extends "_letter.it.j2" %}\n{% block body %}\n' + text + "\n{% endblock %}\n"


def finishes(fn, seconds: float = HANG):
    """Run ``fn`` in a daemon thread; return ("ok", value) or ("raised", exc),
    or fail the test if it is still running after ``seconds``."""
    box: list = []

    def run():
        try:
            box.append(("ok", fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box.append(("raised", exc))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert box, f"still running after {seconds} s: the template was not bounded"
    return box[0]


def letter_error(folder: Path, status: str = "funded", fmt: str = "txt", **kw) -> LetterError:
    renderer = LetterRenderer(folder, fmt=fmt, limits=kw.pop("limits", None))
    outcome, value = finishes(lambda: renderer.render(sample(status), sample("call"), date=DATE))
    assert outcome == "raised", f"the letter was written:\n{value[:500]}"
    assert isinstance(value, LetterError), repr(value)
    return value


# -- files outside the templates folder -----------------------------------------------------

def test_symlink_out_of_the_folder_is_not_included(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:SECRET\n", encoding="utf-8")
    folder = folder_with(tmp_path, {"funded.it.j2": body('{% include "leak.j2" %}')})
    (folder / "leak.j2").symlink_to(secret)
    err = letter_error(folder)
    assert "SECRET" not in str(err)
    assert (err.template, err.lineno) == ("funded.it.j2", 3)
    assert f"{folder}/leak.j2 is a link to {secret}, outside the templates folder" in str(err)


def test_symlinked_template_itself_pointing_out_is_refused(tmp_path):
    outside = tmp_path / "outside.j2"
    outside.write_text("SECRET {{ result.application }}\n", encoding="utf-8")
    folder = folder_with(tmp_path, {})
    (folder / "funded.it.j2").symlink_to(outside)
    err = letter_error(folder)
    assert "outside the templates folder" in str(err) and str(folder / "funded.it.j2") in str(err)


def test_links_inside_the_folder_still_work(tmp_path):
    folder = folder_with(tmp_path, {"common.j2": "COMUNE {{ result.application }}",
                                    "funded.it.j2": body('{% include "parts/link.j2" %}')})
    (folder / "parts").mkdir()
    (folder / "parts" / "link.j2").symlink_to(folder / "common.j2")
    (folder / "hard.j2").hardlink_to(folder / "common.j2")
    text = LetterRenderer(folder).render(sample("funded"), sample("call"), date=DATE)
    assert "COMUNE A-2013-014" in text


def test_absolute_template_names_are_refused(tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": body('{% include "/etc/passwd" %}')})
    err = letter_error(folder)
    assert "'/etc/passwd' must be a path relative to the templates folder" in str(err)
    assert err.lineno == 3


def test_a_fifo_as_template_does_not_block(tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": body('{% include "pipe.j2" %}')})
    os.mkfifo(folder / "pipe.j2")
    err = letter_error(folder)  # refused by name, never opened (an open would wait for a writer)
    assert f"{folder}/pipe.j2 is not a regular file" in str(err)


def test_a_huge_template_file_is_refused(tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": body("x" * 300_000)})
    err = letter_error(folder)
    assert f"{folder}/funded.it.j2 is larger than 256 KB" in str(err)


def test_check_reports_a_link_out_even_if_no_letter_uses_it(tmp_path):
    folder = folder_with(tmp_path, {})
    (folder / "unused.j2").symlink_to("/etc/passwd")
    problems = LetterRenderer(folder).check_templates(sample("call"))
    assert [str(p) for p in problems] == [
        f"{folder}/unused.j2: template {folder}/unused.j2 is a link to /etc/passwd, outside the "
        f"templates folder {folder}: refused"]


# -- templates that hang or fill the memory -------------------------------------------------

def test_huge_power_is_refused_with_template_and_line(tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": body("{{ 10 ** 100000000 }}")})
    err = letter_error(folder)
    assert (err.template, err.lineno) == ("funded.it.j2", 3)
    assert str(err) == (f"{folder}/funded.it.j2:3: limit exceeded: too large: 10 ** 100000000 would "
                        "have about 100,000,001 digits (at most 4,300)")


def test_huge_string_repetition_is_refused(tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": body("{{ 'x' * 1000000000 }}")})
    err = letter_error(folder)
    assert err.lineno == 3
    assert "'x' * 1000000000 would be 1,000,000,000 characters or items long" in str(err)


def test_nested_range_loops_stop(tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": body(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")})
    err = letter_error(folder)
    assert err.lineno == 3 and err.over_budget
    assert "steps (loop iterations and calls)" in str(err)


def test_the_time_limit_stops_a_loop_with_an_empty_body(tmp_path):
    # steps unlimited: only the clock can stop 10**10 empty iterations
    folder = folder_with(tmp_path, {"funded.it.j2": body(
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")})
    err = letter_error(folder, limits=RenderLimits(seconds=1, steps=10**15))
    assert err.lineno == 3 and err.over_budget
    assert "took more than 1 s to render" in str(err)


def test_the_time_limit_stops_loops_over_a_string(tmp_path):
    # no range() involved: every {% for %} counts its iterations
    folder = folder_with(tmp_path, {"funded.it.j2": body(
        "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}")})
    err = letter_error(folder, limits=RenderLimits(seconds=1, steps=10**15))
    assert "took more than 1 s" in str(err)


def test_exponential_macro_recursion_stops(tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": body(
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}")})
    err = letter_error(folder, limits=RenderLimits(seconds=1, steps=10**15))
    assert "took more than 1 s" in str(err)


def test_the_output_of_one_letter_is_bounded(tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": body(
        "{% for i in range(3000) %}{{ 'x' * 1000 }}{% endfor %}")})
    err = letter_error(folder)
    assert err.lineno == 3
    assert "the letter is longer than 1,000,000 characters" in str(err)
    small = letter_error(folder_with(tmp_path, {"funded.it.j2": body("{{ 'x' * 5000 }}")}, "small"),
                         limits=RenderLimits(output=4000))
    assert "longer than 4,000 characters" in str(small)


UNBOUNDED = [
    ("{{ 'x'|center(1000000000) }}", "center(1000000000)"),
    ("{{ 'x'.ljust(1000000000) }}", "ljust(1000000000)"),
    ("{{ '%*d'|format(1000000000, 1) }}", "'*' width"),
    ("{{ '%*d' % (1000000000, 1) }}", "'*' width"),
    ("{{ '%1000000000d' % 1 }}", "width or precision 1,000,000,000"),
    ("{{ '{:>1000000000}'.format(1) }}", "width or precision 1,000,000,000"),
    ("{{ 'a\\nb'|indent(1000000000) }}", "indent()"),
    ("{{ ('x' * 100000)|wordwrap(1, wrapstring='y' * 100000) }}", "wordwrap()"),
    ("{{ ('x' * 999999).replace('x', 'yy') }}", "replace()"),
    ("{{ ('x' * 999999)|replace('x', 'yy') }}", "replace()"),
    ("{{ range(100000000)|join(',') }}", "range() of 100,000,000 numbers"),
    ("{{ range(10)|batch(1000000000, 'x')|list }}", "batch(1000000000)"),
    ("{{ [1]|slice(1000000000)|list }}", "slice(1000000000)"),
    ("{{ ['x' * 500000, 'x' * 500000]|join('-') }}", "a list, tuple or dict"),
    ("{{ ('x' * 600000) ~ ('x' * 600000) }}", "'~'"),
    ("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
     "'~'"),
    ("{% macro m() %}{% for i in range(100000) %}twenty characters...{% endfor %}{% endmacro %}"
     "{{ m()|length }}", "the text of a macro"),
    ("{% macro m() %}{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}{% endmacro %}{{ m()|length }}",
     "characters or items in all"),
    ("{{ (1).to_bytes(1000000000, 'big')|length }}", "to_bytes()"),
    ("{{ {'a': 1}|tojson(indent=1000000000) }}", "tojson(indent=1000000000)"),
    ("{{ 'x'|leader('y', width=100000000) }}", "leader()"),
]


@pytest.mark.parametrize("expr,message", UNBOUNDED, ids=[m for _e, m in UNBOUNDED])
def test_operations_that_build_huge_values_are_refused(expr, message, tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": body(expr)})
    err = letter_error(folder)
    assert err.template == "funded.it.j2" and err.lineno == 3, str(err)
    assert "limit exceeded" in str(err) and message in str(err), str(err)


def test_ordinary_template_code_still_works(tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": body(
        "{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ range(3)|list }} {{ '%5.1f' % 3.14159 }} {{ '{:>4}'.format('a') }} "
        "{{ [1, 2] + [3] }} {% for a, b in [(1, 2)] %}{{ a }}{{ b }}{% endfor %} {{ 'a' ~ 1 }} "
        "{% set ns = namespace(n=0) %}{% for c in result.criteria %}{% set ns.n = ns.n + 1 %}{% endfor %}"
        "{{ ns.n }} {{ result.criteria|map(attribute='id')|join(',') }} {{ 'x'|center(5) }}|")})
    text = LetterRenderer(folder).render(sample("funded"), sample("call"), date=DATE)
    criteria = ",".join(c["id"] for c in sample("funded")["criteria"])
    # a list is printed item by item, as a letter writes it (not as Python's [0, 1, 2])
    assert (f"1024 ababab 0, 1, 2   3.1    a 1, 2, 3 12 a1 {len(sample('funded')['criteria'])} "
            f"{criteria}   x  |") in text


@pytest.mark.parametrize("source", [
    "{% for a in [1] %}" * 25 + "x" + "{% endfor %}" * 25,     # Python allows 20 nested blocks
    "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",            # the parser recurses
    '{% include "funded.it.j2" %}',                            # includes itself
    '{% extends "other.j2" %}',                                # other.j2 extends this one
])
def test_templates_nested_too_deeply_are_an_error_not_a_crash(source, tmp_path):
    folder = folder_with(tmp_path, {"funded.it.j2": source, "other.j2": '{% extends "funded.it.j2" %}'})
    err = letter_error(folder)
    assert str(err).startswith(f"{folder}/funded.it.j2") and "the template nests too deeply" in str(err)
    problems = LetterRenderer(folder).check_templates(sample("call"))
    assert problems and all("nests too deeply" in str(p) for p in problems)


HUGE = st.integers(min_value=10**7, max_value=10**12)
OPS = st.sampled_from([
    "{{{{ 'x' * {n} }}}}", "{{{{ [0] * {n} }}}}", "{{{{ 7 ** {n} }}}}", "{{{{ range({n})|list }}}}",
    "{{{{ 'x'|center({n}) }}}}", "{{{{ 'x'.rjust({n}) }}}}", "{{{{ 'x'.zfill({n}) }}}}",
    "{{{{ '%{n}s' % 'x' }}}}", "{{{{ '{{:{n}}}'.format('x') }}}}", "{{{{ 'a\\nb'|indent({n}) }}}}",
    "{{{{ ('x' * 1000)|wordwrap(1, wrapstring='y' * {n}) }}}}",
    "{{{{ ('ab' * 500).replace('', 'y' * ({n} // 1000)) }}}}", "{{{{ [1, 2]|batch({n}, 0)|list }}}}",
])


@settings(max_examples=40, deadline=None)
@given(op=OPS, n=HUGE)
def test_any_huge_argument_is_refused_at_once(op, n):
    # each of these builds a value of at least 10**7 characters, items or digits
    renderer = LetterRenderer(lang="it")
    env = renderer._env("it", "txt")  # noqa: SLF001 - the letters' own environment, as a letter gets it
    src = op.format(n=n)
    outcome, value = finishes(lambda: env.render(env.from_string(src), {}))
    assert outcome == "raised" and "too large" in str(value), (src, value)


# -- one bad letter, and bando check -----------------------------------------------------------

@pytest.fixture()
def small_batch(tmp_path) -> Path:
    lines = (ROOT / "examples" / "salentonet" / "batch.jsonl").read_text(encoding="utf-8").splitlines()
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(lines[:3]) + "\n", encoding="utf-8")
    return batch


def test_a_breach_in_one_letter_leaves_the_others_written(tmp_path, small_batch):
    # the first three applications: two funded, one not eligible; only the latter's template is hostile
    tpl = folder_with(tmp_path, {"ineligible.it.j2": "riga 1\n{{ 10 ** 100000000 }}\n"})
    out = tmp_path / "out"
    for jobs in ("1", "2"):  # the error also crosses from a worker process
        r = CliRunner().invoke(main, ["score", str(POLICY), str(small_batch), "-o", str(out),
                                      "--templates", str(tpl), "--jobs", jobs])
        assert r.exit_code == 1, r.output
        assert sorted(p.name for p in (out / "letters").iterdir()) == ["SN-2013-B0002.txt", "SN-2013-B0003.txt"]
        assert (f"error: letter for application 'SN-2013-B0001' not written: {tpl}/ineligible.it.j2:2: "
                "limit exceeded: too large: 10 ** 100000000") in r.output
        assert "1 lettera non scritta" in r.output  # in the call's language (issue 16)
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        assert [e["application"] for e in summary["letter_errors"]] == ["SN-2013-B0001"]
        assert len((out / "results.jsonl").read_text(encoding="utf-8").splitlines()) == 3

    again = tmp_path / "again"
    r = CliRunner().invoke(main, ["letters", str(POLICY), str(out / "results.jsonl"), "-o", str(again),
                                  "--templates", str(tpl)])
    assert r.exit_code == 1, r.output
    assert "2 lettere scritte" in r.output and "; 1 non scritta" in r.output  # in the call's language
    assert "'SN-2013-B0001' not written" in r.output
    assert sorted(p.name for p in again.iterdir() if p.suffix == ".txt") == ["SN-2013-B0002.txt",
                                                                             "SN-2013-B0003.txt"]


def test_bando_check_reports_a_hostile_template_and_returns(tmp_path):
    # a copy of the policy with its modules and examples, and a hostile NAME.letters/ beside it
    shutil.copytree(ROOT / "policies" / "common", tmp_path / "policies" / "common")
    shutil.copytree(ROOT / "examples" / "salentonet", tmp_path / "examples" / "salentonet")
    policy = tmp_path / "policies" / "salentonet.bando"
    shutil.copy(POLICY, policy)
    (tmp_path / ".bando-root").write_text("", encoding="utf-8")  # the examples are in ../examples, as here
    folder_with(tmp_path / "policies", {"not_funded.en.j2": "{% for i in range(100000) %}\n"
                                        "{% for j in range(100000) %}{% endfor %}{% endfor %}\n"},
                name="salentonet.letters")
    try:
        r = subprocess.run([sys.executable, "-m", "engine.cli", "check", str(policy)], cwd=ROOT,
                           capture_output=True, text=True, timeout=HANG)
    except subprocess.TimeoutExpired:
        pytest.fail("bando check did not return: the dry render was not bounded")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "error: letter template:" in r.stderr and "salentonet.letters/not_funded.en.j2:2" in r.stderr
    assert "steps (loop iterations and calls)" in r.stderr
    assert r.stderr.count("error: letter template:") == 1  # stopped at the first breach


# -- letters/ permissions ---------------------------------------------------------------------

@pytest.mark.parametrize("mask,mode", [(0o022, 0o755), (0o027, 0o750)])
def test_letters_folder_follows_the_umask(tmp_path, small_batch, mask, mode):
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "engine.cli", "score", str(POLICY), str(small_batch),
                        "-o", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=HANG,
                       preexec_fn=lambda: os.umask(mask))
    assert r.returncode == 0, r.stderr
    assert (out / "letters").stat().st_mode & 0o777 == mode
    for letter in (out / "letters").iterdir():
        assert letter.stat().st_mode & 0o777 == mode & 0o666


# -- Markdown letters --------------------------------------------------------------------------

@pytest.mark.parametrize("expr,what", [("{{ [1, 2, 3]|random }}", "the random filter"),
                                       ("{{ lipsum(1) }}", "lipsum()")])
def test_what_differs_between_runs_is_refused(expr, what, tmp_path):
    err = letter_error(folder_with(tmp_path, {"funded.it.j2": body(expr)}))
    assert err.template == "funded.it.j2" and err.lineno == 3, str(err)
    assert what in str(err) and "same on every run" in str(err), str(err)


@pytest.mark.parametrize("fmt", ["txt", "md", "html"])
def test_letters_drop_control_characters_of_the_data(fmt):
    result = sample("funded")
    result["applicant"] = "Rete\x1b[2J\x1b[31m Salento\r\u202e0002\u2066Mecc\x0banica\x07\x85"
    result["criteria"][0]["because"] = "ok\x1b]0;title\x07 fine\u2028riga"
    text = LetterRenderer(fmt=fmt).render(result, sample("call"), date=DATE)
    text = text.replace("\\[", "[").replace("\\]", "]")  # Markdown escapes the brackets
    assert "Rete[2J[31m Salento0002Meccanica" in text, text
    assert "ok]0;title fine riga" in text
    assert not any(c in text for c in "\x1b\r\x07\x0b\x85\u202e\u2066\u2028"), text


MD = MarkdownIt("commonmark").enable("table").enable("strikethrough")


def test_markdown_letters_escape_applicant_text():
    result = sample("funded")
    result["applicant"] = "**<img src=x onerror=alert(1)>** [clicca qui](http://evil.example)"
    result["criteria"][0]["label"] = "Innovazione | <script>x</script> | `code`"
    result["criteria"][0]["because"] = "# non un titolo\n- né una lista"
    letter = LetterRenderer(fmt="md").render(result, sample("call"), date=DATE)
    page = MD.render(letter)
    assert "<img" not in page and "<script" not in page and "<a " not in page
    assert html.escape("**<img src=x onerror=alert(1)>** [clicca qui](http://evil.example)", quote=False) in page
    row = next(tr for tr in page.split("<tr>") if "Innovazione" in tr)
    assert row.count("<td") == 4  # the '|' of the label did not add cells
    assert "Innovazione | &lt;script&gt;x&lt;/script&gt; | `code`" in row
    assert "# non un titolo - né una lista" in row


def test_markdown_field_names_are_code_spans():
    result = sample("invalid")
    result["errors"] = [{"field": "network.firms[3].`employees`", "message": "atteso *un* numero"}]
    page = MD.render(LetterRenderer(fmt="md").render(result, sample("call"), date=DATE))
    assert "<code>network.firms[3].`employees`</code>" in page
    assert "atteso *un* numero" in page


TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126) | st.sampled_from("àé€«»—\t"),
               max_size=60)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_escaped_text_shows_as_itself_in_markdown(text):
    shown = " ".join(text.split())
    escaped = str(escape_markdown(text))
    for doc, tag in ((escaped, "p"), (f"| a |\n|---|\n| {escaped} |", "td"), (f"x **{escaped}** y", "p")):
        page = MD.render(doc)
        inner = page.split(f"<{tag}>", 1)[-1].split(f"</{tag}>", 1)[0] if shown else ""
        inner = inner.replace("<strong>", "").replace("</strong>", "")
        assert "<" not in inner, (text, page)
        if tag == "p" and doc.startswith("x "):
            inner = inner[2:-2]
        assert " ".join(html.unescape(inner).split()) == shown, (text, escaped, page)


# -- PDF ----------------------------------------------------------------------------------------

def test_pdf_letters_fetch_no_url(monkeypatch):
    # WeasyPrint is optional: a stand-in records what html_to_pdf hands it
    seen = {}

    class HTML:
        def __init__(self, string, base_url, url_fetcher=None):
            seen["fetcher"] = url_fetcher

        def write_pdf(self):
            return b"%PDF-"

    monkeypatch.setitem(sys.modules, "weasyprint", type(sys)("weasyprint"))
    sys.modules["weasyprint"].HTML = HTML
    assert LetterRenderer(fmt="pdf").render(sample("funded"), sample("call"), date=DATE) == b"%PDF-"
    for url in ("file:///etc/passwd", "http://169.254.169.254/latest", "data:,x"):
        with pytest.raises(ValueError, match="may not load"):
            seen["fetcher"](url)
