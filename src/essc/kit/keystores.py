"""Key stores: a directory of key files for development, and an HSM-backed store for production.

Both keep one series of keys per KeyPurpose in a JSON metadata document::

    {"version": 1, "suite": "sm", "kek": "kek-...",  # kek: HsmKeyStore only
     "purposes": {"personal-data": {
         "current": "pd-3f9a1c2d",
         "keys": [{"key_id": "pd-3f9a1c2d", "created_at": "...", "retired": null}]}}}

Rotation appends a key and makes it current; the previous key gets a ``retired`` timestamp but stays
readable, so data and signatures made under it keep working.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import secrets
import tempfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from essc.kit.crypto.base import CryptoSuite, PrivateKey, PublicKey
from essc.kit.crypto.intl import IntlSuite
from essc.kit.crypto.sm import SmSuite
from essc.kit.errors import DecryptionFailed, KeyNotFound, MalformedKey
from essc.kit.keystore import ASYMMETRIC_PURPOSES, FIXED_ALGORITHMS, DataKey, Decrypter, KeyPurpose, Signer

__all__ = ["FileKeyStore", "Hsm", "HsmKeyStore", "SandboxHsm", "key_id_prefix"]


_PREFIX: Final = {
    KeyPurpose.PLATFORM_SIGNING: "ps",
    KeyPurpose.PLATFORM_ENCRYPTION: "pe",
    KeyPurpose.PERSONAL_DATA: "pd",
    KeyPurpose.BLIND_INDEX: "bi",
    KeyPurpose.AUDIT_LOG: "al",
    KeyPurpose.PASSWORD_PEPPER: "pp",
    KeyPurpose.TOKEN: "tk",
    KeyPurpose.CREDENTIAL_SIGNING: "cs",
    KeyPurpose.ID_TOKEN_SEED: "it",
}
_ASYMMETRIC: Final = ASYMMETRIC_PURPOSES
_VERSION: Final = 1


def key_id_prefix(purpose: KeyPurpose) -> str:
    """The short prefix of the purpose's key ids ("ps", "pd", ...)."""
    return _PREFIX[purpose]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _symmetric_size(suite: CryptoSuite) -> int:
    """16 bytes for the sm suite (SM4 / HMAC-SM3), 32 for intl (AES-256 / HMAC-SHA256)."""
    return suite.aead_key_size


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable only by the owner, atomically: a crash leaves the old file or the new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock across processes (initialisation and rotation only, never on hot paths)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise KeyNotFound(
            f"key store metadata {path} does not exist; initialise the key store first"
        ) from None
    except (ValueError, OSError) as exc:
        raise KeyNotFound(f"key store metadata {path} is unreadable: {exc}") from exc
    if (
        not isinstance(data, dict)
        or data.get("version") != _VERSION
        or not isinstance(data.get("purposes"), dict)
    ):
        raise KeyNotFound(f"key store metadata {path} has an unknown format")
    return data


def _empty_metadata(suite: CryptoSuite) -> dict[str, Any]:
    return {"version": _VERSION, "suite": suite.name, "purposes": {}}


def _check_suite(meta: dict[str, Any], suite: CryptoSuite, where: Path) -> None:
    if meta.get("suite") != suite.name:
        raise ValueError(
            f"key store {where} holds keys of the {meta.get('suite')!r} suite, not {suite.name!r}; "
            "use a separate key store per suite"
        )


@dataclass(slots=True)
class _LocalSigner:
    """Signer over a private key held in memory."""

    key_id: str
    _suite: CryptoSuite
    _key: PrivateKey

    def sign(self, message: bytes) -> bytes:
        """Signature of the suite over message."""
        return self._suite.sign(self._key, message)

    def public_key(self) -> PublicKey:
        """The public half."""
        return self._key.public_key()


