"""Of many simultaneous resolutions of one code exactly one succeeds: in threads and across two workers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from essc.audit.models import AuditEntry
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.kit.clock import FrozenClock, SystemClock
from essc.kit.errors import EsscError
from essc.qr import service
from essc.qr.models import CardUsage
from essc.qr.schemas import ResolveRequest
from essc.terminals.schemas import BusiType
from essc_sdk import EsscClient, PlatformError
from factories import (
    TerminalParty,
    app_client,
    authenticated_as,
    channel,
    holder,
    institution,
    issued_sign_no,
    load,
    province,
    terminal,
)

ATTEMPTS = 100


def _setup(platform: Platform) -> tuple[TerminalParty, str]:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app, owner = channel(platform, http), province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    device = terminal(
        platform, http, owner, institution(owner, "hrss_centre"), {"01": "masked"}, session=False
    )
    code = app.client.post(f"/v1/ecards/{sign_no}/qr-codes", {"images": []})["code"]
    return device, str(code)


def test_threads_resolving_one_code_give_exactly_one_success(platform: Platform) -> None:
    device, code = _setup(platform)

    def attempt(_: int) -> str:
        with UnitOfWork(platform, RequestContext(actor=Actor(kind="terminal", id=device.label))) as uow:
            try:
                service.resolve(
                    uow, authenticated_as(device), ResolveRequest(code=code, busi_type=BusiType.QUERY)
                )
                uow.commit()
                return "ok"
            except EsscError as exc:
                return exc.code

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = Counter(pool.map(attempt, range(ATTEMPTS)))
    assert outcomes == Counter({"ok": 1, "code_already_used": ATTEMPTS - 1})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def two_workers(platform: Platform, keystore_path: Path, tmp_path: Path) -> Iterator[str]:
    """The platform served by uvicorn with two worker processes over the test database."""
    port = _free_port()
    env = {
        **os.environ,
        "ESSC_DATABASE_URL": platform.settings.database_url,
        "ESSC_KEYSTORE_PATH": str(keystore_path),
        "ESSC_RUN_DISPATCHER": "false",
    }
    if platform.settings.redis_url:
        env["ESSC_REDIS_URL"] = platform.settings.redis_url
        env["ESSC_REDIS_KEY_PREFIX"] = platform.settings.redis_key_prefix
    log = (tmp_path / "uvicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "essc.asgi:app", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # two workers importing the app on a loaded 2-core machine
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail(f"uvicorn did not start: {(tmp_path / 'uvicorn.log').read_text()}")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


def test_two_workers_resolving_one_code_give_exactly_one_success(
    platform: Platform, two_workers: str
) -> None:
    # The servers read the system clock; the test's frozen one stood still while they started (up to 90 s on a
    # loaded machine), which would issue the code already expired in their eyes.
    assert isinstance(platform.clock, FrozenClock)
    platform.clock.set(SystemClock().now())
    device, code = _setup(platform)
    unkeyed_code = _another_code(platform)
    with httpx.Client(base_url=two_workers, timeout=30) as http:
        client = EsscClient(
            http, platform.suite, caller=device.label, key_id=device.key_id, private_key=device.private_key
        )
        client.fetch_platform_keys()
        client.open_session()

        def attempt(_: int) -> str:
            try:
                client.post("/v1/qr/resolutions", {"code": code, "busiType": "01"})
                return "ok"
            except PlatformError as exc:
                return exc.code

        def unkeyed_attempt(_: int) -> str:
            # Without an Idempotency-Key: on PostgreSQL one statement in autocommit, no transaction around it.
            answer = client.raw("POST", "/v1/qr/resolutions", {"code": unkeyed_code, "busiType": "01"})
            return "ok" if answer.status_code == 200 else str(answer.json()["code"])

        with ThreadPoolExecutor(max_workers=20) as pool:
            outcomes = Counter(pool.map(attempt, range(ATTEMPTS)))
            unkeyed = Counter(pool.map(unkeyed_attempt, range(ATTEMPTS)))
    assert outcomes == Counter({"ok": 1, "code_already_used": ATTEMPTS - 1})
    assert unkeyed == Counter({"ok": 1, "code_already_used": ATTEMPTS - 1})
    with platform.session_factory() as session:
        uses = session.execute(select(func.count()).select_from(CardUsage)).scalar_one()
        used = session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "ecard.used")
        ).scalar_one()
    assert (uses, used) == (2, 2)  # one use and one audit entry per code, whoever won


def _another_code(platform: Platform) -> str:
    """A live code of another holder, issued through a channel of its own."""
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    return str(app.client.post(f"/v1/ecards/{sign_no}/qr-codes", {"images": []})["code"])
