"""SlackChat: the Chat port over slack_sdk's AsyncWebClient.

Every Web API call goes through `SlackChat.call`, the one place that honours 429 Retry-After
and retries 5xx and connection failures with backoff. The client's own retry handlers are
switched off so that two policies never stack."""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.chat.slack import translate
from bot.core import lease, wire
from bot.core.model import Incident, Task
from bot.core.ports import Channel, ChannelNameTaken, UploadNotAllowed

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
Recheck = Callable[[], Awaitable[Any]]

MAX_ATTEMPTS = 5
BACKOFF_BASE = 0.5  # seconds; doubled per attempt for 5xx and connection errors
MAX_DELAY = 30.0
# An answer is for someone waiting: if its response_url cannot be reached, retry once, then
# give up (retrying for 7 s would hold up the answers behind it).
RESPOND_CONNECT_ATTEMPTS = 2
# Slack errors meaning "this file will never upload here": fall back to posting text.
UPLOAD_REFUSED = frozenset(
    {
        "not_allowed",
        "not_allowed_token_type",
        "missing_scope",
        "file_uploads_disabled",
        "file_uploads_except_images_disabled",
        "restricted_action",
    }
)
# Invite failures that leave the channel as it should be, or concern one bad user only.
INVITE_IGNORED = frozenset(
    {"already_in_channel", "cant_invite_self", "user_not_found", "user_is_restricted"}
)
MEMBER_PAGES = 10  # of 1000 channels each, when looking for a channel the bot already has
METADATA_EVENT = "warroom_post"  # message metadata that carries an outbox row's key
HISTORY_LOOKBACK = 100  # recent messages searched for a post that may have happened
TOPIC_LIMIT = 250  # conversations.setTopic and setPurpose truncate beyond this


def make_client(token: str | None, base_url: str | None = None) -> AsyncWebClient:
    """An AsyncWebClient with no retry handlers of its own (SlackChat.call retries)."""
    kwargs: dict[str, Any] = {"token": token, "retry_handlers": []}
    if base_url:
        # slack_sdk joins the method name onto the base URL, which must end with a slash.
        kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
    return AsyncWebClient(**kwargs)


def _sent_trace() -> aiohttp.TraceConfig:
    """Tell bot/core/wire.py when each request is about to go out: with its body's chunks
    (aiohttp awaits the hook before writing each, and holds the headers back until the
    first), or with its headers when it has no body (written right after the hook)."""
    trace = aiohttp.TraceConfig()

    async def chunk(_session: object, _ctx: object, _params: object) -> None:
        await wire.sending()

    async def headers(_session: object, _ctx: object, params: Any) -> None:
        h = params.headers
        if h.get("Content-Length", "0") == "0" and "Transfer-Encoding" not in h:
            await wire.sending()

    trace.on_request_chunk_sent.append(chunk)
    trace.on_request_headers_sent.append(headers)
    trace.freeze()
    return trace


