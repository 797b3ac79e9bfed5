"""All SQL of the audit logs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    CHAR,
    BigInteger,
    ColumnElement,
    Insert,
    Select,
    String,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from essc.audit.leaves import LEAF_COLUMNS, canonical_details
from essc.audit.models import AuditCosignature, AuditEntry, AuditTile, AuditTreeHead, AuditWitness
from essc.core.auditing import NATIONAL_LOG, AuditStamp, PendingAuditEntry
from essc.core.db import HotStatement, Session, UtcDateTime, affected_rows, table_of

_entries = table_of(AuditEntry)
# Built once: it runs on every audited request. A plain INSERT: no row another transaction could hold.
_INSERT_ENTRIES = HotStatement(insert(_entries), columns_from_params=True)
# Two ints name a PostgreSQL advisory lock: this namespace ("ESSC" in ASCII) and the log's number.
_LOCK_NAMESPACE = 0x45535343


def append(session: Session, pending: list[PendingAuditEntry]) -> None:
    """Insert entries unsequenced, in the caller's transaction; the sequencer gives them their leaf index."""
    rows = [
        {
            "id": entry.id,
            "log": entry.log,
            "at": entry.at,
            "actor_kind": entry.actor_kind,
            "actor_id": entry.actor_id,
            "action": entry.action,
            "subject_kind": entry.subject_kind,
            "subject_id": entry.subject_id,
            "province": entry.province,
            "source_ip": entry.source_ip,
            "request_id": entry.request_id,
            "details": canonical_details(entry.details),
        }
        for entry in pending
    ]
    if rows:
        _INSERT_ENTRIES.execute(session, rows[0] if len(rows) == 1 else rows)


# The binds every entry written inside a statement shares (stamp_params); each entry binds its own id.
_STAMP_AT = bindparam("audit_at", type_=UtcDateTime())
_STAMP_ACTOR_KIND = bindparam("audit_actor_kind", type_=String())
_STAMP_ACTOR_ID = bindparam("audit_actor_id", type_=String())
_STAMP_SOURCE_IP = bindparam("audit_source_ip", type_=String())
_STAMP_REQUEST_ID = bindparam("audit_request_id", type_=String())


def stamp_params(stamp: AuditStamp) -> dict[str, Any]:
    """The parameters of the binds that entry_insert statements share."""
    return {
        "audit_at": stamp.at,
        "audit_actor_kind": stamp.actor_kind,
        "audit_actor_id": stamp.actor_id,
        "audit_source_ip": stamp.source_ip,
        "audit_request_id": stamp.request_id,
    }


def entry_select(
    rows: Select[Any],
    *,
    id_param: str,
    action: str,
    subject_kind: str,
    subject_id: ColumnElement[str],
    province: ColumnElement[str],
    details: Mapping[str, ColumnElement[Any] | str],
) -> Select[*tuple[Any, ...]]:
    """PostgreSQL: an entry's row (LEAF_COLUMNS) for each row `rows` selects, for entries_insert.

    `rows` gives the FROM and WHERE; the entry's id is the bind `id_param`, who and when the stamp's binds.
    The row is the one `append` would insert for the same entry, `details` in the same canonical JSON.
    """
    values = (  # in LEAF_COLUMNS order
        bindparam(id_param, type_=String()),
        func.coalesce(province, NATIONAL_LOG),
        _STAMP_AT,
        _STAMP_ACTOR_KIND,
        _STAMP_ACTOR_ID,
        literal(action, String()),
        literal(subject_kind, String()),
        subject_id,
        province,
        _STAMP_SOURCE_IP,
        _STAMP_REQUEST_ID,
        canonical_details_sql(details),
    )
    return rows.with_only_columns(*values)


def entries_insert(*entries: Select[*tuple[Any, ...]]) -> Insert:
    """PostgreSQL: one INSERT of every entry the entry_select queries give, to be part of a statement.

    One INSERT for all of them, not one each: every INSERT of a statement opens the table and its indexes
    when the statement starts, whether or not it writes a row (bench/bench_audit_append.py).
    """
    source = entries[0] if len(entries) == 1 else union_all(*entries)
    return insert(_entries).from_select(LEAF_COLUMNS, source)


