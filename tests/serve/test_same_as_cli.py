"""For every shipped example application, POST /evaluate answers what `bando eval --format json` prints.

The CLI is run in-process (click's runner, the real command and its own JSON
writing); only loading the policy is cached, so that 128 evaluations do not load
five policies 128 times. Both sides are compared as parsed JSON: the server
writes compact JSON, the CLI indents it.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import engine.evaluate.policy
from engine.cli import main

EXAMPLES = sorted((p, app) for p in Path("policies").glob("*.bando")
                  for app in sorted((Path("examples") / p.stem).glob("*.json")))


@pytest.fixture(scope="module")
def cli_eval():
    load = functools.lru_cache(maxsize=None)(engine.evaluate.policy.load_policy)
    runner = CliRunner()

    def run(policy, application, lang):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(engine.evaluate.policy, "load_policy", load)
            out = runner.invoke(main, ["eval", str(policy), str(application), "--format", "json", "--lang", lang])
        assert out.exit_code in (0, 1), out.output
        return json.loads(out.stdout), out.exit_code
    return run


def test_every_shipped_example_is_covered():
    assert len({p for p, _ in EXAMPLES}) == len(list(Path("policies").glob("*.bando"))) >= 6 and len(EXAMPLES) >= 100


@pytest.mark.parametrize("policy, application", EXAMPLES, ids=[a.stem for _, a in EXAMPLES])
def test_evaluate_equals_bando_eval(api, cli_eval, policy, application):
    lang = "en" if application.stem.endswith("1") else "it"  # both languages, a tenth of the cases in English
    expected, code = cli_eval(policy, application, lang)
    r = api.post(f"/policies/{policy.stem}/evaluate?lang={lang}", content=application.read_bytes(),
                 headers={"content-type": "application/json"})
    if code == 1:  # an invalid application: 422, the result in the problem
        assert r.status_code == 422 and expected["status"] == "invalid"
        assert r.json()["result"] == expected
    else:
        assert r.status_code == 200
        assert r.json() == expected
