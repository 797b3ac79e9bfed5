"""The Chinese commercial-cryptography suite: SM2 signatures and encryption, SM3, HMAC-SM3, SM4-GCM."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from essc.kit.crypto import openssl_sm2
from essc.kit.crypto.base import PrivateKey, PublicKey, SealMany
from essc.kit.crypto.openssl_sm2 import Sm2PrivateKey, Sm2PublicKey
from essc.kit.crypto.sm4gcm import Sm4GcmSealer
from essc.kit.errors import DecryptionFailed, MalformedKey

__all__ = ["SM4_BLOCK", "SmSuite", "hmac_sm3", "hmac_sm3_keyed", "sm3", "sm4_cbc_decrypt", "sm4_cbc_encrypt"]

SM4_BLOCK: Final = 16
_TAG: Final = 16


def _hashlib_has_sm3() -> bool:
    try:
        hmac.digest(b"k", b"d", "sm3")
    except ValueError:
        return False
    return True


_HASHLIB_SM3: Final = _hashlib_has_sm3()


_SM3_EMPTY: Final = hashlib.new("sm3") if _HASHLIB_SM3 else None


def sm3(data: bytes) -> bytes:
    """SM3 digest (GB/T 32905)."""
    # hashlib's OpenSSL-backed sm3 measured ~10-25% faster than cryptography's hashes.SM3 on 64 B-1 KiB;
    # copying a fresh context costs half of hashlib.new("sm3"), which looks the algorithm up every time.
    if _SM3_EMPTY is not None:
        fresh = _SM3_EMPTY.copy()
        fresh.update(data)
        return fresh.digest()
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 (32 bytes)."""
    if _HASHLIB_SM3:
        return hmac.digest(key, data, "sm3")
    mac = crypto_hmac.HMAC(key, hashes.SM3())
    mac.update(data)
    return mac.finalize()


_IPAD: Final = bytes(byte ^ 0x36 for byte in range(256))
_OPAD: Final = bytes(byte ^ 0x5C for byte in range(256))
_SM3_BLOCK: Final = 64


