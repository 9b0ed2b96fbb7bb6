"""What is said in an incident goes on its timeline: notes, and what happens later to recorded
channel messages (edits, deletions, highlights). New messages arrive through the batched ingest
(bot/core/ingest.py), which IncidentService.record_message hands them to."""

from __future__ import annotations

from bot.core.desk import IncidentDesk
from bot.core.model import EventKind, Incident
from bot.core.sanitize import clean_message


class Timeline:
    def __init__(self, desk: IncidentDesk) -> None:
        self.desk = desk

    async def add_note(self, incident: Incident, user: str, text: str) -> None:
        await self.desk.record_event(
            incident.number, EventKind.NOTE, user, text, participants=[user]
        )

    async def edit_message(self, source_key: str, text: str) -> bool:
        """A recorded chat message was edited: the timeline follows it (keeping the original
        text in data, so the postmortem can show what was said at the time)."""
        d = self.desk
        event = await d.store.get_event(source_key)
        if event is None:
            return False
        text = clean_message(text)
        if text == event.text:
            return True
        original = {} if "original_text" in event.data else {"original_text": event.text}
        await d.store.update_event(source_key, text=text, data={**original, "edited": True})
        return True

    async def delete_message(self, source_key: str) -> bool:
        """A recorded chat message was deleted: mark it (exports leave it out)."""
        d = self.desk
        return await d.store.update_event(source_key, deleted_at=d.clock.now()) is not None

    async def highlight(self, source_key: str, by: str) -> bool:
        """Mark a recorded message as a highlight (a :pushpin: reaction or a pin)."""
        event = await self.desk.store.update_event(
            source_key, data={"highlight": True, "highlighted_by": by}
        )
        return event is not None