class SlackChat:
    platform = translate.PLATFORM
    # Awaits `wire.sending()` as each request is about to go out (see _sent_trace).
    signals_sent = True

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        sleep: Sleep = asyncio.sleep,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.client = client
        self.sleep = sleep
        self.max_attempts = max_attempts
        self._purpose_set: set[str] = set()
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """The one aiohttp session for every call: Web API calls (given to the client, which
        otherwise opens a session, a connection and against Slack a TLS handshake per call),
        response_urls and upload URLs. Made on first use, inside the running loop."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(trace_configs=[_sent_trace()])
            self.client.session = self._session
        return self._session

    async def call(
        self, method: str, *, recheck: Recheck | None = None, **kwargs: Any
    ) -> AsyncSlackResponse:
        """Call a Web API method (`conversations.create`), retrying what is worth retrying.
        `recheck` runs before a call is sent again after an answer that leaves it unknown
        whether Slack did it (a timeout, a dropped connection, a 5xx); what it returns, if
        anything, is taken as the answer instead."""
        self.session()
        function = getattr(self.client, method.replace(".", "_"))
        unknown = False
        for attempt in range(1, self.max_attempts + 1):
            if unknown and recheck is not None:
                found = await recheck()
                if found is not None:
                    return found
            try:
                # slack_sdk applies its `timeout` only to a session it makes itself, not to
                # the shared one (session()), so the timeout is ours to apply. A timeout
                # scope, not wait_for: on Python 3.11 wait_for runs the call in a task of its
                # own, one more turn of the loop before the request is even built.
                async with asyncio.timeout(self.client.timeout):
                    return await function(**kwargs)
            except SlackApiError as error:
                delay = self._retry_delay(error.response, attempt)
                if delay is None or attempt == self.max_attempts:
                    raise
                unknown = error.response.status_code >= 500
                log.warning(
                    "slack %s: HTTP %s, retrying in %.1fs (attempt %d of %d)",
                    method,
                    error.response.status_code,
                    delay,
                    attempt,
                    self.max_attempts,
                )
            except (aiohttp.ClientConnectionError, TimeoutError) as error:
                if attempt == self.max_attempts:
                    raise
                unknown = True
                delay = self._backoff(attempt)
                log.warning("slack %s: %s, retrying in %.1fs", method, error, delay)
            # An outbox delivery holds its lease over the wait (Retry-After can be long).
            await lease.hold_for(delay)
            await self.sleep(delay)
        raise AssertionError("unreachable")

    def _retry_delay(self, response: AsyncSlackResponse, attempt: int) -> float | None:
        status = response.status_code
        if status == 429:
            retry_after = _header(response.headers, "Retry-After")
            try:
                return min(float(retry_after), MAX_DELAY) if retry_after else 1.0
            except ValueError:
                return 1.0
        if status >= 500:
            return self._backoff(attempt)
        return None

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(BACKOFF_BASE * 2 ** (attempt - 1), MAX_DELAY)

    # -- the Chat port ---------------------------------------------------------------------

    async def create_channel(self, name: str, *, private: bool) -> Channel:
        try:
            response = await self.call("conversations.create", name=name, is_private=private)
        except SlackApiError as error:
            if error.response.get("error") != "name_taken":
                raise
            # Ours already if the bot is in it: a create that Slack did but answered with a
            # 5xx (then retried), or a declare that crashed before it recorded the channel.
            mine = await self._member_channel(name)
            if mine is None:
                raise ChannelNameTaken(name) from None
            return mine
        channel = response["channel"]
        return Channel(channel["id"], channel.get("name", name))

    async def _member_channel(self, name: str) -> Channel | None:
        """The bot's unarchived channel called `name`: the bot's own channels, not the
        whole workspace's, so this stays a page or two."""
        cursor: str | None = None
        for _ in range(MEMBER_PAGES):
            response = await self.call(
                "users.conversations",
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor,
            )
            for channel in response.get("channels") or []:
                if channel.get("name") == name:
                    return Channel(channel["id"], name)
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    async def invite(self, channel: Channel, users: Sequence[str]) -> None:
        ids = [user for user in dict.fromkeys(users) if translate.is_user_id(user)]
        skipped = [user for user in users if user not in ids]
        if skipped:
            # A name typed without a mention cannot be resolved to a Slack user here.
            log.warning("slack: not inviting %s to %s: not Slack user ids", skipped, channel.id)
        if not ids:
            return
        try:
            # force: invite the valid ids even if one of them cannot be invited.
            await self.call(
                "conversations.invite", channel=channel.id, users=",".join(ids), force=True
            )
        except SlackApiError as error:
            if error.response.get("error") not in INVITE_IGNORED:
                raise
            log.info("slack: invite to %s: %s", channel.id, error.response.get("error"))

    async def set_topic(self, channel: Channel, topic: str) -> None:
        topic = translate.outgoing(topic[:TOPIC_LIMIT])
        calls = [self.call("conversations.setTopic", channel=channel.id, topic=topic)]
        if channel.id not in self._purpose_set:
            # The purpose says what the channel is for; set once, the topic tracks the state.
            self._purpose_set.add(channel.id)
            calls.append(self.call("conversations.setPurpose", channel=channel.id, purpose=topic))
        await asyncio.gather(*calls)

    async def post(self, channel_id: str, text: str) -> str:
        """Post text; longer than Slack takes in one message (40,000 characters: a postmortem
        posted as text), it continues in further messages (the first one's ts is returned)."""
        stamps = []
        for part in translate.split_message(translate.outgoing(text)):
            response = await self.call("chat.postMessage", channel=channel_id, text=part)
            stamps.append(str(response["ts"]))
        return stamps[0]

    async def post_once(
        self, channel_id: str, text: str, *, key: str, look_first: bool = False
    ) -> str:
        """Post a message that must appear once. It carries `key` in its metadata, so when an
        earlier try may have been done by Slack without our hearing (a timeout), the channel's
        recent history is searched for it before it is posted again."""

        async def find() -> Any:
            history = await self.call(
                "conversations.history",
                channel=channel_id,
                limit=HISTORY_LOOKBACK,
                include_all_metadata=True,
            )
            for message in history.get("messages") or []:
                metadata = message.get("metadata") or {}
                if (metadata.get("event_payload") or {}).get("key") == key:
                    return {"ts": message["ts"]}
            return None

        if look_first:
            found = await find()
            if found is not None:
                return str(found["ts"])
        response = await self.call(
            "chat.postMessage",
            recheck=find,
            channel=channel_id,
            text=translate.outgoing(text),  # escaped as post() escapes: nothing pings a crowd
            metadata={"event_type": METADATA_EVENT, "event_payload": {"key": key}},
        )
        return str(response["ts"])

    async def update(self, channel_id: str, message_id: str, text: str) -> None:
        text = translate.clip(translate.outgoing(text), translate.MAX_MESSAGE_TEXT)
        await self.call("chat.update", channel=channel_id, ts=message_id, text=text)

    async def pin(self, channel_id: str, message_id: str) -> None:
        try:
            await self.call("pins.add", channel=channel_id, timestamp=message_id)
        except SlackApiError as error:
            if error.response.get("error") != "already_pinned":
                raise

    async def post_checklist(self, channel_id: str, incident: Incident, tasks: list[Task]) -> str:
        response = await self.call(
            "chat.postMessage",
            channel=channel_id,
            text=translate.checklist_text(incident, tasks),
            blocks=translate.checklist_blocks(incident, tasks),
        )
        return str(response["ts"])

    async def update_checklist(
        self, channel_id: str, message_id: str, incident: Incident, tasks: list[Task]
    ) -> None:
        await self.call(
            "chat.update",
            channel=channel_id,
            ts=message_id,
            text=translate.checklist_text(incident, tasks),
            blocks=translate.checklist_blocks(incident, tasks),
        )

    async def post_offer(self, channel_id: str, text: str, offer_id: int) -> str:
        """An alert offer with a "Declare incident" button (bot/core/alerts/ports.OfferChat)."""
        response = await self.call(
            "chat.postMessage",
            channel=channel_id,
            text=translate.outgoing(text),
            blocks=translate.offer_blocks(text, offer_id),
        )
        return str(response["ts"])

    async def update_offer(
        self, channel_id: str, message_id: str, text: str, offer_id: int | None
    ) -> None:
        await self.call(
            "chat.update",
            channel=channel_id,
            ts=message_id,
            text=translate.outgoing(text),
            blocks=translate.offer_blocks(text, offer_id),
        )

    async def upload(self, channel_id: str, filename: str, content: bytes, title: str) -> None:
        """Files upload v2: ask for an upload URL, send the bytes there, then share the file."""
        try:
            ticket = await self.call(
                "files.getUploadURLExternal", filename=filename, length=len(content)
            )
            await self._send_bytes(ticket["upload_url"], filename, content)
            await self.call(
                "files.completeUploadExternal",
                files=[{"id": ticket["file_id"], "title": title}],
                channel_id=channel_id,
            )
        except SlackApiError as error:
            if error.response.get("error") in UPLOAD_REFUSED:
                raise UploadNotAllowed(str(error.response.get("error"))) from None
            raise

    async def _send_bytes(self, url: str, filename: str, content: bytes) -> None:
        def form() -> aiohttp.FormData:
            data = aiohttp.FormData()  # a FormData is consumed by one request: one per try
            data.add_field("file", content, filename=filename)
            return data

        status = await self._post(url, lambda: {"data": form(), "headers": self._auth()})
        if status >= 400:
            raise SlackApiError(f"upload to {url} failed: HTTP {status}", {"error": str(status)})

    async def respond(self, response_url: str, payload: dict[str, Any]) -> None:
        """Answer through a command's or a click's response_url (valid 30 min, 5 uses).
        Unreachable: one retry, then one line in the log (never a traceback per answer,
        which in a burst is thousands)."""
        try:
            status = await self._post(
                response_url, lambda: {"json": payload}, connect_attempts=RESPOND_CONNECT_ATTEMPTS
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            host = urllib.parse.urlsplit(response_url).netloc
            log.warning("slack: answer not sent, response_url on %s unreachable: %r", host, error)
            return
        if status >= 400:
            # expired_url / used_url: nothing to retry; the user retypes the command.
            log.warning("slack: response_url answered HTTP %d", status)

    async def _post(
        self,
        url: str,
        request: Callable[[], dict[str, Any]],
        *,
        connect_attempts: int | None = None,
    ) -> int:
        """POST outside the Web API (upload URLs, response_urls) under the same retry policy;
        one pooled session, because each response_url is a TLS connection to Slack.
        `connect_attempts` caps the tries when the URL cannot be reached at all."""
        session = self.session()
        attempts = self.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                async with session.post(url, **request()) as response:
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientConnectionError, TimeoutError):
                if attempt >= min(attempts, connect_attempts or attempts):
                    raise
                await self.sleep(self._backoff(attempt))
                continue
            if status == 429 and attempt < attempts:
                await self.sleep(min(float(retry_after or 1), MAX_DELAY))
            elif status >= 500 and attempt < attempts:
                await self.sleep(self._backoff(attempt))
            else:
                return status
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = None

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.client.token}"} if self.client.token else {}

    def channel_link(self, channel: Channel) -> str:
        return f"<#{channel.id}>"

    async def direct_channel(self, user: str) -> str:
        """The bot's direct-message channel with `user` (D...): pages and alert offers to
        the on-call go there (bot/core/alerts/ports.DirectChat)."""
        if not translate.is_user_id(user):
            raise ValueError(
                f"'{user}' is not a Slack user id (give the person slack: U... in the catalog)"
            )
        opened = await self.call("conversations.open", users=user)
        return str(opened["channel"]["id"])

    async def send_page(self, user: str, incident: Incident, text: str) -> str:
        """The page as a direct message from the bot, with an Acknowledge button."""
        response = await self.call(
            "chat.postMessage",
            channel=await self.direct_channel(user),
            text=translate.outgoing(text),
            blocks=translate.page_blocks(incident, text, user),
        )
        return str(response["ts"])


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else str(value)
    return None
