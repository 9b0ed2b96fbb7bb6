"""Paging through the service catalog: teams and services -> on-call people, direct messages
with an Acknowledge button, escalation on durable timers (reminders), PagerDuty if configured.

Kept for others to call: `Pager.page_target(incident, by, target)` (a team, a service) and
`Pager.page_person(...)`; acknowledging is `Pager.acknowledge(incident, user)`, the one place
that decides whether an acknowledgement counts.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.core import messages
from bot.core.catalog import Catalog
from bot.core.clock import format_duration
from bot.core.commands import UsageError
from bot.core.model import Change, EventKind, Incident, Reminder, Severity
from bot.core.ownership.escalation import people_of, step
from bot.core.ownership.model import Team
from bot.core.ownership.oncall import OnCall
from bot.core.ownership.resolve import unknown
from bot.core.ports import ExternalPager, ExternalPagerError, Reminders

if TYPE_CHECKING:
    from bot.core.service import IncidentService

log = logging.getLogger(__name__)

ESCALATE = "escalate"
# Paging the same person again within this window is recorded but not sent: a playbook, the
# declaration and a responder asking for the same team must not wake someone three times.
PAGE_AGAIN_AFTER = timedelta(minutes=5)
PD_SEVERITY = {Severity.SEV1: "critical", Severity.SEV2: "error", Severity.SEV3: "warning"}


class Pager:
    def __init__(
        self,
        service: IncidentService,
        reminders: Reminders,
        catalog: Catalog | None,
        external: ExternalPager | None = None,
    ) -> None:
        self.service = service
        self.reminders = reminders
        self.catalog = catalog
        self.external = external
        self.oncall = OnCall(catalog) if catalog is not None else None

    # -- paging ----------------------------------------------------------------------------

    async def page_target(
        self, incident: Incident, by: str, target: str, *, say_if_here: bool = True
    ) -> None:
        """Page a team or service's on-call (UsageError when the catalog does not know it)."""
        if self.catalog is None:
            raise UsageError(messages.no_catalog_for([target]))
        now = self.service.clock.now()
        resolved = self.catalog.resolve(target, now)
        team = self.catalog.team(resolved.team) if resolved else None
        if resolved is None or team is None:
            raise UsageError(unknown(self.catalog, target))
        fresh = [p for p in resolved.users if not await self._recent(incident, p, now)]
        if fresh or not resolved.users:
            # Repeats say "recorded, not sent again" per person instead (page_person).
            shown = replace(
                resolved,
                users=tuple(self.catalog.handle(p, incident.platform) for p in resolved.users),
            )
            await self.service.post(incident, f"Paging {shown.describe()}.")
        if not resolved.users:
            await self.service.post(incident, messages.nobody_on_call(team.name))
        for person in resolved.users:
            await self.page_person(incident, by, person, via=team.name)
        await self.start_escalation(incident, team, now)
        await self._external(incident, "trigger", resolved.via_service, team)

    async def page_quietly(self, incident: Incident, target: str) -> None:
        # A playbook's page must not fail the command that triggered it: say what went wrong.
        try:
            await self.page_target(incident, "warroom", target, say_if_here=False)
        except UsageError as error:
            await self.service.post(incident, str(error))

    async def page_person(
        self, incident: Incident, by: str, person: str, *, via: str | None = None
    ) -> str:
        """Page one person (a catalog name or a platform user): record it, invite them, send
        the direct message; a repeat within PAGE_AGAIN_AFTER is recorded only. Says what
        happened in the channel and returns it."""
        s = self.service
        user = self.catalog.handle(person, incident.platform) if self.catalog else person
        now = s.clock.now()
        last = await self._last_sent(incident, user)
        if last is not None and now - last < PAGE_AGAIN_AFTER:
            text = messages.page_not_resent(user, format_duration(now - last))
            await s.record_event(
                incident.number,
                EventKind.PAGED,
                by,
                text,
                at=now,
                target=user,
                via=via,
                sent=False,
            )
            await s.post(incident, text)
            return text
        await s.record_event(
            incident.number,
            EventKind.PAGED,
            by,
            f"Paged {user}",
            at=now,
            participants=[user],
            target=user,
            via=via,
            sent=True,
        )
        channel = s.channel_of(incident)
        if channel is not None:
            await s.chats[incident.platform].invite(channel, [user])
        text = f"{by} paged {user} into this incident."
        problem = await self._deliver(incident, by, user)
        await s.post(incident, text if problem is None else f"{text} {problem}")
        return text

    async def _deliver(self, incident: Incident, by: str, user: str) -> str | None:
        """The one place a page leaves for the person (a direct message with an Acknowledge
        button); None when sent, else what went wrong."""
        s = self.service
        channel = s.channel_of(incident)
        chat = s.chats[incident.platform]
        where = chat.channel_link(channel) if channel is not None else incident.ref
        text = messages.page_dm(by, incident.ref, incident.severity, incident.title, where)
        try:
            await chat.send_page(user, incident, text)
        except Exception as error:
            log.warning("page DM to %s for %s failed: %s", user, incident.ref, error)
            return messages.page_not_delivered(user, str(error)[:120] or type(error).__name__)
        return None

    async def _recent(self, incident: Incident, person: str, now: datetime) -> bool:
        user = self.catalog.handle(person, incident.platform) if self.catalog else person
        last = await self._last_sent(incident, user)
        return last is not None and now - last < PAGE_AGAIN_AFTER

    async def _last_sent(self, incident: Incident, user: str) -> datetime | None:
        events = await self.service.store.timeline(incident.number)
        sent = [
            e.occurred_at
            for e in events
            if e.kind is EventKind.PAGED
            and (e.data.get("target") == user)
            and e.data.get("sent", True) is not False
        ]
        return max(sent) if sent else None

    async def bring_in_owner(self, incident: Incident) -> None:
        """Declared for a service: its owners' on-call joins, the runbook is posted, the owners
        of its dependencies are listed; escalation follows if nobody acknowledges."""
        if self.catalog is None or self.catalog.owner_of(incident.service) is None:
            return
        service = self.catalog.service(incident.service)
        assert service is not None
        await self.page_target(incident, "warroom", service.name)
        if service.runbook:
            await self.service.post(incident, f"Runbook for {service.name}: {service.runbook}")
        owners = []
        for name in service.dependencies:
            dependency = self.catalog.service(name)
            if dependency is not None:
                owners.append(f"{name} ({dependency.owner})")
        if owners:
            await self.service.post(
                incident,
                f"{service.name} depends on: {', '.join(owners)}. "
                "Page an owner with /incident page SERVICE.",
            )

    # -- escalation ------------------------------------------------------------------------

    async def start_escalation(self, incident: Incident, team: Team, now: datetime) -> None:
        first = step(team.policy(), 0)
        if first is None or first.next_due is None or incident.acknowledged_at is not None:
            return
        await self.reminders.schedule(
            Reminder(
                incident.number,
                ESCALATE,
                now + first.next_due,
                "",
                data={"team": team.name, "step": 1, "started": now.isoformat()},
                key=f"{incident.ref}:escalate:{team.name}:1",
            )
        )

    async def escalate(self, incident: Incident, reminder: Reminder) -> str | None:
        """A due escalation step: page its level and schedule the next (None: nothing to do,
        because it was acknowledged, resolved, or the team is gone)."""
        if self.catalog is None or self.oncall is None:
            return None
        team = self.catalog.team(str(reminder.data.get("team", "")))
        if team is None or incident.acknowledged_at is not None or not incident.is_open:
            return None
        index = int(reminder.data.get("step", 1))
        current = step(team.policy(), index)
        if current is None:
            return None
        now = self.service.clock.now()
        started = _parse_time(reminder.data.get("started")) or incident.declared_at
        people = people_of(self.catalog, self.oncall, team, current.level, now)
        handles = [self.catalog.handle(p, incident.platform) for p in people]
        text = messages.escalating(incident.ref, team.name, format_duration(now - started), handles)
        if not people:
            text = messages.nobody_on_call(team.name)
        await self.service.post(incident, text)
        for person in people:
            await self.page_person(incident, "warroom", person, via=team.name)
        if current.next_due is not None:
            await self.reminders.schedule(
                Reminder(
                    incident.number,
                    ESCALATE,
                    now + current.next_due,
                    "",
                    data={**reminder.data, "step": index + 1},
                    key=f"{incident.ref}:escalate:{team.name}:{index + 1}",
                )
            )
        return text

    # -- acknowledging ---------------------------------------------------------------------

    async def acknowledge(self, incident: Incident, user: str) -> str:
        """The first acknowledgement sets the incident's acknowledged time and stops every
        escalation; later ones are told when it was. (Who may press a page's button is
        decided before, in the router: Access.require_acknowledger.)"""
        s = self.service
        now = s.clock.now()
        if incident.acknowledged_at is not None:
            return messages.already_acknowledged(
                incident.ref, incident.acknowledged_at.strftime("%Y-%m-%d %H:%M UTC")
            )
        incident.acknowledged_at = now
        text = messages.acknowledged(user, incident.ref)
        await s.store.commit(
            Change(
                incident=incident,
                events=[s.timeline_event(incident.number, EventKind.ACKNOWLEDGED, user, text, now)],
            )
        )
        await self.reminders.cancel(incident.number, [ESCALATE])
        await s.post(incident, text)
        await self.on_acknowledged(incident)
        return text

    async def on_acknowledged(self, incident: Incident) -> None:
        await self._external(incident, "acknowledge", incident.service, None)

    async def on_resolved(self, incident: Incident) -> None:
        await self.reminders.cancel(incident.number, [ESCALATE])
        await self._external(incident, "resolve", incident.service, None)

    # -- PagerDuty -------------------------------------------------------------------------

    def routing_key(self, service: str | None, team: Team | None) -> str | None:
        if self.catalog is None:
            return None
        found = self.catalog.service(service)
        owner = team or (self.catalog.team(found.owner) if found else None)
        return (found.pagerduty if found else None) or (owner.pagerduty if owner else None)

    async def _external(
        self, incident: Incident, action: str, service: str | None, team: Team | None
    ) -> None:
        key = self.routing_key(service, team)
        if self.external is None or key is None:
            return
        summary = f"{incident.ref} ({incident.severity}): {incident.title}"
        try:
            await self.external.send(
                action,
                key,
                f"warroom-{incident.ref}",
                summary,
                PD_SEVERITY.get(incident.severity, "info"),
            )
        except ExternalPagerError as error:
            await self.service.post(incident, messages.pagerduty_failed(action, str(error)))
            return
        await self.service.record_event(
            incident.number,
            EventKind.PAGED,
            "warroom",
            f"PagerDuty {action}",
            target="pagerduty",
            action=action,
            sent=True,
        )


def _parse_time(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
