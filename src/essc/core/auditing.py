"""What a unit of work records for the audit log, and the one log it appends to (wired at composition).

The unit of work collects entries while it runs and appends them in its own transaction at commit. Which log
that is (the audit domain's transparency logs) is registered by essc.wiring, so core imports no domain; a
process that commits an audited change before wiring it fails loudly instead of losing the entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from essc.core.db import Session

NATIONAL_LOG = "00"


@dataclass(frozen=True, slots=True)
class AuditStamp:
    """Who, from where and when, shared by the entries a unit of work writes inside a statement of its own."""

    at: datetime
    actor_kind: str
    actor_id: str
    source_ip: str | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class PendingAuditEntry:
    """An audit entry recorded during a unit of work, written when it commits (source_ip: a keyed digest)."""

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
    def log(self) -> str:
        """Each province has its own log; platform-level entries go to the national log."""
        return self.province or NATIONAL_LOG


Append = Callable[[Session, list[PendingAuditEntry]], None]


class AuditLogNotWired(RuntimeError):
    """A unit of work committed audit entries before the process wired its audit log (essc.wiring)."""


class AuditLog:
    """The audit log units of work append to; set once by the composition root."""

    def __init__(self) -> None:
        self._append: Append | None = None

    def register(self, append: Append) -> None:
        self._append = append

    def append(self, session: Session, entries: list[PendingAuditEntry]) -> None:
        if self._append is None:
            raise AuditLogNotWired(f"{len(entries)} audit entries committed before register_handlers()")
        self._append(session, entries)


audit_log = AuditLog()
