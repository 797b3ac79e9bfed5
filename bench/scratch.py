"""Scratch databases for the benchmarks: a new SQLite file or PostgreSQL database, removed afterwards."""

from __future__ import annotations

import os
import platform
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from essc.core.db import make_engine, normalise_url
from essc.core.nonces import RedisNonceStore
from essc.core.settings import Settings
from essc.kit.clock import SystemClock

DEFAULT_POSTGRES_URL = os.environ.get(
    "ESSC_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so scratch databases, files and servers are removed on the way out."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def scratch_name(purpose: str) -> str:
    """A database name of this process, so parallel runs never drop each other's databases."""
    return f"essc_bench_{purpose}_{os.getpid()}"


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def scratch_database(backend: str, name: str, folder: Path, admin_url: str) -> Iterator[str]:
    """The URL of a new, empty database; it is deleted when the block ends, also on errors."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"scratch database name {name!r} must be a plain lower-case identifier")
    if backend == "sqlite":
        path = folder / f"{name}.db"
        _remove_sqlite(path)
        try:
            yield f"sqlite:///{path}"
        finally:
            _remove_sqlite(path)
        return
    if backend != "postgresql":
        raise ValueError(f"unknown backend {backend!r}")
    admin = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def settle(url: str) -> None:
    """Flush earlier writes to disk now, so their cost is not charged to the timed phase that follows."""
    if url.startswith("sqlite:///"):
        # Outside SQLAlchemy: the engine's BEGIN IMMEDIATE hook would wrap the checkpoint in a transaction.
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    else:
        engine = make_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text("CHECKPOINT"))
        finally:
            engine.dispose()
    os.sync()


def server_version(url: str) -> str:
    """The database engine's version, for the report."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                return "PostgreSQL " + str(connection.execute(text("SHOW server_version")).scalar_one())
            return "SQLite " + str(connection.exec_driver_sql("SELECT sqlite_version()").scalar_one())
    finally:
        engine.dispose()


def machine() -> str:
    """One line about where the numbers come from."""
    return f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.platform(terse=True)}"


@dataclass(frozen=True, slots=True)
class CpuSample:
    """CPU seconds so far: this process, and the whole machine busy and in total (from /proc/stat)."""

    own: float
    machine_busy: float
    machine_total: float

    @classmethod
    def now(cls) -> CpuSample:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        tick = os.sysconf("SC_CLK_TCK")
        idle = values[3] + values[4]  # idle and iowait
        return cls(time.process_time(), (sum(values) - idle) / tick, sum(values) / tick)

    def until(self, later: CpuSample, seconds: float) -> str:
        """CPU use between two samples in cores: this process, the machine (busy of available)."""
        own = (later.own - self.own) / seconds
        busy = (later.machine_busy - self.machine_busy) / seconds
        cores = (later.machine_total - self.machine_total) / seconds
        return f"this process {own:.2f}, machine busy {busy:.2f} of {cores:.1f} cores"


