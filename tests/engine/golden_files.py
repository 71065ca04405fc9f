"""Golden files: what a user reads, kept as files and compared byte for byte.

Import it as the test files of this folder import each other (tests/engine is on sys.path, the
rootdir-less layout): ``from golden_files import check_golden``. ``BANDO_UPDATE_GOLDEN=1`` rewrites
the files instead; read the diff before committing it.
"""
from __future__ import annotations

import os
from pathlib import Path

UPDATE = os.environ.get("BANDO_UPDATE_GOLDEN") == "1"


def check_golden(path: Path, actual: str) -> None:
    """``actual`` is the text of golden file ``path`` (which is rewritten with it under BANDO_UPDATE_GOLDEN=1)."""
    path = Path(path)
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; create it with BANDO_UPDATE_GOLDEN=1"
    assert actual == path.read_text(encoding="utf-8"), \
        f"{path.name} differs; if the change is intended, regenerate with BANDO_UPDATE_GOLDEN=1"
