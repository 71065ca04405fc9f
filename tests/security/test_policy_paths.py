"""Issue 12, policy files and the paths they name: a policy may come from someone else.

One test per finding: `use`, `case` and `templates` paths leaving the
policy's folder tree (``..``, absolute paths, symbolic links), files that are
not regular files (``/dev/zero``, FIFOs), files of any size, files that are
not policies echoed line by line as "syntax errors", and the work a large or
hostile policy could make ``bando check`` do. Where the old code hung or ate
the memory, the command runs in a subprocess with a generous time-out: the
time-out only turns a hang into a failure; what the tests assert is the
refusal and its wording.
"""
from __future__ import annotations

import difflib
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsl.errors import NOT_A_POLICY, PATH_REFUSED, TOO_LARGE, PolicyError
from dsl.limits import MAX_MODULES, MAX_POLICY_BYTES, MAX_POLICY_TOKENS
from dsl.parser import count_tokens
from engine.evaluate.cases import MAX_CASE_BYTES, run_cases
from engine.cli import main
from engine.evaluate.policy import load_policy, read_source

REPO = Path(__file__).resolve().parents[2]

POLICY = """{uses}
call "Prova" version "1" {{
  language en
  {header}
}}

input {{
  firms: int in 0..100
}}

eligibility {{
  gate g "At least one firm": firms >= 1
}}
{examples}
"""

SECRET = "TOP-SECRET-LINE-4f1c"


def policy(folder: Path, uses=(), header="", cases=(), name="p.bando") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    examples = ""
    if cases:
        examples = "examples {\n" + "".join(f'  case "{c}" expect admitted\n' for c in cases) + "}\n"
    p = folder / name
    p.write_text(POLICY.format(uses="".join(f'use "{u}"\n' for u in uses), header=header, examples=examples),
                 encoding="utf-8")
    return p


@pytest.fixture
def tree(tmp_path):
    """``tmp_path/tree`` (the policy's folder) and, beside it, ``tmp_path/outside`` with a module that
    would load fine, a secret in its comment."""
    (tmp_path / "tree").mkdir()
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.bando").write_text(f"let five = 5  # {SECRET}\n", encoding="utf-8")
    (out / "app.json").write_text('{"firms": 3}', encoding="utf-8")
    (out / "letters").mkdir()
    return tmp_path / "tree"


def refusal(path, **kw):
    with pytest.raises(PolicyError) as info:
        load_policy(path, **kw)
    return info.value


