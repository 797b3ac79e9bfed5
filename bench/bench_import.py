"""Holder import rows/s through essc's import (bulk or row path) against COPY of the rows it wrote."""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from itertools import pairwise, zip_longest
from pathlib import Path
from time import perf_counter
from typing import Any

import psycopg
from sqlalchemy import Table, func, inspect, literal_column, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import ColumnClause

from essc.cardholders.bulk import DEFAULT_BATCH_SIZE, BulkReport, bulk_import
from essc.cardholders.importer import ImportReport, import_file
from essc.cardholders.importfile import BadRow, parse_file
from essc.cardholders.synthetic import synthetic_holders, write_csv
from essc.core.context import Actor
from essc.core.db import make_engine
from essc.core.migrate import upgrade
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.kit.crypto.base import CryptoSuite
from essc.kit.fieldcrypt import BlindIndex, FieldCipher
from essc.kit.keystore import KeyStore
from essc.schema import Base
from essc.wiring import register_handlers
from scratch import (
    DEFAULT_POSTGRES_URL,
    AutoVacuum,
    CpuSample,
    backend_cpu_seconds,
    exit_cleanly_on_sigterm,
    machine,
    process_cpu_seconds,
    scratch_database,
    scratch_name,
    server_version,
    settle,
)

PROVINCE = "44"
BACKENDS = ("sqlite", "postgresql")


@dataclass
class Meter:
    """Seconds and calls spent in each kind of cryptography during the import."""

    field_seconds: float = 0.0
    field_calls: int = 0
    index_seconds: float = 0.0
    index_calls: int = 0


class TimedFieldCipher(FieldCipher):
    """The platform's field cipher, timing each encryption."""

    def __init__(self, suite: CryptoSuite, keys: KeyStore, meter: Meter) -> None:
        super().__init__(suite, keys)
        self._meter = meter

    def encrypt(self, value: str, aad: str) -> bytes:
        start = perf_counter()
        sealed = super().encrypt(value, aad)
        self._meter.field_seconds += perf_counter() - start
        self._meter.field_calls += 1
        return sealed


class TimedBlindIndex(BlindIndex):
    """The platform's blind index, timing each HMAC."""

    def __init__(self, suite: CryptoSuite, keys: KeyStore, meter: Meter) -> None:
        super().__init__(suite, keys)
        self._meter = meter

    def of(self, field: str, value: str) -> bytes:
        start = perf_counter()
        digest = super().of(field, value)
        self._meter.index_seconds += perf_counter() - start
        self._meter.index_calls += 1
        return digest


@dataclass
class Phase:
    """One timed load of the same holders."""

    label: str
    seconds: float
    per_table: dict[str, float] = field(default_factory=dict)
    cpu: str = ""
    database_cpu: float = 0.0  # CPU seconds of the database backend that loaded the rows (COPY baseline)


@dataclass
class BackendResult:
    backend: str
    version: str
    suite: str
    report: ImportReport | BulkReport
    imported: Phase
    meter: Meter
    written: dict[str, int]
    baselines: list[Phase]
    statistics: str
    own_cpu: float
    worker_cpu: float
    database_cpu: float
    marks: list[tuple[int, float]]
    # The database backends' CPU seconds by the importing process's phase (--phase-cpu).
    phases_cpu: dict[str, float] = field(default_factory=dict)


def table_counts(url: str) -> dict[str, int]:
    """Rows in every table of the schema that the migrations created (models may run ahead of them)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            present = set(inspect(connection).get_table_names())
            return {
                table.name: _count(connection, table)
                for table in Base.metadata.sorted_tables
                if table.name in present
            }
    finally:
        engine.dispose()


def _chunks(connection: Connection, table: Table, size: int) -> Iterator[list[dict[str, Any]]]:
    """The table's rows in insertion order (rowid / ctid), as dicts, `size` at a time, streamed."""
    order: ColumnClause[Any] = literal_column("rowid" if connection.dialect.name == "sqlite" else "ctid")
    result = connection.execute(select(table).order_by(order).execution_options(yield_per=size))
    for part in result.partitions():
        yield [dict(row._mapping) for row in part]


