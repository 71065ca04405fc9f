"""The policies a server answers for, loaded once and swapped whole when their files change.

A :class:`Registry` is immutable: a request takes the current one at its start
(:attr:`RegistryHolder.current`, one attribute read) and uses only that, so it
sees either the old policies or the new ones, never a mix and never a policy
half loaded. :func:`reload` builds the next registry beside the current one;
a policy that fails to load keeps its previous version serving and is listed
in :attr:`Registry.problems` (``/readyz`` shows them).

Policies are loaded with :func:`engine.evaluate.policy.load_policy`, so the files a
policy names stay inside its tree as engine/paths.py defines; a folder given
to the server serves the ``*.bando`` files directly inside it (``common/``
below it holds shared modules, not calls), and a file there that is a symbolic
link leading out of the folder is refused.
"""
from __future__ import annotations

import logging
import os
import re
from types import MappingProxyType

import attrs

from dsl.errors import PolicyError
from engine.evaluate.policy import Policy, load_policy
from engine.text import i18n

log = logging.getLogger("bando.serve")

#: a policy's id is its file name without `.bando`; it appears in URLs and OpenAPI component names
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class StartupError(Exception):
    """The server cannot start: the message lists every policy that failed and why."""


@attrs.frozen
class Served:
    """One loaded policy: its id, the file it came from, and the files it is built from (for reload)."""

    id: str
    path: str
    policy: Policy = attrs.field(eq=False)
    #: ``(path, stat key)`` of the policy file and every shared module it uses
    files: tuple = ()

    @property
    def languages(self) -> list[str]:
        """The languages explanations can be written in, the call's own first."""
        return [self.policy.language] + [lang for lang in i18n.languages() if lang != self.policy.language]

    def info(self) -> dict:
        p = self.policy
        return {"id": self.id, "name": p.name, "version": p.version, "sha256": p.sha256,
                "language": p.language, "languages": self.languages}


@attrs.frozen
class LoadProblem:
    """A policy file that did not load: ``error`` is the rendered report; ``files`` as in :class:`Served`
    when it was read (so the same broken text is not loaded again until it changes)."""

    id: str
    path: str
    error: str
    files: tuple = ()

    def info(self) -> dict:
        return {"id": self.id, "path": self.path, "error": self.error}


@attrs.frozen
class Registry:
    """The policies being served (by id, sorted) and the problems of the last load or reload."""

    policies: MappingProxyType
    problems: tuple = ()
    generation: int = 1

    def get(self, policy_id: str) -> Served | None:
        return self.policies.get(policy_id)


class RegistryHolder:
    """Where the current registry lives; replacing it is one assignment, which readers see whole."""

    def __init__(self, registry: Registry):
        self.current = registry


def _stat_key(path: str):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _files_of(policy: Policy) -> tuple:
    paths = [policy.source.path] + [msrc.path for msrc, _ in policy.checked.modules]
    return tuple((p, _stat_key(p)) for p in paths if p)


def discover(paths) -> tuple[list[tuple[str, str]], list[LoadProblem]]:
    """``([(id, path)...], problems)`` for the files and folders the server was given."""
    found, problems = [], []
    for given in paths:
        if os.path.isdir(given):
            folder = os.path.realpath(given)
            names = sorted(n for n in os.listdir(given) if n.endswith(".bando"))
            for n in names:
                path = os.path.join(given, n)
                real = os.path.realpath(path)
                if os.path.dirname(real) != folder and not real.startswith(folder + os.sep):
                    problems.append(LoadProblem(n[:-6], path, f"{path}: a symbolic link that leads outside "
                                                              f"the folder {given}; not served"))
                    continue
                if os.path.isfile(real):
                    found.append((n[:-6], path))
        elif not given.endswith(".bando"):
            problems.append(LoadProblem(os.path.basename(given), given,
                                        f"{given}: expected a policy file (*.bando) or a folder of them"))
        elif os.path.exists(given):
            found.append((os.path.basename(given)[:-6], given))
        else:
            problems.append(LoadProblem(os.path.basename(given), given, f"{given}: no such file or folder"))
    seen: dict[str, str] = {}
    kept = []
    for pid, path in found:
        if not ID_PATTERN.fullmatch(pid):
            problems.append(LoadProblem(pid, path, f"{path}: the file name gives the policy id `{pid}`, which "
                                                   "may only use letters, digits, '.', '_' and '-'; rename the file"))
        elif pid in seen:
            problems.append(LoadProblem(pid, path, f"{path}: the policy id `{pid}` is already taken by "
                                                   f"{seen[pid]}; two policies cannot share a file name"))
        else:
            seen[pid] = path
            kept.append((pid, path))
    return kept, problems


