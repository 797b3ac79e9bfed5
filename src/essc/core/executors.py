"""Bounded executors for the CPU-heavy work that must not hold the event loop, each named for its work."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from essc.core.db import on_loop, wait_on_loop

_P = ParamSpec("_P")
_T = TypeVar("_T")

# argon2 (the e-card password KDF) takes ~20 ms of CPU and releases the GIL while it runs: on the loop it
# would stall every other request of the worker for that long. One thread per core bounds what a burst of
# password requests can take from the rest.
PASSWORD_KDF = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="essc-password-kdf")


def off_loop(executor: ThreadPoolExecutor, work: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """Run work on the executor from a request on the event loop; in place elsewhere (jobs, the CLI)."""
    if not on_loop():
        return work(*args, **kwargs)
    loop = asyncio.get_running_loop()
    return wait_on_loop(loop.run_in_executor(executor, functools.partial(work, *args, **kwargs)))
