"""Migration 0008 on SQLite and PostgreSQL: the credential tables, one credential an index, back and up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from essc.core import migrate
from essc.core.db import make_engine


def _credential(number: int, idx: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "province": "44",
        "id": f"{number:026d}",
        "list_no": 1,
        "idx": idx,
        "ecard_id": "E" * 26,
        "issuance_id": "I" * 26,
        "card_id": "C" * 26,
        "channel_id": "H" * 26,
        "status": "valid",
        "issued_at": now,
        "expires_at": now,
    }


def test_0008_creates_the_credential_tables_and_drops_them_going_back(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0008")
    engine = make_engine(empty_database_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"credentials", "credential_status_lists"} <= tables
        indexes = {index["name"] for index in inspect(engine).get_indexes("credentials")}
        assert {"ix_credentials_card", "ix_credentials_issuance"} <= indexes
        columns = ", ".join(_credential(1, 0))
        insert = text(
            f"INSERT INTO credentials ({columns}) VALUES ({', '.join(f':{c}' for c in _credential(1, 0))})"
        )
        with engine.begin() as conn:
            conn.execute(insert, [_credential(1, 7), _credential(2, 8)])
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(insert, [_credential(3, 7)])  # the index is taken in that list

        with engine.begin() as connection:
            config = migrate.alembic_config(empty_database_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0007")
        assert not {"credentials", "credential_status_lists"} & set(inspect(engine).get_table_names())
        migrate.upgrade(empty_database_url, "0008")
        assert {"credentials", "credential_status_lists"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