def executemany_baseline(source_url: str, target_url: str, tables: Sequence[Table], batches: int) -> Phase:
    """Insert the import's rows again with Core executemany, one transaction per importer batch.

    Each table is cut into `batches` equal slices; transaction k inserts slice k of every table in foreign-key
    order, so the baseline commits as often as the importer did. Only the inserts and commits are timed;
    reading the rows back from the imported database happens between the timed sections.
    """
    source, target = make_engine(source_url), make_engine(target_url)
    phase = Phase("Core executemany, same batches", 0.0, {table.name: 0.0 for table in tables})
    try:
        with source.connect() as reader:
            sizes = [max(1, math.ceil(_count(reader, table) / batches)) for table in tables]
            streams = [_chunks(reader, table, size) for table, size in zip(tables, sizes, strict=True)]
            for slices in zip_longest(*streams, fillvalue=[]):
                start = perf_counter()
                with target.begin() as writer:
                    for table, rows in zip(tables, slices, strict=True):
                        if rows:
                            began = perf_counter()
                            writer.execute(table.insert(), rows)
                            phase.per_table[table.name] += perf_counter() - began
                    committing = perf_counter()
                phase.per_table["commit"] = phase.per_table.get("commit", 0.0) + perf_counter() - committing
                phase.seconds += perf_counter() - start
    finally:
        source.dispose()
        target.dispose()
    return phase


def _count(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def copy_baseline(source_url: str, target_url: str, tables: Sequence[Table], folder: Path) -> Phase:
    """Load the import's rows with binary COPY FROM STDIN, all tables in one transaction (PostgreSQL only).

    The rows are first exported byte for byte with COPY TO into local files (not timed); the timed part
    streams those files into the fresh database and commits.
    """
    files: list[tuple[Table, Path, str]] = []
    with psycopg.connect(_libpq(source_url)) as source, source.cursor() as cursor:
        for table in tables:
            columns = ", ".join(f'"{column.name}"' for column in table.columns)
            path = folder / f"{table.name}.copy"
            with (
                path.open("wb") as out,
                cursor.copy(
                    f'COPY (SELECT {columns} FROM "{table.name}" ORDER BY ctid) TO STDOUT (FORMAT binary)'
                ) as copy,
            ):
                for data in copy:
                    out.write(data)
            files.append((table, path, columns))
    phase = Phase("COPY FROM STDIN (binary), one transaction", 0.0, {})
    try:
        with psycopg.connect(_libpq(target_url)) as target:
            backend_before = process_cpu_seconds(target.info.backend_pid)
            sample = CpuSample.now()
            start = perf_counter()
            with target.cursor() as cursor:
                for table, path, columns in files:
                    began = perf_counter()
                    with (
                        path.open("rb") as stored,
                        cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN (FORMAT binary)') as copy,
                    ):
                        while block := stored.read(1 << 20):
                            copy.write(block)
                    phase.per_table[table.name] = perf_counter() - began
            committing = perf_counter()
            target.commit()
            phase.per_table["commit"] = perf_counter() - committing
            phase.seconds = perf_counter() - start
            phase.cpu = sample.until(CpuSample.now(), phase.seconds)
            phase.database_cpu = process_cpu_seconds(target.info.backend_pid) - backend_before
    finally:
        for _, path, _ in files:
            path.unlink(missing_ok=True)
    return phase


class PhaseCpu:
    """CPU of the import database's backends, attributed to the importing process's timed phases (/proc)."""

    def __init__(self, database: str) -> None:
        self.tag = f" {database} ".encode()
        self.seconds: dict[str, float] = {}
        self.last = self.now()

    def now(self) -> float:
        """CPU seconds so far of the backends connected to the database (their titles name it)."""
        total = 0.0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"postgres: ") and self.tag in title:
                total += process_cpu_seconds(int(entry.name))
        return total

    def attribute(self, phase: str) -> None:
        """Charge the backends' CPU since the last phase to this one."""
        now = self.now()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self.last
        self.last = now


@contextmanager
def phase_cpu_of(url: str, enabled: bool) -> Iterator[PhaseCpu | None]:
    """While enabled, every phase the bulk importer times also gets the database's CPU spent in it."""
    if not enabled or not url.startswith("postgresql"):
        yield None
        return
    meter = PhaseCpu(url.rsplit("/", 1)[1].split("?", 1)[0])
    timed = BulkReport.timed

    def timed_with_cpu(report: BulkReport, phase: str, since: float) -> float:
        meter.attribute(phase)
        return timed(report, phase, since)

    BulkReport.timed = timed_with_cpu  # type: ignore[method-assign]
    try:
        yield meter
    finally:
        BulkReport.timed = timed  # type: ignore[method-assign]


