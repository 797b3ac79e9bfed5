"""Migration 0009 on SQLite and PostgreSQL: the eligibility tables come and go, their keys hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from essc.core import migrate
from essc.core.db import make_engine

TABLES = {
    "eligibility_due_items",
    "eligibility_certifications",
    "eligibility_delegations",
    "eligibility_reminders",
    "eligibility_benefit_systems",
    "eligibility_deliveries",
    "eligibility_delivery_attempts",
}
NOW = datetime(2027, 3, 1, tzinfo=UTC)


def _downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def _insert(conn: object, table: str, row: dict[str, object]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)  # type: ignore[attr-defined]


def _person() -> dict[str, object]:
    return {
        "province": "44",
        "id": "P" * 26,
        "aac002_index": b"i" * 32,
        "aac002_cipher": b"c",
        "aac003_cipher": b"c",
        "aac067_cipher": None,
        "aac002_masked": "4****************X",
        "aac003_masked": "**伟",
        "content_digest": b"d" * 32,
        "created_at": NOW,
        "updated_at": NOW,
    }


def _due_item(item_id: str, benefit: str) -> dict[str, object]:
    return {
        "province": "44",
        "id": item_id,
        "person_id": "P" * 26,
        "benefit_type": benefit,
        "period": 2027,
        "opens_at": NOW,
        "due_at": NOW,
        "source_ref": f"ref-{item_id[:4]}",
        "status": "due",
        "loaded_at": NOW,
        "certified_at": None,
    }


def _certification(item_id: str, certification_id: str) -> dict[str, object]:
    return {
        "province": "44",
        "due_item_id": item_id,
        "id": certification_id,
        "person_id": "P" * 26,
        "certifier": "holder",
        "certifier_province": "44",
        "certifier_person_id": "P" * 26,
        "delegation_id": None,
        "channel_id": "C" * 26,
        "method": "face",
        "provider": "sandbox-face",
        "evidence_ref": "face-1",
        "score": 90,
        "checked_at": NOW,
        "request_digest": "0" * 64,
        "certified_at": NOW,
    }


def test_0009_creates_the_eligibility_tables_whose_keys_hold_and_drops_them(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0008")
    migrate.upgrade(empty_database_url, "0009")
    engine = make_engine(empty_database_url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.begin() as conn:
            _insert(conn, "persons", _person())
            _insert(conn, "eligibility_due_items", _due_item("A" * 26, "basic_pension"))
            _insert(conn, "eligibility_certifications", _certification("A" * 26, "X" * 26))
        # A second certification of the same item breaks the primary key (the race guard).
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _insert(conn, "eligibility_certifications", _certification("A" * 26, "Y" * 26))
        # A second item of the same benefit and period for the same holder breaks its unique key.
        with pytest.raises(IntegrityError), engine.begin() as conn:
            _insert(
                conn, "eligibility_due_items", {**_due_item("B" * 26, "basic_pension"), "source_ref": "other"}
            )
        _downgrade(empty_database_url, "0008")
        assert not TABLES & set(inspect(engine).get_table_names())
        migrate.upgrade(empty_database_url, "0009")
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()
