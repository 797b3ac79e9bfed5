"""Server CPU per request of the platform against a floor doing the same durable work, load from wrk.

The scene is built through the API before any clock starts: holders loaded through the importer, their e-cards
issued in a channel, an institution of the province with terminals, each terminal in its own MAC session.
Three servers then run side by side on the same scratch database, Redis and keystore, each started by the
same HTTP server command (serve_command): the platform (essc.asgi:app, the production entry point), its twin
(bench/auth_twin.py: the same app, and under /open its unauthenticated twin) and the floor
(bench/floor_app.py: bare Starlette routes on raw asyncpg doing the platform's durable work). wrk drives one
of them at a time with complete requests prepared in Python (bench/wrk/requests.lua sends them):

  resolve     POST /v1/qr/resolutions: a terminal in a MAC session (no Idempotency-Key; the header is
              optional), each request with its own nonce and its own one-time code, sent once
  ecard-open  GET /open/v1/ecards/{signNo}: the twin's unauthenticated e-card read, over every e-card
  healthz     GET /healthz
  issue       POST /v1/ecards/issuance (re-issue): SM2-signed, personal fields in an envelope, with an
              Idempotency-Key as the SDK sends it; each request sent once; platform only (no floor)

The first figure of each phase is the server CPU per request, from the kernel's per-process counters
(/proc/<pid>/stat utime+stime): every process of the server under load, every PostgreSQL backend of the
scratch database and Redis, summed over the wrk run and divided by its 2xx answers. It is steadier than
requests/s on a machine whose cores the load generator shares. Codes are written straight into qr_codes
(the rows issue_code writes) just before each run, since a run spends them faster than the API issues them
and they live 60 s.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
from sqlalchemy import text
from sqlalchemy.engine import make_url

from _harness import free_port, tail
from essc.access import service as access
from essc.authorisations import service as authorisations
from essc.cardholders.bulk import bulk_import
from essc.cardholders.importfile import GoodRow, HolderRecord, parse_file
from essc.cardholders.synthetic import write_parallel
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.db import make_engine
from essc.core.migrate import upgrade
from essc.core.platform import build_platform, open_keystore
from essc.core.settings import Settings
from essc.core.uow import UnitOfWork
from essc.kit import wire
from essc.kit.codes import CodeKind, new_token_code
from essc.kit.crypto import get_suite
from essc.kit.crypto.base import CryptoSuite
from essc.kit.keystore import KeyPurpose
from essc.ops.jobs import JOBS_PROCESS_NAME
from essc.shared.policy import Function
from essc.wiring import register_handlers
from essc_sdk import EsscClient
from scratch import (
    DEFAULT_POSTGRES_URL,
    AutoVacuum,
    CpuSample,
    exit_cleanly_on_sigterm,
    fresh_nonce_store,
    machine,
    process_cpu_seconds,
    scratch_database,
    scratch_name,
    server_version,
)

PROVINCE = "44"
CHANNEL_NO = "4400000902"
INSTITUTION = "BENCHHOSPITAL01"
KEY_ID = "bench-1"
BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
LUA_SCRIPT = BENCH_DIR / "wrk" / "requests.lua"
BENCH_CALLER_HEADER = "x-essc-bench-caller"  # as bench/auth_twin.py and bench/floor_app.py read it
# What each server serves: "module:attribute", and whether the attribute is a factory to call.
# name: (target, a factory?, essc serve's background jobs process beside the workers?)
APPS: dict[str, tuple[str, bool, bool]] = {
    "platform": ("essc.asgi:app", False, True),  # the production entry point, served as essc serve serves it
    "twin": ("auth_twin:build", True, True),  # the production app, and under /open its unauthenticated twin
    "floor": ("floor_app:build", True, False),
}
# With --audit-cost the platform's server serves this instead: the production app in which a request can
# switch its audit log off, so that both sides of the comparison run in the same processes.
AUDIT_SWITCH_APP = ("audit_switch_app:build", True, True)
AUDIT_OFF_HEADER = {"x-bench-audit": "off"}
PLATFORM, TWIN, FLOOR, UNAUDITED = "platform", "twin", "floor", "unaudited"
AUDIT_APPEND_GOAL_MS = 0.1
PHASES: dict[str, str] = {
    "resolve": "POST /v1/qr/resolutions, terminal in a MAC session, a fresh nonce and code per request",
    "ecard-open": "GET /open/v1/ecards/{signNo}, unauthenticated (the twin; the floor reads the same rows)",
    "healthz": "GET /healthz (the platform's route; the floor's is a bare Starlette route)",
    "issue": "POST /v1/ecards/issuance (re-issue), SM2-signed, fields in an envelope, Idempotency-Key",
}
FLOORED = ("resolve", "ecard-open", "healthz")  # the phases that have a floor
GOALS: dict[str, tuple[str, float]] = {
    "resolve": ("online QR resolution", 2.0),
    "ecard-open": ("GET /v1/ecards/{signNo} (unauthenticated)", 2.0),
    "healthz": ("/healthz", 1.5),
}
# Requests/s prepared for at least, in phases whose requests are single-use.
FIRST_GUESS = {"resolve": 2000.0, "issue": 200.0}
ISSUE_PATH = "/v1/ecards/issuance"
RESOLVE_PATH = "/v1/qr/resolutions"
CODE_SECONDS = 60  # as issue_code: min(qr_code_ttl_seconds, MAX_CODE_SECONDS)


# --- the servers -----------------------------------------------------------------------------------------


def serve_command(
    server: str, target: str, port: int | str, workers: int, *, factory: bool, jobs: bool = False
) -> list[str]:
    """How a bench server is started; `target` is "module:attribute" found on PYTHONPATH.

    Platform and floor are started by the same command, so the server's own cost is the same on both sides.
    The default is `essc serve`'s launcher (src/essc/ops/serve.py); granian is kept for comparison. `jobs`
    starts essc serve's background jobs process (webhooks, audit sequencing) beside the workers; its CPU is
    the server's too (the platform's descendants are measured).
    """
    factory_flag = ["--factory"] if factory else []
    if server == "granian":
        return [
            "uv",
            "run",
            "--frozen",
            "--project",
            str(REPO_DIR),
            "granian",
            "--interface",
            "asgi",
            "--loop",
            "uvloop",
            "--workers",
            str(workers),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            *factory_flag,
            target,
        ]
    # essc serve's own launcher (uvicorn on uvloop and httptools, our TCP_NODELAY listener), for any app.
    launch = (
        "from essc.ops.serve import serve_api; "
        f"serve_api('127.0.0.1', {port}, {workers}, {target!r}, factory={factory}, jobs={jobs})"
    )
    return [sys.executable, "-c", launch]


@dataclass
class Server:
    """One bench server: its process, its address and where it logs."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def processes(self) -> list[int]:
        """The server's process and all its descendants (uv, the server's supervisor, its workers)."""
        return descendants(self.process.pid)

    def stop(self) -> None:
        """Stop the server's whole process group: `uv run` does not wait for granian, nor granian for a
        worker that hangs in its shutdown (seen with essc.asgi:app), and none may outlive the run."""
        group = self.process.pid  # started as a session leader, so its group id is its process id
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _group_alive(group):
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
        self.process.wait()


