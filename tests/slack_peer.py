"""A local stand-in for Slack: the Web API, response_url, file upload URLs and the Socket Mode
websocket, on 127.0.0.1. It records every call and can be told to fail the next ones.

Reusable outside the Slack tests (the cross-platform Chat contract suite):

    async with SlackPeer() as peer:
        chat = make_slack_chat(peer)
        ...
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.chat.slack.chat import SlackChat, make_client

BOT_TOKEN = "xoxb-test-token"
BOT_USER_ID = "U0BOT00001"
BOT_ID = "B0BOT00001"
TEAM_ID = "T0TEAM0001"
MAX_BLOCKS = 50  # per message
MAX_TEXT = 40_000  # a message's text


_TYPED_LINK = re.compile(r"https?://[^\s<>]+")
_TYPED_MENTION = re.compile(r"(?<![\w<])([@#])([a-z0-9][a-z0-9._-]*)")


def slack_escape(
    typed: str, users: dict[str, str] | None = None, channels: dict[str, str] | None = None
) -> str:
    """Text as Slack sends it for what a person typed, with should_escape on (slash commands)
    or always (message events): `&`, `<`, `>` as entities, then the people and channels the
    client resolved (name -> id) as `<@U123|name>` / `<#C123|name>`, and links as `<url>`;
    `@here`, `@channel` and `@everyone` as `<!here>` and so on."""
    text = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _TYPED_LINK.sub(lambda m: f"<{m.group(0)}>", text)
    users, channels = users or {}, channels or {}

    def mention(match: re.Match[str]) -> str:
        sigil, name = match.groups()
        if sigil == "@" and name in ("here", "channel", "everyone"):
            return f"<!{name}>"
        if sigil == "@" and name in users:
            return f"<@{users[name]}|{name}>"
        if sigil == "#" and name in channels:
            return f"<#{channels[name]}|{name}>"
        return match.group(0)

    return _TYPED_MENTION.sub(mention, text)


def block_problems(blocks: Any) -> list[str]:
    """What Slack refuses in a message's blocks (empty: none), as slack_sdk's own models
    check them: every block parsed, validated and unchanged by the round trip (a key the model
    does not know is one Slack does not know either)."""
    if not isinstance(blocks, list):
        return ["blocks must be a list"]
    problems = [f"no more than {MAX_BLOCKS} items allowed"] if len(blocks) > MAX_BLOCKS else []
    for index, block in enumerate(blocks):
        try:
            parsed = Block.parse(block)
            if parsed is None:
                raise ValueError(f"unknown block {block!r}")
            parsed.validate_json()
            if parsed.to_dict() != block:
                raise ValueError(f"keys Slack does not know in {block!r}")
        except Exception as error:
            problems.append(f"{error} [json-pointer:/blocks/{index}]")
    return problems


def view_problems(view: Any) -> list[str]:
    """What Slack refuses in a modal (empty: none), checked with slack_sdk's View."""
    try:
        parsed = View(**view)
        parsed.validate_json()
        if parsed.to_dict() != view:
            raise ValueError("keys Slack does not know in the view")
    except Exception as error:
        return [str(error)]
    return []


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    outcome: str = "ok"  # ok, or the error / HTTP status the peer answered with
    started: float = field(default_factory=time.perf_counter)  # when the request arrived
    answered: float | None = None  # when the answer was sent (perf_counter)


@dataclass
class Failure:
    status: int = 200
    error: str | None = None
    retry_after: int | None = None
    after: bool = False  # do the work, then answer with the failure (a lost response)
    delay: float = 0.0  # do the work, then wait this long before answering (a client timeout)


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    edits: int = 0
    metadata: dict[str, Any] | None = None


