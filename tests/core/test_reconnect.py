"""The pool runs without a pre-ping: a database that dropped its connections costs one request a 503."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from essc.core.platform import Platform
from factories import app_client, channel

pytestmark = [
    pytest.mark.skipif(
        not os.environ.get("ESSC_TEST_POSTGRES_URL"), reason="needs a PostgreSQL server (CI sets one)"
    ),
    pytest.mark.parametrize("backend", ["postgresql"], indirect=True),
]


def _drop_every_connection(platform: Platform) -> int:
    """What a database restart or failover does to the pool's connections (from outside the pool)."""
    outside = create_engine(platform.engine.url, poolclass=NullPool)
    with outside.connect() as conn:
        dropped = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).scalar_one()
    outside.dispose()
    return int(dropped)


async def _fill_pool(platform: Platform, count: int) -> None:
    engine = platform.loop_engine().engine
    held = [await engine.connect() for _ in range(count)]
    for connection in held:
        await connection.close()


def test_after_the_database_drops_its_connections_only_one_request_fails(platform: Platform) -> None:
    http = app_client(platform)
    app = channel(platform, http)
    assert app.client.raw("GET", "/v1/ecards/NOSUCHSIGNNO").status_code == 404
    # Requests use their event loop's engine: have its pool keep several connections.
    http.portal.call(_fill_pool, platform, 3)  # type: ignore[union-attr]

    assert _drop_every_connection(platform) >= 3
    answers = [app.client.raw("GET", "/v1/ecards/NOSUCHSIGNNO") for _ in range(4)]
    platform.engine.dispose()  # the blocking engine (jobs, the fixtures) lost its connections as well

    assert [answer.status_code for answer in answers[1:]] == [404, 404, 404]  # the first one reset the pool
    # The price of no pre-ping: the request that meets a dead connection fails, as a named 503 to retry.
    assert answers[0].status_code == 503
    assert answers[0].json()["code"] == "database_unavailable"
    assert answers[0].headers["retry-after"] == "1"