def _group_alive(group: int) -> bool:
    """Whether a live process (not a zombie) of the group remains; orphans count, unlike descendants."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                return True
    return False


def descendants(root: int) -> list[int]:
    """root and every process below it, from the parent ids in /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        pending.extend(parents.get(pid, []))
    return sorted(found)


def start_server(
    name: str, server: str, workers: int, env: dict[str, str], folder: Path, app: tuple[str, bool, bool]
) -> Server:
    """Start a server of `app` (as in APPS) and return once it answers and its workers are up."""
    port = free_port()
    log = folder / f"{name}.log"
    process = subprocess.Popen(
        serve_command(server, app[0], port, workers, factory=app[1], jobs=app[2]),
        env=env,
        cwd=REPO_DIR,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so stop() reaches every process it started
    )
    started = Server(name, process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{started.base_url}/healthz", timeout=2).status_code == 200:
                # One worker answers first; the others may still be importing the app.
                time.sleep(3)
                return started
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    started.stop()
    raise SystemExit(f"the {name} server did not start; see {log}:\n{tail(log)}")


# --- the scene -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Terminal:
    """A registered terminal and its open MAC session."""

    terminal_no: str
    session_id: str
    session_key: bytes


@dataclass(frozen=True, slots=True)
class Scene:
    """What the setup made: keys, terminals in sessions, issued e-cards and what issuing them took."""

    channel_key_pem: bytes
    terminals: list[Terminal]
    sign_nos: list[str]
    holders: list[dict[str, str]]  # the issuance body (without attestation) of each e-card, as sign_nos
    issue_seconds: float
    issue_failures: Counter[str]


def load_parties(
    url: str, settings: Settings, holders: int, folder: Path
) -> tuple[tuple[bytes, bytes], Path]:
    """Migrate, bulk-load holders as `essc import` does, register the channel and province 44's card system.

    Returns the two keys and the holder file, whose first normal cards get their e-cards issued.
    """
    upgrade(url)
    platform = build_platform(settings)
    try:
        holder_file = folder / "holders.csv"
        started = time.monotonic()
        write_parallel(holder_file, PROVINCE, holders, workers=2 if holders >= 100_000 else 1)
        written = time.monotonic() - started
        report = bulk_import(platform, PROVINCE, holder_file, Actor.operator("bench"), workers=2)
        if report.bad_rows or report.persons_added != holders:
            raise SystemExit(f"loading the holders went wrong: {report}")
        print(
            f"  {holders:,} holders written in {written:.0f} s and imported in "
            f"{time.monotonic() - started - written:.0f} s",
            file=sys.stderr,
        )
        channel_key = platform.suite.generate_private_key()
        province_key = platform.suite.generate_private_key()
        with UnitOfWork(platform, RequestContext(actor=Actor.operator("bench"))) as uow:
            bench_channel = channels.register(
                uow,
                CHANNEL_NO,
                "Bench channel",
                channels.ChannelType.HRSS_APP,
                public_key=channel_key.public_key().to_pem(),
                key_id=KEY_ID,
                webhook_url=None,
            )
            # Deny by default: the bench channel is certified, active and authorised for every function.
            channels.commission(uow, bench_channel, list(Function), attested_by="bench")
            authorisations.open_everywhere(
                uow, bench_channel, list(Function), [PROVINCE], by="operator/bench"
            )
            caller = access.register_caller(uow, "province", PROVINCE, "Bench province card system")
            access.add_key(uow, caller, KEY_ID, province_key.public_key().to_pem())
            uow.commit()
        return (channel_key.to_pem(), province_key.to_pem()), holder_file
    finally:
        platform.close()


def issuable(holder_file: Path, at_most: int | None) -> list[HolderRecord]:
    """The holders of the file's first `at_most` normal cards (every normal card when None)."""
    normal = (
        row.record
        for row in parse_file(holder_file)
        if isinstance(row, GoodRow) and row.record.card_status == "normal"
    )
    return list(itertools.islice(normal, at_most))


def _client(http: httpx.Client, suite: CryptoSuite, caller: str, key_pem: bytes) -> EsscClient:
    return EsscClient(http, suite, caller=caller, key_id=KEY_ID, private_key=suite.load_private_key(key_pem))


def _holder_fields(record: HolderRecord) -> dict[str, str]:
    return {
        "aab301": record.aab301,
        "aac002": record.aac002,
        "aac003": record.aac003,
        "aaz500": record.aaz500,
    }


def _attestation(reference: str) -> dict[str, object]:
    return {
        "method": "face",
        "provider": "bench-face",
        "reference": reference,
        "score": 95,
        "checkedAt": datetime.now(UTC).isoformat(),
    }


def build_scene(
    base_url: str,
    suite: CryptoSuite,
    keys: tuple[bytes, bytes],
    records: list[HolderRecord],
    args: argparse.Namespace,
) -> Scene:
    """Through the API: an institution, its terminals each in a MAC session, e-cards for the given holders."""
    channel_pem, province_pem = keys
    terminals = []
    with httpx.Client(base_url=base_url, timeout=60.0) as http:
        province = _client(http, suite, f"province/{PROVINCE}", province_pem)
        province.fetch_platform_keys()
        province.post(
            f"/v1/provinces/{PROVINCE}/institutions",
            {"code": INSTITUTION, "name": "Bench People's Hospital", "kind": "hospital"},
        )
        for number in range(args.terminals):
            terminal_no = f"T44BENCH{number + 1:04d}"
            key = suite.generate_private_key()
            province.post(
                f"/v1/provinces/{PROVINCE}/institutions/{INSTITUTION}/terminals",
                {
                    "terminalNo": terminal_no,
                    "deviceSerial": f"SN-{terminal_no}",
                    "kind": "counter",
                    "publicKey": key.public_key().to_pem().decode("ascii"),
                    "keyId": KEY_ID,
                    "grants": [{"busiType": args.busi_type, "disclosure": args.disclosure}],
                },
            )
            terminal = _client(http, suite, f"terminal/{terminal_no}", key.to_pem())
            terminal.platform_keys = province.platform_keys
            terminal.open_session()
            assert terminal.session is not None
            terminals.append(Terminal(terminal_no, *terminal.session))

    failures: Counter[str] = Counter()
    issuers = 4

    def issue_share(share: int) -> list[tuple[str, dict[str, str]]]:
        with httpx.Client(base_url=base_url, timeout=60.0) as http:
            channel = _client(http, suite, f"channel/{CHANNEL_NO}", channel_pem)
            channel.fetch_platform_keys()
            issued = []
            for number, record in enumerate(records[share::issuers]):
                body = {**_holder_fields(record), "attestation": _attestation(f"bench-{share}-{number}")}
                try:
                    answer = channel.post(ISSUE_PATH, body)
                    issued.append((str(answer["signNo"]), _holder_fields(record)))
                except Exception as exc:
                    failures[f"{type(exc).__name__} {exc}"[:120]] += 1
            return issued

    began = time.perf_counter()
    with ThreadPoolExecutor(issuers) as pool:
        issued = [pair for share in pool.map(issue_share, range(issuers)) for pair in share]
    seconds = time.perf_counter() - began
    return Scene(channel_pem, terminals, [s for s, _ in issued], [h for _, h in issued], seconds, failures)


def analyze(url: str) -> None:
    """Statistics for the tables the setup filled, as autovacuum would have gathered by now."""
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()


# --- the requests wrk sends ------------------------------------------------------------------------------


def request_line(method: str, path: str, body: bytes, headers: dict[str, str]) -> str:
    """One request in the format of bench/wrk/requests.lua: tab-separated method, path, body, headers."""
    fields = [method, path, body.decode("utf-8"), *(f"{name}: {value}" for name, value in headers.items())]
    if any("\t" in f or "\n" in f for f in fields):
        raise ValueError("a request line cannot hold tabs or newlines")
    return "\t".join(fields)


class Requests:
    """Makes the request files of each phase: codes written to the database, requests signed in Python."""

    def __init__(self, url: str, settings: Settings, scene: Scene, base_url: str, args: argparse.Namespace):
        self.suite = get_suite(settings.crypto_suite)
        self.token_key = open_keystore(settings, self.suite).data_key(KeyPurpose.TOKEN).secret
        self.engine = make_engine(url)
        self.scene = scene
        self.args = args
        with self.engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT sign_no, province, id, ecard_id, channel_id FROM issuances WHERE channel_id = "
                    "(SELECT id FROM channels WHERE channel_no = :channel)"
                ),
                {"channel": CHANNEL_NO},
            ).all()
        issuances = {str(r[0]): (str(r[1]), str(r[2]), str(r[3]), str(r[4])) for r in rows}
        self.issuances = [issuances[sign_no] for sign_no in scene.sign_nos]
        self.http = httpx.Client(base_url=base_url, timeout=60.0)
        self.channel = _client(self.http, self.suite, f"channel/{CHANNEL_NO}", scene.channel_key_pem)
        self.channel.fetch_platform_keys()  # the platform's encryption key, for the envelopes
        self.issued = 0

    def close(self) -> None:
        self.http.close()
        self.engine.dispose()

    def signed_resolutions(
        self, count: int, *, one_ecard: bool = False
    ) -> list[tuple[Terminal, bytes, dict[str, str]]]:
        """count one-time codes written as issue_code writes them, and a signed resolution of each.

        The codes are of the scene's e-cards in turn (one_ecard: all of the first), the requests of its
        terminals in turn, each in the terminal's MAC session: (terminal, body, headers).
        """
        now = datetime.now(UTC)
        expires_at = now + timedelta(seconds=CODE_SECONDS)
        rows, signed = [], []
        timestamp = int(time.time())
        for number in range(count):
            holder = 0 if one_ecard else number % len(self.issuances)
            province, issuance_id, ecard_id, channel_id = self.issuances[holder]
            payload, token = new_token_code(CodeKind.ONLINE)
            rows.append(
                {
                    "digest": self.suite.mac(self.token_key, token.hex().encode()),
                    "province": province,
                    "ecard": ecard_id,
                    "issuance": issuance_id,
                    "channel": channel_id,
                    "created": now,
                    "expires": expires_at,
                }
            )
            terminal = self.scene.terminals[number % len(self.scene.terminals)]
            body = orjson.dumps({"code": payload, "busiType": self.args.busi_type})
            nonce = secrets.token_urlsafe(18)
            message = wire.request_string(
                "POST",
                RESOLVE_PATH,
                timestamp,
                nonce,
                body,
                digest=self.suite.hash,
                caller=f"terminal/{terminal.terminal_no}",
                session_id=terminal.session_id,
            )
            headers = wire.SessionHeaders(
                f"terminal/{terminal.terminal_no}",
                terminal.session_id,
                timestamp,
                nonce,
                self.suite.mac(terminal.session_key, message),
            ).as_dict()
            signed.append((terminal, body, {"Content-Type": "application/json", **headers}))
        with self.engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO qr_codes (token_digest, province, ecard_id, issuance_id, channel_id, "
                    "created_at, expires_at) VALUES (:digest, :province, :ecard, :issuance, :channel, "
                    ":created, :expires)"
                ),
                rows,
            )
        return signed

    def rows_written(self) -> tuple[int, int, int]:
        """Codes spent, card usages and audit entries so far: what a resolution must add one of each to."""
        with self.engine.connect() as connection:
            row = connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM qr_codes WHERE used_at IS NOT NULL), "
                    "(SELECT count(*) FROM card_usages), (SELECT count(*) FROM audit_entries)"
                )
            ).one()
        return int(row[0]), int(row[1]), int(row[2])

    def counters(self) -> tuple[dict[str, int], int, int]:
        """Rows read by sequential scans so far by table, WAL bytes so far and full-page images, in one read.

        Scans show a plan that reads a growing table; the WAL is the insert position; the scans and the
        images are statistics the backends flush about each second.
        """
        with self.engine.connect() as connection:
            rows = connection.execute(text("SELECT relname, seq_tup_read FROM pg_stat_user_tables")).all()
            position, images = connection.execute(
                text("SELECT pg_current_wal_insert_lsn() - '0/0', wal_fpi FROM pg_stat_wal")
            ).one()
        return {str(name): int(count) for name, count in rows}, int(position), int(images)

    def resolutions(self, count: int, path: Path, unsigned_headers: dict[str, str] | None = None) -> None:
        lines = [
            request_line("POST", RESOLVE_PATH, b, h | (unsigned_headers or {}))
            for _, b, h in self.signed_resolutions(count)
        ]
        path.write_text("\n".join(lines) + "\n")

    def issuances_file(self, count: int, path: Path) -> None:
        """count re-issuances of the scene's e-cards, SM2-signed, fields sealed, each with its own key."""
        lines = []
        for _ in range(count):
            number = self.issued % len(self.scene.holders)
            self.issued += 1
            clear = {**self.scene.holders[number], "attestation": _attestation(f"bench-re-{self.issued}")}
            body = orjson.dumps(self.channel.seal_body(clear, "POST", ISSUE_PATH))
            headers = {
                "Content-Type": "application/json",
                wire.HEADER_IDEMPOTENCY_KEY: secrets.token_urlsafe(24),
                **self.channel.signed_headers("POST", ISSUE_PATH, body),
            }
            lines.append(request_line("POST", ISSUE_PATH, body, headers))
        path.write_text("\n".join(lines) + "\n")

    def ecard_reads(self, path: Path) -> None:
        lines = [
            request_line(
                "GET", f"/open/v1/ecards/{sign_no}", b"", {BENCH_CALLER_HEADER: f"channel/{CHANNEL_NO}"}
            )
            for sign_no in self.scene.sign_nos
        ]
        path.write_text("\n".join(lines) + "\n")


