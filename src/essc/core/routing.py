"""Routes whose plain-def endpoints cost one trip to the thread pool, not two."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute, APIRouter
from starlette.concurrency import run_in_threadpool


class ThreadedEndpointRoute(APIRoute):
    """A route that runs a plain-def endpoint in the thread pool and serialises its answer on the event loop.

    FastAPI runs a plain-def endpoint in the thread pool and then validates its return value against the
    response model in a second trip there. The value is already the model the endpoint built, so validating
    it does no I/O; each trip costs more CPU than the validation (a wake-up of the loop from another thread).
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # Generator endpoints stream (FastAPI iterates them itself); coroutine functions need no thread.
        if inspect.isfunction(endpoint) and not (
            inspect.iscoroutinefunction(endpoint)
            or inspect.isgeneratorfunction(endpoint)
            or inspect.isasyncgenfunction(endpoint)
        ):
            endpoint = _in_thread_pool(endpoint)
        super().__init__(path, endpoint, **kwargs)


def _in_thread_pool(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """The endpoint as a coroutine function that runs it in the thread pool (same signature for FastAPI)."""

    @functools.wraps(endpoint)
    async def run(*args: Any, **kwargs: Any) -> Any:
        return await run_in_threadpool(endpoint, *args, **kwargs)

    return run


def api_router(**kwargs: Any) -> APIRouter:
    """An APIRouter of ThreadedEndpointRoute routes; every domain's router is made here."""
    return APIRouter(route_class=ThreadedEndpointRoute, **kwargs)
