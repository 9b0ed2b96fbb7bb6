"""`warroom run` with chat platforms: one HTTP server for every platform's routes, plus each
platform's background connection (Socket Mode, websocket)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from bot.app import App, alert_routes, settle_heap
from bot.oncall_web import oncall_routes
from bot.web import build_web_app


def listen(port: int, host: str = "0.0.0.0") -> socket.socket:
    """Bind the HTTP port before anything else starts, so a port in use is one clear error
    (OSError) instead of a failure inside uvicorn after platforms and reminders are running.

    The protocol is named (IPPROTO_TCP) because asyncio sets TCP_NODELAY on accepted connections
    only when the listening socket's `proto` says TCP; with the default 0 every response with a
    body waits about 40 ms for the client's delayed ACK."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn, minus its signal handling: it re-raises SIGTERM once it has stopped, which
    kills the process before the drain after `serve()` runs. `serve` owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(app: App, sock: socket.socket) -> None:
    """Serve until SIGTERM or SIGINT. Then new connections are refused, requests in flight
    (acknowledged only once their event is recorded) finish within the grace period, and
    the caller drains the work behind them (App.close)."""
    routes = [route for platform in app.platforms for route in platform.routes()]
    routes += alert_routes(app)
    routes += oncall_routes(app.service.runner.catalog if app.service.runner else None, app.clock)
    web = build_web_app(app.store, app.metrics, routes)
    config = uvicorn.Config(
        web,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=max(1, int(app.settings.shutdown_grace)),
    )
    server = _Server(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.handle_exit, sig, None)
    for platform in app.platforms:
        await platform.start()
    # Everything built so far lives as long as the process (bot/app.py settle_heap).
    settle_heap()
    # Said on stderr whatever the log level: it is the line an operator waits for.
    host, port = sock.getsockname()[:2]
    platforms = ", ".join(p.chat.platform for p in app.platforms)
    print(f"warroom: listening on {host}:{port} for {platforms}", file=sys.stderr)
    try:
        await server.serve(sockets=[sock])
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    print("warroom: stopping: finishing work in flight", file=sys.stderr)
