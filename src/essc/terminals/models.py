"""Tables of institutions, terminals and what each terminal is granted."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CHAR, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime


class Institution(Base):
    """An accepting institution of a province: service centre, hospital, pharmacy, bank, transit operator."""

    __tablename__ = "institutions"
    __table_args__ = (UniqueConstraint("province", "code"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    province: Mapped[str] = mapped_column(CHAR(2))
    code: Mapped[str] = mapped_column(String(32))  # registration number, unique in the province
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16))  # active | suspended
    webhook_url: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Terminal(Base):
    """A device of an institution; it authenticates as caller terminal/<terminal_no> (id = caller id)."""

    __tablename__ = "terminals"
    __table_args__ = (Index("ix_terminals_institution", "institution_id"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    province: Mapped[str] = mapped_column(CHAR(2))
    institution_id: Mapped[str] = mapped_column(ForeignKey("institutions.id"))
    terminal_no: Mapped[str] = mapped_column(String(20), unique=True)
    device_serial: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # counter | kiosk | gate | pos | web
    caller_id: Mapped[str] = mapped_column(ForeignKey("callers.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16))  # active | suspended
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TerminalGrant(Base):
    """One busiType a terminal may resolve codes for, and how much of the holder it may learn."""

    __tablename__ = "terminal_grants"

    terminal_id: Mapped[str] = mapped_column(ForeignKey("terminals.id"), primary_key=True)
    busi_type: Mapped[str] = mapped_column(CHAR(2), primary_key=True)
    disclosure: Mapped[str] = mapped_column(String(16))  # presence | masked | clear
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)