def canonical_details_sql(details: Mapping[str, ColumnElement[Any] | str]) -> ColumnElement[str]:
    """PostgreSQL SQL of canonical_details: sorted keys, no spaces, values as JSON strings.

    A constant is encoded here as canonical_details encodes it; a column or bind is text made a JSON string
    by to_json, which escapes as orjson does (a property test holds them equal).
    """
    parts: list[ColumnElement[str]] = []
    for n, key in enumerate(sorted(details)):
        value = details[key]
        prefix = ("{" if n == 0 else ",") + orjson.dumps(key).decode() + ":"
        if isinstance(value, str):
            parts.append(literal(prefix + orjson.dumps(value).decode(), Text()))
        else:
            parts.append(literal(prefix, Text()))
            parts.append(cast(func.to_json(cast(value, Text())), Text()))
    if not parts:
        return literal("{}", Text())
    parts.append(literal("}", Text()))
    joined = parts[0]
    for part in parts[1:]:
        joined = joined.concat(part)
    return joined


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lead(session: Session, log: str) -> bool:
    """Become the log's sequencer for this transaction; False if another one leads it now.

    On PostgreSQL a transaction-scoped advisory lock (released by commit, rollback or a dead connection);
    SQLite transactions take the database's write lock when they begin, so one sequencer runs at a time.
    """
    if not is_postgresql(session):
        return True
    return bool(
        session.execute(
            text("SELECT pg_try_advisory_xact_lock(:ns, :log)"), {"ns": _LOCK_NAMESPACE, "log": int(log)}
        ).scalar_one()
    )


def latest_head(session: Session, log: str) -> AuditTreeHead | None:
    return session.execute(
        select(AuditTreeHead).where(AuditTreeHead.log == log).order_by(AuditTreeHead.size.desc()).limit(1)
    ).scalar_one_or_none()


def head(session: Session, log: str, size: int) -> AuditTreeHead | None:
    return session.get(AuditTreeHead, (log, size))


def heads(session: Session, log: str) -> list[AuditTreeHead]:
    return list(
        session.execute(
            select(AuditTreeHead).where(AuditTreeHead.log == log).order_by(AuditTreeHead.size)
        ).scalars()
    )


def insert_head(
    session: Session, *, log: str, size: int, root: bytes, at: datetime, key_id: str, note: str
) -> None:
    session.execute(
        insert(AuditTreeHead).values(log=log, size=size, root=root, at=at, key_id=key_id, note=note)
    )


_UNSEQUENCED_COLUMNS = [getattr(AuditEntry, name) for name in LEAF_COLUMNS]


def logs_to_sequence(session: Session) -> list[str]:
    """Logs with unsequenced entries, and every log with a first leaf (small partial indexes, both)."""
    # A started log may hold leaves carried over from the HMAC chain beyond its signed tree (0004).
    unsequenced = select(AuditEntry.log).where(AuditEntry.leaf_index.is_(None)).distinct()
    started = select(AuditEntry.log).where(AuditEntry.leaf_index == 0)
    return sorted(set(session.execute(unsequenced).scalars()) | set(session.execute(started).scalars()))


class LeafAlreadyAssigned(RuntimeError):
    """An entry the sequencer read as unsequenced had a leaf index when it came to give it one."""


# The oldest unsequenced entries of a log (LEAF_COLUMNS), read on PostgreSQL's driver (nothing per row in
# Python), ...
_UNSEQUENCED = HotStatement(
    select(*(_entries.c[name] for name in LEAF_COLUMNS))
    .where(_entries.c.log == bindparam("log"), _entries.c.leaf_index.is_(None))
    .order_by(_entries.c.id)
    .limit(bindparam("limit", type_=BigInteger()))
)
# ... and numbered in the order of a comma-joined list of their ids (one parameter, not one per entry).
# The condition on leaf_index is written so that it implies no partial index: the only index the join can
# use is the primary key, one lookup per entry, whatever the statistics say of how many are unsequenced.
_listed = (
    func.unnest(func.string_to_array(bindparam("ids", type_=Text()), ","))
    .table_valued("id", with_ordinality="n")
    .render_derived(name="v")
)
_NUMBER_IN_ORDER = HotStatement(
    update(_entries)
    .where(
        _entries.c.id == cast(_listed.c.id, CHAR(26)),
        _entries.c.log == bindparam("log"),
        func.coalesce(_entries.c.leaf_index, -1) == -1,
    )
    .values(leaf_index=bindparam("first", type_=BigInteger()) + _listed.c.n - 1)
)


