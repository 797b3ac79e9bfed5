"""Audit log sequencer throughput: entries sequenced per second into one log, on one core.

Appends `--entries` unsequenced entries to log 44 (as requests would, in transactions of `--per-transaction`),
then times `essc.audit.service.sequence_all` (batches of `--batch`: leaf indexes, SM3 tiles and an SM2-signed
tree head per transaction) with wall clock and this process's CPU time. On SQLite the database works inside
this process, so CPU time is the whole cost; on PostgreSQL the server's CPU is not counted (wall is shown).
Also prints the tree work alone (leaf encoding, SM3 leaf and node hashes) as the ceiling without a database.

The request-path comparison of the issue (server CPU per online resolution with and without audit) is not
measured here: bench/bench_qr.py measures the resolution path, whose audit append is now one INSERT.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from time import perf_counter, process_time

from essc.audit import service
from essc.audit.leaves import leaf_bytes
from essc.audit.repository import append
from essc.core.auditing import PendingAuditEntry
from essc.core.migrate import upgrade
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.kit.clock import SystemClock
from essc.kit.ids import new_id
from essc.kit.merkle import extend_tiles
from essc.wiring import register_handlers
from scratch import DEFAULT_POSTGRES_URL, exit_cleanly_on_sigterm, machine, scratch_database, scratch_name


def _entries(count: int, clock: SystemClock) -> list[PendingAuditEntry]:
    now = clock.now()
    return [
        PendingAuditEntry(
            id=new_id(),
            at=now,
            actor_kind="terminal",
            actor_id="44-0000000001",
            action="ecard.used",
            subject_kind="ecard",
            subject_id=new_id(),
            province="44",
            source_ip="9f" * 32,
            request_id=new_id(),
            details={"busi_type": "01", "disclosure": "masked", "institution": "440100001",
                     "method": "online_code", "terminal": "T0001", "usage": new_id()},
        )
        for _ in range(count)
    ]  # fmt: skip


def run(backend: str, entries: int, batch: int, per_transaction: int, folder: Path) -> None:
    with scratch_database(backend, scratch_name("audit"), folder, DEFAULT_POSTGRES_URL) as url:
        upgrade(url)
        settings = Settings(
            database_url=url, keystore_path=folder / "keys", run_dispatcher=False, run_sequencer=False
        )
        platform = build_platform(settings)
        try:
            print(f"[{backend}] appending {entries:,} entries ...", file=sys.stderr)
            pending = _entries(entries, SystemClock())
            start = perf_counter()
            for offset in range(0, entries, per_transaction):
                with platform.session_factory() as session:
                    append(session, pending[offset : offset + per_transaction])
                    session.commit()
            appended = perf_counter() - start
            wall, cpu = perf_counter(), process_time()
            done = service.sequence_all(platform, batch=batch)
            wall, cpu = perf_counter() - wall, process_time() - cpu
            sequenced = sum(done.values())
            with platform.session_factory() as session:
                report = service.verify(session, platform)
        finally:
            platform.close()
    assert report.intact, report.findings
    print(f"[{backend}] appended {entries:,} in {appended:.1f} s ({entries / appended:,.0f} entries/s, "
          f"{per_transaction} per transaction)")  # fmt: skip
    print(
        f"[{backend}] sequenced {sequenced:,} entries in batches of {batch:,}: "
        f"{wall:.2f} s wall, {cpu:.2f} s CPU"
    )
    print(
        f"[{backend}]   {sequenced / wall:,.0f} entries/s per log (wall), "
        f"{sequenced / cpu:,.0f} per CPU second of this process"
    )


def tree_only(entries: int) -> None:
    """The hashing alone: leaf bytes, SM3 leaf hashes, tiles, no database."""
    from essc.kit.crypto import get_suite

    hasher = service.hasher_of(get_suite("sm"))
    rows = [
        (e.id, e.log, e.at, e.actor_kind, e.actor_id, e.action, e.subject_kind, e.subject_id, e.province,
         e.source_ip, e.request_id, '{"busi_type":"01","disclosure":"masked","method":"online_code"}')
        for e in _entries(entries, SystemClock())
    ]  # fmt: skip
    tiles: dict[tuple[int, int], bytes] = {}
    cpu = process_time()
    leaf_hashes = [hasher.leaf(leaf_bytes(row)) for row in rows]
    tiles.update(extend_tiles(hasher, 0, leaf_hashes, lambda level, index: tiles.get((level, index), b"")))
    cpu = process_time() - cpu
    print(f"[memory] tree work alone: {entries / cpu:,.0f} entries/s per CPU second")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=service.DEFAULT_BATCH)
    parser.add_argument("--per-transaction", type=int, default=100)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="sqlite")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    register_handlers()
    print(machine())
    tree_only(args.entries)
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as folder:
        for backend in backends:
            run(backend, args.entries, args.batch, args.per_transaction, Path(folder))


if __name__ == "__main__":
    main()
