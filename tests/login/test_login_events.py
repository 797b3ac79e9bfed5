"""The login event stream: Server-Sent Events of each status change until a final one, pushed at once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient

from essc.cardholders.importfile import HolderRecord
from essc.core.platform import Platform
from essc.kit.clock import FrozenClock
from essc.kit.wire import HEADER_SIGNATURE
from essc.web.app import create_app
from factories import (
    Party,
    TerminalParty,
    app_client,
    busi_seq,
    channel,
    holder,
    institution,
    issued_sign_no,
    load,
    province,
    terminal,
)


@dataclass
class Scene:
    record: HolderRecord
    http: TestClient
    app: Party
    province: Party
    sign_no: str
    site: TerminalParty
    login_id: str
    code: str


@pytest.fixture
def scene(platform: Platform) -> Scene:
    platform.settings.login_events_interval_seconds = 0.01
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    owner = province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    site = terminal(platform, http, owner, institution(owner, "hrss_centre"), {}, kind="web")
    issued = site.client.post("/v1/login-codes", {"images": []})
    return Scene(record, http, app, owner, sign_no, site, issued["loginId"], issued["code"])


def _path(scene: Scene) -> str:
    return f"/v1/login-codes/{scene.login_id}/events"


def _events(body: str) -> list[dict[str, Any]]:
    """The data of each `event: status` in an event-stream body (comments and other fields skipped)."""
    found = []
    for block in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields.get("event") == "status":
            found.append(json.loads(fields["data"]))
    return found


def _stream(scene: Scene, device: TerminalParty | None = None) -> tuple[int, str, str]:
    client = (device or scene.site).client
    path = _path(scene)
    with scene.http.stream("GET", path, headers=client.signed_headers("GET", path, b"")) as response:
        body = response.read().decode()
        return response.status_code, response.headers["content-type"], body


def _scan(scene: Scene) -> None:
    scene.app.client.post("/v1/login-codes/scan", {"code": scene.code, "signNo": scene.sign_no})


def _confirm(platform: Platform, scene: Scene) -> None:
    seq = busi_seq(platform, scene.app, scene.sign_no, "login")
    scene.app.client.post(
        "/v1/login-codes/confirm", {"code": scene.code, "signNo": scene.sign_no, "busiSeq": seq}
    )


def _deny(scene: Scene) -> None:
    scene.app.client.post("/v1/login-codes/deny", {"code": scene.code, "signNo": scene.sign_no})


def test_a_final_status_is_sent_at_once_and_ends_the_stream(platform: Platform, scene: Scene) -> None:
    _scan(scene)
    _deny(scene)
    status, content_type, body = _stream(scene)
    assert status == 200
    assert content_type.startswith("text/event-stream")
    events = _events(body)
    assert [e["status"] for e in events] == ["denied"]
    assert events[0]["loginId"] == scene.login_id
    assert body.startswith("id: 1\nevent: status\ndata: ")


def test_a_confirmed_login_is_announced_without_the_holder(platform: Platform, scene: Scene) -> None:
    _scan(scene)
    _confirm(platform, scene)
    events = _events(_stream(scene)[2])
    assert events == [{"loginId": scene.login_id, "status": "confirmed", "expiresAt": events[0]["expiresAt"]}]
    # The result itself is still there for the signed GET, once.
    assert scene.site.client.get(f"/v1/login-codes/{scene.login_id}")["subject"] is not None
    assert [e["status"] for e in _events(_stream(scene)[2])] == ["consumed"]


def test_an_expired_code_is_announced_as_expired(
    platform: Platform, clock: FrozenClock, scene: Scene
) -> None:
    clock.advance(timedelta(seconds=121))
    assert [e["status"] for e in _events(_stream(scene)[2])] == ["expired"]


def test_another_terminal_gets_a_signed_problem_not_a_stream(platform: Platform, scene: Scene) -> None:
    other = terminal(platform, scene.http, scene.province, scene.site.institution_code, {}, kind="web")
    status, content_type, body = _stream(scene, other)
    assert status == 404
    assert content_type.startswith("application/problem+json")
    assert json.loads(body)["code"] == "login_code_unknown"


def test_a_channel_cannot_watch_a_login(platform: Platform, scene: Scene) -> None:
    path = _path(scene)
    response = scene.http.get(path, headers=scene.app.client.signed_headers("GET", path, b""))
    assert response.status_code == 403
    assert response.json()["code"] == "wrong_caller_kind"


def _watch_live(
    platform: Platform, scene: Scene, on_status: dict[str, Callable[[], None]]
) -> tuple[dict[str, str], list[tuple[bool, list[dict[str, Any]]]]]:
    """Run the stream at the ASGI level and act on each event as it arrives, while the stream is open."""
    app = create_app(platform)
    path = _path(scene)
    headers = scene.site.client.signed_headers("GET", path, b"")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    start: dict[str, str] = {}
    chunks: list[tuple[bool, list[dict[str, Any]]]] = []

    async def run() -> None:
        finished = anyio.Event()
        asked = False

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await finished.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update({k.decode(): v.decode() for k, v in message["headers"]})
                start["status"] = str(message["status"])
            elif message["type"] == "http.response.body":
                more = bool(message.get("more_body"))
                events = _events(message.get("body", b"").decode())
                chunks.append((more, events))
                for event in events:
                    action = on_status.get(event["status"])
                    if action is not None:
                        await anyio.to_thread.run_sync(action)
                if not more:
                    finished.set()

        with anyio.fail_after(20):
            await app(scope, receive, send)

    anyio.run(run)
    return start, chunks


def test_each_change_is_pushed_while_the_stream_is_open(platform: Platform, scene: Scene) -> None:
    start, chunks = _watch_live(
        platform, scene, {"pending": lambda: _scan(scene), "scanned": lambda: _confirm(platform, scene)}
    )

    assert start["status"] == "200"
    assert start["content-type"].startswith("text/event-stream")
    assert HEADER_SIGNATURE.lower() not in start  # notifications only; the result comes from the signed GET
    statuses = [event["status"] for _more, events in chunks for event in events]
    assert statuses == ["pending", "scanned", "confirmed"]
    # Every event left the platform in its own chunk before the stream ended: pushed, not buffered.
    assert [more for more, events in chunks if events] == [True, True, True]


def test_a_denial_is_pushed_and_ends_the_stream(platform: Platform, scene: Scene) -> None:
    _start, chunks = _watch_live(
        platform, scene, {"pending": lambda: _scan(scene), "scanned": lambda: _deny(scene)}
    )
    assert [event["status"] for _more, events in chunks for event in events] == [
        "pending",
        "scanned",
        "denied",
    ]


def test_expiry_while_watching_is_pushed(platform: Platform, clock: FrozenClock, scene: Scene) -> None:
    _start, chunks = _watch_live(platform, scene, {"pending": lambda: clock.advance(timedelta(seconds=120))})
    assert [event["status"] for _more, events in chunks for event in events] == ["pending", "expired"]