@dataclass(slots=True)
class _LocalDecrypter:
    """Decrypter over a private key held in memory."""

    key_id: str
    _suite: CryptoSuite
    _key: PrivateKey

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Public-key decryption of the suite."""
        return self._suite.decrypt_with(self._key, ciphertext)

    def public_key(self) -> PublicKey:
        """The public half."""
        return self._key.public_key()


def _check_signing(purpose: KeyPurpose) -> None:
    if purpose is KeyPurpose.PLATFORM_ENCRYPTION:
        raise ValueError(f"{purpose.value} keys decrypt and never sign; use decrypter()")
    if purpose not in _ASYMMETRIC:
        raise ValueError(f"{purpose.value} is a symmetric purpose; use data_key()")


class _MetadataStore(ABC):
    """Shared purpose/key-id bookkeeping; subclasses say where key material lives."""

    def __init__(self, suite: CryptoSuite, metadata_path: Path) -> None:
        self._suite = suite
        self._metadata_path = metadata_path
        self._lock = threading.RLock()
        self._meta: dict[str, Any] = _empty_metadata(suite)
        self._data_keys: dict[str, DataKey] = {}
        self._public_keys: dict[str, PublicKey] = {}
        self._decrypters: dict[str, Decrypter] = {}
        self._lock_path = metadata_path.parent / f".{metadata_path.name}.lock"

    # -- hooks -------------------------------------------------------------------------------------

    @abstractmethod
    def _create_signing_key(self, key_id: str, entry: dict[str, Any]) -> None: ...

    @abstractmethod
    def _create_encryption_key(self, key_id: str, entry: dict[str, Any]) -> None: ...

    @abstractmethod
    def _create_data_key(self, key_id: str, secret: bytes, entry: dict[str, Any]) -> None: ...

    @abstractmethod
    def _load_decrypter(self, key_id: str, entry: dict[str, Any]) -> Decrypter: ...

    @abstractmethod
    def _load_public_key(self, key_id: str, entry: dict[str, Any]) -> PublicKey: ...

    @abstractmethod
    def _load_secret(self, key_id: str, entry: dict[str, Any]) -> bytes: ...

    # -- bookkeeping -------------------------------------------------------------------------------

    def _reload(self) -> None:
        meta = _read_json(self._metadata_path)
        _check_suite(meta, self._suite, self._metadata_path)
        self._meta = meta

    def _save(self) -> None:
        text = json.dumps(self._meta, indent=2, sort_keys=True).encode() + b"\n"
        _write_private(self._metadata_path, text)

    def _series(self, purpose: KeyPurpose) -> dict[str, Any] | None:
        series = self._meta["purposes"].get(purpose.value)
        return series if isinstance(series, dict) else None

    def _entry(self, key_id: str) -> tuple[KeyPurpose, dict[str, Any]] | None:
        prefix = key_id.split("-", 1)[0]
        for purpose, known in _PREFIX.items():
            if known != prefix or (series := self._series(purpose)) is None:
                continue
            for entry in series.get("keys", []):
                if entry.get("key_id") == key_id:
                    return purpose, entry
        return None

    def _find(self, key_id: str) -> tuple[KeyPurpose, dict[str, Any]]:
        """The metadata entry of key_id, re-reading the file once in case another process rotated."""
        with self._lock:
            found = self._entry(key_id)
            if found is None:
                self._reload()
                found = self._entry(key_id)
            if found is None:
                raise KeyNotFound(f"no key {key_id!r} in the key store")
            return found

    def _current_id(self, purpose: KeyPurpose) -> str:
        series = self._series(purpose)
        if series is None or not series.get("current"):
            raise KeyNotFound(f"no current key for {purpose.value}; initialise the key store")
        return str(series["current"])

    def _new_key_id(self, purpose: KeyPurpose) -> str:
        while True:
            key_id = f"{_PREFIX[purpose]}-{secrets.token_hex(4)}"
            if self._entry(key_id) is None:
                return key_id

    def _add_key(self, purpose: KeyPurpose) -> str:
        """Create key material for purpose, record it as current and persist the metadata."""
        key_id = self._new_key_id(purpose)
        now = _now()
        entry: dict[str, Any] = {"key_id": key_id, "created_at": now, "retired": None}
        if purpose in FIXED_ALGORITHMS:
            entry["algorithm"] = FIXED_ALGORITHMS[purpose]
        if purpose is KeyPurpose.PLATFORM_ENCRYPTION:
            self._create_encryption_key(key_id, entry)
        elif purpose in _ASYMMETRIC:
            self._create_signing_key(key_id, entry)
        else:
            self._create_data_key(key_id, secrets.token_bytes(_symmetric_size(self._suite)), entry)
        series = self._meta["purposes"].setdefault(purpose.value, {"current": None, "keys": []})
        for old in series["keys"]:
            if old["key_id"] == series["current"]:
                old["retired"] = now
        series["keys"].append(entry)
        series["current"] = key_id
        self._save()
        return key_id

    def _ensure_all(self) -> bool:
        """Create a current key for every purpose lacking one; True if anything changed."""
        changed = False
        for purpose in KeyPurpose:
            series = self._series(purpose)
            if series is None or not series.get("current"):
                self._add_key(purpose)
                changed = True
        return changed

    # -- KeyStore ----------------------------------------------------------------------------------

    def public_key(self, key_id: str) -> PublicKey:
        """Any signing key's public half by key id; KeyNotFound otherwise."""
        with self._lock:
            cached = self._public_keys.get(key_id)
            if cached is not None:
                return cached
            purpose, entry = self._find(key_id)
            if purpose not in (
                KeyPurpose.PLATFORM_SIGNING,
                KeyPurpose.AUDIT_LOG,
                KeyPurpose.CREDENTIAL_SIGNING,
            ):
                raise KeyNotFound(f"key {key_id!r} is not a signing key")
            key = self._load_public_key(key_id, entry)
            self._public_keys[key_id] = key
            return key

    def public_keys(self, purpose: KeyPurpose = KeyPurpose.PLATFORM_SIGNING) -> dict[str, PublicKey]:
        """Every signing public key of purpose, current and retired (old signatures must stay verifiable)."""
        with self._lock:
            with contextlib.suppress(KeyNotFound):
                self._reload()
            series = self._series(purpose) or {"keys": []}
            return {entry["key_id"]: self.public_key(entry["key_id"]) for entry in series["keys"]}

    def decrypter(self, key_id: str | None = None) -> Decrypter:
        """An encryption key by key id (current or retired), else the current one; KeyNotFound otherwise."""
        with self._lock:
            the_id = key_id or self._current_id(KeyPurpose.PLATFORM_ENCRYPTION)
            cached = self._decrypters.get(the_id)
            if cached is not None:
                return cached
            purpose, entry = self._find(the_id)
            if purpose is not KeyPurpose.PLATFORM_ENCRYPTION:
                raise KeyNotFound(f"key {the_id!r} is not an encryption key")
            decrypter = self._decrypters[the_id] = self._load_decrypter(the_id, entry)
            return decrypter

    def encryption_keys(self) -> dict[str, PublicKey]:
        """Every encryption public key, current and retired (envelopes sealed before a rotation open)."""
        with self._lock:
            with contextlib.suppress(KeyNotFound):
                self._reload()
            series = self._series(KeyPurpose.PLATFORM_ENCRYPTION) or {"keys": []}
            return {entry["key_id"]: self.decrypter(entry["key_id"]).public_key() for entry in series["keys"]}

    def data_key(self, purpose: KeyPurpose) -> DataKey:
        """The current symmetric key of purpose."""
        if purpose in _ASYMMETRIC:
            raise ValueError(f"{purpose.value} is an asymmetric purpose; use signer() or decrypter()")
        with self._lock:
            return self.data_key_by_id(self._current_id(purpose))

    def data_key_by_id(self, key_id: str) -> DataKey:
        """Any symmetric key by key id; KeyNotFound otherwise."""
        with self._lock:
            cached = self._data_keys.get(key_id)
            if cached is not None:
                return cached
            purpose, entry = self._find(key_id)
            if purpose in _ASYMMETRIC:
                raise KeyNotFound(f"key {key_id!r} is an asymmetric key, not a data key")
            key = DataKey(key_id=key_id, secret=self._load_secret(key_id, entry))
            self._data_keys[key_id] = key
            return key

    def rotate(self, purpose: KeyPurpose) -> str:
        """Make a new current key for purpose, keep the old one readable; return the new key id."""
        with self._lock, _file_lock(self._lock_path):
            self._reload()
            return self._add_key(purpose)

    def key_ids(self, purpose: KeyPurpose) -> list[str]:
        """Every key id of purpose, oldest first."""
        with self._lock:
            series = self._series(purpose) or {"keys": []}
            return [entry["key_id"] for entry in series["keys"]]

    def current_key_id(self, purpose: KeyPurpose) -> str:
        """The current key id of purpose."""
        with self._lock:
            return self._current_id(purpose)


