"""Fixtures: every database test runs on SQLite and, when its URL is set, on PostgreSQL with Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import factories
from essc.core import migrate
from essc.core.db import Base, normalise_url
from essc.core.nonces import RedisNonceStore
from essc.core.platform import Platform, build_platform
from essc.core.settings import Settings
from essc.kit.clock import FrozenClock, SystemClock
from essc.kit.crypto import get_suite
from essc.kit.keystore import KeyStore
from essc.kit.keystores import FileKeyStore
from essc.regions.models import Region
from essc.regions.repository import sync_regions
from essc.wiring import register_handlers

POSTGRES_URL = os.environ.get("ESSC_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("ESSC_TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
KEEP_TABLES = {Region.__tablename__}

register_handlers()  # the composition root of domain events, as every entry point of the platform calls it


def pytest_report_header() -> str:
    return f"essc backends: {', '.join(BACKENDS)}; redis: {'yes' if REDIS_URL else 'no'}"


@pytest.fixture(scope="session")
def keystore_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The file key store every test platform (and any server process a test starts) shares."""
    path = tmp_path_factory.mktemp("keys")
    FileKeyStore.initialise(path, get_suite("sm"))
    return path


@pytest.fixture(scope="session")
def keystore(keystore_path: Path) -> KeyStore:
    return FileKeyStore(keystore_path, get_suite("sm"))


@contextmanager
def postgres_database(prefix: str = "essc_test") -> Iterator[str]:
    """A fresh PostgreSQL database, dropped afterwards; unreachable PostgreSQL fails the run."""
    assert POSTGRES_URL is not None
    admin_url = make_url(normalise_url(POSTGRES_URL))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own on the backend under test, with no schema: for tests of the migrations."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrating.db'}"
        return
    with postgres_database("essc_migration") as url:
        yield url


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One migrated database per backend for the whole session; tests empty it after use."""
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'essc.db'}"}
    with ExitStack() as stack:
        if POSTGRES_URL:
            urls["postgresql"] = stack.enter_context(postgres_database())
        for url in urls.values():
            migrate.upgrade(url)
        yield urls


@pytest.fixture(scope="session")
def redis_url() -> str | None:
    if REDIS_URL:
        redis.Redis.from_url(REDIS_URL).ping()  # unreachable Redis must fail the run, not skip it
    return REDIS_URL


def _empty(platform: Platform) -> None:
    with platform.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                conn.execute(table.delete())


@pytest.fixture(autouse=True)
def _stop_app_clients() -> Iterator[None]:
    """Stop every app a test started (factories.running) before its platform is emptied and closed."""
    yield
    factories.stop_clients()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(SystemClock().now())


@pytest.fixture
def platform(
    backend: str,
    database_urls: dict[str, str],
    redis_url: str | None,
    keystore: KeyStore,
    clock: FrozenClock,
    tmp_path: Path,
) -> Iterator[Platform]:
    settings = Settings(
        database_url=database_urls[backend],
        redis_url=redis_url if backend == "postgresql" else None,
        # Every test its own Redis keys: the server is shared, and a test may lose its keys on purpose.
        redis_key_prefix=f"essc-test:{uuid.uuid4().hex}:",
        keystore_path=tmp_path / "unused-keys",
        run_dispatcher=False,
        run_sequencer=False,
    )
    the_platform = build_platform(settings, clock=clock, keys=keystore)
    if isinstance(the_platform.nonces, RedisNonceStore):
        the_platform.nonces.start_fresh()  # a new deployment: no nonce was ever claimed under this prefix
    with the_platform.session_factory() as session:
        sync_regions(session)
        session.commit()
    try:
        yield the_platform
    finally:
        factories.stop_clients()
        _empty(the_platform)
        if settings.redis_url:
            factories.drop_redis_keys(settings.redis_url, settings.redis_key_prefix)
        the_platform.close()
