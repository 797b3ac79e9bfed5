"""Wire and in-memory types of the audit log."""

from __future__ import annotations

from dataclasses import dataclass, field

from essc.core.auditing import NATIONAL_STREAM, PendingAuditEntry

# Recorded by every unit of work, so defined below the domains (essc.core.auditing).
__all__ = ["NATIONAL_STREAM", "ChainBreak", "PendingAuditEntry", "VerificationReport"]


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
