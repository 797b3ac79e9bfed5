"""Migration 0007 on SQLite and PostgreSQL: the OpenID provider's tables, keys that stop replays, and back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError

from essc.core import migrate
from essc.core.db import make_engine

TABLES = {
    "oidc_relying_parties",
    "oidc_authorizations",
    "oidc_grants",
    "oidc_tokens",
    "oidc_client_assertions",
    "oidc_logout_notices",
}
NOW = datetime(2027, 1, 4, tzinfo=UTC)


def _downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def _insert(connection: Connection, table: str, row: dict[str, object]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)


def _relying_party() -> dict[str, object]:
    return {
        "client_id": "rp-1",
        "name": "A government website",
        "province": "44",
        "registered_by": "province/44",
        "status": "active",
        "redirect_uris": '["https://rp.example/callback"]',
        "jwks": '{"keys":[]}',
        "id_token_alg": "ES256",
        "scopes": '["openid"]',
        "clear_id_number": False,
        "sector": "rp.example",
        "backchannel_logout_uri": None,
        "created_at": NOW,
        "updated_at": NOW,
    }


def _authorization(number: int, code_digest: bytes) -> dict[str, object]:
    return {
        "id": f"{number:026d}",
        "client_id": "rp-1",
        "status": "pushed",
        "params": "{}",
        "request_digest": bytes([number]) * 32,
        "code_digest": code_digest,
        "created_at": NOW,
        "expires_at": NOW,
        "clear_id_consent": False,
    }


def test_0007_creates_the_provider_tables_whose_keys_stop_replays_and_drops_them(
    empty_database_url: str,
) -> None:
    migrate.upgrade(empty_database_url, "0006")
    migrate.upgrade(empty_database_url, "0007")
    engine = make_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.begin() as conn:
            _insert(conn, "oidc_relying_parties", _relying_party())
            _insert(conn, "oidc_authorizations", _authorization(1, b"c" * 32))
            _insert(conn, "oidc_client_assertions", {"client_id": "rp-1", "jti": "j-1", "expires_at": NOW})
        # One code is one authorization: a second row with the same code digest is refused.
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _insert(conn, "oidc_authorizations", _authorization(2, b"c" * 32))
        # A client assertion's jti is spent once per relying party.
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _insert(conn, "oidc_client_assertions", {"client_id": "rp-1", "jti": "j-1", "expires_at": NOW})

        _downgrade(empty_database_url, "0006")
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate.upgrade(empty_database_url, "0007")
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()
