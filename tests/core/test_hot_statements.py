"""Hot statements give what the same Core statement gives, on SQLite (Core) and on PostgreSQL (the driver).

Each test runs twice: in blocking code (psycopg, pysqlite: jobs and the CLI) and on the event loop (asyncpg,
aiosqlite: requests), where statements sent past SQLAlchemy must still join the session's transaction.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Integer, String, bindparam, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.dialects.postgresql import psycopg as pg_psycopg

from essc.core.db import HotStatement, run_on_loop, table_of, unattached, unavailable
from essc.core.platform import Platform
from essc.kit.ids import new_id
from essc.qr.models import CardUsage

_usages = table_of(CardUsage)
_INSERT = HotStatement(insert(_usages), columns_from_params=True)
_BY_ECARD = HotStatement(
    select(_usages.c.id, _usages.c.channel_id, _usages.c.at)
    .where(_usages.c.province == bindparam("p"), _usages.c.ecard_id == bindparam("e"))
    .order_by(_usages.c.id)
)
# Literals on both sides: a value set in the statement and a value compared in its WHERE.
_MASK_ONLINE = HotStatement(
    update(_usages)
    .where(_usages.c.ecard_id == bindparam("e"), _usages.c.method == "online_code")
    .values(disclosure="masked")
    .returning(_usages.c.id)
)


def _usage(ecard_id: str, at: datetime, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "province": "44",
        "id": new_id(),
        "ecard_id": ecard_id,
        "channel_id": new_id(),
        "terminal_id": new_id(),
        "institution_id": new_id(),
        "busi_type": "01",
        "method": "online_code",
        "disclosure": "presence",
        "at": at,
    }
    row.update(changes)
    return row


Drive = Callable[[Callable[[], None]], None]


@pytest.fixture(params=["blocking", "on the loop"])
def drive(request: pytest.FixtureRequest, platform: Platform) -> Drive:
    """Run a check as blocking code or as a request's code on the event loop."""

    def on_loop(check: Callable[[], None]) -> None:
        async def run() -> None:
            try:
                await run_on_loop(check)
            finally:
                await platform.close_loop()

        asyncio.run(run())

    return on_loop if request.param == "on the loop" else (lambda check: check())


def test_rows_written_and_read_match_the_orm_and_times_come_back_in_utc(
    platform: Platform, drive: Drive
) -> None:
    def check() -> None:
        at = datetime(2026, 11, 27, 8, 30, 15, 123456, tzinfo=UTC)
        written = _usage(new_id(), at)
        with platform.session_factory() as session:
            assert _INSERT.execute(session, written).affected == 1
            session.commit()
        with platform.session_factory() as session:
            stored = session.get(CardUsage, ("44", written["id"]))
            rows = _BY_ECARD.execute(session, {"p": "44", "e": written["ecard_id"]}).rows
        assert stored is not None
        assert (stored.at, stored.channel_id) == (at, written["channel_id"])
        assert rows == [(written["id"], written["channel_id"], at)]
        assert rows[0][2].utcoffset() == timedelta(0)

    drive(check)


_ALL_OF_ONE = HotStatement(select(*_usages.columns).where(_usages.c.id == bindparam("i")))


def test_a_row_of_all_columns_becomes_an_instance_equal_to_the_loaded_one_but_not_the_session_s(
    platform: Platform, drive: Drive
) -> None:
    def check() -> None:
        written = _usage(new_id(), datetime(2026, 12, 4, 21, 0, tzinfo=UTC))
        with platform.session_factory() as session:
            _INSERT.execute(session, written)
            session.commit()
        with platform.session_factory() as session:
            read = unattached(CardUsage, _ALL_OF_ONE.execute(session, {"i": written["id"]}).rows[0])
            loaded = session.get(CardUsage, ("44", written["id"]))
            assert loaded is not None
            columns = _usages.columns.keys()
            assert [getattr(read, c) for c in columns] == [getattr(loaded, c) for c in columns]
            assert read not in session
            assert read is not loaded
            with pytest.raises(ValueError, match="shorter"):
                unattached(CardUsage, ("44", written["id"]))  # not a whole row

    drive(check)


def test_an_insert_names_only_the_columns_its_parameters_give(platform: Platform, drive: Drive) -> None:
    def check() -> None:
        ecard_id = new_id()
        without_channel = _usage(ecard_id, datetime.now(UTC))
        del without_channel["channel_id"]
        with platform.session_factory() as session:
            _INSERT.execute(session, without_channel)
            _INSERT.execute(session, _usage(ecard_id, datetime.now(UTC)))
            rows = _BY_ECARD.execute(session, {"p": "44", "e": ecard_id}).rows
        assert sorted(row[1] is None for row in rows) == [False, True]

    drive(check)


def test_literals_in_the_statement_are_bound_and_rows_touched_are_counted(
    platform: Platform, drive: Drive
) -> None:
    def check() -> None:
        ecard_id = new_id()
        now = datetime.now(UTC)
        batch = [_usage(ecard_id, now), _usage(ecard_id, now), _usage(ecard_id, now, method="login")]
        with platform.session_factory() as session:
            assert _INSERT.execute(session, batch).rows == []  # an executemany returns no rows
            masked = _MASK_ONLINE.execute(session, {"e": ecard_id})
            session.commit()
        with platform.session_factory() as session:
            by_method = {
                (u.method, u.disclosure)
                for u in session.execute(select(CardUsage).where(CardUsage.ecard_id == ecard_id)).scalars()
            }
        assert sorted(row[0] for row in masked.rows) == sorted(r["id"] for r in batch[:2])
        assert masked.affected == 2
        assert by_method == {("online_code", "masked"), ("login", "presence")}

    drive(check)


