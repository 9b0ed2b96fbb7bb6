"""Requests that are not worth reading: bodies over the limit get 413 before they are read
into memory, whatever route they are for (Slack, Mattermost, alerts).

A body with a Content-Length over the limit is refused on the header alone; a chunked one is
read up to the limit and refused as soon as it passes it. Either way one log line says so.
"""

from __future__ import annotations

import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # 1 MiB: a Slack or Mattermost request is a few KiB


class BodyLimit:
    """ASGI middleware: 413 for bodies over `limit` bytes, 400 for a bad Content-Length."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared == -1:
            await _refuse(send, 400, "bad Content-Length header")
            log.warning("refused %s: bad Content-Length", scope.get("path"))
            return
        if declared is not None:
            if declared > self.limit:
                log.warning(
                    "refused %s: body of %d bytes is over the %d-byte limit",
                    scope.get("path"),
                    declared,
                    self.limit,
                )
                await _refuse(send, 413, f"request body over {self.limit} bytes")
                return
            # The server holds the body to its Content-Length: nothing more can come.
            await self.app(scope, receive, send)
            return
        # No length given (chunked): read up to the limit, then hand the body on.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                log.warning(
                    "refused %s: chunked body over the %d-byte limit", scope.get("path"), self.limit
                )
                await _refuse(send, 413, f"request body over {self.limit} bytes")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([body], receive), send)


def _content_length(scope: Scope) -> int | None:
    """The declared length; None when absent, -1 when it is not a number."""
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return -1
            return length if length >= 0 else -1
    return None


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()  # the disconnect, when it comes
        return {"type": "http.disconnect"}

    return receive


async def _refuse(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