class FileKeyStore(_MetadataStore):
    """Keys as files in one directory: ``keystore.json``, ``<key_id>.pem`` (signing), ``<key_id>.key``."""

    METADATA = "keystore.json"

    def __init__(self, path: Path, suite: CryptoSuite) -> None:
        self.path = Path(path)
        super().__init__(suite, self.path / self.METADATA)
        self._private_keys: dict[str, PrivateKey] = {}
        self._reload()

    @classmethod
    def initialise(cls, path: Path, suite: CryptoSuite) -> None:
        """Create the directory and a current key for every purpose that lacks one (idempotent)."""
        directory = Path(path)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        metadata = directory / cls.METADATA
        # Several workers may start on a fresh machine at once: serialise on a lock file.
        with _file_lock(directory / f".{cls.METADATA}.lock"):
            if not metadata.exists():
                _write_private(metadata, json.dumps(_empty_metadata(suite)).encode())
            store = cls(directory, suite)
            with store._lock:
                store._ensure_all()

    def _key_file(self, key_id: str, suffix: str) -> Path:
        if not key_id.replace("-", "").isalnum():
            raise KeyNotFound(f"invalid key id {key_id!r}")  # never let an id walk out of the directory
        return self.path / f"{key_id}{suffix}"

    def _suite_of(self, entry: dict[str, Any]) -> CryptoSuite:
        """The suite of a key: its purpose's fixed algorithm (recorded in its entry), else the store's."""
        algorithm = entry.get("algorithm")
        return self._suite if algorithm is None else _SUITE_BY_ALGORITHM[algorithm]

    def _create_signing_key(self, key_id: str, entry: dict[str, Any]) -> None:
        key = self._suite_of(entry).generate_private_key()
        _write_private(self._key_file(key_id, ".pem"), key.to_pem())
        self._private_keys[key_id] = key

    def _create_encryption_key(self, key_id: str, entry: dict[str, Any]) -> None:
        self._create_signing_key(key_id, entry)  # the same PEM key pair file; the purpose tells its use

    def _create_data_key(self, key_id: str, secret: bytes, entry: dict[str, Any]) -> None:
        _write_private(self._key_file(key_id, ".key"), base64.b64encode(secret) + b"\n")

    def _load_decrypter(self, key_id: str, entry: dict[str, Any]) -> Decrypter:
        return _LocalDecrypter(key_id, self._suite, self._private_key(key_id))

    def _private_key(self, key_id: str) -> PrivateKey:
        with self._lock:
            key = self._private_keys.get(key_id)
            if key is None:
                suite = self._suite_of(self._find(key_id)[1])
                path = self._key_file(key_id, ".pem")
                try:
                    pem = path.read_bytes()
                except FileNotFoundError:
                    raise KeyNotFound(f"key file {path} is missing") from None
                try:
                    key = suite.load_private_key(pem)
                except MalformedKey as exc:
                    raise KeyNotFound(f"key file {path} is not a {suite.name} private key") from exc
                self._private_keys[key_id] = key
            return key

    def _load_public_key(self, key_id: str, entry: dict[str, Any]) -> PublicKey:
        return self._private_key(key_id).public_key()

    def _load_secret(self, key_id: str, entry: dict[str, Any]) -> bytes:
        path = self._key_file(key_id, ".key")
        try:
            secret = base64.b64decode(path.read_bytes().strip(), validate=True)
        except FileNotFoundError:
            raise KeyNotFound(f"key file {path} is missing") from None
        except ValueError as exc:
            raise KeyNotFound(f"key file {path} is not base64") from exc
        if len(secret) != _symmetric_size(self._suite):
            raise KeyNotFound(
                f"key file {path} holds {len(secret)} bytes, not {_symmetric_size(self._suite)}"
            )
        return secret

    def signer(self, purpose: KeyPurpose = KeyPurpose.PLATFORM_SIGNING) -> Signer:
        """The current signing key of purpose."""
        _check_signing(purpose)
        with self._lock:
            key_id = self._current_id(purpose)
            suite = self._suite_of(self._find(key_id)[1])
            return _LocalSigner(key_id, suite, self._private_key(key_id))