def run_bando(*args, cwd=REPO, timeout=120):
    """`bando ARGS` in a child process, its memory capped: a hang or a runaway read fails the test."""
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
    return subprocess.run([sys.executable, "-m", "engine.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, preexec_fn=limits,
                          env=dict(os.environ, PYTHONPATH=str(REPO)))


def first_environment_entry() -> str:
    return Path("/proc/self/environ").read_bytes().split(b"\0")[0].decode("utf-8", "replace")


# --- paths outside the tree ---------------------------------------------------------------------

def test_use_with_dotdot_outside_the_folder_is_refused_at_the_use(tree):
    p = policy(tree, uses=["../outside/secret.bando"])
    e = refusal(p)
    (d,) = e.diagnostics
    assert d.code == PATH_REFUSED
    assert d.message == "shared module `../outside/secret.bando` is outside the policy's folder tree " \
                        f"({os.path.relpath(tree) if not os.path.relpath(tree).startswith('..') else tree})"
    assert (d.span.line, d.span.column) == (1, 5)  # the path itself
    assert "--root" in d.hint and ".bando-root" in d.hint
    assert SECRET not in e.render()


@pytest.mark.skipif(not Path("/etc/passwd").is_file(), reason="no /etc/passwd here")
def test_use_of_etc_passwd_is_not_read(tree):
    p = policy(tree, uses=["../" * 30 + "etc/passwd"])
    rendered = refusal(p).render()
    assert "is outside the policy's folder tree" in rendered
    first = Path("/etc/passwd").read_text(errors="replace").splitlines()[0]
    assert first not in rendered


def test_an_absolute_path_is_refused_and_proc_environ_never_shown(tree):
    p = policy(tree, uses=["/proc/self/environ"])
    e = refusal(p)
    (d,) = e.diagnostics
    assert d.code == PATH_REFUSED and "is an absolute path" in d.message
    entry = first_environment_entry()
    if len(entry) > 3:
        assert entry not in e.render()


def test_bando_check_of_proc_environ_says_not_a_policy_and_shows_none_of_it():
    if not Path("/proc/self/environ").exists():
        pytest.skip("no /proc here")
    entry = first_environment_entry()
    res = CliRunner().invoke(main, ["check", "/proc/self/environ"])
    assert res.exit_code == 1
    assert "/proc/self/environ:1:1: error[E901]: not a bando policy: it holds binary data" in res.output
    if len(entry) > 3:
        assert entry not in res.output


def test_a_symbolic_link_inside_the_tree_that_leads_out_is_refused(tree):
    (tree / "common").symlink_to(tree.parent / "outside", target_is_directory=True)
    (tree / "m.bando").symlink_to(tree.parent / "outside" / "secret.bando")
    for use in ("common/secret.bando", "m.bando"):
        e = refusal(policy(tree, uses=[use]))
        (d,) = e.diagnostics
        assert d.code == PATH_REFUSED
        assert d.message.startswith(f"shared module `{use}` leads outside the policy's folder tree")
        assert d.message.endswith("through a symbolic link")
        assert SECRET not in e.render()


def test_a_link_that_stays_inside_the_tree_is_fine(tree):
    (tree / "shared").mkdir()
    (tree / "shared" / "eu.bando").write_text("let five = 5\n", encoding="utf-8")
    (tree / "common").symlink_to(tree / "shared", target_is_directory=True)
    assert load_policy(policy(tree, uses=["common/eu.bando"])).name == "Prova"


def test_a_module_may_use_a_sibling_and_paths_are_relative_to_the_file_naming_them(tree):
    (tree / "common").mkdir()
    (tree / "common" / "a.bando").write_text('use "b.bando"\nlet a = b + 1\n', encoding="utf-8")
    (tree / "common" / "b.bando").write_text("let b = 1\n", encoding="utf-8")
    assert load_policy(policy(tree, uses=["common/a.bando"])).name == "Prova"


def test_a_case_file_outside_the_tree_is_refused_at_the_case(tree):
    p = policy(tree, cases=["../outside/app.json"])
    (d,) = refusal(p).diagnostics
    assert d.code == PATH_REFUSED
    assert d.message.startswith("example file `../outside/app.json` is outside the policy's folder tree")
    assert p.read_text().splitlines()[d.span.line - 1].strip().startswith('case "../outside/app.json"')


def test_many_case_files_outside_the_tree_give_the_hint_once(tree):
    p = policy(tree, cases=["../outside/app.json"] * 5)
    diags = refusal(p).diagnostics
    assert len(diags) == 5
    assert [d.hint is not None for d in diags] == [True, False, False, False, False]


def test_the_templates_folder_of_the_header_must_be_inside_the_tree(tree):
    p = policy(tree, header='templates "../outside/letters"')
    (d,) = refusal(p).diagnostics
    assert d.code == PATH_REFUSED
    assert d.message.startswith("letter templates folder `../outside/letters` is outside the policy's folder tree")
    res = CliRunner().invoke(main, ["check", str(p)])
    assert res.exit_code == 1 and "is outside the policy's folder tree" in res.output


def test_a_letters_folder_beside_the_policy_that_links_outside_is_refused(tree):
    p = policy(tree)
    (tree / "p.letters").symlink_to(tree.parent / "outside" / "letters", target_is_directory=True)
    res = CliRunner().invoke(main, ["check", str(p)])
    assert res.exit_code == 1
    assert "the letter templates folder `p.letters` leads outside the policy's folder tree" in res.output


# --- what is not a regular file -------------------------------------------------------------------

@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_bando_check_of_dev_zero_is_refused_before_reading():
    res = run_bando("check", "/dev/zero")
    assert res.returncode == 1, res.stderr
    assert "/dev/zero is a character device, not a policy file" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(tree):
    os.mkfifo(tree / "pipe.bando")
    p = policy(tree, uses=["pipe.bando"])
    res = run_bando("check", p)
    assert res.returncode == 1, res.stderr
    assert "shared module `pipe.bando` is a named pipe (FIFO), not a regular file" in res.stderr
    res = run_bando("check", tree / "pipe.bando")
    assert res.returncode == 1 and "pipe.bando is a named pipe (FIFO), not a policy file" in res.stderr
    assert "Traceback" not in res.stderr


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_case_file_that_is_a_fifo_is_refused_when_loading(tree):
    os.mkfifo(tree / "app.json")
    (d,) = refusal(policy(tree, cases=["app.json"])).diagnostics
    assert d.code == PATH_REFUSED
    assert d.message == "example file `app.json` is a named pipe (FIFO), not a regular file"


def test_a_folder_named_as_a_module_is_refused(tree):
    (tree / "dir.bando").mkdir()
    (d,) = refusal(policy(tree, uses=["dir.bando"])).diagnostics
    assert d.message == "shared module `dir.bando` is a folder, not a regular file"


# --- sizes ----------------------------------------------------------------------------------------------

def test_a_policy_file_over_the_byte_limit_is_refused_naming_file_and_limit(tmp_path):
    p = tmp_path / "big.bando"
    p.write_bytes(b"# padding\n" * (MAX_POLICY_BYTES // 10 + 1))
    with pytest.raises(PolicyError) as info:
        read_source(p)
    (d,) = info.value.diagnostics
    assert d.code == TOO_LARGE
    assert d.message == f"{p} is too large: a policy may have at most {MAX_POLICY_BYTES // 1024} KiB"


def test_modules_count_towards_the_same_byte_limit(tree):
    pad = ("# " + "x" * 97 + "\n") * (MAX_POLICY_BYTES // 200)  # half the limit, in few long comments
    (tree / "m.bando").write_text("let five = 5\n" + pad + pad, encoding="utf-8")
    p = policy(tree, uses=["m.bando"])
    p.write_text(p.read_text() + pad, encoding="utf-8")
    (d,) = refusal(p).diagnostics
    assert d.code == TOO_LARGE
    assert "with shared module `m.bando` the policy is too large" in d.message
    assert "together" in d.message


def test_a_policy_over_the_limit_of_words_and_symbols_is_refused_before_parsing(tmp_path):
    lines = "".join(f"let x{i} = {i} + 1\n" for i in range(MAX_POLICY_TOKENS // 6 + 10))
    p = policy(tmp_path)
    p.write_text(p.read_text() + lines, encoding="utf-8")
    assert count_tokens(p.read_text()) > MAX_POLICY_TOKENS
    (d,) = refusal(p).diagnostics
    assert d.code == TOO_LARGE
    assert f"more than {MAX_POLICY_TOKENS:,} words and symbols" in d.message
    assert d.span is not None and d.span.line > 1  # the first word over the limit


def test_a_long_chain_of_modules_is_refused_cleanly(tree):
    n = 1500  # the old loader recursed once per module: a RecursionError
    for i in range(n):
        (tree / f"m{i}.bando").write_text(f'use "m{i + 1}.bando"\nlet v{i} = {i}\n', encoding="utf-8")
    (tree / f"m{n}.bando").write_text("let last = 1\n", encoding="utf-8")
    diags = refusal(policy(tree, uses=["m0.bando"])).diagnostics
    assert [d.code for d in diags] == [TOO_LARGE]
    assert diags[0].message == f"too many shared modules: a policy may use at most {MAX_MODULES}"


def test_thousands_of_lets_each_depending_on_the_last_are_an_error_not_a_crash(tmp_path):
    p = policy(tmp_path)
    chain = "let x0 = firms\n" + "".join(f"let x{i} = x{i - 1} + 1\n" for i in range(1, 1500))
    p.write_text(p.read_text().replace('firms >= 1', 'x1499 >= 1') + chain, encoding="utf-8")
    (d,) = refusal(p).diagnostics
    assert d.code == TOO_LARGE and "layered too deeply to compile" in d.message


def test_thousands_of_undefined_names_do_not_make_the_hints_quadratic(tmp_path, monkeypatch):
    calls = []
    real = difflib.get_close_matches
    monkeypatch.setattr(difflib, "get_close_matches", lambda *a, **k: calls.append(1) or real(*a, **k))
    n = 2500
    p = policy(tmp_path)
    p.write_text(p.read_text() + "".join(f"let x{i} = zz{i}\n" for i in range(n)), encoding="utf-8")
    diags = refusal(p).diagnostics
    assert sum("is not defined" in d.message for d in diags) == n  # every error is still reported
    assert len(calls) < 50  # each hint compares the name with all 2500 others: a budget, not n of them


def test_a_case_file_over_its_limit_fails_the_case_without_reading_it_all(tmp_path):
    p = policy(tmp_path, cases=["app.json"])
    (tmp_path / "app.json").write_text('{"firms": 3, "pad": "' + "x" * MAX_CASE_BYTES + '"}', encoding="utf-8")
    (outcome,) = run_cases(load_policy(p), tmp_path)
    assert not outcome.ok
    assert outcome.diffs == (("application file", f"at most {MAX_CASE_BYTES:,} bytes", "a larger file"),)


# --- files that are not policies ------------------------------------------------------------------

def test_bando_check_of_a_text_file_never_echoes_its_lines(tmp_path):
    notes = tmp_path / "README.md"
    notes.write_text(f"# Notes\n\nThe password is {SECRET}\nmore: {SECRET}\n", encoding="utf-8")
    res = CliRunner().invoke(main, ["check", str(notes)])
    assert res.exit_code == 1
    assert f"{notes}:3:1: error[E901]: not a bando policy: it is text that does not start with a section of a " \
           "policy" in res.output
    assert SECRET not in res.output and "password" not in res.output


def test_a_used_file_that_is_not_a_policy_is_said_at_the_use_and_not_echoed(tree):
    (tree / "notes.txt").write_text(f"password: {SECRET}\n", encoding="utf-8")
    e = refusal(policy(tree, uses=["notes.txt"]))
    (d,) = e.diagnostics
    assert d.code == NOT_A_POLICY
    assert d.message == "shared module `notes.txt` is not a bando policy: it is text that does not start " \
                        "with a section of a policy"
    assert d.span.line == 1 and SECRET not in e.render()


def test_binary_files_are_not_echoed(tmp_path):
    png = tmp_path / "logo.bando"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET.encode() + b"\xff\xfe\n")
    with pytest.raises(PolicyError) as info:
        read_source(png)
    (d,) = info.value.diagnostics
    assert d.message == "not a bando policy: it holds binary data"
    assert SECRET not in info.value.render()


@pytest.mark.parametrize("text,kind", [
    ('{"firms": 3}', "it looks like JSON"),
    ("<html><body>x</body></html>", "it looks like HTML or XML"),
    ("SECRET_KEY=abc\n", "it is text that does not start with a section of a policy"),
])
def test_the_kind_of_a_file_that_is_not_a_policy_is_named(tmp_path, text, kind):
    f = tmp_path / "f.bando"
    f.write_text(text, encoding="utf-8")
    res = CliRunner().invoke(main, ["check", str(f)])
    assert f"not a bando policy: {kind}" in res.output
    assert text.strip() not in res.output


def test_a_policy_with_a_syntax_error_still_gets_its_line_and_caret(tmp_path):
    p = policy(tmp_path)
    p.write_text(p.read_text() + "let x = = 1\n", encoding="utf-8")
    rendered = refusal(p).render()
    assert "| let x = = 1" in rendered and "^" in rendered


def test_a_misspelt_first_word_is_not_a_policy_with_a_did_you_mean(tmp_path):
    p = policy(tmp_path)
    p.write_text(p.read_text().replace("\ncall ", "\ncal "), encoding="utf-8")
    (d,) = refusal(p).diagnostics
    assert d.code == NOT_A_POLICY and d.hint.startswith("did you mean `call`?")


# --- widening the tree ------------------------------------------------------------------------------

def test_root_widens_the_tree_and_must_hold_the_policy(tree):
    (tree / "common").mkdir()
    (tree / "common" / "m.bando").write_text("let five = 5\n", encoding="utf-8")
    p = policy(tree / "calls", uses=["../common/m.bando"])
    assert refusal(p).diagnostics[0].code == PATH_REFUSED
    assert load_policy(p, root=tree).name == "Prova"
    res = CliRunner().invoke(main, ["check", "--root", str(tree), str(p)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["check", str(p)])
    assert res.exit_code == 1 and "outside the policy's folder tree" in res.output
    (d,) = refusal(p, root=tree / "common").diagnostics
    assert d.message == f"the policy {p} is not inside the root folder {tree / 'common'}"


@pytest.mark.parametrize("command", ["eval", "schema", "test"])
def test_every_command_that_loads_a_policy_takes_root(tree, command):
    (tree / "common").mkdir()
    (tree / "common" / "m.bando").write_text("let five = 5\n", encoding="utf-8")
    p = policy(tree / "calls", uses=["../common/m.bando"])
    app = tree / "calls" / "app.json"
    app.write_text('{"firms": 3}', encoding="utf-8")
    args = {"eval": [str(p), str(app)], "schema": [str(p)], "test": [str(p)]}[command]
    res = CliRunner().invoke(main, [command, "--root", str(tree), *args])
    if command == "test":  # loaded; it has no examples, and nothing tested is not a pass
        assert res.exit_code == 1 and "no examples" in res.output, res.output
    else:
        assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, [command, *args])
    assert res.exit_code == 2 and "outside the policy's folder tree" in res.output


def test_a_bando_root_file_above_the_policy_widens_the_tree(tree):
    (tree / "common").mkdir()
    (tree / "common" / "m.bando").write_text("let five = 5\n", encoding="utf-8")
    p = policy(tree / "calls", uses=["../common/m.bando"])
    (tree / ".bando-root").write_text("", encoding="utf-8")
    assert load_policy(p).name == "Prova"
    assert refusal(policy(tree / "calls", uses=["../../outside/secret.bando"], name="q.bando"))


def test_the_shipped_policies_name_only_files_of_this_repository():
    # the repository's .bando-root makes it their tree: policies/ uses policies/common/, cases in examples/
    res = CliRunner().invoke(main, ["test", *map(str, sorted((REPO / "policies").glob("*.bando")))])
    assert res.exit_code == 0, res.output
    e = refusal(REPO / "policies" / "salentonet.bando", root=REPO / "policies")
    assert {d.code for d in e.diagnostics} == {PATH_REFUSED}


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_score_and_letters_take_root_and_hand_it_to_their_workers(tree, tmp_path, jobs):
    (tree / "common").mkdir()
    (tree / "common" / "m.bando").write_text("let five = 5\n", encoding="utf-8")
    p = policy(tree / "calls", uses=["../common/m.bando"])
    batch = tmp_path / "batch.jsonl"
    batch.write_text('{"id": "A-1", "firms": 3}\n{"id": "A-2", "firms": 0}\n', encoding="utf-8")
    out = tmp_path / f"out{jobs}"
    res = CliRunner().invoke(main, ["score", "--root", str(tree), str(p), str(batch), "-o", str(out),
                                    "--jobs", jobs])
    assert res.exit_code == 0, res.output
    assert len((out / "results.jsonl").read_text().splitlines()) == 2
    res = CliRunner().invoke(main, ["letters", "--root", str(tree), str(p), str(out / "results.jsonl"),
                                    "-o", str(tmp_path / f"letters{jobs}")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["score", str(p), str(batch), "-o", str(tmp_path / "refused")])
    assert res.exit_code == 2 and "outside the policy's folder tree" in res.output
