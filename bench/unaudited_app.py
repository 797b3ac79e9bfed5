"""The platform app with its audit log switched off: what bench_qr.py compares to learn what auditing costs.

Built by the same `create_app` over a platform of the same settings; the one difference is the audit log:
the units of work append to one that discards what it is given, and the resolution's statement, which
writes its entries itself on PostgreSQL, is built without them. Nothing is appended or sequenced.
Bench use only: what it serves leaves no audit trail.
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.types import ASGIApp

from essc.core.auditing import PendingAuditEntry, audit_log
from essc.core.db import HotStatement
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.qr import repository as qr_repository
from essc.web.app import create_app
from essc.wiring import register_handlers


def _discard(_session: Session, _entries: list[PendingAuditEntry]) -> None:
    """Appends nothing."""


def build() -> ASGIApp:
    """The platform app (uvicorn --factory) whose audit entries go nowhere; it sequences nothing either."""
    register_handlers()
    audit_log.register(_discard)
    qr_repository._SPEND_AND_RECORD = HotStatement(qr_repository.spend_and_record(audited=False))
    return create_app(build_platform(Settings(run_sequencer=False, run_dispatcher=False)))
