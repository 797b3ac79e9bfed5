"""schemathesis against the running platform: every operation of /openapi.json, requests signed by the SDK.

The platform is served by uvicorn over the test database (SQLite, and PostgreSQL with Redis when set), with
a world to act in: a channel, a province, a terminal and the ministry, holders loaded and an e-card issued.
Each generated request is signed as the operation's party (`x-essc-policy`) by the SDK after schemathesis
serialised it, with a fresh Idempotency-Key, and any `envelope` it generated is replaced by a real one
sealing a loaded holder's fields. Path parameters are drawn from the generated value or the world's own (so
requests reach more than 404). Checked on every answer: no 5xx, only documented statuses, content types,
headers and bodies, and no schema-valid request refused as malformed (`invalid_input` with field errors
means the document and the validation disagree).
"""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import factories
from essc.core.platform import Platform
from essc.idempotency.service import STATE_CHANGING
from essc.kit import envelope, wire
from essc_sdk import EsscClient
from factories import (
    HolderRecord,
    app_client,
    channel,
    holder,
    institution,
    issue_request,
    issued_sign_no,
    load,
    ministry,
    province,
    terminal,
)

# 5 examples of each of the ~50 operations: about 20 s per database on the shared CI machine; more with the
# variable when hunting (30: about 90 s).
EXAMPLES_PER_OPERATION = int(os.environ.get("ESSC_SCHEMATHESIS_EXAMPLES", "5"))
# An event stream answers until its login code is answered or expires: it is exercised by tests/login.
STREAMS = {"GET /v1/login-codes/{login_id}/events"}


class SchemaValidRequestRefused(Failure):
    """A request the document says is valid was refused by the platform's own validation."""


@schemathesis.check
def schema_valid_request_accepted(ctx: Any, response: Any, case: Any) -> bool | None:
    """A positive case may be refused for what the world holds (404, 409, domain 422s), never for its form."""
    if (
        response.status_code not in (400, 422)
        or case.meta is None
        or not case.meta.generation.mode.is_positive
        or not response.content.startswith(b"{")
    ):
        return None  # pages show their refusals as HTML (OAuth error JSON names no code below)
    problem = orjson.loads(response.content)
    if problem.get("code") in {"invalid_input", "missing_auth_header", "personal_field_in_clear"} and (
        problem.get("errors") or problem.get("code") != "invalid_input"
    ):
        raise SchemaValidRequestRefused(
            operation=case.operation.label,
            title="Schema-valid request refused",
            message=f"{response.status_code} {problem.get('code')}: {problem.get('detail')}",
        )
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    schema_valid_request_accepted,
]


@dataclass
class World:
    """What the generated requests act on: the parties' clients and the values of real resources."""

    clients: dict[str, EsscClient]
    record: HolderRecord
    known: dict[str, list[str]]


class SigningSession(requests.Session):
    """Signs each request as schemathesis prepared it, the way a channel app's HTTP interceptor would."""

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world = world
        self.signer: EsscClient | None = None

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        signer = self.signer
        if signer is not None and request.method is not None:
            for name in list(request.headers):
                if name.lower().startswith("x-essc-") or name.lower() == "idempotency-key":
                    del request.headers[name]
            body = request.body.encode() if isinstance(request.body, str) else request.body or b""
            if b'"envelope"' in body:
                body = orjson.dumps(
                    self._sealed(orjson.loads(body), signer, request.method, request.path_url)
                )
                request.body = body
                request.prepare_content_length(body)
            request.headers.update(signer.signed_headers(request.method, request.path_url, body))
            if request.method in STATE_CHANGING:
                request.headers[wire.HEADER_IDEMPOTENCY_KEY] = secrets.token_urlsafe(24)
        return super().send(request, **kwargs)

    def _sealed(self, body: Any, signer: EsscClient, method: str, path: str) -> Any:
        """The generated envelopes replaced by real ones holding a loaded holder's fields."""
        if isinstance(body, list):
            return [self._sealed(item, signer, method, path) for item in body]
        if not isinstance(body, dict):
            return body
        opened = {k: self._sealed(v, signer, method, path) for k, v in body.items() if k != envelope.MEMBER}
        if envelope.MEMBER in body:
            fields = {"aac002": self.world.record.aac002, "aac003": self.world.record.aac003}
            opened[envelope.MEMBER] = signer.seal(fields, method, path)
        return opened


@pytest.fixture
def served(platform: Platform) -> Iterator[str]:
    with factories.served(platform) as url:
        yield url


