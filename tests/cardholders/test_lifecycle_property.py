"""Property: an e-card is usable exactly when its physical card is normal and it is not unlinked."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from essc.cardholders.lifecycle import CardEventType, CardStatus, card_is_usable, next_status


@given(st.lists(st.sampled_from(list(CardEventType)), max_size=30))
def test_status_machine_never_leaves_cancelled_and_usable_iff_normal(events: list[CardEventType]) -> None:
    status = CardStatus.NORMAL
    for event in events:
        after = next_status(status, event)
        if status is CardStatus.CANCELLED:
            assert after is None
        if after is not None:
            status = after
        assert card_is_usable(status) == (status is CardStatus.NORMAL)


def test_every_live_status_can_be_cancelled_or_replaced() -> None:
    for status in CardStatus:
        for event in (CardEventType.CANCELLED, CardEventType.REPLACED):
            expected = None if status is CardStatus.CANCELLED else CardStatus.CANCELLED
            assert next_status(status, event) == expected
