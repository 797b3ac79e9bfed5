"""Where an audit entry's server CPU goes, in parts that noise hurts less than a whole HTTP run.

The scene of bench_qr.py is built through the API (holders imported, e-cards issued, terminals of an
institution), then the server is stopped and, on one asyncpg connection, the resolution's statement
(essc.qr.repository.spend_and_record) is run back to back, with its audit entries and without, alternating
blocks of `--block` statements, each on codes of its own written just before. Measured per statement:

  backend   CPU of that connection's PostgreSQL backend (/proc/<pid>/schedstat, nanoseconds)
  client    CPU of this process (asyncpg sending and reading; the same SQL the workers send)
  WAL       bytes of write-ahead log the statements generated (pg_current_wal_insert_lsn)

After each audited block the sequencer (essc.audit.service.sequence_all, as the jobs process runs it every
second) sequences the block's entries: this process's CPU and the database's backends' CPU per entry. At
the end, VACUUM of audit_entries (what autovacuum would do for the rows the sequencer left behind) per entry.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.engine import make_url

from bench_qr import APPS, PLATFORM, PROVINCE, analyze, build_scene, issuable, load_parties, start_server
from essc.audit import service as audit
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.kit.crypto import get_suite
from essc.kit.ids import new_id
from essc.qr.repository import spend_and_record
from essc.wiring import register_handlers
from scratch import (
    DEFAULT_POSTGRES_URL,
    exit_cleanly_on_sigterm,
    fresh_nonce_store,
    machine,
    scratch_database,
    scratch_name,
    server_version,
)

AUDITED, UNAUDITED = "audited", "unaudited"


def cpu_ns(pid: int) -> int:
    """Nanoseconds pid has run on a CPU (the scheduler's own account, finer than /proc/<pid>/stat)."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    except OSError:
        return 0


def backends(database: str) -> list[int]:
    """Every PostgreSQL backend connected to the database (its title names it)."""
    found = []
    needle = f" {database} ".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if command.startswith(b"postgres: ") and needle in command:
                found.append(int(entry.name))
    return found


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """A Core statement as asyncpg takes it: the SQL and the order of its binds (as HotStatement runs it)."""

    sql: str
    positions: tuple[str, ...]
    literals: dict[str, Any]

    @classmethod
    def of(cls, statement: Any) -> DriverStatement:
        compiled = statement.compile(dialect=pg_asyncpg.dialect())
        literals = {
            name: bind.effective_value
            for name, bind in compiled.binds.items()
            if not bind.required and bind.callable is None
        }
        return cls(str(compiled), tuple(compiled.positiontup or ()), literals)

    def args(self, params: dict[str, Any]) -> list[Any]:
        merged = {**self.literals, **params}
        return [merged[name] for name in self.positions]


@dataclass
class Block:
    """One block of statements of one variant."""

    variant: str
    statements: int
    backend_ns: int
    client_ns: int
    wal_bytes: int

    def per(self, value: int) -> float:
        return value / self.statements / 1000  # microseconds


async def write_codes(
    connection: asyncpg.Connection, issuances: list[tuple[str, ...]], count: int
) -> list[bytes]:
    now = datetime.now(UTC)
    digests = [secrets.token_bytes(32) for _ in range(count)]
    await connection.executemany(
        "INSERT INTO qr_codes (token_digest, province, ecard_id, issuance_id, channel_id, created_at, "
        "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [
            (digest, *issuances[n % len(issuances)], now, now + timedelta(seconds=600))
            for n, digest in enumerate(digests)
        ],
    )
    return digests


async def run_block(
    connection: asyncpg.Connection,
    pid: int,
    variant: str,
    statement: DriverStatement,
    digests: list[bytes],
    terminal_id: str,
    busi_type: str,
) -> Block:
    """The statement once per code, back to back, each committing itself as the request's does."""
    source_ip = secrets.token_hex(32)
    lsn_before = await connection.fetchval("SELECT pg_current_wal_insert_lsn()")
    backend_before, client_before = cpu_ns(pid), time.process_time_ns()
    for digest in digests:
        now = datetime.now(UTC)
        params = {
            "digest": digest,
            "now": now,
            "terminal": terminal_id,
            "busi_type": busi_type,
            "session": None,  # the same session check either way: none to check
            "audit_at": now,
            "audit_actor_kind": "terminal",
            "audit_actor_id": terminal_id,
            "audit_source_ip": source_ip,
            "audit_request_id": new_id(),
            "usage_id": new_id(),
            "clear_read_entry_id": new_id(),
            "used_entry_id": new_id(),
            "refused_entry_id": new_id(),
        }
        rows = await connection.fetch(statement.sql, *statement.args(params))
        if len(rows) != 1 or rows[0][7] is None:
            raise SystemExit(f"the {variant} statement spent no code: {rows}")
    backend_ns, client_ns = cpu_ns(pid) - backend_before, time.process_time_ns() - client_before
    wal = await connection.fetchval("SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)", lsn_before)
    return Block(variant, len(digests), backend_ns, client_ns, int(wal))


