"""A local Mattermost for tests: the REST v4 subset warroom uses and the websocket protocol.

It keeps users, channels and posts in memory, records every call, can be told to fail the
next calls (429 as the server's rate limiter answers, 500, 503), broadcasts `posted` / `post_edited` events as the
real server does (the bot's own posts included), and plays the user's side of slash commands,
buttons and dialogs: it sends the bot the very requests Mattermost sends and treats the
answers as Mattermost does. GET answers carry Content-Type exactly `application/json`, which
mattermostdriver needs to decode them.

Where the real server surprises, the peer does the same (read from the server's source):
- adding a user who is not in the channel's team answers 404
  (`app.team.get_member.missing.app_error`);
- a slash command's in-channel answer is posted under the *invoking user's* id with
  `props.from_webhook = "true"`, and a non-200 answer's body is dropped (the user sees only
  that the command failed);
- the websocket authenticates on the upgrade request's `Authorization: Bearer` header or,
  without it, on an `authentication_challenge`; a bad token is no error at the upgrade, the
  socket just gets nothing and is closed (an unauthenticated one after `auth_window`, a bad
  challenge at once, with no FAIL reply); it resumes a `connection_id` (replaying missed
  events, no `hello`) only for a connection authenticated on the upgrade;
- with `post_edit_time_limit` set, patching the message of an older post answers 400;
- an interactive dialog that breaks the server's dialog limits is refused with 400;
- a post keeps the props it was given (the server strips only `add_channel_member` and
  `force_notification`) and gains `from_bot: "true"` when a bot posts it; an edit or a pin
  moves its `update_at`;
- a call over the rate limit is answered 429 with a plain-text `limit exceeded` (not JSON)
  and throttled's headers: `Retry-After` and `X-Ratelimit-Reset` in seconds from now (not a
  time of day), `X-Ratelimit-Limit`, `X-Ratelimit-Remaining`;
- GET /channels/{id}/posts answers `{"order": [...], "posts": {id: post}}`, newest first:
  with `since` (milliseconds) the posts updated after it, deleted ones included, at most
  1000; otherwise page `page` of `per_page` posts (60 unless given, at most 200).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import ssl
import string
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from aiohttp import WSMsgType, web

TOKEN = "peer-bot-token-0123456789ab"
COMMAND_TOKEN = "peer-command-token-xyz"
_ALPHABET = string.ascii_lowercase + string.digits
_NAME = re.compile(r"^[a-z0-9]+([a-z0-9\-_]*[a-z0-9])?$")
_millis = itertools.count(1_767_268_800_000, 1000)  # 2026-01-01 12:00 UTC, a second per post


BODY = web.RequestKey("json", object)
DEAD_QUEUE_SIZE = 128


def new_id() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(26))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error(status: int, error_id: str, message: str) -> web.Response:
    return _json(
        {"id": error_id, "message": message, "request_id": new_id(), "status_code": status},
        status,
    )


def _rate_limited(headers: dict[str, str]) -> web.Response:
    """A 429 as Mattermost's rate limiter answers it (app/ratelimit.go, RateLimitWriter):
    throttled's headers, added as Go spells them, X-Ratelimit-Limit and -Remaining, then
    X-Ratelimit-Reset (seconds until the quota is whole again) and Retry-After (seconds until
    one call is allowed), both rounded up; the body is http.Error's plain "limit exceeded",
    not the JSON AppError of other failures."""
    retry_after = headers.get("Retry-After", "1")
    return web.Response(
        status=429,
        body=b"limit exceeded\n",
        headers={
            "Content-Type": "text/plain; charset=utf-8",
            "X-Content-Type-Options": "nosniff",
            "X-Ratelimit-Limit": "10",
            "X-Ratelimit-Remaining": "0",
            "X-Ratelimit-Reset": headers.get("X-Ratelimit-Reset", retry_after),
            "Retry-After": retry_after,
        },
    )


@dataclass
class Call:
    method: str
    path: str
    body: Any = None
    query: dict[str, str] = field(default_factory=dict)
    late: bool = False  # done, but answered only after answer_late's event was set


@dataclass
class _Connection:
    """A websocket connection as the server's hub keeps it: its sequence and, while no socket
    is attached, the events it missed."""

    id: str
    socket: web.WebSocketResponse | None
    seq: itertools.count[int] = field(default_factory=itertools.count)
    queued: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Failure:
    method: str
    path: re.Pattern[str]
    status: int
    times: int
    headers: dict[str, str]
    after: int = 0  # matching calls let through before the failures begin


@dataclass
class Late:
    method: str
    path: re.Pattern[str]
    times: int
    answer: asyncio.Event


SANITIZED_PROPS = ("add_channel_member", "force_notification")  # model.Post.SanitizeProps
POSTS_PER_PAGE, POSTS_PER_PAGE_MAX, POSTS_SINCE_MAX = 60, 200, 1000


class MattermostPeer:
    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.calls: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.members: dict[str, set[str]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.dialogs: list[dict[str, Any]] = []
        self.files: dict[str, tuple[str, bytes]] = {}
        self.action_replies: list[dict[str, Any]] = []
        # (url path, body) of every action request sent to the bot, to send one again
        self.action_requests: list[tuple[str, dict[str, Any]]] = []
        self.upload_refusal: int | None = None  # 403 or 501 refuses every upload
        self.ephemeral_allowed = True  # False: 403, as for a bot without the permission
        self.websocket_refusals = 0  # refuse the next N websocket handshakes with 503
        # Seconds an unauthenticated websocket is kept open (the server's authTicker: 5 s).
        self.auth_window = 0.2
        self.websocket_queries: list[str] = []
        self.logins = 0  # websocket connections authenticated (header or challenge)
        self.resumes = 0  # websocket connections that resumed an earlier connection_id
        self.upgrade_auth: list[str | None] = []  # Authorization header of each upgrade
        self.command_failures: list[int] = []  # statuses of slash-command answers not 200
        self.team_members: set[str] = set()
        # ServiceSettings.PostEditTimeLimit in seconds (None: -1, no limit) and the clock it
        # is measured on (post create_at is in milliseconds).
        self.post_edit_time_limit: int | None = None
        self.now_millis: int | None = None
        self._connections: dict[str, _Connection] = {}
        self._login_changed = asyncio.Condition()
        self._failures: list[Failure] = []
        self._late: list[Late] = []
        self._arrival: dict[str, int] = {}  # post id -> arrival: breaks ties of create_at
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.bot = self.add_user("warroom")
        self.team = {"id": new_id(), "name": "eng", "display_name": "Engineering"}
        self.add_channel("town-square")

    # -- world ----------------------------------------------------------------------------

    def add_user(self, username: str, *, in_team: bool = True) -> dict[str, Any]:
        user = {"id": new_id(), "username": username, "email": f"{username}@example.com"}
        self.users[user["id"]] = user
        if in_team:
            self.team_members.add(user["id"])
        return user

    def user(self, username: str) -> dict[str, Any]:
        return next(u for u in self.users.values() if u["username"] == username)

    def add_channel(self, name: str, type_: str = "O") -> dict[str, Any]:
        channel = {
            "id": new_id(),
            "team_id": self.team["id"],
            "name": name,
            "display_name": name,
            "type": type_,
            "header": "",
            "delete_at": 0,
            "creator_id": "",
        }
        self.channels[channel["id"]] = channel
        self.members[channel["id"]] = set()
        return channel

    def channel(self, name: str) -> dict[str, Any]:
        return next(c for c in self.channels.values() if c["name"] == name)

    def posts_in(self, channel_id: str) -> list[dict[str, Any]]:
        """The channel's posts as its members see them (not the deleted ones)."""
        return [
            p for p in self.posts.values() if p["channel_id"] == channel_id and not p["delete_at"]
        ]

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        *,
        times: int = 1,
        after: int = 0,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `times` calls matching method and path (a regex) with status,
        once `after` matching calls have gone through. The failed calls are not done."""
        failure = Failure(method, re.compile(path), status, times, headers or {}, after)
        self._failures.append(failure)

    def rate_limit(
        self, method: str, path: str, *, retry_after: int = 1, times: int = 1, after: int = 0
    ) -> None:
        """Answer the next `times` matching calls as the server's rate limiter does when
        the bot is over its quota (see _rate_limited), asking to wait `retry_after` seconds."""
        headers = {"Retry-After": str(retry_after), "X-Ratelimit-Reset": str(retry_after)}
        self.fail(method, path, 429, times=times, after=after, headers=headers)

    def answer_late(self, method: str, path: str, *, times: int = 1) -> asyncio.Event:
        """Do the next `times` calls matching method and path (a regex) at once but answer
        them only when the returned event is set: a client timeout against a server that did
        the work. stop() sets it, so nothing is left waiting."""
        late = Late(method, re.compile(path), times, asyncio.Event())
        self._late.append(late)
        return late.answer

    def calls_to(self, method: str, path: str) -> list[Call]:
        pattern = re.compile(path)
        return [c for c in self.calls if c.method == method and pattern.fullmatch(c.path)]

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(middlewares=[self._middleware], client_max_size=50 * 2**20)
        v4 = "/api/v4"
        app.router.add_get(f"{v4}/websocket", self._websocket)
        app.router.add_get(f"{v4}/users/me", self._me)
        app.router.add_post(f"{v4}/users/usernames", self._users_by_usernames)
        app.router.add_get(f"{v4}/users/{{user_id}}", self._get_user)
        app.router.add_get(f"{v4}/teams/name/{{name}}", self._team_by_name)
        app.router.add_get(f"{v4}/teams/{{team_id}}/channels/name/{{name}}", self._channel_by_name)
        app.router.add_post(f"{v4}/channels", self._create_channel)
        app.router.add_post(f"{v4}/channels/direct", self._direct_channel)
        app.router.add_post(f"{v4}/channels/{{channel_id}}/members", self._add_member)
        app.router.add_get(f"{v4}/channels/{{channel_id}}/posts", self._channel_posts)
        app.router.add_put(f"{v4}/channels/{{channel_id}}/patch", self._patch_channel)
        app.router.add_post(f"{v4}/posts", self._create_post)
        app.router.add_post(f"{v4}/posts/ephemeral", self._ephemeral_post)
        app.router.add_put(f"{v4}/posts/{{post_id}}/patch", self._patch_post)
        app.router.add_post(f"{v4}/posts/{{post_id}}/pin", self._pin)
        app.router.add_post(f"{v4}/posts/{{post_id}}/unpin", self._unpin)
        app.router.add_post(f"{v4}/files", self._upload)
        app.router.add_post(f"{v4}/actions/dialogs/open", self._open_dialog)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        for late in self._late:
            late.answer.set()
        await self.drop_sockets()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- middleware: record, inject failures, authenticate ----------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body: Any = None
        if request.content_type == "application/json" and request.can_read_body:
            body = await request.json()
        call = Call(request.method, request.path, body, dict(request.query))
        self.calls.append(call)
        for failure in self._failures:
            if failure.method == request.method and failure.path.fullmatch(request.path):
                if failure.after > 0:
                    failure.after -= 1
                elif failure.times > 0:
                    failure.times -= 1
                    if failure.status == 429:
                        return _rate_limited(failure.headers)
                    return _json(
                        {"id": "peer.injected", "message": "injected", "status_code": 0},
                        failure.status,
                        failure.headers,
                    )
        if request.path.endswith("/websocket"):
            return await handler(request)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _error(
                401, "api.context.session_expired.app_error", "Invalid or expired session"
            )
        request[BODY] = body
        response = await handler(request)
        for late in self._late:
            if (
                late.times > 0
                and late.method == request.method
                and late.path.fullmatch(request.path)
            ):
                late.times -= 1
                call.late = True
                await late.answer.wait()
                break
        return response  # type: ignore[no-any-return]

    # -- REST ---------------------------------------------------------------------------

    async def _me(self, request: web.Request) -> web.Response:
        return _json(self.bot)

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["user_id"])
        if user is None:
            return _error(404, "app.user.missing_account.const", "Unable to find the user.")
        return _json(user)

    async def _users_by_usernames(self, request: web.Request) -> web.Response:
        wanted = set(request[BODY])
        return _json([u for u in self.users.values() if u["username"] in wanted])

    async def _team_by_name(self, request: web.Request) -> web.Response:
        if request.match_info["name"] != self.team["name"]:
            return _error(404, "app.team.get_by_name.missing.app_error", "Unable to find team.")
        return _json(self.team)

    async def _channel_by_name(self, request: web.Request) -> web.Response:
        deleted = request.query.get("include_deleted") == "true"
        for channel in self.channels.values():
            if channel["name"] == request.match_info["name"] and (
                deleted or not channel["delete_at"]
            ):
                return _json(channel)
        return _error(404, "app.channel.get_by_name.missing.app_error", "Channel does not exist.")

    async def _create_channel(self, request: web.Request) -> web.Response:
        body = request[BODY]
        name, display = body.get("name", ""), body.get("display_name", "")
        if not (2 <= len(name) <= 64 and _NAME.match(name)) or not 1 <= len(display) <= 64:
            return _error(400, "model.channel.is_valid.2_or_more.app_error", "Invalid name.")
        if body.get("type") not in ("O", "P") or body.get("team_id") != self.team["id"]:
            return _error(400, "model.channel.is_valid.type.app_error", "Invalid type.")
        if any(c["name"] == name for c in self.channels.values()):
            return _error(
                400,
                "store.sql_channel.save_channel.exists.app_error",
                "A channel with that name already exists on the same team.",
            )
        channel = self.add_channel(name, body["type"])
        channel.update(display_name=display, creator_id=self.bot["id"])
        self.members[channel["id"]].add(self.bot["id"])
        return _json(channel, 201)

    async def _direct_channel(self, request: web.Request) -> web.Response:
        user_ids = sorted(request[BODY])
        name = "__".join(user_ids)
        existing = next((c for c in self.channels.values() if c["name"] == name), None)
        channel = existing or self.add_channel(name, "D")
        self.members[channel["id"]].update(user_ids)
        return _json(channel, 201)

    async def _add_member(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["channel_id"]
        user_id = request[BODY].get("user_id", "")
        if channel_id not in self.channels or user_id not in self.users:
            return _error(404, "app.user.missing_account.const", "Unable to find the user.")
        if user_id not in self.team_members:
            # The server looks up the user's membership of the channel's team first.
            return _error(
                404, "app.team.get_member.missing.app_error", "Unable to find the team member."
            )
        self.members[channel_id].add(user_id)
        return _json({"channel_id": channel_id, "user_id": user_id, "roles": "channel_user"}, 201)

    async def _patch_channel(self, request: web.Request) -> web.Response:
        channel = self.channels[request.match_info["channel_id"]]
        channel.update(request[BODY])
        return _json(channel)

    async def _create_post(self, request: web.Request) -> web.Response:
        body = request[BODY]
        if body.get("channel_id") not in self.channels:
            return _error(403, "api.context.permissions.app_error", "No permission.")
        channel = self.channels[body["channel_id"]]
        if channel["type"] in ("D", "P") and self.bot["id"] not in self.members[channel["id"]]:
            return _error(403, "api.context.permissions.app_error", "No permission.")
        if len(body.get("message", "")) > 16383:
            return _error(400, "model.post.is_valid.msg.app_error", "Invalid message.")
        problems = props_problems(body.get("props") or {})
        if problems:
            return _error(400, "model.post.is_valid.props.app_error", "; ".join(problems))
        post = self._new_post(self.bot["id"], body["channel_id"], body.get("message", ""))
        props = {k: v for k, v in (body.get("props") or {}).items() if k not in SANITIZED_PROPS}
        post["props"] = {**props, "from_bot": "true"}  # the bot account is a bot (app.CreatePost)
        post["file_ids"] = body.get("file_ids") or []
        await self._broadcast("posted", {"post": json.dumps(post)}, post["channel_id"])
        return _json(post, 201)

    async def _ephemeral_post(self, request: web.Request) -> web.Response:
        if not self.ephemeral_allowed:
            return _error(403, "api.context.permissions.app_error", "No permission.")
        body = request[BODY]
        self.ephemeral.append(body)
        return _json({"id": new_id(), **body["post"]}, 201)

    async def _patch_post(self, request: web.Request) -> web.Response:
        post = self.posts.get(request.match_info["post_id"])
        if post is None:
            return _error(404, "app.post.get.app_error", "Unable to get the post.")
        changes = request[BODY]
        problems = props_problems(changes.get("props") or {})
        if problems:
            return _error(400, "model.post.is_valid.props.app_error", "; ".join(problems))
        edited = any(k in changes and changes[k] != post.get(k) for k in ("message", "props"))
        if edited and self._edit_too_late(post):
            return _error(
                400,
                "api.post.update_post.permissions_time_limit.app_error",
                "Post edit is only allowed for a limited time. Please ask your System "
                "Administrator for details.",
            )
        now = self._now()
        post.update(changes, edit_at=now, update_at=now)
        await self._broadcast("post_edited", {"post": json.dumps(post)}, post["channel_id"])
        return _json(post)

    def _edit_too_late(self, post: dict[str, Any]) -> bool:
        if self.post_edit_time_limit is None or self.now_millis is None:
            return False
        return self.now_millis > post["create_at"] + self.post_edit_time_limit * 1000

    async def _pin(self, request: web.Request) -> web.Response:
        self.posts[request.match_info["post_id"]].update(is_pinned=True, update_at=self._now())
        return _json({"status": "OK"})

    async def _unpin(self, request: web.Request) -> web.Response:
        post = self.posts.get(request.match_info["post_id"])
        if post is None:
            return _error(404, "app.post.get.app_error", "Unable to get the post.")
        post.update(is_pinned=False, update_at=self._now())
        return _json({"status": "OK"})

    async def _upload(self, request: web.Request) -> web.Response:
        if self.upload_refusal is not None:
            return _error(self.upload_refusal, "api.file.upload_file.disabled", "Uploads off.")
        form = await request.post()
        upload = form["files"]
        file_id = new_id()
        self.files[file_id] = (upload.filename, upload.file.read())  # type: ignore[union-attr]
        self.calls[-1].body = {"channel_id": form["channel_id"], "filename": upload.filename}  # type: ignore[union-attr]
        return _json({"file_infos": [{"id": file_id, "name": upload.filename}]}, 201)  # type: ignore[union-attr]

    async def _open_dialog(self, request: web.Request) -> web.Response:
        problems = dialog_problems(request[BODY])
        if problems:
            return _error(400, "api.dialog.open.invalid", "; ".join(problems))
        self.dialogs.append(request[BODY])
        return _json({"status": "OK"})

    async def _channel_posts(self, request: web.Request) -> web.Response:
        channel = self.channels.get(request.match_info["channel_id"])
        if channel is None:
            return _error(404, "app.channel.get.existing.app_error", "Unable to find channel.")
        readable = channel["type"] == "O" and self.bot["id"] in self.team_members
        if not readable and self.bot["id"] not in self.members[channel["id"]]:
            return _error(403, "api.context.permissions.app_error", "No permission.")
        query = request.query
        try:
            since = int(query.get("since") or 0)
            page = int(query.get("page") or 0)
            per_page = int(query.get("per_page") or POSTS_PER_PAGE)
        except ValueError:
            return _error(400, "api.context.invalid_url_param.app_error", "Invalid parameter.")
        if page < 0 or per_page < 0:
            return _error(400, "api.context.invalid_url_param.app_error", "Invalid parameter.")
        newest = sorted(
            [p for p in self.posts.values() if p["channel_id"] == channel["id"]],
            key=lambda p: (p["create_at"], self._arrival.get(p["id"], 0)),
            reverse=True,
        )
        if since > 0:  # store.GetPostsSince: UpdateAt > since, deleted posts too
            chosen = [p for p in newest if p["update_at"] > since][:POSTS_SINCE_MAX]
        else:  # store.GetPostsPage: the live posts, newest first
            per_page = min(per_page, POSTS_PER_PAGE_MAX)
            live = [p for p in newest if not p["delete_at"]]
            chosen = live[page * per_page : (page + 1) * per_page]
        posts = {p["id"]: p for p in chosen}
        return _json({"order": [p["id"] for p in chosen], "posts": posts})

    def _now(self) -> int:
        return next(_millis) if self.now_millis is None else self.now_millis

    def _new_post(self, user_id: str, channel_id: str, message: str) -> dict[str, Any]:
        now = self._now()
        post = {
            "id": new_id(),
            "create_at": now,
            "update_at": now,
            "edit_at": 0,
            "delete_at": 0,
            "is_pinned": False,
            "user_id": user_id,
            "channel_id": channel_id,
            "root_id": "",
            "original_id": "",
            "message": message,
            "type": "",
            "props": {},
            "hashtags": "",
            "pending_post_id": "",
        }
        self.posts[post["id"]] = post
        self._arrival[post["id"]] = len(self._arrival)
        return post

    # -- websocket ------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        self.websocket_queries.append(request.query_string)
        auth = request.headers.get("Authorization")
        self.upgrade_auth.append(auth)
        if self.websocket_refusals > 0:
            self.websocket_refusals -= 1
            return _error(503, "peer.unavailable", "Try again later.")
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        connection: _Connection | None = None
        if auth == f"Bearer {TOKEN}":
            connection = await self._register(socket, request.query)
        # A bad token on the upgrade is no error (the route does not require a session):
        # the socket is simply not authenticated, gets nothing and is closed when nothing
        # authenticates it in time (the server's authTicker).
        while not socket.closed:
            timeout = self.auth_window if connection is None else None
            try:
                message = await asyncio.wait_for(socket.receive(), timeout)
            except TimeoutError:
                await socket.close()
                break
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                break
            if message.type is not WSMsgType.TEXT:
                continue
            frame = json.loads(message.data)
            if frame.get("action") != "authentication_challenge" or connection is not None:
                continue  # a challenge on an authenticated connection is ignored, unanswered
            if frame.get("data", {}).get("token") != TOKEN:
                # The server answers a bad token by closing: no FAIL reply.
                await socket.close()
                break
            await socket.send_str(json.dumps({"status": "OK", "seq_reply": frame.get("seq")}))
            # Authenticated only now: always a new connection (no resume), with hello.
            connection = await self._register(socket, {})
        if connection is not None and connection.socket is socket:
            connection.socket = None  # inactive: events are queued for a resume
        return socket

    async def _register(self, socket: web.WebSocketResponse, query: Any) -> _Connection:
        """A hub registration: resume the connection named in the query, or start a new one
        whose first frame is `hello`."""
        previous = self._connections.get(query.get("connection_id", ""))
        if previous is not None and previous.socket is None and "sequence_number" in query:
            previous.socket = socket
            self.resumes += 1
            await self._replay(previous, int(query["sequence_number"]))
            await self._logged_in()
            return previous
        connection = _Connection(new_id(), socket)
        self._connections[connection.id] = connection
        hello = {"connection_id": connection.id, "server_version": "9.11"}
        await self._send(connection, "hello", hello)
        await self._logged_in()
        return connection

    async def _logged_in(self) -> None:
        async with self._login_changed:
            self.logins += 1
            self._login_changed.notify_all()

    async def _replay(self, connection: _Connection, sequence: int) -> None:
        for frame in [f for f in connection.queued if f["seq"] >= sequence]:
            if connection.socket is not None:
                await connection.socket.send_str(json.dumps(frame))
        connection.queued.clear()

    async def _send(
        self, connection: _Connection, event: str, data: dict[str, Any], channel_id: str = ""
    ) -> None:
        frame = {
            "event": event,
            "data": data,
            "broadcast": {
                "omit_users": None,
                "user_id": "",
                "channel_id": channel_id,
                "team_id": "",
            },
            "seq": next(connection.seq),
        }
        if connection.socket is None or connection.socket.closed:
            # The server's dead queue (model.DeadQueueSize), replayed on resume.
            connection.queued = [*connection.queued, frame][-DEAD_QUEUE_SIZE:]
            return
        await connection.socket.send_str(json.dumps(frame))

    async def _broadcast(self, event: str, data: dict[str, Any], channel_id: str) -> None:
        for connection in list(self._connections.values()):
            await self._send(connection, event, data, channel_id)

    async def wait_logins(self, count: int) -> None:
        async with self._login_changed:
            # The timeout only turns a hang into a failure; passing tests never reach it.
            await asyncio.wait_for(self._login_changed.wait_for(lambda: self.logins >= count), 10)

    async def drop_sockets(self) -> None:
        """Close every websocket (a network blip: the connections stay resumable)."""
        for connection in list(self._connections.values()):
            socket, connection.socket = connection.socket, None
            if socket is not None:
                await socket.close()

    def forget_connections(self) -> None:
        """Drop the resumable state (a server restart): the next connect is a new one."""
        self._connections.clear()

    @property
    def socket_count(self) -> int:
        return sum(c.socket is not None and not c.socket.closed for c in self._connections.values())

    # -- a user's side: messages, reactions, buttons, dialogs ------------------------------

    async def user_posts(self, username: str, channel_id: str, message: str) -> dict[str, Any]:
        post = self._new_post(self.user(username)["id"], channel_id, message)
        await self.send_event("posted", post)
        return post

    async def send_event(self, event: str, post: dict[str, Any]) -> None:
        """Broadcast a post event (again, to play a duplicated delivery)."""
        data: dict[str, Any] = {"post": json.dumps(post)}
        if event == "posted":
            data.update(channel_type="O", sender_name="@" + self.users[post["user_id"]]["username"])
        await self._broadcast(event, data, post["channel_id"])

    async def user_edits(self, post_id: str, message: str) -> None:
        post = self.posts[post_id]
        now = self._now()
        post.update(message=message, edit_at=now, update_at=now)
        await self.send_event("post_edited", post)

    async def user_deletes(self, post_id: str) -> None:
        post = self.posts[post_id]  # soft-deleted, as the server keeps it
        now = self._now()
        post.update(delete_at=now, update_at=now)
        await self.send_event("post_deleted", post)

    async def user_reacts(self, username: str, post_id: str, emoji: str) -> None:
        reaction = {
            "user_id": self.user(username)["id"],
            "post_id": post_id,
            "emoji_name": emoji,
            "create_at": next(_millis),
        }
        channel_id = self.posts[post_id]["channel_id"]
        await self._broadcast("reaction_added", {"reaction": json.dumps(reaction)}, channel_id)

    async def click(
        self, bot: httpx.AsyncClient, username: str, post_id: str, button: str
    ) -> httpx.Response:
        """Press the button named `button` on a post, as Mattermost does: POST the action's
        integration URL, then apply the answer's `update` to the post."""
        post = self.posts[post_id]
        channel = self.channels[post["channel_id"]]
        action = next(
            a
            for attachment in post["props"]["attachments"]
            for a in attachment.get("actions", [])
            if a["name"] == button
        )
        user = self.user(username)
        if channel["type"] in ("D", "G") and user["id"] not in self.members[channel["id"]]:
            # api4 doPostAction: the presser must be able to read the post's channel.
            return httpx.Response(403, json={"id": "api.context.permissions.app_error"})
        request = {
            "user_id": user["id"],
            "user_name": username,
            "channel_id": channel["id"],
            "channel_name": channel["name"],
            "team_id": self.team["id"],
            "team_domain": self.team["name"],
            "post_id": post_id,
            "trigger_id": new_id(),
            "type": "button",
            "data_source": "",
            "context": action["integration"]["context"],
        }
        path = urlsplit(action["integration"]["url"]).path
        self.action_requests.append((path, request))
        response = await bot.post(path, json=request)
        if response.status_code == 200:
            answer = response.json()
            self.action_replies.append(answer)
            if answer.get("update"):
                post.update(
                    {k: v for k, v in answer["update"].items() if k in ("message", "props")}
                )
        return response

    async def execute_command(
        self,
        bot: httpx.AsyncClient,
        username: str,
        channel_id: str,
        text: str,
        *,
        token: str = COMMAND_TOKEN,
        path: str = "/mattermost/command",
    ) -> httpx.Response:
        """Run `/incident text` as the server does (app/command.go): POST the form with
        `Authorization: Token`, then treat the answer as Mattermost does. A non-200 answer's
        body is dropped and the user sees only that the command failed; an in-channel answer
        is posted under the invoking user's id with props.from_webhook "true" (and broadcast
        like any post); an ephemeral one reaches only the user."""
        form = slash_command(self, username, channel_id, text, token)
        response = await bot.post(
            path,
            data=form,
            headers={"Accept": "application/json", "Authorization": f"Token {token}"},
        )
        user_id = form["user_id"]
        if response.status_code != 200:
            self.command_failures.append(response.status_code)
            shown = f"Command with a trigger of '/incident' failed. Status {response.status_code}"
            self.ephemeral.append(
                {"user_id": user_id, "post": {"channel_id": channel_id, "message": shown}}
            )
            return response
        if response.headers.get("content-type", "").startswith("application/json"):
            answer = response.json()
        else:
            answer = {"text": response.text}
        for part in [answer, *(answer.get("extra_responses") or [])]:
            await self._command_post(user_id, channel_id, part)
        return response

    async def _command_post(self, user_id: str, channel_id: str, answer: dict[str, Any]) -> None:
        text = str(answer.get("text") or "")
        if not text and not answer.get("attachments"):
            return
        if answer.get("response_type") != "in_channel":
            self.ephemeral.append(
                {"user_id": user_id, "post": {"channel_id": channel_id, "message": text}}
            )
            return
        post = self._new_post(user_id, answer.get("channel_id") or channel_id, text)
        post["props"] = {**(answer.get("props") or {}), "from_webhook": "true"}
        await self.send_event("posted", post)

    async def submit_dialog(
        self,
        bot: httpx.AsyncClient,
        username: str,
        channel_id: str,
        values: dict[str, Any],
        *,
        dialog: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Submit the last opened dialog (or `dialog`) with values, as Mattermost does."""
        opened = dialog or self.dialogs[-1]
        request = {
            "type": "dialog_submission",
            "callback_id": opened["dialog"]["callback_id"],
            "state": opened["dialog"]["state"],
            "user_id": self.user(username)["id"],
            "channel_id": channel_id,
            "team_id": self.team["id"],
            "submission": values,
            "cancelled": False,
        }
        return await bot.post(urlsplit(opened["url"]).path, json=request)


PROPS_MAX_RUNES = 760_000  # model.PostPropsMaxUserRunes
ACTION_STYLES = {"", "default", "primary", "success", "good", "warning", "danger"}


def props_problems(props: dict[str, Any]) -> list[str]:
    """What Post.IsValid and PostAction.IsValid find wrong with a post's props."""
    problems = []
    if len(json.dumps(props, ensure_ascii=False)) > PROPS_MAX_RUNES:
        problems.append(f"props longer than {PROPS_MAX_RUNES} runes")
    for attachment in props.get("attachments") or []:
        for action in attachment.get("actions") or []:
            url = (action.get("integration") or {}).get("url", "")
            if not action.get("name"):
                problems.append("action must have a name")
            if action.get("type") not in ("button", "select"):
                problems.append(f"invalid action type {action.get('type')!r}")
            if action.get("style", "") not in ACTION_STYLES:
                problems.append(f"invalid style {action.get('style')!r}")
            if not re.match(r"^https?://[^/\s]+", url) and not url.startswith("/plugins/"):
                problems.append(f"action must have a valid integration URL, got {url!r}")
    return problems


DIALOG_TITLE_MAX = 24  # model.DialogTitleMaxLength
DIALOG_LIMITS = {  # model/integration_action.go: DialogElement*MaxLength
    "display_name": 24,
    "name": 300,
    "help_text": 150,
}
DIALOG_VALUE_LIMITS = {"text": 150, "textarea": 3000, "select": 3000, "bool": 150}
TEXT_SUBTYPES = {"", "text", "email", "number", "tel", "url", "password"}


def dialog_problems(request: dict[str, Any]) -> list[str]:
    """What the server's OpenDialogRequest.IsValid finds wrong with a dialog (empty: valid).

    Older servers refuse such a dialog with 400; newer ones log a warning and show a form that
    misbehaves. The peer refuses, so a test notices either way."""
    problems = []
    if not request.get("url"):
        problems.append("empty URL")
    if not request.get("trigger_id"):
        problems.append("empty trigger id")
    dialog = request.get("dialog") or {}
    title = dialog.get("title") or ""
    if not title or len(title) > DIALOG_TITLE_MAX:
        problems.append(f"invalid dialog title {title!r}")
    names: set[str] = set()
    for element in dialog.get("elements") or []:
        name = element.get("name", "")
        if name in names:
            problems.append(f"duplicate dialog element {name!r}")
        names.add(name)
        problems.extend(f"{name!r} field: {p}" for p in _element_problems(element))
    return problems


def _element_problems(e: dict[str, Any]) -> list[str]:
    problems = []
    min_length, max_length = int(e.get("min_length", 0)), int(e.get("max_length", 0))
    if min_length < 0 or min_length > max_length:
        problems.append(f"min length {min_length} against max length {max_length}")
    for key, limit in DIALOG_LIMITS.items():
        value = str(e.get(key, ""))
        if key in ("display_name", "name") and not value:
            problems.append(f"{key} cannot be empty")
        if len(value) > limit:
            problems.append(f"{key} cannot be longer than {limit} characters, got {len(value)}")
    kind = e.get("type")
    if kind not in (*DIALOG_VALUE_LIMITS, "radio"):
        return [*problems, f"invalid element type: {kind!r}"]
    if kind in DIALOG_VALUE_LIMITS:
        limit = DIALOG_VALUE_LIMITS[kind]
        for key in ("default", "placeholder") if kind != "bool" else ("placeholder",):
            if len(str(e.get(key, ""))) > limit:
                problems.append(f"{key} cannot be longer than {limit} characters")
    if kind in ("text", "textarea") and e.get("subtype", "") not in TEXT_SUBTYPES:
        problems.append(f"invalid subtype {e.get('subtype')!r}")
    if kind == "bool" and str(e.get("default", "")) not in ("", "true", "false"):
        problems.append("invalid default of bool")
    if kind in ("select", "radio") and not e.get("data_source"):
        values = {o.get("value") for o in e.get("options") or []}
        if e.get("default") and e["default"] not in values:
            problems.append(f"default value {e['default']!r} doesn't exist in options")
        if any(not o.get("text") or not o.get("value") for o in e.get("options") or []):
            problems.append("an option needs a text and a value")
    return problems


def slash_command(
    peer: MattermostPeer,
    username: str,
    channel_id: str,
    text: str,
    token: str = COMMAND_TOKEN,
) -> dict[str, str]:
    """The form Mattermost posts for `/incident text` (a custom slash command)."""
    channel = peer.channels[channel_id]
    return {
        "channel_id": channel_id,
        "channel_name": channel["name"],
        "command": "/incident",
        "response_url": f"{peer.url}/hooks/commands/{new_id()}",
        "team_domain": peer.team["name"],
        "team_id": peer.team["id"],
        "text": text,
        "token": token,
        "trigger_id": new_id(),
        "user_id": peer.user(username)["id"],
        "user_name": username,
    }


@asynccontextmanager
async def running_peer(**kwargs: Any) -> AsyncIterator[MattermostPeer]:
    peer = MattermostPeer(**kwargs)
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


class FakeSleep:
    """Records the delays asked for and returns at once: backoff without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._called = asyncio.Condition()

    async def __call__(self, seconds: float) -> None:
        async with self._called:
            self.delays.append(seconds)
            self._called.notify_all()

    async def wait_calls(self, count: int) -> None:
        async with self._called:
            await asyncio.wait_for(self._called.wait_for(lambda: len(self.delays) >= count), 10)


def mattermost_chat(peer: MattermostPeer, **kwargs: Any) -> Any:
    """A MattermostChat against the peer (retries sleep through a FakeSleep)."""
    from bot.chat.mattermost.chat import MattermostChat

    kwargs.setdefault("sleep", FakeSleep())
    kwargs.setdefault("public_url", "http://warroom.test")
    return MattermostChat.from_settings(peer.url, TOKEN, peer.team["name"], **kwargs)
