"""All SQL of persons, cards and card events."""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import psycopg
from sqlalchemy import bindparam, func, insert, select, text, tuple_, update

from essc.cardholders.models import Card, CardEvent, ImportBatch, Person
from essc.core.db import Base, Session, UtcDateTime, affected_rows


def person_by_index(session: Session, aac002_index: bytes) -> Person | None:
    return session.execute(select(Person).where(Person.aac002_index == aac002_index)).scalar_one_or_none()


def person(session: Session, province: str, person_id: str) -> Person | None:
    return session.get(Person, (province, person_id))


def card(session: Session, province: str, card_id: str) -> Card | None:
    return session.get(Card, (province, card_id))


def card_by_number(session: Session, province: str, aaz500: str) -> Card | None:
    return session.execute(
        select(Card).where(Card.province == province, Card.aaz500 == aaz500)
    ).scalar_one_or_none()


def card_for_update(session: Session, province: str, aaz500: str) -> Card | None:
    """Lock the card row so concurrent events on one card apply one after the other."""
    return session.execute(
        select(Card).where(Card.province == province, Card.aaz500 == aaz500).with_for_update()
    ).scalar_one_or_none()


def event_by_source(session: Session, province: str, source_event_id: str) -> CardEvent | None:
    return session.execute(
        select(CardEvent).where(CardEvent.province == province, CardEvent.source_event_id == source_event_id)
    ).scalar_one_or_none()


def persons_by_index(session: Session, indexes: Sequence[bytes]) -> dict[bytes, tuple[str, str, bytes]]:
    """index -> (province, person id, content digest) for the indexes that exist."""
    if not indexes:
        return {}
    rows = session.execute(
        select(Person.aac002_index, Person.province, Person.id, Person.content_digest).where(
            Person.aac002_index.in_(indexes)
        )
    )
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def cards_by_number(session: Session, province: str, numbers: Sequence[str]) -> dict[str, Card]:
    if not numbers:
        return {}
    rows = session.execute(select(Card).where(Card.province == province, Card.aaz500.in_(numbers))).scalars()
    return {c.aaz500: c for c in rows}


def insert_persons(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Person), rows)


def insert_cards(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(Card), rows)


def update_person_fields(session: Session, province: str, person_id: str, values: dict[str, Any]) -> None:
    session.execute(
        update(Person).where(Person.province == province, Person.id == person_id).values(**values)
    )


def count_persons(session: Session, province: str | None = None) -> int:
    stmt = select(func.count()).select_from(Person)
    if province:
        stmt = stmt.where(Person.province == province)
    return int(session.execute(stmt).scalar_one())


def cards_by_keys(session: Session, keys: Sequence[tuple[str, str]]) -> list[Card]:
    if not keys:
        return []
    return list(session.execute(select(Card).where(tuple_(Card.province, Card.id).in_(keys))).scalars())


# -- bulk import: the staging table, the set-wise merge and the batch ledger ------------------------------


class StagedRow(NamedTuple):
    """One prepared holder row as the staging table holds it (column order of _STAGED_COLUMNS)."""

    line: int
    person_id: str
    aac002_index: bytes
    aac002_cipher: bytes
    aac003_cipher: bytes
    aac067_cipher: bytes | None
    aac002_masked: str
    aac003_masked: str
    content_digest: bytes
    card_id: str
    aaz500: str
    aaz501: str
    aab301: str
    generation: int
    bank_account_active: bool
    status: str
    first_of_person: bool  # the person's first row in the batch: the one a new person is inserted from


_STAGED_COLUMNS = StagedRow._fields
_STAGED_TYPES = (
    "int4", "text", "bytea", "bytea", "bytea", "bytea", "text", "text", "bytea",
    "text", "text", "text", "text", "int4", "bool", "text", "bool",
)  # fmt: skip
_STAGING_BODY = """(
    line integer NOT NULL, person_id text NOT NULL, aac002_index {blob} NOT NULL,
    aac002_cipher {blob} NOT NULL, aac003_cipher {blob} NOT NULL, aac067_cipher {blob},
    aac002_masked text NOT NULL, aac003_masked text NOT NULL, content_digest {blob} NOT NULL,
    card_id text NOT NULL, aaz500 text NOT NULL, aaz501 text NOT NULL, aab301 text NOT NULL,
    generation integer NOT NULL, bank_account_active boolean NOT NULL, status text NOT NULL,
    first_of_person boolean NOT NULL, existing boolean NOT NULL DEFAULT FALSE, held_by text,
    same_content boolean, card_held boolean NOT NULL DEFAULT FALSE, card_same_person boolean
)"""
_SQLITE_STAGE = "INSERT INTO import_staging ({}) VALUES ({})".format(  # noqa: S608 - our own columns
    ", ".join(_STAGED_COLUMNS), ", ".join("?" for _ in _STAGED_COLUMNS)
)
_NOW = bindparam("now", type_=UtcDateTime())


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


