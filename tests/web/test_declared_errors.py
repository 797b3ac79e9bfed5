"""Each route declares exactly the errors its code can raise; the OpenAPI document publishes them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.dependencies.models import Dependant

from essc.core.deps import declared_errors
from essc.core.platform import Platform
from essc.kit.errors import DecryptionFailed, EsscError, InvalidSignature, KeyNotFound, MalformedKey
from essc.kit.merkle import InvalidProof
from essc.shared.callers import MissingAuthHeader, WrongCallerKind
from essc.web import openapi, protocol
from essc.web.app import api_routes, create_app
from raised_errors import raised_by

# Raised by the request's dependencies for every signed route, published with the party (openapi.py).
WITH_THE_PARTY = {MissingAuthHeader, WrongCallerKind}
# Raised by the configured crypto suite, which the analysis cannot follow (`suite.load_public_key(...)`): a
# route may declare them unseen by the analysis (tests/web/test_schemathesis.py finds any left undeclared).
RAISED_BY_THE_SUITE = {MalformedKey, InvalidSignature, DecryptionFailed}
# The platform's own key store failing under a request: a fault of the platform, not an answer to document.
PLATFORM_FAULTS = {KeyNotFound}
# Raised by kit.merkle for a leaf or size outside a tree; every route checks the bounds first (its own named
# refusals), so on the platform it can only be a fault, never an answer.
PROOFS_WITHIN_CHECKED_BOUNDS = {InvalidProof}


def _calls(dependant: Dependant) -> list[Any]:
    found: list[Any] = [dependant.call]
    for dependency in dependant.dependencies:
        found.extend(_calls(dependency))
    return found


def _names(errors: set[type[EsscError]]) -> list[str]:
    return sorted(f"{e.__module__}.{e.__name__}" for e in errors)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_each_route_declares_exactly_the_errors_its_code_raises(platform: Platform) -> None:
    routes = api_routes(create_app(platform))
    wrong = {}
    for route in routes:
        raised = set(raised_by(*_calls(route.dependant))) - WITH_THE_PARTY - PROOFS_WITHIN_CHECKED_BOUNDS
        declared = set(declared_errors(route))
        missing, extra = raised - declared, declared - raised - RAISED_BY_THE_SUITE
        if missing or extra:
            wrong[f"{sorted(route.methods)} {route.path}"] = {
                "raised, not declared": _names(missing),
                "declared, never raised": _names(extra),
            }
    assert not wrong, wrong
    assert sum(len(declared_errors(r)) for r in routes) > 200


def test_the_protocol_layer_raises_only_what_the_document_lists_for_every_signed_operation() -> None:
    listed = {
        *openapi.SIGNED_REQUEST_ERRORS,
        *openapi.REQUEST_BODY_ERRORS,
        *openapi.SIGNED_BODY_ERRORS,
        *openapi.IDEMPOTENCY_ERRORS,
    }
    raised = set(raised_by(protocol.ProtocolLayer, protocol._Exchange)) - PLATFORM_FAULTS
    assert raised, "the analysis found nothing: it is broken"
    assert raised <= listed, _names(raised - listed)


def test_the_analysis_follows_builders_and_ignores_errors_only_compared() -> None:
    class Refused(EsscError):
        code = "refused_for_the_test"

    class Other(EsscError):
        code = "other_for_the_test"

    def why_not(flag: bool) -> EsscError | None:
        return Refused("no") if flag else None

    def compares(flag: bool) -> bool:
        return why_not(flag) is None

    def raises(flag: bool) -> None:
        refusal = why_not(flag)
        if refusal is not None:
            raise refusal
        if not compares(flag):
            raise Other("no")

    # Functions of the tests are outside the platform: analyse them as the platform's own.
    for function in (why_not, compares, raises):
        function.__module__ = "essc.test_analysis"
    assert raised_by(compares) == frozenset()
    assert raised_by(raises) == {Refused, Other}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_document_publishes_each_operations_errors_under_their_statuses(platform: Platform) -> None:
    app = create_app(platform)
    document = app.openapi()
    checked = 0
    for route in api_routes(app):
        for method in route.methods:
            responses = document["paths"][route.path_format][method.lower()]["responses"]
            published = {
                (int(status), code)
                for status, answer in responses.items()
                if not status.startswith("2") and (route.path, status) != ("/readyz", "503")
                for code in answer["x-essc-codes"]
            }
            expected = {(e.status, e.code) for e in openapi.operation_errors(route, method)}
            assert published == expected, (method, route.path)
            assert set(declared_errors(route)) <= set(openapi.operation_errors(route, method))
            checked += 1
    assert checked == len(api_routes(app))
