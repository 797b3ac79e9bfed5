"""Encryption of personal fields at rest and their keyed blind index."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from essc.kit.crypto.base import BatchAead, CryptoSuite, KeyedMac, SealMany
from essc.kit.errors import DecryptionFailed, KeyNotFound
from essc.kit.keystore import DataKey, KeyPurpose

_VERSION = 1


class DataKeys(Protocol):
    """The part of a key store that field encryption and the blind index use."""

    def data_key(self, purpose: KeyPurpose) -> DataKey: ...

    def data_key_by_id(self, key_id: str) -> DataKey: ...


@dataclass(frozen=True, slots=True)
class PinnedKeys:
    """The current personal-data and blind-index keys, copied once for a worker process (picklable)."""

    personal: DataKey
    blind_index: DataKey

    @classmethod
    def of(cls, keys: DataKeys) -> PinnedKeys:
        return cls(keys.data_key(KeyPurpose.PERSONAL_DATA), keys.data_key(KeyPurpose.BLIND_INDEX))

    def data_key(self, purpose: KeyPurpose) -> DataKey:
        if purpose is KeyPurpose.PERSONAL_DATA:
            return self.personal
        if purpose is KeyPurpose.BLIND_INDEX:
            return self.blind_index
        raise KeyNotFound(f"no pinned key for {purpose.value}")

    def data_key_by_id(self, key_id: str) -> DataKey:
        for key in (self.personal, self.blind_index):
            if key.key_id == key_id:
                return key
        raise KeyNotFound(f"key {key_id} is not pinned")


class FieldCipher:
    """AEAD-encrypts a field under the current personal-data key; the AAD binds it to its row and column."""

    def __init__(self, suite: CryptoSuite, keys: DataKeys) -> None:
        self._suite = suite
        self._keys = keys
        self._batch_key: str | None = None
        self._batch_sealer: SealMany | None = None

    def encrypt(self, value: str, aad: str) -> bytes:
        key = self._keys.data_key(KeyPurpose.PERSONAL_DATA)
        nonce = os.urandom(self._suite.aead_nonce_size)
        kid = key.key_id.encode("ascii")
        sealed = self._suite.aead_encrypt(key.secret, nonce, value.encode("utf-8"), aad.encode("utf-8"))
        return bytes([_VERSION, len(kid)]) + kid + nonce + sealed

    def encrypt_many(self, fields: Sequence[tuple[str, str]]) -> list[bytes]:
        """Each (value, aad) encrypted as `encrypt` does; a suite that seals in batches does them at once."""
        key = self._keys.data_key(KeyPurpose.PERSONAL_DATA)
        if not isinstance(self._suite, BatchAead):
            return [self.encrypt(value, aad) for value, aad in fields]
        seal_many = self._sealer(self._suite, key)
        size = self._suite.aead_nonce_size
        nonces = os.urandom(size * len(fields))
        kid = key.key_id.encode("ascii")
        head = bytes([_VERSION, len(kid)]) + kid
        items = [
            (nonces[at : at + size], value.encode("utf-8"), aad.encode("utf-8"))
            for at, (value, aad) in zip(range(0, len(nonces), size), fields, strict=True)
        ]
        return [head + item[0] + sealed for item, sealed in zip(items, seal_many(items), strict=True)]

    def _sealer(self, suite: BatchAead, key: DataKey) -> SealMany:
        """The suite's batch sealer for this key, made once (it may precompute tables from the key)."""
        if self._batch_sealer is None or self._batch_key != key.key_id:
            self._batch_sealer = suite.aead_sealer(key.secret)
            self._batch_key = key.key_id
        return self._batch_sealer

    def decrypt(self, blob: bytes, aad: str) -> str:
        if len(blob) < 2 or blob[0] != _VERSION:
            raise DecryptionFailed("unknown field ciphertext format")
        kid_end = 2 + blob[1]
        nonce_end = kid_end + self._suite.aead_nonce_size
        key = self._keys.data_key_by_id(blob[2:kid_end].decode("ascii"))
        plain = self._suite.aead_decrypt(
            key.secret, blob[kid_end:nonce_end], blob[nonce_end:], aad.encode("utf-8")
        )
        return plain.decode("utf-8")

    def key_id_of(self, blob: bytes) -> str:
        """The key id a ciphertext was sealed under (for re-encryption after rotation)."""
        return blob[2 : 2 + blob[1]].decode("ascii")


class BlindIndex:
    """Keyed HMAC of a normalised value so equal values can be found without storing them in the clear.

    Its key is never rotated in place (the CLI refuses): a new key would mean re-indexing every row.
    """

    def __init__(self, suite: CryptoSuite, keys: DataKeys) -> None:
        self._suite = suite
        self._secret = keys.data_key(KeyPurpose.BLIND_INDEX).secret
        # The key's share of HMAC done once when the suite can (the bulk import makes two a row).
        self._mac = suite.keyed_mac(self._secret) if isinstance(suite, KeyedMac) else None

    def of(self, field: str, value: str) -> bytes:
        data = f"{field}\x00{value}".encode()
        return self._mac(data) if self._mac is not None else self._suite.mac(self._secret, data)