@dataclass
class RecordingSleep:
    """The retry policy's sleep, recorded instead of slept."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


class SlackPeer:
    def __init__(self, port: int = 0) -> None:
        self.port = port  # 0: any free port
        self.calls: list[Call] = []
        self.responses: list[dict[str, Any]] = []  # what was posted to response_urls
        self.channels: dict[str, dict[str, Any]] = {}  # id -> channel
        self.messages: dict[tuple[str, str], Message] = {}
        self.uploads: dict[str, bytes] = {}  # file id -> bytes sent to its upload URL
        self.shared: list[tuple[str, str, str | None]] = []  # (channel, file id, title)
        self.filenames: dict[str, str] = {}  # file id -> filename asked for
        self.pins: set[tuple[str, str]] = set()  # (channel, ts)
        self.socket_acks: list[dict[str, Any]] = []
        self.chats: list[SlackChat] = []
        # The client's (host, port) of every Web API and response_url request: one per
        # connection the bot opened, so connection reuse shows as repeats.
        self.connections: list[tuple[str, int]] = []
        # Seconds each Web API call takes before it is answered (Slack's own latency).
        self.latency = 0.0
        self._failures: dict[str, list[Failure]] = {}
        self._holds: dict[str, asyncio.Event] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._socket: web.WebSocketResponse | None = None
        self._socket_ready = asyncio.Event()
        self._acked = asyncio.Condition()
        self._changed = asyncio.Condition()

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> SlackPeer:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/respond/{token}", self._respond)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket_handler)
        app.router.add_get("/_peer/stats", self._stats)  # for bench/ in another process
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        for chat in self.chats:  # SlackChats made by make_slack_chat pool a session each
            await chat.close()
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> SlackPeer:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.url}/respond/{name}"

    # -- scripting and reading -----------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 200,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        after: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `times` calls of `method` with an error, a 429 or a 5xx; with
        after=True the call takes effect first (Slack did it, the answer got lost). With
        `delay` the call takes effect and is answered normally, but only that many seconds
        later (past a client's timeout)."""
        self._failures.setdefault(method, []).extend(
            Failure(status, error, retry_after, after, delay) for _ in range(times)
        )

    def hold(self, method: str) -> asyncio.Event:
        """Keep calls of `method` waiting until the returned event is set."""
        return self._holds.setdefault(method, asyncio.Event())

    def calls_to(self, method: str, *, ok_only: bool = True) -> list[dict[str, Any]]:
        return [
            c.params
            for c in self.calls
            if c.method == method and (c.outcome == "ok" or not ok_only)
        ]

    def channel_named(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.channels.values() if c["name"] == name), None)

    def add_channel(
        self, name: str, *, private: bool = False, members: tuple[str, ...] = ()
    ) -> str:
        """A channel that exists already (made by people unless members has the bot)."""
        channel_id = f"C{next(self._ids):08d}"
        self.channels[channel_id] = {
            "id": channel_id,
            "name": name,
            "is_private": private,
            "members": list(members),
            "topic": "",
            "purpose": "",
        }
        return channel_id

    def texts(self, channel: str) -> list[str]:
        """The current text of every message in a channel, oldest first."""
        return [m.text for m in self.messages.values() if m.channel == channel]

    # -- HTTP handlers ---------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(dict(await request.post()))
        for key in ("blocks", "files", "view", "metadata"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") or params.get("token")
        call = Call(method, params, token)
        self.calls.append(call)
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            return await self._answer(request, method, params, call)
        finally:
            call.answered = time.perf_counter()

    async def _answer(
        self, request: web.Request, method: str, params: dict[str, Any], call: Call
    ) -> web.Response:
        self.connections.append(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        if method in self._holds:
            await self._holds[method].wait()
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        pending = self._failures.get(method)
        if pending:
            failure = pending.pop(0)
            if failure.delay:
                body = handler(params) if handler else {"ok": True}
                call.outcome = "late"
                await asyncio.sleep(failure.delay)
                return web.json_response(body)
            if failure.after and handler:
                handler(params)
            if failure.status == 429:
                call.outcome = "429"
                headers = {"Retry-After": str(failure.retry_after or 1)}
                return web.json_response(
                    {"ok": False, "error": "ratelimited"}, status=429, headers=headers
                )
            if failure.status >= 500:
                call.outcome = str(failure.status)
                return web.Response(status=failure.status, text="upstream trouble")
            call.outcome = failure.error or "error"
            return web.json_response({"ok": False, "error": failure.error})
        body = handler(params) if handler else {"ok": True}
        if not body.get("ok"):
            call.outcome = body.get("error", "error")
        async with self._changed:
            self._changed.notify_all()
        return web.json_response(body)

    async def _stats(self, _: web.Request) -> web.Response:
        return web.json_response({"calls": len(self.calls), "responses": len(self.responses)})

    async def _respond(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.connections.append(request.transport.get_extra_info("peername"))  # type: ignore[union-attr]
        pending = self._failures.get("response_url")
        if pending:  # peer.fail("response_url", status=429 | 500 | 404)
            failure = pending.pop(0)
            headers = {"Retry-After": str(failure.retry_after or 1)}
            return web.Response(status=failure.status, text="no", headers=headers)
        self.responses.append({"url": request.match_info["token"], **body})
        return web.Response(text="ok")

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["file"]
        self.uploads[request.match_info["file_id"]] = upload.file.read()  # type: ignore[union-attr]
        return web.Response(text=f"OK - {len(self.uploads[request.match_info['file_id']])}")

    # -- Web API methods ---------------------------------------------------------------------------

    def _auth_test(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "team_id": TEAM_ID}

    def _conversations_create(self, p: dict[str, Any]) -> dict[str, Any]:
        if self.channel_named(p["name"]):
            return {"ok": False, "error": "name_taken"}
        private = str(p.get("is_private", "")).lower() in ("true", "1")
        channel_id = self.add_channel(p["name"], private=private, members=(BOT_USER_ID,))
        return {"ok": True, "channel": self.channels[channel_id]}

    def _users_conversations(self, p: dict[str, Any]) -> dict[str, Any]:
        # One channel per page, so that callers' pagination is exercised.
        mine = [c for c in self.channels.values() if BOT_USER_ID in c["members"]]
        start = int(p.get("cursor") or 0)
        page = mine[start : start + 1]
        more = start + 1 < len(mine)
        return {
            "ok": True,
            "channels": page,
            "response_metadata": {"next_cursor": str(start + 1) if more else ""},
        }

    def _conversations_invite(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(p["channel"])
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        users = str(p["users"]).split(",")
        if all(user in channel["members"] for user in users):
            return {"ok": False, "error": "already_in_channel"}
        channel["members"].extend(u for u in users if u not in channel["members"])
        return {"ok": True, "channel": channel}

    def _conversations_setTopic(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._set(p, "topic")

    def _conversations_setPurpose(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._set(p, "purpose")

    def _set(self, p: dict[str, Any], what: str) -> dict[str, Any]:
        channel = self.channels.get(p["channel"])
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        channel[what] = p[what]
        return {"ok": True, "channel": channel}

    def _pins_add(self, p: dict[str, Any]) -> dict[str, Any]:
        pin = (p["channel"], p["timestamp"])
        if pin not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        if pin in self.pins:
            return {"ok": False, "error": "already_pinned"}
        self.pins.add(pin)
        return {"ok": True}

    def _conversations_open(self, p: dict[str, Any]) -> dict[str, Any]:
        # As Slack: the bot's direct-message channel with the user (D...), the same each time.
        users = str(p.get("users", ""))
        if not users or "," in users:
            return {"ok": False, "error": "invalid_arguments" if not users else "not_implemented"}
        if not users.startswith(("U", "W")):
            return {"ok": False, "error": "user_not_found"}
        existing = next((c for c in self.channels.values() if c.get("user") == users), None)
        if existing is None:
            channel_id = f"D{users[1:]}"
            self.channels[channel_id] = {
                "id": channel_id, "is_im": True, "user": users, "members": [users, BOT_USER_ID],
            }  # fmt: skip
            existing = self.channels[channel_id]
        return {"ok": True, "channel": {"id": existing["id"]}}

    def _message_refused(self, p: dict[str, Any]) -> dict[str, Any] | None:
        if "blocks" in p:
            problems = block_problems(p["blocks"])
            if problems:
                return {
                    "ok": False,
                    "error": "invalid_blocks",
                    "response_metadata": {"messages": problems},
                }
        if len(str(p.get("text", ""))) > MAX_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        if not p.get("text") and not p.get("blocks"):
            return {"ok": False, "error": "no_text"}
        return None

    def archive(self, channel_id: str) -> None:
        """Archive a channel (as a person would): Slack refuses posts into it from then on."""
        self.channels[channel_id]["is_archived"] = True

    def _chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        if (self.channels.get(p["channel"]) or {}).get("is_archived"):
            return {"ok": False, "error": "is_archived"}
        refused = self._message_refused(p)
        if refused:
            return refused
        ts = f"{1_700_000_000 + next(self._ids)}.000100"
        self.messages[(p["channel"], ts)] = Message(
            p["channel"], ts, p.get("text", ""), p.get("blocks"), metadata=p.get("metadata")
        )
        return {"ok": True, "channel": p["channel"], "ts": ts, "message": {"text": p.get("text")}}

    def _conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        # Newest first, as Slack answers; metadata only when asked for.
        if p["channel"] not in self.channels and not any(
            m.channel == p["channel"] for m in self.messages.values()
        ):
            return {"ok": False, "error": "channel_not_found"}
        with_metadata = str(p.get("include_all_metadata", "")).lower() in ("true", "1")
        found = [m for m in self.messages.values() if m.channel == p["channel"]][::-1]
        found = found[: int(p.get("limit") or 100)]
        return {
            "ok": True,
            "messages": [
                {"type": "message", "ts": m.ts, "text": m.text}
                | ({"metadata": m.metadata} if with_metadata and m.metadata else {})
                for m in found
            ],
            "has_more": False,
        }

    def _chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((p["channel"], p["ts"]))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        refused = self._message_refused(p)
        if refused:
            return refused
        message.text = p.get("text", message.text)
        message.blocks = p.get("blocks", message.blocks)
        message.edits += 1
        return {"ok": True, "channel": p["channel"], "ts": p["ts"]}

    def _chat_postEphemeral(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": f"{1_700_000_000 + next(self._ids)}.000200"}

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        problems = view_problems(p.get("view"))
        if problems:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": problems},
            }
        return {"ok": True, "view": {"id": f"V{next(self._ids):08d}"}}

    def _files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):08d}"
        self.filenames[file_id] = str(p.get("filename", ""))
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        files = p.get("files") or []
        missing = [f["id"] for f in files if f["id"] not in self.uploads]
        if missing:
            return {"ok": False, "error": "file_not_found"}
        self.shared.extend((p.get("channel_id", ""), f["id"], f.get("title")) for f in files)
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _apps_connections_open(self, _: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}

    # -- Socket Mode -------------------------------------------------------------------------------

    async def _socket_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._socket = ws
        await ws.send_json({"type": "hello", "num_connections": 1})
        self._socket_ready.set()
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                async with self._acked:
                    self.socket_acks.append(json.loads(message.data))
                    self._acked.notify_all()
        return ws

    async def socket_send(self, envelope: dict[str, Any]) -> dict[str, Any]:
        """Send an envelope over Socket Mode and wait for the app's acknowledgement."""
        await self._socket_ready.wait()
        assert self._socket is not None
        await self._socket.send_json(envelope)
        async with self._acked:
            await self._acked.wait_for(
                lambda: any(
                    a.get("envelope_id") == envelope["envelope_id"] for a in self.socket_acks
                )
            )
        return next(a for a in self.socket_acks if a.get("envelope_id") == envelope["envelope_id"])

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait (no polling, no sleep) until a Web API call makes predicate true."""
        async with self._changed:
            await self._changed.wait_for(predicate)


def make_slack_chat(
    peer: SlackPeer, *, sleep: Callable[[float], Awaitable[None]] | None = None
) -> SlackChat:
    """A SlackChat talking to the peer; its retry waits are recorded, never slept."""
    chat = SlackChat(make_client(BOT_TOKEN, peer.api_url), sleep=sleep or RecordingSleep())
    peer.chats.append(chat)
    return chat
