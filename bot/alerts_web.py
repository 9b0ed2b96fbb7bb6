"""Alert webhooks at the edge: `POST /alerts/alertmanager` (Alertmanager's webhook, version 4)
and `POST /alerts/grafana` (Grafana alerting's webhook), translated to the core's
Notification and handed to AlertIntake.

Both take `Authorization: Bearer WARROOM_ALERTS_TOKEN` (Alertmanager's
`http_config.authorization`), compared in constant time: anything else is 401. A body over
MAX_BODY is 413 before it is read; a malformed one is 400 saying what is wrong; an unknown
version is refused with the version we read. Nothing is recorded for a refused request.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.core.alerts.intake import AlertIntake
from bot.core.alerts.model import Alert, AlertStatus, Notification

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024  # a group of several thousand alerts fits
ALERTMANAGER_VERSION = "4"
GRAFANA_VERSION = "1"
_ZERO_TIME_YEAR = 1  # Go's zero time ("0001-01-01T00:00:00Z") means "not set"


class _Model(BaseModel):
    # Vendors add fields over time: ignore what we do not read.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class _Alert(_Model):
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(None, alias="endsAt")
    generator_url: str | None = Field(None, alias="generatorURL")
    fingerprint: str = Field(min_length=1)
    silence_url: str | None = Field(None, alias="silenceURL")  # Grafana


class _Payload(_Model):
    version: str
    receiver: str
    status: Literal["firing", "resolved"]
    alerts: list[_Alert]
    group_labels: dict[str, str] = Field({}, alias="groupLabels")
    common_labels: dict[str, str] = Field({}, alias="commonLabels")
    common_annotations: dict[str, str] = Field({}, alias="commonAnnotations")
    external_url: str | None = Field(None, alias="externalURL")
    group_key: str = Field(alias="groupKey", min_length=1)
    truncated_alerts: int = Field(0, alias="truncatedAlerts")
    # Grafana's additions
    org_id: int | None = Field(None, alias="orgId")
    state: str | None = None
    title: str | None = None
    message: str | None = None


class BadPayload(ValueError):
    """What is wrong with a webhook body, for the 400 answer."""


def _when(value: datetime | None) -> datetime | None:
    if value is None or value.year == _ZERO_TIME_YEAR:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _version_of(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return str(document.get("version")) if isinstance(document, dict) else None


def parse(body: bytes, source: str) -> Notification:
    """An Alertmanager (source "alertmanager") or Grafana ("grafana") webhook body ->
    Notification; BadPayload saying what is wrong."""
    expected = ALERTMANAGER_VERSION if source == "alertmanager" else GRAFANA_VERSION
    try:
        payload = _Payload.model_validate_json(body)
    except ValidationError as error:
        version = _version_of(body)
        if version is not None and version != expected:
            raise BadPayload(_unknown_version(source, version, expected)) from None
        raise BadPayload(_describe(error)) from None
    if payload.version != expected:
        raise BadPayload(_unknown_version(source, payload.version, expected))
    alerts = tuple(
        Alert(
            a.fingerprint,
            AlertStatus(a.status),
            a.labels,
            a.annotations,
            _when(a.starts_at) or datetime.now(UTC),
            _when(a.ends_at),
            a.generator_url or None,
            a.silence_url or None,
        )
        for a in payload.alerts
    )
    extra: dict[str, Any] = {}
    if source == "grafana":
        extra = {"orgId": payload.org_id, "state": payload.state, "message": payload.message}
    return Notification(
        source=source,
        receiver=payload.receiver,
        status=AlertStatus(payload.status),
        group_key=payload.group_key,
        alerts=alerts,
        group_labels=payload.group_labels,
        common_labels=payload.common_labels,
        common_annotations=payload.common_annotations,
        external_url=payload.external_url or None,
        truncated_alerts=payload.truncated_alerts,
        title=payload.title if source == "grafana" else None,
        extra={k: v for k, v in extra.items() if v is not None},
    )


def _unknown_version(source: str, got: str, expected: str) -> str:
    vendor = "Alertmanager" if source == "alertmanager" else "Grafana"
    return (
        f"unsupported webhook version {got!r}: warroom reads {vendor}'s webhook "
        f"version {expected!r} at /alerts/{source}"
    )


def _describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors()[:3]:
        where = "".join(
            f"[{step}]" if isinstance(step, int) else f".{step}" for step in problem["loc"]
        ).lstrip(".")
        parts.append(f"{where or 'body'}: {problem['msg']}")
    more = len(error.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more problems)" if more > 0 else "")


def authorized(header: str | None, token: str) -> bool:
    """`Authorization: Bearer TOKEN`, compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.encode()
    )


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None when it is over `limit` (checked on the header before reading, and
    while reading when there is no header)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def alert_routes(intake: AlertIntake, token: str, *, max_body: int = MAX_BODY) -> list[BaseRoute]:
    async def receive(request: Request, source: str) -> Response:
        if not authorized(request.headers.get("authorization"), token):
            return JSONResponse(
                {"error": "unauthorized: send Authorization: Bearer WARROOM_ALERTS_TOKEN"},
                status_code=401,
            )
        try:
            body = await _read_body(request, max_body)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            return JSONResponse(
                {"error": f"body over {max_body} bytes: split the group (max_alerts)"},
                status_code=413,
            )
        try:
            notification = parse(body, source)
        except BadPayload as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        try:
            outcome = await intake.handle(notification)
        except Exception:
            # Alertmanager retries a failed delivery; what was recorded stays recorded and
            # the retry records only the rest (timeline entries are keyed).
            log.exception("alert notification from %s failed", source)
            return JSONResponse({"error": "could not handle the alerts; retry"}, status_code=503)
        return JSONResponse(
            {
                "group": outcome.group_id,
                "action": outcome.action,
                "incident": outcome.incident,
                "recorded": outcome.recorded,
            }
        )

    async def alertmanager(request: Request) -> Response:
        return await receive(request, "alertmanager")

    async def grafana(request: Request) -> Response:
        return await receive(request, "grafana")

    return [
        Route("/alerts/alertmanager", alertmanager, methods=["POST"]),
        Route("/alerts/grafana", grafana, methods=["POST"]),
    ]
