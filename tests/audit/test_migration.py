"""The chained entries of 0003 become the first leaves of their province's log, in chain order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import create_engine, select, text

from essc.audit import repository, service
from essc.audit.models import AuditEntry
from essc.core import migrate
from essc.core.db import normalise_url
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.kit.clock import FrozenClock, SystemClock
from essc.kit.keystore import KeyStore


def _chained_rows(count: int) -> list[dict[str, object]]:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    return [
        {
            "stream": "44",
            "seq": seq,
            # Ids out of chain order on purpose: the chain's order, not the ids', must become the leaf order.
            "id": f"{count - seq:026d}",
            "at": start + timedelta(seconds=seq),
            "actor_kind": "channel",
            "actor_id": "c1",
            "action": "ecard.issued",
            "subject_kind": "issuance",
            "subject_id": f"i{seq}",
            "province": "44",
            "source_ip": "10.0.0.1",
            "request_id": f"r{seq}",
            "details": '{"sign_level":1}',
            "key_id": "ac-00000000",
            "prev_mac": b"\x00" * 32,
            "mac": b"\x01" * 32,
        }
        for seq in range(1, count + 1)
    ]


def test_chained_entries_become_leaves_in_chain_order_and_verify(
    empty_database_url: str, keystore: KeyStore
) -> None:
    migrate.upgrade(empty_database_url, "0003")
    engine = create_engine(normalise_url(empty_database_url))
    with engine.begin() as conn:
        rows = _chained_rows(300)
        columns = ", ".join(rows[0])
        values = ", ".join(f":{c}" for c in rows[0])
        conn.execute(text(f"INSERT INTO audit_entries ({columns}) VALUES ({values})"), rows)
        conn.execute(
            text("INSERT INTO audit_heads (stream, last_seq, last_mac) VALUES ('44', 300, :mac)"),
            {"mac": b"\x01" * 32},
        )
    engine.dispose()
    migrate.upgrade(empty_database_url)
    settings = Settings(database_url=empty_database_url, run_dispatcher=False, run_sequencer=False)
    platform = build_platform(settings, clock=FrozenClock(SystemClock().now()), keys=keystore)
    try:
        with platform.session_factory() as session:
            migrated = list(session.execute(select(AuditEntry).order_by(AuditEntry.leaf_index)).scalars())
        assert [e.subject_id for e in migrated] == [f"i{seq}" for seq in range(1, 301)]
        assert [e.leaf_index for e in migrated] == list(range(300))
        assert {e.source_ip for e in migrated} == {None}  # addresses in the clear are not published
        service.sequence_all(platform, batch=128)  # the carried leaves, in batches, then the log-opened entry
        with platform.session_factory() as session:
            head = repository.latest_head(session, "44")
            assert head is not None
            assert head.size == 300
            report = service.verify(session, platform)
        assert report.findings == []
        assert report.leaves == 301  # the 300 carried over and the national log's record of the log opening
    finally:
        platform.close()
