"""The crypto suite interface: every algorithm the platform uses, behind one object."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class PublicKey(Protocol):
    """An asymmetric public key of one suite."""

    algorithm: str

    def to_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM."""
        ...

    def to_der(self) -> bytes:
        """SubjectPublicKeyInfo DER."""
        ...

    def fingerprint(self) -> str:
        """Hex digest (suite hash) of the DER encoding; stable key identifier material."""
        ...


@runtime_checkable
class PrivateKey(Protocol):
    """An asymmetric private key of one suite."""

    algorithm: str

    def public_key(self) -> PublicKey: ...

    def to_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted (the key store protects it)."""
        ...


class CryptoSuite(Protocol):
    """One coherent set of algorithms: signature, public-key encryption, hash, MAC, AEAD."""

    name: str  # "sm" or "intl"
    signature_algorithm: str  # "SM2-SM3" / "Ed25519"
    aead_key_size: int  # bytes
    aead_nonce_size: int  # bytes

    def generate_private_key(self) -> PrivateKey: ...

    def load_private_key(self, pem: bytes) -> PrivateKey: ...

    def load_public_key(self, data: bytes) -> PublicKey:
        """Accept PEM or DER SubjectPublicKeyInfo; raise MalformedKey otherwise."""
        ...

    def sign(self, key: PrivateKey, message: bytes) -> bytes:
        """Signature over message (SM2: DER, with the default distinguishing id)."""
        ...

    def verify(self, key: PublicKey, message: bytes, signature: bytes) -> None:
        """Return if valid; raise InvalidSignature for a wrong or malformed signature."""
        ...

    def encrypt_to(self, key: PublicKey, plaintext: bytes) -> bytes:
        """Public-key encryption (SM2 encryption C1C3C2 DER / ECIES for intl)."""
        ...

    def decrypt_with(self, key: PrivateKey, ciphertext: bytes) -> bytes:
        """Raise DecryptionFailed for a wrong key or malformed ciphertext."""
        ...

    def hash(self, data: bytes) -> bytes: ...

    def mac(self, key: bytes, data: bytes) -> bytes: ...

    def aead_encrypt(self, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes = b"") -> bytes: ...

    def aead_decrypt(self, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes = b"") -> bytes:
        """Raise DecryptionFailed when the tag does not match."""
        ...


SealMany = Callable[[Sequence[tuple[bytes, bytes, bytes]]], list[bytes]]
"""Seals (nonce, plaintext, aad) triples under one key, each as the suite's aead_encrypt would."""


@runtime_checkable
class BatchAead(Protocol):
    """A suite that seals many short messages under one key faster together than one by one."""

    def aead_sealer(self, key: bytes) -> SealMany:
        """A sealer bound to key; its output for each triple is byte for byte aead_encrypt's."""
        ...


@runtime_checkable
class KeyedMac(Protocol):
    """A suite that prepares its MAC for one key, to run it on many messages at less cost each."""

    def keyed_mac(self, key: bytes) -> Callable[[bytes], bytes]:
        """mac(key, .) with the key's work done once."""
        ...
