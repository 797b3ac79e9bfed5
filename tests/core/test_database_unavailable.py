"""A database out of reach answers a named 503 to retry, never a 500."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa_exc

from essc.core.db import DatabaseUnavailable, forget_if_lost, unavailable
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.kit.crypto import get_suite
from essc.web.app import create_app
from essc_sdk import EsscClient


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the probe goes: nothing listens there


@pytest.fixture
def unreachable(keystore_path: Path) -> Iterator[TestClient]:
    """The platform app over a PostgreSQL URL where no server listens."""
    settings = Settings(
        database_url=f"postgresql://postgres@127.0.0.1:{_closed_port()}/essc",
        keystore_path=keystore_path,
        run_dispatcher=False,
        run_sequencer=False,
    )
    with TestClient(create_app(build_platform(settings)), raise_server_exceptions=False) as http:
        yield http


def test_a_public_read_answers_database_unavailable_with_retry_after(unreachable: TestClient) -> None:
    answer = unreachable.get("/v1/public/channel-apps")

    assert answer.status_code == 503
    assert answer.json()["code"] == "database_unavailable"
    assert answer.headers["retry-after"] == "1"


def test_a_signed_request_whose_caller_cannot_be_read_answers_database_unavailable(
    unreachable: TestClient,
) -> None:
    suite = get_suite("sm")
    client = EsscClient(
        unreachable, suite, caller="channel/4400000001", key_id="k1", private_key=suite.generate_private_key()
    )

    answer = client.raw("POST", "/v1/ecards/issuance", {}, headers={"Idempotency-Key": "retry-me-1"})

    assert answer.status_code == 503
    assert answer.json()["code"] == "database_unavailable"
    assert answer.headers["retry-after"] == "1"


def _as_sqlalchemy_wraps(error: Exception) -> sa_exc.DBAPIError:
    """A driver error as a request meets it: asyncpg's, in the adapter's error, in SQLAlchemy's DBAPIError."""
    adapted = Exception(str(error))
    adapted.__cause__ = error
    return sa_exc.DBAPIError("SELECT 1", {}, adapted)


@pytest.mark.parametrize(
    "failure",
    [
        ConnectionRefusedError(111, "refused"),
        sa_exc.TimeoutError("QueuePool limit reached"),
        sa_exc.OperationalError("SELECT 1", {}, Exception("too many clients already")),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.InterfaceError("connection is closed"),
        asyncpg.exceptions.InternalClientError("cannot switch to state 12; another operation is in progress"),
        _as_sqlalchemy_wraps(asyncpg.exceptions.InternalClientError("cannot switch to state 12")),
        _as_sqlalchemy_wraps(asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already")),
        _as_sqlalchemy_wraps(
            asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")
        ),
    ],
)
def test_failures_to_reach_the_database_are_named(failure: Exception) -> None:
    assert isinstance(unavailable(failure), DatabaseUnavailable)


@pytest.mark.parametrize(
    "failure",
    [
        ValueError("a bug"),
        sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key")),
        sa_exc.ProgrammingError("SELECT", {}, Exception("syntax error")),
        asyncpg.exceptions.InterfaceError("cannot perform operation: another operation is in progress"),
        _as_sqlalchemy_wraps(asyncpg.exceptions.UniqueViolationError("duplicate key")),
    ],
)
def test_other_errors_are_not_taken_for_an_unreachable_database(failure: Exception) -> None:
    assert unavailable(failure) is None


class _Pool:
    def __init__(self) -> None:
        self.invalidated: list[object] = []

    def _invalidate(self, pooled: object, error: BaseException) -> None:
        self.invalidated.append(pooled)


class _Engine:
    def __init__(self) -> None:
        self.pool = _Pool()


class _Pooled:
    def __init__(self, closed: bool) -> None:
        self.driver_connection = type("Driver", (), {"is_closed": lambda _self: closed})()


@pytest.mark.parametrize(
    ("closed", "error", "dropped"),
    [
        (True, asyncpg.exceptions.InterfaceError("connection is closed"), True),
        (False, asyncpg.exceptions.InternalClientError("cannot switch to state 12"), True),
        (False, asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
    ],
)
def test_a_connection_closed_or_left_in_a_broken_state_leaves_the_pool(
    closed: bool, error: BaseException, dropped: bool
) -> None:
    engine, pooled = _Engine(), _Pooled(closed)
    forget_if_lost(engine, pooled, error)  # type: ignore[arg-type]
    assert engine.pool.invalidated == ([pooled] if dropped else [])
