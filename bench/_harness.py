"""Shared parts of the HTTP benchmarks: uvicorn with N workers, closed-loop client processes, CPU accounting.

A phase spawns client processes that each keep one request in flight (keep-alive httpx clients), releases
them together through a barrier, and counts only what starts after the warm-up and ends before the window
closes. The CPU of the client processes, of the uvicorn workers and of everything else (the database, Redis)
is sampled over the window, because on a small machine all of them share the same cores.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from multiprocessing import get_context
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from time import perf_counter
from typing import Any

import httpx

from essc_sdk import PlatformError
from scratch import CpuSample


class Exhausted(Exception):
    """A client ran out of prepared work (distinct holders, one-time codes) before its window ended."""


@dataclass(slots=True)
class ClientResult:
    """What one client process measured inside the timed window."""

    index: int
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    counters: Counter[str] = field(default_factory=Counter)
    cpu_seconds: float = 0.0
    active_seconds: float = 0.0
    exhausted: bool = False
    notes: dict[str, float] = field(default_factory=dict)


def closed_loop(
    result: ClientResult, warmup: float, duration: float, step: Callable[[], str | None]
) -> ClientResult:
    """Call step() back to back; a request counts only if it starts after the warm-up and ends in the window.

    step returns None on success or a short error label; PlatformError and any other exception are counted as
    errors too, and Exhausted ends the loop early (the result says so).
    """
    window_start = perf_counter() + warmup
    window_end = window_start + duration
    cpu_start: float | None = None
    stopped = window_end
    while (began := perf_counter()) < window_end:
        if cpu_start is None and began >= window_start:
            cpu_start = time.process_time()
        try:
            outcome = step()
        except Exhausted:
            result.exhausted = True
            stopped = began
            break
        except PlatformError as exc:
            outcome = f"HTTP {exc.status} {exc.code}"
        except Exception as exc:  # every failure is counted, none may end the run
            outcome = type(exc).__name__
        finished = perf_counter()
        if began >= window_start and finished < window_end:
            if outcome is None:
                result.latencies.append(finished - began)
            else:
                result.errors[outcome] += 1
    if cpu_start is not None:
        result.cpu_seconds = time.process_time() - cpu_start
    result.active_seconds = max(0.0, min(stopped, window_end) - window_start)
    return result


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """Process ids whose parent is pid."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return sorted(found)


def api_workers(server_pid: int) -> list[int]:
    """The uvicorn supervisor's worker processes (not multiprocessing's resource tracker, also its child)."""
    workers = []
    for pid in children(server_pid):
        try:
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(pid)
        except OSError:
            continue
    return workers


PidGroups = Callable[[], dict[str, list[int]]]


def _group_cpu(groups: dict[str, list[int]]) -> dict[str, dict[int, float]]:
    sampled: dict[str, dict[int, float]] = {}
    for name, pids in groups.items():
        sampled[name] = {}
        for pid in pids:
            try:
                sampled[name][pid] = proc_cpu_seconds(pid)
            except (OSError, IndexError, ValueError):
                continue
    return sampled


