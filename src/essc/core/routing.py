"""Routes that run on the event loop and own the unit of work their dependencies open."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant, _is_async_gen_callable, _is_coroutine_callable
from fastapi.routing import APIRoute, APIRouter

from essc.core.context import CALLER_REFUSED
from essc.shared.callers import CallerRefusal

# How a request's unit of work ends: given the error that ended the route (None when it answered), it
# commits or rolls back and closes; it may raise a named error in place of the route's (a 409 conflict).
Finish = Callable[[BaseException | None], Awaitable[None]]
_FINISHES = "essc.finishes"  # scope key: the finishes of the units of work opened for this request
_OPENS_WORK = "__essc_opens_unit_of_work__"
_D = TypeVar("_D", bound=Callable[..., Any])


def opens_unit_of_work(dependency: _D) -> _D:
    """Mark a dependency that opens a unit of work and hands it to its route (hand_over) to finish."""
    setattr(dependency, _OPENS_WORK, True)
    return dependency


def is_opening_unit_of_work(call: Callable[..., Any] | None) -> bool:
    """Whether a dependency opens a unit of work (its route reaches the database)."""
    return bool(getattr(call, _OPENS_WORK, False))


def hand_over(request: Request, finish: Finish) -> None:
    """Give the route the end of a unit of work a dependency opened, to run once the endpoint answered."""
    finishes: list[Finish] | None = request.scope.get(_FINISHES)
    if finishes is None:
        raise RuntimeError(
            f"{request.url.path}: a unit of work was opened on a route that is not a LoopRoute"
        )
    finishes.append(finish)


class LoopRoute(APIRoute):
    """An API route whose endpoint and dependencies are all coroutines, and which ends its unit of work.

    FastAPI runs a plain-def endpoint or dependency in its thread pool, a hand-off per call that costs more
    CPU under load than the work it wraps (measured in bench/bench_qr.py). Blocking-style service code runs
    on the loop instead, through `UnitOfWork.run` (essc.core.db.run_on_loop). The check is made when the
    route is built, so a plain def cannot slip in.

    The unit of work a dependency opens (`opens_unit_of_work`) is ended here, around the endpoint and its
    serialisation and before the answer leaves: committed when the route answered, otherwise as its
    error asks. A dependency with `yield` would do the same through FastAPI's exit stacks at several times
    the cost on every request.
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

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not any(is_opening_unit_of_work(d.call) for d in _walk(self.dependant)):
            return handler

        async def owning(request: Request) -> Response:
            finishes: list[Finish] = []
            request.scope[_FINISHES] = finishes
            try:
                response = await handler(request)
            except BaseException as error:
                if isinstance(error, CallerRefusal):
                    request.scope.setdefault("state", {})[CALLER_REFUSED] = True
                await _finish_all(finishes, error)
                raise
            await _finish_all(finishes, None)
            return response

        return owning


async def _finish_all(finishes: list[Finish], error: BaseException | None) -> None:
    """End every unit of work of the request, the last opened first; the first error raised is raised."""
    raised: BaseException | None = None
    for finish in reversed(finishes):
        try:
            await finish(error)
        except BaseException as exc:  # the others must still close: their connections go back to the pool
            raised = raised or exc
    finishes.clear()
    if raised is not None:
        raise raised


def _walk(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for child in dependant.dependencies:
        yield from _walk(child)


def api_router(**kwargs: Any) -> APIRouter:
    """An APIRouter of LoopRoute routes; every domain's router is made here."""
    return APIRouter(route_class=LoopRoute, **kwargs)
