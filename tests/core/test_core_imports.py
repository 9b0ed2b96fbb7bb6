"""bot/core is the domain: it must not import a chat platform, storage or scheduling library."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = (
    "slack_bolt",
    "slack_sdk",
    "mattermostdriver",
    "sqlmodel",
    "sqlalchemy",
    "apscheduler",
    "alembic",
    "starlette",
    "uvicorn",
    "bot.store",
    "bot.chat",
    "bot.schedule",
    "bot.app",
    "bot.web",
)
CORE = Path(__file__).resolve().parents[2] / "bot" / "core"


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_core_imports_no_platform_or_storage() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) >= 8, "bot/core moved? this test must look at the real modules"
    offenders = {
        f"{path.relative_to(CORE)}: {name}"
        for path in files
        for name in imported_modules(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    }
    assert not offenders


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("from sqlalchemy import select\nimport slack_bolt.app\n")
    assert {"sqlalchemy", "slack_bolt.app"} <= imported_modules(sample)
