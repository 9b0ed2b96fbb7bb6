"""Offers: an alert group posted to its owning team with a "Declare incident" button and
the silence link, where a rule's route says (a channel, or a direct message to the team's
on-call), and redrawn in place as the group changes."""

from __future__ import annotations

import logging
from typing import Any, cast

from bot.core.alerts import messages as say
from bot.core.alerts.groups import AlertGroup, GroupUpdate
from bot.core.alerts.owners import Incidents
from bot.core.alerts.ports import DirectChat, OfferChat
from bot.core.alerts.rules import OfferTo

log = logging.getLogger(__name__)


class Offers:
    def __init__(self, incidents: Incidents) -> None:
        self.incidents = incidents

    async def post(self, group: AlertGroup, update: GroupUpdate) -> None:
        chat = self.incidents.service.chats.get(group.platform) if group.platform else None
        channel = await self._channel(chat, group) if chat is not None else None
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
        text = self.text(group, update.firing, update.resolved)
        assert group.id is not None
        if _has(chat, OfferChat):
            group.message_id = await cast(OfferChat, chat).post_offer(channel, text, group.id)
        else:
            group.message_id = await chat.post(channel, text)
        # Saved with the notification (a new group is always saved).

    async def _channel(self, chat: object, group: AlertGroup) -> str | None:
        """Where a new group's offer goes: the channel routing chose, or for a `to: oncall`
        rule the direct-message channel with the owning team's on-call. When that cannot be
        (nobody on call, the platform refuses), the channel, and the offer says why."""
        if group.data.get("to") != OfferTo.ONCALL.value or not group.platform:
            return group.channel_id
        user = self.incidents.on_call(group.team, group.platform)
        if user is None:
            group.data["offer_note"] = say.nobody_on_call(group.team)
            return group.channel_id
        if not _has(chat, DirectChat):
            group.data["offer_note"] = say.no_direct_messages(user, group.platform)
            return group.channel_id
        try:
            channel = await cast(DirectChat, chat).direct_channel(user)
        except Exception as error:  # any refusal: the team still gets the offer
            log.warning("alert offer DM to %s failed: %s", user, error)
            reason = str(error)[:120] or type(error).__name__
            group.data["offer_note"] = say.direct_message_failed(user, reason)
            return group.channel_id
        group.data["offered_to"] = user
        return channel

    async def redraw(
        self, group: AlertGroup, update: GroupUpdate, declared: str | None = None
    ) -> None:
        if not group.platform or not group.channel_id or not group.message_id:
            return
        chat = self.incidents.service.chats.get(group.platform)
        if chat is None:
            return
        text = self.text(group, update.firing, update.resolved, declared)
        if _has(chat, OfferChat):
            offer = group.id if declared is None and update.firing else None
            await cast(OfferChat, chat).update_offer(
                group.channel_id, group.message_id, text, offer
            )
        else:
            await chat.update(group.channel_id, group.message_id, text)

    def text(
        self, group: AlertGroup, firing: int, resolved: int, declared: str | None = None
    ) -> str:
        owner = self.incidents.owner(group.team)
        text = say.offer(group, owner.oncall if owner else (), firing, resolved, declared)
        note = group.data.get("offer_note")
        return f"{text}\n{note}" if note else text


def _has(chat: object, protocol: Any) -> bool:
    """Whether the chat has the protocol's methods. Not isinstance(): from Python 3.12 a
    runtime protocol check does not see methods a wrapper forwards with __getattr__ (the
    outbox's chat forwards these to the platform's)."""
    methods = [name for name in vars(protocol) if not name.startswith("_")]
    return all(callable(getattr(chat, name, None)) for name in methods)