def _group_delta(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    """CPU seconds per group between two samples; a process born in between counts from its start."""
    return {
        name: sum(seconds - before.get(name, {}).get(pid, 0.0) for pid, seconds in pids.items())
        for name, pids in after.items()
    }


@dataclass
class PhaseResult:
    """One phase: the clients' results and the CPU used over the timed window."""

    mode: str
    clients: list[ClientResult]
    duration: float
    server_cpu: float
    machine_busy: float
    machine_total: float
    stage_seconds: list[float] = field(default_factory=list)
    group_cpu: dict[str, float] = field(default_factory=dict)
    worker_cpu: list[float] = field(default_factory=list)  # per API worker: how evenly the load spread

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
    def counters(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for c in self.clients:
            total.update(c.counters)
        return total

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.duration

    @property
    def exhausted(self) -> bool:
        return any(c.exhausted for c in self.clients)

    @property
    def sustainable_rate(self) -> float:
        """Requests/s summed over clients, each over the part of the window it was busy (for sizing pools)."""
        return sum(len(c.latencies) / c.active_seconds for c in self.clients if c.active_seconds > 0)

    def cpu(self) -> str:
        """Core-seconds per second over the window: client processes, API workers, everything else."""
        clients_cpu = sum(c.cpu_seconds for c in self.clients) / self.duration
        server_cpu = self.server_cpu / self.duration
        busy = self.machine_busy / self.duration
        cores = self.machine_total / self.duration
        groups = {name: seconds / self.duration for name, seconds in self.group_cpu.items()}
        other = max(0.0, busy - clients_cpu - server_cpu - sum(groups.values()))
        named = "".join(f" {name} {value:.2f}" for name, value in groups.items())
        split = "/".join(f"{seconds / self.duration:.2f}" for seconds in self.worker_cpu)
        api = f"api {server_cpu:.2f} ({split})"
        return f"clients {clients_cpu:.2f} {api}{named} other {other:.2f} of {cores:.1f}"

    def server_ms_per_request(self) -> float:
        """CPU milliseconds of the API workers and the named process groups (database, Redis) per request."""
        requests = len(self.latencies)
        return 1000 * (self.server_cpu + sum(self.group_cpu.values())) / requests if requests else 0.0


ClientTarget = Callable[[Any, list[Barrier], "Queue[ClientResult]"], None]


def run_phase(
    mode: str,
    target: ClientTarget,
    jobs: Sequence[Any],
    server_pid: int,
    *,
    warmup: float,
    duration: float,
    stages: int = 1,
    on_window: Callable[[], None] | None = None,
    pid_groups: PidGroups | None = None,
) -> PhaseResult:
    """Run target(job, barriers, results) in one spawned process per job and sample CPU over the window.

    Each client waits on `stages` barriers in turn; the main process waits on them too and records how long
    each stage took (untimed preparation such as opening sessions or issuing one-time codes). The last
    barrier starts the clients' loops: warm-up, then the timed window. on_window runs as the window opens.
    pid_groups names further processes (the database's backends, Redis) whose CPU is sampled over the window.
    """
    context = get_context("spawn")
    barriers = [context.Barrier(len(jobs) + 1) for _ in range(stages)]
    results: Queue[ClientResult] = context.Queue()
    processes = [context.Process(target=target, args=(job, barriers, results), daemon=True) for job in jobs]
    for process in processes:
        process.start()
    workers = api_workers(server_pid)
    marks = []
    for barrier in barriers:
        barrier.wait(timeout=600)
        marks.append(perf_counter())
    time.sleep(warmup)
    if on_window is not None:
        on_window()
    groups_before = _group_cpu(pid_groups()) if pid_groups else {}
    workers_before = [proc_cpu_seconds(pid) for pid in workers]
    before = CpuSample.now()
    time.sleep(duration)
    workers_after = [proc_cpu_seconds(pid) for pid in workers]
    after = CpuSample.now()
    groups_after = _group_cpu(pid_groups()) if pid_groups else {}
    collected = [results.get(timeout=duration + 300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    return PhaseResult(
        mode,
        sorted(collected, key=lambda c: c.index),
        duration,
        sum(workers_after) - sum(workers_before),
        after.machine_busy - before.machine_busy,
        after.machine_total - before.machine_total,
        [b - a for a, b in pairwise(marks)],
        _group_delta(groups_before, groups_after),
        [b - a for a, b in zip(workers_before, workers_after, strict=True)],
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(
    env: dict[str, str],
    workers: int,
    folder: Path,
    *,
    extra_args: Sequence[str] = (),
    app: Sequence[str] = ("essc.asgi:app",),
) -> tuple[subprocess.Popen[bytes], str]:
    """uvicorn `app` with N workers (and extra_args); returns once the platform keys answer."""
    port = free_port()
    log = (folder / "server.log").open("wb")
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        *app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",  # a log line per request would be measured too; production ships logs elsewhere
        "--log-level",
        "warning",
        *extra_args,
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
                while len(api_workers(server.pid)) < workers and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(3)
                return server, base_url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    raise SystemExit(f"the server did not start; see {folder / 'server.log'}:\n{tail(folder / 'server.log')}")


def tail(path: Path) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-30:])


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def ms(values: Sequence[float], share: float) -> str:
    """The share-quantile of sorted seconds, in milliseconds."""
    if not values:
        return "-"
    return f"{1000 * values[min(len(values) - 1, int(share * len(values)))]:.1f}"
