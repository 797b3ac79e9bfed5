"""Online QR resolution requests/s through uvicorn API workers, against /healthz on the same stack.

The scene is built through the API before any clock starts: holders loaded through the importer, their e-cards
issued in a channel, an institution of the province with one terminal per client process, each terminal in its
own MAC session. A resolution phase first has every client issue its own pool of one-time codes through the
channel (in a MAC session, payload only), then releases all clients together: warm-up, then the timed window.
Codes live at most 60 s, so each pool is sized from a short probe of the same load and spent within ~40 s.

The same run also prices request authentication (issue "Channel access"): the same endpoints with an SM2
signature per request (and a signed response) against MAC-session requests (and a MACed response).
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from _harness import (
    ClientResult,
    Exhausted,
    PhaseResult,
    api_workers,
    closed_loop,
    ms,
    run_phase,
    start_server,
    stop_server,
)
from essc.access import service as access
from essc.authorisations import service as authorisations
from essc.cardholders.importer import import_rows
from essc.cardholders.importfile import GoodRow, HolderRecord
from essc.cardholders.synthetic import synthetic_holders
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.db import make_engine
from essc.core.migrate import upgrade
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.core.uow import UnitOfWork
from essc.kit.crypto import get_suite
from essc.kit.crypto.base import CryptoSuite
from essc.shared.policy import Function
from essc.wiring import register_handlers
from essc_sdk import EsscClient, PlatformError
from scratch import (
    DEFAULT_POSTGRES_URL,
    AutoAnalyze,
    exit_cleanly_on_sigterm,
    machine,
    scratch_database,
    scratch_name,
    server_version,
)

PROVINCE = "44"
CHANNEL_NO = "4400000902"
INSTITUTION = "BENCHHOSPITAL01"
KEY_ID = "bench-1"
MODES: dict[str, str] = {
    "healthz": "GET /healthz, plain httpx (no signature, no MAC): the bare endpoint = baseline",
    "qr-resolve": "POST /v1/qr/resolutions by a terminal in a MAC session, SDK as is (Idempotency-Key sent)",
    "qr-resolve-nokey": "the same without an Idempotency-Key (the header is optional): prices the key's cost",
    "qr-resolve-signed": "POST /v1/qr/resolutions by a terminal, SM2-signed request and response (+ key)",
    "ecard-signed": "GET /v1/ecards/{signNo} by the channel, SM2-signed request and SM2-signed response",
    "ecard-session": "GET /v1/ecards/{signNo} by the channel in a MAC session (HMAC-SM3 both ways)",
    "ecard-open": "GET /v1/ecards/{signNo} on the unauthenticated twin (bench/auth_twin.py): no auth at all",
    "issue-signed": "POST /v1/ecards/issuance (re-issue) SM2-signed, personal fields in an envelope (+ key)",
    "issue-session": "POST /v1/ecards/issuance (re-issue) in a MAC session, fields in an envelope (+ key)",
    "issue-open": "POST /v1/ecards/issuance (re-issue) on the twin: no auth, no envelope, clear fields",
}
OPEN_MODES = ("ecard-open", "issue-open")
BENCH_CALLER_HEADER = "x-essc-bench-caller"  # as bench/auth_twin.py reads it
TWIN_APP = ("auth_twin:build", "--factory")
ISSUE_MODES = ("issue-signed", "issue-session", "issue-open")
BENCH_DIR = Path(__file__).resolve().parent
VARIANTS = {
    "as-is": "(as documented)",
    "nodelay": "--http nodelay:NoDelayH11Protocol (TCP_NODELAY workaround for uvicorn#3149)",
}
VARIANT_ARGS: dict[str, tuple[str, ...]] = {
    "as-is": (),
    "nodelay": ("--http", "nodelay:NoDelayH11Protocol"),
}
QR_MODES = ("qr-resolve", "qr-resolve-nokey", "qr-resolve-signed")
SESSION_MODES = ("qr-resolve", "qr-resolve-nokey", "ecard-session", "issue-session")


@dataclass(frozen=True, slots=True)
class QrJob:
    """What one client process does in one phase."""

    index: int
    mode: str
    base_url: str
    suite: str
    warmup: float
    duration: float
    channel_key_pem: bytes
    terminal_no: str
    terminal_key_pem: bytes
    sign_nos: tuple[str, ...]
    holders: tuple[dict[str, str], ...]  # issuance bodies (without attestation) of this client's e-cards
    codes: int
    busi_type: str
    disclosure: str
    reconnect_seconds: float  # how long a connection serves in the loop (0: one connection throughout)


def _client(http: httpx.Client, suite: CryptoSuite, caller: str, key_pem: bytes) -> EsscClient:
    return EsscClient(http, suite, caller=caller, key_id=KEY_ID, private_key=suite.load_private_key(key_pem))


def post_without_key(client: EsscClient, path: str, body: object) -> Any:
    """A signed (or MACed) POST without an Idempotency-Key, its answer verified like EsscClient.call does."""
    nonce = secrets.token_urlsafe(18)
    response = client.raw("POST", path, body, nonce=nonce)
    client.verify_response(response, nonce)
    if response.status_code >= 400:
        raise PlatformError(response.status_code, response.json())
    return response.json()


STALE_CODE_SECONDS = 55.0  # a pooled code this old is skipped: it could expire (60 s) before it is resolved


def _issue_pool(job: QrJob, issuer: EsscClient, result: ClientResult) -> list[tuple[float, str]]:
    """This client's one-time codes with when each was issued, through the channel in a MAC session."""
    codes: list[tuple[float, str]] = []
    result.notes["first_code_at"] = perf_counter()
    for number in range(job.codes):
        sign_no = job.sign_nos[number % len(job.sign_nos)]
        try:
            # Untimed setup: no Idempotency-Key, so the pool is issued fast enough for the codes' 60 s.
            answer = post_without_key(issuer, f"/v1/ecards/{sign_no}/qr-codes", {"images": []})
            codes.append((perf_counter(), str(answer["code"])))
        except Exception as exc:  # counted and shown; the pool is just smaller
            result.counters[f"code not issued: {type(exc).__name__} {exc}"[:120]] += 1
    result.counters["codes issued"] += len(codes)
    return codes