def progress_marks(total: int, marks: list[tuple[int, float]]) -> Callable[[ImportReport | BulkReport], None]:
    """Record (rows, seconds) at every tenth of the file and say so on stderr: shows how the rate holds up."""
    step = max(1, total // 10)
    start = perf_counter()

    def mark(report: ImportReport | BulkReport) -> None:
        if report.rows >= (len(marks) + 1) * step:
            elapsed = perf_counter() - start
            rows, seconds = marks[-1] if marks else (0, 0.0)
            marks.append((report.rows, elapsed))
            recent = (report.rows - rows) / (elapsed - seconds)
            print(f"  ... {report.rows:,} rows, {elapsed:.0f} s, last {recent:,.0f} rows/s", file=sys.stderr)

    return mark


def run_backend(
    backend: str, csv_path: Path, rows: int, folder: Path, args: argparse.Namespace
) -> BackendResult:
    """Import into a fresh database, then load the same rows into fresh databases without the importer."""
    admin_url, batch_size = args.postgres_url, args.batch_size
    with scratch_database(backend, scratch_name("import"), folder, admin_url) as import_url:
        upgrade(import_url)
        version = server_version(import_url)
        before = table_counts(import_url)
        settings = Settings(
            database_url=import_url, redis_url=None, keystore_path=folder / "keys", run_dispatcher=False
        )
        platform = build_platform(settings)
        meter = Meter()
        platform.fields = TimedFieldCipher(platform.suite, platform.keys, meter)
        platform.blind_index = TimedBlindIndex(platform.suite, platform.keys, meter)
        settle(import_url)
        label = "bulk_import" if args.importer == "bulk" else "import_file"
        print(f"[{backend}] importing {rows:,} rows through {label} ...", file=sys.stderr)
        with (
            AutoVacuum(import_url, args.pg_autoanalyze == "emulate")
            if backend == "postgresql"
            else nullcontext()
        ) as analyzer:
            marks: list[tuple[int, float]] = []
            sample = CpuSample.now()
            children = _children_cpu()
            start = perf_counter()
            report: ImportReport | BulkReport
            phases_cpu: dict[str, float] = {}
            if args.importer == "bulk":
                with phase_cpu_of(import_url, args.phase_cpu) as phase_cpu:
                    report = bulk_import(
                        platform,
                        PROVINCE,
                        csv_path,
                        Actor.operator("bench"),
                        batch_size=batch_size,
                        workers=args.workers,
                        progress=progress_marks(rows, marks),
                    )
                if phase_cpu is not None:
                    phases_cpu = phase_cpu.seconds
            else:
                report = import_file(
                    platform,
                    PROVINCE,
                    csv_path,
                    Actor.operator("bench"),
                    batch_size=batch_size,
                    progress=progress_marks(rows, marks),
                )
            imported = Phase(label, perf_counter() - start)
            finished = CpuSample.now()
            imported.cpu = sample.until(finished, imported.seconds)
            # The importer's pooled connections are still open, so their backends' CPU is all import work.
            database_cpu = backend_cpu_seconds(import_url)
            own_cpu = finished.own - sample.own
            worker_cpu = _children_cpu() - children  # the bulk path's worker processes, reaped at its end
        statistics = analyzer.summary() if analyzer else "SQLite: no ANALYZE (none needed to use the indexes)"
        platform.close()
        if report.bad_rows:
            raise SystemExit(
                f"[{backend}] the import refused {len(report.bad_rows)} rows: {report.bad_rows[:3]}"
            )
        after = table_counts(import_url)
        grown = [
            table
            for table in Base.metadata.sorted_tables
            if after.get(table.name, 0) > before.get(table.name, 0)
        ]
        if seeded := [table.name for table in grown if before[table.name]]:
            raise SystemExit(f"[{backend}] the import added to tables that start non-empty: {seeded}")
        written = {table.name: after[table.name] for table in grown}
        batches = math.ceil(rows / batch_size)

        baselines: list[Phase] = []
        with scratch_database(backend, scratch_name("baseline"), folder, admin_url) as baseline_url:
            upgrade(baseline_url)
            settle(import_url)
            settle(baseline_url)
            print(f"[{backend}] baseline: Core executemany of the same rows ...", file=sys.stderr)
            baselines.append(executemany_baseline(import_url, baseline_url, grown, batches))
            _check_same_counts(backend, baseline_url, written)
        if backend == "postgresql" and not args.no_copy:
            with scratch_database(backend, scratch_name("copy"), folder, admin_url) as copy_url:
                upgrade(copy_url)
                settle(copy_url)
                print(f"[{backend}] baseline: COPY of the same rows ...", file=sys.stderr)
                baselines.append(copy_baseline(import_url, copy_url, grown, folder))
                _check_same_counts(backend, copy_url, written)
    return BackendResult(
        backend,
        version,
        platform.suite.name,
        report,
        imported,
        meter,
        written,
        baselines,
        statistics,
        own_cpu,
        worker_cpu,
        database_cpu,
        marks,
        phases_cpu,
    )


def _children_cpu() -> float:
    """CPU of the reaped children, and of the live ones with theirs (the fork server and its workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime + _live_children_cpu()


def _live_children_cpu() -> float:
    """CPU seconds of the live child processes, their own and their reaped children's (/proc, Linux)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    time.sleep(0.2)  # the fork server reaps a worker as it exits: let it catch up before reading its counters
    for listing in Path("/proc/self/task").glob("*/children"):
        for pid in listing.read_text().split():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue  # exited between the listing and the read: then reaped, so in RUSAGE_CHILDREN
            fields = stat.rsplit(")", 1)[1].split()
            total += sum(int(value) for value in fields[11:15]) / tick  # utime stime cutime cstime
    return total


def _check_same_counts(backend: str, url: str, written: dict[str, int]) -> None:
    counts = table_counts(url)
    wrong = {name: (counts[name], expected) for name, expected in written.items() if counts[name] != expected}
    if wrong:
        raise SystemExit(f"[{backend}] the baseline wrote other row counts than the import: {wrong}")


def parse_only_seconds(csv_path: Path) -> float:
    """Seconds to read and validate the file with the importer's parser alone (no crypto, no database)."""
    start = perf_counter()
    bad = sum(isinstance(row, BadRow) for row in parse_file(csv_path))
    seconds = perf_counter() - start
    if bad:
        raise SystemExit(f"the synthetic file has {bad} bad rows")
    return seconds


def show(result: BackendResult, rows: int, parse_seconds: float) -> None:
    """Print one backend's figures."""
    imported = result.imported.seconds
    print(f"\n== {result.backend} ({result.version}) ==")
    tables = ", ".join(f"{name} {count:,}" for name, count in result.written.items())
    print(f"rows written by the import: {tables}")
    print(f"{'load':52} {'seconds':>9} {'rows/s':>10} {'import/baseline':>16}")
    print(f"{result.imported.label + ' (the import)':52} {imported:9.1f} {rows / imported:10,.0f} {'':>16}")
    print(f"{'':6}CPU during the import: {result.imported.cpu}")
    cpu = result.own_cpu + result.worker_cpu + result.database_cpu
    per_row = [1e6 * seconds / rows for seconds in (result.own_cpu, result.worker_cpu, result.database_cpu)]
    print(
        f"{'':6}CPU spent on it: this process {result.own_cpu:.1f} s + worker processes "
        f"{result.worker_cpu:.1f} s + database backends {result.database_cpu:.1f} s = {cpu:.1f} CPU-s, "
        f"{rows / cpu:,.0f} rows per CPU-second"
    )
    own, workers, database = (f"{value:.1f}" for value in per_row)
    print(f"{'':6}CPU a row, us: this process {own}, workers {workers}, database {database}")
    print(f"{'':6}planner statistics: {result.statistics}")
    if isinstance(result.report, BulkReport):
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.report.phases.items())
        print(f"{'':6}the import process's time by phase: {phases}")
    if result.phases_cpu:
        per_row = ", ".join(f"{name} {1e6 * cpu / rows:.1f}" for name, cpu in result.phases_cpu.items())
        print(f"{'':6}database CPU by phase, us a row: {per_row}")
    tenths = [(0, 0.0), *result.marks]
    rates = [f"{(b - a) / (y - x) / 1000:.1f}k" for (a, x), (b, y) in pairwise(tenths)]
    print(f"{'':6}import rows/s by tenth of the file: {' '.join(rates)}")
    for phase in result.baselines:
        ratio = (rows / imported) / (rows / phase.seconds)
        label = "baseline: " + phase.label
        print(f"{label:52} {phase.seconds:9.1f} {rows / phase.seconds:10,.0f} {ratio:16.3f}")
        parts = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phase.per_table.items())
        print(f"{'':6}baseline time by table: {parts}")
        print(f"{'':6}the import takes {imported / phase.seconds:.1f}x this baseline's time")
        if phase.cpu:
            print(f"{'':6}CPU during this baseline: {phase.cpu}")
        if phase.database_cpu:
            print(
                f"{'':6}its database backend's CPU: {phase.database_cpu:.1f} s, "
                f"{1e6 * phase.database_cpu / rows:.1f} us a row"
            )
    meter = result.meter
    if not meter.field_calls:
        print("  field encryption and the blind index ran in the worker processes (not timed from here)")
        return
    crypto = meter.field_seconds + meter.index_seconds
    print(f"time inside the import ({result.suite} suite, perf_counter around each call):")
    lines = [
        ("field encryption (AEAD)", meter.field_calls, meter.field_seconds),
        ("blind index + content digest (HMAC)", meter.index_calls, meter.index_seconds),
        ("  = field encryption + blind index", meter.field_calls + meter.index_calls, crypto),
    ]
    for label, calls, seconds in lines:
        print(f"  {label:40} {calls:>10,} calls {seconds:7.1f} s {100 * seconds / imported:5.1f}% of import")
    print(
        f"  {'CSV parse + validation (separate pass)':40} {'':>16} {parse_seconds:7.1f} s "
        f"{100 * parse_seconds / imported:5.1f}% of import"
    )


