"""E-card issuance requests/s through uvicorn API workers, against /healthz on the same stack and clients."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import islice
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Literal

import httpx
from sqlalchemy import text

from _harness import (
    ClientResult,
    Exhausted,
    PhaseResult,
    closed_loop,
    ms,
    run_phase,
    start_server,
    stop_server,
)
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
from essc.shared.policy import Function
from essc.wiring import register_handlers
from essc_sdk import EsscClient
from scratch import (
    DEFAULT_POSTGRES_URL,
    AutoVacuum,
    exit_cleanly_on_sigterm,
    fresh_nonce_store,
    machine,
    scratch_database,
    scratch_name,
    server_version,
)

PROVINCE = "44"
CHANNEL_NO = "4400000901"
KEY_ID = "bench-1"
BENCH_DIR = Path(__file__).resolve().parent
VARIANTS = {
    "as-is": "the plain command",
    "nodelay": "+ --http nodelay:NoDelayH11Protocol: TCP_NODELAY workaround for uvicorn#3149",
}
VARIANT_ARGS: dict[str, tuple[str, ...]] = {
    "as-is": (),
    "nodelay": ("--http", "nodelay:NoDelayH11Protocol"),
}
Mode = Literal["issuance", "healthz", "healthz-signed"]
MODES: dict[str, str] = {
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
    rounds: int
    round_no: int
    warmup: float
    duration: float
    suite: str
    channel_key_pem: bytes


def _my_holders(job: ClientJob) -> Iterator[HolderRecord]:
    """This client's share of the holders whose card allows issuance; no two clients or rounds share one."""
    slots = job.clients * job.rounds
    mine = job.round_no * job.clients + job.index
    for number, record in enumerate(synthetic_holders(PROVINCE, job.holders)):
        if number % slots == mine and record.card_status == "normal":
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


def run_client(job: ClientJob, barriers: list[Barrier], results: Queue[ClientResult]) -> None:
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
    sent = 0

    def step() -> str | None:
        nonlocal sent
        sent += 1
        if job.mode == "issuance":
            record = next(holders, None)
            if record is None:
                raise Exhausted
            answer = sdk.post("/v1/ecards/issuance", _issue_body(record, f"bench-{job.index}-{sent}"))
            if answer.get("created") is not True:
                result.counters["repeats"] += 1
        elif job.mode == "healthz":
            response = http.get("/healthz")
            if response.status_code != 200:
                return f"HTTP {response.status_code}"
        else:
            sdk.get("/healthz")
        return None

    for barrier in barriers:
        barrier.wait()
    closed_loop(result, job.warmup, job.duration, step)
    http.close()
    results.put(result)


def prepare(url: str, settings: Settings, holders: int) -> bytes:
    """Migrate, load holders through the importer, register the bench channel; its private key PEM."""
    upgrade(url)
    platform = build_platform(settings)
    try:
        rows = (GoodRow(i + 2, r) for i, r in enumerate(synthetic_holders(PROVINCE, holders)))
        first = import_rows(platform, PROVINCE, islice(rows, 1000), Actor.operator("bench"))
        # A production server's autovacuum would have analyzed the growing tables; this one may not.
        analyze(url)
        rest = import_rows(platform, PROVINCE, rows, Actor.operator("bench"))
        if first.bad_rows or rest.bad_rows or first.persons_added + rest.persons_added != holders:
            raise SystemExit(f"loading the holders went wrong: {first} {rest}")
        key = platform.suite.generate_private_key()
        with UnitOfWork(platform, RequestContext(actor=Actor.operator("bench"))) as uow:
            bench_channel = channels.register(
                uow,
                CHANNEL_NO,
                "Bench channel",
                channels.ChannelType.HRSS_APP,
                public_key=key.public_key().to_pem(),
                key_id=KEY_ID,
                webhook_url=None,
            )
            # Deny by default: the bench channel is certified, active and authorised for every function.
            channels.commission(uow, bench_channel, list(Function), attested_by="bench")
            authorisations.open_everywhere(
                uow, bench_channel, list(Function), [PROVINCE], by="operator/bench"
            )
            uow.commit()
        return key.to_pem()
    finally:
        platform.close()


def analyze(url: str) -> None:
    """ANALYZE every table (PostgreSQL only; SQLite is left as an application would leave it)."""
    if not url.startswith("postgresql"):
        return
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()