# PostgreSQL's binary COPY framing (the COPY command's documentation, "Binary Format").
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no header extension
_COPY_TRAILER = b"\xff\xff"
_COPY_NULL = b"\xff\xff\xff\xff"
_COPY_LENGTHS = [struct.pack(">i", size) for size in range(1024)]
_COPY_INT4 = struct.Struct(">ii")
_COPY_FIELDS = struct.pack(">h", len(_STAGED_COLUMNS))
_COPY_TRUE, _COPY_FALSE = _COPY_LENGTHS[1] + b"\x01", _COPY_LENGTHS[1] + b"\x00"
_COPY_TIMESTAMP = struct.Struct(">iq")
_COPY_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# The columns a batch of new holders is copied into, in the order copy_streams encodes them.
_PERSON_COLUMNS = (
    "province", "id", "aac002_index", "aac002_cipher", "aac003_cipher", "aac067_cipher",
    "aac002_masked", "aac003_masked", "content_digest", "created_at", "updated_at",
)  # fmt: skip
_CARD_COLUMNS = (
    "province", "id", "person_id", "aaz500", "aaz501", "aab301", "generation", "bank_account_active",
    "status", "chip_public_key", "issued_at", "status_changed_at",
)  # fmt: skip
_PERSON_FIELDS = struct.pack(">h", len(_PERSON_COLUMNS))
_CARD_FIELDS = struct.pack(">h", len(_CARD_COLUMNS))


def _copy_value(value: bytes) -> bytes:
    """A field's length and bytes; the lengths of short fields come from a table."""
    size = len(value)
    return (_COPY_LENGTHS[size] if size < 1024 else struct.pack(">i", size)) + value


class CopyStreams(NamedTuple):
    """A batch's rows as binary COPY streams: of the staging table, and straight of persons and cards."""

    staged: bytes
    persons: bytes  # from the first row of each person of the batch
    cards: bytes


def _copy_timestamp(moment: datetime) -> bytes:
    """A timestamptz field: microseconds since 2000-01-01 UTC."""
    delta = moment - _COPY_EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return _COPY_TIMESTAMP.pack(8, micros)


def copy_streams(rows: Iterable[tuple[Any, ...]], province: str, now: datetime) -> CopyStreams:
    """Rows of the staging table (StagedRow's columns, plain tuples) as binary COPY streams, `now` stamped."""
    # Written for the import's worker processes: the importing process then hands the database buffers
    # instead of encoding (and first unpickling) 17 values a row; tests compare them with psycopg's encoder.
    # Each field is encoded once and joined into whichever streams hold it.
    staged, persons, cards = [_COPY_HEADER], [_COPY_HEADER], [_COPY_HEADER]
    add_staged, add_person, add_card, value = staged.append, persons.append, cards.append, _copy_value
    where, stamp = value(province.encode()), _copy_timestamp(now)
    for (
        line, person_id, index, c002, c003, c067, m002, m003, digest, card_id,
        aaz500, aaz501, aab301, generation, active, status, first,
    ) in rows:  # fmt: skip
        person = (
            value(person_id.encode()),
            value(index),
            value(c002),
            value(c003),
            _COPY_NULL if c067 is None else value(c067),
            value(m002.encode()),
            value(m003.encode()),
            value(digest),
        )
        card = (
            value(aaz500.encode()),
            value(aaz501.encode()),
            value(aab301.encode()),
            _COPY_INT4.pack(4, generation),
            _COPY_TRUE if active else _COPY_FALSE,
            value(status.encode()),
        )
        card_key = value(card_id.encode())
        add_staged(
            b"".join(
                (
                    _COPY_FIELDS,
                    _COPY_INT4.pack(4, line),
                    *person,
                    card_key,
                    *card,
                    _COPY_TRUE if first else _COPY_FALSE,
                )
            )
        )
        add_card(b"".join((_CARD_FIELDS, where, card_key, person[0], *card, _COPY_NULL, stamp, stamp)))
        if first:
            add_person(b"".join((_PERSON_FIELDS, where, *person, stamp, stamp)))
    for stream in (staged, persons, cards):
        stream.append(_COPY_TRAILER)
    return CopyStreams(b"".join(staged), b"".join(persons), b"".join(cards))