def main(argv: Sequence[str] | None = None) -> None:
    register_handlers()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000, help="holders to import (default 1,000,000)")
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default: the importer's)")
    parser.add_argument(
        "--importer", choices=["bulk", "rows"], default="bulk", help="bulk_import or import_file"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="bulk_import's worker processes (0: in process)"
    )
    parser.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES_URL, help="server URL to create scratch DBs"
    )
    parser.add_argument(
        "--phase-cpu",
        action="store_true",
        help="bulk, PostgreSQL: charge the database CPU to the importer's phases (reads /proc a phase)",
    )
    parser.add_argument("--no-copy", action="store_true", help="skip the PostgreSQL COPY baseline")
    parser.add_argument("--workdir", type=Path, default=None, help="where the CSV and SQLite files go")
    parser.add_argument(
        "--pg-autoanalyze",
        choices=["emulate", "off"],
        default="emulate",
        help="if the server runs with autovacuum=off: emulate its ANALYZE (default) or never analyze",
    )
    args = parser.parse_args(argv)
    if args.batch_size is None:
        args.batch_size = DEFAULT_BATCH_SIZE if args.importer == "bulk" else 1000
    backends = BACKENDS if args.backend == "both" else (args.backend,)

    exit_cleanly_on_sigterm()
    folder = Path(tempfile.mkdtemp(prefix="essc-bench-import-", dir=args.workdir))
    try:
        csv_path = folder / f"holders-{PROVINCE}.csv"
        start = perf_counter()
        write_csv(csv_path, synthetic_holders(PROVINCE, args.rows))
        generated = perf_counter() - start
        parse_seconds = parse_only_seconds(csv_path)
        size = csv_path.stat().st_size / 2**20
        print(
            f"# bench_import: {args.rows:,} synthetic holders of province {PROVINCE}, "
            f"{args.importer} importer, batch {args.batch_size}, "
            f"workers {args.workers if args.importer == 'bulk' else 0}"
        )
        print(f"# {machine()}; one process, the database server on the same machine;")
        print("# the machine is shared: 'machine busy' above this process + its database means other load")
        print(
            f"# CSV {size:,.1f} MiB written in {generated:.1f} s before any timing; fresh database per load"
        )
        print("# baseline = the rows the import left in its tables (already encrypted, indexed, audited)")
        print("# read back untimed and inserted into a fresh migrated database; only inserts + commits timed")
        sys.stdout.flush()
        for backend in backends:
            show(run_backend(backend, csv_path, args.rows, folder, args), args.rows, parse_seconds)
            sys.stdout.flush()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
