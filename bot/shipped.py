"""Where the migrations and playbooks that come with warroom are.

In a wheel (pip, pipx, a container) they are inside the package, at bot/_shipped/ (see
setup.py); in a source checkout they are the repository's top-level migrations/ and
playbooks/ folders. Uses paths only: importing this imports nothing else."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str, marker: str) -> Path:
    candidates = (_PACKAGE / "_shipped" / name, _PACKAGE.parent / name)
    for folder in candidates:
        if (folder / marker).exists():
            return folder
    return candidates[0]


def migrations_dir() -> Path:
    return _find("migrations", "env.py")


def playbooks_dir() -> Path:
    return _find("playbooks", "default.yaml")