def _fresh_code(pool: Iterator[tuple[float, str]], result: ClientResult) -> str:
    """The next pooled code young enough to resolve; older ones are skipped and counted, not sent."""
    for issued_at, code in pool:
        if perf_counter() - issued_at < STALE_CODE_SECONDS:
            return code
        result.counters["stale codes skipped"] += 1
    raise Exhausted


def run_client(job: QrJob, barriers: list[Barrier], results: Queue[ClientResult]) -> None:
    """One closed-loop client of one phase; a failure in its setup breaks the barriers so the run stops."""
    try:
        _run_client(job, barriers, results)
    except BaseException:
        for barrier in barriers:
            barrier.abort()
        raise


def _run_client(job: QrJob, barriers: list[Barrier], results: Queue[ClientResult]) -> None:
    """One closed-loop client of one phase, with its own terminal and its own sessions."""
    suite = get_suite(job.suite)
    http = httpx.Client(base_url=job.base_url, timeout=60.0)
    channel = _client(http, suite, f"channel/{CHANNEL_NO}", job.channel_key_pem)
    channel.fetch_platform_keys()
    terminal = _client(http, suite, f"terminal/{job.terminal_no}", job.terminal_key_pem)
    terminal.platform_keys = channel.platform_keys
    issuer = _client(http, suite, f"channel/{CHANNEL_NO}", job.channel_key_pem)
    issuer.platform_keys = channel.platform_keys
    if job.mode in SESSION_MODES and job.mode.startswith("qr-"):
        terminal.open_session()
    if job.mode in ("ecard-session", "issue-session"):
        channel.open_session()
    if job.mode in QR_MODES:
        issuer.open_session()
    channel_label = f"channel/{CHANNEL_NO}"
    result = ClientResult(job.index)
    barriers[0].wait()
    pool = iter(_issue_pool(job, issuer, result) if job.mode in QR_MODES else [])
    sent = 0
    connected_at = perf_counter()

    def step() -> str | None:
        nonlocal sent, connected_at
        sent += 1
        if job.reconnect_seconds and perf_counter() - connected_at >= job.reconnect_seconds:
            connected_at = perf_counter()
            # This request asks the server to close the connection after answering; the next one opens a
            # new connection, which goes to whichever worker is free first, as a fleet of terminals' would.
            http.headers["connection"] = "close"
        try:
            return request()
        finally:
            http.headers.pop("connection", None)

    def request() -> str | None:
        if job.mode == "healthz":
            response = http.get("/healthz")
            return None if response.status_code == 200 else f"HTTP {response.status_code}"
        if job.mode in QR_MODES:
            code = _fresh_code(pool, result)
            body = {"code": code, "busiType": job.busi_type}
            if job.mode == "qr-resolve-nokey":
                answer = post_without_key(terminal, "/v1/qr/resolutions", body)
            else:
                answer = terminal.post("/v1/qr/resolutions", body)
            if answer.get("usable") is not True or answer.get("disclosure") != job.disclosure:
                return "unexpected resolution"
            return None
        if job.mode in ISSUE_MODES:
            number = sent % len(job.holders)
            body = {**job.holders[number], "attestation": _attestation(f"bench-{job.index}-{sent}")}
            if job.mode == "issue-open":
                response = http.post(
                    "/open/v1/ecards/issuance", json=body, headers={BENCH_CALLER_HEADER: channel_label}
                )
                answer = response.json() if response.status_code == 200 else {}
            else:
                answer = channel.post("/v1/ecards/issuance", body)
            return None if answer.get("signNo") == job.sign_nos[number] else "unexpected issuance answer"
        sign_no = job.sign_nos[sent % len(job.sign_nos)]
        if job.mode == "ecard-open":
            response = http.get(f"/open/v1/ecards/{sign_no}", headers={BENCH_CALLER_HEADER: channel_label})
            view = response.json() if response.status_code == 200 else {}
        else:
            view = channel.get(f"/v1/ecards/{sign_no}")
        return None if view.get("signNo") == sign_no else "unexpected e-card view"

    for barrier in barriers[1:]:
        barrier.wait()
    closed_loop(result, job.warmup, job.duration, step)
    if "first_code_at" in result.notes:
        result.notes["oldest_code_age"] = perf_counter() - result.notes.pop("first_code_at")
    http.close()
    results.put(result)


