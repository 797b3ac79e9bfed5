"""Delivers back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0), retried with backoff."""

from __future__ import annotations

import logging
from typing import Protocol

import httpx
from sqlalchemy import select

from essc.core import outbox
from essc.core.platform import Platform
from essc.oidc.models import LogoutNotice, NoticeStatus

log = logging.getLogger("essc.oidc")


class LogoutSender(Protocol):
    """POSTs logout_token=<jwt> as a form; returns the HTTP status, raises when nothing came back."""

    def post(self, url: str, logout_token: str, timeout: float) -> int: ...


class HttpxLogoutSender:
    """The real adapter."""

    def __init__(self) -> None:
        self._client = httpx.Client(follow_redirects=False)

    def post(self, url: str, logout_token: str, timeout: float) -> int:
        return self._client.post(url, data={"logout_token": logout_token}, timeout=timeout).status_code


def _claim(platform: Platform) -> tuple[str, str, str] | None:
    """Lease one due notice to this deliverer (other deliverers skip it until the lease ends)."""
    with platform.session_factory() as session:
        now = platform.clock.now()
        stmt = (
            select(LogoutNotice)
            .where(LogoutNotice.status == NoticeStatus.PENDING, LogoutNotice.next_attempt_at <= now)
            .order_by(LogoutNotice.next_attempt_at)
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        notice = session.execute(stmt).scalar_one_or_none()
        if notice is None:
            return None
        notice.next_attempt_at = now + outbox.LEASE
        job = (notice.id, notice.url, notice.logout_token)
        session.commit()
    return job


def _record(platform: Platform, notice_id: str, error: str | None) -> None:
    with platform.session_factory() as session:
        notice = session.get(LogoutNotice, notice_id)
        assert notice is not None
        max_attempts = platform.settings.webhook_max_attempts
        outbox.settle(notice, error, platform.clock.now(), max_attempts=max_attempts, error_length=256)
        session.commit()


def _attempt(platform: Platform, sender: LogoutSender, job: tuple[str, str, str]) -> None:
    notice_id, url, logout_token = job
    error: str | None = None
    try:
        status = sender.post(url, logout_token, platform.settings.webhook_timeout_seconds)
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except Exception as exc:  # whatever failed is this attempt's outcome
        error = f"{type(exc).__name__}: {exc}"
    _record(platform, notice_id, error)


def deliver_due(platform: Platform, sender: LogoutSender, limit: int = 100) -> int:
    """Deliver up to `limit` due notices; a 2xx marks one delivered, anything else schedules a retry."""
    return outbox.deliver_due(lambda: _claim(platform), lambda job: _attempt(platform, sender, job), limit)


class LogoutDeliveryThread(outbox.DeliveryLoop):
    """Runs deliveries in the background of a process, beside the webhook dispatcher."""

    def __init__(self, platform: Platform, sender: LogoutSender | None = None, interval: float = 1.0) -> None:
        chosen = sender or HttpxLogoutSender()
        super().__init__("essc-oidc-logout", lambda: deliver_due(platform, chosen), log, interval)
