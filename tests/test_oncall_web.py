"""GET /oncall/TEAM.ics: the rotation as a subscribable calendar."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import icalendar

from bot.core.clock import ManualClock
from bot.metrics import Metrics
from bot.oncall_web import oncall_routes
from bot.playbooks.catalog_loader import load_catalog
from bot.store.sql import SqlStore
from bot.web import build_web_app

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "backstage"


async def test_team_calendar_is_served_and_unknown_teams_get_did_you_mean(sqlite_url: str) -> None:
    clock = ManualClock(datetime(2027, 3, 29, 7, 30, tzinfo=UTC))
    store = SqlStore.from_url(sqlite_url)
    web = build_web_app(store, Metrics(), oncall_routes(load_catalog(SAMPLE), clock))
    transport = httpx.ASGITransport(app=web)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://w.test") as http:
            response = await http.get("/oncall/payments.ics")
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/calendar; charset=utf-8"
            calendar = icalendar.Calendar.from_ical(response.content)
            events = [(str(e["SUMMARY"]), e.decoded("DTSTART")) for e in calendar.walk("VEVENT")]
            assert ("@ana", datetime(2027, 3, 29, 7, 0, tzinfo=UTC)) in events
            # The served window starts yesterday (28 March); bob's shift, whole, before that.
            assert events[0] == ("@bob", datetime(2027, 3, 22, 8, 0, tzinfo=UTC))
            missing = await http.get("/oncall/paymnts.ics")
            assert missing.status_code == 404
            assert missing.text == "no such team or service 'paymnts'; did you mean 'payments'?"
    finally:
        await store.close()
