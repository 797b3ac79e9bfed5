"""The route ends the unit of work: committed when it answered, else as its error says."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, ClassVar

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from essc.core.context import Actor, RequestContext
from essc.core.deps import hand_over_unit_of_work
from essc.core.platform import Platform
from essc.core.problems import install_problem_handlers
from essc.core.routing import LoopRoute, hand_over, is_opening_unit_of_work, opens_unit_of_work
from essc.core.uow import UnitOfWork
from essc.kit.errors import EsscError
from essc.regions.models import Region


class KeptRefusal(EsscError):
    status = 423
    code = "kept_refusal"
    title = "Refused, with what was written kept (as a lockout counts a wrong password)"
    persist_changes: ClassVar[bool] = True


class PlainRefusal(EsscError):
    status = 422
    code = "plain_refusal"
    title = "Refused, with nothing written"


@opens_unit_of_work
async def work(request: Request) -> UnitOfWork:
    """A unit of work of the test app's platform, handed to the route to end."""
    platform: Platform = request.app.state.platform
    uow = UnitOfWork(
        platform, RequestContext(actor=Actor.operator("tests")), platform.loop_engine().sessions()
    )
    hand_over_unit_of_work(request, uow)
    return uow


Work = Annotated[UnitOfWork, Depends(work)]


ENDED: list[str] = []
TEST_REGIONS = ("449901", "449902", "449903", "449904")


@opens_unit_of_work
async def first(request: Request) -> str:
    async def finish(error: BaseException | None) -> None:
        ENDED.append(f"first:{error!r}")

    hand_over(request, finish)
    return "first"


@opens_unit_of_work
async def second(request: Request) -> str:
    async def finish(error: BaseException | None) -> None:
        ENDED.append(f"second:{error!r}")
        raise PlainRefusal("the commit was refused")

    hand_over(request, finish)
    return "second"


@opens_unit_of_work
async def orphan(request: Request) -> str:
    async def finish(error: BaseException | None) -> None:
        return None

    hand_over(request, finish)
    return "never"


def _app(platform: Platform) -> FastAPI:
    app = FastAPI()
    app.router.route_class = LoopRoute
    app.state.platform = platform
    install_problem_handlers(app)

    def add_region(uow: UnitOfWork, code: str) -> None:
        uow.session.add(Region(code=code, name=f"Test {code}", level="prefecture", province="44"))
        uow.session.flush()

    @app.post("/regions/{code}")
    async def add(code: str, uow: Work, outcome: str = "answer") -> dict[str, str]:
        await uow.run(add_region, code)
        if outcome == "kept":
            raise KeptRefusal("refused, kept")
        if outcome == "refused":
            raise PlainRefusal("refused")
        return {"code": code}

    return app


@pytest.fixture
def http(platform: Platform) -> Iterator[TestClient]:
    try:
        with TestClient(_app(platform), raise_server_exceptions=False) as client:
            yield client
    finally:
        # The regions table is reference data other tests read whole: leave it as it was.
        with platform.session_factory() as session:
            session.execute(delete(Region).where(Region.code.in_(TEST_REGIONS)))
            session.commit()


def _exists(platform: Platform, code: str) -> bool:
    with platform.session_factory() as session:
        return session.scalar(select(Region.code).where(Region.code == code)) is not None


def test_what_a_route_wrote_is_committed_when_it_answers(platform: Platform, http: TestClient) -> None:
    assert http.post("/regions/449901").json() == {"code": "449901"}
    assert _exists(platform, "449901")


def test_an_error_that_keeps_its_changes_commits_them_and_still_answers_the_error(
    platform: Platform, http: TestClient
) -> None:
    answer = http.post("/regions/449902", params={"outcome": "kept"})
    assert (answer.status_code, answer.json()["code"]) == (423, "kept_refusal")
    assert _exists(platform, "449902")


def test_any_other_error_rolls_back(platform: Platform, http: TestClient) -> None:
    answer = http.post("/regions/449903", params={"outcome": "refused"})
    assert (answer.status_code, answer.json()["code"]) == (422, "plain_refusal")
    assert not _exists(platform, "449903")


def test_a_duplicate_written_by_the_route_is_the_named_conflict_not_a_500(
    platform: Platform, http: TestClient
) -> None:
    assert http.post("/regions/449904").status_code == 200
    answer = http.post("/regions/449904")
    assert (answer.status_code, answer.json()["code"]) == (409, "concurrent_write")


def test_every_unit_of_work_of_a_request_is_ended_when_one_fails_to() -> None:
    ENDED.clear()
    app = FastAPI()
    app.router.route_class = LoopRoute
    install_problem_handlers(app)

    @app.get("/two")
    async def two(a: Annotated[str, Depends(first)], b: Annotated[str, Depends(second)]) -> dict[str, str]:
        return {"a": a, "b": b}

    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/two")
    # The second's finish ran first (last opened, first ended); its refusal is the answer, and the first
    # was ended all the same.
    assert (answer.status_code, answer.json()["code"]) == (422, "plain_refusal")
    assert ENDED == ["second:None", "first:None"]


def test_a_unit_of_work_opened_on_a_route_that_cannot_end_it_is_refused() -> None:
    app = FastAPI()  # FastAPI's own routes: nothing would end the unit of work

    @app.get("/orphan")
    async def endpoint(value: Annotated[str, Depends(orphan)]) -> dict[str, str]:
        return {"value": value}

    with TestClient(app) as client, pytest.raises(RuntimeError, match="not a LoopRoute"):
        client.get("/orphan")


def test_the_mark_is_what_routes_and_the_openapi_document_look_for() -> None:
    async def plain() -> None:
        return None

    assert not is_opening_unit_of_work(plain)
    assert is_opening_unit_of_work(opens_unit_of_work(plain))
    assert not is_opening_unit_of_work(None)
