"""The international suite: ECDSA P-256 with SHA-256, ECIES over P-256, SHA-256, HMAC-SHA256, AES-256-GCM.

One P-256 key per party serves both signing and public-key encryption, mirroring SM2 in the sm suite.
ECIES format (version 1): ``0x01 || ephemeral point (65 bytes, uncompressed) || AES-256-GCM(ct || tag)``,
key and nonce from HKDF-SHA256 over the ECDH secret with info binding both public points.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from essc.kit.crypto.base import PrivateKey, PublicKey
from essc.kit.errors import DecryptionFailed, InvalidSignature, MalformedKey

__all__ = ["IntlPrivateKey", "IntlPublicKey", "IntlSuite"]

_CURVE: Final = ec.SECP256R1()
_ECIES_VERSION: Final = b"\x01"
_POINT: Final = 65
_TAG: Final = 16
_INFO: Final = b"essc-ecies-p256-hkdf-sha256-aes256gcm-v1"


class IntlPublicKey:
    """An ECDSA/ECIES P-256 public key."""

    algorithm = "ECDSA-P256"
    __slots__ = ("_der", "key")

    def __init__(self, key: ec.EllipticCurvePublicKey) -> None:
        self.key = key
        self._der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def to_der(self) -> bytes:
        """SubjectPublicKeyInfo DER."""
        return self._der

    def to_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM."""
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def fingerprint(self) -> str:
        """SHA-256 hex digest of the DER encoding."""
        return hashlib.sha256(self._der).hexdigest()

    def point(self) -> bytes:
        """Uncompressed point 04||X||Y."""
        return self.key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IntlPublicKey) and other._der == self._der

    def __hash__(self) -> int:
        return hash(self._der)


class IntlPrivateKey:
    """An ECDSA/ECIES P-256 private key."""

    algorithm = "ECDSA-P256"
    __slots__ = ("_public", "key")

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.key = key
        self._public = IntlPublicKey(key.public_key())

    def public_key(self) -> IntlPublicKey:
        """The public half."""
        return self._public

    def to_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted."""
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def _p256_private(key: object) -> IntlPrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise MalformedKey("not a P-256 private key")
    return IntlPrivateKey(key)


def _p256_public(key: object) -> IntlPublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise MalformedKey("not a P-256 public key")
    return IntlPublicKey(key)


def _derive(shared: bytes, ephemeral_point: bytes, recipient_point: bytes) -> tuple[bytes, bytes]:
    """AES-256 key and GCM nonce for one ECIES message (the ephemeral key makes both unique)."""
    okm = HKDF(hashes.SHA256(), 44, salt=None, info=_INFO + ephemeral_point + recipient_point).derive(shared)
    return okm[:32], okm[32:]


class IntlSuite:
    """ECDSA P-256/SHA-256, ECIES P-256, SHA-256, HMAC-SHA256, AES-256-GCM."""

    name = "intl"
    signature_algorithm = "ECDSA-P256-SHA256"
    aead_key_size = 32
    aead_nonce_size = 12

    def generate_private_key(self) -> IntlPrivateKey:
        """A fresh P-256 key pair."""
        return IntlPrivateKey(ec.generate_private_key(_CURVE))

    def load_private_key(self, pem: bytes) -> IntlPrivateKey:
        """PKCS#8 PEM or DER P-256 private key; MalformedKey otherwise."""
        data = bytes(pem)
        try:
            if data.lstrip().startswith(b"-----BEGIN"):
                key = serialization.load_pem_private_key(data, password=None)
            else:
                key = serialization.load_der_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise MalformedKey("private key could not be parsed") from exc
        return _p256_private(key)

    def load_public_key(self, data: bytes) -> IntlPublicKey:
        """SubjectPublicKeyInfo PEM or DER; MalformedKey otherwise."""
        raw = bytes(data)
        try:
            if raw.lstrip().startswith(b"-----BEGIN"):
                key = serialization.load_pem_public_key(raw)
            else:
                key = serialization.load_der_public_key(raw)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise MalformedKey("public key could not be parsed") from exc
        return _p256_public(key)

    def sign(self, key: PrivateKey, message: bytes) -> bytes:
        """DER ECDSA-P256-SHA256 signature."""
        if not isinstance(key, IntlPrivateKey):
            raise MalformedKey("the intl suite signs with P-256 keys only")
        return key.key.sign(message, ec.ECDSA(hashes.SHA256()))

    def verify(self, key: PublicKey, message: bytes, signature: bytes) -> None:
        """Raise InvalidSignature unless signature is a valid DER ECDSA signature."""
        if not isinstance(key, IntlPublicKey):
            raise MalformedKey("the intl suite verifies with P-256 keys only")
        try:
            key.key.verify(bytes(signature), message, ec.ECDSA(hashes.SHA256()))
        except (CryptographyInvalidSignature, ValueError, TypeError) as exc:
            raise InvalidSignature("ECDSA signature does not verify") from exc

    def encrypt_to(self, key: PublicKey, plaintext: bytes) -> bytes:
        """ECIES: ephemeral P-256 ECDH, HKDF-SHA256, AES-256-GCM."""
        if not isinstance(key, IntlPublicKey):
            raise MalformedKey("the intl suite encrypts to P-256 keys only")
        ephemeral = ec.generate_private_key(_CURVE)
        ephemeral_point = ephemeral.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        aes_key, nonce = _derive(ephemeral.exchange(ec.ECDH(), key.key), ephemeral_point, key.point())
        return _ECIES_VERSION + ephemeral_point + AESGCM(aes_key).encrypt(nonce, bytes(plaintext), None)

    def decrypt_with(self, key: PrivateKey, ciphertext: bytes) -> bytes:
        """Inverse of encrypt_to; DecryptionFailed for a wrong key or malformed ciphertext."""
        if not isinstance(key, IntlPrivateKey):
            raise MalformedKey("the intl suite decrypts with P-256 keys only")
        data = bytes(ciphertext)
        if len(data) < 1 + _POINT + _TAG or data[:1] != _ECIES_VERSION:
            raise DecryptionFailed("ECIES ciphertext is malformed")
        ephemeral_point = data[1 : 1 + _POINT]
        try:
            ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, ephemeral_point)
            shared = key.key.exchange(ec.ECDH(), ephemeral)
        except ValueError as exc:
            raise DecryptionFailed("ECIES ephemeral key is invalid") from exc
        aes_key, nonce = _derive(shared, ephemeral_point, key.public_key().point())
        try:
            return AESGCM(aes_key).decrypt(nonce, data[1 + _POINT :], None)
        except InvalidTag as exc:
            raise DecryptionFailed("ECIES authentication failed") from exc

    def hash(self, data: bytes) -> bytes:
        """SHA-256."""
        return hashlib.sha256(data).digest()

    def mac(self, key: bytes, data: bytes) -> bytes:
        """HMAC-SHA256."""
        return hmac.digest(key, data, "sha256")

    def aead_encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
        """AES-256-GCM; ciphertext with the 16-byte tag appended."""
        if len(key) != 32 or len(nonce) != 12:
            raise ValueError("AES-256-GCM needs a 32-byte key and a 12-byte nonce")
        return AESGCM(key).encrypt(nonce, plaintext, aad or None)

    def aead_decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """AES-256-GCM; DecryptionFailed when the tag does not match."""
        if len(key) != 32 or len(nonce) != 12:
            raise ValueError("AES-256-GCM needs a 32-byte key and a 12-byte nonce")
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, aad or None)
        except InvalidTag as exc:
            raise DecryptionFailed("AES-256-GCM authentication failed") from exc
