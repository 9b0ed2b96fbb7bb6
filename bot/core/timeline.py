"""What is said in an incident goes on its timeline: notes, and the channel's messages with their
later edits, deletions and highlights (messages arrive through the batched ingest)."""

from __future__ import annotations

from datetime import datetime

from bot.core.desk import IncidentDesk
from bot.core.ingest import IncomingMessage, TimelineIngest
from bot.core.model import EventKind, Incident


class Timeline:
    def __init__(self, desk: IncidentDesk, ingest: TimelineIngest) -> None:
        self.desk = desk
        self.ingest = ingest

    async def add_note(self, incident: Incident, user: str, text: str) -> None:
        await self.desk.record_event(
            incident.number, EventKind.NOTE, user, text, participants=[user]
        )

    async def record_message(
        self,
        platform: str,
        channel_id: str,
        user: str,
        text: str,
        *,
        occurred_at: datetime | None = None,
        source_key: str | None = None,
    ) -> bool:
        """Put a channel message on its incident's timeline; False if not an incident channel
        or already recorded (same source_key). Writes are batched under load (see ingest)."""
        return await self.ingest.add(
            IncomingMessage(platform, channel_id, user, text, occurred_at, source_key)
        )

    async def edit_message(self, source_key: str, text: str) -> bool:
        """A recorded chat message was edited: the timeline follows it (keeping the original
        text in data, so the postmortem can show what was said at the time)."""
        d = self.desk
        event = await d.store.get_event(source_key)
        if event is None:
            return False
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
