"""Fake endpoints of a test app: slow, crashing or failing before or after they commit; they count runs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from essc.audit.models import AuditEntry
from essc.core.db import run_on_loop
from essc.core.deps import ChannelUoW
from essc.core.platform import Platform
from essc.kit.errors import EsscError
from essc.web.app import create_app
from factories import running

EFFECT = "test.effect"


class FakeOutage(EsscError):
    status = 503
    code = "fake_outage"
    title = "A dependency of the platform is down"


@dataclass
class Fakes:
    """What the test endpoints do on their next run; they count their runs."""

    runs: Counter[str] = field(default_factory=Counter)
    entered: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    failures_left: int = 0


def fake_app(platform: Platform, fakes: Fakes) -> TestClient:
    """The platform's app with a few endpoints that are slow, crash or fail, before or after committing."""
    app = create_app(platform)

    @app.post("/test/slow")
    async def slow(uow: ChannelUoW) -> dict[str, int]:
        fakes.runs["slow"] += 1
        fakes.entered.set()
        # Nothing touched the database yet, so SQLite's write lock is free meanwhile.
        deadline = time.monotonic() + 30
        while not fakes.gate.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        uow.audit(EFFECT, "test", "slow", None)
        return {"run": fakes.runs["slow"]}

    @app.post("/test/crash-before-commit")
    async def crash_before_commit(uow: ChannelUoW) -> dict[str, int]:
        fakes.runs["crash"] += 1
        uow.audit(EFFECT, "test", "crash", None)
        if fakes.failures_left:
            fakes.failures_left -= 1
            raise RuntimeError("the platform crashed")
        return {"run": fakes.runs["crash"]}

    @app.post("/test/outage-before-commit")
    async def outage_before_commit(uow: ChannelUoW) -> dict[str, int]:
        fakes.runs["outage"] += 1
        uow.audit(EFFECT, "test", "outage", None)
        if fakes.failures_left:
            fakes.failures_left -= 1
            raise FakeOutage("try again later")
        return {"run": fakes.runs["outage"]}

    @app.post("/test/crash-after-commit")
    async def crash_after_commit(uow: ChannelUoW) -> dict[str, int]:
        fakes.runs["late-crash"] += 1
        uow.audit(EFFECT, "test", "late-crash", None)
        await run_on_loop(uow.commit)
        raise RuntimeError("the platform crashed after committing")

    @app.post("/test/outage-after-commit")
    async def outage_after_commit(uow: ChannelUoW) -> dict[str, int]:
        fakes.runs["late-outage"] += 1
        uow.audit(EFFECT, "test", "late-outage", None)
        await run_on_loop(uow.commit)
        raise FakeOutage("failed after committing")

    return running(TestClient(app, raise_server_exceptions=False))


def effects(platform: Platform) -> int:
    """How many times a fake endpoint's work was committed."""
    with platform.session_factory() as session:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == EFFECT)
        return int(session.execute(query).scalar_one())
