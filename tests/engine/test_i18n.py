"""The message catalogue (engine/text/i18n.py, engine/text/locale/*/LC_MESSAGES/bando.po)."""
from __future__ import annotations

import json
import pickle
import re
import string
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

from engine.text import i18n
from engine.text.formatting import format_date, format_money, format_ordinal
from engine.evaluate.policy import load_policy

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "engine" / "text" / "locale"
SHIPPED = ("en", "it")


def _po(lang):
    with open(LOCALE / lang / "LC_MESSAGES" / "bando.po", "rb") as f:
        return read_po(f)


def _slots(text):
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _messages(lang):
    return {m.id if isinstance(m.id, str) else m.id[0]: m for m in _po(lang) if m.id}


def test_the_shipped_languages_are_found():
    assert set(SHIPPED) <= set(i18n.languages())


@pytest.mark.parametrize("lang", [x for x in SHIPPED if x != "en"])
def test_every_message_exists_in_every_shipped_language_translated_with_the_same_slots(lang):
    reference, other = _messages("en"), _messages(lang)
    assert set(other) == set(reference), "ids missing or extra: " + ", ".join(sorted(set(other) ^ set(reference)))
    for mid, m in other.items():
        ref = reference[mid]
        assert not m.fuzzy, f"{lang}: {mid} is marked fuzzy"
        forms = m.string if isinstance(m.string, tuple) else (m.string,)
        ref_forms = ref.string if isinstance(ref.string, tuple) else (ref.string,)
        assert len(forms) == len(ref_forms), f"{lang}: {mid} has {len(forms)} forms, English {len(ref_forms)}"
        for form in forms:
            # an empty text is untranslated (English would show): only English may mean "nothing to write"
            assert form.strip(), f"{lang}: {mid} is empty (untranslated)"
            assert _slots(form) <= _slots(ref_forms[-1]) | {"n"}, f"{lang}: {mid} has slots English does not fill"
        assert _slots(forms[-1]) == _slots(ref_forms[-1]), f"{lang}: {mid} does not write the same facts"


def test_every_english_text_is_written_except_those_meant_empty():
    empty = sorted(mid for mid, m in _messages("en").items() if not (m.string if isinstance(m.string, str) else all(m.string)))
    assert empty == ["letters.to"]  # an English letter has no salutation line before the address


def test_every_message_id_named_in_the_code_is_in_the_catalogue():
    known = set(_messages("en"))
    groups = sorted({mid.split(".")[0] for mid in known})
    # ids passed to the catalogue's functions: text(lang, "id"), plural(lang, "id", n), Message("id"), Joined("id")
    pattern = re.compile(r'(?:Message|text|plural|Joined)\([^"()]*"((?:%s)\.[a-z_][a-z0-9_.]*)"' % "|".join(groups))
    named = set()
    for path in (ROOT / "engine").rglob("*.py"):  # every stage folder (engine/*.py alone is three files)
        # an id ending in "." or "_" is the prefix of ids composed in the code ("explain.s_" + status)
        named |= {m for m in pattern.findall(path.read_text(encoding="utf-8")) if not m.endswith((".", "_"))}
    assert named, "the scan found no ids: the pattern is wrong"
    assert not (named - known), sorted(named - known)


def test_a_plural_message_picks_its_form():
    assert i18n.plural("it", "explain.s_invalid", 1) == "I dati della domanda non sono validi: 1 problema da correggere."
    assert i18n.plural("it", "explain.s_invalid", 2) == "I dati della domanda non sono validi: 2 problemi da correggere."
    assert i18n.plural("en", "explain.s_ineligible", 1, ids="X") == "Not eligible: 1 requirement not met (X)."
    with pytest.raises(TypeError):
        i18n.text("en", "explain.s_invalid")


def test_a_language_without_a_catalogue_is_refused_by_name():
    with pytest.raises(i18n.UnknownLanguage, match="no message catalogue for language 'xx'"):
        i18n.text("xx", "status.funded")


def test_a_message_crosses_processes_and_renders_in_any_language():
    from engine.compile.validate import _show
    m = i18n.Message("validate.expected", what=i18n.Message("validate.what.int"), given=_show("dodici"))
    assert m == 'expected a whole number, got "dodici"'
    back = pickle.loads(pickle.dumps(m))
    assert back.render("it") == "atteso un numero intero, indicato «dodici»"
    assert json.dumps({"message": back}) == json.dumps({"message": 'expected a whole number, got "dodici"'})


