"""An incident's course: status updates, severity, state and resolving.

Each change is committed (incident row and its timeline event) before the channel hears of it,
then the topic and pinned summary are refreshed and the playbook gets the event.
"""

from __future__ import annotations

from bot.core import engine, messages, views
from bot.core.commands import UsageError
from bot.core.desk import IncidentDesk
from bot.core.model import STATE_ORDER, Change, EventKind, Incident, Severity, State, StatusUpdate


class Lifecycle:
    def __init__(self, desk: IncidentDesk) -> None:
        self.desk = desk

    async def post_status(self, incident: Incident, user: str, text: str) -> None:
        d = self.desk
        now = d.clock.now()
        update = StatusUpdate(incident.number, text, user, now, incident.severity, incident.state)
        await d.record_response(
            incident,
            EventKind.STATUS_UPDATE,
            user,
            text,
            at=now,
            status_updates=[update],
            participants=[user],
            severity=incident.severity.value,
            state=incident.state.value,
        )
        await d.post(incident, views.status_post(incident, update))
        await d.announce(incident, views.status_announcement(incident, update))
        await d.playbook_event(incident, engine.StatusPosted())

    async def set_severity(self, incident: Incident, user: str, severity: Severity) -> None:
        d = self.desk
        if severity is incident.severity:
            raise UsageError(messages.already(severity.value))
        before = incident.severity
        incident.severity = severity
        await d.record_response(
            incident,
            EventKind.SEVERITY_CHANGED,
            user,
            f"Severity {before} -> {severity}",
            **{"from": before.value, "to": severity.value},
        )
        await d.post(
            incident, f"Severity changed from {before} to {severity} ({severity.label}) by {user}."
        )
        await d.refresh(incident)
        await d.playbook_event(incident, engine.SeverityChanged(severity))

    async def set_state(
        self, incident: Incident, user: str, state: State, text: str | None = None
    ) -> None:
        d = self.desk
        if state is incident.state:
            raise UsageError(messages.already(state.value))
        now = d.clock.now()
        before = incident.state
        incident.state = state
        position = STATE_ORDER.index(state)
        d.acknowledge(incident, now)
        if position >= STATE_ORDER.index(State.MONITORING) and incident.mitigated_at is None:
            incident.mitigated_at = now
        events = [
            d.timeline_event(
                incident.number,
                EventKind.STATE_CHANGED,
                user,
                f"State {before} -> {state}",
                now,
                **{"from": before.value, "to": state.value},
            )
        ]
        if state is State.RESOLVED:
            incident.resolved_at = now
            events.append(
                d.timeline_event(incident.number, EventKind.RESOLVED, user, text or "Resolved", now)
            )
        elif before is State.RESOLVED:
            incident.resolved_at = None  # reopened: the next resolution sets it again
        await d.store.commit(Change(incident=incident, events=events))
        if state is State.RESOLVED:
            duration = views.duration_since(incident.declared_at, now)
            await d.post(
                incident,
                f"{incident.ref} resolved by {user} after {duration}."
                + (f"\n> {text}" if text else ""),
            )
            await d.announce(incident, views.resolved_announcement(incident, duration, text))
        else:
            await d.post(incident, f"State changed from {before} to {state} by {user}.")
        await d.refresh(incident)
        await d.playbook_event(incident, engine.StateChanged(state))

    async def resolve(self, incident: Incident, user: str, text: str | None) -> None:
        if incident.state is State.RESOLVED:
            raise UsageError(messages.already_resolved(incident.ref))
        await self.set_state(incident, user, State.RESOLVED, text)