def take_unsequenced(session: Session, log: str, first: int, limit: int) -> list[tuple[Any, ...]]:
    """Give up to `limit` of the log's unsequenced entries leaf indexes from `first`, in id order.

    Returns their LEAF_COLUMNS in leaf order. Only entries still without one are numbered, so an entry is
    given its leaf once; the caller's transaction holds the log (lead) and commits the tree with them.
    """
    rows = _UNSEQUENCED.execute(session, {"log": log, "limit": limit}).rows
    if not is_postgresql(session):
        assign_leaf_indexes(session, log, [row[0] for row in rows], first)
        return rows
    if not rows:
        return []
    ids = ",".join(row[0] for row in rows)  # ULIDs: no commas
    numbered = _NUMBER_IN_ORDER.execute(session, {"ids": ids, "first": first, "log": log}).affected
    # Fewer: an entry of the batch was given a leaf by another transaction after it was read (PostgreSQL
    # rechecks the condition on a row it waited for). The batch's hashes would not match its indexes.
    if numbered != len(rows):
        raise LeafAlreadyAssigned(f"log {log}: {len(rows) - numbered} entries were not unsequenced")
    return rows


def assign_leaf_indexes(session: Session, log: str, ids: Sequence[str], first: int) -> None:
    """Give the log's unsequenced entries consecutive leaf indexes from `first`, in the order of `ids`.

    Only entries still without one: an entry is given its leaf once (anything else raises, and the round is
    rolled back). What SQLite's sequencer runs after reading the batch; its write lock keeps the batch still.
    """
    if not ids:
        return
    result = session.execute(
        update(_entries)
        .where(_entries.c.id == bindparam("eid"), _entries.c.log == log, _entries.c.leaf_index.is_(None))
        .values(leaf_index=bindparam("i")),
        [{"eid": entry_id, "i": first + n} for n, entry_id in enumerate(ids)],
        execution_options={"synchronize_session": False},
    )
    if affected_rows(result) != len(ids):
        raise LeafAlreadyAssigned(
            f"log {log}: {len(ids) - affected_rows(result)} entries were not unsequenced"
        )


def read_tile(session: Session, log: str, level: int, index: int) -> bytes:
    found = session.execute(
        select(AuditTile.hashes).where(AuditTile.log == log, AuditTile.level == level, AuditTile.idx == index)
    ).scalar_one_or_none()
    return bytes(found) if found is not None else b""


def tiles(session: Session, log: str) -> dict[tuple[int, int], bytes]:
    rows = session.execute(
        select(AuditTile.level, AuditTile.idx, AuditTile.hashes).where(AuditTile.log == log)
    )
    return {(int(level), int(idx)): bytes(hashes) for level, idx, hashes in rows}


def save_tiles(session: Session, log: str, changed: dict[tuple[int, int], bytes]) -> None:
    if not changed:
        return
    table = table_of(AuditTile)
    statement = (pg_insert if is_postgresql(session) else sqlite_insert)(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.log, table.c.level, table.c.idx], set_={"hashes": statement.excluded.hashes}
    )
    session.execute(
        statement,
        [{"log": log, "level": level, "idx": idx, "hashes": data} for (level, idx), data in changed.items()],
    )