DE_PO = r'''
msgid ""
msgstr ""
"Language: de\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"
"Content-Type: text/plain; charset=utf-8\n"

msgid "status.admitted"
msgstr "zugelassen"

msgid "status.invalid"
msgstr ""

#, fuzzy
msgid "status.funded"
msgstr "FUZZY"

msgid "explain.s_admitted"
msgstr "Förderfähig und zugelassen mit {score} von {max} Punkten."

msgid "explain.s_invalid"
msgid_plural "explain.s_invalid.plural"
msgstr[0] "Die Antragsdaten sind ungültig: {n} Problem."
msgstr[1] "Die Antragsdaten sind ungültig: {n} Probleme."

msgid "text.outcome"
msgstr "Ergebnis"

msgid "format.group_sep"
msgstr "."

msgid "format.decimal_sep"
msgstr ","

msgid "format.money_symbol"
msgstr "{number} {symbol}"

msgid "format.month.03"
msgstr "März"

msgid "format.date"
msgstr "{day}. {month} {year}"

msgid "format.ordinal.other"
msgstr "{n}."
'''

DE_POLICY = '''
call "Testaufruf" version "1" { authority "Land" language de budget 1000 EUR }
input { id: text, firms "Unternehmen" en "Firms": int }
eligibility { gate enough "Mindestens zwei Unternehmen" en "At least two firms": firms >= 2 }
score max 10 pass 0 { criterion size "Größe" en "Size" max 10 = firms }
'''


@pytest.fixture
def german(tmp_path, monkeypatch):
    """A test-only German catalogue in a folder of BANDO_LOCALE_PATH: a language is a catalogue, no code."""
    folder = tmp_path / "locale" / "de" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "bando.po").write_text(DE_PO, encoding="utf-8")
    monkeypatch.setenv("BANDO_LOCALE_PATH", str(tmp_path / "locale"))
    i18n.reset()
    yield
    monkeypatch.delenv("BANDO_LOCALE_PATH")
    i18n.reset()


def test_a_new_language_is_a_catalogue_and_no_code(german):
    from engine.explain.explain import render_text
    assert "de" in i18n.languages()
    policy = load_policy(DE_POLICY)
    assert policy.language == "de"
    r = policy.evaluate({"id": "A", "firms": 3})
    assert r.summary == "Förderfähig und zugelassen mit 3 von 10 Punkten."
    text = render_text(r)
    assert "Ergebnis: zugelassen" in text
    # what the German catalogue lacks is English, never a message id
    assert "Application A" in text and "text." not in text and "status." not in text
    invalid = policy.evaluate({"id": "B", "firms": "drei"})
    assert invalid.summary == "Die Antragsdaten sind ungültig: 1 Problem."
    assert render_text(invalid).splitlines()[1] == "Ergebnis: invalid data"  # empty in German: English
    assert i18n.text("de", "status.funded") == "funded"  # fuzzy: not yet a translation
    assert format_money("1234.5", "de") == "1.234,50 €"
    assert format_date("2026-03-01", "de") == "1. März 2026"
    assert format_ordinal(3, "de") == "3."


def test_without_its_catalogue_the_language_is_refused_by_the_checker():
    from dsl.errors import PolicyError
    with pytest.raises(PolicyError, match=r"unsupported language `de`: expected one that has a message catalogue"):
        load_policy(DE_POLICY)


def test_the_translators_workflow_extracts_every_id_and_starts_a_new_language(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    pot = tmp_path / "bando.pot"
    CommandLineInterface().run(["pybabel", "-q", "extract", "-F", "babel.cfg", "-o", str(pot), "."])
    with open(pot, "rb") as f:
        template = read_po(f)
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}
    assert ids == set(_messages("en"))
    english = next(m for m in template if m.id == "validate.expected")
    assert "English: expected {what}, got {given}" in english.auto_comments
    CommandLineInterface().run(["pybabel", "-q", "init", "-i", str(pot), "-d", str(tmp_path / "locale"),
                                "-D", "bando", "-l", "fr"])
    assert (tmp_path / "locale" / "fr" / "LC_MESSAGES" / "bando.po").is_file()


def test_the_server_offers_and_accepts_a_language_that_is_only_a_catalogue(german):
    # the server asks the catalogue which languages exist: ?lang=de and Accept-Language: de work
    # without a line of code, and the policy's own language is offered first
    from types import SimpleNamespace

    from engine.serve.bodies import language
    from engine.serve.registry import Served

    policy = load_policy(DE_POLICY)
    served = Served("de-call", "de.bando", policy)
    assert served.languages[0] == "de" and set(served.languages) == {"de", "en", "it"}

    def asked(query=None, header=None):
        return SimpleNamespace(query_params={"lang": query} if query else {},
                               headers={"accept-language": header} if header else {})

    assert language(asked(query="de-AT"), served) == "de"
    assert language(asked(header="fr;q=0.9, de;q=0.8"), served) == "de"
    assert language(asked(header="fr"), served) == "de"  # nothing offered: the call's own