def staged_copy_data(rows: Iterable[tuple[Any, ...]]) -> bytes:
    """Rows of the staging table as one binary COPY stream (copy_streams' first)."""
    return copy_streams(rows, "00", _COPY_EPOCH).staged


def stage(session: Session, rows: Sequence[StagedRow], copy_data: bytes = b"") -> None:
    """Load prepared rows into this connection's empty staging table: binary COPY on PostgreSQL.

    `copy_data`, when given, is those rows already encoded by copy_streams (its `staged`; PostgreSQL only).
    """
    # No index and no ANALYZE on the staging table: every statement of the merge reads it whole, once, and
    # probes the unique indexes of persons and cards from it (resolve_staged_persons pins that plan).
    if _is_postgresql(session):
        session.execute(
            text(
                "CREATE TEMP TABLE IF NOT EXISTS import_staging "
                + _STAGING_BODY.format(blob="bytea")
                + " ON COMMIT DELETE ROWS"
            )
        )
        driver = session.connection().connection.driver_connection
        columns = ", ".join(_STAGED_COLUMNS)
        statement = f"COPY import_staging ({columns}) FROM STDIN (FORMAT BINARY)"
        with driver.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
            if copy_data:
                copy.write(copy_data)
                return
            copy.set_types(_STAGED_TYPES)
            for row in rows:
                copy.write_row(row)
        return
    if copy_data:
        raise ValueError("binary COPY data stages rows on PostgreSQL only")
    session.execute(
        text("CREATE TEMP TABLE IF NOT EXISTS import_staging " + _STAGING_BODY.format(blob="blob"))
    )
    session.execute(text("DELETE FROM import_staging"))
    if rows:
        driver = session.connection().connection.driver_connection
        driver.executemany(_SQLITE_STAGE, rows)  # type: ignore[union-attr]


_SQLITE_NEW_PERSONS = "INSERT INTO persons ({}) VALUES ({})".format(  # noqa: S608 - our own columns
    ", ".join(_PERSON_COLUMNS), ", ".join("?" for _ in _PERSON_COLUMNS)
)
_SQLITE_NEW_CARDS = "INSERT INTO cards ({}) VALUES ({})".format(  # noqa: S608 - our own columns
    ", ".join(_CARD_COLUMNS), ", ".join("?" for _ in _CARD_COLUMNS)
)


def insert_new_holders(
    session: Session, province: str, rows: Sequence[StagedRow], streams: CopyStreams | None, now: datetime
) -> bool:
    """Write a batch straight into persons and cards if none of its holders and cards exists; whether it did.

    `streams` (PostgreSQL) are the rows encoded by copy_streams with this `now`; SQLite inserts `rows`.
    """
    # The unique indexes of aac002's blind index and of (province, aaz500) are the probe: a batch that names
    # a holder or a card the database holds fails on them, its writes are undone to the savepoint, and it goes
    # through staging and the merge instead. A batch of new holders costs what COPY costs, and no lookup.
    savepoint = session.begin_nested()
    driver: Any = session.connection().connection.driver_connection
    try:
        if streams is not None:
            with driver.cursor() as cursor:
                for table, columns, data in (
                    ("persons", _PERSON_COLUMNS, streams.persons),
                    ("cards", _CARD_COLUMNS, streams.cards),
                ):
                    listed = ", ".join(columns)
                    with cursor.copy(f"COPY {table} ({listed}) FROM STDIN (FORMAT BINARY)") as copy:
                        copy.write(data)
        else:
            to_column = UtcDateTime().bind_processor(session.get_bind().dialect)
            stamp = to_column(now) if to_column is not None else now
            driver.executemany(
                _SQLITE_NEW_PERSONS,
                [(province, *row[1:9], stamp, stamp) for row in rows if row.first_of_person],
            )
            driver.executemany(
                _SQLITE_NEW_CARDS,
                [(province, row[9], row[1], *row[10:16], None, stamp, stamp) for row in rows],
            )
    except (psycopg.errors.UniqueViolation, sqlite3.IntegrityError) as error:
        if (
            isinstance(error, sqlite3.IntegrityError)
            and error.sqlite_errorcode != sqlite3.SQLITE_CONSTRAINT_UNIQUE
        ):
            raise
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


