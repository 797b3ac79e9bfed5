"""Plain-def endpoints run in the thread pool once; their answers are validated on the event loop."""

from __future__ import annotations

import inspect
import threading
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, model_validator

from essc.core.app import api_routes, create_app
from essc.core.platform import Platform
from essc.core.routing import ThreadedEndpointRoute, api_router

_threads: dict[str, str] = {}


class Answer(BaseModel):
    # Validated again when FastAPI checks the endpoint's return value, so the check's thread is visible.
    model_config = ConfigDict(revalidate_instances="always")

    value: int

    @model_validator(mode="after")
    def _note_thread(self) -> Answer:
        _threads.setdefault("validation", threading.current_thread().name)
        return self


async def _on_the_loop() -> None:
    _threads["loop"] = threading.current_thread().name


def _app() -> FastAPI:
    router = api_router(prefix="/t")

    @router.get("/sync", response_model=Answer, dependencies=[Depends(_on_the_loop)])
    def sync_endpoint(value: int) -> Answer:
        _threads["endpoint"] = threading.current_thread().name
        return Answer.model_construct(value=value)

    @router.get("/async")
    async def async_endpoint(times: Annotated[int, Depends(lambda: 2)]) -> Answer:
        return Answer(value=times)

    app = FastAPI()
    app.include_router(router)
    return app


def test_a_plain_def_endpoint_runs_in_a_worker_thread_and_its_answer_is_validated_on_the_loop() -> None:
    _threads.clear()
    with TestClient(_app()) as http:
        assert http.get("/t/sync", params={"value": 7}).json() == {"value": 7}

    assert _threads["endpoint"] != _threads["loop"]
    assert _threads["validation"] == _threads["loop"]


def test_coroutine_endpoints_are_left_as_they_are() -> None:
    app = _app()
    endpoints = {route.path: route.endpoint for route in api_routes(app)}

    assert inspect.unwrap(endpoints["/t/async"]) is endpoints["/t/async"]
    assert inspect.unwrap(endpoints["/t/sync"]) is not endpoints["/t/sync"]
    with TestClient(app) as http:
        assert http.get("/t/async").json() == {"value": 2}


def test_every_route_of_the_platform_is_a_threaded_endpoint_route(platform: Platform) -> None:
    routes = api_routes(create_app(platform))

    assert routes
    assert [r.path for r in routes if not isinstance(r, ThreadedEndpointRoute)] == []