@dataclass(frozen=True, slots=True)
class Scene:
    """What the setup made: keys, terminals, issued e-cards, and how long it took."""

    channel_key_pem: bytes
    terminals: list[tuple[str, bytes]]
    sign_nos: list[str]
    holders: list[dict[str, str]]  # the issuance body (without attestation) of each e-card, as sign_nos
    issue_seconds: float
    issue_failures: Counter[str]


def load_parties(url: str, settings: Settings, holders: int) -> tuple[bytes, bytes]:
    """Migrate, load holders through the importer, register the channel and province 44's card system."""
    upgrade(url)
    platform = build_platform(settings)
    try:
        rows = (GoodRow(i + 2, r) for i, r in enumerate(synthetic_holders(PROVINCE, holders)))
        report = import_rows(platform, PROVINCE, rows, Actor.operator("bench"))
        if report.bad_rows or report.persons_added != holders:
            raise SystemExit(f"loading the holders went wrong: {report}")
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
        return channel_key.to_pem(), province_key.to_pem()
    finally:
        platform.close()


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


def _issue_body(record: HolderRecord, reference: str) -> dict[str, object]:
    return {**_holder_fields(record), "attestation": _attestation(reference)}


def build_scene(
    base_url: str, suite: CryptoSuite, keys: tuple[bytes, bytes], args: argparse.Namespace
) -> Scene:
    """Through the API: an institution and one terminal per client, then e-cards for every normal card."""
    channel_pem, province_pem = keys
    with httpx.Client(base_url=base_url, timeout=60.0) as http:
        province = _client(http, suite, f"province/{PROVINCE}", province_pem)
        province.fetch_platform_keys()
        province.post(
            f"/v1/provinces/{PROVINCE}/institutions",
            {"code": INSTITUTION, "name": "Bench People's Hospital", "kind": "hospital"},
        )
        terminals = []
        for number in range(args.clients):
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
            terminals.append((terminal_no, key.to_pem()))

    records = [r for r in synthetic_holders(PROVINCE, args.holders) if r.card_status == "normal"]
    failures: Counter[str] = Counter()

    def issue_share(share: int) -> list[tuple[str, dict[str, str]]]:
        with httpx.Client(base_url=base_url, timeout=60.0) as http:
            channel = _client(http, suite, f"channel/{CHANNEL_NO}", channel_pem)
            channel.fetch_platform_keys()
            issued = []
            for number, record in enumerate(records[share :: args.clients]):
                try:
                    answer = channel.post(
                        "/v1/ecards/issuance", _issue_body(record, f"bench-{share}-{number}")
                    )
                    issued.append((str(answer["signNo"]), _holder_fields(record)))
                except Exception as exc:
                    failures[f"{type(exc).__name__} {exc}"[:120]] += 1
            return issued

    began = perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        issued = [pair for share in pool.map(issue_share, range(args.clients)) for pair in share]
    seconds = perf_counter() - began
    return Scene(channel_pem, terminals, [s for s, _ in issued], [h for _, h in issued], seconds, failures)


