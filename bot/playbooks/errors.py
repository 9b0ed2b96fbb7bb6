"""The playbook errors the CLI reports, apart from the loaders (and pydantic and ruamel), so
that commands which load no playbook (`export`, `report`) do not import them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.playbooks.yamlpos import Problem


class PlaybookErrors(Exception):
    """Raised when playbooks or the catalog cannot be used; str() lists every problem."""

    what = "playbook"

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class PlaybookCliError(Exception):
    """One line to print as `warroom: ...` with exit status 1."""
