"""Wire and in-memory types of the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

NATIONAL_STREAM = "00"


@dataclass(frozen=True, slots=True)
class PendingAuditEntry:
    """An audit entry recorded during a unit of work, chained and written when it commits."""

    id: str
    at: datetime
    actor_kind: str
    actor_id: str
    action: str
    subject_kind: str
    subject_id: str
    province: str | None
    source_ip: str | None
    request_id: str | None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def stream(self) -> str:
        """Entries of a province chain together; platform-level ones chain in the national stream."""
        return self.province or NATIONAL_STREAM


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """One finding of audit verification."""

    stream: str
    seq: int
    reason: str


@dataclass(slots=True)
class VerificationReport:
    streams: int = 0
    entries: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks
