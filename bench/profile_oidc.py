"""Where the server CPU of a login goes, per request: cProfile and thread CPU of the platform in this process.

The platform (essc.web.app) is served by uvicorn in this process's main thread; one client thread makes
complete logins of bench_oidc (--method scan or kiosk) one request at a time, so each request's server work
is alone on the loop. Per request kind (method and route) it prints the server thread's CPU per request, the
SQL statements sent per request, and the top functions of a cProfile of those requests (call counts are
deterministic; times are the profiler's, inflated by its overhead, so read them as shares).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import re
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import event
from sqlalchemy.engine import Engine

from _harness import free_port
from bench_oidc import ISSUER, _scene, login, scan_login
from essc.core.migrate import upgrade
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.web.app import create_app
from essc.wiring import register_handlers
from scratch import DEFAULT_POSTGRES_URL, exit_cleanly_on_sigterm, scratch_database

STARTED, STOP = "/__profile/start", "/__profile/stop"
_ID = re.compile(r"/v1/ecards/[^/]+/")


class Recorder:
    """An ASGI wrapper that profiles and times each request under its route's name."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.profiles: dict[str, cProfile.Profile] = defaultdict(cProfile.Profile)
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.count: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()
        self.current: str | None = None
        self.profiling = False
        self.want_profile = False
        self.show_sql = False
        self.server: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self.current is not None:
            await self.app(scope, receive, send)
            return
        if scope["path"] in (STARTED, STOP):
            self._control(scope["path"])
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        name = f"{scope['method']} {_ID.sub('/v1/ecards/{signNo}/', scope['path'])}"
        self.current = name
        profile = self.profiles[name] if self.profiling else None
        began = time.thread_time()
        if profile is not None:
            profile.enable()
        try:
            await self.app(scope, receive, send)
        finally:
            if profile is not None:
                profile.disable()
            self.cpu[name] += time.thread_time() - began
            self.count[name] += 1
            self.current = None

    def _control(self, path: str) -> None:
        if path == STOP:
            self.server.should_exit = True
            return
        self.cpu.clear()
        self.count.clear()
        self.statements.clear()
        self.profiling = self.want_profile

    def statement(self, _connection: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        if self.current is not None:
            self.statements[self.current] += 1
            if self.show_sql and self.count[self.current] == 0:
                print(f"  {self.current}: {' '.join(sql.split())[:160]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--method", choices=("scan", "kiosk"), default="scan")
    parser.add_argument("--logins", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="cProfile the requests (else CPU only)")
    parser.add_argument("--sql", action="store_true", help="print the SQL of each request kind once")
    parser.add_argument("--dump", help="write each request kind's pstats to DUMP.<kind>")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="tottime")
    args = parser.parse_args()
    exit_cleanly_on_sigterm()
    register_handlers()
    with tempfile.TemporaryDirectory(prefix="essc-profile-oidc-") as tmp:
        folder = Path(tmp)
        name = f"essc_profile_oidc_{os.getpid()}"
        with scratch_database(args.backend, name, folder, args.postgres_url) as url:
            upgrade(url)
            os.environ.update(
                {
                    "ESSC_DATABASE_URL": url,
                    "ESSC_KEYSTORE_PATH": str(folder / "keys"),
                    "ESSC_PUBLIC_URL": ISSUER,
                    "ESSC_RUN_DISPATCHER": "false",
                    "ESSC_RUN_SEQUENCER": "false",
                    "ESSC_OIDC_LOGINS_PER_MINUTE_PER_SOURCE": "1000000",
                    "ESSC_OIDC_LOGINS_PER_MINUTE_PER_CLIENT": "1000000",
                    "ESSC_PASSWORD_MAX_FAILURES": "1000000",
                }
            )
            scene = _scene(Settings(), 10, 1)
            port = free_port()
            child = os.fork()  # the server alone in its process: the client's CPU and GIL stay out of it
            if child == 0:
                try:
                    recorder = Recorder(create_app(build_platform(Settings())))
                    recorder.want_profile = args.profile
                    recorder.show_sql = args.sql
                    event.listen(Engine, "before_cursor_execute", recorder.statement)
                    server = uvicorn.Server(
                        uvicorn.Config(
                            recorder, host="127.0.0.1", port=port, log_level="warning", access_log=False
                        )
                    )
                    recorder.server = server
                    asyncio.run(server.serve())
                    _report(recorder, args)
                finally:
                    os._exit(0)
            try:
                _drive(f"http://127.0.0.1:{port}", scene, args)
            finally:
                os.waitpid(child, 0)


def _drive(base: str, scene: Any, args: argparse.Namespace) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/v1/platform/keys", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    app = scene.apps[0]
    with httpx.Client(base_url=base, timeout=30) as http, httpx.Client(base_url=base) as app_http:
        app.http = app_http
        try:
            for turn in range(args.logins + 10):
                if turn == 10:  # warmed up: count from here
                    http.post(STARTED)
                if args.method == "scan":
                    sign_no = scene.sign_nos[turn % len(scene.sign_nos)]
                    scan_login(http, app, ISSUER, scene.client_id, scene.key, sign_no)
                else:
                    login(http, ISSUER, scene.client_id, scene.key, scene.numbers[turn % len(scene.numbers)])
        finally:
            http.post(STOP)


def _report(recorder: Recorder, args: argparse.Namespace) -> None:
    total = 0.0
    print(f"{args.method}: {args.logins} logins, server thread CPU per request (ms) and SQL statements:")
    for name, count in recorder.count.items():
        per = 1000 * recorder.cpu[name] / count
        total += recorder.cpu[name]
        print(f"  {name:45s} {count:5d}  {per:7.2f} ms  {recorder.statements[name] / count:5.1f} statements")
    print(f"  per login: {1000 * total / args.logins:.2f} ms")
    if not args.profile:
        return
    if args.dump:
        for name, profile in recorder.profiles.items():
            profile.dump_stats(f"{args.dump}.{re.sub(r'[^a-z]+', '_', name.lower()).strip('_')}")
    for name, profile in recorder.profiles.items():
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out)
        stats.sort_stats(args.sort).print_stats(args.top)
        print(f"\n==== {name}\n{out.getvalue()}")


if __name__ == "__main__":
    main()