def database_processes(database: str) -> Callable[[], dict[str, list[int]]]:
    """The PostgreSQL backends serving our scratch database, and Redis, found by their command lines."""
    backend = f" {database} ".encode()

    def groups() -> dict[str, list[int]]:
        found: dict[str, list[int]] = {"db": [], "redis": []}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if command.startswith(b"postgres: ") and backend in command:
                found["db"].append(int(entry.name))
            elif command.startswith(b"redis-server"):
                found["redis"].append(int(entry.name))
        return found

    return groups


def analyze(url: str) -> None:
    """Statistics for the tables the setup filled, as autovacuum would have gathered by now."""
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()


class Profiler:
    """py-spy on one API worker for the timed window of one phase; collapsed stacks to a file."""

    def __init__(self, output: Path, seconds: float, rate: int) -> None:
        found = shutil.which("py-spy")
        if found is None:
            raise SystemExit(
                "--profile needs py-spy: uv run --with py-spy python bench/bench_qr.py --profile ..."
            )
        self.py_spy = found
        self.output = output
        self.seconds = seconds
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, pid: int) -> None:
        command = [
            self.py_spy,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(self.seconds))),
            "--rate",
            str(self.rate),
            "--format",
            "raw",
            "--nolineno",
            "--gil",  # only the thread holding the GIL: where the worker's Python CPU goes
            "--nonblocking",  # do not pause the worker to sample it
            "--output",
            str(self.output),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def finish(self) -> None:
        if self.process is not None:
            _, errors = self.process.communicate(timeout=self.seconds + 60)
            if self.process.returncode != 0:
                print(f"py-spy failed: {errors.decode(errors='replace')[-500:]}", file=sys.stderr)


