"""The platform app with its audit log switched off: what bench_qr.py compares to learn what auditing costs.

Built by the same `create_app` over a platform of the same settings; the one difference is the audit log
the units of work append to, which here discards what it is given, so nothing is appended or sequenced.
Bench use only: what it serves leaves no audit trail.
"""

from __future__ import annotations

from sqlalchemy.orm import Session
from starlette.types import ASGIApp

from essc.core.auditing import PendingAuditEntry, audit_log
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.web.app import create_app
from essc.wiring import register_handlers


def _discard(_session: Session, _entries: list[PendingAuditEntry]) -> None:
    """Appends nothing."""


def build() -> ASGIApp:
    """The platform app (uvicorn --factory) whose audit entries go nowhere; it sequences nothing either."""
    register_handlers()
    audit_log.register(_discard)
    return create_app(build_platform(Settings(run_sequencer=False, run_dispatcher=False)))
