"""Appending takes no shared lock; one sequencer leads a log; a sequencer killed anywhere loses nothing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from essc.audit import repository, service
from essc.audit.models import AuditEntry
from essc.core.auditing import PendingAuditEntry
from essc.core.platform import Platform
from essc.kit.ids import new_id
from factories import sent_statements

SEQUENCE_COMMAND = "from essc.cli import main; main()"
APPENDS = 3000
KILLS = 3


def _entry(platform: Platform, province: str | None, n: int = 0) -> PendingAuditEntry:
    return PendingAuditEntry(
        id=new_id(),
        at=platform.clock.now(),
        actor_kind="operator",
        actor_id="test",
        action="test.appended",
        subject_kind="test",
        subject_id=str(n),
        province=province,
        source_ip=None,
        request_id=None,
        details={"n": n},
    )


def test_two_open_transactions_of_one_province_append_and_commit_without_waiting(
    platform: Platform, backend: str
) -> None:
    if backend == "sqlite":
        # SQLite has one writer: a transaction takes the database's write lock when it begins, so two cannot
        # be open at once whatever they write. What "does not wait" means there: an append is one INSERT of
        # the entry and touches no row another append would (no head to read, lock or move).
        with sent_statements(platform) as sent, platform.session_factory() as session:
            repository.append(session, [_entry(platform, "44"), _entry(platform, "44", 1)])
            session.commit()
        writes = [s for s in sent if not s.startswith(("COMMIT", "ROLLBACK"))]
        assert len(writes) == 1
        assert writes[0].startswith("INSERT INTO audit_entries")
        return
    first, second = platform.session_factory(), platform.session_factory()
    try:
        for session in (first, second):
            # A wait on any lock would fail the statement instead of hanging the test.
            session.execute(text("SET LOCAL lock_timeout = '2s'"))
        repository.append(first, [_entry(platform, "44")])  # first is open, holding whatever it took
        with ThreadPoolExecutor(1) as pool:
            # The second appends and commits while the first is still open: on a thread, under a deadline.
            def other() -> None:
                repository.append(second, [_entry(platform, "44", 1)])
                second.commit()

            pool.submit(other).result(timeout=10)
        repository.append(first, [_entry(platform, "44", 2)])
        first.commit()
    finally:
        first.close()
        second.close()
    with platform.session_factory() as session:
        count = select(func.count()).select_from(AuditEntry).where(AuditEntry.log == "44")
        assert session.execute(count).scalar_one() == 3


def test_one_sequencer_leads_a_log_at_a_time(platform: Platform, backend: str) -> None:
    with platform.session_factory() as session:
        repository.append(session, [_entry(platform, "44")])
        session.commit()
    if backend == "sqlite":
        # The sequencer's transaction holds SQLite's write lock from its first statement: the next one waits.
        with platform.session_factory() as session:
            assert service.sequence_log(session, platform, "44") == 1
            session.commit()
        return
    leader, other = platform.session_factory(), platform.session_factory()
    try:
        assert (
            service.sequence_log(leader, platform, "44") == 1
        )  # holds the log's advisory lock, not committed
        assert service.sequence_log(other, platform, "44") == 0  # does not wait, does not sequence twice
        other.rollback()
        leader.commit()
    finally:
        leader.close()
        other.close()
    with platform.session_factory() as session:
        assert repository.latest_head(session, "44") is not None
        assert service.sequence_log(session, platform, "44") == 0


def _start_sequencer(platform: Platform, keystore_path: Path, folder: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ESSC_DATABASE_URL": platform.settings.database_url,
        "ESSC_KEYSTORE_PATH": str(keystore_path),
    }
    return subprocess.Popen(
        [sys.executable, "-c", SEQUENCE_COMMAND, "audit", "sequence", "--interval", "0.02"],
        env=env,
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _sequenced(platform: Platform) -> int:
    with platform.session_factory() as session:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.leaf_index.is_not(None))
        return int(session.execute(query).scalar_one())


def _until_the_killed_let_go(platform: Platform) -> None:
    """Wait for the backends of killed sequencers to end: one amid a statement leads its log until then."""
    if platform.settings.database_url.startswith("sqlite"):
        return  # the operating system drops a killed process's file locks with it
    held = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with platform.session_factory() as session:
            if session.execute(held).scalar_one() == 0:
                return
        time.sleep(0.05)
    raise AssertionError("a killed sequencer's backend still leads a log after 60 s")


def test_a_sequencer_killed_at_random_moments_sequences_every_committed_entry_once(
    platform: Platform, keystore_path: Path, tmp_path: Path
) -> None:
    randomness = random.Random(11)
    committed: list[str] = []
    stop = threading.Event()

    def append_continuously() -> None:
        n = 0
        while not stop.is_set() or len(committed) < APPENDS:
            batch = [
                _entry(platform, randomness.choice(["44", "11", None]), n + i)
                for i in range(randomness.randint(1, 9))
            ]
            with platform.session_factory() as session:
                repository.append(session, batch)
                session.commit()
            committed.extend(e.id for e in batch)
            n += len(batch)

    kills = 0
    with ThreadPoolExecutor(1) as pool:
        appending = pool.submit(append_continuously)
        while kills < KILLS:
            before = _sequenced(platform)
            process = _start_sequencer(platform, keystore_path, tmp_path)
            deadline = time.monotonic() + 60
            while _sequenced(platform) == before and time.monotonic() < deadline:
                time.sleep(0.01)  # until it is at work: the kill then lands amid its rounds
            time.sleep(randomness.uniform(0, 0.3))
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
        stop.set()
        appending.result(timeout=120)
    by_sequencers = _sequenced(platform)
    assert by_sequencers > 0
    _until_the_killed_let_go(platform)
    service.sequence_all(platform)  # what the last one had not reached
    with platform.session_factory() as session:
        rows = session.execute(select(AuditEntry.id, AuditEntry.log, AuditEntry.leaf_index)).all()
        latest = {log: repository.latest_head(session, log) for log in ("00", "11", "44")}
    by_id = {entry_id: (log, index) for entry_id, log, index in rows}
    assert len(committed) >= APPENDS
    assert set(committed) <= set(by_id)
    for log in ("00", "11", "44"):
        indexes = sorted(index for entry_log, index in by_id.values() if entry_log == log)
        assert indexes == list(range(len(indexes)))  # every entry once, none twice, no gap
        head = latest[log]
        assert head is not None
        assert head.size == len(indexes)
    with platform.session_factory() as session:
        assert service.verify(session, platform).findings == []


def _unsequenced(platform: Platform) -> dict[str, int]:
    with platform.session_factory() as session:
        rows = session.execute(
            select(AuditEntry.log, func.count())
            .where(AuditEntry.leaf_index.is_(None))
            .group_by(AuditEntry.log)
        )
        return {log: int(count) for log, count in rows}


def test_a_round_sequences_a_new_log_and_its_opening_in_the_national_log_together(platform: Platform) -> None:
    with platform.session_factory() as session:
        repository.append(session, [_entry(platform, "45", n) for n in range(3)])
        session.commit()
    done = service.sequence_all(platform)
    assert done["45"] == 3
    assert done["00"] >= 1  # the opening of log 45
    assert _unsequenced(platform) == {}


def test_a_round_goes_on_while_batches_fill_and_stops_at_the_first_that_does_not(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    with platform.session_factory() as session:
        repository.append(session, [_entry(platform, "46", n) for n in range(7)])
        session.commit()
    rounds: list[int] = []
    original = service.sequence_log

    def counted(session: Session, platform: Platform, log: str, batch: int) -> int:
        count = original(session, platform, log, batch)
        if log == "46":
            rounds.append(count)
        return count

    monkeypatch.setattr(service, "sequence_log", counted)
    service.sequence_all(platform, batch=3)
    assert rounds == [3, 3, 1]
    assert _unsequenced(platform) == {}


def test_an_entry_is_given_a_leaf_index_once_and_a_second_assignment_rolls_back_whole(
    platform: Platform,
) -> None:
    with platform.session_factory() as session:
        repository.append(session, [_entry(platform, "47", n) for n in range(3)])
        session.commit()
    service.sequence_all(platform)
    with platform.session_factory() as session:
        first, *_ = repository.leaves(session, "47", 0, 1)
        fresh = _entry(platform, "47", 3)
        repository.append(session, [fresh])
        session.commit()

    with platform.session_factory() as session:
        with pytest.raises(repository.LeafAlreadyAssigned):
            # The sequenced entry again, beside one that still has no leaf: neither is given one.
            repository.assign_leaf_indexes(session, "47", [fresh.id, first[1]], 3)
        session.rollback()
        assert session.get(AuditEntry, fresh.id).leaf_index is None  # type: ignore[union-attr]
        assert session.get(AuditEntry, first[1]).leaf_index == 0  # type: ignore[union-attr]
    service.sequence_all(platform)
    with platform.session_factory() as session:
        assert session.get(AuditEntry, fresh.id).leaf_index == 3  # type: ignore[union-attr]


def test_a_batch_an_outsider_numbered_meanwhile_is_refused_whole(platform: Platform, backend: str) -> None:
    entries = [_entry(platform, "48", n) for n in range(3)]
    with platform.session_factory() as session:
        repository.append(session, entries)
        session.commit()
    first, middle, last = sorted(e.id for e in entries)  # the sequencer's order
    if backend == "sqlite":
        # SQLite's sequencer reads and numbers its batch under the database's write lock: no one between.
        with platform.session_factory() as session:
            taken = repository.take_unsequenced(session, "48", 0, 10)
            assert [row[0] for row in taken] == [first, middle, last]
        return
    outsider, sequencer = platform.session_factory(), platform.session_factory()
    try:
        # Holds the middle entry's row, numbered but not committed: the sequencer's statement waits on it.
        outsider.execute(update(AuditEntry).where(AuditEntry.id == middle).values(leaf_index=99))
        with ThreadPoolExecutor(1) as pool:
            taking = pool.submit(repository.take_unsequenced, sequencer, "48", 0, 10)
            time.sleep(0.3)
            assert not taking.done()
            outsider.commit()
            with pytest.raises(repository.LeafAlreadyAssigned):
                taking.result(timeout=30)  # the other two would be leaves 0 and 2: a gap
        sequencer.rollback()
    finally:
        outsider.close()
        sequencer.close()
    with platform.session_factory() as session:
        indexes = dict(
            session.execute(select(AuditEntry.id, AuditEntry.leaf_index).where(AuditEntry.log == "48")).all()
        )
    assert indexes == {first: None, middle: 99, last: None}