def hmac_sm3_keyed(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SM3 under one key (as hmac_sm3), its padded key hashed once: for many messages under one key."""
    if _SM3_EMPTY is None:
        base = crypto_hmac.HMAC(key, hashes.SM3())

        def slow(data: bytes) -> bytes:
            mac = base.copy()
            mac.update(data)
            return mac.finalize()

        return slow
    padded = (sm3(key) if len(key) > _SM3_BLOCK else key).ljust(_SM3_BLOCK, b"\x00")
    inner, outer = hashlib.new("sm3", padded.translate(_IPAD)), hashlib.new("sm3", padded.translate(_OPAD))

    def mac(data: bytes) -> bytes:
        first = inner.copy()
        first.update(data)
        second = outer.copy()
        second.update(first.digest())
        return second.digest()

    return mac


def _check_sm4_key(key: bytes) -> None:
    if len(key) != 16:
        raise ValueError("SM4 keys are 16 bytes")


def sm4_cbc_encrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """SM4-CBC with PKCS#7 padding, for protocols that prescribe CBC (prefer the suite's AEAD)."""
    _check_sm4_key(key)
    if len(iv) != SM4_BLOCK:
        raise ValueError("SM4-CBC needs a 16-byte IV")
    pad = SM4_BLOCK - len(data) % SM4_BLOCK
    encryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return encryptor.update(data + bytes([pad]) * pad) + encryptor.finalize()


def sm4_cbc_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Inverse of sm4_cbc_encrypt; DecryptionFailed on bad length or padding."""
    _check_sm4_key(key)
    if len(iv) != SM4_BLOCK:
        raise ValueError("SM4-CBC needs a 16-byte IV")
    if not data or len(data) % SM4_BLOCK:
        raise DecryptionFailed("SM4-CBC ciphertext is not a whole number of blocks")
    decryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    pad = padded[-1]
    # CBC is unauthenticated: callers must MAC the ciphertext, padding errors are not a security boundary.
    if not 1 <= pad <= SM4_BLOCK or padded[-pad:] != bytes([pad]) * pad:
        raise DecryptionFailed("SM4-CBC padding is invalid")
    return padded[:-pad]


class SmSuite:
    """SM2-with-SM3 signatures, SM2 encryption, SM3, HMAC-SM3 and SM4-GCM."""

    name = "sm"
    signature_algorithm = "SM2-SM3"
    aead_key_size = 16
    aead_nonce_size = 12

    def generate_private_key(self) -> Sm2PrivateKey:
        """A fresh SM2 key pair."""
        return openssl_sm2.generate_private_key()

    def load_private_key(self, pem: bytes) -> Sm2PrivateKey:
        """PKCS#8 PEM (or DER) SM2 private key; MalformedKey otherwise."""
        return openssl_sm2.load_private_key(pem)

    def load_public_key(self, data: bytes) -> Sm2PublicKey:
        """SubjectPublicKeyInfo PEM or DER; MalformedKey otherwise."""
        return openssl_sm2.load_public_key(data)

    def sign(self, key: PrivateKey, message: bytes) -> bytes:
        """DER SM2-with-SM3 signature under the default distinguishing id."""
        if not isinstance(key, Sm2PrivateKey):
            raise MalformedKey("the sm suite signs with SM2 keys only")
        return openssl_sm2.sign(key, message)

    def verify(self, key: PublicKey, message: bytes, signature: bytes) -> None:
        """Raise InvalidSignature unless signature is valid under the default distinguishing id."""
        if not isinstance(key, Sm2PublicKey):
            raise MalformedKey("the sm suite verifies with SM2 keys only")
        openssl_sm2.verify(key, message, signature)

    def encrypt_to(self, key: PublicKey, plaintext: bytes) -> bytes:
        """SM2 encryption, GM/T 0009 ASN.1 C1C3C2."""
        if not isinstance(key, Sm2PublicKey):
            raise MalformedKey("the sm suite encrypts to SM2 keys only")
        return openssl_sm2.encrypt(key, plaintext)

    def decrypt_with(self, key: PrivateKey, ciphertext: bytes) -> bytes:
        """SM2 decryption; DecryptionFailed for a wrong key or malformed ciphertext."""
        if not isinstance(key, Sm2PrivateKey):
            raise MalformedKey("the sm suite decrypts with SM2 keys only")
        return openssl_sm2.decrypt(key, ciphertext)

    def hash(self, data: bytes) -> bytes:
        """SM3."""
        return sm3(data)

    def mac(self, key: bytes, data: bytes) -> bytes:
        """HMAC-SM3."""
        return hmac_sm3(key, data)

    def aead_encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """SM4-GCM; ciphertext with the 16-byte tag appended."""
        _check_sm4_key(key)
        if len(nonce) != self.aead_nonce_size:
            raise ValueError("SM4-GCM nonces are 12 bytes")
        encryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        if aad:
            encryptor.authenticate_additional_data(aad)
        body = encryptor.update(plaintext) + encryptor.finalize()
        return body + encryptor.tag

    def keyed_mac(self, key: bytes) -> Callable[[bytes], bytes]:
        """HMAC-SM3 bound to key, as mac(key, data) computes it."""
        return hmac_sm3_keyed(key)

    def aead_sealer(self, key: bytes) -> SealMany:
        """SM4-GCM of many messages under key with one SM4 context (kit.crypto.sm4gcm)."""
        _check_sm4_key(key)
        return Sm4GcmSealer(key).seal_many

    def aead_decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """SM4-GCM; DecryptionFailed when the tag does not match."""
        _check_sm4_key(key)
        if len(nonce) != self.aead_nonce_size:
            raise ValueError("SM4-GCM nonces are 12 bytes")
        if len(ciphertext) < _TAG:
            raise DecryptionFailed("SM4-GCM ciphertext shorter than its tag")
        decryptor = Cipher(algorithms.SM4(key), modes.GCM(nonce, ciphertext[-_TAG:])).decryptor()
        if aad:
            decryptor.authenticate_additional_data(aad)
        try:
            return decryptor.update(ciphertext[:-_TAG]) + decryptor.finalize()
        except InvalidTag as exc:
            raise DecryptionFailed("SM4-GCM authentication failed") from exc
