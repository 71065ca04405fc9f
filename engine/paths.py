"""The files a policy names — `use` modules, `case` example files, the `templates` folder — and only those.

Every path a policy names is resolved here, against the policy's *tree*:

- the folder of the top-level policy file;
- widened to the nearest folder above it that holds a :data:`ROOT_MARKER`
  file (``.bando-root``), when there is one: the top of a project whose
  policies live in ``policies/`` and their example applications in
  ``examples/``, as in bando's own repository;
- or exactly the folder given with ``--root DIR`` (``root=`` in the library),
  which must hold the policy.

A path must be relative and must stay inside the tree once every symbolic link
in it is resolved, so a link inside the tree that leads out is refused like
``../../etc/passwd``. A marker can only widen the tree to a folder above the
policy, which the author of a policy's own folder cannot write into.

A file is read only if it is a regular file (never a FIFO, a device or a
folder), checked before it is opened; it is opened without blocking and read
up to a limit, so nothing a policy names can make bando wait for ever or fill
its memory.
"""
from __future__ import annotations

import os
import stat

import attrs

#: a file of this name makes its folder the tree of every policy below it
ROOT_MARKER = ".bando-root"

WIDEN_HINT = ("keep the files a policy names inside its own folder (or below it); to allow a wider tree, "
              f"run with `--root DIR` (`load_policy(path, root=DIR)`) or put a file named `{ROOT_MARKER}` "
              "in the top folder of your project")


class PathRefused(Exception):
    """A path a policy names is not allowed: ``message`` says why, ``hint`` what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotRegularFile(PathRefused):
    """A folder, a FIFO, a device, a socket: ``kind`` names it (``"a named pipe (FIFO)"``)."""

    def __init__(self, kind: str):
        super().__init__(f"is {kind}, not a regular file", hint="a policy can only name ordinary files")
        self.kind = kind


class TooLarge(PathRefused):
    """The file has more bytes than the reader's limit."""

    def __init__(self, limit: int):
        super().__init__(f"is larger than {limit:,} bytes")
        self.limit = limit


def file_kind(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def shown(path: str) -> str:
    """A path as messages show it: relative to the current folder when it is below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return path
    return path if rel.startswith("..") else rel


def _inside(real: str, root: str) -> bool:
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def _marked_root(folder: str) -> str:
    """``folder``, or the nearest folder above it that holds :data:`ROOT_MARKER`."""
    d = folder
    while True:
        if os.path.lexists(os.path.join(d, ROOT_MARKER)):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return folder
        d = parent


@attrs.frozen
class PolicyTree:
    """The folder every path a policy names must stay in (``root``, symbolic links resolved)."""

    root: str

    @classmethod
    def of(cls, policy_path=None, root=None) -> "PolicyTree":
        """The tree of the policy file ``policy_path`` (None: a policy given as text, read in the current
        folder), or exactly ``root`` when it is given. Raises :class:`PathRefused` for a ``root`` that is
        not a folder or does not hold the policy."""
        where = os.path.dirname(os.path.realpath(policy_path)) if policy_path else os.path.realpath(os.getcwd())
        if root is None:
            return cls(_marked_root(where))
        try:
            real_root = os.path.realpath(os.fspath(root))
        except (TypeError, ValueError):
            raise PathRefused(f"the root folder {root!r} is not a path") from None
        if not os.path.isdir(real_root):
            raise PathRefused(f"the root folder {root} is not a folder")
        if policy_path and not _inside(where, real_root):
            raise PathRefused(f"the policy {policy_path} is not inside the root folder {root}",
                              hint="give a root folder that holds the policy file")
        return cls(real_root)

    def resolve(self, base_dir: str, name: str, what: str) -> str:
        """The real path of ``name``, written in a policy file in ``base_dir``; :class:`PathRefused` unless it
        is a relative path that stays inside the tree. ``what`` names it in messages (``"shared module"``)."""
        if not name:
            raise PathRefused(f"{what} has an empty path")
        if "\x00" in name:
            raise PathRefused(f"{what} `{name}` contains a NUL character")
        if os.path.isabs(name) or os.path.splitdrive(name)[0]:
            raise PathRefused(f"{what} `{name}` is an absolute path: a policy can only name files inside its "
                              f"own folder tree ({shown(self.root)})",
                              hint="write the path relative to the policy's folder, e.g. `common/eu.bando`")
        lexical = os.path.normpath(os.path.join(os.path.abspath(base_dir), name))
        real = os.path.realpath(lexical)
        if not _inside(real, self.root):
            if _inside(lexical, self.root):
                raise PathRefused(f"{what} `{name}` leads outside the policy's folder tree "
                                  f"({shown(self.root)}) through a symbolic link", hint=WIDEN_HINT)
            raise PathRefused(f"{what} `{name}` is outside the policy's folder tree ({shown(self.root)})",
                              hint=WIDEN_HINT)
        return real


def read_regular(path: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises FileNotFoundError, :class:`NotRegularFile` (checked before opening:
    a FIFO would block the open, ``/dev/zero`` never ends), :class:`TooLarge`,
    or OSError. The file is opened without blocking and not through a symbolic
    link, and checked again once open: if what was checked has been swapped,
    it is refused.
    """
    st = os.stat(path)
    kind = file_kind(st.st_mode)
    if kind is not None:
        raise NotRegularFile(kind)
    if st.st_size > limit:
        raise TooLarge(limit)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
        | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(os.path.realpath(path), flags)
    try:
        st2 = os.fstat(fd)
        if file_kind(st2.st_mode) is not None or (st2.st_dev, st2.st_ino) != (st.st_dev, st.st_ino):
            raise NotRegularFile("a file that changed while it was being opened")
        chunks, left = [], limit + 1  # one byte more tells a file over the limit (/proc files say size 0)
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise TooLarge(limit)
    return data
