"""The OpenAPI document clients are generated from, made true in one place.

FastAPI's generator knows the routes' parameters and models; it does not know what the protocol layer
(essc.web.protocol) does around them. This module adds it, from the routes' own declarations
(`essc.core.deps.requires`):

- the security schemes (an SM2 signature or a session MAC) and the `X-Essc-*` headers of a signed request
  and of its signed answer;
- every status an operation can answer, as `application/problem+json` with the stable codes under each
  status: those the route declares (`raises=`), those of authentication, envelopes, idempotency and the body
  cap that come with its party and method, and 422 `invalid_input` for its parameters and body;
- request bodies as they travel: personal fields (`aac002`, `aac003`, ...) replaced by the `envelope` that
  carries them, and an optional `envelope` on answers whose route seals clear fields.

docs/protocol.md describes the same protocol in prose for implementers in other languages.
"""

from __future__ import annotations

import copy
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute

from essc.access.errors import (
    CallerSuspended,
    KeyRetired,
    KeyRevoked,
    NonceReused,
    RelayNotAllowed,
    RequestSignatureInvalid,
    SessionExpired,
    SessionNotAllowed,
    TimestampOutOfWindow,
    UnknownCaller,
    UnknownKeyId,
    UnknownSession,
)
from essc.core.db import DatabaseUnavailable
from essc.core.deps import declared_errors, policy_of
from essc.core.nonces import NonceStoreRecovering, NonceStoreUnavailable
from essc.core.problems import PROBLEM_MEDIA_TYPE
from essc.core.routing import is_opening_unit_of_work
from essc.idempotency.errors import (
    IdempotencyAnswerLost,
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
)
from essc.idempotency.service import STATE_CHANGING
from essc.kit import bodies, envelope, wire
from essc.kit.errors import EsscError, InvalidInput, PayloadTooLarge
from essc.shared.callers import MissingAuthHeader, WrongCallerKind
from essc.shared.policy import Party
from essc.web.links import add_links

Errors = tuple[type[EsscError], ...]

# What the protocol layer refuses before any route runs (essc.web.protocol), by what the request is.
SIGNED_REQUEST_ERRORS: Errors = (
    MissingAuthHeader,
    RelayNotAllowed,
    TimestampOutOfWindow,
    UnknownCaller,
    UnknownKeyId,
    KeyRevoked,
    KeyRetired,
    UnknownSession,
    SessionExpired,
    RequestSignatureInvalid,
    NonceReused,
    CallerSuspended,
    WrongCallerKind,
    # The nonce store is reached through the platform's configured store (essc.core.nonces).
    NonceStoreUnavailable,
    NonceStoreRecovering,
)
REQUEST_BODY_ERRORS: Errors = (
    PayloadTooLarge,
    bodies.BodyEncodingUnsupported,
    bodies.BodyNotJson,
    bodies.NumberOutOfRange,
    bodies.NulInText,
    envelope.PersonalFieldInClear,
)
SIGNED_BODY_ERRORS: Errors = (
    envelope.EnvelopeInvalid,
    envelope.TooManyEnvelopes,
    envelope.EnvelopeKeyUnknown,
)
IDEMPOTENCY_ERRORS: Errors = (
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    IdempotencyInProgress,
    IdempotencyAnswerLost,
)

SIGNATURE_SCHEME = "EsscSignature"
SESSION_SCHEME = "EsscSession"
_REF = "#/components/{kind}/{name}"


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": _REF.format(kind=kind, name=name)}


def _pattern(python: re.Pattern[str]) -> dict[str, str]:
    """A Python pattern as JSON Schema writes it (ECMA-262): `\\Z` (end of text) is `$` there."""
    return {"pattern": python.pattern.replace("\\Z", "$")}


def _header_name(header: str) -> str:
    return header.replace("-", "")


