"""Persons and physical social security cards; every row carries its province for partitioning."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class Person(Base):
    """A cardholder; personal fields are encrypted, aac002 is found through its blind index."""

    # No clear column may narrow an ID number below 1,000 candidates (tests/cardholders/test_clear_columns):
    # the mask keeps two characters of it; a rule that needs the birth date reads it from aac002's ciphertext.

    __tablename__ = "persons"

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    aac002_index: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    aac002_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    aac003_cipher: Mapped[bytes] = mapped_column(LargeBinary)
    aac067_cipher: Mapped[bytes | None] = mapped_column(LargeBinary)
    aac002_masked: Mapped[str] = mapped_column(String(18))
    aac003_masked: Mapped[str] = mapped_column(String(64))
    # Digest of the clear fields so a re-import can tell "same row" from "changed row" without decrypting.
    content_digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Card(Base):
    """A physical social security card (aaz500) issued by a region (aab301) to a person."""

    __tablename__ = "cards"
    __table_args__ = (
        ForeignKeyConstraint(["province", "person_id"], ["persons.province", "persons.id"]),
        UniqueConstraint("province", "aaz500"),
        Index("ix_cards_person", "province", "person_id"),
    )

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    person_id: Mapped[str] = mapped_column(CHAR(26))
    aaz500: Mapped[str] = mapped_column(String(9))
    aaz501: Mapped[str] = mapped_column(String(32))
    aab301: Mapped[str] = mapped_column(CHAR(6))
    generation: Mapped[int] = mapped_column(Integer)
    bank_account_active: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    chip_public_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CardEvent(Base):
    """One status event received from a province's card system; its source id makes delivery idempotent."""

    __tablename__ = "card_events"
    __table_args__ = (
        ForeignKeyConstraint(["province", "card_id"], ["cards.province", "cards.id"]),
        UniqueConstraint("province", "source_event_id"),
        Index("ix_card_events_card", "province", "card_id"),
    )

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    card_id: Mapped[str] = mapped_column(CHAR(26))
    source_event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    replacement_card_id: Mapped[str | None] = mapped_column(CHAR(26))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ImportBatch(Base):
    """The ledger of a bulk import: one row per committed batch, written in that batch's transaction.

    A file is known by its digest; its batches commit in order, so the rows of a file are the prefix that
    survived a crash and a rerun resumes after the last of them. The row digests are the leaves of the
    batch's Merkle root, which the batch's audit entry carries (docs/bulk-import.md).
    """

    __tablename__ = "import_batches"
    __table_args__ = (Index("ix_import_batches_province", "province", "committed_at"),)

    file_digest: Mapped[str] = mapped_column(CHAR(64), primary_key=True)
    batch_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    province: Mapped[str] = mapped_column(CHAR(2))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    first_line: Mapped[int] = mapped_column(Integer)
    last_line: Mapped[int] = mapped_column(Integer)
    byte_end: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(Integer)
    changed: Mapped[int] = mapped_column(Integer)
    root: Mapped[bytes] = mapped_column(LargeBinary(64))
    row_digests: Mapped[bytes] = mapped_column(LargeBinary)
    # Bad rows as "line<TAB>reason" lines, reasons masked: a rerun reports them again without re-reading.
    rejected: Mapped[str] = mapped_column(Text)
    committed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class HolderFeedMark(Base):
    """The sequence of the last change a province's daily feed applied to a holder: older ones are ignored."""

    __tablename__ = "holder_feed_marks"

    province: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    aac002_index: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
