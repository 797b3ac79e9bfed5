"""The long-lived parts of a running platform, built once per process from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from essc.core.db import Session, make_engine, make_session_factory, make_single_statement_factory
from essc.core.nonces import NonceStore, make_nonce_store
from essc.core.settings import Settings
from essc.kit.clock import Clock, SystemClock
from essc.kit.crypto import get_suite
from essc.kit.crypto.base import CryptoSuite
from essc.kit.fieldcrypt import BlindIndex, FieldCipher
from essc.kit.keystore import KeyStore
from essc.kit.keystores import FileKeyStore, HsmKeyStore, SandboxHsm


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    suite: CryptoSuite
    keys: KeyStore
    clock: Clock
    nonces: NonceStore
    # For work of self-contained single statements (idempotency claims, lookups); see essc.core.db.
    single_statement_factory: sessionmaker[Session]
    fields: FieldCipher = field(init=False)
    blind_index: BlindIndex = field(init=False)

    def __post_init__(self) -> None:
        self.fields = FieldCipher(self.suite, self.keys)
        self.blind_index = BlindIndex(self.suite, self.keys)

    def close(self) -> None:
        self.engine.dispose()
        self.nonces.close()


def open_keystore(settings: Settings, suite: CryptoSuite) -> KeyStore:
    """The configured key store, initialised on first use so a fresh machine works out of the box."""
    path = Path(settings.keystore_path)
    if settings.keystore_kind == "sandbox-hsm":
        # The sandbox HSM keeps its keys in a file so several workers and restarts share them.
        path.mkdir(parents=True, exist_ok=True)
        return HsmKeyStore(SandboxHsm(path / "sandbox-hsm.json"), path / "hsm-metadata.json", suite)
    if settings.keystore_kind != "file":
        raise ValueError(
            f"ESSC_KEYSTORE_KIND must be 'file' or 'sandbox-hsm', not {settings.keystore_kind!r}"
        )
    FileKeyStore.initialise(path, suite)
    return FileKeyStore(path, suite)


def build_platform(settings: Settings, clock: Clock | None = None, keys: KeyStore | None = None) -> Platform:
    """Wire engine, key store, crypto suite and nonce store from settings."""
    if settings.database_url.startswith("sqlite:///"):
        db_path = Path(settings.database_url.removeprefix("sqlite:///"))
        if str(db_path) != ":memory:":
            db_path.parent.mkdir(parents=True, exist_ok=True)
    suite = get_suite(settings.crypto_suite)
    engine = make_engine(settings.database_url)
    the_clock = clock or SystemClock()
    return Platform(
        settings=settings,
        engine=engine,
        session_factory=make_session_factory(engine),
        suite=suite,
        keys=keys or open_keystore(settings, suite),
        clock=the_clock,
        nonces=make_nonce_store(settings, make_session_factory(engine), the_clock),
        single_statement_factory=make_single_statement_factory(engine),
    )
