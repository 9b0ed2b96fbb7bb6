"""AlertIntake: a notification in, the group's incident or offer brought up to date.

Per notification: read the group with its incident and alerts (one read), fold the alerts in
(pure, bot/core/alerts/groups.py), route a new group (rules.decide: declare, attach or offer),
then save once: the group, its changed alerts and each new firing/resolved timeline entry
(keyed, so a re-sent group records nothing twice) in one transaction, with what chat is told
about them (alert lines within the storm budget, "all N alerts resolved": outbox rows, on a
database). Offers are posted and redrawn by bot/core/alerts/offers.py.

Several replicas may receive one group. The database decides who links a group to an
incident: attaching is one conditional statement, declaring is a transaction that claims the
group first (AlertStore.claim), so two replicas make one incident, and a declaration lost to
a crash is made by the group's next notification. In one process, notifications of a group
are handled one at a time, different groups concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.core.alerts import entries, groups
from bot.core.alerts import messages as say
from bot.core.alerts.groups import AlertGroup, AlertRow, GroupUpdate, Transition
from bot.core.alerts.locks import KeyedLock
from bot.core.alerts.model import Notification
from bot.core.alerts.offers import Offers
from bot.core.alerts.owners import ALERTS_USER, Incidents
from bot.core.alerts.ports import AlertStore, Claim
from bot.core.alerts.rules import Action, Rules, decide
from bot.core.alerts.storm import Ask, Share, window_start
from bot.core.commands import UsageError
from bot.core.model import Incident, Severity, TimelineEvent
from bot.core.ports import Clock
from bot.core.service import IncidentService

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    group_id: int
    action: str
    incident: str | None  # INC-N when the group has one
    recorded: int  # new timeline entries


class AlertIntake:
    def __init__(
        self,
        incidents: Incidents,
        store: AlertStore,
        clock: Clock,
        rules: Rules | None = None,
        *,
        platform: str | None = None,
        woke: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.incidents = incidents
        self.store = store
        self.clock = clock
        self.rules = rules
        self._platform = platform
        # Called after a routing transaction that wrote outbox rows (the outbox's kick).
        self.woke = woke
        self.storm = (rules or Rules()).storm
        self._lock = KeyedLock()
        self.offers = Offers(incidents)

    @property
    def service(self) -> IncidentService:
        return self.incidents.service

    def platform(self) -> str | None:
        """Where incidents and offers go: the configured platform, else the first running."""
        chats = self.service.chats
        if self._platform and self._platform in chats:
            return self._platform
        return next(iter(chats), None)

    # -- intake ------------------------------------------------------------------------------

    async def handle(self, notification: Notification) -> Outcome:
        async with self._lock(f"{notification.source}\0{notification.group_key}"):
            return await self._handle(notification)

    async def _handle(self, n: Notification) -> Outcome:
        now = self.clock.now()
        loaded = await self.store.load(n.source, n.group_key)
        group: AlertGroup | None = None
        known: dict[str, AlertRow] = {}
        incident: Incident | None = None
        generation = 1
        if loaded is not None:
            group, rows, incident = loaded
            known = {r.fingerprint: r for r in rows}
            if incident is not None and not incident.is_open and groups.fires_anew(known, n):
                # Its incident is over and it fires again: a new episode, routed afresh.
                generation, group, known, incident = group.generation + 1, None, {}, None
        created = group is None
        if group is None:
            group = await self._new_group(n, generation)
            if group is None:  # another process routed it first: handle it as known
                return await self._handle(n)
        assert group.id is not None
        update = groups.apply(group.id, known, n, now)
        before = (group.cleared_told, group.silence_url, group.data.get("truncated", 0))
        # Alertmanager's max_alerts cut the group short: how many it did not send this time.
        group.data["truncated"] = n.truncated_alerts
        replayed: list[Transition] = []
        if created:
            incident, replayed = await self._route(group, update)
        elif incident is None and _undeclared(group, update):
            # Not declared yet: another replica's declaration is in flight (its claim makes
            # this one wait, then find the incident), or one was lost to a crash (declare now).
            incident, replayed = await self._link(group, update, declare=True)
        if n.external_url and not group.silence_url:
            group.silence_url = n.silence_url
        events: list[TimelineEvent] = []
        cleared = False
        if incident is not None:
            events = entries.events(
                group, incident.number, [*update.transitions, *replayed], self.clock.now()
            )
            if n.truncated_alerts:
                events.append(entries.truncated(group, incident.number, n.truncated_alerts, now))
            if update.firing:
                group.cleared_told = False
            elif update.all_resolved and not group.cleared_told and incident.is_open:
                group.cleared_told = cleared = True
        recorded: list[TimelineEvent] = []
        after = (group.cleared_told, group.silence_url, group.data["truncated"])
        if created or events or update.rows or before != after:
            # One transaction: the group, its changed alerts and their timeline entries. A
            # re-sent group with nothing new writes nothing.
            group.updated_at = now
            tell = self._teller(group, incident, update, cleared) if incident else None
            recorded = await self.store.save(group, update.rows, events, tell)
            if incident is None and group.incident_number is not None:
                # Another replica linked the group while this one saved: these alerts are
                # that incident's too.
                found = await self.store.get(group.id)
                incident = found[2] if found else None
                if incident is not None:
                    events = entries.events(
                        group, incident.number, update.transitions, self.clock.now()
                    )
                    tell = self._teller(group, incident, update, False)
                    recorded = await self.store.save(group, [], events, tell)
        if incident is not None:
            if cleared and group.resolve:
                await self._resolve(incident, update)
        elif group.message_id is not None and (update.rows or before[2] != after[2]):
            await self.offers.redraw(group, update)
        return Outcome(group.id, group.action, incident.ref if incident else None, len(recorded))

    async def _new_group(self, n: Notification, generation: int) -> AlertGroup | None:
        now = self.clock.now()
        decision = decide(n.labels, self.rules, self.incidents.owner_team)
        platform = self.platform()
        starts = [a.starts_at for a in n.alerts]
        group = AlertGroup(
            source=n.source,
            group_key=n.group_key,
            receiver=n.receiver,
            action=decision.action.value,
            created_at=now,
            updated_at=now,
            first_alert_at=min(starts) if starts else now,
            alertname=n.alertname,
            summary=n.summary,
            service=decision.service,
            team=decision.team,
            rule=decision.rule,
            resolve=decision.resolve,
            platform=platform,
            channel_id=decision.channel
            or self.incidents.channel_for(decision.service, decision.team)
            or (self.service.announce_channel_for(platform) if platform else None),
            silence_url=n.silence_url,
            generation=generation,
            data={"severity": decision.severity.value, "title": n.title, "to": decision.to.value},
        )
        return await self.store.create(group)

    async def _route(
        self, group: AlertGroup, update: GroupUpdate
    ) -> tuple[Incident | None, list[Transition]]:
        """Act on a new group's route: the incident it joins or starts (and the alerts other
        replicas saved for it meanwhile), or None (offered)."""
        action = Action(group.action)
        if action is not Action.OFFER and group.service:
            linked = await self._link(group, update, declare=action is Action.DECLARE)
            if linked[0] is not None:
                return linked
        if update.firing:
            await self.offers.post(group, update)
        return None, []

    async def _link(
        self, group: AlertGroup, update: GroupUpdate, *, declare: bool
    ) -> tuple[Incident | None, list[Transition]]:
        """Link the group to its service's open incident (one conditional statement), or
        declare one in a transaction that claims the group first: replicas handling the same
        group, or groups of one service, make one incident between them, and a crash midway
        leaves nothing half done (the next notification declares)."""
        assert group.id is not None and group.service is not None
        won: bool | None = None
        incident = await self.store.open_incident(group.service)
        if incident is not None:
            won = await self._attach(group, incident, update)
        elif declare and group.platform and update.firing:
            # Groups of one service in this process wait here rather than in the database,
            # and most find the incident the first declared.
            async with self._lock(f"service\0{group.service}"):
                incident = await self.store.open_incident(group.service)
                if incident is not None:
                    won = await self._attach(group, incident, update)
                else:
                    async with self.store.claim(group.id, group.service) as claim:
                        won = claim.won
                        if won:
                            # Another replica may have declared since: attach to that.
                            incident = await self.store.open_incident(group.service)
                            attached = incident is not None
                            if incident is None:
                                incident = await self._declare(group, ALERTS_USER)
                            await self.store.link(group.id, incident.number)
                            if attached:
                                await self.service.post(
                                    incident, say.attached(group, update.firing)
                                )
                    await self._delivered(claim)
        if won is False:  # another replica linked it first: its incident
            stored = await self.store.get(group.id)
            incident = stored[2] if stored else None
            if incident is not None:
                group.incident_number = incident.number
            return incident, []
        if incident is None:
            return None, []
        group.incident_number = incident.number
        # Alerts another replica saved before the link had no incident to go to: now they do.
        stored = await self.store.get(group.id)
        return incident, groups.replay(stored[1]).transitions if stored else []

    async def _attach(self, group: AlertGroup, incident: Incident, update: GroupUpdate) -> bool:
        """Link to an open incident (False: the group was linked already) and say so there."""
        assert group.id is not None
        if not await self.store.link(group.id, incident.number):
            return False
        await self.service.post(incident, say.attached(group, update.firing))
        return True

    async def _delivered(self, claim: Claim) -> None:
        if claim.effects and self.woke is not None:
            await self.woke()

    async def _declare(self, group: AlertGroup, by: str) -> Incident:
        """Inside a won claim: declare for the group (its link is the caller's)."""
        assert group.platform is not None
        return await self.incidents.declare(
            group.platform,
            by,
            say.title(group.alertname, group.summary, group.data.get("title")),
            Severity(group.data.get("severity", Severity.SEV2.value)),
            group.service,
            description=_description(group),
        )

    # -- the incident's timeline -------------------------------------------------------------

    def _teller(
        self, group: AlertGroup, incident: Incident, update: GroupUpdate, cleared: bool
    ) -> Callable[[list[TimelineEvent]], Awaitable[None]]:
        """What to say once a save has recorded its events: run inside the save's
        transaction, so the posts (outbox rows, on a database) commit with what they say."""

        async def tell(recorded: list[TimelineEvent]) -> None:
            await self._tell(group, incident, update, recorded, cleared)

        return tell

    async def _resolve(self, incident: Incident, update: GroupUpdate) -> None:
        """The rule says `resolve: true` and every alert has resolved."""
        found = await self.service.store.get_incident(incident.number)
        if found is not None and found.is_open:
            await self.service.resolve(found, ALERTS_USER, say.resolved_by_alerts(update.total))

    async def _tell(
        self,
        group: AlertGroup,
        incident: Incident,
        update: GroupUpdate,
        recorded: list[TimelineEvent],
        cleared: bool,
    ) -> None:
        """Say in the incident's channel what was just recorded (alert lines within the storm
        budget; what Alertmanager left out, always; "all N alerts resolved" where the rule
        does not resolve the incident itself)."""
        truncated = [e for e in recorded if e.data.get("status") == entries.TRUNCATED]
        recorded = [e for e in recorded if e.data.get("status") != entries.TRUNCATED]
        for event in truncated:
            await self.service.post(incident, event.text)
        if recorded:
            window = window_start(self.clock.now(), self.storm.window)
            team = group.team or group.service or ""
            ask = Ask(team, window, incident.number, len(recorded), self.storm.limit)
            # Shared by every replica on the store, counted in this save's transaction.
            share = await self.store.take(ask)
            if share.lines:
                texts = [e.text for e in recorded[: share.lines]]
                await self.service.post(incident, say.lines(texts))
            if share.more:
                await self._more(ask, incident, share)
        if cleared and not group.resolve:
            await self.service.post(incident, say.all_resolved(update.total))

    async def _more(self, ask: Ask, incident: Incident, share: Share) -> None:
        """Past the team's budget: one "and N more alerts" message per incident and window,
        posted by the first save past it and edited by the rest (an outbox row each, on a
        database: the edit waits for the post, wherever it was made)."""
        if not incident.channel_id or incident.platform not in self.service.chats:
            return
        chat = self.service.chats[incident.platform]
        if share.message_id is None:
            message_id = await chat.post(incident.channel_id, say.more(share.more))
            await self.store.overflowed(ask, message_id)
            return
        await chat.update(incident.channel_id, share.message_id, say.more(share.more))

    async def declare_offer(self, group_id: int, user: str) -> Incident:
        """The offer's "Declare incident" button: declare with the clicking user, and put
        the group's alerts on the new incident's timeline. Pressed twice (on two replicas,
        by two people), it declares once: the claim decides."""
        loaded = await self.store.get(group_id)
        if loaded is None:
            raise UsageError(say.NO_SUCH_OFFER)
        async with self._lock(f"{loaded[0].source}\0{loaded[0].group_key}"):
            loaded = await self.store.get(group_id)
            assert loaded is not None
            group, _, existing = loaded
            if group.incident_number is not None:
                raise UsageError(say.already_declared(existing.ref if existing else "declared"))
            if not group.platform:
                raise UsageError(say.NO_SUCH_OFFER)
            async with self.store.claim(group_id, None) as claim:
                if claim.won:
                    incident = await self._declare(group, user)
                    await self.store.link(group_id, incident.number)
            await self._delivered(claim)
            stored = await self.store.get(group_id)
            assert stored is not None
            if not claim.won:
                raise UsageError(say.already_declared(stored[2].ref if stored[2] else "declared"))
            group.incident_number = incident.number
            update = groups.replay(stored[1])
            events = entries.events(group, incident.number, update.transitions, self.clock.now())
            if group.data.get("truncated"):
                events.append(
                    entries.truncated(
                        group, incident.number, group.data["truncated"], self.clock.now()
                    )
                )
            cleared = update.all_resolved
            group.cleared_told = cleared
            await self.store.save(group, [], events, self._teller(group, incident, update, cleared))
            if cleared and group.resolve:
                await self._resolve(incident, update)
            await self.offers.redraw(group, update, declared=incident.ref)
            return incident


def _undeclared(group: AlertGroup, update: GroupUpdate) -> bool:
    """A group routed to declare that has no incident and no offer: its declaration is
    someone else's in flight, or was lost (a crash between the group and its incident)."""
    return (
        group.action == Action.DECLARE.value
        and group.service is not None
        and group.platform is not None
        and group.message_id is None
        and update.firing > 0
    )


def _description(group: AlertGroup) -> str:
    out = [f"Declared from {group.source} alerts ({group.alertname})."]
    if group.silence_url:
        out.append(f"Silence: {group.silence_url}")
    return " ".join(out)
