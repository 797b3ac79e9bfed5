"""The batch SM4-GCM sealer and the keyed HMAC-SM3 agree with the suite's one-at-a-time functions."""

from __future__ import annotations

import os
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from essc.kit.crypto import IntlSuite, SmSuite
from essc.kit.crypto.sm import hmac_sm3, hmac_sm3_keyed
from essc.kit.crypto.sm4gcm import SLICED_FROM, Sm4GcmSealer
from essc.kit.fieldcrypt import BlindIndex, FieldCipher, PinnedKeys
from essc.kit.keystore import DataKey

SUITE = SmSuite()
nonces = st.binary(min_size=12, max_size=12)
messages = st.binary(max_size=100)
triples = st.lists(st.tuples(nonces, messages, messages), max_size=12)


def test_rfc_8998_sm4_gcm_vector() -> None:
    key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    nonce = bytes.fromhex("00001234567800000000ABCD")
    aad = bytes.fromhex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2")
    plaintext = bytes.fromhex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD"
        "EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA"
    )
    [sealed] = Sm4GcmSealer(key).seal_many([(nonce, plaintext, aad)])
    assert sealed.hex().upper() == (
        "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735"
        "D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        "83DE3541E4C2B58177E065A9BF7B62EC"
    )


@settings(max_examples=150, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), items=triples)
def test_a_batch_seals_each_message_as_aead_encrypt_does(
    key: bytes, items: list[tuple[bytes, bytes, bytes]]
) -> None:
    sealed = SUITE.aead_sealer(key)(items)
    assert sealed == [SUITE.aead_encrypt(key, n, p, a) for n, p, a in items]
    assert [SUITE.aead_decrypt(key, n, s, a) for (n, _, a), s in zip(items, sealed, strict=True)] == [
        p for _, p, _ in items
    ]


@settings(max_examples=60, deadline=None)
@given(
    prefix=st.binary(max_size=70),
    tails=st.lists(st.binary(max_size=40), min_size=1, max_size=6),
    plaintext=messages,
)
def test_remembered_aad_prefixes_give_the_same_tags_as_a_fresh_sealer(
    prefix: bytes, tails: list[bytes], plaintext: bytes
) -> None:
    key = os.urandom(16)
    items = [(os.urandom(12), plaintext, prefix + tail) for tail in tails]
    shared = Sm4GcmSealer(key)
    first = shared.seal_many(items)
    assert shared.seal_many(items) == first  # now every prefix is remembered
    assert first == [Sm4GcmSealer(key).seal_many([item])[0] for item in items]


def test_long_plaintexts_and_long_aads_are_sealed_too() -> None:
    key, nonce = os.urandom(16), os.urandom(12)
    plaintext, aad = os.urandom(16 * 300 + 5), os.urandom(16 * 9 + 3)
    assert Sm4GcmSealer(key).seal_many([(nonce, plaintext, aad)]) == [
        SUITE.aead_encrypt(key, nonce, plaintext, aad)
    ]


def test_the_sealer_refuses_wrong_keys_and_nonces() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Sm4GcmSealer(b"short")
    with pytest.raises(ValueError, match="12 bytes"):
        Sm4GcmSealer(os.urandom(16)).seal_many([(b"\x00" * 8, b"x", b"")])


@settings(max_examples=100, deadline=None)
@given(key=st.binary(max_size=130), data=st.binary(max_size=200))
def test_keyed_hmac_sm3_is_hmac_sm3(key: bytes, data: bytes) -> None:
    assert hmac_sm3_keyed(key)(data) == hmac_sm3(key, data)


KEYS = PinnedKeys(DataKey("pd-test", os.urandom(16)), DataKey("bi-test", os.urandom(32)))
fields = st.lists(st.tuples(st.text(max_size=30), st.text(max_size=60)), max_size=8)


@settings(max_examples=60, deadline=None)
@given(items=fields)
def test_encrypt_many_opens_with_decrypt_on_both_suites(items: list[tuple[str, str]]) -> None:
    for suite in (SmSuite(), IntlSuite()):
        keys = (
            KEYS
            if suite.aead_key_size == 16
            else PinnedKeys(DataKey("pd-intl", os.urandom(32)), KEYS.blind_index)
        )
        cipher = FieldCipher(suite, keys)
        sealed = cipher.encrypt_many(items)
        assert [cipher.decrypt(blob, aad) for blob, (_, aad) in zip(sealed, items, strict=True)] == [
            value for value, _ in items
        ]
        assert all(cipher.key_id_of(blob) == keys.personal.key_id for blob in sealed)
        # Fresh nonces every time: the same field sealed twice never gives the same ciphertext.
        if items:
            assert cipher.encrypt_many(items[:1]) != sealed[:1]


@settings(max_examples=60, deadline=None)
@given(field=st.text(max_size=10), value=st.text(max_size=40))
def test_the_blind_index_is_the_suites_mac_of_field_and_value(field: str, value: str) -> None:
    for suite in (SmSuite(), IntlSuite()):
        expected = suite.mac(KEYS.blind_index.secret, f"{field}\x00{value}".encode())
        assert BlindIndex(suite, KEYS).of(field, value) == expected


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_large_batches_hash_bit_sliced_as_one_at_a_time(seed: int) -> None:
    generator = random.Random(seed)
    key = generator.randbytes(16)
    # Mostly short messages (hashed bit-sliced), some long ones (hashed one by one), in one batch.
    items = [
        (
            generator.randbytes(12),
            generator.randbytes(generator.choice([0, 1, 15, 16, 17, 31, 32, 90, 300])),
            generator.randbytes(generator.choice([0, 5, 16, 44, 47, 64, 200])),
        )
        for _ in range(SLICED_FROM + 3 * seed * 97)
    ]
    assert SUITE.aead_sealer(key)(items) == [SUITE.aead_encrypt(key, n, p, a) for n, p, a in items]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.large_base_example])
@given(
    key=st.binary(min_size=16, max_size=16),
    items=st.lists(st.tuples(nonces, messages, messages), min_size=SLICED_FROM, max_size=SLICED_FROM + 9),
)
def test_any_batch_large_enough_to_slice_seals_as_aead_encrypt(
    key: bytes, items: list[tuple[bytes, bytes, bytes]]
) -> None:
    assert SUITE.aead_sealer(key)(items) == [SUITE.aead_encrypt(key, n, p, a) for n, p, a in items]