@dataclass(slots=True)
class StagedPersons:
    """What the database already holds of a staged batch, by line."""

    existing: set[int] = field(default_factory=set)
    changed: dict[int, str] = field(default_factory=dict)  # line -> the existing person's id
    elsewhere: dict[int, str] = field(default_factory=dict)  # line -> the province that holds the person
    card_conflicts: dict[int, str] = field(default_factory=dict)  # line -> aaz500 held by another person
    cards: set[str] = field(default_factory=set)  # aaz500 already held by the same person


@contextmanager
def _probing_unique_indexes(session: Session) -> Iterator[None]:
    """Join the staging table to persons or cards by probing their unique indexes row by row (nested loop).

    Costed by default, 10,000 probes look dearer than one pass over the table, so the planner would hash the
    whole of persons and of cards for every batch: a batch would then cost time in proportion to the rows
    already loaded, and a load quadratic time. PostgreSQL only; SQLite plans index probes by itself.
    """
    postgresql = _is_postgresql(session)
    if postgresql:
        session.execute(text("SET LOCAL enable_hashjoin = off"))
        session.execute(text("SET LOCAL enable_mergejoin = off"))
    yield
    if postgresql:
        session.execute(text("SET LOCAL enable_hashjoin TO DEFAULT"))
        session.execute(text("SET LOCAL enable_mergejoin TO DEFAULT"))


def resolve_staged_persons(session: Session, province: str) -> StagedPersons:
    """Point staged rows at the persons that exist; find rows held by another province or another person."""
    with _probing_unique_indexes(session):
        return _resolve_staged_persons(session, province)


def _resolve_staged_persons(session: Session, province: str) -> StagedPersons:
    found = StagedPersons()
    # One pass of probes: every staged row held by someone takes that person's id, province and content
    # comparison; rows of another province are refused and dropped before anything is written from them.
    rows = session.execute(
        text(
            "UPDATE import_staging SET person_id = p.id, existing = TRUE, held_by = p.province, "
            "same_content = p.content_digest = import_staging.content_digest FROM persons p "
            "WHERE p.aac002_index = import_staging.aac002_index "
            "RETURNING line, held_by, person_id, same_content"
        )
    )
    for line, held_by, person_id, same in rows:
        if held_by != province:
            found.elsewhere[line] = held_by
            continue
        found.existing.add(line)
        if not same:
            found.changed[line] = person_id
    # Rows whose card exists are marked, so the cards are then inserted without ON CONFLICT (which probes the
    # unique index a second time for every row) and updated only where they exist.
    cards = session.execute(
        text(
            "UPDATE import_staging SET card_held = TRUE, "
            "card_same_person = c.person_id = import_staging.person_id FROM cards c "
            "WHERE c.province = :province AND c.aaz500 = import_staging.aaz500 "
            "RETURNING import_staging.line, import_staging.aaz500, import_staging.card_same_person"
        ),
        {"province": province},
    )
    for line, aaz500, same_person in cards:
        if line in found.elsewhere:
            continue
        if same_person:
            found.cards.add(aaz500)
        else:
            found.card_conflicts[line] = aaz500
    return found


def drop_staged(session: Session, lines: Sequence[int]) -> None:
    if lines:
        session.execute(
            text("DELETE FROM import_staging WHERE line IN :lines").bindparams(
                bindparam("lines", expanding=True)
            ),
            {"lines": list(lines)},
        )


def mark_first_of_person(session: Session, lines: Sequence[int]) -> None:
    """Make these staged rows their person's first (the earlier first row was dropped)."""
    if lines:
        session.execute(
            text("UPDATE import_staging SET first_of_person = TRUE WHERE line IN :lines").bindparams(
                bindparam("lines", expanding=True)
            ),
            {"lines": list(lines)},
        )


def insert_staged_persons(session: Session, now: datetime) -> int:
    """Insert the staged persons that do not exist yet, each from its first row in the batch; the count."""
    result = session.execute(
        text(
            "INSERT INTO persons (province, id, aac002_index, aac002_cipher, aac003_cipher, aac067_cipher, "
            "aac002_masked, aac003_masked, content_digest, created_at, updated_at) "
            "SELECT substr(s.aab301, 1, 2), s.person_id, s.aac002_index, s.aac002_cipher, s.aac003_cipher, "
            "s.aac067_cipher, s.aac002_masked, s.aac003_masked, s.content_digest, :now, :now "
            "FROM import_staging s WHERE NOT s.existing AND s.first_of_person"
        ).bindparams(_NOW),
        {"now": now},
    )
    return affected_rows(result)