def test_statements_of_one_transaction_share_it_and_a_new_transaction_gets_its_own(
    platform: Platform, drive: Drive
) -> None:
    def check() -> None:
        ecard_id = new_id()
        kept, dropped = _usage(ecard_id, datetime.now(UTC)), _usage(ecard_id, datetime.now(UTC))
        with platform.session_factory() as session:
            _INSERT.execute(session, kept)
            assert len(_BY_ECARD.execute(session, {"p": "44", "e": ecard_id}).rows) == 1  # sees its own write
            session.commit()
            _INSERT.execute(session, dropped)  # the next transaction, on whatever connection it was given
            assert len(_BY_ECARD.execute(session, {"p": "44", "e": ecard_id}).rows) == 2
            session.rollback()
            assert [row[0] for row in _BY_ECARD.execute(session, {"p": "44", "e": ecard_id}).rows] == [
                kept["id"]
            ]

    drive(check)


def test_a_statement_of_a_session_in_autocommit_commits_alone_and_holds_no_connection(
    platform: Platform, drive: Drive
) -> None:
    def check() -> None:
        ecard_id = new_id()
        with platform.single_statement_factory() as session:
            _INSERT.execute(session, _usage(ecard_id, datetime.now(UTC)))
            # On PostgreSQL the write is already committed, seen from another session before this one ends;
            # SQLite keeps its local transaction until the session commits.
            dialect = session.get_bind().dialect
            if dialect.name == "postgresql":
                if dialect.driver == "asyncpg":  # requests: the statement took a pooled connection of its own
                    assert not session.in_transaction()
                with platform.session_factory() as other:
                    assert len(_BY_ECARD.execute(other, {"p": "44", "e": ecard_id}).rows) == 1
            session.commit()
        with platform.session_factory() as session:
            assert len(_BY_ECARD.execute(session, {"p": "44", "e": ecard_id}).rows) == 1

    drive(check)


def test_a_connection_lost_under_a_statement_is_taken_out_of_the_pool_with_its_generation(
    platform: Platform, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("an embedded SQLite database has no connection to lose")
    ecard_id = new_id()
    read = {"p": "44", "e": ecard_id}

    def statements(count: int) -> None:
        for _ in range(count):
            with platform.single_statement_factory() as session:
                _BY_ECARD.execute(session, read)

    def lose_every_connection() -> None:
        with platform.session_factory() as session:
            session.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )

    async def run() -> list[str]:
        outcomes: list[str] = []
        try:
            engine = platform.loop_engine().engine
            held = [await engine.connect() for _ in range(3)]  # three connections in the pool
            for connection in held:
                await connection.close()
            lose_every_connection()
            for _ in range(4):
                try:
                    await run_on_loop(statements, 1)
                    outcomes.append("ok")
                except Exception as exc:
                    outcomes.append(type(exc).__name__ if unavailable(exc) is not None else f"other {exc!r}")
        finally:
            await platform.close_loop()
        return outcomes

    outcomes = asyncio.run(run())
    # One statement met a dead connection and failed as the database being out of reach; the pool then
    # dropped the others made before it, so the rest got new ones.
    assert outcomes[1:] == ["ok", "ok", "ok"], outcomes
    assert outcomes[0] != "ok", outcomes
    assert not outcomes[0].startswith("other"), outcomes


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
    limit=st.integers(min_value=0, max_value=3),
)
def test_constants_written_in_the_sql_or_sent_as_parameters_select_what_core_selects(
    platform: Platform, method: str, limit: int
) -> None:
    # A plain constant is written in the SQL; one with a quote, backslash or percent sign stays a parameter.
    ecard_id = new_id()
    now = datetime.now(UTC)
    hot = HotStatement(
        select(_usages.c.id, literal(method, String()), literal(limit, Integer()))
        .where(_usages.c.ecard_id == bindparam("e"), _usages.c.method == method)
        .order_by(_usages.c.id)
        .limit(limit)
    )
    with platform.session_factory() as session:
        _INSERT.execute(session, [_usage(ecard_id, now, method=method), _usage(ecard_id, now, method="x")])
        by_core = [tuple(row) for row in session.execute(hot.statement, {"e": ecard_id})]
        assert hot.execute(session, {"e": ecard_id}).rows == by_core
        assert len(by_core) == min(limit, 1)
        assert all(row[1:] == (method, limit) for row in by_core)
        session.rollback()


def test_plain_constants_are_written_in_the_sql_and_the_rest_stay_parameters() -> None:
    hot = HotStatement(
        select(
            literal("ecard.used", String()),
            literal(7, Integer()),
            literal("it's", String()),
            literal("50%", String()),
            literal("a\\b", String()),
            literal(True),
        ).where(_usages.c.ecard_id == bindparam("e"))
    )
    for dialect in (pg_asyncpg.dialect(), pg_psycopg.dialect()):
        compiled = hot._compiled_for(dialect, {"e": "x"})
        assert "CAST('ecard.used' AS VARCHAR)" in compiled.sql
        assert "CAST(7 AS INTEGER)" in compiled.sql
        assert set(map(str, compiled.literals.values())) == {"50%", "True", "a\\b", "it's"}
