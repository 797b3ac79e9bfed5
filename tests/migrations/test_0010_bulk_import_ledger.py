"""Migration 0010 on SQLite and PostgreSQL: the import ledger and the feed marks come and go."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from essc.core import migrate
from essc.core.db import make_engine


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_0010_adds_the_ledger_and_the_feed_marks_and_takes_them_back(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0010")
    assert {"import_batches", "holder_feed_marks"} <= _tables(empty_database_url)

    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config(empty_database_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0009")
    finally:
        engine.dispose()

    assert not {"import_batches", "holder_feed_marks"} & _tables(empty_database_url)
