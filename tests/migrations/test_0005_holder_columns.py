"""Migration 0005 on SQLite and PostgreSQL: holders are re-masked and their clear birth date dropped."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, text

from essc.core import migrate
from essc.core.db import make_engine


def _downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def _person(number: int, masked: str) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "province": "44",
        "id": f"{number:026d}",
        "aac002_index": bytes([number]) * 32,
        "aac002_cipher": b"c",
        "aac003_cipher": b"c",
        "aac067_cipher": None,
        "aac002_masked": masked,
        "aac003_masked": "**伟",
        "birth_date": "19850301",
        "content_digest": b"d" * 32,
        "created_at": now,
        "updated_at": now,
    }


def test_0005_re_masks_existing_holders_and_drops_their_birth_date(empty_database_url: str) -> None:
    migrate.upgrade(
        empty_database_url, "0004"
    )  # 0004 (the audit log) does not go back: 0005 is tested from it
    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            columns = ", ".join(_person(1, ""))
            values = ", ".join(f":{name}" for name in _person(1, ""))
            insert = text(f"INSERT INTO persons ({columns}) VALUES ({values})")
            conn.execute(insert, [_person(1, "4401**********123X"), _person(2, "1101**********0021")])

        migrate.upgrade(empty_database_url, "0005")

        assert "birth_date" not in {c["name"] for c in inspect(engine).get_columns("persons")}
        with engine.connect() as conn:
            masks = conn.execute(text("SELECT aac002_masked FROM persons ORDER BY id")).scalars().all()
        assert masks == ["4****************X", "1****************1"]

        _downgrade(empty_database_url, "0004")
        assert "birth_date" in {c["name"] for c in inspect(engine).get_columns("persons")}
    finally:
        engine.dispose()
