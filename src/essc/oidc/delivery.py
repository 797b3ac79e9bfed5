"""Delivers back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0), retried with backoff."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Protocol

import httpx
from sqlalchemy import select

from essc.core.platform import Platform
from essc.oidc.models import LogoutNotice, NoticeStatus
from essc.webhooks.dispatcher import backoff

log = logging.getLogger("essc.oidc")
LEASE = timedelta(seconds=60)


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
        notice.next_attempt_at = now + LEASE
        job = (notice.id, notice.url, notice.logout_token)
        session.commit()
    return job


def _record(platform: Platform, notice_id: str, error: str | None) -> None:
    with platform.session_factory() as session:
        notice = session.get(LogoutNotice, notice_id)
        assert notice is not None
        now = platform.clock.now()
        notice.attempts += 1
        if error is None:
            notice.status, notice.delivered_at, notice.last_error = NoticeStatus.DELIVERED, now, None
        elif notice.attempts >= platform.settings.webhook_max_attempts:
            notice.status, notice.last_error = NoticeStatus.DEAD, error[:256]
        else:
            notice.next_attempt_at, notice.last_error = now + backoff(notice.attempts), error[:256]
        session.commit()


def deliver_due(platform: Platform, sender: LogoutSender, limit: int = 100) -> int:
    """Deliver up to `limit` due notices; a 2xx marks one delivered, anything else schedules a retry."""
    done = 0
    while done < limit:
        job = _claim(platform)
        if job is None:
            break
        notice_id, url, logout_token = job
        error: str | None = None
        try:
            status = sender.post(url, logout_token, platform.settings.webhook_timeout_seconds)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except Exception as exc:  # whatever failed is this attempt's outcome
            error = f"{type(exc).__name__}: {exc}"
        _record(platform, notice_id, error)
        done += 1
    return done


class LogoutDeliveryThread:
    """Runs deliveries in the background of an API process, beside the webhook dispatcher."""

    def __init__(self, platform: Platform, sender: LogoutSender | None = None, interval: float = 1.0) -> None:
        self._platform = platform
        self._sender = sender or HttpxLogoutSender()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="essc-oidc-logout", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                busy = deliver_due(self._platform, self._sender)
            except Exception:  # a deliverer must survive a failing round and try again
                log.exception("logout delivery round failed")
                busy = 0
            if not busy:
                self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))
