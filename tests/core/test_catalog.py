"""The service catalog: lint with positions, paging teams and services, escalation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.__main__ import main
from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.core.router import Router
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService, Invocation
from bot.playbooks.catalog_loader import load_catalog, load_catalog_text
from bot.playbooks.loader import load_library
from bot.schedule.ticker import Ticker
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders

ROOT = Path(__file__).resolve().parents[2]


def test_example_catalog_is_valid_and_lookups_work() -> None:
    catalog = load_catalog(ROOT / "catalog.example.yaml")
    assert catalog.owner_of("checkout").name == "payments"  # type: ignore[union-attr]
    resolved = catalog.resolve("checkout")
    assert resolved is not None and resolved.users == ("bob",)
    assert resolved.describe() == "payments (owner of checkout) on call: @bob"
    assert catalog.resolve("nobody") is None


def test_catalog_problems_are_positioned() -> None:
    text = "teams:\n  - name: a\n    members: [x]\nservices:\n  - name: s\n    owner: aa\n"
    _, problems = load_catalog_text(text, "c.yaml")
    assert [str(p) for p in problems] == [
        "c.yaml:6:12: services[0].owner: undefined team 'aa'. Did you mean 'a'?"
    ]
    _, problems = load_catalog_text("teams:\n  - name: a\n    oncal: [x]\n", "c.yaml")
    assert str(problems[0]) == "c.yaml:3:5: unknown key 'oncal' in teams[0], did you mean 'oncall'?"


def test_catalog_lint_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "lint", str(ROOT / "catalog.example.yaml")]) == 0
    bad = tmp_path / "c.yaml"
    bad.write_text("teams: [1]\n")
    assert main(["catalog", "lint", str(bad)]) == 1
    assert f"{bad}:1:9: teams[0]: Input should be a valid dictionary" in capsys.readouterr().out


@pytest.fixture
def setup(clock: ManualClock) -> tuple[Router, ConsoleChat, Ticker, MemoryStore]:
    store = MemoryStore()
    chat = ConsoleChat(lambda line: None)
    service = IncidentService(store, {"console": chat}, clock)
    reminders = MemoryReminders()
    catalog = load_catalog(ROOT / "catalog.example.yaml")
    service.runner = PlaybookRunner(service, load_library(ROOT / "playbooks"), reminders, catalog)
    ticker = Ticker(reminders, service.runner.fire, clock, name="t")
    return Router(service), chat, ticker, store


async def test_declaring_for_a_service_brings_in_its_oncall_and_escalates(
    setup: tuple[Router, ConsoleChat, Ticker, MemoryStore], clock: ManualClock
) -> None:
    router, chat, ticker, _ = setup
    await router.handle(
        Invocation("zoe", "console", "general"), "declare sev2 service:checkout Pay fails"
    )
    channel = chat.channels["inc-1-pay-fails"]
    assert "bob" in channel.members
    clock.advance(minutes=15)
    await ticker.tick()
    said = [t for c, t in chat.posts if c == "inc-1-pay-fails"]
    assert "Nobody acknowledged INC-1 within 15m 00s: escalating to @alice (payments)." in said
    assert "alice" in channel.members


async def test_acknowledged_incident_does_not_escalate(
    setup: tuple[Router, ConsoleChat, Ticker, MemoryStore], clock: ManualClock
) -> None:
    router, chat, ticker, _ = setup
    await router.handle(
        Invocation("zoe", "console", "general"), "declare sev2 service:checkout Pay fails"
    )
    await router.handle(Invocation("bob", "console", "inc-1-pay-fails"), "status Looking")
    clock.advance(minutes=20)
    await ticker.tick()
    assert not any("escalating" in t for _, t in chat.posts)


async def test_page_team_or_service_through_the_catalog(
    setup: tuple[Router, ConsoleChat, Ticker, MemoryStore],
) -> None:
    router, chat, _, _ = setup
    await router.handle(Invocation("zoe", "console", "general"), "declare sev3 Slow")
    here = Invocation("zoe", "console", "inc-1-slow")
    assert (await router.handle(here, "page dba")).text == ""
    assert "dave" in chat.channels["inc-1-slow"].members
    reply = await router.handle(here, "page dbb")
    assert reply.text == "no such team or service 'dbb'; did you mean 'dba'?"
    # A playbook page of a known team now reaches people.
    await router.handle(
        Invocation("zoe", "console", "general"), "declare sev2 service:database Lag"
    )
    assert "dave" in chat.channels["inc-2-lag"].members
    assert not any("no service catalog" in t for _, t in chat.posts)
    assert sum(t.startswith("Paging dba") for c, t in chat.posts if c == "inc-2-lag") == 1
