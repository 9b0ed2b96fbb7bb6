"""bot/server.py: the listening socket `warroom run` creates and hands to uvicorn."""

from __future__ import annotations

import asyncio
import socket

from bot.server import listen


async def test_accepted_connections_have_tcp_nodelay() -> None:
    # uvicorn serves a socket it is given with loop.create_server(sock=...), as here; asyncio
    # sets TCP_NODELAY on what that accepts only if the listening socket says it is TCP.
    sock = listen(0, host="127.0.0.1")
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = writer.get_extra_info("socket")
        accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=sock)
    try:
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await accepted != 0
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
