"""The server's own socket: connections it accepts send without Nagle's delay."""

from __future__ import annotations

import asyncio
import socket

from aggregator.config import ServerSettings
from aggregator.web.server import bind_socket


def test_accepted_connections_have_tcp_nodelay() -> None:
    listener = bind_socket(ServerSettings(host="127.0.0.1", port=0))
    port = listener.getsockname()[1]
    seen: list[int] = []

    async def go() -> None:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(go())
    # Without it a response's last segment waits for the client's delayed ACK (~40 ms).
    assert seen and seen[0] != 0
