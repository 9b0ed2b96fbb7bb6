"""MattermostChat: the Chat port over mattermostdriver's REST client.

The driver is synchronous (requests), so every call runs in a thread, and every call goes
through one wrapper (`_call`) that retries rate limits (429) and server errors (5xx) with
backoff; inside an outbox delivery the row's lease is renewed before each wait
(bot/core/lease.py). Sleeping is injected so tests never wait.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from mattermostdriver import Driver
from mattermostdriver.exceptions import (
    ContentTooLarge,
    FeatureDisabled,
    InvalidOrMissingParameters,
    NoAccessTokenProvided,
    NotEnoughPermissions,
    ResourceNotFound,
)

from bot.chat.mattermost import text as mtext
from bot.chat.mattermost import translate as t
from bot.core import lease
from bot.core.model import Incident, Task
from bot.core.ports import Channel, ChannelNameTaken, UploadNotAllowed

log = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[object]]
Recheck = Callable[[], Awaitable[Any]]
_ID = re.compile(r"^[a-z0-9]{26}$")  # Mattermost ids: 26 lower-case base32 characters
MAX_HEADER = 1024
# Props of a post that must appear once: the outbox row's key and, for a text that goes out
# as several posts, the part's index. The server keeps props it does not know as they are
# (it strips only add_channel_member and force_notification, model.Post.SanitizeProps).
PROP_KEY = "warroom_key"
PROP_PART = "warroom_part"
# Newest posts of a channel searched for a post that may have happened: the most one page of
# GET /channels/{id}/posts holds (the server caps per_page at 200).
POSTS_LOOKBACK = 200


def driver_for(url: str, token: str, *, timeout: float = 30.0, verify: bool | str = True) -> Driver:
    """A driver for a server URL such as https://chat.example.com or http://127.0.0.1:8065."""
    parts = urlsplit(url)
    scheme = parts.scheme or "https"
    driver = Driver(
        {
            "url": parts.hostname or "localhost",
            "scheme": scheme,
            "port": parts.port or (443 if scheme == "https" else 80),
            "basepath": parts.path.rstrip("/") + "/api/v4",
            "token": token,
            "verify": verify,  # a CA bundle path for a private CA (as requests takes it)
            # The driver's default is no timeout at all: a hung server would hang a thread.
            "request_timeout": timeout,
        }
    )
    # Authenticate every call from the first, not only after login() (which fetches "me").
    driver.client.token = token
    return driver


def websocket_url(driver: Driver) -> str:
    options = driver.options
    scheme = "wss" if options["scheme"] == "https" else "ws"
    return f"{scheme}://{options['url']}:{options['port']}{options['basepath']}/websocket"


