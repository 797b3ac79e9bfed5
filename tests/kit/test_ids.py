"""Opaque ids: the C-encoded spelling of new_id is the Crockford base32 of its 128-bit value."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from essc.kit import ids


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_the_fast_spelling_is_crockford_base32_of_the_value(value: int) -> None:
    fast = base64.b32encode((value << 6).to_bytes(17, "big"))[:26].translate(ids._TO_CROCKFORD).decode()
    assert fast == ids._base32(value, 26)


def test_ids_are_26_crockford_characters_ordered_by_time() -> None:
    first, second = ids.new_id(), ids.new_id()
    assert len(first) == 26
    assert set(first) <= set(ids._CROCKFORD)
    assert first[:10] <= second[:10]
