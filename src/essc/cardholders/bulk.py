"""Bulk import of a province's holder file: parallel preparation, COPY of new holders, set-wise merge.

The file is read in batches of lines. Worker processes validate, encrypt and index each batch (the keys are
handed to them once, at start); the main process writes a batch of new holders straight into persons and
cards (binary COPY on PostgreSQL, executemany on SQLite) and any other batch into a staging table, which it
merges into persons and cards with a few set-wise statements; it commits each batch with its ledger row and
one audit entry carrying the Merkle root of its rows. Batches
commit in file order, so a killed import leaves a prefix of them and a rerun resumes after it.
"""

from __future__ import annotations

import gc
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, Protocol

from essc.cardholders import repository
from essc.cardholders.importfile import (
    BadRow,
    CsvRows,
    Format,
    HolderRecord,
    ImportFileError,
    decode_line,
    guess_format,
    ndjson_row,
    read_csv_header,
)
from essc.cardholders.models import ImportBatch
from essc.cardholders.repository import StagedPersons, StagedRow
from essc.cardholders.service import seal_persons
from essc.core.context import Actor, RequestContext
from essc.core.db import Session
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.kit.crypto import get_suite
from essc.kit.crypto.base import CryptoSuite
from essc.kit.fieldcrypt import BlindIndex, FieldCipher, PinnedKeys
from essc.kit.ids import new_ids
from essc.kit.masking import mask_card_number
from essc.kit.merkle import MemoryTree, TreeHasher

ROW_LEAF_FORMAT = b"essc-import-row/1"
BATCH_ACTION = "holders.batch_loaded"
BATCH_SUBJECT = "import_batch"
DEFAULT_BATCH_SIZE = 10_000
_FILE_BLOCK = 1 << 20
# ANALYZE persons and cards after these batches of a run: the merge's lookups need statistics that say the
# tables are large before the planner probes their unique indexes instead of scanning them.
_ANALYZE_AFTER = frozenset({1, 4, 16, 64})


def file_digest(suite: CryptoSuite, path: Path) -> str:
    """The file's identity in the ledger: the suite's hash over the hashes of its 1 MiB blocks (hex)."""
    blocks = []
    with path.open("rb") as handle:
        while block := handle.read(_FILE_BLOCK):
            blocks.append(suite.hash(block))
    return suite.hash(b"".join(blocks)).hex()


class CardFields(Protocol):
    """The card columns a row digest covers: a file's record and a stored card both have them."""

    @property
    def aaz500(self) -> str: ...
    @property
    def aaz501(self) -> str: ...
    @property
    def aab301(self) -> str: ...
    @property
    def generation(self) -> int: ...
    @property
    def bank_account_active(self) -> bool: ...


def row_leaf(province: str, index: bytes, digest: bytes, record: CardFields) -> bytes:
    """The bytes a loaded row contributes to its batch's Merkle root: keyed digests and card fields only."""
    # aac002, name and phone enter only through the keyed blind index and content digest; the card's status
    # is left out because card events move it afterwards, each with an audit entry of its own.
    return b"\x00".join(
        (
            ROW_LEAF_FORMAT,
            province.encode("ascii"),
            index.hex().encode("ascii"),
            digest.hex().encode("ascii"),
            record.aaz500.encode("ascii"),
            record.aaz501.encode("ascii"),
            record.aab301.encode("ascii"),
            str(record.generation).encode("ascii"),
            b"1" if record.bank_account_active else b"0",
        )
    )


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """What a worker process needs, given once at its start: the suite, the keys and the file's shape."""

    suite: str
    keys: PinnedKeys
    province: str
    fmt: Format
    header: tuple[str, ...]
    # Encode the rows for PostgreSQL's binary COPY here instead of handing them back as tuples.
    copy: bool = False


class RowKey(NamedTuple):
    """What the merge needs of a prepared row besides its staged columns."""

    line: int
    aac002_index: bytes
    aaz500: str
    first_of_person: bool