def _load(pid: str, path: str, root) -> Served | LoadProblem:
    try:
        policy = load_policy(os.fspath(path), root=root)
    except PolicyError as e:
        return LoadProblem(pid, path, e.render(), ((path, _stat_key(path)),))
    except Exception as e:  # a bug in bando, not in the policy: reported, the server keeps running
        return LoadProblem(pid, path, f"{path}: internal error while loading the policy: {type(e).__name__}: {e}",
                           ((path, _stat_key(path)),))
    return Served(pid, path, policy, _files_of(policy))


def load_all(paths, root=None) -> Registry:
    """The first registry; raises :class:`StartupError` if anything given does not load."""
    found, problems = discover(paths)
    served = {}
    for pid, path in found:
        got = _load(pid, path, root)
        if isinstance(got, LoadProblem):
            problems.append(got)
        else:
            served[pid] = got
    if problems:
        raise StartupError("\n".join(p.error for p in problems))
    if not served:
        raise StartupError("no policy to serve: give policy files (*.bando) or folders that hold them")
    return Registry(MappingProxyType(dict(sorted(served.items()))))


def _changed(files: tuple) -> bool:
    return any(_stat_key(path) != key for path, key in files)


def reload(current: Registry, paths, root=None) -> Registry | None:
    """The next registry if any policy file was added, removed or changed, else None.

    A policy whose files changed is loaded again; if that fails its previous version keeps serving and
    the failure is in ``problems`` until the files change again.
    """
    found, problems = discover(paths)
    old_problems = {p.id: p for p in current.problems}
    served, changed = {}, False
    for pid, path in found:
        old = current.get(pid)
        failed = old_problems.get(pid)
        if failed is not None and failed.files and not _changed(failed.files):
            problems.append(failed)  # the same broken file: not loaded again
            if old is not None:
                served[pid] = old
            continue
        if old is not None and old.path == path and not _changed(old.files):
            served[pid] = old
            continue
        got = _load(pid, path, root)
        if isinstance(got, LoadProblem):
            problems.append(got)
            if old is not None:
                served[pid] = old
                log.error("policy %s failed to reload; its previous version (sha256 %s) keeps serving:\n%s",
                          pid, old.policy.sha256[:12], got.error)
            else:
                log.error("policy %s failed to load:\n%s", pid, got.error)
            changed = changed or failed is None or failed.error != got.error
            continue
        if old is not None and old.policy.sha256 == got.policy.sha256:
            served[pid] = attrs.evolve(old, files=got.files)  # touched, same text: same policy object
        else:
            served[pid] = got
            log.info("policy %s %s (sha256 %s)", pid, "reloaded" if old else "loaded", got.policy.sha256[:12])
        changed = True
    for pid in current.policies:
        if pid not in served and all(p.id != pid for p in problems):
            log.info("policy %s is no longer served: its file is gone", pid)
            changed = True
    if {p.id for p in problems} != set(old_problems):
        changed = True
    if not changed:
        return None
    return Registry(MappingProxyType(dict(sorted(served.items()))), tuple(problems), current.generation + 1)
