"""The postmortem reads as one document (issue 12, point 15): event names, @people, no UTC
repeated under a (UTC) header, unheld roles listed, a gantt that suits short incidents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.postmortem.charts import Interval, state_chart
from bot.core.router import Router
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService, Invocation
from bot.playbooks.loader import load_library
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


async def _postmortem() -> tuple[str, list[str]]:
    clock = ManualClock(T0)
    store = MemoryStore()
    chat = ConsoleChat(lambda line: None)
    service = IncidentService(store, {"console": chat}, clock)
    service.runner = PlaybookRunner(service, load_library(ROOT / "playbooks"), MemoryReminders())
    router = Router(service)
    here = Invocation("alice", "console", "general")
    await router.handle(here, "declare sev2 Checkout errors")
    channel = Invocation("alice", "console", "inc-1-checkout-errors")
    clock.advance(minutes=1)
    await router.handle(channel, "role comms @bob")
    await router.handle(channel, "page @carol")
    clock.advance(minutes=1)
    await router.handle(channel, "resolve fixed")
    await router.handle(channel, "postmortem")
    (_, _, content) = chat.uploads[-1]
    return content.decode(), [t for _, t in chat.posts]


async def test_timeline_events_read_as_words_and_people_as_mentions() -> None:
    markdown, _ = await _postmortem()
    timeline = markdown.split("## Timeline", 1)[1].split("\n## ", 1)[0]
    assert "| Role | @alice | @bob is comms |" in timeline
    assert "| Paged | @alice | Paged @carol |" in timeline
    assert "| Declared | @alice | Declared: Checkout errors |" in timeline
    for raw in ("role_assigned", "task_changed", "status_update", "| declared |", "| paged |"):
        assert raw not in timeline


async def test_no_utc_repeated_under_a_utc_header() -> None:
    markdown, _ = await _postmortem()
    for line in markdown.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            assert "UTC |" not in line, line
    assert "was declared by @alice at 2026-03-02 09:00:00 UTC and" in markdown


async def test_roles_the_playbook_defines_but_nobody_held_are_listed() -> None:
    markdown, _ = await _postmortem()
    assert "| commander | @alice |\n| comms | @bob |\n| scribe | nobody |\n| ops | nobody |" in (
        markdown
    )


def _chart(minutes: float) -> list[str]:
    end = T0 + timedelta(minutes=minutes)
    spans = [Interval("investigating", T0, end)]
    return state_chart("INC-1", spans, [Interval("sev2", T0, end)], [("Declared", T0)]).split("\n")


def test_gantt_has_no_today_marker_and_ticks_that_fit_the_length() -> None:
    assert "    todayMarker off" in _chart(3)
    assert ("    axisFormat %H:%M:%S", "    tickInterval 1minute") == tuple(_chart(3)[3:5])
    assert ("    axisFormat %H:%M:%S", "    tickInterval 15second") == tuple(_chart(1)[3:5])
    assert ("    axisFormat %H:%M", "    tickInterval 10minute") == tuple(_chart(30)[3:5])
    assert ("    axisFormat %m-%d %H:%M", "    tickInterval 1day") == tuple(
        _chart(3 * 24 * 60)[3:5]
    )


def test_export_lists_the_playbook_roles_too(tmp_path: Path, monkeypatch, capsys) -> None:
    import io

    from bot.__main__ import main

    monkeypatch.setenv("WARROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/w.db")
    monkeypatch.setattr("sys.stdin", io.StringIO("/incident declare sev1 Down\n"))
    assert main(["console", "--user", "alice"]) == 0
    capsys.readouterr()
    assert main(["export", "INC-1"]) == 0
    assert "| comms | nobody |" in capsys.readouterr().out