def _world(platform: Platform, url: str) -> World:
    http = app_client(platform)
    record = holder()
    load(platform, record, holder())
    app, gd, registry = channel(platform, http), province(platform, http), ministry(platform, http)
    code = institution(gd)
    counter = terminal(platform, http, gd, code, {"01": "masked", "04": "clear"}, session=False)
    sign_no = issued_sign_no(platform, app, record)
    over_http = httpx.Client(base_url=url)
    clients = {}
    for party, kind in ((app, "channel"), (gd, "province"), (registry, "ministry"), (counter, "terminal")):
        clients[kind] = EsscClient(
            over_http,
            platform.suite,
            caller=party.label,
            key_id=party.key_id,
            private_key=party.private_key,
            clock=lambda: platform.clock.now().timestamp(),
        )
    clients["signed"] = clients["channel"]
    known = {
        "sign_no": [sign_no],
        "province": ["44"],
        "channel_no": [app.label.removeprefix("channel/")],
        "terminal_no": [counter.terminal_no],
        "code": [code],
        "aaz500": [record.aaz500],
        "function": ["qr", "issuance"],
        "key_id": ["k1"],
    }
    return World(clients, record, known)


def _party(operation: Any) -> str:
    policy: dict[str, str] = operation.definition.raw.get("x-essc-policy", {})
    return policy.get("party", "public")


def _run_operation(operation: Any, session: SigningSession, url: str) -> list[str]:
    """Generate and send EXAMPLES_PER_OPERATION requests; the failures, one line each."""
    failures: list[str] = []
    session.signer = None if _party(operation) == "public" else session.world.clients[_party(operation)]

    @given(data=st.data())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def exercise(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        for name in list(case.path_parameters or {}):
            choices = session.world.known.get(name, [])
            if choices:
                case.path_parameters[name] = data.draw(
                    st.sampled_from([case.path_parameters[name], *choices])
                )
        response = case.call(base_url=url, session=session, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # every failure is collected, then reported together
            body = response.request.body or b""
            sent = (
                (response.request.url or "").encode()
                + b" "
                + (body.encode() if isinstance(body, str) else body)
            )
            failures.append(f"{operation.label}: {exc}\n    sent: {sent!r:.300}")

    exercise()
    return failures


def test_every_operation_answers_as_documented(platform: Platform, served: str) -> None:
    world = _world(platform, served)
    schema = schemathesis.openapi.from_url(f"{served}/openapi.json")
    session = SigningSession(world)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in STREAMS:
            continue
        operations += 1
        failures += _run_operation(operation, session, served)
    assert operations >= 50
    assert not failures, "\n".join(failures)


# Stateful: schemathesis chains the operations the document's links join (essc.web.links), so an issued
# e-card's signNo reaches its views, QR codes and busiSeqs, a QR code reaches a terminal's resolution, a
# registered channel or terminal its management. Bounded by scenarios and steps: about 60 s per database on
# the loaded CI machine (more with the variable when hunting).
ISSUANCE = "POST /v1/ecards/issuance"
SCENARIOS = int(os.environ.get("ESSC_SCHEMATHESIS_SCENARIOS", "2"))
STEPS_PER_SCENARIO = 6


def test_chained_operations_answer_as_documented(platform: Platform, served: str) -> None:
    world = _world(platform, served)
    schema = schemathesis.openapi.from_url(f"{served}/openapi.json").exclude(name=sorted(STREAMS))
    # Only the document's own links chain operations (inferred ones would spend the steps elsewhere).
    schema.config.phases.stateful.inference.algorithms = []
    session = SigningSession(world)
    failures: list[str] = []
    steps: Counter[str] = Counter()

    class SignedStateMachine(schema.as_state_machine()):  # type: ignore[misc]
        """Each step signed as its operation's party, checked by the same checks as the stateless test."""

        def before_call(self, case: Any) -> None:
            party = _party(case.operation)
            session.signer = None if party == "public" else world.clients[party]
            if case.operation.label == ISSUANCE and isinstance(case.body, dict):
                # A holder the world loaded, so the chain starts from a real e-card (its envelope sealed
                # by the session); the other operations keep what schemathesis generated.
                issued = issue_request(platform, world.record)
                case.body = {
                    **{k: v for k, v in issued.items() if k not in ("aac002", "aac003")},
                    envelope.MEMBER: {},
                }

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": served, "session": session, "timeout": 30}

        def validate_response(self, response: Any, case: Any, *_: Any, **__: Any) -> None:
            steps[f"{case.operation.label} {response.status_code}"] += 1
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # collected, then reported together
                body = response.request.body or b""
                sent = (
                    (response.request.url or "").encode()
                    + b" "
                    + (body.encode() if isinstance(body, str) else body)
                )
                failures.append(f"{case.operation.label}: {exc}\n    sent: {sent!r:.300}")

    SignedStateMachine.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS_PER_SCENARIO,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
    )
    assert not failures, "\n".join(failures)
    # Every scenario took steps (the chains start at the operations links leave from).
    assert sum(steps.values()) >= SCENARIOS, dict(steps)
