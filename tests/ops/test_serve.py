"""`essc serve --workers 2` answers keep-alive requests without the ~40 ms Nagle/delayed-ACK stall."""

from __future__ import annotations

import ctypes
import functools
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from essc.audit import repository as audit_repository
from essc.core import migrate
from essc.core.auditing import PendingAuditEntry
from essc.core.settings import Settings
from essc.kit.clock import SystemClock
from essc.kit.ids import new_id
from essc.ops.jobs import JOBS_PROCESS_NAME, RESTART_DELAY_SECONDS, background_jobs

SEQUENTIAL_REQUESTS = 50
MEDIAN_LIMIT_SECONDS = 0.005
READY_DEADLINE_SECONDS = 120.0  # about 10 s on an idle 2-core machine; shared CI runners can be far busier
SERVE_COMMAND = "from essc.cli import main; main()"  # `essc`, under this interpreter
SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture (added in 5.6)


@dataclass(frozen=True, slots=True)
class RunningServer:
    """An `essc serve` process group and where it listens."""

    process: subprocess.Popen[bytes]
    port: int


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _healthz_answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@pytest.fixture(scope="module")
def server_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The served SQLite database, migrated (serve would too; here it is done while the imports are warm)."""
    database_url = f"sqlite:///{tmp_path_factory.mktemp('serve-db') / 'essc.db'}"
    migrate.upgrade(database_url)
    return database_url


@pytest.fixture(scope="module")
def server(
    keystore_path: Path, server_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """`essc serve --workers 2` on a free port over its own migrated SQLite database."""
    folder = tmp_path_factory.mktemp("serve")
    database_url = server_database_url  # serve would too; here it is done while the test imports are warm
    port = _free_port()
    env = {
        **os.environ,
        "ESSC_DATABASE_URL": database_url,
        "ESSC_KEYSTORE_PATH": str(keystore_path),
        "ESSC_RUN_DISPATCHER": "false",
    }
    env.pop("ESSC_REDIS_URL", None)
    log_path = folder / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-c", SERVE_COMMAND, "serve", "--port", str(port), "--workers", "2"],
            env=env,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so the workers are stopped with it
        )
    try:
        deadline = time.monotonic() + READY_DEADLINE_SECONDS
        while not _healthz_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"essc serve did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield RunningServer(process, port)
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group, SIGKILL it if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def _round_trips(connection: http.client.HTTPConnection, count: int) -> list[float]:
    """Seconds per sequential GET /healthz on the one connection, which must stay open between them."""
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("GET", "/healthz")
        response = connection.getresponse()
        body = response.read()
        timings.append(time.perf_counter() - started)
        assert response.status == 200, body
        assert not response.will_close, "the server closed a keep-alive connection"
    return timings


@pytest.mark.slow
def test_sequential_keep_alive_requests_take_milliseconds_not_delayed_acks(server: RunningServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        _round_trips(connection, 20)  # the worker's first requests warm its caches
        first_socket = connection.sock
        timings = _round_trips(connection, SEQUENTIAL_REQUESTS)
        assert connection.sock is first_socket, "every request went over the one connection"
    finally:
        connection.close()
    median = statistics.median(timings)
    assert median < MEDIAN_LIMIT_SECONDS, f"median round trip {1000 * median:.1f} ms"


def _process_group(group: int) -> list[int]:
    """Process ids in the process group (the server and its workers)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) == group:
                    members.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return members


