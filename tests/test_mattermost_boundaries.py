"""Import boundaries around the Mattermost adapter: the core knows no platform, and a
console-only process never loads mattermostdriver."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("slack", "mattermost", "sqlalchemy", "sqlmodel", "apscheduler", "websockets")


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_core_imports_no_platform_library() -> None:
    for path in sorted((ROOT / "bot" / "core").glob("*.py")):
        bad = {m for m in imported_modules(path) if m.split(".")[0].startswith(FORBIDDEN)}
        bad |= {m for m in imported_modules(path) if m.startswith("bot.chat")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_a_console_only_process_never_loads_the_mattermost_adapter() -> None:
    probe = (
        "import sys, bot.app, bot.__main__, bot.server\n"
        "loaded = [m for m in sys.modules if m.startswith(('mattermostdriver', "
        "'bot.chat.mattermost'))]\n"
        "print(loaded)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