class MattermostChat:
    platform = t.PLATFORM

    def __init__(
        self,
        driver: Driver,
        team: str,
        *,
        public_url: str | None = None,
        sleep: Sleep = asyncio.sleep,
        retries: int = 5,
        backoff: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        self.driver = driver
        self.team = team
        self.public_url = public_url.rstrip("/") if public_url else None
        self.sleep = sleep
        self.retries = retries
        self.backoff = backoff
        self.max_delay = max_delay
        # Signs button contexts and dialog states; derived from the bot token, a secret
        # Mattermost never shows to clients.
        self.key = t.sign(str(driver.options["token"]).encode(), "warroom").encode()
        self.team_id = ""
        self.bot_user_id = ""
        self.bot_username = ""
        self.retried = 0  # calls retried so far: operators and tests read it
        self._usernames: dict[str, str] = {}
        self._not_users: set[str] = set()  # names looked up and found to be no user's
        self._channel_ids: dict[str, str] = {}
        self._connect_lock = asyncio.Lock()

    @classmethod
    def from_settings(
        cls,
        url: str,
        token: str,
        team: str,
        public_url: str | None = None,
        *,
        verify: bool | str = True,
        **kwargs: Any,
    ) -> MattermostChat:
        return cls(driver_for(url, token, verify=verify), team, public_url=public_url, **kwargs)

    @property
    def actions_url(self) -> str | None:
        return f"{self.public_url}/mattermost/actions" if self.public_url else None

    @property
    def dialog_url(self) -> str | None:
        return f"{self.public_url}/mattermost/dialog" if self.public_url else None

    # -- the one call wrapper ---------------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any, recheck: Recheck | None = None) -> T:
        """Call the driver, retrying what is worth retrying. `recheck` runs before a call is
        sent again after an answer that leaves it unknown whether the server did it (a
        timeout, a dropped connection, a 5xx); what it returns, if anything, is taken as the
        answer instead."""
        unknown = False
        for attempt in range(self.retries + 1):
            if unknown and recheck is not None:
                found = await recheck()
                if found is not None:
                    return found  # type: ignore[no-any-return]
            try:
                return await asyncio.to_thread(fn, *args)
            except requests.HTTPError as error:
                # The driver turns 400/401/403/404/405/413/501 into HTTPError subclasses of
                # its own without a response, and re-raises the rest as they came: only
                # those carry a status, and 429 and 5xx among them are worth another try.
                response = error.response
                status = response.status_code if response is not None else 0
                if not (status == 429 or status >= 500) or attempt == self.retries:
                    raise
                unknown = status >= 500
                delay = _retry_after(response) or self._delay(attempt)
            except (requests.ConnectionError, requests.Timeout):
                # The driver's request_timeout: the server may still have done the call.
                if attempt == self.retries:
                    raise
                unknown = True
                delay = self._delay(attempt)
            self.retried += 1
            delay = min(delay, self.max_delay)
            log.warning(
                "mattermost call %s failed; retry %d in %.1fs", _name(fn), attempt + 1, delay
            )
            # An outbox delivery holds its lease over the wait (Retry-After can be long).
            await lease.hold_for(delay)
            await self.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int) -> float:
        return min(self.backoff * 2**attempt, self.max_delay)

    # -- identity -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Learn who the bot is and its team's id (once; every method calls this)."""
        if self.team_id:
            return
        async with self._connect_lock:
            if self.team_id:
                return
            me = await self._call(self.driver.login)
            team = await self._call(self.driver.teams.get_team_by_name, self.team)
            self.bot_user_id, self.bot_username = me["id"], me["username"]
            self._usernames[me["id"]] = me["username"]
            self.team_id = team["id"]

    async def token_accepted(self) -> bool:
        """False only when the server refuses the bot token (401); True when it answers, or
        cannot be asked right now (that is the network's problem, not the token's)."""
        try:
            await self._call(self.driver.users.get_user, "me")
        except NoAccessTokenProvided:
            return False
        except (requests.RequestException, OSError):
            return True
        return True

    async def username(self, user_id: str) -> str:
        if user_id not in self._usernames:
            user = await self._call(self.driver.users.get_user, user_id)
            self._usernames[user_id] = user["username"]
        return self._usernames[user_id]

    def remember(self, user_id: str, username: str) -> None:
        """A user id and name a request carried (a slash command's user_id and user_name)."""
        if user_id and username:
            self._usernames[user_id] = username

    async def safe(self, text: str) -> str:
        """Text the bot posts, with broadcasts and group mentions made silent (text.py).
        Names not known yet are looked up once: a user's stays a mention, anything else (a
        group, a typo) is neutralised."""
        known = {name.lower() for name in self._usernames.values()}
        unknown = [n for n in mtext.mentioned(text) if n not in known and n not in self._not_users]
        if unknown:
            try:
                found = await self._call(self.driver.users.get_users_by_usernames, unknown)
            except (requests.RequestException, OSError) as error:
                log.warning("cannot look up mentioned names, neutralising them: %s", error)
                found, unknown = [], []  # not cached: the next post asks again
            for user in found:
                self._usernames[user["id"]] = user["username"]
                known.add(user["username"].lower())
            if len(self._not_users) > 10_000:
                self._not_users.clear()
            self._not_users.update(n for n in unknown if n not in known)
        return mtext.neutralise(text, known.__contains__)

    def safe_known(self, text: str) -> str:
        """`safe` without looking anything up (for answers built synchronously)."""
        known = {name.lower() for name in self._usernames.values()}
        return mtext.neutralise(text, known.__contains__)

    async def channel_id(self, ref: str) -> str:
        """An id for a channel id or a channel name in the team (the announce channel)."""
        if _ID.match(ref):
            return ref
        name = ref.lstrip("#~")
        if name not in self._channel_ids:
            await self.connect()
            channel = await self._call(self.driver.channels.get_channel_by_name, self.team_id, name)
            self._channel_ids[name] = channel["id"]
        return self._channel_ids[name]

    # -- the Chat port --------------------------------------------------------------------

    async def create_channel(self, name: str, *, private: bool) -> Channel:
        await self.connect()
        url_name, display_name = t.channel_names(name)
        options = {
            "team_id": self.team_id,
            "name": url_name,
            "display_name": display_name,
            "type": "P" if private else "O",
        }
        try:
            created = await self._call(self.driver.channels.create_channel, options)
        except InvalidOrMissingParameters:
            # The server's message for a taken name is translated text; ask instead.
            if await self._channel_exists(url_name):
                raise ChannelNameTaken(url_name) from None
            raise
        self._channel_ids[created["name"]] = created["id"]
        return Channel(created["id"], created["name"])

    async def _channel_exists(self, name: str) -> bool:
        # Archived channels keep their names, so look at those too.
        endpoint = f"/teams/{self.team_id}/channels/name/{name}"
        try:
            await self._call(self.driver.client.get, endpoint, None, {"include_deleted": "true"})
        except ResourceNotFound:
            return False
        return True

    async def invite(self, channel: Channel, users: Sequence[str]) -> None:
        names = [user for user in dict.fromkeys(users) if user]
        if not names:
            return
        found = await self._call(self.driver.users.get_users_by_usernames, names)
        ids = {user["username"]: user["id"] for user in found}
        self._usernames.update({v: k for k, v in ids.items()})
        for name in names:
            if name not in ids:
                log.warning("cannot invite @%s to %s: no such Mattermost user", name, channel.name)
        await asyncio.gather(*(self._add_member(channel, user_id) for user_id in ids.values()))

    async def _add_member(self, channel: Channel, user_id: str) -> None:
        try:
            await self._call(self.driver.channels.add_user, channel.id, {"user_id": user_id})
        except (InvalidOrMissingParameters, NotEnoughPermissions, ResourceNotFound) as error:
            # A user outside the channel's team is a 404 (app.team.get_member.missing);
            # 400/403 for the rest. The other invitations, and the declaration, still count.
            name = self._usernames.get(user_id, user_id)
            log.warning("cannot add @%s to %s: %s", name, channel.name, error)

    async def set_topic(self, channel: Channel, topic: str) -> None:
        header = (await self.safe(topic))[:MAX_HEADER]
        await self._call(self.driver.channels.patch_channel, channel.id, {"header": header})

    async def post(self, channel_id: str, text: str) -> str:
        """Post text; longer than one Mattermost post, it continues in further posts (the
        first one's id is returned)."""
        target = await self.channel_id(channel_id)
        ids = []
        for part in t.split_message(await self.safe(text)):
            post = await self._call(
                self.driver.posts.create_post, {"channel_id": target, "message": part}
            )
            ids.append(str(post["id"]))
        return ids[0]

    async def post_once(
        self, channel_id: str, text: str, *, key: str, look_first: bool = False
    ) -> str:
        """Post text that must appear once (an outbox row's post; the first post's id is
        returned). Every post carries `key` and its part's index in its props, so when an
        earlier try may have been done by the server without our hearing (a timeout), the
        channel's newest posts are searched for it before it is posted again; of a text
        split into several posts, only the parts not found are posted."""
        await self.connect()
        target = await self.channel_id(channel_id)
        parts = t.split_message(await self.safe(text))
        found = await self._posted_parts(target, key) if look_first else {}
        ids = []
        for index, part in enumerate(parts):
            if index not in found:
                found[index] = await self._post_part(target, part, key, index)
            ids.append(found[index])
        return ids[0]

    async def _post_part(self, channel_id: str, message: str, key: str, index: int) -> str:
        async def recheck() -> dict[str, Any] | None:
            post_id = (await self._posted_parts(channel_id, key)).get(index)
            return {"id": post_id} if post_id is not None else None

        body: dict[str, Any] = {
            "channel_id": channel_id,
            "message": message,
            "props": {PROP_KEY: key, PROP_PART: index},
        }
        post = await self._call(self.driver.posts.create_post, body, recheck=recheck)
        return str(post["id"])

    async def _posted_parts(self, channel_id: str, key: str) -> dict[int, str]:
        """Part index -> post id of the bot's posts carrying `key` among the channel's newest
        (a person's post with the same props is not ours)."""
        page = await self._call(
            self.driver.posts.get_posts_for_channel,
            channel_id,
            {"page": 0, "per_page": POSTS_LOOKBACK},
        )
        parts: dict[int, str] = {}
        for post_id in reversed(page.get("order") or []):  # oldest first: the first one wins
            post = (page.get("posts") or {}).get(post_id) or {}
            props = post.get("props") or {}
            if post.get("user_id") != self.bot_user_id or props.get(PROP_KEY) != key:
                continue
            index = _part(props.get(PROP_PART))
            if index is not None:
                parts.setdefault(index, str(post_id))
        return parts

    async def update(self, channel_id: str, message_id: str, text: str) -> str | None:
        body = {"message": await self.safe(text)}
        return await self._patch_or_repost(channel_id, message_id, body, pin=True)

    async def _patch_or_repost(
        self, channel_id: str, message_id: str, body: dict[str, Any], *, pin: bool
    ) -> str | None:
        """Edit a post in place; where Mattermost refuses (a PostEditTimeLimit passed: 400,
        or the post was deleted: 404) post it again, pinned instead of the old one when it is
        the pinned summary. The new post's id, or None when edited in place."""
        try:
            await self._call(self.driver.posts.patch_post, message_id, body)
            return None
        except (InvalidOrMissingParameters, ResourceNotFound) as error:
            log.info("cannot edit post %s any more (%s): posting it again", message_id, error)
        target = await self.channel_id(channel_id)
        post = await self._call(self.driver.posts.create_post, {"channel_id": target, **body})
        new_id = str(post["id"])
        if pin:
            await self._call(self.driver.posts.pin_post_to_channel, new_id)
            try:
                await self._call(self.driver.posts.unpin_post_to_channel, message_id)
            except (InvalidOrMissingParameters, ResourceNotFound, NotEnoughPermissions):
                log.info("could not unpin the old post %s", message_id)
        return new_id

    async def pin(self, channel_id: str, message_id: str) -> None:
        await self._call(self.driver.posts.pin_post_to_channel, message_id)

    def checklist_post(self, incident: Incident, tasks: list[Task]) -> dict[str, Any]:
        """The checklist's message and props (buttons call actions_url)."""
        props = t.checklist_props(incident, tasks, self.actions_url, self.key)
        for attachment in props["attachments"]:
            # The server looks for mentions in attachment text too.
            attachment["text"] = self.safe_known(attachment["text"])
        return {"message": self.safe_known(t.checklist_text(incident, tasks)), "props": props}

    async def post_checklist(self, channel_id: str, incident: Incident, tasks: list[Task]) -> str:
        target = await self.channel_id(channel_id)
        body = {"channel_id": target, **self.checklist_post(incident, tasks)}
        post = await self._call(self.driver.posts.create_post, body)
        return str(post["id"])

    async def update_checklist(
        self, channel_id: str, message_id: str, incident: Incident, tasks: list[Task]
    ) -> str | None:
        body = self.checklist_post(incident, tasks)
        return await self._patch_or_repost(channel_id, message_id, body, pin=False)

    async def post_offer(self, channel_id: str, text: str, offer_id: int) -> str:
        """An alert offer with a "Declare incident" button (bot/core/alerts/ports.OfferChat)."""
        target = await self.channel_id(channel_id)
        props = t.offer_props(offer_id, self.actions_url, self.key)
        message = await self.safe(text)  # alert text comes from outside: no broadcasts
        post = await self._call(
            self.driver.posts.create_post,
            {"channel_id": target, "message": message, "props": props},
        )
        return str(post["id"])

    async def update_offer(
        self, channel_id: str, message_id: str, text: str, offer_id: int | None
    ) -> None:
        props = t.offer_props(offer_id, self.actions_url, self.key)
        message = await self.safe(text)
        await self._call(
            self.driver.posts.patch_post, message_id, {"message": message, "props": props}
        )

    async def upload(self, channel_id: str, filename: str, content: bytes, title: str) -> None:
        target = await self.channel_id(channel_id)
        try:
            uploaded = await self._call(
                self.driver.files.upload_file, target, {"files": (filename, content)}
            )
        except (NotEnoughPermissions, FeatureDisabled, ContentTooLarge) as error:
            # 403: no upload permission; 501: file attachments disabled; 413: too big.
            raise UploadNotAllowed(str(error)) from error
        file_ids = [info["id"] for info in uploaded["file_infos"]]
        await self._call(
            self.driver.posts.create_post,
            {"channel_id": target, "message": await self.safe(title), "file_ids": file_ids},
        )

    def channel_link(self, channel: Channel) -> str:
        return f"~{channel.name}"

    async def direct_channel(self, user: str) -> str:
        """The bot's direct channel with the user called `user`: pages and alert offers to
        the on-call go there (bot/core/alerts/ports.DirectChat)."""
        await self.connect()
        found = await self._call(self.driver.users.get_users_by_usernames, [user])
        if not found:
            raise LookupError(f"no Mattermost user @{user}")
        direct = await self._call(
            self.driver.channels.create_direct_message_channel, [self.bot_user_id, found[0]["id"]]
        )
        return str(direct["id"])

    async def send_page(self, user: str, incident: Incident, text: str) -> str:
        """The page as a direct message from the bot, with an Acknowledge button."""
        post = await self._call(
            self.driver.posts.create_post,
            {
                "channel_id": await self.direct_channel(user),
                "message": await self.safe(text),
                "props": t.page_props(incident, self.actions_url, self.key, user),
            },
        )
        return str(post["id"])

    # -- Mattermost-only ------------------------------------------------------------------

    async def post_ephemeral(self, user_id: str, channel_id: str, text: str) -> None:
        """A message only user_id sees (answers to dialog submissions).

        Ephemeral posts need the create_post_ephemeral permission, which Mattermost gives
        only to system admins by default; without it the answer goes by direct message.
        """
        text = await self.safe(text)
        try:
            await self._call(
                self.driver.posts.create_ephemeral_post,
                {"user_id": user_id, "post": {"channel_id": channel_id, "message": text}},
            )
            return
        except NotEnoughPermissions:
            pass
        await self.connect()
        direct = await self._call(
            self.driver.channels.create_direct_message_channel, [self.bot_user_id, user_id]
        )
        await self._call(
            self.driver.posts.create_post, {"channel_id": direct["id"], "message": text}
        )

    async def open_dialog(self, trigger_id: str, url: str, dialog: dict[str, Any]) -> None:
        await self._call(
            self.driver.integration_actions.open_dialog,
            {"trigger_id": trigger_id, "url": url, "dialog": dialog},
        )


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After") or response.headers.get("X-Ratelimit-Reset")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _part(value: object) -> int | None:
    # Props come back as the server's JSON re-encoded them: 1, 1.0 or (edited by hand) "1".
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return None


def _name(fn: Callable[..., object]) -> str:
    return getattr(fn, "__qualname__", repr(fn))