def sequenced(session: Session, log: str, batch: int = 5000) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """(leaf index, LEAF_COLUMNS) of the log's sequenced entries in leaf order, read in keyset batches."""
    after = -1
    while True:
        rows = session.execute(
            select(AuditEntry.leaf_index, *_UNSEQUENCED_COLUMNS)
            .where(AuditEntry.log == log, AuditEntry.leaf_index > after)
            .order_by(AuditEntry.leaf_index)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield int(row[0]), tuple(row[1:])
        after = int(rows[-1][0])


def leaves(session: Session, log: str, start: int, end: int) -> list[tuple[Any, ...]]:
    """(leaf index, LEAF_COLUMNS) of leaves [start, end)."""
    rows = session.execute(
        select(AuditEntry.leaf_index, *_UNSEQUENCED_COLUMNS)
        .where(AuditEntry.log == log, AuditEntry.leaf_index >= start, AuditEntry.leaf_index < end)
        .order_by(AuditEntry.leaf_index)
    ).all()
    return [tuple(row) for row in rows]


def uses_of(
    session: Session, log: str, ecard_id: str, since: datetime, size: int
) -> list[tuple[int, tuple[Any, ...]]]:
    """(leaf index, LEAF_COLUMNS) of the e-card's "ecard.used" entries since `since` in the first `size`."""
    rows = session.execute(
        select(AuditEntry.leaf_index, *_UNSEQUENCED_COLUMNS).where(
            AuditEntry.subject_kind == "ecard",
            AuditEntry.subject_id == ecard_id,
            AuditEntry.log == log,
            AuditEntry.action == "ecard.used",
            AuditEntry.at >= since,
            AuditEntry.leaf_index < size,
        )
    ).all()
    return [(int(row[0]), tuple(row[1:])) for row in rows]


def known_logs(session: Session) -> list[str]:
    """Every log that has an entry, a tree head or a tile."""
    found: set[str] = set(session.execute(select(AuditEntry.log).distinct()).scalars())
    found |= set(session.execute(select(AuditTreeHead.log).distinct()).scalars())
    found |= set(session.execute(select(AuditTile.log).distinct()).scalars())
    found |= set(session.execute(select(AuditCosignature.log).distinct()).scalars())
    return sorted(found)


def opened_logs(session: Session, national: str) -> list[str]:
    """The logs the national log recorded as opened."""
    return sorted(
        session.execute(
            select(AuditEntry.subject_id).where(
                AuditEntry.log == national, AuditEntry.action == "audit.log_opened"
            )
        ).scalars()
    )


def entry_of_subject(
    session: Session, subject_kind: str, subject_id: str, limit: int = 100
) -> list[AuditEntry]:
    return list(
        session.execute(
            select(AuditEntry)
            .where(AuditEntry.subject_kind == subject_kind, AuditEntry.subject_id == subject_id)
            .order_by(AuditEntry.at.desc())
            .limit(limit)
        ).scalars()
    )


def witnesses(session: Session) -> list[AuditWitness]:
    return list(session.execute(select(AuditWitness).order_by(AuditWitness.name)).scalars())


def add_witness(session: Session, name: str, public_key: bytes, at: datetime) -> None:
    session.execute(delete(AuditWitness).where(AuditWitness.name == name))
    session.execute(insert(AuditWitness).values(name=name, public_key=public_key, added_at=at))


def cosignatures(session: Session, log: str, size: int | None = None) -> list[AuditCosignature]:
    query = select(AuditCosignature).where(AuditCosignature.log == log)
    if size is not None:
        query = query.where(AuditCosignature.size == size)
    return list(session.execute(query.order_by(AuditCosignature.size, AuditCosignature.witness)).scalars())


def save_cosignature(session: Session, *, log: str, size: int, witness: str, line: str, at: datetime) -> None:
    table = table_of(AuditCosignature)
    statement = (pg_insert if is_postgresql(session) else sqlite_insert)(table)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.log, table.c.size, table.c.witness],
        set_={"line": statement.excluded.line, "at": statement.excluded.at},
    )
    session.execute(statement, {"log": log, "size": size, "witness": witness, "line": line, "at": at})


def largest_size(session: Session, log: str) -> int:
    return int(
        session.execute(
            select(func.coalesce(func.max(AuditTreeHead.size), 0)).where(AuditTreeHead.log == log)
        ).scalar_one()
    )
