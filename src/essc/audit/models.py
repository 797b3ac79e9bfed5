"""The audit log as transparency logs: entries appended by any transaction, sequenced into Merkle trees."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, BigInteger, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class AuditEntry(Base):
    """One audited change, inserted by the transaction that made it; the sequencer gives it its leaf index."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_subject", "subject_kind", "subject_id"),
        # Only sequenced entries: an entry is inserted without a leaf index, so on the request path this
        # index costs nothing; every read by leaf index (proofs, pages, verify) implies IS NOT NULL.
        Index(
            "uq_audit_entries_leaf",
            "log",
            "leaf_index",
            unique=True,
            postgresql_where=text("leaf_index IS NOT NULL"),
            sqlite_where=text("leaf_index IS NOT NULL"),
        ),
        # What the sequencer looks for: small, because entries leave it within a second.
        Index(
            "ix_audit_unsequenced",
            "log",
            "id",
            postgresql_where=text("leaf_index IS NULL"),
            sqlite_where=text("leaf_index IS NULL"),
        ),
        # One row per log: the logs the sequencer looks at for leaves carried over from the HMAC chain.
        Index(
            "ix_audit_first_leaf",
            "log",
            postgresql_where=text("leaf_index = 0"),
            sqlite_where=text("leaf_index = 0"),
        ),
    )

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    log: Mapped[str] = mapped_column(CHAR(2))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    province: Mapped[str | None] = mapped_column(CHAR(2))
    # A keyed digest (the blind index) of the caller's address: the published leaves name no one.
    source_ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)
    leaf_index: Mapped[int | None] = mapped_column(BigInteger)


class AuditTreeHead(Base):
    """Every signed tree head of every log (the latest is the log's checkpoint)."""

    __tablename__ = "audit_tree_heads"

    log: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    key_id: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)


class AuditTile(Base):
    """Tile (level, index) of a log's tree: the hashes of tree level 8 * level, nodes 256 * index onwards."""

    __tablename__ = "audit_tiles"

    log: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class AuditWitness(Base):
    """A witness whose cosignatures the platform accepts and publishes."""

    __tablename__ = "audit_witnesses"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuditCosignature(Base):
    """A witness's cosignature of one tree head, published beside the checkpoint."""

    __tablename__ = "audit_cosignatures"

    log: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(128), primary_key=True)
    line: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
