"""No request runs on a thread pool: routes refuse plain-def handlers, and a request never calls one."""

from __future__ import annotations

import threading
from typing import Annotated, Any

import anyio.to_thread
import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from essc.core.deps import Work, checks_session, declaration_of, requires
from essc.core.platform import Platform
from essc.core.routing import DependencyPlan, LoopRoute, api_router
from essc.shared.policy import Function, Party
from essc.web.app import api_routes, create_app
from essc.web.protocol import ProtocolLayer
from factories import app_client, channel, holder, issued_sign_no, load


def test_a_plain_def_endpoint_is_refused_when_its_route_is_built() -> None:
    router = api_router()

    def blocking_endpoint() -> dict[str, int]:
        return {}

    with pytest.raises(TypeError, match="blocking_endpoint would run in the thread pool"):
        router.add_api_route("/t", blocking_endpoint)


def test_a_plain_def_dependency_is_refused_at_any_depth() -> None:
    router = api_router()

    def blocking_dependency() -> int:
        return 1

    async def middle(value: int = Depends(blocking_dependency)) -> int:
        return value

    async def endpoint(value: int = Depends(middle)) -> dict[str, int]:
        return {"value": value}

    with pytest.raises(TypeError, match="blocking_dependency would run in the thread pool"):
        router.add_api_route("/t", endpoint)


def test_every_route_of_the_platform_is_a_loop_route(platform: Platform) -> None:
    routes = api_routes(create_app(platform))

    assert routes
    assert [r.path for r in routes if not isinstance(r, LoopRoute)] == []


@pytest.fixture
def thread_pool_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every hand-off to anyio's worker threads (how FastAPI and Starlette run blocking code), refused."""
    calls: list[str] = []

    async def refuse(function: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(repr(function))
        raise AssertionError(f"{calls[-1]} was sent to a worker thread")

    monkeypatch.setattr(anyio.to_thread, "run_sync", refuse)
    return calls


def test_requests_of_every_kind_run_on_the_event_loop_thread(
    platform: Platform, thread_pool_calls: list[str]
) -> None:
    http = app_client(platform)
    bank = channel(platform, http)
    person = holder()
    load(platform, person)
    sign_no = issued_sign_no(platform, bank, person)

    answers = [
        http.get("/healthz"),
        http.get("/v1/platform/keys"),
        bank.client.raw("GET", f"/v1/ecards/{sign_no}"),
        bank.client.raw("PUT", f"/v1/ecards/{sign_no}/password", {"password": "302915"}),
        bank.client.raw("POST", f"/v1/ecards/{sign_no}/qr-codes", {}),
        bank.client.raw("GET", f"/v1/ecards/{sign_no}/usages"),
        http.get("/v1/public/channel-apps"),
    ]

    assert [a.status_code for a in answers] == [200, 200, 200, 201, 201, 200, 200], [a.text for a in answers]
    assert thread_pool_calls == []


def test_the_refusal_of_worker_threads_catches_a_plain_def_endpoint(thread_pool_calls: list[str]) -> None:
    app = FastAPI()  # FastAPI's own routes, which run a plain def in the thread pool

    @app.get("/blocking")
    def blocking() -> dict[str, str]:
        return {"thread": threading.current_thread().name}

    with TestClient(app, raise_server_exceptions=False) as http:
        assert http.get("/blocking").status_code == 500
    assert len(thread_pool_calls) == 1
    assert "blocking" in thread_pool_calls[0]


@pytest.mark.parametrize(
    ("party", "work"), [(Party.PUBLIC, Work.ONE_STATEMENT), (Party.TERMINAL, Work.TRANSACTION)]
)
def test_only_a_signed_route_of_one_statement_may_check_the_session_in_it(party: Party, work: Work) -> None:
    with pytest.raises(ValueError, match="only a signed route whose work is one statement"):
        requires(Function.QR, party=party, work=work, checks_session=True)


def test_the_protocol_layer_skips_the_session_lookup_only_where_a_route_checks_it(platform: Platform) -> None:
    app = create_app(platform)
    layer = next(m for m in app.user_middleware if m.cls is ProtocolLayer)

    assert layer.kwargs["routes_checking_session"] == frozenset({("POST", "/v1/qr/resolutions")})
    checking = [r for r in api_routes(app) if checks_session(r)]
    assert [(r.path, declaration_of(r).work) for r in checking] == [  # type: ignore[union-attr]
        ("/v1/qr/resolutions", Work.ONE_STATEMENT)
    ]


_shared_calls: list[str] = []


async def _shared(request: Request) -> dict[str, str]:
    _shared_calls.append(request.url.path)
    return {"id": str(len(_shared_calls))}


async def _refusing(request: Request, value: Annotated[dict[str, str], Depends(_shared)]) -> dict[str, str]:
    if request.headers.get("x-refuse"):
        raise HTTPException(status_code=403, detail="refused by a dependency")
    return value


async def _paged(page: int = 1) -> int:
    return page


def _loop_app() -> FastAPI:
    """An app whose routes are LoopRoutes with the app as their provider of dependency overrides."""
    _shared_calls.clear()
    app = FastAPI()
    app.router.route_class = LoopRoute

    @app.get("/planned/{item}")
    async def planned(
        item: int,
        one: Annotated[dict[str, str], Depends(_shared)],
        two: Annotated[dict[str, str], Depends(_refusing)],
        limit: int = 10,
    ) -> dict[str, Any]:
        return {"item": item, "limit": limit, "same": one is two, "id": one["id"]}

    @app.get("/paged")
    async def paged(page: Annotated[int, Depends(_paged)]) -> dict[str, int]:
        return {"page": page}

    return app


def _route(app: FastAPI, path: str) -> LoopRoute:
    (route,) = [r for r in app.routes if isinstance(r, LoopRoute) and r.path == path]
    return route


def test_a_planned_route_solves_each_dependency_once_and_before_its_own_parameters() -> None:
    app = _loop_app()
    assert DependencyPlan.of(_route(app, "/planned/{item}").dependant) is not None

    with TestClient(app) as client:
        answer = client.get("/planned/7", params={"limit": 3})
        assert answer.json() == {"item": 7, "limit": 3, "same": True, "id": "1"}
        assert _shared_calls == ["/planned/7"]
        # The dependency refuses before the bad parameter is read, as FastAPI orders them.
        refused = client.get("/planned/not-a-number", headers={"x-refuse": "1"})
        assert (refused.status_code, refused.json()) == (403, {"detail": "refused by a dependency"})
        assert client.get("/planned/not-a-number").status_code == 422


def test_with_dependency_overrides_fastapi_solves_the_route_itself() -> None:
    app = _loop_app()

    async def overridden() -> dict[str, str]:
        return {"id": "override"}

    app.dependency_overrides[_shared] = overridden
    with TestClient(app) as client:
        assert client.get("/planned/1").json()["id"] == "override"
    assert _shared_calls == []


def test_a_dependency_that_reads_parameters_itself_leaves_the_route_to_fastapi() -> None:
    app = _loop_app()

    assert DependencyPlan.of(_route(app, "/paged").dependant) is None
    with TestClient(app) as client:
        assert client.get("/paged", params={"page": 4}).json() == {"page": 4}


def test_every_route_of_the_platform_with_dependencies_is_planned(platform: Platform) -> None:
    routes = api_routes(create_app(platform))

    unplanned = [
        r.path for r in routes if r.dependant.dependencies and DependencyPlan.of(r.dependant) is None
    ]

    assert unplanned == []
