"""Migration 0006 on SQLite and PostgreSQL: every registered key gets the first party that registered it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import Connection, inspect, text

from essc.core import migrate
from essc.core.db import make_engine
from essc.kit.crypto.sm import sm3

_START = datetime(2026, 1, 1, tzinfo=UTC)


def _caller(number: int) -> dict[str, object]:
    return {
        "id": f"C{number:025d}",
        "kind": "channel",
        "ref": f"{1100000000 + number}",
        "name": f"App {number}",
        "status": "active",
        "created_at": _START,
    }


def _key(number: int, caller: int, key_id: str, public_key: bytes, minutes: int) -> dict[str, object]:
    return {
        "id": f"K{number:025d}",
        "caller_id": f"C{caller:025d}",
        "key_id": key_id,
        "algorithm": "SM2",
        "public_key": public_key,
        "status": "active",
        "environment": "production",
        "created_at": _START + timedelta(minutes=minutes),
        "revoked_at": None,
        "not_after": None,
    }


def _insert(connection: Connection, table: str, rows: list[dict[str, object]]) -> None:
    columns = ", ".join(rows[0])
    values = ", ".join(f":{name}" for name in rows[0])
    connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), rows)


def test_0006_gives_each_registered_key_its_first_party(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0005")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            _insert(connection, "callers", [_caller(1), _caller(2)])
            # Caller 2 registered caller 1's key later (before the registry refused it); caller 1 holds it
            # under two key ids.
            _insert(
                connection,
                "caller_keys",
                [
                    _key(1, 2, "k1", b"shared", minutes=5),
                    _key(2, 1, "k1", b"shared", minutes=1),
                    _key(3, 1, "s1", b"shared", minutes=9),
                    _key(4, 2, "k2", b"own", minutes=7),
                ],
            )

        migrate.upgrade(empty_database_url, "0006")

        with engine.connect() as connection:
            owners = dict(connection.execute(text("SELECT digest, caller_id FROM public_key_owners")).all())
        assert {bytes(digest): owner for digest, owner in owners.items()} == {
            sm3(b"shared"): f"C{1:025d}",
            sm3(b"own"): f"C{2:025d}",
        }

        config = migrate.alembic_config(empty_database_url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0005")
        assert "public_key_owners" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
