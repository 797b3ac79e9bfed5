"""All SQL of the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby

from sqlalchemy import bindparam, insert, select, update

from essc.audit.chain import GENESIS_MAC, canonical_details, entry_bytes, link
from essc.audit.models import AuditEntry, AuditHead
from essc.audit.schemas import PendingAuditEntry
from essc.core.db import HotStatement, Session, insert_ignoring_conflicts, table_of
from essc.kit.crypto.base import CryptoSuite
from essc.kit.keystore import DataKey


def append(session: Session, pending: list[PendingAuditEntry], suite: CryptoSuite, key: DataKey) -> None:
    """Chain and insert entries; heads are locked in sorted order so concurrent commits cannot deadlock."""
    ordered = sorted(pending, key=lambda e: e.stream)
    rows: list[dict[str, object]] = []
    for stream, group in groupby(ordered, key=lambda e: e.stream):
        seq, prev_mac = _locked_head(session, stream)
        for entry in group:
            seq += 1
            details = canonical_details(entry.details)
            body = entry_bytes(
                stream=stream,
                seq=seq,
                id=entry.id,
                at=entry.at,
                actor_kind=entry.actor_kind,
                actor_id=entry.actor_id,
                action=entry.action,
                subject_kind=entry.subject_kind,
                subject_id=entry.subject_id,
                province=entry.province,
                source_ip=entry.source_ip,
                request_id=entry.request_id,
                details=details,
                key_id=key.key_id,
            )
            mac = link(suite, key.secret, prev_mac, body)
            rows.append(
                {
                    "stream": stream,
                    "seq": seq,
                    "id": entry.id,
                    "at": entry.at,
                    "actor_kind": entry.actor_kind,
                    "actor_id": entry.actor_id,
                    "action": entry.action,
                    "subject_kind": entry.subject_kind,
                    "subject_id": entry.subject_id,
                    "province": entry.province,
                    "source_ip": entry.source_ip,
                    "request_id": entry.request_id,
                    "details": details,
                    "key_id": key.key_id,
                    "prev_mac": prev_mac,
                    "mac": mac,
                }
            )
            prev_mac = mac
        if len(pending) == 1 and session.get_bind().dialect.name == "postgresql":
            # The common case, one entry: the head moves in the statement that inserts it, one round trip
            # less while the head is locked.
            _INSERT_ONE_MOVING_HEAD.execute(session, rows[0])
            return
        _MOVE_HEAD.execute(session, {"s": stream, "seq": seq, "mac": prev_mac})
    if rows:
        _INSERT_ENTRIES.execute(session, rows[0] if len(rows) == 1 else rows)


# Built once, as Core statements: on every audited request, building them or going through the ORM's bulk
# machinery would cost more than running them.
_heads = table_of(AuditHead)
_LOCK_HEAD = HotStatement(
    select(_heads.c.last_seq, _heads.c.last_mac).where(_heads.c.stream == bindparam("s")).with_for_update()
)
_MOVE_HEAD = HotStatement(
    update(_heads)
    .where(_heads.c.stream == bindparam("s"))
    .values(last_seq=bindparam("seq"), last_mac=bindparam("mac"))
)
_entries = table_of(AuditEntry)
_INSERT_ENTRIES = HotStatement(insert(_entries), columns_from_params=True)
# The head takes the entry's own stream, seq and MAC: the same parameters in both parts of the statement.
_INSERT_ONE_MOVING_HEAD = HotStatement(
    insert(_entries)
    .values({column.name: bindparam(column.name) for column in _entries.columns})
    .add_cte(
        update(_heads)
        .where(_heads.c.stream == bindparam("stream"))
        .values(last_seq=bindparam("seq"), last_mac=bindparam("mac"))
        .cte("moved_head")
    )
)


def _locked_head(session: Session, stream: str) -> tuple[int, bytes]:
    """The stream's last sequence number and MAC, its head row locked; a new stream's head is made first."""
    rows = _LOCK_HEAD.execute(session, {"s": stream}).rows
    if not rows:  # once per stream: the insert races harmlessly with other first writers
        insert_ignoring_conflicts(
            session, _heads, [{"stream": stream, "last_seq": 0, "last_mac": GENESIS_MAC}]
        )
        rows = _LOCK_HEAD.execute(session, {"s": stream}).rows
    return int(rows[0][0]), bytes(rows[0][1])


def heads(session: Session) -> list[AuditHead]:
    return list(session.execute(select(AuditHead).order_by(AuditHead.stream)).scalars())


def stream_entries(session: Session, stream: str, batch: int = 5000) -> Iterator[AuditEntry]:
    """Entries of one stream in sequence order, read in keyset-paginated batches."""
    after = 0
    while True:
        rows = list(
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.stream == stream, AuditEntry.seq > after)
                .order_by(AuditEntry.seq)
                .limit(batch)
            ).scalars()
        )
        if not rows:
            return
        yield from rows
        after = rows[-1].seq
        session.expunge_all()


def streams_with_entries(session: Session) -> list[str]:
    return list(session.execute(select(AuditEntry.stream).distinct()).scalars())


def for_subject(session: Session, subject_kind: str, subject_id: str, limit: int = 100) -> list[AuditEntry]:
    return list(
        session.execute(
            select(AuditEntry)
            .where(AuditEntry.subject_kind == subject_kind, AuditEntry.subject_id == subject_id)
            .order_by(AuditEntry.at.desc())
            .limit(limit)
        ).scalars()
    )
