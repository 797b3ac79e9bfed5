"""The platform's background work in a process of its own, beside the API workers of `essc serve`."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess
from types import FrameType

from essc.core.platform import build_platform
from essc.core.settings import Settings
from essc.web.app import platform_jobs
from essc.wiring import register_handlers

log = logging.getLogger(__name__)

# What the API workers are told when a jobs process runs beside them: they serve requests and nothing else.
WORKER_ENVIRONMENT = {"ESSC_RUN_DISPATCHER": "false", "ESSC_RUN_SEQUENCER": "false"}
JOBS_PROCESS_NAME = "essc-jobs"  # its name in ps and /proc/<pid>/comm
RESTART_DELAY_SECONDS = 1.0
PARENT_CHECK_SECONDS = 1.0
PARENT_VARIABLE = "ESSC_JOBS_PARENT_PID"
STOP_TIMEOUT_SECONDS = 15.0


def run_background_jobs() -> None:
    """Run the platform's background jobs (essc.web.app.platform_jobs) until SIGTERM or SIGINT."""
    # The server that started this process; it may have died while this one was still starting.
    parent = int(os.environ.get(PARENT_VARIABLE, os.getppid()))
    register_handlers()
    settings = Settings()
    platform = build_platform(settings)
    stopping = threading.Event()

    def stop(_signal: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    jobs = platform_jobs(platform)
    for job in jobs:
        job.start()
    try:
        # A server killed outright (SIGKILL) cannot stop its jobs process: it leaves with it instead.
        while not stopping.wait(PARENT_CHECK_SECONDS):
            if os.getppid() != parent:
                break
    finally:
        for job in reversed(jobs):
            job.stop()
        platform.close()


def _name_this_process(name: str) -> None:
    """Set the name ps and top show (Linux prctl PR_SET_NAME); elsewhere nothing."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(15, name.encode("ascii")[:15], 0, 0, 0)  # 15: PR_SET_NAME
    except (OSError, AttributeError):
        return


def _run_in(environment: dict[str, str], target: Callable[[], None]) -> None:
    _name_this_process(JOBS_PROCESS_NAME)
    os.environ.clear()
    os.environ.update(environment)
    target()


class JobsProcess:
    """The jobs process of a server: started once, started again when it dies, stopped with the server."""

    def __init__(self, target: Callable[[], None] = run_background_jobs) -> None:
        self._target = target
        # Taken now, before the workers' settings are changed: a jobs process started again later reads the
        # operator's settings too.
        self._environment = {**os.environ, PARENT_VARIABLE: str(os.getpid())}
        self._context = multiprocessing.get_context("spawn")
        self._leaving = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="essc-jobs-supervisor", daemon=True)
        self.process: BaseProcess | None = None
        self.starts = 0

    def start(self) -> None:
        self._start_process()
        self._supervisor.start()

    def stop(self) -> None:
        self._leaving.set()
        self._supervisor.join()
        if self.process is None:
            return
        self.process.terminate()
        self.process.join(STOP_TIMEOUT_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()

    def _start_process(self) -> None:
        self.process = self._context.Process(
            target=_run_in, args=(self._environment, self._target), name=JOBS_PROCESS_NAME
        )
        self.process.start()
        self.starts += 1

    def _supervise(self) -> None:
        while not self._leaving.wait(RESTART_DELAY_SECONDS):
            process = self.process
            if process is None or process.is_alive():
                continue
            if process.exitcode == 0:
                return  # stopped by a signal to the whole process group: the server is leaving too
            log.error("the background jobs process exited (%s); starting it again", process.exitcode)
            self._start_process()


@contextmanager
def background_jobs(target: Callable[[], None] = run_background_jobs) -> Iterator[JobsProcess]:
    """One jobs process while the block runs; the block's workers (spawned in it) run no jobs of their own.

    A thread in each API worker would hold that worker's GIL while it hashes and signs, stalling the
    requests on its event loop, and N workers would race each other for every log's lead; one process
    beside them does the work once.
    """
    jobs = JobsProcess(target)
    jobs.start()
    saved = {name: os.environ.get(name) for name in WORKER_ENVIRONMENT}
    os.environ.update(WORKER_ENVIRONMENT)
    try:
        yield jobs
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        jobs.stop()
