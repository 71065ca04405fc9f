"""The real policies in ``policies/`` and their examples in ``examples/``.

For every policy: ``bando check`` finds no error, ``bando fmt --check`` leaves
it unchanged, ``bando test`` passes its own example cases, and every example
application evaluates without an internal error. The shipped batches are read
in each of their forms with the same outcome, and the generator that made
them still runs.
"""
from __future__ import annotations

import importlib.util
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main
from engine.evaluate.policy import load_application, load_policy

ROOT = Path(__file__).resolve().parents[1]
POLICIES = sorted((ROOT / "policies").glob("*.bando"))
NAMES = [p.stem for p in POLICIES]
MODULES = sorted((ROOT / "policies" / "common").glob("*.bando"))
STATUSES = {"ineligible", "below_threshold", "admitted", "invalid", "awaiting_evaluation", "needs_consensus",
            "evaluation_invalid"}
#: policies whose batch is not a generated one: distretto_commissione scores the applications of its
#: examples/ folder (domande.csv) with the panel's marks sheet (voti.csv), tested end to end in
#: tests/engine/test_panel.py; its cases are distretto_progetti's, with the marks of each expert
NOT_GENERATED = {"distretto_commissione"}


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module", params=NAMES)
def name(request):
    return request.param


def _policy_path(name):
    return ROOT / "policies" / f"{name}.bando"


def test_every_call_of_the_seeds_has_a_policy():
    assert set(NAMES) >= {"distretto_riconoscimento", "distretto_progetti", "salentonet", "mechnet",
                          "2ins_clusters"}


def test_check_finds_no_error(name):
    result = _run("check", _policy_path(name))
    assert result.exit_code == 0, result.output
    assert "error" not in result.output.lower(), result.output


@pytest.mark.parametrize("path", POLICIES + MODULES, ids=lambda p: p.name)
def test_formatting_is_canonical(path):
    result = _run("fmt", "--check", path)
    assert result.exit_code == 0, result.output


def test_example_cases_pass(name):
    result = _run("test", _policy_path(name))
    assert result.exit_code == 0, result.output
    m = re.search(r"(\d+) passed, (\d+) failed", result.output)
    assert m and m.group(2) == "0", result.output


def test_enough_cases_and_examples(name):
    policy = load_policy(_policy_path(name))
    assert len(policy.cases) >= 15
    assert {c.status for c in policy.cases} >= {"admitted", "ineligible", "invalid"}
    files = sorted((ROOT / "examples" / name).glob("*.json"))
    assert len(files) >= 20
    # every gate of the policy is seen failing in some case
    failing = {g for c in policy.cases for e in c.expectations if e.kind == "failing" for g in e.value}
    assert failing == {g.id for g in policy.gates}


def test_every_case_names_an_example_of_its_own_policy(name):
    policy = load_policy(_policy_path(name))
    for case in policy.cases:
        path = (_policy_path(name).parent / case.file).resolve()
        assert path.parent == (ROOT / "examples" / name).resolve(), case.file


def test_every_example_evaluates_without_internal_error(name):
    policy = load_policy(_policy_path(name))
    for path in sorted((ROOT / "examples" / name).glob("*.json")):
        data = load_application(path)
        for lang in ("it", "en"):
            result = policy.evaluate(data, lang=lang)
            assert result.status in STATUSES, path.name
            for err in result.errors:
                message = err[1] if isinstance(err, tuple) else err["message"]
                assert "internal error" not in message, f"{path.name}: {message}"
            d = result.to_dict()
            json.dumps(d, ensure_ascii=False)
            assert d["application"] == data["id"]
            for g in d["gates"]:
                assert g["because"], (path.name, g["id"])


def test_policies_carry_a_full_call_header(name):
    info = load_policy(_policy_path(name)).call_info()
    for key in ("authority", "language", "opens", "closes", "budget", "reference", "signatory", "appeal_days",
                "appeal_body", "contact"):
        assert info[key] is not None, key
    assert "T" in info["closes"], "the deadline carries an hour"
    text = _policy_path(name).read_text(encoding="utf-8")
    for line in ("grant = ", "requested = ", "applicant = ", "submitted = ", "ranking {"):
        assert line in text
    assert "rounded down to 1 EUR" in text


# --------------------------------------------------------------------------- batches

BATCH_SIZE: dict = {}  # every shipped batch has the default 500 applications


def _outcomes(policy, path):
    from engine.score.batch_io import read_batch

    out = {}
    with read_batch(path, policy.json_schema()) as rows:
        for row in rows:
            assert row.data is not None and not row.errors, (path.name, row.source, row.errors)
            d = policy.decide(row.data)
            out[row.app_id] = (d.status, d.score, d.grant, tuple(d.failed), tuple(d.errors))
    return out


def test_shipped_batch_reads_the_same_in_every_form(name):
    if name in NOT_GENERATED:
        pytest.skip(f"{name}: its batch is domande.csv with the panel's marks sheet (tests/engine/test_panel.py)")
    policy = load_policy(_policy_path(name))
    folder = ROOT / "examples" / name
    forms = [folder / "batch.jsonl", folder / "batch.csv", folder / "batch.xlsx"]
    for f in forms:
        assert f.exists(), f
        assert f.stat().st_size < 4_500_000, f"{f.name} is {f.stat().st_size} bytes"
    first = _outcomes(policy, forms[0])
    assert len(first) >= BATCH_SIZE.get(name, 500)
    for other in forms[1:]:
        assert _outcomes(policy, other) == first, other.name
    statuses = [s for s, *_ in first.values()]
    n = len(statuses)
    assert statuses.count("invalid") >= 2
    assert 0.05 * n <= statuses.count("ineligible") <= 0.25 * n
    assert statuses.count("admitted") >= 0.5 * n
    for status, _, _, _, errors in first.values():
        for _, message in errors:
            assert "internal error" not in message


def _generator():
    spec = importlib.util.spec_from_file_location("examples_generate", ROOT / "examples" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_is_seeded_and_its_forms_agree(name, tmp_path):
    if name in NOT_GENERATED:
        pytest.skip(f"{name}: examples/generate.py does not generate it (its batch is distretto_progetti's)")
    gen = _generator()
    for run in ("a", "b"):
        gen.main([name, "--n", "40", "--seed", "7", "--out", str(tmp_path / run / "batch")])
    for f in sorted((tmp_path / "a").iterdir()):
        assert f.read_bytes() == (tmp_path / "b" / f.name).read_bytes(), f.name
    policy = load_policy(_policy_path(name))
    outcomes = [_outcomes(policy, tmp_path / "a" / f"batch.{ext}") for ext in ("jsonl", "csv", "xlsx")]
    assert len(outcomes[0]) == 40
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_italian_calls_write_italian_numbers(tmp_path):
    gen = _generator()
    gen.main(["salentonet", "--n", "5", "--seed", "3", "--out", str(tmp_path / "batch")])
    header, *rows = (tmp_path / "batch.firms.csv").read_text(encoding="utf-8").splitlines()
    assert header.startswith("application;")
    assert any(re.search(r";\d{1,3}(\.\d{3})+,\d{2};", r) for r in rows)
    gen.main(["2ins_clusters", "--n", "5", "--seed", "3", "--out", str(tmp_path / "en")])
    assert (tmp_path / "en.csv").read_text(encoding="utf-8").startswith("id,")


def test_decimal_amounts_stay_exact_in_jsonl():
    line = (ROOT / "examples" / "salentonet" / "batch.jsonl").read_text(encoding="utf-8").splitlines()[0]
    data = json.loads(line, parse_float=Decimal)
    assert isinstance(data["project"]["cost"], Decimal)
