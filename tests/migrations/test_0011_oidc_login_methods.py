"""Migration 0011 on SQLite and PostgreSQL: login codes of a relying party and chip challenges of a page."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect

from essc.core import migrate
from essc.core.db import make_engine


def _columns(url: str, table: str) -> dict[str, bool]:
    engine = make_engine(url)
    try:
        return {c["name"]: bool(c["nullable"]) for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def test_0011_adds_the_login_method_columns_and_takes_them_back(empty_database_url: str) -> None:
    migrate.upgrade(empty_database_url, "0011")
    codes = _columns(empty_database_url, "login_codes")
    assert codes["terminal_id"]
    assert codes["institution_id"]
    assert {"relying_party", "site_name"} <= set(codes)
    assert {"login_code_id", "chip_challenge"} <= set(_columns(empty_database_url, "oidc_authorizations"))

    engine = make_engine(empty_database_url)
    try:
        with engine.begin() as connection:
            config = migrate.alembic_config(empty_database_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0010")
    finally:
        engine.dispose()

    codes = _columns(empty_database_url, "login_codes")
    assert not codes["terminal_id"]
    assert not codes["institution_id"]
    assert not {"relying_party", "site_name"} & set(codes)
    assert not {"login_code_id", "chip_challenge"} & set(_columns(empty_database_url, "oidc_authorizations"))
