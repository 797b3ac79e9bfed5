"""uvicorn's h11 protocol with TCP_NODELAY on every connection, for the bench's workaround variant."""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol


class NoDelayH11Protocol(H11Protocol):
    """H11Protocol that turns Nagle off, which `uvicorn --workers N` leaves on (Kludex/uvicorn#3149).

    The supervisor binds the listener with proto 0, so asyncio skips TCP_NODELAY on accepted sockets and
    each keep-alive response waits for the client's delayed ACK (about 40 ms on Linux).
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