class Hsm(Protocol):
    """The few operations the platform needs from a hardware security module; keys are named by label."""

    def generate_signing_key(self, label: str, algorithm: str) -> PublicKey:
        """Create a non-exportable key pair for algorithm (a suite's signature_algorithm)."""
        ...

    def sign(self, label: str, message: bytes) -> bytes:
        """Sign message with the key labelled label; KeyNotFound if there is none."""
        ...

    def public_key(self, label: str) -> PublicKey:
        """The public half of the key labelled label; KeyNotFound if there is none."""
        ...

    def generate_encryption_key(self, label: str, algorithm: str) -> PublicKey:
        """Create a non-exportable key pair of algorithm's suite for public-key decryption."""
        ...

    def decrypt(self, label: str, ciphertext: bytes) -> bytes:
        """Public-key decryption with the key labelled label; KeyNotFound or DecryptionFailed."""
        ...

    def generate_kek(self, label: str) -> None:
        """Create a non-exportable key-encryption key."""
        ...

    def wrap(self, kek_label: str, key: bytes) -> bytes:
        """Encrypt key material under the KEK."""
        ...

    def unwrap(self, kek_label: str, wrapped: bytes) -> bytes:
        """Decrypt wrapped key material; KeyNotFound for an unknown KEK, DecryptionFailed if tampered."""
        ...