@dataclass(slots=True)
class Prepared:
    """A batch validated and sealed: rows to stage (line order) with their row digests, and the bad rows."""

    keys: list[RowKey] = field(default_factory=list)
    # The rows to stage: as tuples, or (WorkerSetup.copy) as binary COPY streams with `rows` left empty: of
    # the staging table, and of persons and cards for a batch whose holders are all new.
    rows: list[StagedRow] = field(default_factory=list)
    streams: repository.CopyStreams | None = None
    digests: list[bytes] = field(default_factory=list)  # the row digests, in the order of `keys`
    bad: list[tuple[int, str]] = field(default_factory=list)
    repeated: int = 0
    # The Merkle root of all the rows' digests: the batch's root unless the database refuses some of them.
    root: bytes = b""

    # Handed back from a worker with its rows as plain tuples: a named tuple pickles at twice the cost.
    def __getstate__(self) -> _PreparedState:
        rows: list[tuple[object, ...]] = [tuple(row) for row in self.rows]
        keys: list[tuple[object, ...]] = [tuple(key) for key in self.keys]
        streams = None if self.streams is None else tuple(self.streams)
        return keys, rows, streams, self.digests, self.bad, self.repeated, self.root

    def __setstate__(self, state: _PreparedState) -> None:
        keys, rows, streams, self.digests, self.bad, self.repeated, self.root = state
        self.streams = None if streams is None else repository.CopyStreams._make(streams)
        self.keys = list(map(RowKey._make, keys))
        self.rows = list(map(StagedRow._make, rows))


_PreparedState = tuple[
    list[tuple[object, ...]],
    list[tuple[object, ...]],
    tuple[bytes, ...] | None,
    list[bytes],
    list[tuple[int, str]],
    int,
    bytes,
]


class Preparer:
    """Validation, encryption and indexing of batches of lines; one per worker process."""

    def __init__(self, setup: WorkerSetup) -> None:
        suite = get_suite(setup.suite)
        self.setup = setup
        self.cipher = FieldCipher(suite, setup.keys)
        self.index = BlindIndex(suite, setup.keys)
        self.hasher = TreeHasher(suite.hash)

    def prepare(
        self,
        lines: list[tuple[int, bytes]],
        person_ids: Mapping[int, str] | None = None,
        now: datetime | None = None,
    ) -> Prepared:
        """Check and seal each line; `person_ids` seals given lines to an existing person's id instead.

        `now` stamps the rows of the persons and cards streams (WorkerSetup.copy).
        """
        setup, out = self.setup, Prepared()
        csv_rows = CsvRows(setup.header) if setup.fmt == "csv" else None
        persons: dict[bytes, str] = {}
        cards: dict[str, bytes] = {}
        ids = iter(new_ids(2 * len(lines)))  # at most a person and a card a line
        given_ids = person_ids or {}
        accepted: list[tuple[int, str, bytes, HolderRecord, bool]] = []
        for number, raw in lines:
            text = decode_line(number, raw)
            row = csv_rows(number, text) if csv_rows is not None else ndjson_row(number, text)
            if row is None:
                continue
            if isinstance(row, BadRow):
                out.bad.append((row.line, row.reason))
                continue
            record = row.record
            if record.aab301[:2] != setup.province:
                out.bad.append((number, f"aab301 {record.aab301} is not in province {setup.province}"))
                continue
            index = self.index.of("aac002", record.aac002)
            owner = cards.get(record.aaz500)
            if owner is not None:
                if owner == index:
                    out.repeated += 1  # the same holder and card again in this batch: nothing new
                else:
                    out.bad.append(
                        (number, f"aaz500 {mask_card_number(record.aaz500)} belongs to another person")
                    )
                continue
            cards[record.aaz500] = index
            first_of_person = index not in persons
            if first_of_person:
                persons[index] = next(ids)
            person_id = given_ids.get(number) or persons[index]
            accepted.append((number, person_id, index, record, first_of_person))
        # Every field of the batch sealed at once: the suite reuses one cipher context for all of them.
        sealed = seal_persons(self.cipher, self.index, setup.province, [(a[1], a[3]) for a in accepted])
        leaf, rows = self.hasher.leaf, []
        for (number, person_id, index, record, first_of_person), person in zip(accepted, sealed, strict=True):
            rows.append(
                (
                    number,
                    person_id,
                    index,
                    *person,
                    next(ids),
                    record.aaz500,
                    record.aaz501,
                    record.aab301,
                    record.generation,
                    record.bank_account_active,
                    record.card_status,
                    first_of_person,
                )
            )
            out.keys.append(RowKey(number, index, record.aaz500, first_of_person))
            out.digests.append(leaf(row_leaf(setup.province, index, person.content_digest, record)))
        if setup.copy:
            if now is None:
                raise ValueError("rows encoded for COPY into persons and cards need the time to stamp")
            out.streams = repository.copy_streams(rows, setup.province, now)
        else:
            out.rows = list(map(StagedRow._make, rows))
        out.root = MemoryTree(self.hasher, out.digests).root()
        return out


