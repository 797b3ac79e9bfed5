"""The platform app whose audit log a request can switch off: what bench_qr.py compares to learn its cost.

The production app (the same `create_app` over a platform of the same settings), in which a request that
carries the header `x-bench-audit: off` is served with the audit log off: its unit of work appends to
nothing and the resolution's statement, which writes its entries itself on PostgreSQL, is the one built
without them. Every other request is the platform's, audited as in production. Both arms of the comparison
run in the same server processes, so a difference between two server instances (their memory layout, hash
seeds, where their workers run) is not taken for the cost of auditing. Bench use only: what it serves with
the header leaves no audit trail.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from essc.audit import repository as audit_repository
from essc.core.auditing import PendingAuditEntry, audit_log
from essc.core.db import HotStatement
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.qr import repository as qr_repository
from essc.web.app import create_app
from essc.wiring import register_handlers

SWITCH_HEADER = b"x-bench-audit"
_audit_off: ContextVar[bool] = ContextVar("audit_off", default=False)


def _append_unless_off(session: Session, entries: list[PendingAuditEntry]) -> None:
    if not _audit_off.get():
        audit_repository.append(session, entries)


class _EitherStatement:
    """The resolution's statement with its audit entries, or without them when the request switched it off."""

    def __init__(self) -> None:
        self._audited = HotStatement(qr_repository.spend_and_record())
        self._unaudited = HotStatement(qr_repository.spend_and_record(audited=False))

    def execute(self, session: Session, params: dict[str, Any]) -> Any:
        return (self._unaudited if _audit_off.get() else self._audited).execute(session, params)


class _Switch:
    """Serves the request with the audit log off when it carries `x-bench-audit: off`."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (SWITCH_HEADER, b"off") not in scope["headers"]:
            await self._app(scope, receive, send)
            return
        token = _audit_off.set(True)
        try:
            await self._app(scope, receive, send)
        finally:
            _audit_off.reset(token)


def build() -> ASGIApp:
    """The platform app (uvicorn --factory), audited unless a request switches its audit log off."""
    register_handlers()
    audit_log.register(_append_unless_off)
    qr_repository._SPEND_AND_RECORD = _EitherStatement()  # type: ignore[assignment]
    return _Switch(create_app(build_platform(Settings())))
