"""Routes declared to only read run without a transaction and cannot write."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

from essc.core.context import Actor, RequestContext
from essc.core.db import HotStatement, WritesInReadOnlyWork, make_reading_factory
from essc.core.nonces import SeenNonce
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from factories import app_client, channel, holder, issued_sign_no, load


def test_a_reading_session_reads_but_refuses_changed_rows_and_data_changing_statements(
    platform: Platform,
) -> None:
    with make_reading_factory(platform.engine)() as session:
        assert session.execute(select(SeenNonce)).all() == []

        with pytest.raises(WritesInReadOnlyWork):
            session.execute(delete(SeenNonce))
        session.add(SeenNonce(caller_id="0" * 26, nonce="n", expires_at=datetime.now(UTC)))
        with pytest.raises(WritesInReadOnlyWork):
            session.flush()


def test_a_reading_session_refuses_a_hot_statement_that_writes(platform: Platform) -> None:
    # Hot statements go past the session to the driver: the refusal must not depend on the session's execute.
    statements = (HotStatement(select(SeenNonce.nonce)), HotStatement(delete(SeenNonce)))
    with make_reading_factory(platform.engine)() as session:
        assert statements[0].execute(session, {}).rows == []
        with pytest.raises(WritesInReadOnlyWork):
            statements[1].execute(session, {})


def test_a_reads_only_unit_of_work_refuses_to_audit(platform: Platform) -> None:
    context = RequestContext(actor=Actor(kind="channel", id="4400000001"))
    uow = UnitOfWork(platform, context, make_reading_factory(platform.engine)())

    with pytest.raises(WritesInReadOnlyWork):
        uow.audit("ecard.viewed", "ecard", "x", "44")
    uow.close()


def test_an_e_card_read_opens_no_transaction_on_postgresql(
    platform: Platform, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite's transactions are local calls, not round trips")
    http = app_client(platform)
    bank = channel(platform, http)
    person = holder()
    load(platform, person)
    sign_no = issued_sign_no(platform, bank, person)
    started: list[object] = []
    original = AsyncAdapt_asyncpg_connection._start_transaction

    async def counting(self: AsyncAdapt_asyncpg_connection) -> None:
        if self.isolation_level != "autocommit":  # the adapter opens no transaction in autocommit
            started.append(self)
        await original(self)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "_start_transaction", counting)

    read = bank.client.raw("GET", f"/v1/ecards/{sign_no}")
    assert read.status_code == 200, read.text
    assert started == []

    written = bank.client.raw("POST", f"/v1/ecards/{sign_no}/qr-codes", {})
    assert written.status_code == 201, written.text
    assert started, "a state-changing request runs in a transaction"
