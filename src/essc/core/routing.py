"""Routes that run on the event loop: an endpoint or dependency bound for the thread pool is refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant, _is_async_gen_callable, _is_coroutine_callable
from fastapi.routing import APIRoute, APIRouter


class LoopRoute(APIRoute):
    """An API route whose endpoint and dependencies are all coroutines or async generators.

    FastAPI runs a plain-def endpoint or dependency in its thread pool, a hand-off per call that costs more
    CPU under load than the work it wraps (measured in bench/bench_qr.py). Blocking-style service code runs
    on the loop instead, through `UnitOfWork.run` (essc.core.db.run_on_loop). The check is made when the
    route is built, so a plain def cannot slip in.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        for dependant in _walk(self.dependant):
            call = dependant.call
            if call is not None and not (_is_coroutine_callable(call) or _is_async_gen_callable(call)):
                name = getattr(call, "__qualname__", None) or type(call).__qualname__
                raise TypeError(
                    f"{path}: {name} would run in the thread pool; make it a coroutine (async def) and run "
                    "blocking-style work through UnitOfWork.run"
                )


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for child in dependant.dependencies:
        yield from _walk(child)


def api_router(**kwargs: Any) -> APIRouter:
    """An APIRouter of LoopRoute routes; every domain's router is made here."""
    return APIRouter(route_class=LoopRoute, **kwargs)
