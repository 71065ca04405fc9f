"""dsl.parser_cache: the parser's tables kept per user, read back as plain data only."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from dsl import parser_cache
from dsl.parser import _grammar, parse

GRAMMAR = 'start: WORD ("," WORD)*\n%import common.WORD\n%ignore " "\n'


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("BANDO_CACHE_DIR", str(folder))
    return folder


def files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_first_build_writes_the_tables_and_the_second_reads_them(cache, monkeypatch):
    first = parser_cache.build(GRAMMAR)
    names = files(cache)
    assert len(names) == 1 and names[0].startswith("parser-") and names[0].endswith(".pickle")
    assert os.stat(cache).st_mode & 0o777 == 0o700

    def no_build(*a, **k):
        raise AssertionError("the tables should have come from the cache")

    monkeypatch.setattr(parser_cache.Lark, "__init__", no_build)
    second = parser_cache.build(GRAMMAR)
    assert second.parse("a, b").children == first.parse("a, b").children


def test_the_policy_grammar_parses_the_same_from_the_cache(cache):
    text = (Path(__file__).parents[2] / "policies" / "salentonet.bando").read_text(encoding="utf-8")
    fresh = parser_cache.build(_grammar(), propagate_positions=True, maybe_placeholders=False)
    again = parser_cache.build(_grammar(), propagate_positions=True, maybe_placeholders=False)
    assert len(files(cache)) == 1
    assert again.parse(text) == fresh.parse(text)
    assert len(parse(text, "salentonet.bando").items) > 5


def test_another_grammar_or_option_has_its_own_file(cache):
    parser_cache.build(GRAMMAR)
    parser_cache.build(GRAMMAR + "%ignore \"\\t\"\n")
    parser_cache.build(GRAMMAR, propagate_positions=True)
    assert len(files(cache)) == 3


def test_a_damaged_file_is_rebuilt_and_replaced(cache):
    parser_cache.build(GRAMMAR)
    (path,) = cache.iterdir()
    path.write_bytes(b"not a pickle at all")
    assert parser_cache.build(GRAMMAR).parse("a").children
    assert path.read_bytes() != b"not a pickle at all"


class Boom:
    def __reduce__(self):
        return (os.system, ("echo planted",))


def test_a_planted_pickle_never_runs_code(cache, monkeypatch):
    parser_cache.build(GRAMMAR)
    (path,) = cache.iterdir()
    path.write_bytes(pickle.dumps({"data": Boom(), "memo": {}}))
    ran = []
    monkeypatch.setattr(os, "system", lambda cmd: ran.append(cmd))
    assert parser_cache.build(GRAMMAR).parse("a").children
    assert ran == []
    with open(path, "rb") as f:  # replaced by the tables built again, plain data
        assert set(parser_cache._PlainData(f).load()) == {"data", "memo"}


def test_the_unpickler_refuses_any_class():
    import io
    blob = pickle.dumps({"data": Boom(), "memo": {}})
    with pytest.raises(pickle.UnpicklingError, match="only plain data"):
        parser_cache._PlainData(io.BytesIO(blob)).load()


def test_a_folder_others_can_write_is_not_read(cache):
    cache.mkdir(mode=0o700)
    parser_cache.build(GRAMMAR)
    assert len(files(cache)) == 1
    os.chmod(cache, 0o777)
    (path,) = cache.iterdir()
    path.write_bytes(b"garbage that would fail if read")
    assert parser_cache.build(GRAMMAR).parse("a").children
    assert path.read_bytes() == b"garbage that would fail if read"  # neither read nor rewritten


def test_an_empty_setting_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("BANDO_CACHE_DIR", "")
    assert parser_cache.cache_dir() is None
    monkeypatch.chdir(tmp_path)
    assert parser_cache.build(GRAMMAR).parse("a").children
    assert list(tmp_path.iterdir()) == []


def test_default_folder_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("BANDO_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert parser_cache.cache_dir() == tmp_path / "bando"


def test_a_read_only_folder_costs_only_the_build(cache):
    cache.mkdir(mode=0o500)
    try:
        assert parser_cache.build(GRAMMAR).parse("a, b").children
        if os.geteuid() != 0:  # root writes anyway
            assert files(cache) == []
    finally:
        os.chmod(cache, 0o700)
