"""A terminal's durable state in one directory: identity, platform keys, status lists, acceptance queue.

Layout: ``terminal.json`` (terminal number and suite, so two terminals never share a queue),
``platform-keys.json`` (fetched platform keys, as /v1/platform/keys returns them),
``status-lists/<province>.bin``
(the last verified list of each province, exactly as the platform signed it) and ``acceptances.sqlite3``
(every code accepted offline; pending until the platform answered for it, then kept as a replay memory until
the code is too old to be accepted anywhere).
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from essc.kit.offline import OfflineAcceptance
from essc_terminal.errors import OfflineRefused, StateDirInUse

__all__ = ["AcceptanceQueue", "QueuedAcceptance", "StateDir"]

_IDENTITY: Final = "terminal.json"
_KEYS: Final = "platform-keys.json"
_LISTS: Final = "status-lists"
_QUEUE: Final = "acceptances.sqlite3"


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace path with data so that a crash leaves either the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class StateDir:
    """The files of one terminal's state directory (the queue is AcceptanceQueue)."""

    def __init__(self, root: Path, terminal_no: str, suite: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        identity = {"terminalNo": terminal_no, "suite": suite}
        path = root / _IDENTITY
        if path.exists():
            held = json.loads(path.read_text(encoding="utf-8"))
            if held != identity:
                raise StateDirInUse(
                    f"{root} holds the state of terminal {held.get('terminalNo')} "
                    f"({held.get('suite')} suite), "
                    f"not of {terminal_no} ({suite}); give each terminal its own state directory"
                )
        else:
            _write_atomically(path, json.dumps(identity).encode())

    @property
    def queue_path(self) -> Path:
        return self.root / _QUEUE

    def platform_keys(self) -> dict[str, str] | None:
        """The stored platform keys (key id to PEM), if any were saved."""
        path = self.root / _KEYS
        if not path.exists():
            return None
        keys: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))["keys"]
        return keys

    def save_platform_keys(self, keys: dict[str, str]) -> None:
        _write_atomically(self.root / _KEYS, json.dumps({"keys": keys}, indent=1).encode())

    def status_lists(self) -> Iterator[bytes]:
        """Every stored status list, national first so that it is held before the provinces' ones."""
        folder = self.root / _LISTS
        if folder.is_dir():
            for path in sorted(folder.glob("[0-9][0-9].bin")):
                yield path.read_bytes()

    def save_status_list(self, province: str, encoded: bytes) -> None:
        _write_atomically(self.root / _LISTS / f"{province}.bin", encoded)


@dataclass(frozen=True, slots=True)
class QueuedAcceptance:
    """An acceptance waiting in the queue for upload."""

    payload: str
    serial: str
    counter: int
    busi_type: str
    accepted_at: int


class AcceptanceQueue:
    """Offline acceptances in SQLite: committed before the code is reported accepted, so none is lost."""

    def __init__(self, path: Path) -> None:
        # One connection shared by the terminal's threads under a lock; other processes (the CLI beside a
        # running terminal) are serialised by SQLite's own file locks, waiting up to the timeout.
        self._db = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS acceptances ("
                " serial TEXT NOT NULL, counter INTEGER NOT NULL, payload TEXT NOT NULL,"
                " busi_type TEXT NOT NULL, province TEXT NOT NULL, issued_at INTEGER NOT NULL,"
                " accepted_at INTEGER NOT NULL, uploaded_at INTEGER, outcome TEXT, reason TEXT,"
                " PRIMARY KEY (serial, counter))"
            )
            db.execute(
                "CREATE INDEX IF NOT EXISTS pending ON acceptances (accepted_at) WHERE uploaded_at IS NULL"
            )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def add(self, acceptance: OfflineAcceptance) -> None:
        """Record an acceptance durably; OfflineRefused(replayed_code) if it was accepted here before."""
        try:
            with self._transaction() as db:
                db.execute(
                    "INSERT INTO acceptances (serial, counter, payload, busi_type, province, issued_at,"
                    " accepted_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        acceptance.serial,
                        acceptance.counter,
                        acceptance.payload,
                        acceptance.busi_type,
                        acceptance.province,
                        acceptance.issued_at,
                        acceptance.accepted_at,
                    ),
                )
        except sqlite3.IntegrityError as exc:
            # The in-memory replay memory of OfflineVerifier is empty after a restart; this table is not.
            raise OfflineRefused("this code was already accepted here", code="replayed_code") from exc

    def pending(self, limit: int | None = None) -> list[QueuedAcceptance]:
        """Acceptances not yet answered for by the platform, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT payload, serial, counter, busi_type, accepted_at FROM acceptances"
                " WHERE uploaded_at IS NULL ORDER BY accepted_at, serial, counter LIMIT ?",
                (-1 if limit is None else limit,),
            ).fetchall()
        return [QueuedAcceptance(*row) for row in rows]

    def settle(self, answered: list[tuple[QueuedAcceptance, str, str | None]], now: int) -> None:
        """Take the acceptances the platform answered for (with outcome and reason) off the queue."""
        with self._transaction() as db:
            db.executemany(
                "UPDATE acceptances SET uploaded_at = ?, outcome = ?, reason = ?"
                " WHERE serial = ? AND counter = ? AND uploaded_at IS NULL",
                [(now, outcome, reason, item.serial, item.counter) for item, outcome, reason in answered],
            )

    def forget_before(self, issued_before: int) -> None:
        """Drop uploaded acceptances of codes issued before this time: no terminal accepts them any more."""
        with self._transaction() as db:
            db.execute(
                "DELETE FROM acceptances WHERE uploaded_at IS NOT NULL AND issued_at < ?", (issued_before,)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