async def explain(
    connection: asyncpg.Connection,
    statements: dict[str, DriverStatement],
    issuances: list[tuple[str, ...]],
    terminal_id: str,
    busi_type: str,
) -> None:
    """EXPLAIN ANALYZE of each variant as its prepared statement runs it (the plan the cache settled on)."""
    notices: list[str] = []
    connection.add_log_listener(lambda _c, message: notices.append(str(message.message)))
    await connection.execute("LOAD 'auto_explain'")
    await connection.execute("SET auto_explain.log_min_duration = 0")
    await connection.execute("SET auto_explain.log_analyze = on")
    await connection.execute("SET auto_explain.log_buffers = on")
    await connection.execute("SET auto_explain.log_nested_statements = on")
    await connection.execute("SET auto_explain.log_level = notice")
    for variant, statement in statements.items():
        digests = await write_codes(connection, issuances, 1)
        notices.clear()
        # The same SQL on the same connection: asyncpg's cached prepared statement, its cached plan.
        await run_block(connection, 0, variant, statement, digests, terminal_id, busi_type)
        print(f"\n== the plan of the {variant} statement as it ran", file=sys.stderr)
        print("\n".join(n for n in notices if "WITH spent" in n), file=sys.stderr)
    await connection.execute("SET auto_explain.log_min_duration = -1")
    await connection.execute("SET plan_cache_mode = auto")


@dataclass
class Sequencing:
    entries: int
    own_ns: int
    backends_ns: int


def sequence(platform: Any, database: str) -> Sequencing:
    """One sequencer round, as the jobs process runs it: this process's CPU and every backend's."""
    pids = backends(database)
    before = {pid: cpu_ns(pid) for pid in pids}
    own = time.process_time_ns()
    done = audit.sequence_all(platform)
    own = time.process_time_ns() - own
    after = {pid: cpu_ns(pid) for pid in backends(database)}
    spent = sum(ns - before.get(pid, 0) for pid, ns in after.items())
    return Sequencing(sum(done.values()), own, spent)