_SUITE_BY_ALGORITHM: Final[dict[str, CryptoSuite]] = {
    SmSuite.signature_algorithm: SmSuite(),
    IntlSuite.signature_algorithm: IntlSuite(),
}


class SandboxHsm:
    """An in-process stand-in for an HSM, for demos and tests; keys live in dicts (optionally a file).

    Without state_path the keys vanish when the process exits, so an HsmKeyStore over it only lasts
    one process; with state_path they are kept (unprotected, mode 0600) so a demo survives restarts.
    Key wrapping is SM4-GCM with a random nonce and the KEK label as associated data.
    """

    def __init__(self, state_path: Path | None = None) -> None:
        self._lock = threading.RLock()
        self._state_path = state_path
        self._signing: dict[str, tuple[str, PrivateKey]] = {}
        self._encryption: dict[str, tuple[str, PrivateKey]] = {}
        self._keks: dict[str, bytes] = {}
        self._sm = SmSuite()
        if state_path is not None and state_path.exists():
            state = json.loads(state_path.read_bytes())
            for kind, keys in (("signing", self._signing), ("encryption", self._encryption)):
                for label, item in state.get(kind, {}).items():
                    suite = _SUITE_BY_ALGORITHM[item["algorithm"]]
                    keys[label] = (item["algorithm"], suite.load_private_key(item["pem"].encode()))
            self._keks = {label: base64.b64decode(b64) for label, b64 in state.get("keks", {}).items()}

    def _persist(self) -> None:
        if self._state_path is None:
            return
        state = {
            kind: {
                label: {"algorithm": algorithm, "pem": key.to_pem().decode()}
                for label, (algorithm, key) in keys.items()
            }
            for kind, keys in (("signing", self._signing), ("encryption", self._encryption))
        } | {
            "keks": {label: base64.b64encode(kek).decode() for label, kek in self._keks.items()},
        }
        self._state_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_private(self._state_path, json.dumps(state, indent=2).encode())

    def _generate(self, keys: dict[str, tuple[str, PrivateKey]], label: str, algorithm: str) -> PublicKey:
        suite = _SUITE_BY_ALGORITHM.get(algorithm)
        if suite is None:
            raise ValueError(f"the sandbox HSM does not support {algorithm!r}")
        with self._lock:
            if label in self._signing or label in self._encryption or label in self._keks:
                raise ValueError(f"the sandbox HSM already holds a key labelled {label!r}")
            key = suite.generate_private_key()
            keys[label] = (algorithm, key)
            self._persist()
            return key.public_key()

    def generate_signing_key(self, label: str, algorithm: str) -> PublicKey:
        """Create a key pair under label for algorithm ("SM2-SM3" or "ECDSA-P256-SHA256")."""
        return self._generate(self._signing, label, algorithm)

    def generate_encryption_key(self, label: str, algorithm: str) -> PublicKey:
        """Create a decryption key pair under label of algorithm's suite."""
        return self._generate(self._encryption, label, algorithm)

    def decrypt(self, label: str, ciphertext: bytes) -> bytes:
        """Public-key decryption with the key labelled label."""
        with self._lock:
            found = self._encryption.get(label)
        if found is None:
            raise KeyNotFound(f"the HSM holds no encryption key labelled {label!r}")
        return _SUITE_BY_ALGORITHM[found[0]].decrypt_with(found[1], ciphertext)

    def _signing_key(self, label: str) -> tuple[str, PrivateKey]:
        with self._lock:
            found = self._signing.get(label)
        if found is None:
            raise KeyNotFound(f"the HSM holds no signing key labelled {label!r}")
        return found

    def sign(self, label: str, message: bytes) -> bytes:
        """Sign with the key labelled label."""
        algorithm, key = self._signing_key(label)
        return _SUITE_BY_ALGORITHM[algorithm].sign(key, message)

    def public_key(self, label: str) -> PublicKey:
        """The public half of the key labelled label."""
        return self._signing_key(label)[1].public_key()

    def generate_kek(self, label: str) -> None:
        """Create a 16-byte SM4 key-encryption key under label."""
        with self._lock:
            if label in self._signing or label in self._encryption or label in self._keks:
                raise ValueError(f"the sandbox HSM already holds a key labelled {label!r}")
            self._keks[label] = secrets.token_bytes(16)
            self._persist()

    def _kek(self, label: str) -> bytes:
        with self._lock:
            kek = self._keks.get(label)
        if kek is None:
            raise KeyNotFound(f"the HSM holds no key-encryption key labelled {label!r}")
        return kek

    def wrap(self, kek_label: str, key: bytes) -> bytes:
        """nonce || SM4-GCM(key) under the KEK."""
        nonce = secrets.token_bytes(self._sm.aead_nonce_size)
        return nonce + self._sm.aead_encrypt(self._kek(kek_label), nonce, key, kek_label.encode())

    def unwrap(self, kek_label: str, wrapped: bytes) -> bytes:
        """Inverse of wrap; DecryptionFailed if tampered or wrapped under another KEK."""
        kek = self._kek(kek_label)
        size = self._sm.aead_nonce_size
        if len(wrapped) < size + 16:
            raise DecryptionFailed("wrapped key is truncated")
        return self._sm.aead_decrypt(kek, wrapped[:size], wrapped[size:], kek_label.encode())


