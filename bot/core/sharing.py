"""Sharing a rendered postmortem in the incident's channel, and recording where it went."""

from __future__ import annotations

import logging

from bot.core import messages
from bot.core.commands import UsageError
from bot.core.desk import IncidentDesk
from bot.core.model import EventKind, Incident
from bot.core.ports import UploadNotAllowed
from bot.core.postmortem.split import split_message

log = logging.getLogger(__name__)


class Sharing:
    def __init__(self, desk: IncidentDesk) -> None:
        self.desk = desk

    async def share_postmortem(self, incident: Incident, user: str, markdown: str) -> str:
        """Upload the postmortem to the incident's channel, or post it as a message where the
        platform refuses uploads; record the export either way. Returns "upload" or "message"."""
        d = self.desk
        channel_id = incident.channel_id
        if channel_id is None:
            raise UsageError(messages.not_in_incident_channel("postmortem"))
        chat = d.chats[incident.platform]
        filename = f"{incident.ref.lower()}-postmortem.md"
        try:
            await chat.upload(
                channel_id, filename, markdown.encode("utf-8"), f"{incident.ref} postmortem"
            )
            how = "upload"
        except UploadNotAllowed:
            log.info("upload refused on %s; posting %s postmortem", incident.platform, incident.ref)
            # Long documents go out as several messages: platforms cap a message's size.
            for piece in split_message(markdown):
                await chat.post(channel_id, piece)
            how = "message"
        await self.mark_exported(incident, user, f"chat {how}")
        return how

    async def mark_exported(self, incident: Incident, user: str, where: str) -> None:
        await self.desk.record_event(
            incident.number,
            EventKind.POSTMORTEM_EXPORTED,
            user,
            f"Postmortem exported to {where}",
            where=where,
        )
