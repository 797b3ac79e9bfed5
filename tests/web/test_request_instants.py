"""Every datetime a request carries, in any body, query or header of any route, is an aware `Instant`."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Any

from fastapi.dependencies.models import Dependant
from pydantic import AfterValidator, AwareDatetime, BaseModel, FutureDatetime, NaiveDatetime, PastDatetime

from essc.core.platform import Platform
from essc.kit.schemas import utc_instant
from essc.web.app import api_routes, create_app

DATETIMES = (datetime, AwareDatetime, NaiveDatetime, PastDatetime, FutureDatetime)


def _datetimes(annotation: Any, metadata: list[Any], where: str, seen: set[type]) -> list[tuple[str, bool]]:
    """Each place under `annotation` where a datetime is taken, and whether the instant check applies."""
    checked = any(isinstance(m, AfterValidator) and m.func is utc_instant for m in metadata)
    if annotation in DATETIMES:
        return [(where, checked)]
    if typing.get_origin(annotation) is typing.Annotated:
        inner, *more = typing.get_args(annotation)
        return _datetimes(inner, [*metadata, *more], where, seen)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return []
        seen.add(annotation)
        return [
            loose
            for name, field in annotation.model_fields.items()
            for loose in _datetimes(field.annotation, field.metadata, f"{where}.{name}", seen)
        ]
    return [loose for arg in typing.get_args(annotation) for loose in _datetimes(arg, metadata, where, seen)]


def _params(dependant: Dependant) -> list[Any]:
    """Every query, header and body parameter of a route and of its dependencies at any depth."""
    own = [*dependant.query_params, *dependant.header_params, *dependant.body_params]
    return own + [param for sub in dependant.dependencies for param in _params(sub)]


def test_every_request_datetime_is_an_instant(platform: Platform) -> None:
    taken: list[tuple[str, bool]] = []
    for route in api_routes(create_app(platform)):
        for param in _params(route.dependant):
            info = param.field_info
            taken += _datetimes(info.annotation, list(info.metadata), f"{route.path} {param.name}", set())
    assert [where for where, checked in taken if not checked] == []
    assert "/v1/ecards/{sign_no}/usages before" in dict(taken)  # the walk sees queries as well as bodies
