"""Leased outboxes: rows written with a change, delivered later by a loop that leases, attempts, settles.

Webhooks to channels, certification results to provinces and back-channel logouts to relying parties are
delivered the same way: a row is written in the transaction of the change; a deliverer leases one due row
(its next attempt moved a lease ahead, so another deliverer skips it), attempts it outside any transaction,
then records the attempt and settles the row: delivered, dead after the last attempt, or due again after a
backoff. Each domain keeps its own table, claim and attempt; the rules of the loop are written here once.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeVar

LEASE = timedelta(seconds=60)

_Job = TypeVar("_Job")


class OutboxStatus(StrEnum):
    """A delivery's status: waiting for (another) attempt, delivered, or given up after the last one."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class LeasedRow(Protocol):
    """The columns every outbox row has for the loop."""

    status: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None


def backoff(attempt: int) -> timedelta:
    """5 s, 10 s, 20 s ... capped at one hour, with up to 20 % jitter so retries do not arrive in waves."""
    base = min(5 * 2 ** (attempt - 1), 3600)
    return timedelta(seconds=base * (1 + secrets.randbelow(200) / 1000))


def settle(
    row: LeasedRow, error: str | None, now: datetime, *, max_attempts: int, error_length: int | None = None
) -> bool:
    """Count an attempt and settle the row by its outcome; False when another deliverer settled it first.

    A lease can run out during a slow attempt, and another deliverer attempt the row again: the first
    outcome recorded stands, the later attempt is only counted.
    """
    row.attempts += 1
    if row.status != OutboxStatus.PENDING:
        return False
    kept = error if error is None or error_length is None else error[:error_length]
    if kept is None:
        row.status, row.delivered_at, row.last_error = OutboxStatus.DELIVERED, now, None
    elif row.attempts >= max_attempts:
        row.status, row.last_error = OutboxStatus.DEAD, kept
    else:
        row.next_attempt_at, row.last_error = now + backoff(row.attempts), kept
    return True


def deliver_due(claim: Callable[[], _Job | None], attempt: Callable[[_Job], None], limit: int) -> int:
    """Lease and attempt due rows one at a time, at most `limit`; returns how many were attempted.

    Each row is leased just before it is attempted, so a lease has to outlast one attempt, not a round.
    """
    attempted = 0
    while attempted < limit:
        job = claim()
        if job is None:
            break
        attempt(job)
        attempted += 1
    return attempted


class DeliveryLoop:
    """Runs delivery rounds in the background of a process until stopped; a failing round is logged."""

    def __init__(
        self, name: str, deliver_round: Callable[[], int], log: logging.Logger, interval: float
    ) -> None:
        self._deliver_round = deliver_round
        self._log = log
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                busy = self._deliver_round()
            except Exception:  # a deliverer must survive a failing round and try again
                self._log.exception("%s: delivery round failed", self._thread.name)
                busy = 0
            if not busy:
                self._stop.wait(max(0.0, self._interval - (time.monotonic() - started)))
