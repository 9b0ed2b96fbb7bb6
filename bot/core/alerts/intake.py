"""AlertIntake: a notification in, the group's incident or offer brought up to date.

Per notification: read the group with its incident and alerts (one read), fold the alerts in
(pure, bot/core/alerts/groups.py), route a new group (rules.decide: declare, attach or offer),
then save once: the group, its changed alerts and each new firing/resolved timeline entry
(keyed, so a re-sent group records nothing twice) in one transaction. Only then is chat told:
alert lines within the storm budget, "all N alerts resolved", or the offer redrawn.
Notifications of one group are handled one at a time; different groups run concurrently.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.core.alerts import groups
from bot.core.alerts import messages as say
from bot.core.alerts.groups import AlertGroup, AlertRow, GroupUpdate, Transition
from bot.core.alerts.locks import KeyedLock
from bot.core.alerts.model import AlertStatus, Notification
from bot.core.alerts.owners import ALERTS_USER, Incidents
from bot.core.alerts.ports import AlertStore, Claim, DirectChat, OfferChat
from bot.core.alerts.rules import Action, OfferTo, Rules, decide
from bot.core.alerts.storm import Overflow, StormLimit
from bot.core.commands import UsageError
from bot.core.model import EventKind, Incident, Severity, TimelineEvent
from bot.core.ports import Clock
from bot.core.service import IncidentService

log = logging.getLogger(__name__)

TRUNCATED = "truncated"  # the status of the timeline entry for alerts the source left out


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
        storm = (rules or Rules()).storm
        self.storm = StormLimit(storm.limit, storm.window)
        self._lock = KeyedLock()

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
            events = self._events(group, incident.number, [*update.transitions, *replayed])
            if n.truncated_alerts:
                events.append(self._truncated(group, incident.number, n.truncated_alerts))
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
                    events = self._events(group, incident.number, update.transitions)
                    tell = self._teller(group, incident, update, False)
                    recorded = await self.store.save(group, [], events, tell)
        if incident is not None:
            if cleared and group.resolve:
                await self._resolve(incident, update)
        elif group.message_id is not None and (update.rows or before[2] != after[2]):
            await self._redraw_offer(group, update)
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
            await self._post_offer(group, update)
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
        truncated = [e for e in recorded if e.data.get("status") == TRUNCATED]
        recorded = [e for e in recorded if e.data.get("status") != TRUNCATED]
        for event in truncated:
            await self.service.post(incident, event.text)
        if recorded:
            now = self.clock.now()
            team = group.team or group.service or ""
            budget = self.storm.take(team, len(recorded), now)
            if budget:
                await self.service.post(incident, say.lines([e.text for e in recorded[:budget]]))
            if len(recorded) > budget:
                await self._more(team, incident, len(recorded) - budget, now)
        if cleared and not group.resolve:
            await self.service.post(incident, say.all_resolved(update.total))

    async def _more(self, team: str, incident: Incident, more: int, now: datetime) -> None:
        """Past the team's budget: one "and N more alerts" message per storm, counting up."""
        if not incident.channel_id or incident.platform not in self.service.chats:
            return
        chat = self.service.chats[incident.platform]
        overflow = self.storm.overflow(team, incident.number, now)
        if overflow is None:
            message_id = await chat.post(incident.channel_id, say.more(more))
            self.storm.overflowed(team, incident.number, Overflow(message_id, more, now))
            return
        overflow.count += more
        await chat.update(incident.channel_id, overflow.message_id, say.more(overflow.count))

    def _events(
        self, group: AlertGroup, number: int, transitions: list[Transition]
    ) -> list[TimelineEvent]:
        """Timeline entries, one per source key (a replayed alert may repeat a new one)."""
        events = {}
        for t in transitions:
            event = self._event(group, number, t)
            events.setdefault(event.source_key, event)
        return list(events.values())

    def _event(self, group: AlertGroup, number: int, t: Transition) -> TimelineEvent:
        a = t.alert
        data = {
            "source": group.source,
            "group": group.id,
            "fingerprint": a.fingerprint,
            "status": t.status.value,
            "alertname": a.alertname,
            "summary": a.summary,
            "starts_at": a.starts_at.isoformat(),
            "ends_at": a.ends_at.isoformat()
            if a.ends_at and t.status is AlertStatus.RESOLVED
            else None,
            "generator_url": a.generator_url,
        }
        return TimelineEvent(
            number,
            EventKind.ALERT,
            group.source,
            groups.describe(t),
            occurred_at=t.at,
            recorded_at=self.clock.now(),
            data={k: v for k, v in data.items() if v is not None},
            source_key=groups.source_key(group, t),
        )

    def _truncated(self, group: AlertGroup, number: int, count: int) -> TimelineEvent:
        """On record once per count: the alerts of the group its source did not send."""
        return TimelineEvent(
            number,
            EventKind.ALERT,
            group.source,
            say.truncated(group.source, count),
            occurred_at=self.clock.now(),
            recorded_at=self.clock.now(),
            data={
                "source": group.source,
                "group": group.id,
                "status": TRUNCATED,
                "alertname": group.alertname,
                "summary": say.truncated(group.source, count),
                "truncated": count,
            },
            source_key=f"alert:{group.id}:truncated:{count}",
        )

    # -- offers ------------------------------------------------------------------------------

    async def _post_offer(self, group: AlertGroup, update: GroupUpdate) -> None:
        chat = self.service.chats.get(group.platform) if group.platform else None
        channel = await self._offer_channel(chat, group) if chat is not None else None
        if chat is None or channel is None:
            log.warning(
                "alert group %s (%s) offered to %s but there is no channel to post it in: "
                "set WARROOM_ANNOUNCE_CHANNEL or a rule's channel",
                group.alertname,
                group.source,
                group.team or "nobody",
            )
            return
        group.channel_id = channel
        text = self._offer_text(group, update.firing, update.resolved)
        assert group.id is not None
        if isinstance(chat, OfferChat):
            group.message_id = await chat.post_offer(channel, text, group.id)
        else:
            group.message_id = await chat.post(channel, text)
        # Saved with the notification (a new group is always saved).

    async def _offer_channel(self, chat: object, group: AlertGroup) -> str | None:
        """Where a new group's offer goes: the channel routing chose, or for a `to: oncall`
        rule the direct-message channel with the owning team's on-call. When that cannot be
        (nobody on call, the platform refuses), the channel, and the offer says why."""
        if group.data.get("to") != OfferTo.ONCALL.value or not group.platform:
            return group.channel_id
        user = self.incidents.on_call(group.team, group.platform)
        if user is None:
            group.data["offer_note"] = say.nobody_on_call(group.team)
            return group.channel_id
        if not isinstance(chat, DirectChat):
            group.data["offer_note"] = say.no_direct_messages(user, group.platform)
            return group.channel_id
        try:
            channel = await chat.direct_channel(user)
        except Exception as error:  # any refusal: the team still gets the offer
            log.warning("alert offer DM to %s failed: %s", user, error)
            reason = str(error)[:120] or type(error).__name__
            group.data["offer_note"] = say.direct_message_failed(user, reason)
            return group.channel_id
        group.data["offered_to"] = user
        return channel

    async def _redraw_offer(
        self, group: AlertGroup, update: GroupUpdate, declared: str | None = None
    ) -> None:
        if not group.platform or not group.channel_id or not group.message_id:
            return
        chat = self.service.chats.get(group.platform)
        if chat is None:
            return
        text = self._offer_text(group, update.firing, update.resolved, declared)
        if isinstance(chat, OfferChat):
            offer = group.id if declared is None and update.firing else None
            await chat.update_offer(group.channel_id, group.message_id, text, offer)
        else:
            await chat.update(group.channel_id, group.message_id, text)

    def _offer_text(
        self, group: AlertGroup, firing: int, resolved: int, declared: str | None = None
    ) -> str:
        owner = self.incidents.owner(group.team)
        text = say.offer(group, owner.oncall if owner else (), firing, resolved, declared)
        note = group.data.get("offer_note")
        return f"{text}\n{note}" if note else text

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
            events = self._events(group, incident.number, update.transitions)
            if group.data.get("truncated"):
                events.append(self._truncated(group, incident.number, group.data["truncated"]))
            cleared = update.all_resolved
            group.cleared_told = cleared
            await self.store.save(group, [], events, self._teller(group, incident, update, cleared))
            if cleared and group.resolve:
                await self._resolve(incident, update)
            await self._redraw_offer(group, update, declared=incident.ref)
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
