"""Key store interface: platform signing keys and data keys, by purpose and key id, outside the database."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from essc.kit.crypto.base import PublicKey


class KeyPurpose(StrEnum):
    """What a key is for; each purpose has its own key series with rotation."""

    PLATFORM_SIGNING = "platform-signing"  # responses, webhooks, reports (asymmetric)
    PLATFORM_ENCRYPTION = (
        "platform-encryption"  # envelopes of personal fields sent to the platform (asymmetric)
    )
    PERSONAL_DATA = "personal-data"  # SM4 encryption of personal fields at rest (symmetric)
    BLIND_INDEX = "blind-index"  # HMAC-SM3 blind index of personal fields (symmetric)
    AUDIT_LOG = "audit-log"  # signs the audit logs' tree heads (asymmetric)
    PASSWORD_PEPPER = "password-pepper"  # noqa: S105 - a key purpose name; keyed pre-hash of e-card passwords (symmetric)
    TOKEN = "token"  # noqa: S105 - a key purpose name; HMAC of one-time tokens (busiSeq) (symmetric)
    # Signs electronic service credentials and their status lists (SD-JWT VC): ES256 whatever the store's
    # suite, so that standard wallets and verifiers accept them (asymmetric).
    CREDENTIAL_SIGNING = "credential-signing"

    # The seed the ID-token signing keys (ES256 on P-256, SM2SM3 on SM2) derive from (symmetric): one
    # series under either suite, wrapped like every data key, so both algorithms exist on every platform.
    ID_TOKEN_SEED = "id-token-seed"  # noqa: S105 - a key purpose name


ASYMMETRIC_PURPOSES = frozenset(
    {
        KeyPurpose.PLATFORM_SIGNING,
        KeyPurpose.PLATFORM_ENCRYPTION,
        KeyPurpose.AUDIT_LOG,
        KeyPurpose.CREDENTIAL_SIGNING,
    }
)
# Purposes whose keys have one algorithm whatever the store's suite (a suite's signature_algorithm).
FIXED_ALGORITHMS = {KeyPurpose.CREDENTIAL_SIGNING: "ECDSA-P256-SHA256"}
SYMMETRIC_PURPOSES = frozenset(p for p in KeyPurpose if p not in ASYMMETRIC_PURPOSES)


@dataclass(frozen=True, slots=True)
class DataKey:
    """A symmetric key in memory together with its key id."""

    key_id: str
    secret: bytes


class Signer(Protocol):
    """Signs with one private key that may live in an HSM."""

    key_id: str

    def sign(self, message: bytes) -> bytes: ...

    def public_key(self) -> PublicKey: ...


class Decrypter(Protocol):
    """Decrypts with one private encryption key that may live in an HSM."""

    key_id: str

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Public-key decryption of the suite; DecryptionFailed for a wrong key or malformed ciphertext."""
        ...

    def public_key(self) -> PublicKey: ...


class KeyStore(Protocol):
    """Where the platform's keys live: files in development, an HSM in production."""

    def signer(self, purpose: KeyPurpose = KeyPurpose.PLATFORM_SIGNING) -> Signer:
        """The current signing key for the purpose."""
        ...

    def public_key(self, key_id: str) -> PublicKey:
        """Any signing key's public half, current or retired, by key id; KeyNotFound otherwise."""
        ...

    def public_keys(self, purpose: KeyPurpose = KeyPurpose.PLATFORM_SIGNING) -> dict[str, PublicKey]:
        """Every signing public key of the purpose that verifiers should still accept, by key id."""
        ...

    def decrypter(self, key_id: str | None = None) -> Decrypter:
        """An encryption key by key id (current or retired), else the current one; KeyNotFound otherwise."""
        ...

    def encryption_keys(self) -> dict[str, PublicKey]:
        """Every encryption public key the platform still decrypts with, by key id."""
        ...

    def data_key(self, purpose: KeyPurpose) -> DataKey:
        """The current symmetric key of the purpose."""
        ...

    def data_key_by_id(self, key_id: str) -> DataKey:
        """Any symmetric key, current or retired, by key id; KeyNotFound otherwise."""
        ...

    def rotate(self, purpose: KeyPurpose) -> str:
        """Make a new current key for the purpose, keep the old one readable; return the new key id."""
        ...
