"""Letter templates read from one folder, and from nowhere else.

A policy's templates folder may come from someone else. :class:`FolderLoader`
is the Jinja loader for such a folder: a template name must be a relative
path inside it (no ``..``, no absolute path), the file it names must be a
regular file whose real location — after following every symbolic link — is
still inside the folder (a link to ``/etc/passwd`` is refused; a link to a
sibling template is fine, and so is a hard link, which *is* a file of the
folder), and it is read only up to :data:`MAX_TEMPLATE_BYTES`. A FIFO or a
device is refused before it is opened, and it is opened non-blocking, so it
cannot make a render wait. A refusal raises :class:`TemplateRefused`
naming the file; a name that is simply not there raises Jinja's
``TemplateNotFound``, so that a ``ChoiceLoader`` tries the next folder.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath, PureWindowsPath

from jinja2 import BaseLoader, TemplateNotFound
from jinja2.exceptions import SecurityError

__all__ = ["MAX_TEMPLATE_BYTES", "MAX_TEMPLATE_FILES", "FolderLoader", "TemplateRefused"]

#: Size of one template file (the shipped ones are a few KB).
MAX_TEMPLATE_BYTES = 256 * 1024
#: Files listed in one templates folder (``bando check`` compiles each ``.j2``).
MAX_TEMPLATE_FILES = 1_000


class TemplateRefused(SecurityError):
    """A template name or file that must not be read. ``path`` is the file
    (or the name, when the name itself is refused)."""

    def __init__(self, message: str, path: str):
        super().__init__(message)
        self.path = path


def _parts(name: str) -> list[str]:
    """The path segments of a template name, refusing any that could leave the folder."""
    if not isinstance(name, str) or not name:
        raise TemplateRefused(f"template name {name!r} is not a file name", str(name))
    if "\x00" in name or "\\" in name or PurePosixPath(name).is_absolute() \
            or PureWindowsPath(name).drive:
        raise TemplateRefused(f"template name {name!r} must be a path relative to the templates "
                              "folder (no absolute path, no backslash)", name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise TemplateRefused(f"template name {name!r} leaves the templates folder ('..' is not allowed)",
                              name)
    if not parts:
        raise TemplateRefused(f"template name {name!r} is not a file name", name)
    return parts


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class FolderLoader(BaseLoader):
    """Templates from ``folder`` (see the module doc). ``shown`` is how the
    folder is named in messages (default: the folder as given)."""

    def __init__(self, folder: str | os.PathLike, *, max_bytes: int = MAX_TEMPLATE_BYTES,
                 max_files: int = MAX_TEMPLATE_FILES, encoding: str = "utf-8"):
        self.folder = Path(folder)
        self.root = os.path.realpath(folder)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.encoding = encoding

    def __repr__(self) -> str:
        return f"FolderLoader({str(self.folder)!r})"

    def _shown(self, parts: list[str]) -> str:
        return os.path.join(str(self.folder), *parts)

    def get_source(self, environment, template: str):
        parts = _parts(template)
        path = os.path.join(self.root, *parts)
        shown = self._shown(parts)
        try:
            os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            raise TemplateNotFound(template) from None
        except OSError as e:
            raise TemplateRefused(f"template {shown} cannot be read: {e.strerror}", shown) from None
        real = os.path.realpath(path)
        if not _inside(real, self.root):
            raise TemplateRefused(f"template {shown} is a link to {real}, outside the templates "
                                  f"folder {self.folder}: refused", shown)
        try:
            info = os.stat(real)
        except OSError as e:  # a dangling link
            raise TemplateRefused(f"template {shown} cannot be read: {e.strerror}", shown) from None
        if not stat.S_ISREG(info.st_mode):
            raise TemplateRefused(f"template {shown} is not a regular file (a folder, FIFO or device): "
                                  "refused", shown)
        source = self._read(real, shown)
        # auto_reload is off in the letters' environments; a template read once stays as read
        return source, path, lambda: True

    def _read(self, real: str, shown: str) -> str:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(real, flags)
        except OSError as e:  # replaced by a link or a FIFO since the checks above
            raise TemplateRefused(f"template {shown} cannot be read: {e.strerror}", shown) from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise TemplateRefused(f"template {shown} is not a regular file: refused", shown)
            data = fh.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise TemplateRefused(f"template {shown} is larger than {self.max_bytes // 1024} KB: "
                                  "refused", shown)
        try:
            return data.decode(self.encoding)
        except UnicodeDecodeError as e:
            raise TemplateRefused(f"template {shown} is not {self.encoding} text "
                                  f"(byte {e.start}): refused", shown) from None

    def list_templates(self) -> list[str]:
        """The files of the folder, without following links to folders (a
        linked file is listed, and checked when it is loaded)."""
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=False):
            dirnames.sort()
            rel = os.path.relpath(dirpath, self.root)
            for name in sorted(filenames):
                found.append(name if rel == "." else f"{Path(rel).as_posix()}/{name}")
                if len(found) > self.max_files:
                    raise TemplateRefused(f"templates folder {self.folder} holds more than "
                                          f"{self.max_files} files: refused", str(self.folder))
        return sorted(found)
