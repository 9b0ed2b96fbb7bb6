"""Privacy and permissions through the Router: who sees a private incident, who steers one.

Core ports in memory, the console chat, a playbook with `permissions:`; the platform adapters
run the same router (tests/chat/*/test_*_privacy.py drive them end to end)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from bot.chat.console.chat import ConsoleChat
from bot.core.access import Refused
from bot.core.clock import ManualClock
from bot.core.model import Invocation, State
from bot.core.playbook import Library, Loaded, Permissions, Playbook, RoleSpec, StatusUpdates
from bot.core.router import Reply, Router
from bot.core.runner import PlaybookRunner
from bot.core.service import IncidentService
from bot.store.memory import MemoryStore
from bot.store.reminders import MemoryReminders

TITLE = "Leaked credentials for payroll-db"
CHANNEL = "inc-1-leaked-credentials-for-payroll-db"

PLAYBOOK = Playbook(
    name="steered",
    roles=[RoleSpec(name="commander"), RoleSpec(name="ops"), RoleSpec(name="comms")],
    status_updates=StatusUpdates(every={"sev2": timedelta(minutes=30)}),
    permissions=Permissions(severity=["ops"], state=["ops"]),
)


@dataclass
class World:
    store: MemoryStore
    chat: ConsoleChat
    reminders: MemoryReminders
    service: IncidentService
    router: Router

    async def run(self, text: str, user: str, channel: str = "general", platform: str = "console"):
        reply = await self.router.handle(Invocation(user, platform, channel), text)
        return reply

    async def said(self, text: str, user: str, channel: str = "general") -> str:
        return (await self.run(text, user, channel)).text


@pytest.fixture
def world() -> World:
    store = MemoryStore()
    chat = ConsoleChat(lambda line: None)
    service = IncidentService(store, {"console": chat}, ManualClock(), admins=["root"])
    reminders = MemoryReminders()
    library = Library([Loaded(playbook=PLAYBOOK, content_hash="0123456789ab")])
    service.runner = PlaybookRunner(service, library, reminders)
    return World(store, chat, reminders, service, Router(service))


async def declare_private(w: World) -> None:
    reply = await w.run(f"declare sev2 playbook:steered --private {TITLE}", "alice")
    assert reply.text.startswith("INC-1 declared") and not reply.public


def leaks(text: str) -> bool:
    return any(secret in text for secret in (TITLE, "payroll", CHANNEL, "@alice", "alice"))


# -- visibility --------------------------------------------------------------------------------


async def test_outsiders_see_a_private_incident_only_as_private(world: World) -> None:
    await declare_private(world)
    await world.run("status Rotating the payroll-db password now", "alice", CHANNEL)
    for text in ("list", "list --all"):
        listing = await world.said(text, "bob")
        assert not leaks(listing)
        assert "INC-1" not in listing and "1 private incident" in listing
    for text in ("show INC-1", "timeline INC-1", "tasks INC-1", "postmortem INC-1"):
        answer = await world.said(text, "bob")
        assert answer.startswith("INC-1 is private."), (text, answer)
        assert not leaks(answer), (text, answer)
    # Asking changed nothing: no postmortem was shared on bob's say-so.
    assert not any("postmortem" in text.lower() for _, text in world.chat.posts)


async def test_members_and_admins_see_it(world: World) -> None:
    await declare_private(world)
    await world.run("page @carol", "alice", CHANNEL)
    for user in ("alice", "carol", "root"):
        assert TITLE in await world.said("show INC-1", user)
        assert TITLE in await world.said("list", user)
        assert "Timeline of INC-1" in await world.said("timeline INC-1", user)
        assert (await world.said("tasks INC-1", user)).startswith("INC-1 has no tasks")
    # In its channel (only members can type there) the short forms work as before.
    assert "Timeline of INC-1" in await world.said("timeline", "alice", CHANNEL)


async def test_an_incident_is_shown_on_its_own_platform_only(world: World) -> None:
    await world.run("declare sev3 Checkout slow", "alice")
    elsewhere = await world.run("show INC-1", "bob", "town-square", platform="mattermost")
    assert elsewhere.text == "INC-1 was declared on console: look it up there."
    listing = await world.run("list", "bob", "town-square", platform="mattermost")
    assert "Checkout" not in listing.text
    # An admin named for that platform sees it anywhere.
    world.service.access.admins = frozenset({"mattermost:bob"})
    admin = await world.run("show INC-1", "bob", "town-square", platform="mattermost")
    assert "Checkout slow" in admin.text


async def test_private_declaration_is_not_announced(world: World) -> None:
    world.service.announce_channel = "incidents"
    await declare_private(world)
    assert [text for channel, text in world.chat.posts if channel == "incidents"] == []


# -- permissions -------------------------------------------------------------------------------

# (command, permission it needs); reopening starts from a resolved incident.
ACTIONS = [
    ("sev sev1", "severity"),
    ("state identified", "state"),
    ("resolve false alarm", "resolve"),
    ("state investigating", "reopen"),
    ("role commander @mallory", "roles"),
]
# Who may do what, with the playbook above: ops may change severity and state only.
ALLOWED = {
    "alice": {"severity", "state", "resolve", "reopen", "roles"},  # commander
    "olga": {"severity", "state"},  # ops
    "carl": set(),  # comms: a role the playbook does not name for any of these
    "mallory": set(),  # in the (public) channel, never invited
    "root": {"severity", "state", "resolve", "reopen", "roles"},  # WARROOM_ADMINS
}


@pytest.mark.parametrize("user", sorted(ALLOWED))
@pytest.mark.parametrize(("command", "permission"), ACTIONS, ids=[a[1] for a in ACTIONS])
async def test_permission_matrix(world: World, user: str, command: str, permission: str) -> None:
    await world.run("declare sev2 playbook:steered Checkout is down", "alice")
    channel = "inc-1-checkout-is-down"
    await world.run("role ops @olga", "alice", channel)
    await world.run("role comms @carl", "alice", channel)
    if permission == "reopen":
        await world.run("resolve", "alice", channel)
    before = (
        len(await world.store.timeline(1)),
        await world.store.get_incident(1),
        len(await world.reminders.pending(1)),
    )
    reply = await world.run(command, user, channel)
    after = await world.store.get_incident(1)
    if permission in ALLOWED[user]:
        assert not reply.text.startswith("Only"), reply.text
        assert len(await world.store.timeline(1)) > before[0]
        return
    assert reply.text.startswith("Only the commander (@alice)"), reply.text
    assert "admin" in reply.text and not reply.public
    assert len(reply.text.splitlines()) == 1
    # Refused means nothing changed: no event, no new state, reminders still pending.
    assert len(await world.store.timeline(1)) == before[0]
    assert after == before[1]
    assert len(await world.reminders.pending(1)) == before[2]


async def test_refusal_names_the_permitted_roles_and_their_holders(world: World) -> None:
    await world.run("declare sev2 playbook:steered Checkout is down", "alice")
    channel = "inc-1-checkout-is-down"
    reply = await world.said("sev sev1", "mallory", channel)
    assert reply.startswith("Only the commander (@alice), the ops (nobody yet) or a warroom admin")


async def test_everyone_in_the_incident_may_still_talk(world: World) -> None:
    await world.run("declare sev2 playbook:steered Checkout is down", "alice")
    channel = "inc-1-checkout-is-down"
    for text in ("status I see it too", "note restarted web-3", "task add Check the CDN"):
        assert not (await world.said(text, "mallory", channel)).startswith("Only")
    assert (await world.said("task done 1", "mallory", channel)).startswith("Task 1 is now done")
    assert "Follow-up 1" in await world.said("followup Add a CDN alert", "mallory", channel)


async def test_without_a_playbook_only_the_commander_steers(world: World) -> None:
    world.service.runner = None
    await world.run("declare Search is slow", "alice")
    channel = "inc-1-search-is-slow"
    await world.run("role ops @olga", "alice", channel)
    assert (await world.said("state monitoring", "olga", channel)).startswith("Only")
    await world.run("role commander @olga", "alice", channel)
    # The commander handed over: now olga may, alice may not.
    assert await world.said("state monitoring", "olga", channel) == ""
    assert (await world.said("resolve", "alice", channel)).startswith("Only the commander (@olga)")
    assert (await world.store.get_incident(1)).state is State.MONITORING  # type: ignore[union-attr]


def test_only_the_paged_person_acknowledges_a_page(world: World) -> None:
    access = world.service.access
    access.require_acknowledger(Invocation("bob", "slack", None), "bob")
    with pytest.raises(Refused, match="only they can acknowledge it"):
        access.require_acknowledger(Invocation("mallory", "slack", None), "bob")


async def test_refusals_are_counted_as_refused(world: World) -> None:
    seen: list[str] = []
    router = Router(world.service, observe=lambda p, verb, outcome, s: seen.append(outcome))
    await router.handle(Invocation("alice", "console", "general"), "declare Checkout is down")
    reply: Reply = await router.handle(
        Invocation("mallory", "console", "inc-1-checkout-is-down"), "resolve"
    )
    assert reply.text.startswith("Only") and seen[-1] == "refused"


async def test_the_console_scripts_it_with_as(world: World) -> None:
    from bot.chat.console.session import ConsoleSession

    lines: list[str] = []
    world.chat.write = lines.append
    session = ConsoleSession(world.router, world.chat, user="alice")

    async def no_input(prompt: str) -> None:
        return None

    script = [
        "/incident declare sev2 playbook:steered Checkout is down",
        "/join #inc-1-checkout-is-down",
        "/as mallory",
        "/incident resolve false alarm",
        "/as root",
        "/incident sev sev1",
    ]
    for line in script:
        await session.handle(line, no_input)
    refused = [line for line in lines if "Only the commander (@alice)" in line]
    assert refused and "(only @mallory sees this)" in refused[0]
    incident = await world.store.get_incident(1)
    assert incident is not None and incident.is_open and incident.severity == "sev1"


async def test_the_console_admits_only_members_to_a_private_channel(world: World) -> None:
    from bot.chat.console.session import ConsoleSession

    lines: list[str] = []
    world.chat.write = lines.append
    session = ConsoleSession(world.router, world.chat, user="alice")

    async def no_input(prompt: str) -> None:
        return None

    await session.handle(f"/incident declare sev2 --private {TITLE}", no_input)
    await session.handle(f"/join #{CHANNEL}", no_input)
    assert session.channel == CHANNEL
    await session.handle("/as bob", no_input)  # bob was never invited
    assert session.channel == "general"
    await session.handle(f"/join #{CHANNEL}", no_input)
    assert session.channel == "general" and any("is private" in line for line in lines)
    await session.handle("/as root", no_input)  # an admin
    await session.handle(f"/join #{CHANNEL}", no_input)
    assert session.channel == CHANNEL


async def test_a_playbook_may_announce_a_private_incident_without_details(world: World) -> None:
    world.service.announce_channel = "incidents"
    loud = PLAYBOOK.model_copy(update={"name": "loud", "announce_private": True})
    world.service.runner.library = Library(  # type: ignore[union-attr]
        [Loaded(playbook=loud, content_hash="0123456789ab")]
    )
    await world.run(f"declare sev2 playbook:loud --private {TITLE}", "alice")
    (announced,) = [text for channel, text in world.chat.posts if channel == "incidents"]
    assert announced.startswith("INC-1 is a private sev2 (major) incident.")
    assert not leaks(announced) and "#inc" not in announced