def show(
    backend: str, version: str, variant: str, phases: list[PhaseResult], args: argparse.Namespace, stats: str
) -> None:
    """Print one backend and server variant's figures."""
    command = " ".join(["uvicorn essc.asgi:app --workers", str(args.workers), *VARIANT_ARGS[variant]])
    print(f"\n== {backend} ({version}) + Redis nonces; {command} ({VARIANTS[variant]}) ==")
    print(f"   planner statistics: {stats}")
    print(f"{'load':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}  {'CPU core-s/s':>40}")
    baseline = next((p.rate for p in phases if p.mode == "healthz"), 0.0)
    for phase in phases:
        lat = phase.latencies
        errors = sum(phase.errors.values())
        p50, p99 = ms(lat, 0.5), ms(lat, 0.99)
        print(f"{phase.mode:28} {phase.rate:9,.1f} {p50:>8} {p99:>8} {errors:>7}  {phase.cpu():>40}")
    for phase in phases:
        print(f"  {phase.mode}: {MODES[phase.mode]}")
        if phase.errors:
            print(f"    errors: {dict(phase.errors.most_common(5))}")
        if phase.exhausted:
            print(
                "    WARNING: a client ran out of distinct holders before the window ended; raise --holders"
            )
        if phase.mode == "issuance":
            repeats = phase.counters["repeats"]
            issued = len(phase.latencies)
            print(f"    issued {issued:,} e-cards to distinct persons, {repeats} answered created=false")
        if baseline and phase.mode != "healthz":
            print(f"    {phase.mode} / healthz = {phase.rate / baseline:.3f} of the baseline's requests/s")


def run_backend(backend: str, args: argparse.Namespace, folder: Path) -> None:
    """Prepare a database; per server variant start uvicorn on it and drive each phase; drop the database."""
    with scratch_database(backend, scratch_name("issuance"), folder, args.postgres_url) as url:
        keystore = folder / f"keys-{backend}"
        # Keys of this run only, in a nonce store declared new, as a first deployment does
        prefix = f"{scratch_name('issuance-nonces')}:"
        settings = Settings(
            database_url=url, redis_url=args.redis_url, redis_key_prefix=prefix, keystore_path=keystore
        )
        print(f"[{backend}] loading {args.holders:,} holders through the importer ...", file=sys.stderr)
        key_pem = prepare(url, settings, args.holders)
        version = server_version(url)
        env = {
            **os.environ,
            "ESSC_DATABASE_URL": url,
            "ESSC_REDIS_URL": args.redis_url,
            "ESSC_REDIS_KEY_PREFIX": prefix,
            "ESSC_KEYSTORE_PATH": str(keystore),
            "ESSC_CRYPTO_SUITE": settings.crypto_suite,
            # Lets the workers import the nodelay variant's protocol class from this folder.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR), os.environ.get("PYTHONPATH")])),
        }
        with fresh_nonce_store(settings):
            for round_no, variant in enumerate(args.variants):
                server, base_url = start_server(env, args.workers, folder, extra_args=VARIANT_ARGS[variant])
                phases: list[PhaseResult] = []
                try:
                    with (
                        AutoVacuum(url, args.pg_autoanalyze == "emulate")
                        if backend == "postgresql"
                        else nullcontext()
                    ) as analyzer:
                        for mode in args.modes:
                            print(
                                f"[{backend}/{variant}] {mode}: {args.clients} clients, "
                                f"{args.duration:g} s ...",
                                file=sys.stderr,
                            )
                            job = ClientJob(
                                0,
                                args.clients,
                                mode,
                                base_url,
                                args.holders,
                                len(args.variants),
                                round_no,
                                args.warmup,
                                args.duration,
                                settings.crypto_suite,
                                key_pem,
                            )
                            jobs = [replace(job, index=i) for i in range(args.clients)]
                            phases.append(
                                run_phase(
                                    mode,
                                    run_client,
                                    jobs,
                                    server.pid,
                                    warmup=args.warmup,
                                    duration=args.duration,
                                )
                            )
                finally:
                    stop_server(server)
                stats = (
                    analyzer.summary()
                    if analyzer
                    else "SQLite: none (no ANALYZE, as an application leaves it)"
                )
                show(backend, version, variant, phases, args, stats)
                sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> None:
    register_handlers()
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
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        default=list(VARIANTS),
        help="server variants to run, in order (as-is = the plain uvicorn command)",
    )
    parser.add_argument(
        "--pg-autoanalyze",
        choices=["emulate", "off"],
        default="emulate",
        help="if the server runs with autovacuum=off: emulate its ANALYZE (default) or never analyze",
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
    exit_cleanly_on_sigterm()
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