def update_persons_from(session: Session, province: str, rows: Sequence[StagedRow], now: datetime) -> None:
    """Write the re-sealed fields of persons whose content changed."""
    persons = Base.metadata.tables["persons"]
    session.execute(
        update(persons)
        .where(persons.c.province == province, persons.c.id == bindparam("pid"))
        .values(
            aac002_cipher=bindparam("c2"),
            aac003_cipher=bindparam("c3"),
            aac067_cipher=bindparam("c67"),
            aac002_masked=bindparam("m2"),
            aac003_masked=bindparam("m3"),
            content_digest=bindparam("digest"),
            updated_at=bindparam("now"),
        ),
        [
            {
                "pid": r.person_id,
                "c2": r.aac002_cipher,
                "c3": r.aac003_cipher,
                "c67": r.aac067_cipher,
                "m2": r.aac002_masked,
                "m3": r.aac003_masked,
                "digest": r.content_digest,
                "now": now,
            }
            for r in rows
        ],
    )


def insert_staged_cards(session: Session, province: str, now: datetime) -> int:
    """Insert the staged cards that do not exist yet (resolve_staged_persons marked those that do)."""
    result = session.execute(
        text(
            "INSERT INTO cards (province, id, person_id, aaz500, aaz501, aab301, generation, "
            "bank_account_active, status, chip_public_key, issued_at, status_changed_at) "
            "SELECT :province, s.card_id, s.person_id, s.aaz500, s.aaz501, s.aab301, s.generation, "
            "s.bank_account_active, s.status, NULL, :now, :now FROM import_staging s WHERE NOT s.card_held"
        ).bindparams(_NOW),
        {"province": province, "now": now},
    )
    return affected_rows(result)


def update_staged_cards(session: Session, province: str) -> set[str]:
    """Update the existing cards whose fields changed (never their status); the aaz500 updated."""
    with _probing_unique_indexes(session):
        result = session.execute(
            text(
                "UPDATE cards SET aaz501 = s.aaz501, aab301 = s.aab301, generation = s.generation, "
                "bank_account_active = s.bank_account_active FROM import_staging s "
                "WHERE s.card_held AND cards.province = :province AND cards.aaz500 = s.aaz500 "
                "AND (cards.aaz501 <> s.aaz501 OR cards.aab301 <> s.aab301 "
                "OR cards.generation <> s.generation OR cards.bank_account_active <> s.bank_account_active) "
                "RETURNING cards.aaz500"
            ),
            {"province": province},
        )
        return {str(number) for number in result.scalars()}


def commit_without_flush_wait(session: Session) -> None:
    """Let this transaction's commit return before its WAL reaches the disk (PostgreSQL; SQLite: nothing)."""
    # For a bulk batch only: its ledger row commits with it, so a batch lost to a crash in the next moment is
    # loaded again by the rerun; any later synchronous commit (a tree head over its audit entry) flushes the
    # WAL up to and including it first.
    if _is_postgresql(session):
        session.execute(text("SET LOCAL synchronous_commit = off"))


def analyze_holders(session: Session) -> None:
    """Fresh planner statistics for the tables a bulk load grows."""
    for table in ("persons", "cards"):
        session.execute(text(f"ANALYZE {table}"))


def import_batches(session: Session, file_digest: str) -> list[ImportBatch]:
    """The committed batches of a file, in order."""
    return list(
        session.execute(
            select(ImportBatch).where(ImportBatch.file_digest == file_digest).order_by(ImportBatch.batch_no)
        ).scalars()
    )


def batch_holding(session: Session, province: str, row_digest: bytes) -> tuple[ImportBatch, int] | None:
    """The latest committed batch of the province whose rows include this row digest, and its position."""
    position = (
        "position(:digest IN row_digests)" if _is_postgresql(session) else "instr(row_digests, :digest)"
    )
    candidates = session.execute(
        text(
            f"SELECT file_digest, batch_no, {position} FROM import_batches "  # noqa: S608 - a constant of ours
            f"WHERE province = :province AND {position} > 0 ORDER BY committed_at DESC, batch_no DESC"
        ),
        {"digest": row_digest, "province": province},
    )
    size = len(row_digest)
    for file_digest, batch_no, at in candidates:
        # The digest may straddle two stored digests by chance; only an aligned match is a row of the batch.
        start = int(at) - 1
        if start % size == 0:
            batch = session.get(ImportBatch, (file_digest, batch_no))
            assert batch is not None
            return batch, start // size
    return None


def cards_of_person(session: Session, province: str, person_id: str) -> list[Card]:
    return list(
        session.execute(select(Card).where(Card.province == province, Card.person_id == person_id)).scalars()
    )