def check_floor(servers: dict[str, Server], requests: Requests, audit_switch: bool = False) -> str:
    """Before anything is measured: the floor answers as the platform does, or the run stops.

    The same e-card view and health answer byte for byte, and for codes of the same e-card the same
    resolution but for its id and time, each with a valid session MAC of the response. With `audit_switch`
    (the platform serves audit_switch_app), a resolution with its audit log off answers the same too and
    writes no audit entry.
    """
    cases: list[tuple[str, dict[str, str], list[int]]] = [(PLATFORM, {}, [1, 1, 1]), (FLOOR, {}, [1, 1, 1])]
    if audit_switch:
        cases.append((PLATFORM, AUDIT_OFF_HEADER, [1, 1, 0]))
    caller = {BENCH_CALLER_HEADER: f"channel/{CHANNEL_NO}"}
    sign_no = requests.scene.sign_nos[0]
    with httpx.Client(timeout=30.0) as http:
        views = [
            http.get(f"{servers[name].base_url}/open/v1/ecards/{sign_no}", headers=caller)
            for name in (TWIN, FLOOR)
        ]
        health = [http.get(f"{servers[name].base_url}/healthz") for name in (PLATFORM, FLOOR)]
        answers = []
        for (name, unsigned, expected_rows), (terminal, body, headers) in zip(
            cases, requests.signed_resolutions(len(cases), one_ecard=True), strict=True
        ):
            written_before = requests.rows_written()
            answer = http.post(
                f"{servers[name].base_url}{RESOLVE_PATH}", content=body, headers=headers | unsigned
            )
            written = [
                after - before for before, after in zip(written_before, requests.rows_written(), strict=True)
            ]
            if written != expected_rows:
                raise SystemExit(
                    f"the {name}'s resolution wrote {written} (codes spent, usages, audit entries)"
                )
            mac = wire.decode_signature(answer.headers.get(wire.HEADER_SIGNATURE, ""))
            expected = requests.suite.mac(
                terminal.session_key,
                wire.response_string(
                    answer.status_code,
                    headers[wire.HEADER_NONCE],
                    int(answer.headers.get(wire.HEADER_TIMESTAMP, "0")),
                    answer.content,
                    requests.suite.hash,
                    caller=headers[wire.HEADER_CALLER],
                    session_id=terminal.session_id,
                ),
            )
            if answer.status_code != 200 or mac != expected:
                raise SystemExit(f"the {name}'s resolution failed or its MAC does not verify: {answer.text}")
            answers.append(
                {k: v for k, v in answer.json().items() if k not in ("resolutionId", "resolvedAt")}
            )
    for what, pair in (("e-card view", views), ("health answer", health)):
        if any(r.status_code != 200 for r in pair) or pair[0].json() != pair[1].json():
            raise SystemExit(
                f"the floor's {what} differs from the platform's: {pair[0].text} / {pair[1].text}"
            )
    if any(answer != answers[0] for answer in answers):
        raise SystemExit(f"the resolutions differ (platform, floor, platform unaudited): {answers}")
    unaudited = (
        "; with its audit log switched off, the platform answered the same and wrote no audit entry"
        if audit_switch
        else ""
    )
    return (
        "checked before the rounds: the floor answers as the platform does (e-card view and health answer "
        "equal, resolution equal but for its id and time, response MACs valid, each resolution spent one "
        f"code and wrote one card usage and one audit entry){unaudited}"
    )