def _path(frame: str) -> str:
    """The file of a py-spy frame 'function (path)', relative to its package root."""
    path = frame.rsplit("(", 1)[-1].rstrip(")")
    for marker in ("site-packages/", "/src/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _area(frame: str) -> str:
    """The package (for essc: the package and module) a py-spy frame belongs to."""
    parts = _path(frame).split("/")
    if parts[0] in ("essc", "essc_sdk") and len(parts) > 1:
        return "/".join(parts[:2]).removesuffix(".py")
    return parts[0].removesuffix(".py")


def summarise_profile(path: Path, top: int = 18) -> None:
    """Self time by package and by function, and inclusive time of the platform's own functions."""
    stacks: list[tuple[list[str], int]] = []
    for line in path.read_text(errors="replace").splitlines():
        stack, _, samples = line.rpartition(" ")
        if stack and samples.isdigit():
            stacks.append((stack.split(";"), int(samples)))
    total = sum(count for _, count in stacks)
    if not total:
        print("  (no samples)")
        return
    by_area: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks:
        if frames:
            by_area[_area(frames[-1])] += count
            by_leaf[frames[-1]] += count
        for frame in set(frames):
            if _path(frame).startswith(("essc/", "essc_sdk/")):
                inclusive[frame] += count

    def show(title: str, counts: Counter[str]) -> None:
        print(f"  {title}")
        for name, count in counts.most_common(top):
            print(f"    {100 * count / total:5.1f}%  {name}")

    print(f"  {total:,} samples of the thread holding one worker's GIL (py-spy --gil)")
    show("self time by package:", by_area)
    show("self time by function:", by_leaf)
    show("inclusive time of essc functions:", inclusive)


def _pool_size(rate: float, args: argparse.Namespace) -> int:
    """Codes per client for one phase: the probed rate over warm-up and window, with a margin."""
    seconds = float(args.warmup + args.duration)
    return math.ceil(rate * seconds * float(args.pool_margin) / int(args.clients)) + 20


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def show(
    backend: str, variant: str, phases: list[PhaseResult], scene: Scene, args: argparse.Namespace
) -> None:
    """The table, then the ratios (per round, median when several), then the setup figures."""
    served = " ".join(TWIN_APP) if any(m in OPEN_MODES for m in args.modes) else "essc.asgi:app"
    server = f"uvicorn {served} --workers {args.workers} {VARIANTS[variant]}"
    print(f"\n== {backend} + Redis nonces; {server} ==")
    header = f"{'load':18} {'round':>5} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'srv ms':>6}"
    print(f"{header}  CPU core-s/s over the window")
    for mode in args.modes:
        for number, phase in enumerate((p for p in phases if p.mode == mode), start=1):
            lat = phase.latencies
            errors = sum(phase.errors.values())
            row = (
                f"{mode:18} {number:>5} {phase.rate:8,.1f} {ms(lat, 0.5):>7} {ms(lat, 0.99):>7} {errors:>6} "
                f"{phase.server_ms_per_request():6.2f}"
            )
            print(f"{row}  {phase.cpu()}")
    print(
        "  srv ms = CPU ms per request of the API workers + this database's PostgreSQL backends + Redis;"
        " 'other'\n  is everything else on the machine (PostgreSQL's WAL writer, other tenants)"
    )
    for mode in args.modes:
        print(f"  {mode}: {MODES[mode]}")
    problems = False
    for phase in phases:
        if phase.errors:
            problems = True
            print(f"  ERRORS in {phase.mode}: {dict(phase.errors.most_common(5))}")
        if phase.exhausted:
            problems = True
            print(
                f"  WARNING: a {phase.mode} client ran out of codes before its window ended: "
                "raise --pool-margin"
            )
    if not problems:
        print("  no errors in any phase; no client ran out of codes")

    rounds: list[dict[str, float]] = [{} for _ in range(args.rounds)]
    costs: list[dict[str, float]] = [{} for _ in range(args.rounds)]
    seen: Counter[str] = Counter()
    for phase in phases:
        rounds[seen[phase.mode]][phase.mode] = phase.rate
        # Requests per server CPU-second: what the rate would be if the server alone had one core.
        cost = phase.server_ms_per_request()
        costs[seen[phase.mode]][phase.mode] = 1000 / cost if cost else 0.0
        seen[phase.mode] += 1

    def ratio(top: str, bottom: str, table: list[dict[str, float]]) -> tuple[float, str] | None:
        values = [r[top] / r[bottom] for r in table if r.get(top) and r.get(bottom)]
        if not values:
            return None
        each = f" (rounds: {', '.join(f'{v:.3f}' for v in values)})" if len(values) > 1 else ""
        return _median(values), each

    print("\n  ratios (same server, same clients, same run); requests/s, then server CPU per request:")
    lines = [
        ("qr-resolve", "healthz", "online QR resolution (MAC session) / bare endpoint"),
        ("qr-resolve-signed", "healthz", "online QR resolution (SM2-signed) / bare endpoint"),
        ("ecard-session", "healthz", "GET e-card (MAC session) / bare endpoint"),
        ("ecard-signed", "healthz", "GET e-card (SM2-signed) / bare endpoint"),
        ("qr-resolve-nokey", "healthz", "online QR resolution (session, no Idempotency-Key) / bare"),
        ("qr-resolve", "qr-resolve-signed", "QR resolution: MAC session / SM2-signed per request"),
        ("qr-resolve", "qr-resolve-nokey", "QR resolution: with Idempotency-Key / without"),
        ("ecard-session", "ecard-signed", "channel GET e-card: MAC session / SM2-signed per request"),
        ("ecard-signed", "ecard-open", "request auth, GET e-card: SM2-signed / no auth (twin)"),
        ("ecard-session", "ecard-open", "request auth, GET e-card: MAC session / no auth (twin)"),
        ("issue-signed", "issue-open", "auth + envelope, issuance: SM2-signed / no auth, clear (twin)"),
        ("issue-session", "issue-open", "auth + envelope, issuance: MAC session / no auth, clear (twin)"),
    ]
    for top, bottom, label in lines:
        found = ratio(top, bottom, rounds)
        by_cpu = ratio(top, bottom, costs)
        if found is None or by_cpu is None:
            continue
        value, each = found
        goal = ""
        if (top, bottom) == ("qr-resolve", "healthz"):
            goal = f"  goal >= 0.25: {'met' if value >= 0.25 else 'NOT met'}"
        print(f"    {label:58} {value:6.3f}  by CPU {by_cpu[0]:6.3f}{goal}{each}")

    failed = sum(scene.issue_failures.values())
    issued = len(scene.sign_nos)
    print(
        f"\n  setup: {args.holders:,} holders loaded; {issued:,} e-cards issued in channel {CHANNEL_NO} "
        f"({issued / scene.issue_seconds:,.0f}/s signed, {args.clients} threads, {failed} failed); "
        f"institution {INSTITUTION} with {len(scene.terminals)} terminals (busiType {args.busi_type}: "
        f"{args.disclosure}), one per client process, each in its own MAC session"
    )
    for phase in phases:
        if phase.mode not in QR_MODES:
            continue
        codes = phase.counters["codes issued"]
        seconds = phase.stage_seconds[0] if phase.stage_seconds else 0.0
        age = max(c.notes.get("oldest_code_age", 0.0) for c in phase.clients)
        rate = f"{codes / seconds:,.0f}" if seconds else "-"
        print(
            f"  {phase.mode}: {codes:,} codes pre-issued in {seconds:.1f} s ({rate} codes/s, "
            f"{args.clients} clients, channel MAC session, payload only); oldest code {age:.0f} s old "
            "at window end (codes live 60 s)"
        )
        for label, count in phase.counters.items():
            if label.startswith(("code not issued", "stale codes")):
                print(f"    {count} x {label}")


def run_backend(args: argparse.Namespace, folder: Path) -> None:
    """Prepare a database, start the server on it, drive each phase, stop the server, drop the database."""
    with scratch_database("postgresql", scratch_name("qr"), folder, args.postgres_url) as url:
        keystore = folder / "keys"
        settings = Settings(database_url=url, redis_url=args.redis_url, keystore_path=keystore)
        suite = get_suite(settings.crypto_suite)
        print(f"loading {args.holders:,} holders through the importer ...", file=sys.stderr)
        keys = load_parties(url, settings, args.holders)
        version = server_version(url)
        env = {
            **os.environ,
            "ESSC_DATABASE_URL": url,
            "ESSC_REDIS_URL": args.redis_url,
            "ESSC_KEYSTORE_PATH": str(keystore),
            "ESSC_CRYPTO_SUITE": settings.crypto_suite,
            "ESSC_RUN_DISPATCHER": "false",
            # Lets the workers import the nodelay variant's protocol class from bench/.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")])),
        }
        scene: Scene | None = None
        groups = database_processes(str(make_url(url).database))
        for variant in args.variants:
            served = TWIN_APP if any(m in OPEN_MODES for m in args.modes) else ("essc.asgi:app",)
            server, base_url = start_server(
                env, args.workers, folder, extra_args=VARIANT_ARGS[variant], app=served
            )
            try:
                if scene is None:
                    print("registering terminals and issuing e-cards through the API ...", file=sys.stderr)
                    scene = build_scene(base_url, suite, keys, args)
                    if not scene.sign_nos:
                        raise SystemExit(f"no e-card could be issued: {dict(scene.issue_failures)}")
                    analyze(url)
                print(f"[{variant}] uvicorn --workers {args.workers} {VARIANTS[variant]}", file=sys.stderr)
                with AutoAnalyze(url) as auto_analyze:
                    phases = drive(args, base_url, server.pid, scene, settings.crypto_suite, variant, groups)
            finally:
                stop_server(server)
            show(f"PostgreSQL ({version})", variant, phases, scene, args)
            print(f"  statistics: {auto_analyze.summary()}")
            sys.stdout.flush()


def _profiled_variant(args: argparse.Namespace) -> str:
    return "nodelay" if "nodelay" in args.variants else str(args.variants[-1])


def drive(
    args: argparse.Namespace,
    base_url: str,
    server_pid: int,
    scene: Scene,
    suite: str,
    variant: str,
    groups: Callable[[], dict[str, list[int]]],
) -> list[PhaseResult]:
    """Probe each QR mode to size its code pools, then run the phases round after round."""
    template = QrJob(
        0,
        "healthz",
        base_url,
        suite,
        args.warmup,
        args.duration,
        scene.channel_key_pem,
        "",
        b"",
        (),
        (),
        0,
        args.busi_type,
        args.disclosure,
        args.reconnect_seconds,
    )

    def jobs_of(mode: str, codes: int, warmup: float, duration: float) -> list[QrJob]:
        return [
            replace(
                template,
                index=i,
                mode=mode,
                terminal_no=scene.terminals[i][0],
                terminal_key_pem=scene.terminals[i][1],
                sign_nos=tuple(scene.sign_nos[i :: args.clients]),
                holders=tuple(scene.holders[i :: args.clients]),
                codes=codes,
                warmup=warmup,
                duration=duration,
            )
            for i in range(args.clients)
        ]

    expected: dict[str, float] = {}
    for mode in (m for m in QR_MODES if m in args.modes):
        print(f"probing {mode} to size the code pools ...", file=sys.stderr)
        probe = run_phase(
            mode,
            run_client,
            jobs_of(mode, args.probe_codes, 0.5, 2.5),
            server_pid,
            warmup=0.5,
            duration=2.5,
            stages=2,
        )
        expected[mode] = probe.sustainable_rate
        print(f"  {mode}: about {expected[mode]:,.0f}/s", file=sys.stderr)

    phases: list[PhaseResult] = []
    profile_round = args.rounds if args.profile and variant == _profiled_variant(args) else 0
    for number in range(1, args.rounds + 1):
        for mode in args.modes:
            codes = _pool_size(expected[mode], args) if mode in QR_MODES else 0
            note = f", {codes * args.clients:,} codes" if codes else ""
            print(
                f"round {number}: {mode}, {args.clients} clients, {args.duration:g} s{note} ...",
                file=sys.stderr,
            )
            profiler: Profiler | None = None
            on_window: Callable[[], None] | None = None
            if number == profile_round and mode == "qr-resolve":
                profiler = Profiler(Path(args.profile), args.duration, args.profile_rate)
                worker = api_workers(server_pid)[0]
                on_window = lambda p=profiler, w=worker: p.start(w)  # noqa: E731
            phase = run_phase(
                mode,
                run_client,
                jobs_of(mode, codes, args.warmup, args.duration),
                server_pid,
                warmup=args.warmup,
                duration=args.duration,
                stages=2,
                on_window=on_window,
                pid_groups=groups,
            )
            if profiler is not None:
                profiler.finish()
            if mode in QR_MODES:
                expected[mode] = max(expected[mode], phase.sustainable_rate)
            phases.append(phase)
    return phases


def main(argv: Sequence[str] | None = None) -> None:
    register_handlers()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn API worker processes")
    parser.add_argument(
        "--clients",
        type=int,
        default=4,
        help="client processes (one terminal each), one request in flight each",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="timed seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="untimed seconds before each window")
    parser.add_argument("--rounds", type=int, default=1, help="run every phase this many times, interleaved")
    parser.add_argument(
        "--holders",
        type=int,
        default=2_000,
        help="synthetic holders loaded; e-cards issued to those whose card is normal",
    )
    parser.add_argument(
        "--busi-type", default="01", choices=["01", "02", "03", "04"], help="busiType resolved"
    )
    parser.add_argument(
        "--disclosure",
        default="masked",
        choices=["presence", "masked", "clear"],
        help="what the terminals are granted",
    )
    parser.add_argument(
        "--reconnect-seconds",
        type=float,
        default=1.0,
        help="each client opens a new connection this often, the same in every phase (0: never); with one"
        " long-lived connection per client all of them can land on one worker (seen: api 0.00/0.90)",
    )
    parser.add_argument("--probe-codes", type=int, default=150, help="codes per client in the sizing probe")
    parser.add_argument(
        "--pool-margin", type=float, default=2.0, help="codes pre-issued per expected resolution"
    )
    parser.add_argument(
        "--modes", nargs="+", choices=list(MODES), default=list(MODES), help="phases, in order"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="py-spy one worker in the last qr-resolve window (of nodelay if run); perturbs that phase",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=["nodelay", "as-is"],
        help="server variants, each measured in full; 'as-is' keeps uvicorn's Nagle stalls (uvicorn#3149)",
    )
    parser.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES_URL, help="server URL to create a scratch DB"
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("ESSC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args(argv)
    if args.profile and "qr-resolve" not in args.modes:
        parser.error("--profile profiles the qr-resolve phase; keep it in --modes")
    exit_cleanly_on_sigterm()
    folder = Path(tempfile.mkdtemp(prefix="essc-bench-qr-"))
    print(f"# bench_qr: {args.clients} closed-loop client processes (keep-alive httpx, one request in flight")
    print(
        f"# each), {args.warmup:g} s warm-up, then {args.duration:g} s timed a phase, {args.rounds} round(s)"
    )
    print(f"# {machine()}")
    print(
        f"# the {args.clients} client processes, {args.workers} API workers, PostgreSQL and Redis all share"
    )
    print("# this machine's CPUs: each core-second a client spends signing or verifying is taken from the")
    print("# server. CPU column: core-seconds per second of the clients, the uvicorn workers and everything")
    print("# else (PostgreSQL, Redis, other tenants of this shared machine)")
    try:
        run_backend(args, folder)
        if args.profile:
            variant = _profiled_variant(args)
            print(f"\n  profile of one API worker, last qr-resolve window of {variant} ({args.profile}):")
            summarise_profile(Path(args.profile))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