@dataclass(slots=True)
class _HsmDecrypter:
    """Decrypter whose private key never leaves the HSM."""

    key_id: str
    _hsm: Hsm
    _public: PublicKey

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decryption made inside the HSM."""
        return self._hsm.decrypt(self.key_id, ciphertext)

    def public_key(self) -> PublicKey:
        """The public half."""
        return self._public


@dataclass(slots=True)
class _HsmSigner:
    """Signer whose private key never leaves the HSM."""

    key_id: str
    _hsm: Hsm
    _public: PublicKey

    def sign(self, message: bytes) -> bytes:
        """Signature made inside the HSM."""
        return self._hsm.sign(self.key_id, message)

    def public_key(self) -> PublicKey:
        """The public half."""
        return self._public


class HsmKeyStore(_MetadataStore):
    """Signing keys inside an HSM (label = key id); data keys wrapped by an HSM KEK in the metadata file.

    Opening creates the metadata, the KEK and a current key for every purpose when they are missing.
    """

    def __init__(self, hsm: Hsm, metadata_path: Path, suite: CryptoSuite) -> None:
        super().__init__(suite, Path(metadata_path))
        self._hsm = hsm
        self._metadata_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self._lock, _file_lock(self._lock_path):
            if self._metadata_path.exists():
                self._reload()
            if not self._meta.get("kek"):
                label = f"kek-{secrets.token_hex(4)}"
                hsm.generate_kek(label)
                self._meta["kek"] = label
                self._save()
            self._ensure_all()

    @property
    def kek_label(self) -> str:
        """The label of the HSM key-encryption key wrapping this store's data keys."""
        return str(self._meta["kek"])

    def _create_signing_key(self, key_id: str, entry: dict[str, Any]) -> None:
        algorithm = entry.get("algorithm", self._suite.signature_algorithm)
        public = self._hsm.generate_signing_key(key_id, algorithm)
        # Kept for operators' convenience only; verification always asks the HSM.
        entry["public_key"] = public.to_pem().decode()
        self._public_keys[key_id] = public

    def _create_encryption_key(self, key_id: str, entry: dict[str, Any]) -> None:
        public = self._hsm.generate_encryption_key(key_id, self._suite.signature_algorithm)
        entry["public_key"] = public.to_pem().decode()

    def _load_decrypter(self, key_id: str, entry: dict[str, Any]) -> Decrypter:
        try:
            public = self._suite.load_public_key(str(entry.get("public_key", "")).encode())
        except MalformedKey as exc:
            raise KeyNotFound(
                f"encryption key {key_id!r} has no public key in {self._metadata_path}"
            ) from exc
        return _HsmDecrypter(key_id, self._hsm, public)

    def _create_data_key(self, key_id: str, secret: bytes, entry: dict[str, Any]) -> None:
        entry["wrapped"] = base64.b64encode(self._hsm.wrap(self.kek_label, secret)).decode()

    def _load_public_key(self, key_id: str, entry: dict[str, Any]) -> PublicKey:
        return self._hsm.public_key(key_id)

    def _load_secret(self, key_id: str, entry: dict[str, Any]) -> bytes:
        try:
            wrapped = base64.b64decode(entry.get("wrapped", ""), validate=True)
        except ValueError as exc:
            raise KeyNotFound(f"wrapped key {key_id!r} is not base64") from exc
        try:
            secret = self._hsm.unwrap(self.kek_label, wrapped)
        except KeyNotFound as exc:
            raise KeyNotFound(
                f"the HSM does not hold KEK {self.kek_label!r} named in {self._metadata_path} "
                "(a SandboxHsm without state_path forgets its keys when the process exits)"
            ) from exc
        except DecryptionFailed as exc:
            raise KeyNotFound(f"wrapped key {key_id!r} does not unwrap under {self.kek_label!r}") from exc
        if len(secret) != _symmetric_size(self._suite):
            raise KeyNotFound(f"wrapped key {key_id!r} has the wrong size")
        return secret

    def signer(self, purpose: KeyPurpose = KeyPurpose.PLATFORM_SIGNING) -> Signer:
        """The current signing key of purpose, as an HSM-backed signer."""
        _check_signing(purpose)
        with self._lock:
            key_id = self._current_id(purpose)
            return _HsmSigner(key_id, self._hsm, self.public_key(key_id))
