"""E-card issuance requests/s through uvicorn API workers, against /healthz on the same stack and clients."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from time import perf_counter
from typing import Literal

import httpx

from essc.cardholders.importer import import_rows
from essc.cardholders.importfile import GoodRow, HolderRecord
from essc.cardholders.synthetic import synthetic_holders
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.migrate import upgrade
from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.core.uow import UnitOfWork
from essc.kit.crypto import get_suite
from essc_sdk import EsscClient, PlatformError
from scratch import DEFAULT_POSTGRES_URL, CpuSample, machine, scratch_database, scratch_name, server_version

PROVINCE = "44"
CHANNEL_NO = "4400000901"
KEY_ID = "bench-1"
Mode = Literal["issuance", "healthz", "healthz-signed"]
MODES: dict[Mode, str] = {
    "issuance": "POST /v1/ecards/issuance (SDK: signed request, verified response)",
    "healthz": "GET /healthz (plain httpx, no signatures) = baseline",
    "healthz-signed": "GET /healthz via the SDK (request signed, response signed and verified)",
}


@dataclass(frozen=True, slots=True)
class ClientJob:
    """What one client process does in one phase."""

    index: int
    clients: int
    mode: Mode
    base_url: str
    holders: int
    warmup: float
    duration: float
    suite: str
    channel_key_pem: bytes


@dataclass(slots=True)
class ClientResult:
    """What one client process measured inside the timed window."""

    index: int
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    repeats: int = 0
    cpu_seconds: float = 0.0
    exhausted: bool = False


def _my_holders(job: ClientJob) -> Iterator[HolderRecord]:
    """This client's share of the loaded holders whose card allows issuance; no two clients share a person."""
    for number, record in enumerate(synthetic_holders(PROVINCE, job.holders)):
        if number % job.clients == job.index and record.card_status == "normal":
            yield record


def _issue_body(record: HolderRecord, reference: str) -> dict[str, object]:
    return {
        "aab301": record.aab301,
        "aac002": record.aac002,
        "aac003": record.aac003,
        "aaz500": record.aaz500,
        "attestation": {
            "method": "face",
            "provider": "bench-face",
            "reference": reference,
            "score": 95,
            "checkedAt": datetime.now(UTC).isoformat(),
        },
    }


def run_client(job: ClientJob, start: Barrier, results: Queue[ClientResult]) -> None:
    """One closed-loop client: one request at a time, counted only inside [warm-up end, window end)."""
    suite = get_suite(job.suite)
    http = httpx.Client(base_url=job.base_url, timeout=60.0)
    sdk = EsscClient(
        http,
        suite,
        caller=f"channel/{CHANNEL_NO}",
        key_id=KEY_ID,
        private_key=suite.load_private_key(job.channel_key_pem),
    )
    sdk.fetch_platform_keys()
    # Each person is issued once: the holder list is made before the clock starts.
    holders = iter(list(_my_holders(job)) if job.mode == "issuance" else [])
    result = ClientResult(job.index)
    start.wait()
    window_start = perf_counter() + job.warmup
    window_end = window_start + job.duration
    cpu_start: float | None = None
    sent = 0
    while (began := perf_counter()) < window_end:
        if cpu_start is None and began >= window_start:
            cpu_start = time.process_time()
        outcome = "ok"
        try:
            if job.mode == "issuance":
                record = next(holders, None)
                if record is None:
                    result.exhausted = True
                    break
                answer = sdk.post("/v1/ecards/issuance", _issue_body(record, f"bench-{job.index}-{sent}"))
                if answer.get("created") is not True:
                    result.repeats += 1
            elif job.mode == "healthz":
                response = http.get("/healthz")
                if response.status_code != 200:
                    outcome = f"HTTP {response.status_code}"
            else:
                sdk.get("/healthz")
        except PlatformError as exc:
            outcome = f"HTTP {exc.status} {exc.code}"
        except Exception as exc:  # every failure is counted, none may end the run
            outcome = type(exc).__name__
        sent += 1
        finished = perf_counter()
        if began >= window_start and finished < window_end:
            if outcome == "ok":
                result.latencies.append(finished - began)
            else:
                result.errors[outcome] += 1
    if cpu_start is not None:
        result.cpu_seconds = time.process_time() - cpu_start
    http.close()
    results.put(result)


