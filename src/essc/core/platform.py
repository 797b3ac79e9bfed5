"""The long-lived parts of a running platform, built once per process from settings."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import sessionmaker

from essc.core.db import (
    Session,
    make_async_engine,
    make_engine,
    make_one_statement_factory,
    make_reading_factory,
    make_session_factory,
    make_single_statement_factory,
    on_loop,
)
from essc.core.nonces import NonceStore, make_nonce_store
from essc.core.settings import Settings
from essc.kit.clock import Clock, SystemClock
from essc.kit.crypto import get_suite
from essc.kit.crypto.base import CryptoSuite
from essc.kit.fieldcrypt import BlindIndex, FieldCipher
from essc.kit.keystore import KeyStore
from essc.kit.keystores import FileKeyStore, HsmKeyStore, SandboxHsm


@dataclass(slots=True)
class LoopEngine:
    """The async engine of one event loop and its session factories (a driver connection serves one loop)."""

    engine: AsyncEngine
    sessions: sessionmaker[Session]
    single_statements: sessionmaker[Session]
    reads: sessionmaker[Session]
    one_statement: sessionmaker[Session]

    @classmethod
    def build(cls, url: str) -> LoopEngine:
        engine = make_async_engine(url)
        return cls(
            engine,
            make_session_factory(engine.sync_engine),
            make_single_statement_factory(engine.sync_engine),
            make_reading_factory(engine.sync_engine),
            make_one_statement_factory(engine.sync_engine),
        )


@dataclass
class Platform:
    """Settings, engines, keys, clock and nonce store; sessions come from the calling context's engine."""

    settings: Settings
    engine: Engine
    suite: CryptoSuite
    keys: KeyStore
    clock: Clock
    nonces: NonceStore = field(init=False)
    fields: FieldCipher = field(init=False)
    blind_index: BlindIndex = field(init=False)
    _blocking_sessions: sessionmaker[Session] = field(init=False, repr=False)
    _blocking_single_statements: sessionmaker[Session] = field(init=False, repr=False)
    _loop_engines: dict[asyncio.AbstractEventLoop, LoopEngine] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.fields = FieldCipher(self.suite, self.keys)
        self.blind_index = BlindIndex(self.suite, self.keys)
        self._blocking_sessions = make_session_factory(self.engine)
        self._blocking_single_statements = make_single_statement_factory(self.engine)
        self._loop_engines = {}
        self.nonces = make_nonce_store(self.settings, self.single_statement_factory, self.clock)

    def session_factory(self) -> Session:
        """A session for one unit of work: the event loop's engine inside a request, else the blocking one."""
        if on_loop():
            return self.loop_engine().sessions()
        return self._blocking_sessions()

    def single_statement_factory(self) -> Session:
        """A session of self-contained statements (see essc.core.db.make_single_statement_factory)."""
        if on_loop():
            return self.loop_engine().single_statements()
        return self._blocking_single_statements()

    def loop_engine(self) -> LoopEngine:
        """The async engine of the running event loop, made on first use."""
        loop = asyncio.get_running_loop()
        found = self._loop_engines.get(loop)
        if found is None:
            found = self._loop_engines[loop] = LoopEngine.build(self.settings.database_url)
        return found

    async def close_loop(self) -> None:
        """Close what the running loop holds (its engine, its Redis connections): at the app's end."""
        found = self._loop_engines.pop(asyncio.get_running_loop(), None)
        if found is not None:
            await found.engine.dispose()
        await self.nonces.close_loop()

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
    """Wire engines, key store, crypto suite and nonce store from settings."""
    if settings.database_url.startswith("sqlite:///"):
        db_path = Path(settings.database_url.removeprefix("sqlite:///"))
        if str(db_path) == ":memory:":
            # Requests and jobs reach the database through two engines: both must see the same one.
            raise ValueError("an in-memory SQLite database cannot be shared by the platform's engines")
        db_path.parent.mkdir(parents=True, exist_ok=True)
    suite = get_suite(settings.crypto_suite)
    engine = make_engine(settings.database_url)
    the_clock = clock or SystemClock()
    return Platform(
        settings=settings,
        engine=engine,
        suite=suite,
        keys=keys or open_keystore(settings, suite),
        clock=the_clock,
    )
