"""`warroom run` with chat platforms: one HTTP server for every platform's routes, plus each
platform's background connection (Socket Mode, websocket)."""

from __future__ import annotations

import gc
import logging
import sys

import uvicorn

from bot.app import App
from bot.web import build_web_app

log = logging.getLogger(__name__)


async def serve(app: App, port: int, host: str = "0.0.0.0") -> None:
    routes = [route for platform in app.platforms for route in platform.routes()]
    web = build_web_app(app.store, app.metrics, routes)
    config = uvicorn.Config(web, host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    for platform in app.platforms:
        await platform.start()
    # Everything built so far lives as long as the process: keep it out of the cyclic GC's
    # full collections, which otherwise add ~100 ms pauses to acks under load (bench/).
    gc.freeze()
    # Said on stderr whatever the log level: it is the line an operator waits for.
    platforms = ", ".join(p.chat.platform for p in app.platforms)
    print(f"warroom: listening on {host}:{port} for {platforms}", file=sys.stderr)
    await server.serve()
