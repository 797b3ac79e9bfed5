"""Routes that run on the event loop and own the unit of work their dependencies open."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.dependencies.models import (
    Dependant,
    _is_async_gen_callable,
    _is_coroutine_callable,
    _is_gen_callable,
)
from fastapi.routing import APIRoute, APIRouter
from fastapi.security.base import SecurityBase

# How a request's unit of work ends: given the error that ended the route (None when it answered), it
# commits or rolls back and closes; it may raise a named error in place of the route's (a 409 conflict).
Finish = Callable[[BaseException | None], Awaitable[None]]
_FINISHES = "essc.finishes"  # scope key: the finishes of the units of work opened for this request
_OPENS_WORK = "__essc_opens_unit_of_work__"
_SOLVED = "essc.solved_dependencies"  # scope key: what a DependencyPlan solved for the endpoint
_REQUEST = "_essc_request"  # the request parameter a planned endpoint is given when it names none
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
        plan = DependencyPlan.of(self.dependant)
        handler = super().get_route_handler() if plan is None else self._planned(plan)
        if not any(is_opening_unit_of_work(d.call) for d in _walk(self.dependant)):
            return handler

        async def owning(request: Request) -> Response:
            finishes: list[Finish] = []
            request.scope[_FINISHES] = finishes
            try:
                response = await handler(request)
            except BaseException as error:
                await _finish_all(finishes, error)
                raise
            await _finish_all(finishes, None)
            return response

        return owning

    def _planned(self, plan: DependencyPlan) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler of the endpoint alone, its dependencies solved first by `plan`.

        With dependency overrides set (tests of an app may set them), FastAPI solves everything itself.
        """
        full = self.dependant
        self.dependant = plan.endpoint
        try:
            planned = super().get_route_handler()
        finally:
            self.dependant = full
        unplanned = super().get_route_handler()
        provider = self.dependency_overrides_provider

        async def solve_then_answer(request: Request) -> Response:
            if provider is not None and getattr(provider, "dependency_overrides", None):
                return await unplanned(request)
            request.scope[_SOLVED] = await plan.solve(request)
            return await planned(request)

        return solve_then_answer


@dataclasses.dataclass(frozen=True, slots=True)
class _Step:
    """One dependency of a plan: its coroutine, the name its caller gives it, what it takes."""

    call: Callable[..., Awaitable[Any]]
    name: str | None
    request_param: str | None
    steps: tuple[_Step, ...]


class DependencyPlan:
    """A route's dependencies solved as FastAPI would, from a plan made once when the route is built.

    FastAPI analyses the whole dependency tree again on every request (cache keys, scopes, whether each
    call is a generator or a security scheme): on a one-statement route that costs more than the
    dependencies themselves (measured in bench/bench_qr.py). A plan covers the dependencies the platform
    uses, coroutines that take the request and other such dependencies, each solved once per request (as
    FastAPI's use_cache does), before the endpoint's own parameters are read and checked, as FastAPI orders
    them. A route with any other kind of dependency keeps FastAPI's solving (`of` gives None).
    """

    def __init__(self, steps: tuple[_Step, ...], endpoint: Dependant) -> None:
        self.steps = steps
        self.endpoint = endpoint  # the route's dependant without its dependencies, given what they solved

    @classmethod
    def of(cls, dependant: Dependant) -> DependencyPlan | None:
        """The plan of a route's dependant, or None when one of its dependencies is of another kind."""
        call = dependant.call
        if call is None or not inspect.iscoroutinefunction(call) or not dependant.dependencies:
            return None
        steps = _steps(dependant.dependencies)
        if steps is None:
            return None
        request_param = dependant.request_param_name or _REQUEST

        @functools.wraps(call)
        async def endpoint(**values: Any) -> Any:
            request = values[request_param] if dependant.request_param_name else values.pop(request_param)
            values.update(request.scope.pop(_SOLVED))
            return await call(**values)

        return cls(
            steps,
            dataclasses.replace(dependant, call=endpoint, dependencies=[], request_param_name=request_param),
        )

    async def solve(self, request: Request) -> dict[str, Any]:
        """The values of the endpoint's dependency parameters, by name."""
        return await _solve(self.steps, request, {})


def _steps(dependencies: list[Dependant]) -> tuple[_Step, ...] | None:
    """Plan steps of dependencies that take only the request and each other; None if one takes more."""
    steps: list[_Step] = []
    for sub in dependencies:
        call = sub.call
        if (
            call is None
            or not sub.use_cache
            or sub.concurrency is not None
            or not _is_coroutine_callable(call)
            or _is_gen_callable(call)
            or _is_async_gen_callable(call)
            or isinstance(inspect.unwrap(call), SecurityBase)
            or sub.path_params
            or sub.query_params
            or sub.header_params
            or sub.cookie_params
            or sub.body_params
            or sub.own_oauth_scopes
            or sub.security_scopes_param_name
            or sub.websocket_param_name
            or sub.http_connection_param_name
            or sub.response_param_name
            or sub.background_tasks_param_name
        ):
            return None
        nested = _steps(sub.dependencies)
        if nested is None:
            return None
        steps.append(_Step(call, sub.name, sub.request_param_name, nested))
    return tuple(steps)


async def _solve(steps: tuple[_Step, ...], request: Request, solved: dict[Any, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for step in steps:
        if step.call in solved:
            value = solved[step.call]
        else:
            arguments = await _solve(step.steps, request, solved) if step.steps else {}
            if step.request_param is not None:
                arguments[step.request_param] = request
            value = solved[step.call] = await step.call(**arguments)
        if step.name is not None:
            values[step.name] = value
    return values


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