_SIGNED_HEADERS: tuple[tuple[str, bool, dict[str, Any], str], ...] = (
    (wire.HEADER_CALLER, True, _pattern(wire.CALLER_PATTERN), f"Who signs: {wire.CALLER_FORMS}."),
    (
        wire.HEADER_KEY_ID,
        False,
        _pattern(wire.KEY_ID_PATTERN),
        f"The key id of the signing key; required unless {wire.HEADER_SESSION} is sent.",
    ),
    (
        wire.HEADER_SESSION,
        False,
        _pattern(wire.SESSION_PATTERN),
        f"A MAC session's id (POST /v1/sessions); then {wire.HEADER_SIGNATURE} holds the session MAC.",
    ),
    (
        wire.HEADER_TIMESTAMP,
        True,
        _pattern(wire.TIMESTAMP_PATTERN),
        "Unix seconds; within the platform's window.",
    ),
    (
        wire.HEADER_NONCE,
        True,
        _pattern(wire.NONCE_PATTERN),
        "Fresh for every request of the caller; the answer is signed for it.",
    ),
    (
        wire.HEADER_SIGNATURE,
        True,
        {"contentEncoding": "base64", "minLength": 1},
        "Base64 of the SM2 signature (DER) or the session MAC over the canonical request string "
        "(docs/protocol.md, 'Signed requests').",
    ),
)
_RELAY_HEADER = (
    wire.HEADER_ON_BEHALF_OF,
    False,
    _pattern(wire.CALLER_REF_PATTERNS["channel"]),
    "A first-level channel relaying for one of its second-level channels names it here (a signed line).",
)
_IDEMPOTENCY_HEADER = (
    wire.HEADER_IDEMPOTENCY_KEY,
    False,
    {"pattern": "^[A-Za-z0-9_-]{8,64}$"},
    "Retry safely: the same key gets the first answer again, byte for byte.",
)
_REQUEST_ID_HEADER = (
    wire.HEADER_REQUEST_ID,
    False,
    {"maxLength": 64},
    "Correlates the request in the platform's logs; one is made when none is sent.",
)

