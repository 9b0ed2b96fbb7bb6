"""The README's examples work: its playbook snippet lints clean."""

from __future__ import annotations

import re
from pathlib import Path

from bot.playbooks.loader import load_paths

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_playbook_examples_lint_clean(tmp_path: Path) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README lost its playbook example"
    for index, block in enumerate(blocks):
        path = tmp_path / f"example{index}.yaml"
        path.write_text(block)
        loaded, problems = load_paths([path])
        assert problems == [] and len(loaded) == 1