_WORKER: Preparer | None = None


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers forked from a server that imported the program once: a worker costs a fork, not a start-up."""
    # A spawned worker starts an interpreter and imports the program's main module and this one again (3 CPU-s
    # each when the modules are compiled from source); the fork server does it once, and being single-threaded
    # it forks no lock held by another thread of the importing process.
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", __name__])
    return context


def _start_worker(setup: WorkerSetup) -> None:
    global _WORKER  # noqa: PLW0603 - one preparer per worker process, made once from the keys it was given
    _WORKER = Preparer(setup)


def _prepare_in_worker(first_line: int, data: bytes, now: datetime) -> Prepared:
    assert _WORKER is not None, "the worker was started without its setup"
    # The cyclic collector walked the batch's growing lists of tuples over and over, a quarter of a worker's
    # CPU; preparing makes no reference cycles (refcounts free its garbage), so it is off while a batch is.
    gc.disable()
    try:
        return _WORKER.prepare(split_lines(first_line, data), now=now)
    finally:
        gc.enable()


def split_lines(first_line: int, data: bytes) -> list[tuple[int, bytes]]:
    """Numbered physical lines of data as readline cuts them (with their newlines; the last may lack it)."""
    pieces = data.split(b"\n")
    last = pieces.pop()  # empty when data ends with a newline
    lines = [(number, piece + b"\n") for number, piece in enumerate(pieces, start=first_line)]
    if last:
        lines.append((first_line + len(pieces), last))
    return lines


@dataclass(frozen=True, slots=True)
class Chunk:
    """A batch of physical lines of the file (their bytes, the first one's number) and where it ends."""

    batch_no: int
    data: bytes
    first_line: int
    last_line: int
    byte_end: int

    @property
    def lines(self) -> list[tuple[int, bytes]]:
        """The batch's lines, numbered."""
        return split_lines(self.first_line, self.data)


_READ_BLOCK = 1 << 22


def _chunks(path: Path, fmt: Format, size: int, *, start: int, line: int, batch_no: int) -> Iterator[Chunk]:
    """The file's batches of `size` lines from byte `start` (after line `line`), the CSV header skipped."""
    # Read in large blocks and cut at the size-th newline: the batch travels to its worker as one bytes
    # object, not as a list of lines this process would make and pickle one by one.
    with path.open("rb") as handle:
        handle.seek(start)
        if start == 0 and fmt == "csv":
            start += len(handle.readline())
            line = 1
        buffer, at_end = b"", False
        while True:
            while not at_end and buffer.count(b"\n") < size:
                block = handle.read(_READ_BLOCK)
                at_end = not block
                buffer += block
            if not buffer:
                return
            end = 0
            for _ in range(size):
                found = buffer.find(b"\n", end)
                if found < 0:
                    end = len(buffer)  # the file's last line, without a newline
                    break
                end = found + 1
            data, buffer = buffer[:end], buffer[end:]
            count = data.count(b"\n") + (not data.endswith(b"\n"))
            start += len(data)
            yield Chunk(batch_no, data, line + 1, line + count, start)
            line += count
            batch_no += 1


@dataclass(slots=True)
class BulkReport:
    """What an import did, over every run of the same file (bad rows of earlier runs included)."""

    rows: int = 0
    persons_added: int = 0
    persons_updated: int = 0
    cards_added: int = 0
    cards_updated: int = 0
    unchanged: int = 0
    batches: int = 0
    resumed_batches: int = 0
    rows_resumed: int = 0
    bytes_done: int = 0
    bytes_resumed: int = 0
    bytes_total: int = 0
    seconds: float = 0.0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    # Seconds of this process by phase: waiting for prepared batches, staging, merging, committing.
    phases: dict[str, float] = field(default_factory=dict)

    def timed(self, phase: str, since: float) -> float:
        """Add the time since `since` to a phase; the time now."""
        now = time.perf_counter()
        self.phases[phase] = self.phases.get(phase, 0.0) + now - since
        return now

    @property
    def loaded(self) -> int:
        return self.rows - len(self.bad_rows)


BulkProgress = Callable[[BulkReport], None]


def _rejected_text(bad: list[tuple[int, str]]) -> str:
    return "".join(f"{line}\t{reason}\n" for line, reason in sorted(bad))


def _rejected_rows(text: str) -> list[tuple[int, str]]:
    rows = []
    for item in text.splitlines():
        line, _, reason = item.partition("\t")
        rows.append((int(line), reason))
    return rows


def subject_of(digest: str, batch_no: int) -> str:
    """The audit subject id of a file's batch (fits the 64 characters of a subject id)."""
    return f"{digest[:48]}/{batch_no}"


def _refused(prepared: Prepared, existing: StagedPersons) -> list[tuple[int, str]]:
    """The batch's bad rows: the worker's, and those the database refuses (held elsewhere, card taken)."""
    bad = list(prepared.bad)
    for line, other in existing.elsewhere.items():
        bad.append((line, f"aac002 is already held by province {other}"))
    for line, aaz500 in existing.card_conflicts.items():
        bad.append((line, f"aaz500 {mask_card_number(aaz500)} belongs to another person"))
    return bad


def _drop_refused(
    session: Session, prepared: Prepared, dropped: set[int], hasher: TreeHasher
) -> tuple[list[RowKey], set[int], list[bytes], bytes]:
    """Drop refused rows from the staging table; the rows kept, first lines of persons, leaves and root."""
    kept = [key for key in prepared.keys if key.line not in dropped]
    firsts: dict[bytes, RowKey] = {}
    for key in kept:
        firsts.setdefault(key.aac002_index, key)
    repository.drop_staged(session, sorted(dropped))
    # A person whose first row was dropped is inserted from its next one.
    promoted = [key.line for key in firsts.values() if not key.first_of_person]
    repository.mark_first_of_person(session, promoted)
    leaves = [
        row_digest
        for key, row_digest in zip(prepared.keys, prepared.digests, strict=True)
        if key.line not in dropped
    ]
    # The worker hashed the tree of all the rows; only refused rows make this process hash it again.
    return kept, {key.line for key in firsts.values()}, leaves, MemoryTree(hasher, leaves).root()


def _merge_cards(
    session: Session, province: str, kept: list[RowKey], existing: StagedPersons, now: datetime
) -> tuple[set[int], set[int]]:
    """Insert the staged cards that are new, update those that changed; the lines of each."""
    repository.insert_staged_cards(session, province, now)
    if not existing.cards:
        return {key.line for key in kept}, set()
    added = {key.line for key in kept if key.aaz500 not in existing.cards}
    # Only a batch with cards that exist (a file loaded before, a feed's holders) needs the update.
    updated = repository.update_staged_cards(session, province)
    return added, {key.line for key in kept if key.aaz500 in updated}


@dataclass(slots=True)
class _Merged:
    """What one batch wrote: its rows' leaves and root, its bad rows and its counts."""

    leaves: list[bytes]
    root: bytes
    bad: list[tuple[int, str]]
    persons_added: int
    persons_updated: int
    cards_added: int
    cards_updated: int
    touched: int  # the rows that added or changed something


def _all_new(prepared: Prepared) -> _Merged:
    """A batch copied straight into persons and cards: every row added its card, first rows their person."""
    persons = sum(key.first_of_person for key in prepared.keys)
    rows = len(prepared.keys)
    return _Merged(prepared.digests, prepared.root, list(prepared.bad), persons, 0, rows, 0, rows)


def _stage_and_merge(
    session: Session,
    preparers: tuple[Preparer, Preparer],
    *,
    chunk: Chunk,
    prepared: Prepared,
    now: datetime,
    report: BulkReport,
) -> _Merged:
    """Merge a batch that names holders or cards the database holds, through the staging table."""
    (local, reseal), province = preparers, preparers[0].setup.province
    mark = time.perf_counter()
    repository.stage(session, prepared.rows, prepared.streams.staged if prepared.streams else b"")
    mark = report.timed("stage", mark)
    existing = repository.resolve_staged_persons(session, province)
    mark = report.timed("resolve", mark)
    bad = _refused(prepared, existing)
    dropped = set(existing.elsewhere) | set(existing.card_conflicts)
    if dropped:
        kept, first_lines, leaves, root = _drop_refused(session, prepared, dropped, local.hasher)
    else:
        kept, leaves, root = prepared.keys, prepared.digests, prepared.root
        first_lines = {key.line for key in kept if key.first_of_person}
    persons_added = repository.insert_staged_persons(session, now)
    mark = report.timed("insert persons", mark)
    changed = {line: pid for line, pid in existing.changed.items() if line not in dropped}
    if changed:
        lines = [(n, raw) for n, raw in chunk.lines if n in changed]
        resealed = reseal.prepare(lines, changed).rows
        repository.update_persons_from(session, province, resealed, now)
        mark = report.timed("reseal changed", mark)
    cards_added, cards_changed = _merge_cards(session, province, kept, existing, now)
    report.timed("cards", mark)
    touched = cards_added | cards_changed | (first_lines - existing.existing) | set(changed)
    return _Merged(
        leaves, root, bad, persons_added, len(changed), len(cards_added), len(cards_changed), len(touched)
    )


def _merge(
    platform: Platform,
    actor: Actor,
    preparers: tuple[Preparer, Preparer],
    *,
    digest: str,
    chunk: Chunk,
    prepared: Prepared,
    now: datetime,
    report: BulkReport,
) -> None:
    """Write one prepared batch (stamped `now`), then commit it with its ledger row and audit entry."""
    setup = preparers[0].setup
    province = setup.province
    with UnitOfWork(platform, RequestContext(actor=actor)) as uow:
        session = uow.session
        mark = time.perf_counter()
        repository.commit_without_flush_wait(session)
        if repository.insert_new_holders(session, province, prepared.rows, prepared.streams, now):
            merged = _all_new(prepared)
            mark = report.timed("copy new holders", mark)
        else:
            report.timed("copy refused", mark)
            merged = _stage_and_merge(
                session, preparers, chunk=chunk, prepared=prepared, now=now, report=report
            )
            mark = time.perf_counter()
        uow.audit(
            BATCH_ACTION,
            BATCH_SUBJECT,
            subject_of(digest, chunk.batch_no),
            province,
            file=digest,
            batch=chunk.batch_no,
            first_line=chunk.first_line,
            last_line=chunk.last_line,
            rows=len(merged.leaves),
            root=merged.root.hex(),
            persons_added=merged.persons_added,
            persons_updated=merged.persons_updated,
            cards_added=merged.cards_added,
            cards_updated=merged.cards_updated,
            rejected=len(merged.bad),
        )
        session.add(
            ImportBatch(
                file_digest=digest,
                batch_no=chunk.batch_no,
                province=province,
                kind="holders",
                status="committed",
                first_line=chunk.first_line,
                last_line=chunk.last_line,
                byte_end=chunk.byte_end,
                rows=len(merged.leaves) + prepared.repeated,
                changed=merged.touched,
                root=merged.root,
                row_digests=b"".join(merged.leaves),
                rejected=_rejected_text(merged.bad),
                committed_at=uow.clock.now(),
            )
        )
        mark = report.timed("ledger and audit", mark)
        uow.commit()
        report.timed("commit", mark)
    report.rows += len(merged.leaves) + prepared.repeated + len(merged.bad)
    report.persons_added += merged.persons_added
    report.persons_updated += merged.persons_updated
    report.cards_added += merged.cards_added
    report.cards_updated += merged.cards_updated
    report.unchanged += len(merged.leaves) + prepared.repeated - merged.touched
    report.bad_rows.extend(merged.bad)
    report.batches += 1
    report.bytes_done = chunk.byte_end


def _resume(platform: Platform, digest: str, province: str, report: BulkReport) -> tuple[int, int, int]:
    """Count what earlier runs of the file committed; the byte, line and batch to go on from."""
    with platform.session_factory() as session:
        done = repository.import_batches(session, digest)
    if done and done[0].province != province:
        raise ImportFileError(
            f"this file was imported for province {done[0].province}, not {province}", province=province
        )
    for batch in done:
        report.rows += batch.rows + len(_rejected_rows(batch.rejected))
        report.unchanged += batch.rows
        report.bad_rows.extend(_rejected_rows(batch.rejected))
    report.resumed_batches = len(done)
    report.rows_resumed = report.rows
    if not done:
        return 0, 0, 0
    last = done[-1]
    report.bytes_done = report.bytes_resumed = last.byte_end
    return last.byte_end, last.last_line, last.batch_no + 1


def _ready(
    item: tuple[Chunk, datetime, Future[Prepared]], report: BulkReport
) -> tuple[Chunk, datetime, Prepared]:
    mark = time.perf_counter()
    prepared = item[2].result()
    report.timed("wait", mark)
    return item[0], item[1], prepared


def bulk_import(
    platform: Platform,
    province: str,
    path: Path,
    actor: Actor,
    *,
    fmt: Format | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = 2,
    progress: BulkProgress | None = None,
) -> BulkReport:
    """Import a holder file in committed batches; a rerun resumes after the last batch and changes nothing."""
    chosen = fmt or guess_format(path)
    header = tuple(read_csv_header(path)) if chosen == "csv" else ()
    if not path.is_file():
        raise ImportFileError(f"cannot read {path}: no such file", path=str(path))
    copy = platform.engine.dialect.name == "postgresql"
    setup = WorkerSetup(platform.suite.name, PinnedKeys.of(platform.keys), province, chosen, header, copy)
    # `local` prepares batches here when there are no workers; `reseal` re-seals changed persons as rows.
    local, reseal = Preparer(setup), Preparer(replace(setup, copy=False))
    executor = (
        ProcessPoolExecutor(
            workers,
            mp_context=_worker_context(),
            initializer=_start_worker,
            initargs=(setup,),
        )
        if workers > 0
        else None
    )
    try:
        return _import_batches(
            platform,
            actor,
            path,
            setup=setup,
            preparers=(local, reseal),
            pool=(executor, workers),
            batch_size=batch_size,
            progress=progress,
        )
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


def _warm_up() -> None:
    """Nothing: submitted once per worker so the workers start while this process hashes the file."""


def _import_batches(
    platform: Platform,
    actor: Actor,
    path: Path,
    *,
    setup: WorkerSetup,
    preparers: tuple[Preparer, Preparer],
    pool: tuple[ProcessPoolExecutor | None, int],
    batch_size: int,
    progress: BulkProgress | None,
) -> BulkReport:
    """bulk_import's batches, prepared by the pool's workers (or here) and merged in file order."""
    local, (executor, workers) = preparers[0], pool
    # The fork server imports the program once before the first worker starts (seconds of CPU): let that
    # happen on the other core while this process hashes the file and reads the ledger.
    warming = [executor.submit(_warm_up) for _ in range(workers)] if executor is not None else []
    digest = file_digest(platform.suite, path)
    report = BulkReport(bytes_total=path.stat().st_size)
    start, line, batch_no = _resume(platform, digest, setup.province, report)
    for future in warming:
        future.result()
    started = time.monotonic()
    chunks = _chunks(path, setup.fmt, batch_size, start=start, line=line, batch_no=batch_no)
    analyzed = 0

    def merge(chunk: Chunk, now: datetime, prepared: Prepared) -> None:
        nonlocal analyzed
        _merge(
            platform, actor, preparers, digest=digest, chunk=chunk, prepared=prepared, now=now, report=report
        )
        analyzed += 1
        if analyzed in _ANALYZE_AFTER:
            mark = time.perf_counter()
            with platform.session_factory() as session:
                repository.analyze_holders(session)
                session.commit()
            report.timed("analyze", mark)
        report.seconds = time.monotonic() - started
        if progress:
            progress(report)

    if executor is None:
        for chunk in chunks:
            mark, now = time.perf_counter(), platform.clock.now()
            prepared = local.prepare(chunk.lines, now=now)
            report.timed("prepare", mark)
            merge(chunk, now, prepared)
    else:
        # A batch's holders and cards are stamped with the time it was handed to its worker.
        pending: deque[tuple[Chunk, datetime, Future[Prepared]]] = deque()
        for chunk in chunks:
            now = platform.clock.now()
            job = executor.submit(_prepare_in_worker, chunk.first_line, chunk.data, now)
            pending.append((chunk, now, job))
            # Bounded: the workers prepare the next batches while this process merges one.
            if len(pending) > workers:
                merge(*_ready(pending.popleft(), report))
        while pending:
            merge(*_ready(pending.popleft(), report))
    report.bad_rows.sort()
    report.seconds = time.monotonic() - started
    return report