# --- a run of wrk and the CPU it cost the server -----------------------------------------------------------


def server_side(server: Server, database: str) -> dict[str, list[int]]:
    """The processes whose CPU a request costs: the server's, the scratch database's backends, Redis.

    A backend counts under the process that holds its connection: the server's workers ("db"), its jobs
    process ("db-jobs": the sequencer), or anyone else ("db-other": the emulated autovacuum, the other
    server).
    """
    backend = f" {database} ".encode()
    processes = server.processes()
    # essc serve's background jobs process names itself (essc.ops.jobs); its CPU is shown on its own.
    jobs = [pid for pid in processes if _comm(pid) == JOBS_PROCESS_NAME]
    found: dict[str, list[int]] = {
        "app": [pid for pid in processes if pid not in jobs],
        "jobs": jobs,
        "db": [],
        "db-jobs": [],
        "db-other": [],
        "redis": [],
    }
    ports = _tcp_ports_by_inode()
    jobs_ports = {port for pid in jobs for port in _client_ports(pid, ports)}
    app_ports = {port for pid in found["app"] for port in _client_ports(pid, ports)}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        # A backend's title is "postgres: user database host(port) state" (see pg_stat_activity).
        if command.startswith(b"postgres: ") and backend in command:
            client = _BACKEND_CLIENT_PORT.search(command)
            port = int(client.group(1)) if client else -1
            owner = "db" if port in app_ports else "db-jobs" if port in jobs_ports else "db-other"
            found[owner].append(int(entry.name))
        elif command.startswith(b"redis-server"):
            found["redis"].append(int(entry.name))
    return found