def _nodelay_of_peer_socket(pids: list[int], client_address: tuple[str, int]) -> int | None:
    """TCP_NODELAY of the server's socket connected to client_address, copied out with pidfd_getfd(2)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for pid in pids:
        try:
            pidfd = os.pidfd_open(pid)
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        try:
            for name in descriptors:
                try:
                    if not os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                        continue
                except OSError:
                    continue
                copy = int(libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0))
                if copy < 0:
                    error = ctypes.get_errno()
                    pytest.skip(f"pidfd_getfd is not permitted here ({os.strerror(error)})")
                with socket.socket(fileno=copy) as borrowed:
                    if borrowed.family != socket.AF_INET or borrowed.type != socket.SOCK_STREAM:
                        continue
                    try:
                        peer = borrowed.getpeername()
                    except OSError:
                        continue  # the listening socket
                    if peer == client_address:
                        return borrowed.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        finally:
            os.close(pidfd)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfds")
def test_the_server_side_of_an_accepted_connection_has_tcp_nodelay(server: RunningServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        _round_trips(connection, 1)
        assert connection.sock is not None
        client_address = connection.sock.getsockname()
        nodelay = _nodelay_of_peer_socket(_process_group(server.process.pid), client_address)
    finally:
        connection.close()
    assert nodelay is not None, "no server process holds the accepted socket"
    assert nodelay != 0, "Nagle is on for the accepted connection"


def _entry(province: str, n: int) -> PendingAuditEntry:
    return PendingAuditEntry(
        id=new_id(),
        at=SystemClock().now(),
        actor_kind="platform",
        actor_id="test",
        action="test.recorded",
        subject_kind="test",
        subject_id=str(n),
        province=province,
        source_ip=None,
        request_id=None,
    )


def _checkpoint_size(port: int, log: str) -> int | None:
    """The size in the log's published checkpoint, None while it has none."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", f"/v1/audit/logs/{log}/checkpoint")
        response = connection.getresponse()
        body = response.read().decode()
    finally:
        connection.close()
    if response.status == 404:
        return None
    assert response.status == 200, body
    return int(body.splitlines()[1])


@pytest.mark.slow
def test_the_background_jobs_process_sequences_what_the_workers_commit(
    server: RunningServer, server_database_url: str
) -> None:
    engine = create_engine(server_database_url)
    try:
        with Session(engine) as session:
            audit_repository.append(session, [_entry("44", n) for n in range(3)])
            session.commit()
    finally:
        engine.dispose()
    deadline = time.monotonic() + 60
    while (_checkpoint_size(server.port, "44") or 0) < 3:
        assert time.monotonic() < deadline, "nothing sequenced the committed entries"
        time.sleep(0.3)


def test_workers_started_beside_the_jobs_process_run_no_jobs_and_the_settings_come_back() -> None:
    before = dict(os.environ)
    with background_jobs(target=functools.partial(time.sleep, 30)) as jobs:
        assert jobs.process is not None
        assert jobs.process.is_alive()
        comm = Path(f"/proc/{jobs.process.pid}/comm")
        deadline = time.monotonic() + 60  # the spawned interpreter names itself once it has started
        while comm.read_text().strip() != JOBS_PROCESS_NAME:
            assert time.monotonic() < deadline, comm.read_text()
            time.sleep(0.1)
        assert not Settings().run_sequencer
        assert not Settings().run_dispatcher
    assert not jobs.process.is_alive()
    assert dict(os.environ) == before


def test_a_jobs_process_that_dies_is_started_again() -> None:
    with background_jobs(target=functools.partial(os._exit, 3)) as jobs:
        deadline = time.monotonic() + 90  # each start boots an interpreter: seconds on a busy machine
        while jobs.starts < 2:
            assert time.monotonic() < deadline, f"started {jobs.starts} times"
            time.sleep(0.1)


def test_a_jobs_process_stopped_by_a_signal_is_left_stopped() -> None:
    with background_jobs(target=functools.partial(time.sleep, 0)) as jobs:
        assert jobs.process is not None
        jobs.process.join(30)
        assert jobs.process.exitcode == 0
        time.sleep(3 * RESTART_DELAY_SECONDS)
        assert jobs.starts == 1


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in {"Z", "X"}  # exited; only its reaping is left


@pytest.mark.slow
def test_a_jobs_process_leaves_when_its_server_is_killed_outright(
    keystore_path: Path, server_database_url: str
) -> None:
    env = {
        **os.environ,
        "ESSC_DATABASE_URL": server_database_url,
        "ESSC_KEYSTORE_PATH": str(keystore_path),
        "ESSC_RUN_DISPATCHER": "false",
    }
    env.pop("ESSC_REDIS_URL", None)
    server = (
        "import time\n"
        "from essc.ops.jobs import background_jobs\n"
        "with background_jobs() as jobs:\n"
        "    print(jobs.process.pid, flush=True)\n"
        "    time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", server], env=env, stdout=subprocess.PIPE)
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        comm = Path(f"/proc/{pid}/comm")
        deadline = time.monotonic() + 90
        while comm.read_text().strip() != JOBS_PROCESS_NAME:
            assert time.monotonic() < deadline, "the jobs process did not start"
            time.sleep(0.1)
        time.sleep(2)  # past its imports: running its jobs
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while not _gone(pid):
        assert time.monotonic() < deadline, "the jobs process outlived its server"
        time.sleep(0.2)
