"""PagerDuty Events API v2 (`POST /v2/enqueue`): trigger, acknowledge and resolve, one alert
per incident (`dedup_key` warroom-INC-N), routed by the service's or team's routing key.

As PagerDuty documents it: 202 accepted; 400 the event is invalid (never retried: the body's
`errors` say why); 429 too many events at a time and 5xx, retried with backoff; network
errors retried too. All calls go through `PagerDutyEvents.send`, the one retry policy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from bot.core.ports import ExternalPagerError

log = logging.getLogger(__name__)

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
Sleep = Callable[[float], Awaitable[object]]


class PagerDutyEvents:
    def __init__(
        self,
        url: str = EVENTS_URL,
        *,
        sleep: Sleep = asyncio.sleep,
        max_attempts: int = 4,
        backoff: float = 2.0,
        max_delay: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_delay = max_delay
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def event(
        action: str, routing_key: str, dedup_key: str, summary: str, severity: str
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "routing_key": routing_key,
            "event_action": action,
            "dedup_key": dedup_key,
        }
        if action == "trigger":
            body["payload"] = {"summary": summary[:1024], "source": "warroom", "severity": severity}
            body["client"] = "warroom"
        return body

    async def send(
        self, action: str, routing_key: str, dedup_key: str, summary: str, severity: str
    ) -> None:
        body = self.event(action, routing_key, dedup_key, summary, severity)
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            try:
                async with self._session.post(self.url, json=body) as response:
                    status = response.status
                    answer = await _json(response)
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError) as error:
                if last:
                    raise ExternalPagerError(f"cannot reach PagerDuty: {error}") from None
                await self.sleep(self._delay(attempt, None))
                continue
            if status == 202:
                return
            if status == 400:
                errors = "; ".join(str(e) for e in answer.get("errors") or [])
                message = answer.get("message") or "invalid event"
                raise ExternalPagerError(f"HTTP 400 {message}" + (f": {errors}" if errors else ""))
            if (status == 429 or status >= 500) and not last:
                log.warning("pagerduty %s: HTTP %d, retry %d", action, status, attempt)
                await self.sleep(self._delay(attempt, retry_after))
                continue
            raise ExternalPagerError(f"HTTP {status} {answer.get('message') or ''}".strip())
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        try:
            if retry_after:
                return min(float(retry_after), self.max_delay)
        except ValueError:
            pass
        return min(self.backoff * 2 ** (attempt - 1), self.max_delay)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        found = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {}
    return found if isinstance(found, dict) else {}