SERVER_GROUPS = ("app", "jobs", "db", "db-jobs", "db-other", "redis")
_BACKEND_CLIENT_PORT = re.compile(rb"\((\d+)\)")


def _tcp_ports_by_inode() -> dict[int, int]:
    """The local port of every TCP socket on the machine, by its inode (/proc/net/tcp and tcp6)."""
    ports: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            ports[int(fields[9])] = int(fields[1].rsplit(":", 1)[1], 16)
    return ports


def _client_ports(pid: int, ports: dict[int, int]) -> set[int]:
    """The local TCP ports of the sockets a process holds open."""
    found: set[int] = set()
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return found
    for descriptor in descriptors:
        try:
            target = os.readlink(descriptor)
        except OSError:
            continue
        if target.startswith("socket:["):
            port = ports.get(int(target[8:-1]))
            if port is not None:
                found.add(port)
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_by_group(groups: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    return {name: {pid: process_cpu_seconds(pid) for pid in pids} for name, pids in groups.items()}


@dataclass
class Run:
    """One wrk run against one server: what wrk counted and the CPU the server side used meanwhile."""

    phase: str
    target: str
    round: int
    seconds: float
    statuses: Counter[int]
    socket_errors: int
    exhausted: int
    p50_us: float
    p99_us: float
    cpu: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # cores busy on the whole machine over the run (wrk included)
    # Rows read by sequential scans over the run, by table (pg_stat_user_tables, flushed about each second)
    rows_scanned: dict[str, int] = field(default_factory=dict)
    wal_bytes: int = 0  # WAL written over the run, by everyone on the server
    wal_images: int = 0  # of which full-page images, counted

    @property
    def ok(self) -> int:
        return sum(count for status, count in self.statuses.items() if 200 <= status < 300)

    @property
    def errors(self) -> int:
        return sum(self.statuses.values()) - self.ok + self.socket_errors

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def ms_per_request(self, group: str | None = None) -> float:
        """Server CPU milliseconds per 2xx answer: of one group, or of all of them."""
        used = self.cpu.get(group, 0.0) if group else sum(self.cpu.values())
        return 1000 * used / self.ok if self.ok else 0.0


_ESSC_LINE = re.compile(r"^ESSC (.*)$", re.MULTILINE)


def run_wrk(
    server: Server,
    database: str,
    requests: Path,
    mode: str,
    seconds: float,
    args: argparse.Namespace,
    perf_output: Path | None = None,
) -> Run:
    """wrk with the Lua script over a request file; CPU of the server side sampled around it."""
    command = [
        args.wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        server.base_url,
        "--",
        str(requests),
        mode,
        str(args.threads),
    ]
    groups = server_side(server, database)
    before = cpu_by_group(groups)
    profiler = None
    if perf_output is not None and groups["db"]:
        # Samples of the server's workers' backends only: where the database's share of a request goes.
        pids = ",".join(str(pid) for pid in groups["db"])
        profile = [
            "perf",
            "record",
            "-q",
            "-e",
            "cpu-clock",
            "-F",
            "1000",
            "-g",
            "-p",
            pids,
            "-o",
            str(perf_output),
        ]
        profiler = subprocess.Popen(profile, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    machine_before = CpuSample.now()
    environment = {**os.environ, "ESSC_WRK_PAUSE_MS": f"{args.pause_ms:g}"}
    finished = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    machine_after = CpuSample.now()
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait()
    after = cpu_by_group(server_side(server, database))
    if finished.returncode != 0 or "ESSC requests" not in finished.stdout:
        raise SystemExit(f"wrk failed ({finished.returncode}): {finished.stdout}\n{finished.stderr}")
    statuses: Counter[int] = Counter()
    totals: dict[str, int] = {}
    for line in _ESSC_LINE.findall(finished.stdout):
        words = line.split()
        if words[0] == "status":
            statuses[int(words[1])] += int(words[2])
        else:
            totals = {words[i]: int(words[i + 1]) for i in range(0, len(words), 2)}
    cpu = {
        # A process born during the run counts from its start; one gone by its end is not counted.
        group: sum(used - before.get(group, {}).get(pid, 0.0) for pid, used in pids.items())
        for group, pids in after.items()
    }
    return Run(
        "",
        server.name,
        0,
        totals["duration_us"] / 1e6,
        statuses,
        totals["connect"] + totals["read"] + totals["write"] + totals["timeout"],
        totals["exhausted"],
        totals["p50_us"],
        totals["p99_us"],
        cpu,
        (machine_after.machine_busy - machine_before.machine_busy) / (totals["duration_us"] / 1e6),
    )


# --- the phases ------------------------------------------------------------------------------------------


class Bench:
    """Runs the phases round after round, platform and floor alternating, and keeps every run."""

    def __init__(
        self,
        servers: dict[str, Server],
        requests: Requests,
        database: str,
        folder: Path,
        args: argparse.Namespace,
    ) -> None:
        self.servers = servers
        self.requests = requests
        self.database = database
        self.folder = folder
        self.args = args
        self.runs: list[Run] = []
        self.expected: dict[tuple[str, str], float] = {}  # requests/s seen, to size single-use request files
        self.requests.ecard_reads(folder / "ecard-open.txt")
        (folder / "healthz.txt").write_text(request_line("GET", "/healthz", b"", {}) + "\n")

    def _single_use(self, phase: str, target: str, count: int, path: Path) -> None:
        if phase == "resolve":
            self.requests.resolutions(count, path, AUDIT_OFF_HEADER if target == UNAUDITED else None)
        else:
            self.requests.issuances_file(count, path)

    def _count(self, phase: str, target: str, seconds: float) -> int:
        # Never fewer than the first guess: a cold warm-up underestimates what the measured run will take.
        rate = max(self.expected.get((phase, target), 0.0) * self.args.margin, FIRST_GUESS[phase])
        return int(rate * seconds) + 100

    def run(self, phase: str, target: str, number: int) -> Run:
        """Warm-up then the measured run; single-use requests are made just before each, never reused."""
        # The twin serves the platform's side of the unauthenticated read; the unaudited side of a resolution
        # is the platform's server, asked to switch its audit log off.
        served_by = PLATFORM if target == UNAUDITED else target
        server = self.servers[TWIN if (phase, served_by) == ("ecard-open", PLATFORM) else served_by]
        single_use = phase in FIRST_GUESS
        mode = "once" if single_use else "cycle"
        runs = []
        for seconds in (self.args.warmup, self.args.duration):
            if seconds <= 0:
                continue
            path = self.folder / f"{phase}-{target}.txt"
            if single_use:
                self._single_use(phase, target, self._count(phase, target, seconds), path)
            else:
                path = self.folder / f"{phase}.txt"
            scanned_before, wal_before, images_before = self.requests.counters()
            profile = None
            if self.args.perf and seconds == self.args.duration:
                profile = Path(f"{self.args.perf}.{phase}.{target}.{number}")
            done = run_wrk(server, self.database, path, mode, seconds, self.args, profile)
            scanned, wal_after, images_after = self.requests.counters()
            done.rows_scanned = {
                table: count - scanned_before.get(table, 0)
                for table, count in scanned.items()
                if count > scanned_before.get(table, 0)
            }
            done.wal_bytes, done.wal_images = wal_after - wal_before, images_after - images_before
            runs.append(done)
            if single_use:
                # Ran out: the rate is at least what was sent, so the next file is sized for twice that.
                seen = done.rate * (2 if done.exhausted else 1)
                self.expected[(phase, target)] = max(self.expected.get((phase, target), 0.0), seen)
        measured = runs[-1]
        measured.phase, measured.target, measured.round = phase, target, number
        self.runs.append(measured)
        return measured

    def all_rounds(self) -> None:
        for number in range(1, self.args.rounds + 1):
            for phase in self.args.phases:
                floored = phase in FLOORED and not self.args.without_floor
                targets = [PLATFORM, FLOOR] if floored else [PLATFORM]
                if phase == "resolve" and self.args.audit_cost:
                    targets.insert(1, UNAUDITED)  # beside the platform, whichever side runs first
                if number % 2 == 0:
                    targets.reverse()  # alternate which side runs first
                for target in targets:
                    print(f"round {number}: {phase} on the {target} ...", file=sys.stderr)
                    done = self.run(phase, target, number)
                    print(f"  {row(done)}", file=sys.stderr)
                    scanned = ", ".join(
                        f"{table} {count / done.ok:.1f}"
                        for table, count in sorted(done.rows_scanned.items())
                        if done.ok and count / done.ok >= 1
                    )
                    if scanned:
                        print(f"    rows read by sequential scans per request: {scanned}", file=sys.stderr)


def row(run: Run) -> str:
    split = "/".join(f"{run.ms_per_request(g):.3f}" for g in SERVER_GROUPS)
    wal = f"{run.wal_bytes / run.ok:,.0f} B, {run.wal_images / run.ok:.2f} FPI" if run.ok else "-"
    return (
        f"{run.phase:11} {run.target:8} {run.round:>5} {run.ms_per_request():10.3f} {run.rate:9,.0f} "
        f"{run.p50_us / 1000:7.2f} {run.p99_us / 1000:7.2f} {run.errors:>6}  {split:20} "
        f"{run.machine_busy:.2f}  {wal}"
    )


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def median_interval(values: Sequence[float], confidence: float = 0.9) -> tuple[float, float, float]:
    """A distribution-free interval of the median (order statistics), and the coverage it actually has.

    Between the k-th smallest and the k-th largest value with the largest k whose coverage is at least
    `confidence`: each value falls below the median with probability one half, whatever the distribution.
    Too few values for that coverage: the smallest and the largest, with theirs.
    """
    ordered = sorted(values)
    n = len(ordered)

    def coverage(k: int) -> float:  # P(k-th smallest <= median <= k-th largest)
        return 1.0 - 2.0 * sum(math.comb(n, i) for i in range(k)) / float(2**n)

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= confidence:
        k += 1
    return ordered[k - 1], ordered[n - k], coverage(k)


def show_audit_cost(bench: Bench, args: argparse.Namespace) -> None:
    """What auditing adds to a resolution: the platform against itself with the audit log switched off."""
    pairs = []  # (platform, unaudited) of each round that ran both
    for number in range(1, args.rounds + 1):
        pair = {r.target: r for r in bench.runs if r.phase == "resolve" and r.round == number}
        if PLATFORM in pair and UNAUDITED in pair:
            pairs.append((pair[PLATFORM], pair[UNAUDITED]))
    if not pairs:
        return
    added = [platform.ms_per_request() - unaudited.ms_per_request() for platform, unaudited in pairs]
    value = _median(added)
    low, high, coverage = median_interval(added)
    # The rounds spread wider than the goal: the median alone would call a goal met by the noise's luck.
    if high <= AUDIT_APPEND_GOAL_MS:
        verdict = "met"
    elif low > AUDIT_APPEND_GOAL_MS:
        verdict = "NOT met"
    else:
        verdict = "not shown either way (more rounds)"
    sequencing = _median([platform.ms_per_request("jobs") for platform, _ in pairs])
    print(
        f"\n  audit on an online resolution, platform - platform with its audit log off (median of rounds):"
        f"\n    appended and sequenced {value:+.3f} ms/req ({coverage:.0%} interval of the median "
        f"{low:+.3f} to {high:+.3f}), of which the jobs process (sequencer) {sequencing:.3f}; "
        f"goal <= {AUDIT_APPEND_GOAL_MS} ms: {verdict}"
        f"\n    rounds: {', '.join(f'{v:+.3f}' for v in added)}"
    )
    wal = [
        platform.wal_bytes / platform.ok - unaudited.wal_bytes / unaudited.ok
        for platform, unaudited in pairs
        if platform.ok and unaudited.ok
    ]
    print(f"      WAL       {_median(wal):+,.0f} bytes/req  (rounds: {', '.join(f'{v:+,.0f}' for v in wal)})")
    for group in SERVER_GROUPS:
        differences = [
            platform.ms_per_request(group) - unaudited.ms_per_request(group) for platform, unaudited in pairs
        ]
        print(
            f"      {group:9} {_median(differences):+.3f} ms/req"
            f"  (rounds: {', '.join(f'{v:+.3f}' for v in differences)})"
        )


def show(bench: Bench, scene: Scene, version: str, args: argparse.Namespace) -> None:
    """Every run, then the ratios with their goals (median of rounds, and each round), then the setup."""
    print(
        f"\n== {version} + Redis; each server: "
        f"{' '.join(serve_command(args.server, 'APP', 'PORT', args.workers, factory=False, jobs=True))}"
    )
    print("== APP: platform essc.asgi:app, twin (platform side of ecard-open) auth_twin:build --factory,")
    print("== floor floor_app:build --factory")
    print(
        f"== wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, "
        f"after {args.warmup:g} s of warm-up =="
    )
    print(
        f"{'phase':11} {'target':8} {'round':>5} {'srv ms/req':>10} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'errors':>6}  app/jobs/db/db-jobs/db-other/redis ms/req  busy cores  WAL/req"
    )
    for phase in args.phases:
        for run in (r for r in bench.runs if r.phase == phase):
            print(row(run))
    print(
        "  srv ms/req: CPU (utime+stime, /proc) of the server's processes + the scratch database's PostgreSQL"
        "\n  backends + Redis over the wrk run, per 2xx answer; errors: non-2xx answers and socket errors"
    )
    for phase in args.phases:
        print(f"  {phase}: {PHASES[phase]}")
    problems = False
    for run in bench.runs:
        if run.errors:
            problems = True
            others = {s: c for s, c in run.statuses.items() if not 200 <= s < 300}
            print(
                f"  ERRORS in {run.phase} on the {run.target}, round {run.round}: statuses {others}, "
                f"socket errors {run.socket_errors}, requests run out {run.exhausted} (raise --margin)"
            )
    if not problems:
        print("  no errors in any run")

    print("\n  server CPU per request, platform / floor (median of rounds):")
    for phase in (p for p in args.phases if p in GOALS):
        label, goal = GOALS[phase]
        ratios = []
        for number in range(1, args.rounds + 1):
            pair = {r.target: r for r in bench.runs if r.phase == phase and r.round == number}
            if PLATFORM in pair and FLOOR in pair and pair[FLOOR].ms_per_request():
                ratios.append(pair[PLATFORM].ms_per_request() / pair[FLOOR].ms_per_request())
        if not ratios:
            continue
        value = _median(ratios)
        verdict = "met" if value <= goal else "NOT met"
        each = f"  (rounds: {', '.join(f'{v:.2f}' for v in ratios)})" if len(ratios) > 1 else ""
        print(f"    {label:44} {value:6.2f}  goal <= {goal:.1f}: {verdict}{each}")
    if args.audit_cost and "resolve" in args.phases:
        show_audit_cost(bench, args)
    print("\n  medians of rounds:   srv ms/req     req/s  p50 ms  p99 ms  errors")
    for phase in args.phases:
        for target in (PLATFORM, FLOOR, UNAUDITED):
            runs = [r for r in bench.runs if r.phase == phase and r.target == target]
            if runs:
                print(
                    f"    {phase:11} {target:8} {_median([r.ms_per_request() for r in runs]):10.3f} "
                    f"{_median([r.rate for r in runs]):9,.0f} "
                    f"{_median([r.p50_us for r in runs]) / 1000:7.2f} "
                    f"{_median([r.p99_us for r in runs]) / 1000:7.2f} {sum(r.errors for r in runs):>7}"
                )

    failed = sum(scene.issue_failures.values())
    issued = len(scene.sign_nos)
    print(
        f"\n  setup: {args.holders:,} holders loaded; {issued:,} e-cards issued in channel {CHANNEL_NO} "
        f"({issued / scene.issue_seconds:,.0f}/s signed, {failed} failed); institution {INSTITUTION} with "
        f"{len(scene.terminals)} terminals in MAC sessions (busiType {args.busi_type}: {args.disclosure}); "
        "resolutions use the terminals in turn"
    )


def run_backend(args: argparse.Namespace, folder: Path) -> None:
    """Prepare a database, start both servers on it, run the phases, stop the servers, drop the database."""
    with scratch_database("postgresql", scratch_name("qr"), folder, args.postgres_url) as url:
        keystore = folder / "keys"
        database = str(make_url(url).database)
        # Keys of this run only, in a nonce store declared new, as a first deployment does
        prefix = f"{database}:"
        settings = Settings(
            database_url=url, redis_url=args.redis_url, redis_key_prefix=prefix, keystore_path=keystore
        )
        suite = get_suite(settings.crypto_suite)
        print(f"loading {args.holders:,} holders through the importer ...", file=sys.stderr)
        keys, holder_file = load_parties(url, settings, args.holders, folder)
        version = server_version(url)
        env = {
            **os.environ,
            "ESSC_DATABASE_URL": url,
            "ESSC_REDIS_URL": args.redis_url,
            "ESSC_REDIS_KEY_PREFIX": prefix,
            "ESSC_KEYSTORE_PATH": str(keystore),
            "ESSC_CRYPTO_SUITE": settings.crypto_suite,
            "ESSC_RUN_DISPATCHER": "false",
            # The apps (auth_twin, floor_app) and uvicorn's nodelay protocol are imported from bench/.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")])),
        }
        servers: dict[str, Server] = {}
        requests: Requests | None = None
        with fresh_nonce_store(settings):
            try:
                for name, app in APPS.items():
                    served = AUDIT_SWITCH_APP if name == PLATFORM and args.audit_cost else app
                    servers[name] = start_server(name, args.server, args.workers, env, folder, served)
                print("registering terminals and issuing e-cards through the API ...", file=sys.stderr)
                records = issuable(holder_file, args.issue)
                scene = build_scene(servers[PLATFORM].base_url, suite, keys, records, args)
                if not scene.sign_nos:
                    raise SystemExit(f"no e-card could be issued: {dict(scene.issue_failures)}")
                if args.setup_sql:
                    engine = make_engine(url, isolation_level="AUTOCOMMIT")
                    with engine.connect() as connection:
                        for sql in args.setup_sql:
                            connection.execute(text(sql))
                    engine.dispose()
                analyze(url)
                requests = Requests(url, settings, scene, servers[PLATFORM].base_url, args)
                checked = check_floor(servers, requests, audit_switch=args.audit_cost)
                print(checked, file=sys.stderr)
                bench = Bench(servers, requests, database, folder, args)
                with AutoVacuum(url) as auto_vacuum:
                    bench.all_rounds()
            finally:
                if requests is not None:
                    requests.close()
                for server in servers.values():
                    server.stop()
        show(bench, scene, version, args)
        print(f"  {checked}")
        print(f"  autovacuum: {auto_vacuum.summary()}")


def main(argv: Sequence[str] | None = None) -> None:
    register_handlers()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server", choices=["essc", "granian"], default="essc", help="HTTP server: essc serve's, or granian"
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (each server)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured wrk seconds before each run")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of every phase, platform and floor alternating"
    )
    parser.add_argument(
        "--phases", nargs="+", choices=list(PHASES), default=list(PHASES), help="phases, in order"
    )
    parser.add_argument(
        "--holders", type=int, default=2_000, help="synthetic holders loaded; e-cards issued to normal cards"
    )
    parser.add_argument(
        "--issue",
        type=int,
        default=None,
        help="e-cards issued to the file's first N normal cards (default: every normal card)",
    )
    parser.add_argument("--terminals", type=int, default=8, help="terminals, each in its own MAC session")
    parser.add_argument(
        "--busi-type", default="01", choices=["01", "02", "03", "04"], help="busiType resolved"
    )
    parser.add_argument(
        "--disclosure",
        default="masked",
        choices=["presence", "masked"],
        help="what the terminals are granted",
    )
    parser.add_argument(
        "--margin", type=float, default=2.0, help="single-use requests prepared per expected request"
    )
    parser.add_argument(
        "--without-floor",
        action="store_true",
        help="run no phase on the floor (with --audit-cost: twice the rounds in the same time)",
    )
    parser.add_argument(
        "--pause-ms",
        type=float,
        default=0.0,
        help="each connection waits this long between an answer and its next request (0: saturate)",
    )
    parser.add_argument(
        "--setup-sql", action="append", default=[], help="SQL run before the rounds (experiments)"
    )
    parser.add_argument(
        "--perf",
        help="perf record the server's workers' database backends over each measured run, to PREFIX.phase...",
    )
    parser.add_argument(
        "--audit-cost",
        action="store_true",
        help="also resolve on the platform with its audit log off, and print what auditing adds",
    )
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk", help="the wrk binary")
    parser.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES_URL, help="server URL to create a scratch DB"
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("ESSC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args(argv)
    if args.duration + args.warmup > 40:
        parser.error("codes live 60 s: keep --warmup + --duration within 40 s")
    exit_cleanly_on_sigterm()
    folder = Path(tempfile.mkdtemp(prefix="essc-bench-qr-"))
    print(
        f"# bench_qr: wrk -t{args.threads} -c{args.connections}, {args.warmup:g} s warm-up then "
        f"{args.duration:g} s"
    )
    print(f"# measured per run, {args.rounds} round(s), platform and floor alternating; {args.server} with")
    print(f"# {args.workers} workers for each; {machine()}; wrk, the servers, PostgreSQL and Redis share")
    print("# this machine's CPUs, so the first figure is server CPU per request, not requests/s")
    try:
        run_backend(args, folder)
    finally:
        _print_server_tracebacks(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _print_server_tracebacks(folder: Path) -> None:
    """The last traceback of each server's log: a 5xx in a run is a defect to read, not only to count."""
    for log in sorted(folder.glob("*.log")):
        text = log.read_text(errors="replace")
        start = text.rfind("Traceback (most recent call last)")
        if start >= 0:
            excerpt = text[start:]
            if len(excerpt) > 6000:  # the innermost frames and the exception itself are at the end
                excerpt = excerpt[:1500] + "\n  ...\n" + excerpt[-4500:]
            print(f"\n  last traceback in the {log.stem} server's log:\n{excerpt}", file=sys.stderr)


if __name__ == "__main__":
    main()