class AutoVacuum:
    """VACUUM and ANALYZE tables the way autovacuum would, on a PostgreSQL server that runs with it off.

    Production servers keep autovacuum on. Without its ANALYZE a table that was empty when it was first
    planned keeps no statistics at all; without its VACUUM every updated row leaves a dead tuple for good, so
    tables and indexes grow past the shared buffers and the backends write the pages out themselves. Either
    way a different system from the one the benchmark means to measure.
    """

    _SETTINGS = (
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('autovacuum', 'autovacuum_naptime', 'autovacuum_analyze_threshold', "
        "'autovacuum_analyze_scale_factor', 'autovacuum_vacuum_threshold', 'autovacuum_vacuum_scale_factor', "
        "'autovacuum_vacuum_insert_threshold', 'autovacuum_vacuum_insert_scale_factor')"
    )
    # Autovacuum's own rules (PostgreSQL 13 and later): dead tuples or inserts since the last VACUUM, and
    # changes since the last ANALYZE, each against a threshold plus a share of the table's rows.
    _DUE = (
        "SELECT s.relname, "
        "s.n_dead_tup > :vacuum_threshold + :vacuum_scale * greatest(c.reltuples, 0) "
        "OR s.n_ins_since_vacuum > :insert_threshold + :insert_scale * greatest(c.reltuples, 0), "
        "s.n_mod_since_analyze > :analyze_threshold + :analyze_scale * greatest(c.reltuples, 0) "
        "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
        # Autovacuum never touches another session's temporary table (nor could this connection).
        "WHERE c.relpersistence <> 't'"
    )

    def __init__(self, url: str, enabled: bool = True) -> None:
        self._engine = make_engine(url, isolation_level="AUTOCOMMIT")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = time.monotonic()
        self.done: list[tuple[float, str, str]] = []  # (seconds, table, what)
        with self._engine.connect() as connection:
            settings: dict[str, str] = {
                str(name): str(value) for name, value in connection.execute(text(self._SETTINGS))
            }
        self._naptime = float(settings["autovacuum_naptime"])
        self._parameters = {
            "vacuum_threshold": float(settings["autovacuum_vacuum_threshold"]),
            "vacuum_scale": float(settings["autovacuum_vacuum_scale_factor"]),
            "insert_threshold": float(settings["autovacuum_vacuum_insert_threshold"]),
            "insert_scale": float(settings["autovacuum_vacuum_insert_scale_factor"]),
            "analyze_threshold": float(settings["autovacuum_analyze_threshold"]),
            "analyze_scale": float(settings["autovacuum_analyze_scale_factor"]),
        }
        self._emulate = enabled and settings["autovacuum"] != "on"
        if settings["autovacuum"] == "on":
            self.note = "server autovacuum is on (left to the server)"
        elif enabled:
            self.note = (
                f"server autovacuum is OFF; the benchmark emulates its VACUUM and ANALYZE (every "
                f"{self._naptime:g} s, by its thresholds)"
            )
        else:
            self.note = "server autovacuum is OFF and not emulated: tables are never vacuumed nor analyzed"

    def __enter__(self) -> AutoVacuum:
        if self._emulate:
            self._started = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="auto-vacuum", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._engine.dispose()

    def _run(self) -> None:
        while not self._stop.wait(self._naptime):
            with self._engine.connect() as connection:
                due = list(connection.execute(text(self._DUE), self._parameters))
                for table, vacuum, analyze in due:
                    if not (vacuum or analyze):
                        continue
                    what = "VACUUM (ANALYZE)" if vacuum and analyze else "VACUUM" if vacuum else "ANALYZE"
                    connection.execute(text(f'{what} "{table}"'))
                    done = "vacuum+analyze" if vacuum and analyze else "vacuum" if vacuum else "analyze"
                    self.done.append((time.monotonic() - self._started, str(table), done))

    def summary(self) -> str:
        """What was vacuumed or analyzed when, for the report."""
        if not self.done:
            return self.note
        shown = ", ".join(f"{what} {name}@{at:.0f}s" for at, name, what in self.done[:12])
        more = f" (+{len(self.done) - 12} more)" if len(self.done) > 12 else ""
        return f"{self.note}; {shown}{more}"


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far, from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu_seconds(url: str) -> float:
    """CPU seconds used so far by the other PostgreSQL backends connected to url's database (0 for SQLite)."""
    if not url.startswith("postgresql"):
        return 0.0
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            pids = connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalars()
            return sum(process_cpu_seconds(int(pid)) for pid in pids)
    finally:
        engine.dispose()


@contextmanager
def fresh_nonce_store(settings: Settings) -> Iterator[None]:
    """A run's own Redis nonce store (its key prefix), declared new as a new deployment does, then removed."""
    if settings.redis_url is None:
        yield
        return
    store = RedisNonceStore(
        settings.redis_url,
        SystemClock(),
        window_seconds=settings.request_clock_skew_seconds,
        prefix=settings.redis_key_prefix,
    )
    store.start_fresh()
    try:
        yield
    finally:
        client = redis.Redis.from_url(settings.redis_url)
        with closing(client):
            for key in client.scan_iter(match=f"{settings.redis_key_prefix}*", count=1000):
                client.delete(key)
        store.close()
