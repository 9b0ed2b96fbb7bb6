"""A console-only process never loads the Mattermost adapter or mattermostdriver (the
composition root imports it only when MATTERMOST_* settings are present)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


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
