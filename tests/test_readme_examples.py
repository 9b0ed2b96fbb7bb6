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


# -- issue 12, point 18: the README and the tool agree -------------------------------------


def _blocks(language: str = "") -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), re.S)


def test_readme_command_list_is_incident_help() -> None:
    from bot.core import messages

    section = README.read_text().split("## Incident commands", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None and block.group(1) == messages.HELP + "\n"


def test_help_and_usage_come_from_one_grammar_that_the_parser_implements() -> None:
    from bot.core import commands, messages

    verbs = {v.name for v in messages.GRAMMAR}
    assert verbs == set(commands._PARSERS) - {"severity"}
    for verb in messages.GRAMMAR:
        assert messages.USAGE[verb.name] in messages.HELP
    # Every option the declare parser knows is in the help.
    for option in ("sev1..sev4", "service:NAME", "commander:@user", "playbook:NAME", "label:NAME"):
        assert option in messages.USAGE["declare"]
    assert "--private" in messages.USAGE["declare"]


def test_every_incident_command_in_the_readme_parses() -> None:
    from bot.core import commands

    lines = [
        line.strip().removeprefix("/incident").strip()
        for block in _blocks() + _blocks("sh")
        for line in block.splitlines()
        if line.strip().startswith("/incident ") and "[" not in line and "|" not in line
    ]
    inline = re.findall(r"`/incident ([^`]+)`", README.read_text())
    checked = 0
    for text in lines + inline:
        if any(mark in text for mark in ("[", "|", "TEXT", "ROLE", "INC-N", "NAME", "sevN", "N`")):
            continue  # a pattern, not an example
        if " " not in text.strip():
            assert text.strip() in commands._PARSERS  # a verb named in prose
            continue
        commands.parse(text)  # raises UsageError on anything the grammar refuses
        checked += 1
    assert checked >= 8  # the console script and the Slack check-it line, at least


def test_readme_command_line_lists_every_command() -> None:
    from bot.__main__ import _parser

    section = README.read_text().split("## Command line", 1)[1]
    block = re.search(r"```\n(.*?)```", section, re.S)
    assert block is not None
    listed = {
        line.split()[1] for line in block.group(1).splitlines() if line.startswith("warroom ")
    }
    sub = next(a for a in _parser()._actions if a.dest == "command")
    assert listed == set(sub.choices)  # type: ignore[union-attr]


def test_readme_exit_statuses_are_what_the_tool_does(tmp_path: Path) -> None:
    import contextlib
    import io

    from bot.__main__ import main

    text = README.read_text()
    assert "exit with\nstatus 1" in text and "exits with\nstatus 2" in text
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            main(["report", "--nope"])
    except SystemExit as error:
        assert error.code == 2
    else:
        raise AssertionError("a usage error must exit")
    assert main(["export", "three"]) == 1


def test_readme_playbook_cadences_match_the_shipped_playbooks() -> None:
    from bot.core.model import Severity
    from bot.core.playbook import format_duration_spec
    from bot.playbooks.loader import load_library

    major = load_library(README.parent / "playbooks").get("major-incident")
    assert major is not None and major.playbook.status_updates is not None
    every = major.playbook.status_updates.every
    sev1, sev2 = (format_duration_spec(every[s]) for s in (Severity("sev1"), Severity("sev2")))
    assert f"updates every {sev1} at sev1 and {sev2} at sev2" in README.read_text()
    assert "15-minute" not in README.read_text()


def test_readme_console_section_names_the_announcement_channel() -> None:
    console = README.read_text().split("## The console", 1)[1].split("\n## ", 1)[0]
    assert "WARROOM_ANNOUNCE_CHANNEL" in console
