"""Golden letters for every outcome of a shipped policy (SalentoNet), in Italian and English.

The results come from the real pipeline: the policy's own example applications
are scored as a small batch with a reduced budget (so that one is funded and
one is not), plus one application evaluated alone (admitted). Regenerate with
BANDO_UPDATE_GOLDEN=1 and review the diff.
"""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine import load_policy
from engine.cli import main
from engine.letters.letters import LetterRenderer

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "salentonet.bando"
EXAMPLES = ROOT / "examples" / "salentonet"
GOLDEN = ROOT / "tests" / "golden" / "letters" / "salentonet"
DATE = datetime.date(2014, 2, 28)
PICK = {"funded": "SN-2013-001", "not_funded": "SN-2013-011", "below_threshold": "SN-2013-002",
        "ineligible": "SN-2013-003", "invalid": "SN-2013-022"}


@pytest.fixture(scope="module", params=["it", "en"])
def results(request, tmp_path_factory):
    lang = request.param
    tmp = tmp_path_factory.mktemp("sn")
    batch = [json.loads((EXAMPLES / f"{app}.json").read_text(encoding="utf-8"))
             for app in ("SN-2013-001", "SN-2013-008", "SN-2013-011", "SN-2013-002", "SN-2013-003", "SN-2013-022")]
    (tmp / "batch.json").write_text(json.dumps(batch), encoding="utf-8")
    res = CliRunner().invoke(main, ["score", str(POLICY), str(tmp / "batch.json"), "-o", str(tmp / "out"),
                                    "--budget", "60000", "--no-letters", "--lang", lang])
    assert res.exit_code == 0, res.output
    by_id = {}
    for line in (tmp / "out" / "results.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        by_id[d["application"]] = d
    out = {status: by_id[app] for status, app in PICK.items()}
    for status, d in out.items():
        assert d["status"] == status, (status, d["status"], d["summary"])
    policy = load_policy(POLICY)
    admitted = policy.evaluate(json.loads((EXAMPLES / "SN-2013-016.json").read_text(encoding="utf-8")), lang=lang)
    assert admitted.status == "admitted"
    out["admitted"] = admitted.to_dict()
    call = policy.call_info()
    call["budget"] = "60000.00"  # as `bando score --budget` tells the letters
    return lang, out, call


@pytest.mark.parametrize("status", ["ineligible", "below_threshold", "admitted", "funded", "not_funded", "invalid"])
def test_salentonet_letters(results, status):
    lang, by_status, call = results
    text = LetterRenderer(lang=lang, fmt="txt").render(by_status[status], call, date=DATE)
    golden = GOLDEN / f"{status}.{lang}.txt"
    if os.environ.get("BANDO_UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"missing golden {golden}; run with BANDO_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8"), f"{golden.name} differs"
    assert by_status[status]["application"] in text


def test_score_and_letters_name_and_write_the_same_letters_a_row_without_id_included(tmp_path):
    # one naming of a letter's file: a row whose id is missing is named after where it came from
    # (batch.json_item_2-<hash>.txt), by `bando score` as by `bando letters` run on its results
    batch = [json.loads((EXAMPLES / f"{app}.json").read_text(encoding="utf-8")) for app in ("SN-2013-001", "SN-2013-003")]
    batch.insert(1, dict(batch[0], id=""))
    (tmp_path / "batch.json").write_text(json.dumps(batch), encoding="utf-8")
    res = CliRunner().invoke(main, ["score", str(POLICY), str(tmp_path / "batch.json"), "-o", str(tmp_path / "out"),
                                    "--date", "2014-02-28"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["letters", str(POLICY), str(tmp_path / "out" / "results.jsonl"), "-o",
                                    str(tmp_path / "again"), "--date", "2014-02-28"])
    assert res.exit_code == 0, res.output
    written = {p.name: p.read_bytes() for p in (tmp_path / "out" / "letters").iterdir()}
    again = {p.name: p.read_bytes() for p in (tmp_path / "again").glob("*.txt")}
    assert written == again
    unnamed = [name for name in written if name.startswith("batch.json_item_2-")]
    assert len(unnamed) == 1 and len(written) == 3, sorted(written)
    assert "domanda n. batch.json:item 2" in written[unnamed[0]].decode("utf-8")
