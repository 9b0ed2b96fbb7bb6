"""`GET /oncall/TEAM.ics`: a team's on-call schedule as a calendar that Google Calendar and
Outlook subscribe to (they poll it; REFRESH-INTERVAL asks for hourly). From yesterday, 8 weeks
ahead, computed on each request from the catalog (rotations, calendar, overrides)."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.core.catalog import Catalog
from bot.core.ownership.oncall import OnCall
from bot.core.ownership.resolve import unknown
from bot.core.ports import Clock
from bot.playbooks.ical import export

AHEAD = timedelta(weeks=8)


def oncall_routes(catalog: Catalog | None, clock: Clock) -> list[BaseRoute]:
    if catalog is None:
        return []
    oncall = OnCall(catalog)

    async def team_calendar(request: Request) -> Response:
        name = request.path_params["team"]
        team = catalog.team(name)
        if team is None:
            return PlainTextResponse(unknown(catalog, name), status_code=404)
        start = clock.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
        body = export(team, oncall, start, start + AHEAD, url=str(request.url))
        headers = {"Content-Disposition": f'inline; filename="{team.name}-oncall.ics"'}
        return Response(body, media_type="text/calendar; charset=utf-8", headers=headers)

    return [Route("/oncall/{team}.ics", team_calendar, methods=["GET"])]