async def measure(url: str, settings: Settings, args: argparse.Namespace) -> None:
    database = str(make_url(url).database)
    statements = {
        AUDITED: DriverStatement.of(spend_and_record(audited=True)),
        UNAUDITED: DriverStatement.of(spend_and_record(audited=False)),
    }
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    platform = build_platform(settings)
    blocks: list[Block] = []
    sequenced: list[Sequencing] = []
    try:
        await connection.execute("SET TIME ZONE 'UTC'")
        pid = int(await connection.fetchval("SELECT pg_backend_pid()"))
        terminal_id = str(await connection.fetchval("SELECT id FROM terminals ORDER BY terminal_no LIMIT 1"))
        issuances = [
            tuple(str(v) for v in row)
            for row in await connection.fetch("SELECT province, ecard_id, id, channel_id FROM issuances")
        ]
        for sql in args.setup_sql:
            await connection.execute(sql)
        # Codes as a busy platform holds them (those of the last minute) and statistics of them, as autovacuum
        # would have gathered: a plan prepared over a nearly empty qr_codes would scan it whole ever after.
        await write_codes(connection, issuances, 2 * args.block)
        await connection.execute("ANALYZE")
        # Warm-up: plans prepared (generic after five executions), caches filled, for both variants.
        for variant, statement in statements.items():
            digests = await write_codes(connection, issuances, 200)
            await run_block(connection, pid, variant, statement, digests, terminal_id, args.busi_type)
        await asyncio.to_thread(sequence, platform, database)
        for number in range(args.rounds):
            order = [AUDITED, UNAUDITED] if number % 2 == 0 else [UNAUDITED, AUDITED]
            for variant in order:
                digests = await write_codes(connection, issuances, args.block)
                await connection.execute("CHECKPOINT") if args.checkpoint else None
                recorder = None
                if args.perf:
                    recorder = subprocess.Popen(
                        ["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-g", "-p", str(pid),
                         "-o", f"{args.perf}.{variant}.{number + 1}"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                    await asyncio.sleep(0.5)
                block = await run_block(
                    connection, pid, variant, statements[variant], digests, terminal_id, args.busi_type
                )
                if recorder is not None:
                    recorder.send_signal(signal.SIGINT)
                    recorder.wait()
                blocks.append(block)
                line = (
                    f"round {number + 1} {variant:9} backend {block.per(block.backend_ns):7.1f} us  "
                    f"client {block.per(block.client_ns):7.1f} us  "
                    f"WAL {block.wal_bytes / block.statements:7.0f} B"
                )
                if variant == AUDITED and not args.no_sequence:
                    done = await asyncio.to_thread(sequence, platform, database)
                    sequenced.append(done)
                    if done.entries:
                        line += (
                            f"  | sequenced {done.entries}: own {done.own_ns / done.entries / 1000:.1f} us, "
                            f"backends {done.backends_ns / done.entries / 1000:.1f} us per entry"
                        )
                print(line, file=sys.stderr, flush=True)
        for row in await connection.fetch(
            "SELECT left(statement, 60), generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'WITH spent%'"
        ):
            print(f"  prepared {row[0]!r}: {row[1]} generic plans, {row[2]} custom plans", file=sys.stderr)
        if args.explain:
            await explain(connection, statements, issuances, terminal_id, args.busi_type)
        dead = await connection.fetchval(
            "SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'audit_entries'"
        )
        entries = await connection.fetchval("SELECT count(*) FROM audit_entries")
        sizes = await connection.fetch(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'audit_entries'::regclass ORDER BY 1"
        )
        heap = await connection.fetchval("SELECT pg_relation_size('audit_entries')")
        before = cpu_ns(pid)
        await connection.execute("VACUUM audit_entries")
        vacuum_ns = cpu_ns(pid) - before
    finally:
        await connection.close()
        platform.close()

    print(f"\n== {machine()}; load {os.getloadavg()[0]:.2f} at the end")
    print(f"== the resolution statement, {args.rounds} rounds of {args.block} per variant (us per statement)")
    for number in range(args.rounds):
        pair = {b.variant: b for b in blocks[2 * number : 2 * number + 2]}
        a, u = pair[AUDITED], pair[UNAUDITED]
        print(
            f"  round {number + 1}: backend {a.per(a.backend_ns):6.1f} - {u.per(u.backend_ns):6.1f} = "
            f"{a.per(a.backend_ns) - u.per(u.backend_ns):+6.1f}   client "
            f"{a.per(a.client_ns) - u.per(u.client_ns):+6.1f}   WAL "
            f"{(a.wal_bytes - u.wal_bytes) / a.statements:+6.0f} B"
        )
    added = [
        blocks[2 * n].per(blocks[2 * n].backend_ns) - blocks[2 * n + 1].per(blocks[2 * n + 1].backend_ns)
        if blocks[2 * n].variant == AUDITED
        else blocks[2 * n + 1].per(blocks[2 * n + 1].backend_ns) - blocks[2 * n].per(blocks[2 * n].backend_ns)
        for n in range(args.rounds)
    ]
    print(f"  median backend added by the audit CTEs: {statistics.median(added):+.1f} us per statement")
    total = sum(s.entries for s in sequenced)
    if total:
        own = sum(s.own_ns for s in sequenced) / total / 1000
        spent = sum(s.backends_ns for s in sequenced) / total / 1000
        print(
            f"== sequencer over {total} entries in {len(sequenced)} rounds: {own:.1f} us of its process "
            f"+ {spent:.1f} us of backends per entry"
        )
    print(
        f"== audit_entries: {entries} rows, {dead} dead tuples, heap {heap / entries:.0f} B/row; "
        f"VACUUM {vacuum_ns / max(entries, 1) / 1000:.1f} us per row"
    )
    for name, size in sizes:
        print(f"     index {name}: {size / entries:.0f} B/row")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--block", type=int, default=2000, help="statements per block")
    parser.add_argument("--holders", type=int, default=300)
    parser.add_argument("--busi-type", default="01")
    parser.add_argument("--disclosure", default="masked", choices=["presence", "masked"])
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each variant at the end")
    parser.add_argument("--perf", help="perf record the backend over each block, to files with this prefix")
    parser.add_argument("--no-sequence", action="store_true", help="leave the entries unsequenced")
    parser.add_argument("--checkpoint", action="store_true", help="CHECKPOINT before each block")
    parser.add_argument("--setup-sql", action="append", default=[], help="SQL run before measuring")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument(
        "--redis-url", default=os.environ.get("ESSC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    register_handlers()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        with scratch_database("postgresql", scratch_name("audit_append"), folder, args.postgres_url) as url:
            prefix = f"{make_url(url).database}:"
            settings = Settings(
                database_url=url,
                redis_url=args.redis_url,
                redis_key_prefix=prefix,
                keystore_path=folder / "keys",
                run_sequencer=False,
                run_dispatcher=False,
            )
            print(f"setting up ({server_version(url)}) ...", file=sys.stderr)
            keys, holder_file = load_parties(url, settings, args.holders, folder)
            env = {
                **os.environ,
                "ESSC_DATABASE_URL": url,
                "ESSC_REDIS_URL": args.redis_url,
                "ESSC_REDIS_KEY_PREFIX": prefix,
                "ESSC_KEYSTORE_PATH": str(folder / "keys"),
                "ESSC_CRYPTO_SUITE": settings.crypto_suite,
                "ESSC_RUN_DISPATCHER": "false",
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])
                ),
            }
            scene_args = argparse.Namespace(terminals=1, busi_type=args.busi_type, disclosure=args.disclosure)
            with fresh_nonce_store(settings):
                server = start_server(PLATFORM, "essc", 1, env, folder)
                try:
                    build_scene(
                        server.base_url,
                        get_suite(settings.crypto_suite),
                        keys,
                        issuable(holder_file, 50),
                        scene_args,
                    )
                finally:
                    server.stop()
            assert APPS[PLATFORM]
            analyze(url)
            platform = build_platform(settings)
            try:
                audit.sequence_all(platform)
            finally:
                platform.close()
            print(f"province {PROVINCE}: scene ready", file=sys.stderr)
            asyncio.run(measure(url, settings, args))


if __name__ == "__main__":
    main()
