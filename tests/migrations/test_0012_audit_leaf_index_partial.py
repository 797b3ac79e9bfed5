"""Migration 0012 on SQLite and PostgreSQL: one entry per leaf of a log still, unsequenced entries kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import IntegrityError

from essc.core import migrate
from essc.core.db import make_engine

NOW = datetime(2027, 2, 1, tzinfo=UTC)


def _entry(connection: Connection, entry_id: str, leaf_index: int | None) -> None:
    connection.execute(
        text(
            "INSERT INTO audit_entries (id, log, at, actor_kind, actor_id, action, subject_kind, subject_id, "
            "province, details, leaf_index) VALUES (:id, '44', :at, 'platform', 'test', 'test.done', 'test', "
            "'s', '44', '{}', :leaf_index)"
        ),
        {"id": entry_id.ljust(26, "0"), "at": NOW, "leaf_index": leaf_index},
    )


def _leaf_index_rule(engine: Engine) -> tuple[bool, str | None]:
    """Whether (log, leaf_index) is unique, and the WHERE of the index that makes it so (None: all rows)."""
    found = inspect(engine)
    for index in found.get_indexes("audit_entries"):
        if index["name"] == "uq_audit_entries_leaf":
            options = index.get("dialect_options", {})
            where = options.get("postgresql_where")
            if where is None:
                where = options.get("sqlite_where")
            return bool(index["unique"]), None if where is None else str(where)
    constraints = {c["name"] for c in found.get_unique_constraints("audit_entries")}
    return "uq_audit_entries_leaf" in constraints, None


def _downgrade(engine: Engine, url: str, revision: str) -> None:
    with engine.begin() as connection:
        config = migrate.alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_0012_keeps_one_entry_per_leaf_over_sequenced_entries_only_and_takes_it_back(
    empty_database_url: str,
) -> None:
    migrate.upgrade(empty_database_url, "0011")
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            _entry(connection, "A", 0)
            _entry(connection, "B", 1)
            _entry(connection, "C", None)
        migrate.upgrade(empty_database_url, "0012")

        unique, where = _leaf_index_rule(engine)
        assert unique
        assert where is not None
        assert "leaf_index IS NOT NULL" in where
        with engine.begin() as connection:
            _entry(connection, "D", None)  # many unsequenced entries, as before
            count = connection.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
        assert count == 4
        with pytest.raises(IntegrityError), engine.begin() as connection:
            _entry(connection, "E", 1)  # a leaf of the log taken twice

        _downgrade(engine, empty_database_url, "0011")
        assert _leaf_index_rule(engine) == (True, None)
        with pytest.raises(IntegrityError), engine.begin() as connection:
            _entry(connection, "F", 0)
    finally:
        engine.dispose()
