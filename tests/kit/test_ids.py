"""Opaque ids: the table spelling of new_id is the Crockford base32 of its 128-bit value."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from essc.kit import ids


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_the_fast_spelling_is_crockford_base32_of_the_value(value: int) -> None:
    assert ids.spell_id(value) == ids._base32(value, 26)
    # and RFC 4648 base32 of the same 130 bits, digit for digit in Crockford's alphabet
    rfc = base64.b32encode((value << 6).to_bytes(17, "big"))[:26].translate(ids._TO_CROCKFORD).decode()
    assert ids.spell_id(value) == rfc


def test_ids_are_26_crockford_characters_ordered_by_time() -> None:
    first, second = ids.new_id(), ids.new_id()
    assert len(first) == 26
    assert set(first) <= set(ids._CROCKFORD)
    assert first[:10] <= second[:10]


@given(st.integers(min_value=0, max_value=(1 << 48) - 1), st.binary(min_size=30, max_size=30))
def test_ids_made_together_spell_their_time_and_random_bytes_as_one_id_does(
    millis: int, randomness: bytes
) -> None:
    expected = [
        ids._base32(millis << 80 | int.from_bytes(randomness[at : at + 10], "big"), 26)
        for at in range(0, 30, 10)
    ]
    assert ids._spelled(millis, randomness) == expected


def test_ids_made_together_are_distinct_and_no_older_than_one_made_before() -> None:
    before = ids.new_id()
    made = ids.new_ids(500)
    assert len(set(made)) == 500
    assert all(len(one) == 26 and one[:10] >= before[:10] for one in made)