def _proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


@dataclass
class PhaseResult:
    mode: Mode
    clients: list[ClientResult]
    duration: float
    server_cpu: float
    machine_busy: float
    machine_total: float

    @property
    def latencies(self) -> list[float]:
        return sorted(x for c in self.clients for x in c.latencies)

    @property
    def errors(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for c in self.clients:
            total.update(c.errors)
        return total

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.duration


def run_phase(job: ClientJob, server_pid: int) -> PhaseResult:
    """Start the client processes, release them together, and sample CPU use over the timed window."""
    context = get_context("spawn")
    start = context.Barrier(job.clients + 1)
    results: Queue[ClientResult] = context.Queue()
    processes = [
        context.Process(target=run_client, args=(_with_index(job, i), start, results), daemon=True)
        for i in range(job.clients)
    ]
    for process in processes:
        process.start()
    workers = _children(server_pid)
    start.wait(timeout=300)
    time.sleep(job.warmup)
    server_before = sum(_proc_cpu_seconds(pid) for pid in workers)
    before = CpuSample.now()
    time.sleep(job.duration)
    server_after = sum(_proc_cpu_seconds(pid) for pid in workers)
    after = CpuSample.now()
    collected = [results.get(timeout=job.duration + 300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    return PhaseResult(
        job.mode,
        sorted(collected, key=lambda c: c.index),
        job.duration,
        server_after - server_before,
        after.machine_busy - before.machine_busy,
        after.machine_total - before.machine_total,
    )


def _with_index(job: ClientJob, index: int) -> ClientJob:
    return ClientJob(
        index,
        job.clients,
        job.mode,
        job.base_url,
        job.holders,
        job.warmup,
        job.duration,
        job.suite,
        job.channel_key_pem,
    )


def prepare(url: str, settings: Settings, holders: int) -> bytes:
    """Migrate, load holders through the importer, register the bench channel; its private key PEM."""
    upgrade(url)
    platform = build_platform(settings)
    try:
        rows = (GoodRow(i + 2, r) for i, r in enumerate(synthetic_holders(PROVINCE, holders)))
        report = import_rows(platform, PROVINCE, rows, Actor.operator("bench"))
        if report.bad_rows or report.persons_added != holders:
            raise SystemExit(f"loading the holders went wrong: {report}")
        key = platform.suite.generate_private_key()
        with UnitOfWork(platform, RequestContext(actor=Actor.operator("bench"))) as uow:
            channels.register(
                uow,
                CHANNEL_NO,
                "Bench channel",
                channels.ChannelType.HRSS_APP,
                public_key=key.public_key().to_pem(),
                key_id=KEY_ID,
                webhook_url=None,
            )
            uow.commit()
        return key.to_pem()
    finally:
        platform.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(env: dict[str, str], workers: int, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn essc.asgi:app with N workers; returns once /healthz and the platform keys answer."""
    port = _free_port()
    log = (folder / "server.log").open("wb")
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "essc.asgi:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",  # a log line per request would be measured too; production ships logs elsewhere
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            break
        try:
            if httpx.get(f"{base_url}/v1/platform/keys", timeout=2).status_code == 200:
                # The master answers as soon as one worker is up; give the others time to finish importing.
                while len(_children(server.pid)) < workers and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(3)
                return server, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise SystemExit(
        f"the server did not start; see {folder / 'server.log'}:\n{_tail(folder / 'server.log')}"
    )


def _tail(path: Path) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-30:])


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def _ms(values: Sequence[float], share: float) -> str:
    if not values:
        return "-"
    return f"{1000 * values[min(len(values) - 1, int(share * len(values)))]:.1f}"


def show(backend: str, version: str, phases: list[PhaseResult], args: argparse.Namespace) -> None:
    """Print one backend's figures."""
    print(f"\n== {backend} ({version}) + Redis nonces, uvicorn --workers {args.workers} ==")
    print(f"{'load':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  {'CPU core-s/s':>40}")
    baseline = next((p.rate for p in phases if p.mode == "healthz"), 0.0)
    for phase in phases:
        lat = phase.latencies
        clients_cpu = sum(c.cpu_seconds for c in phase.clients) / phase.duration
        server_cpu = phase.server_cpu / phase.duration
        busy = phase.machine_busy / phase.duration
        cores = phase.machine_total / phase.duration
        other = max(0.0, busy - clients_cpu - server_cpu)
        cpu = f"clients {clients_cpu:.2f} api {server_cpu:.2f} other {other:.2f} of {cores:.1f}"
        errors = sum(phase.errors.values())
        p50, p99 = _ms(lat, 0.5), _ms(lat, 0.99)
        print(f"{phase.mode:28} {phase.rate:9,.1f} {p50:>8} {p99:>8} {errors:>7}  {cpu:>40}")
    for phase in phases:
        print(f"  {phase.mode}: {MODES[phase.mode]}")
        if phase.errors:
            print(f"    errors: {dict(phase.errors.most_common(5))}")
        if any(c.exhausted for c in phase.clients):
            print(
                "    WARNING: a client ran out of distinct holders before the window ended; raise --holders"
            )
        if phase.mode == "issuance":
            repeats = sum(c.repeats for c in phase.clients)
            issued = len(phase.latencies)
            print(f"    issued {issued:,} e-cards to distinct persons, {repeats} answered created=false")
        if baseline and phase.mode != "healthz":
            print(f"    {phase.mode} / healthz = {phase.rate / baseline:.3f} of the baseline's requests/s")


def run_backend(backend: str, args: argparse.Namespace, folder: Path) -> None:
    """Prepare a database, start the server on it, drive each phase, stop the server, drop the database."""
    with scratch_database(backend, scratch_name("issuance"), folder, args.postgres_url) as url:
        keystore = folder / f"keys-{backend}"
        settings = Settings(database_url=url, redis_url=args.redis_url, keystore_path=keystore)
        print(f"[{backend}] loading {args.holders:,} holders through the importer ...", file=sys.stderr)
        key_pem = prepare(url, settings, args.holders)
        version = server_version(url)
        env = {
            **os.environ,
            "ESSC_DATABASE_URL": url,
            "ESSC_REDIS_URL": args.redis_url,
            "ESSC_KEYSTORE_PATH": str(keystore),
            "ESSC_CRYPTO_SUITE": settings.crypto_suite,
        }
        server, base_url = start_server(env, args.workers, folder)
        phases: list[PhaseResult] = []
        try:
            for mode in args.modes:
                print(f"[{backend}] {mode}: {args.clients} clients, {args.duration:g} s ...", file=sys.stderr)
                job = ClientJob(
                    0,
                    args.clients,
                    mode,
                    base_url,
                    args.holders,
                    args.warmup,
                    args.duration,
                    settings.crypto_suite,
                    key_pem,
                )
                phases.append(run_phase(job, server.pid))
        finally:
            stop_server(server)
        show(backend, version, phases, args)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="postgresql")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn API worker processes")
    parser.add_argument("--clients", type=int, default=4, help="client processes, one request in flight each")
    parser.add_argument("--duration", type=float, default=30.0, help="timed seconds per phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="untimed seconds before each window")
    parser.add_argument("--holders", type=int, default=50_000, help="synthetic holders loaded beforehand")
    parser.add_argument(
        "--postgres-url", default=DEFAULT_POSTGRES_URL, help="server URL to create scratch DBs"
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("ESSC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=list(MODES),
        default=["issuance", "healthz", "healthz-signed"],
        help="phases to run, in order",
    )
    args = parser.parse_args(argv)
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    folder = Path(tempfile.mkdtemp(prefix="essc-bench-issuance-"))
    print(f"# bench_issuance: {args.clients} closed-loop client processes (one request in flight each),")
    print(f"# {args.warmup:g} s warm-up, then {args.duration:g} s timed per phase; {args.holders:,} holders")
    print(f"# {machine()}")
    print(f"# clients, {args.workers} API workers, the database and Redis all share this machine's CPUs,")
    print(
        "# so client CPU (SM2 signing + response verification) is taken from the server; see the CPU column"
    )
    print(
        "# (core-seconds per second: client processes, uvicorn workers, everything else incl. the database)"
    )
    try:
        for backend in backends:
            run_backend(backend, args, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
