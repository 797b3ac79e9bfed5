"""The rules every leased outbox follows: each try counted, and the first outcome recorded stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from essc.core.outbox import OutboxStatus, backoff, deliver_due, settle

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@dataclass
class Row:
    """An outbox row as the loop sees one (webhooks, certification results and logouts all have these)."""

    status: str = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime = NOW
    delivered_at: datetime | None = None
    last_error: str | None = None


def test_a_delivered_attempt_settles_the_row() -> None:
    row = Row(last_error="HTTP 503")
    assert settle(row, None, NOW, max_attempts=3)
    assert (row.status, row.delivered_at, row.last_error, row.attempts) == ("delivered", NOW, None, 1)


def test_a_failed_attempt_is_due_again_after_the_backoff() -> None:
    row = Row()
    assert settle(row, "HTTP 500", NOW, max_attempts=3)
    assert row.status == "pending"
    assert row.last_error == "HTTP 500"
    assert timedelta(seconds=5) <= row.next_attempt_at - NOW <= timedelta(seconds=6)


def test_the_last_failed_attempt_gives_the_row_up() -> None:
    row = Row(attempts=2)
    assert settle(row, "ConnectError: refused", NOW, max_attempts=3)
    assert (row.status, row.attempts, row.last_error) == ("dead", 3, "ConnectError: refused")


def test_a_row_settled_by_another_deliverer_keeps_that_outcome_and_counts_the_attempt() -> None:
    # A lease ran out during a slow attempt; another deliverer delivered the row meanwhile.
    row = Row(status=OutboxStatus.DELIVERED, attempts=1, delivered_at=NOW)
    assert not settle(row, "HTTP 500", NOW + timedelta(minutes=2), max_attempts=3)
    assert (row.status, row.delivered_at, row.last_error, row.attempts) == ("delivered", NOW, None, 2)


def test_an_error_is_kept_to_the_length_its_column_holds() -> None:
    row = Row()
    settle(row, "x" * 1000, NOW, max_attempts=3, error_length=256)
    assert row.last_error == "x" * 256


@given(st.integers(min_value=1, max_value=60))
def test_backoff_doubles_from_five_seconds_to_an_hour_with_at_most_a_fifth_of_jitter(attempt: int) -> None:
    base = min(5 * 2 ** (attempt - 1), 3600)
    assert timedelta(seconds=base) <= backoff(attempt) < timedelta(seconds=base * 1.2)


def test_a_round_attempts_what_is_due_up_to_its_limit() -> None:
    due = ["a", "b", "c"]
    attempted: list[str] = []

    def claim() -> str | None:
        return due.pop(0) if due else None

    assert deliver_due(claim, attempted.append, limit=2) == 2
    assert deliver_due(claim, attempted.append, limit=2) == 1
    assert deliver_due(claim, attempted.append, limit=2) == 0
    assert attempted == ["a", "b", "c"]
