"""A bulk import killed (SIGKILL) at random batches resumes: every good row exactly once, bad rows too."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from essc.audit.models import AuditEntry
from essc.cardholders.bulk import BATCH_ACTION, bulk_import
from essc.cardholders.models import Card, ImportBatch, Person
from essc.cardholders.synthetic import synthetic_holders, write_csv
from essc.core.context import Actor
from essc.core.platform import Platform

# The child imports slowly on purpose (a pause after each batch), so a kill lands in the middle of the file.
_CHILD = """
import sys, time
from pathlib import Path
from essc.cardholders.bulk import bulk_import
from essc.core.context import Actor
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.wiring import register_handlers
register_handlers()
url, keys, path = sys.argv[1:4]
platform = build_platform(Settings(database_url=url, keystore_path=Path(keys), redis_url=None,
                                   run_dispatcher=False, run_sequencer=False))
def tick(report):
    print(report.batches, flush=True)
    time.sleep(0.02)
bulk_import(platform, "44", Path(path), Actor.operator("child"), batch_size=20, workers=0, progress=tick)
print("done", flush=True)
"""


def _kill_after(url: str, keys: Path, path: Path, batches: int) -> bool:
    """Run an import in a child process, SIGKILL it after `batches` committed batches; False if it ended."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, url, str(keys), str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    try:
        for line in child.stdout:
            if line.strip() == "done":
                return False
            if int(line) >= batches:
                time.sleep(random.uniform(0, 0.03))  # somewhere inside the next batch
                os.kill(child.pid, signal.SIGKILL)
                return True
        return False
    finally:
        child.wait(timeout=60)
        child.stdout.close()


def _holders_file(path: Path) -> int:
    """200 holders with every 17th row made bad (its ID number's check digit); the number of good rows."""
    write_csv(path, synthetic_holders("44", 200, seed=31))
    lines = path.read_text(encoding="utf-8").splitlines()
    for number in range(17, len(lines), 17):
        fields = lines[number].split(",")
        fields[0] = fields[0][:17] + ("1" if fields[0][17] == "0" else "0")
        lines[number] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 200 - len(range(17, len(lines), 17))


def test_kill_9_at_random_batches_then_rerun_loads_every_good_row_exactly_once(
    platform: Platform, tmp_path: Path, keystore_path: Path
) -> None:
    path = tmp_path / "holders.csv"
    good = _holders_file(path)
    url = platform.settings.database_url
    killed = [
        _kill_after(url, keystore_path, path, batches) for batches in sorted(random.sample(range(1, 9), 2))
    ]

    report = bulk_import(platform, "44", path, Actor.operator("test"), batch_size=20, workers=0)

    assert any(killed)
    with platform.session_factory() as session:
        persons = session.execute(select(func.count()).select_from(Person)).scalar_one()
        cards = session.execute(select(func.count()).select_from(Card)).scalar_one()
        ledger = list(session.execute(select(ImportBatch.batch_no, ImportBatch.rows).order_by("batch_no")))
        entries = session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == BATCH_ACTION)
        ).scalar_one()
    assert (persons, cards) == (good, good)
    assert [batch for batch, _ in ledger] == list(range(10))
    assert sum(rows for _, rows in ledger) == good
    assert entries == 10
    assert [line for line, _ in report.bad_rows] == list(range(18, 202, 17))
    assert report.rows == 200
