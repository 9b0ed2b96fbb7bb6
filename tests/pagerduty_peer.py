"""A local PagerDuty Events API v2 (`POST /v2/enqueue`) that answers as PagerDuty documents:
202 with status/message/dedup_key, 400 "invalid event" with `errors`, 429 when told to throttle."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")


class PagerDutyPeer:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []  # accepted, in order
        self.requests = 0
        self.throttle = 0  # answer the next N requests with 429
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> PagerDutyPeer:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._enqueue)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/v2/enqueue"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _enqueue(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.throttle:
            self.throttle -= 1
            return web.json_response(
                {
                    "status": "throttle event",
                    "message": "Requests for this service are arriving too quickly. "
                    "Please retry later.",
                },
                status=429,
            )
        try:
            event = json.loads(await request.text())
        except ValueError:
            return self._invalid(["Event object is not valid JSON"])
        errors = self._errors(event)
        if errors:
            return self._invalid(errors)
        self.events.append(event)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": event["dedup_key"]},
            status=202,
        )

    @staticmethod
    def _errors(event: Any) -> list[str]:
        if not isinstance(event, dict):
            return ["Event object is invalid"]
        errors = []
        if len(str(event.get("routing_key", ""))) != 32:
            errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
        if event.get("event_action") not in ACTIONS:
            errors.append(
                "'event_action' is invalid (must be one of trigger, acknowledge, resolve)"
            )
        if event.get("event_action") == "trigger":
            payload = event.get("payload") or {}
            for field in ("summary", "source", "severity"):
                if not payload.get(field):
                    errors.append(f"'payload.{field}' is missing or blank")
            if payload.get("severity") and payload["severity"] not in SEVERITIES:
                errors.append("'payload.severity' is invalid")
        elif not event.get("dedup_key"):
            errors.append("'dedup_key' is missing or blank")
        return errors

    @staticmethod
    def _invalid(errors: list[str]) -> web.Response:
        body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
        return web.json_response(body, status=400)
