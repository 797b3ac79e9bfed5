"""Migration 0010 on SQLite and PostgreSQL: the import ledger and feed marks come and go, their keys hold."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError

from essc.core import migrate
from essc.core.db import make_engine

NOW = datetime(2027, 2, 1, tzinfo=UTC)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _insert(connection: Connection, table: str, row: dict[str, object]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{name}" for name in row)
    connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)


def _batch(batch_no: int) -> dict[str, object]:
    return {
        "file_digest": "f" * 64,
        "batch_no": batch_no,
        "province": "44",
        "kind": "holders",
        "status": "committed",
        "first_line": 1,
        "last_line": 2,
        "byte_end": 100,
        "rows": 2,
        "changed": 2,
        "root": b"r" * 32,
        "row_digests": b"d" * 64,
        "rejected": "[]",
        "committed_at": NOW,
    }


def test_0010_adds_the_ledger_and_the_feed_marks_and_takes_them_back(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0010")
    assert {"import_batches", "holder_feed_marks"} <= _tables(empty_database_url)

    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            _insert(connection, "import_batches", _batch(1))
            _insert(connection, "import_batches", _batch(2))
            mark = {"province": "44", "aac002_index": b"i" * 32, "last_seq": 7, "updated_at": NOW}
            _insert(connection, "holder_feed_marks", mark)
        # A file's batch is written once (a resumed import skips it), and a holder has one feed mark.
        with pytest.raises(IntegrityError), engine.begin() as connection:
            _insert(connection, "import_batches", _batch(2))
        with pytest.raises(IntegrityError), engine.begin() as connection:
            _insert(connection, "holder_feed_marks", {**mark, "last_seq": 8})
        with engine.begin() as connection:
            config = migrate.alembic_config(empty_database_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0009")
    finally:
        engine.dispose()

    assert not {"import_batches", "holder_feed_marks"} & _tables(empty_database_url)
    migrate.upgrade(empty_database_url, "0010")
    assert {"import_batches", "holder_feed_marks"} <= _tables(empty_database_url)
