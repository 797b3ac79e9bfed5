"""The API's HTTP server: uvicorn on uvloop and httptools, on a listener bound here with TCP_NODELAY."""

from __future__ import annotations

import socket
from contextlib import nullcontext

import uvicorn
from uvicorn.supervisors import Multiprocess

from essc.ops.jobs import background_jobs

API_APP = "essc.asgi:app"


def listening_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket whose accepted connections have Nagle off, ready to hand to worker processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # uvicorn's --workers supervisor binds with proto 0, so asyncio never sets TCP_NODELAY on what it accepts
    # (Kludex/uvicorn#3149): every small keep-alive response then waits ~40 ms for the client's delayed ACK.
    # Saying IPPROTO_TCP lets asyncio set it, and Linux copies the listener's TCP_NODELAY to each accepted
    # socket, so it holds whichever loop runs the workers (uvloop sets it on its own too).
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


def server_config(
    workers: int, app: str = API_APP, *, factory: bool = False, access_log: bool = False
) -> uvicorn.Config:
    """uvicorn settings for the API: uvloop, httptools (HTTP/1.1 with keep-alive), lifespan required.

    `access_log` prints a line per request (the demo shows a newcomer what reaches the platform); off in
    production, where formatting a line per request costs CPU and the platform's own logs say more.
    """
    return uvicorn.Config(
        app,
        factory=factory,
        workers=workers,
        loop="uvloop",
        http="httptools",
        ws="none",  # the API has no WebSocket routes
        lifespan="on",  # a platform that fails to start must stop the worker, not serve without it
        access_log=access_log,
        log_level="info" if access_log else "warning",
    )


def serve_api(
    host: str,
    port: int,
    workers: int,
    app: str = API_APP,
    *,
    factory: bool = False,
    access_log: bool = False,
    jobs: bool = False,
) -> None:
    """Serve app (an import string, of a factory if factory) on host:port with N workers until stopped.

    `jobs` runs the platform's background work (webhook deliveries, audit sequencing) in one process beside
    the workers (essc.ops.jobs) instead of a thread in each.
    """
    listener = listening_socket(host, port)
    try:
        with background_jobs() if jobs else nullcontext():
            config = server_config(workers, app, factory=factory, access_log=access_log)
            if workers > 1:
                Multiprocess(config, sockets=[listener]).run()
            else:
                uvicorn.Server(config).run(sockets=[listener])
    finally:
        listener.close()
