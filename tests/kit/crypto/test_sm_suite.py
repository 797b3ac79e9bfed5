"""SM3, HMAC-SM3 and SM4 known answers, and the sm suite as a whole."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from essc.kit.crypto import IntlSuite, SmSuite, get_suite
from essc.kit.crypto.sm import sm3, sm4_cbc_decrypt, sm4_cbc_encrypt
from essc.kit.errors import DecryptionFailed, InvalidSignature, MalformedKey

SM4_KEY = bytes.fromhex("0123456789abcdeffedcba9876543210")


@pytest.fixture(scope="module")
def suite() -> SmSuite:
    return SmSuite()


def test_get_suite() -> None:
    assert isinstance(get_suite(), SmSuite)
    assert isinstance(get_suite("sm"), SmSuite)
    assert isinstance(get_suite("intl"), IntlSuite)
    with pytest.raises(ValueError, match="unknown crypto suite 'rsa'"):
        get_suite("rsa")


def test_sm3_gbt_32905_vectors(suite: SmSuite) -> None:
    assert suite.hash(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert (
        suite.hash(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )
    assert sm3(b"") == hashlib.new("sm3", b"").digest()


def test_hmac_sm3_matches_rfc_2104_construction(suite: SmSuite) -> None:
    key, data = b"k" * 20, b"data"
    pad = key.ljust(64, b"\x00")
    inner = sm3(bytes(b ^ 0x36 for b in pad) + data)
    assert suite.mac(key, data) == sm3(bytes(b ^ 0x5C for b in pad) + inner)
    assert suite.mac(key, data) == hmac.new(key, data, "sm3").digest()


def test_sm4_gbt_32907_block_vector() -> None:
    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    assert (encryptor.update(SM4_KEY) + encryptor.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


@pytest.mark.slow
def test_sm4_gbt_32907_million_iterations() -> None:
    encryptor = Cipher(algorithms.SM4(SM4_KEY), modes.ECB()).encryptor()
    block = SM4_KEY
    for _ in range(1_000_000):
        block = encryptor.update(block)
    assert block.hex() == "595298c7c6fd271f0402f804c33d3f66"


def test_sm4_gcm_round_trip_and_tamper(suite: SmSuite) -> None:
    key, nonce = os.urandom(16), os.urandom(12)
    sealed = suite.aead_encrypt(key, nonce, b"personal data", b"aad")
    assert len(sealed) == len(b"personal data") + 16
    assert suite.aead_decrypt(key, nonce, sealed, b"aad") == b"personal data"
    assert suite.aead_decrypt(key, nonce, suite.aead_encrypt(key, nonce, b""), b"") == b""
    for bad in (
        sealed[:-1] + bytes([sealed[-1] ^ 1]),  # tag
        bytes([sealed[0] ^ 1]) + sealed[1:],  # body
        sealed[:10],
    ):
        with pytest.raises(DecryptionFailed):
            suite.aead_decrypt(key, nonce, bad, b"aad")
    with pytest.raises(DecryptionFailed):
        suite.aead_decrypt(key, nonce, sealed, b"other aad")
    with pytest.raises(DecryptionFailed):
        suite.aead_decrypt(os.urandom(16), nonce, sealed, b"aad")
    with pytest.raises(ValueError, match="16 bytes"):
        suite.aead_encrypt(os.urandom(32), nonce, b"x")


def test_sm4_cbc_round_trip_and_padding() -> None:
    iv = os.urandom(16)
    for size in (0, 1, 15, 16, 17, 100):
        data = os.urandom(size)
        ciphertext = sm4_cbc_encrypt(SM4_KEY, iv, data)
        assert len(ciphertext) == (size // 16 + 1) * 16
        assert sm4_cbc_decrypt(SM4_KEY, iv, ciphertext) == data
    with pytest.raises(DecryptionFailed):
        sm4_cbc_decrypt(SM4_KEY, iv, b"\x00" * 15)
    with pytest.raises(DecryptionFailed):
        sm4_cbc_decrypt(SM4_KEY, iv, b"")


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=16, max_size=64).filter(lambda b: len(b) % 16 == 0))
def test_sm4_cbc_garbage_gives_decryption_failed_or_bytes(data: bytes) -> None:
    with contextlib.suppress(DecryptionFailed):
        assert isinstance(sm4_cbc_decrypt(SM4_KEY, bytes(16), data), bytes)


def test_suite_sign_verify_encrypt(suite: SmSuite) -> None:
    key = suite.generate_private_key()
    public = suite.load_public_key(key.public_key().to_pem())
    signature = suite.sign(key, b"msg")
    suite.verify(public, b"msg", signature)
    with pytest.raises(InvalidSignature):
        suite.verify(public, b"msg2", signature)
    assert suite.decrypt_with(key, suite.encrypt_to(public, b"secret")) == b"secret"
    assert suite.load_private_key(key.to_pem()).public_key() == public
    assert suite.signature_algorithm == "SM2-SM3"
    assert public.algorithm == "SM2"


def test_suites_refuse_each_others_keys(suite: SmSuite) -> None:
    intl = IntlSuite()
    intl_key = intl.generate_private_key()
    with pytest.raises(MalformedKey):
        suite.sign(intl_key, b"m")
    with pytest.raises(MalformedKey):
        suite.verify(intl_key.public_key(), b"m", b"sig")
    with pytest.raises(MalformedKey):
        suite.load_public_key(intl_key.public_key().to_pem())
    with pytest.raises(MalformedKey):
        intl.load_public_key(suite.generate_private_key().public_key().to_pem())
