"""The parser's tables, built once per user instead of once per process.

Lark builds the LALR tables of ``grammar.lark`` in about half a second. Every
``bando`` command paid that before reading a single policy — ``bando eval`` of
one application, each CLI test, each server start. Lark can serialise a built
parser (:meth:`lark.Lark.memo_serialize`) and rebuild one from that data
(:meth:`lark.Lark._load` with a dict, what ``Lark.load`` does after
unpickling) in a few milliseconds, so the data is kept in a file:

* in ``$BANDO_CACHE_DIR``, else ``$XDG_CACHE_HOME/bando``, else
  ``~/.cache/bando``; ``BANDO_CACHE_DIR=`` (empty) turns the cache off;
* named by a digest of the grammar, the parser options, Lark's version and
  Python's: a changed grammar or an upgraded Lark never reads old tables;
* read with an unpickler that refuses every class and function (the data is
  plain dicts, lists, strings and numbers), so a damaged or planted file can
  make the build fall back, never run code; and only from a folder owned by
  the user that no one else can write (Jinja's bytecode cache checks the same);
* written to a temporary file renamed into place, so a process never reads
  another's half-written file.

Any problem with the cache (no home folder, a read-only disk, a damaged file)
only costs the build it would have saved: parsing never depends on it.
"""
from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import sys
import tempfile
from pathlib import Path

import lark
from lark import Lark
from lark.grammar import Rule
from lark.lexer import TerminalDef

#: bump when what is stored changes shape
FORMAT = 1


class _PlainData(pickle.Unpickler):
    """Unpickles dicts, lists, tuples, strings, numbers, booleans and None, nothing else."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"the parser cache may hold only plain data, not {module}.{name}")


def cache_dir() -> Path | None:
    """The folder the tables are kept in, or None when the cache is off."""
    chosen = os.environ.get("BANDO_CACHE_DIR")
    if chosen is not None:
        return Path(chosen) if chosen.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):  # no home folder (expanduser left "~"): no cache
        return None
    return Path(base) / "bando"


def _private(folder: Path) -> bool:
    """Is ``folder`` a real folder (not a link) of this user's that no one else can write?"""
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    owner_ok = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return stat.S_ISDIR(st.st_mode) and owner_ok and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _key(grammar: str, options: dict) -> str:
    what = repr((FORMAT, grammar, sorted(options.items()), lark.__version__, sys.version_info[:2]))
    return hashlib.sha256(what.encode("utf-8")).hexdigest()[:32]


def build(grammar: str, **options) -> Lark:
    """``Lark(grammar, parser="lalr", **options)``, its tables read from the cache when they are there."""
    options = {"parser": "lalr", **options}
    folder = cache_dir()
    path = folder / f"parser-{_key(grammar, options)}.pickle" if folder is not None else None
    if path is not None and _private(folder):
        try:
            with open(path, "rb") as f:
                data = _PlainData(f).load()
            return Lark.__new__(Lark)._load(data)
        except Exception:  # absent, stale or damaged: build it, and replace the file
            pass
    parser = Lark(grammar, **options)
    if path is not None:
        _save(parser, folder, path)
    return parser


def _save(parser: Lark, folder: Path, path: Path) -> None:
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not _private(folder):
            return
        data, memo = parser.memo_serialize([TerminalDef, Rule])
        buf = io.BytesIO()
        pickle.dump({"data": data, "memo": memo}, buf, protocol=pickle.HIGHEST_PROTOCOL)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".parser-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(buf.getvalue())
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except Exception:  # a read-only disk, a full one: the next process builds the tables again
        pass
