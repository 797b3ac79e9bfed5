"""The value types requests share: every instant aware, in range and in UTC; any other input a refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from essc.kit.schemas import EARLIEST_INSTANT, LATEST_INSTANT, Instant

INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)
OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(timezones=st.one_of(st.none(), OFFSETS)))
def test_any_datetime_is_a_utc_instant_in_range_or_refused(value: datetime) -> None:
    try:
        instant = INSTANT.validate_python(value.isoformat())
    except ValidationError:
        inside = value.tzinfo is not None and EARLIEST_INSTANT <= _utc_or_none(value) < LATEST_INSTANT
        assert not inside, value
        return
    assert instant.tzinfo is UTC
    assert instant == value
    assert EARLIEST_INSTANT <= instant < LATEST_INSTANT


def _utc_or_none(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return LATEST_INSTANT  # outside the range, as the validator judges it


@given(st.text(max_size=40))
def test_any_text_is_an_instant_or_a_validation_error(text: str) -> None:
    try:
        instant = INSTANT.validate_python(text)
    except ValidationError:
        return
    assert instant.tzinfo is UTC
    assert EARLIEST_INSTANT <= instant < LATEST_INSTANT


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2026-01-01T00:00:00", "1969-12-31T23:59Z"],
)
def test_overflowing_naive_and_out_of_range_instants_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        INSTANT.validate_python(text)