_ANSWER_HEADERS: dict[str, dict[str, Any]] = {
    wire.HEADER_REQUEST_ID: {"description": "The request's id.", "schema": {"type": "string"}},
    wire.HEADER_SIGNATURE: {
        "description": "Base64 signature (or session MAC) over the canonical response string, for the "
        "request's nonce (docs/protocol.md, 'Signed answers').",
        "schema": {"type": "string"},
    },
    wire.HEADER_TIMESTAMP: {
        "description": "Unix seconds when the answer was signed.",
        "schema": {"type": "string"},
    },
    wire.HEADER_KEY_ID: {
        "description": "The platform key that signed the answer (GET /v1/platform/keys); none in a session.",
        "schema": {"type": "string"},
    },
    wire.HEADER_SESSION: {
        "description": "The session whose key MACed the answer.",
        "schema": {"type": "string"},
    },
    wire.HEADER_IDEMPOTENT_REPLAYED: {
        "description": "`true` when this is the stored first answer to the request's Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}

_PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `code` is stable and names the condition (docs/protocol.md, "
    "'Error codes'). Other members carry facts of the condition (the header to fix, a limit, the errors of "
    "each field).",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "description": "urn:essc:problem:<code>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "errors": {
            "type": "array",
            "description": "invalid_input: one entry per refused field",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

_ENVELOPE_SCHEMA: dict[str, Any] = {
    "title": "Envelope",
    "description": "Personal fields sealed for one call: a fresh SM4 key encrypted with SM2 to `kid`, and "
    "the SM4-GCM ciphertext of the fields' canonical JSON, bound to method, path, direction and caller "
    "(docs/protocol.md, 'Envelopes'). On a request, `kid` is one of the platform's `encryptionKeys` "
    "(GET /v1/platform/keys); on an answer, the key that signed the request or opened its session.",
    "type": "object",
    "required": list(envelope.PARTS),
    "properties": {
        "v": {"type": "integer", "const": envelope.VERSION},
        "kid": {"type": "string", "minLength": 1, "maxLength": 64},
        "key": {"type": "string", "contentEncoding": "base64"},
        "iv": {"type": "string", "contentEncoding": "base64"},
        "data": {"type": "string", "contentEncoding": "base64"},
    },
    "additionalProperties": False,
}


def operation_errors(route: APIRoute, method: str) -> Errors:
    """Every error the operation can answer: its route's declaration and what comes with party and method."""
    policy = policy_of(route)
    signed = policy is not None and policy.party is not Party.PUBLIC
    has_body = route.body_field is not None
    found: list[type[EsscError]] = list(declared_errors(route))
    if signed or _takes_a_unit_of_work(route.dependant):
        found.append(DatabaseUnavailable)  # authentication reads the caller; a unit of work, its data
    if route.dependant.path_params or route.dependant.query_params or has_body:
        found.append(InvalidInput)
    if route.dependant.path_params or route.dependant.query_params:
        found.append(bodies.NulInText)  # a %00 anywhere in the URL is refused before routing
    if has_body:
        found.extend(REQUEST_BODY_ERRORS)
    if signed:
        found.extend(SIGNED_REQUEST_ERRORS)
        if has_body:
            found.extend(SIGNED_BODY_ERRORS)
        if method in STATE_CHANGING:
            found.extend(IDEMPOTENCY_ERRORS)
    return tuple(dict.fromkeys(found))


def _takes_a_unit_of_work(dependant: Dependant) -> bool:
    """Whether a dependency of the operation, at any depth, opens a unit of work (its database access)."""
    return any(
        is_opening_unit_of_work(sub.call) or _takes_a_unit_of_work(sub) for sub in dependant.dependencies
    )


def _responses(errors: Iterable[type[EsscError]], pages: Errors = ()) -> dict[str, Any]:
    """One answer per status: a problem whose `code` is one of the status's codes (`x-essc-codes` lists them).

    `pages` are the errors an HTML page shows in the page itself, with their status.
    """
    by_status: dict[int, list[type[EsscError]]] = defaultdict(list)
    for error in errors:
        if error.code not in {e.code for e in by_status[error.status]}:
            by_status[error.status].append(error)
    answers: dict[str, Any] = {}
    for status in sorted(by_status):
        listed = sorted(by_status[status], key=lambda e: e.code)
        codes = [e.code for e in listed]
        problem: dict[str, Any] = {
            "schema": {"allOf": [_ref("schemas", "Problem"), {"properties": {"code": {"enum": codes}}}]}
        }
        content: dict[str, Any] = {PROBLEM_MEDIA_TYPE: problem}
        oauth = [e.code for e in listed if getattr(e, "oauth", False)]
        if oauth:
            # The OpenID provider's OAuth endpoints answer RFC 6749 error JSON, not problems (oidc.errors).
            content = {"application/json": {"schema": _oauth_error(oauth)}} | (
                content if len(oauth) < len(listed) else {}
            )
        if any(error in pages for error in listed):
            content = {"text/html": {"schema": {"type": "string"}}}
        answers[str(status)] = {
            "description": "; ".join(f"`{e.code}`: {e.title}" for e in listed),
            "x-essc-codes": codes,
            "content": content,
        }
    return answers


def _oauth_error(codes: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"enum": codes}, "error_description": {"type": "string"}},
    }


def _parameter(header: tuple[str, bool, dict[str, Any], str]) -> dict[str, Any]:
    name, required, schema, description = header
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


def _input_schemas(document: dict[str, Any]) -> set[str]:
    """Names of the component schemas reachable from request bodies."""
    schemas = document.get("components", {}).get("schemas", {})
    found: set[str] = set()
    pending: list[Any] = [
        operation["requestBody"]
        for item in document["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "requestBody" in operation
    ]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in found:
                    found.add(name)
                    pending.append(schemas[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return found


def _sealed_input(schema: dict[str, Any]) -> dict[str, Any]:
    """A request body's schema as it travels: personal fields inside `envelope`, never in the clear."""
    properties = schema.get("properties", {})
    personal = sorted(name for name in properties if name in envelope.PERSONAL_FIELDS)
    if not personal:
        return schema
    sealed = copy.deepcopy(schema)
    required = [name for name in sealed.get("required", []) if name not in envelope.PERSONAL_FIELDS]
    for name in personal:
        del sealed["properties"][name]
    sealed["properties"][envelope.MEMBER] = {
        **_ref("schemas", "Envelope"),
        "description": f"holds {', '.join(personal)} (sealed; the clear fields are refused: "
        "personal_field_in_clear)",
    }
    sealed["required"] = [*required, envelope.MEMBER]
    return sealed


def _with_answer_envelope(schema: dict[str, Any], refs: Sequence[str]) -> None:
    for name in refs:
        properties = schema.get(name, {}).get("properties")
        if properties is not None and envelope.MEMBER not in properties:
            properties[envelope.MEMBER] = {
                **_ref("schemas", "Envelope"),
                "description": "the clear personal fields of a clear grant, sealed to the caller",
            }


def _response_refs(operation: dict[str, Any]) -> list[str]:
    refs: list[str] = []
    for status, answer in operation.get("responses", {}).items():
        if status.startswith("2"):
            for media in answer.get("content", {}).values():
                ref = media.get("schema", {}).get("$ref", "")
                if ref:
                    refs.append(ref.rsplit("/", 1)[1])
    return refs


def _document(app: FastAPI, routes: Callable[[FastAPI], list[APIRoute]]) -> dict[str, Any]:
    document = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        summary=app.summary,
        description=(
            "The essc platform's API. Signed requests, answers, envelopes and every error code are described "
            "in docs/protocol.md; the error codes also appear under each status here."
        ),
        routes=app.routes,
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = _PROBLEM_SCHEMA
    schemas["Envelope"] = _ENVELOPE_SCHEMA
    for name in _input_schemas(document):
        schemas[name] = _sealed_input(schemas[name])
    components["securitySchemes"] = {
        SIGNATURE_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": wire.HEADER_SIGNATURE,
            "description": "An SM2 signature over the canonical request string with the caller's key, sent "
            f"with {wire.HEADER_CALLER}, {wire.HEADER_KEY_ID}, {wire.HEADER_TIMESTAMP} and "
            f"{wire.HEADER_NONCE} (docs/protocol.md, 'Signed requests').",
        },
        SESSION_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": wire.HEADER_SESSION,
            "description": "A MAC session opened with POST /v1/sessions: the session id here, the HMAC-SM3 "
            f"of the canonical request string under the session key in {wire.HEADER_SIGNATURE} "
            "(docs/protocol.md, 'MAC sessions').",
        },
    }
    parameters = components.setdefault("parameters", {})
    for header in (*_SIGNED_HEADERS, _RELAY_HEADER, _IDEMPOTENCY_HEADER, _REQUEST_ID_HEADER):
        parameters[_header_name(header[0])] = _parameter(header)
    components["headers"] = {_header_name(name): header for name, header in _ANSWER_HEADERS.items()}

    for route in routes(app):
        if route.include_in_schema:
            for method in sorted(route.methods or ()):
                operation = document["paths"][route.path_format].get(method.lower())
                if operation is not None:
                    _document_operation(operation, route, method, schemas)
    add_links(document)
    return document


def _document_operation(
    operation: dict[str, Any], route: APIRoute, method: str, schemas: dict[str, Any]
) -> None:
    """Statuses, security, headers and sealed answers of one operation."""
    policy = policy_of(route)
    errors = operation_errors(route, method)
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    page = isinstance(route.response_class, type) and issubclass(route.response_class, HTMLResponse)
    responses.update(_responses(errors, pages=declared_errors(route) if page else ()))
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path" and "pattern" not in parameter.get("schema", {}):
            # What the router matches for a path parameter: anything but a slash.
            parameter["schema"]["pattern"] = "^[^/]+$"
    headers = [_ref("parameters", _header_name(wire.HEADER_REQUEST_ID))]
    if policy is None or policy.party is Party.PUBLIC:
        operation["security"] = []
    else:
        headers += [_ref("parameters", _header_name(h[0])) for h in _SIGNED_HEADERS]
        if policy.party is Party.CHANNEL:
            headers.append(_ref("parameters", _header_name(wire.HEADER_ON_BEHALF_OF)))
        if method in STATE_CHANGING:
            headers.append(_ref("parameters", _header_name(wire.HEADER_IDEMPOTENCY_KEY)))
        sessions = SessionNotAllowed not in errors
        operation["security"] = [{SIGNATURE_SCHEME: []}] + ([{SESSION_SCHEME: []}] if sessions else [])
        for answer in responses.values():
            answer["headers"] = {name: _ref("headers", _header_name(name)) for name in _ANSWER_HEADERS}
        if getattr(route.response_model, "clear_personal_fields", None) is not None:
            _with_answer_envelope(schemas, _response_refs(operation))
    operation["parameters"] = [*operation.get("parameters", []), *headers]


def install_openapi(app: FastAPI, routes: Callable[[FastAPI], list[APIRoute]]) -> None:
    """Serve the true document at /openapi.json, built once on first use."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app, routes)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
