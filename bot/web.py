"""The Starlette app: platform routes plus /healthz and /metrics."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from bot.http_limits import BodyLimit
from bot.metrics import CONTENT_TYPE, Metrics
from bot.redact import mask_url
from bot.store.sql import SqlStore

log = logging.getLogger(__name__)


def build_web_app(
    store: SqlStore, metrics: Metrics, platform_routes: Sequence[BaseRoute] = ()
) -> Starlette:
    async def healthz(_: Request) -> Response:
        # Healthy means we can reach the database: without it nothing can be recorded.
        try:
            async with store.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as error:
            # Anyone may ask: say what is unreachable, and leave the detail (hosts, users,
            # driver messages) to the log.
            log.warning("healthz: the database is unreachable: %s", mask_url(str(error))[:500])
            return JSONResponse({"status": "unhealthy", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def metrics_route(_: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_route, methods=["GET"]),
        *platform_routes,
    ]
    # Bodies over the limit are refused before any route reads them (bot/http_limits.py).
    return Starlette(routes=routes, middleware=[Middleware(BodyLimit)])
