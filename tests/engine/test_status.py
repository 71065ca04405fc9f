"""engine.text.status: one status vocabulary, written in files as its plain name."""
import json
import pickle

from engine.text import status
from engine.text.status import Status


def test_a_status_is_its_name_in_every_file_format():
    assert Status.NOT_FUNDED == "not_funded"
    assert json.dumps({"s": Status.TIED}) == '{"s": "tied"}'
    assert f"{Status.FUNDED}" == "funded" and "status." + Status.INVALID == "status.invalid"
    assert pickle.loads(pickle.dumps(Status.WITHDRAWN)) is Status.WITHDRAWN


def test_groups_are_made_of_statuses_and_the_report_order_lists_each_once():
    assert set(status.REPORT_ORDER) == set(status.ALL) and len(status.REPORT_ORDER) == len(status.ALL)
    assert set(status.RANKED) < set(status.SCORED) < set(status.ALL)
    assert not set(status.DECIDED) & {Status.FUNDED, Status.NOT_FUNDED, Status.TIED, Status.WITHDRAWN}


def test_eligibility_is_unknown_only_for_invalid_data():
    assert status.eligible("invalid") is None
    assert status.eligible(Status.INELIGIBLE) is False
    assert all(status.eligible(s) for s in status.ALL if s not in ("invalid", "ineligible"))


def test_every_status_has_words_in_each_language():
    from engine.text import i18n
    for lang in i18n.languages():
        for s in status.ALL:
            words = i18n.text(lang, "status." + s)
            assert words and words != "status." + s and "_" not in words
