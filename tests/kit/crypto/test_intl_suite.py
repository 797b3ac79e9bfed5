"""The intl suite: ECDSA P-256, ECIES, SHA-256, HMAC-SHA256, AES-256-GCM."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from essc.kit.crypto import IntlSuite
from essc.kit.crypto.intl import IntlPrivateKey
from essc.kit.errors import DecryptionFailed, InvalidSignature, MalformedKey

SUITE = IntlSuite()
KEY: IntlPrivateKey = SUITE.generate_private_key()


def test_hash_and_mac() -> None:
    assert SUITE.hash(b"abc") == hashlib.sha256(b"abc").digest()
    # RFC 4231 test case 2
    assert SUITE.mac(b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_sign_verify_and_tamper() -> None:
    public = SUITE.load_public_key(KEY.public_key().to_der())
    signature = SUITE.sign(KEY, b"message")
    SUITE.verify(public, b"message", signature)
    with pytest.raises(InvalidSignature):
        SUITE.verify(public, b"messagf", signature)
    with pytest.raises(InvalidSignature):
        SUITE.verify(public, b"message", signature[:-1] + bytes([signature[-1] ^ 1]))
    assert SUITE.signature_algorithm == "ECDSA-P256-SHA256"
    assert len(public.fingerprint()) == 64


def test_key_round_trips() -> None:
    assert SUITE.load_private_key(KEY.to_pem()).public_key() == KEY.public_key()
    assert SUITE.load_public_key(KEY.public_key().to_pem()) == KEY.public_key()


def test_ecies_round_trip_and_tamper() -> None:
    public = KEY.public_key()
    ciphertext = SUITE.encrypt_to(public, b"secret")
    assert len(ciphertext) == 1 + 65 + len(b"secret") + 16
    assert SUITE.decrypt_with(KEY, ciphertext) == b"secret"
    assert SUITE.encrypt_to(public, b"secret") != ciphertext
    for index in (0, 1, 40, 70, len(ciphertext) - 1):
        tampered = bytearray(ciphertext)
        tampered[index] ^= 1
        with pytest.raises(DecryptionFailed):
            SUITE.decrypt_with(KEY, bytes(tampered))
    with pytest.raises(DecryptionFailed):
        SUITE.decrypt_with(SUITE.generate_private_key(), ciphertext)
    assert SUITE.decrypt_with(KEY, SUITE.encrypt_to(public, b"")) == b""


def test_aes_gcm_round_trip_and_tamper() -> None:
    key, nonce = os.urandom(32), os.urandom(12)
    sealed = SUITE.aead_encrypt(key, nonce, b"data", b"aad")
    assert SUITE.aead_decrypt(key, nonce, sealed, b"aad") == b"data"
    with pytest.raises(DecryptionFailed):
        SUITE.aead_decrypt(key, nonce, sealed, b"aae")
    with pytest.raises(DecryptionFailed):
        SUITE.aead_decrypt(key, nonce, sealed[:-1] + bytes([sealed[-1] ^ 1]), b"aad")
    with pytest.raises(DecryptionFailed):
        SUITE.aead_decrypt(key, nonce, b"", b"aad")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_give_named_errors(data: bytes) -> None:
    with pytest.raises(InvalidSignature):
        SUITE.verify(KEY.public_key(), b"m", data)
    with pytest.raises(DecryptionFailed):
        SUITE.decrypt_with(KEY, data)
    with pytest.raises(MalformedKey):
        SUITE.load_public_key(data)
    with pytest.raises(MalformedKey):
        SUITE.load_private_key(data)
