"""The alert webhooks over HTTP on the real app (SQLite): bearer auth, limits, bad bodies."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from alert_payloads import alert, grafana, notification

from bot.alerts_web import alert_routes as make_routes
from bot.app import App, add_console, alert_routes, build_app
from bot.chat.console.chat import ConsoleChat
from bot.core.clock import ManualClock
from bot.settings import Settings
from bot.web import build_web_app

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token"


def settings(sqlite_url: str, **extra: object) -> Settings:
    values: dict[str, object] = {
        "database_url": sqlite_url,
        "playbooks": str(ROOT / "playbooks"),
        "catalog": str(ROOT / "catalog.example.yaml"),
        "announce_channel": "alerts",
        "alerts_token": TOKEN,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


@pytest.fixture
async def running(
    sqlite_url: str, clock: ManualClock
) -> AsyncIterator[tuple[App, ConsoleChat, httpx.AsyncClient]]:
    app = await build_app(settings(sqlite_url), clock=clock)
    chat = await add_console(app, lambda line: None)
    web = build_web_app(app.store, app.metrics, alert_routes(app))
    transport = httpx.ASGITransport(app=web)
    async with httpx.AsyncClient(transport=transport, base_url="http://warroom.test") as client:
        yield app, chat, client
    await app.close()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_alertmanager_webhook_declares_and_answers_what_it_did(running) -> None:  # type: ignore[no-untyped-def]
    app, _, client = running
    response = await client.post(
        "/alerts/alertmanager", json=notification([alert()]), headers=auth()
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"group": 1, "action": "declare", "incident": "INC-1", "recorded": 1}
    timeline = await app.store.timeline(1)
    assert "Alert firing: HighErrorRate: Error rate above 5%" in [e.text for e in timeline]


async def test_grafana_webhook(running) -> None:  # type: ignore[no-untyped-def]
    _, chat, client = running
    body = grafana([alert(severity="warning")])
    response = await client.post("/alerts/grafana", json=body, headers=auth())
    assert response.status_code == 200 and response.json()["action"] == "offer"
    [(channel, text)] = chat.posts
    assert channel == "alerts" and "Silence: http://grafana:3000/alerting/silence/new" in text


@pytest.mark.parametrize(
    "headers",
    [{}, auth("wrong"), {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}],
)
async def test_anything_but_the_bearer_token_is_401_and_records_nothing(running, headers) -> None:  # type: ignore[no-untyped-def]
    app, _, client = running
    response = await client.post(
        "/alerts/alertmanager", json=notification([alert()]), headers=headers
    )
    assert response.status_code == 401
    assert await app.store.list_incidents() == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "Invalid JSON"),
        (json.dumps({"version": "4"}).encode(), "receiver: Field required"),
        (
            json.dumps(notification([{**alert(), "startsAt": "yesterday"}])).encode(),
            "alerts[0].startsAt: Input should be a valid datetime",
        ),
        (
            json.dumps(notification([alert()], version="3")).encode(),
            "unsupported webhook version '3': warroom reads Alertmanager's webhook version '4'",
        ),
    ],
)
async def test_malformed_bodies_are_400_saying_what_is_wrong(
    running, body: bytes, says: str
) -> None:  # type: ignore[no-untyped-def]
    app, _, client = running
    response = await client.post("/alerts/alertmanager", content=body, headers=auth())
    assert response.status_code == 400
    assert says in response.json()["error"]
    assert await app.store.list_incidents() == []


async def test_grafana_route_refuses_alertmanagers_version(running) -> None:  # type: ignore[no-untyped-def]
    _, _, client = running
    response = await client.post("/alerts/grafana", json=notification([alert()]), headers=auth())
    assert response.status_code == 400
    assert "version '4': warroom reads Grafana's webhook version '1'" in response.json()["error"]


async def test_oversized_body_is_413_before_it_is_read(running) -> None:  # type: ignore[no-untyped-def]
    app, _, _ = running
    assert app.alerts is not None
    web = build_web_app(app.store, app.metrics, make_routes(app.alerts, TOKEN, max_body=1000))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://warroom.test"
    ) as client:
        big = notification([alert(pod=f"p{i}") for i in range(20)])
        response = await client.post("/alerts/alertmanager", json=big, headers=auth())
        assert response.status_code == 413

        # Without a Content-Length (chunked), the limit holds while reading.
        async def chunks():  # type: ignore[no-untyped-def]
            yield json.dumps(big).encode()

        response = await client.post("/alerts/alertmanager", content=chunks(), headers=auth())
        assert response.status_code == 413
    assert await app.store.list_incidents() == []


async def test_without_a_token_the_alert_routes_are_off(
    sqlite_url: str, clock: ManualClock
) -> None:
    app = await build_app(settings(sqlite_url, alerts_token=None), clock=clock)
    try:
        assert alert_routes(app) == []
        web = build_web_app(app.store, app.metrics, alert_routes(app))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://warroom.test"
        ) as client:
            response = await client.post(
                "/alerts/alertmanager", json=notification([alert()]), headers=auth()
            )
        assert response.status_code == 404
    finally:
        await app.close()


async def test_warroom_report_measures_time_to_detect(
    running,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:  # type: ignore[no-untyped-def]
    from alert_payloads import later

    from bot.__main__ import main

    app, _, client = running
    app.clock.set(later(3))  # type: ignore[attr-defined]
    response = await client.post(
        "/alerts/alertmanager", json=notification([alert()]), headers=auth()
    )
    assert response.json()["incident"] == "INC-1"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WARROOM_DATABASE_URL", sqlite_url)
    assert await asyncio.to_thread(main, ["report", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["total"]["ttd_median_s"] == 180
