"""/openapi.json tells the truth: security, signed headers, problem answers, envelopes; 405 names Allow."""

from __future__ import annotations

from typing import Any

import pytest

from essc.core.platform import Platform
from essc.kit import envelope, wire
from factories import app_client

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


def _document(platform: Platform) -> dict[str, Any]:
    answer = app_client(platform).get("/openapi.json")
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def _resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    kind, name = ref.split("/")[-2:]
    found: dict[str, Any] = document["components"][kind][name]
    return found


def test_it_is_openapi_3_1_with_the_signature_and_session_schemes(platform: Platform) -> None:
    document = _document(platform)
    assert document["openapi"].startswith("3.1")
    schemes = document["components"]["securitySchemes"]
    assert schemes["EsscSignature"] == {**schemes["EsscSignature"], "type": "apiKey", "in": "header"}
    assert schemes["EsscSignature"]["name"] == wire.HEADER_SIGNATURE
    assert schemes["EsscSession"]["name"] == wire.HEADER_SESSION


def test_signed_operations_name_their_headers_and_public_ones_none(platform: Platform) -> None:
    document = _document(platform)
    for method, path, operation in _operations(document):
        party = operation["x-essc-policy"]["party"]
        headers = {
            _resolve(document, p)["name"]
            for p in operation["parameters"]
            if _resolve(document, p)["in"] == "header"
        }
        if party == "public":
            assert operation["security"] == [], path
            assert not any(h.startswith("X-Essc-") for h in headers), path
            continue
        assert {"EsscSignature": []} in operation["security"], path
        assert {
            wire.HEADER_CALLER,
            wire.HEADER_KEY_ID,
            wire.HEADER_SESSION,
            wire.HEADER_TIMESTAMP,
            wire.HEADER_NONCE,
            wire.HEADER_SIGNATURE,
        } <= headers, path
        assert (wire.HEADER_IDEMPOTENCY_KEY in headers) == (method != "get"), path
        assert (wire.HEADER_ON_BEHALF_OF in headers) == (party == "channel"), path
        assert "401" in operation["responses"], path
        ok = next(a for s, a in operation["responses"].items() if s.startswith("2"))
        assert wire.HEADER_SIGNATURE in ok["headers"], path


def test_a_session_cannot_open_a_session(platform: Platform) -> None:
    operation = _document(platform)["paths"]["/v1/sessions"]["post"]
    assert operation["security"] == [{"EsscSignature": []}]


def test_every_refusal_is_a_problem_with_its_codes(platform: Platform) -> None:
    document = _document(platform)
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for _method, path, operation in _operations(document):
        for status, documented in operation["responses"].items():
            answer = documented
            if status.startswith("2"):
                continue
            if path == "/readyz" and status == "503":
                assert list(answer["content"]) == ["application/json"]  # the readiness report, not a problem
                continue
            if list(answer["content"]) == ["text/html"]:
                assert path in (
                    "/channel-apps",
                    "/oidc/authorize",
                    "/oidc/authorize/kiosk",
                    "/oidc/authorize/scan",
                    "/oidc/authorize/chip",
                    "/oidc/logout",
                ), "only the public pages show their refusals in the page"
                continue
            if "application/json" in answer["content"]:
                # OAuth endpoints answer RFC 6749 error JSON (essc.oidc.errors), beside any problem.
                assert path.startswith("/oidc/"), path
                oauth = answer["content"]["application/json"]["schema"]["properties"]["error"]["enum"]
                assert set(oauth) <= set(answer["x-essc-codes"])
                if list(answer["content"]) == ["application/json"]:
                    continue
            problems = {k: v for k, v in answer["content"].items() if k != "application/json"}
            assert list(problems) == ["application/problem+json"], (path, status)
            schema = problems["application/problem+json"]["schema"]
            assert schema["allOf"][0] == {"$ref": "#/components/schemas/Problem"}
            codes = schema["allOf"][1]["properties"]["code"]["enum"]
            assert codes == answer["x-essc-codes"], (path, status)
            assert all(f"`{code}`" in answer["description"] for code in codes)
    issuance = document["paths"]["/v1/ecards/issuance"]["post"]["responses"]
    codes = {c for a in issuance.values() for c in _codes(a)}
    expected = {"holder_mismatch", "invalid_request_signature", "personal_field_in_clear", "body_too_large"}
    assert expected <= codes


def _codes(answer: dict[str, Any]) -> list[str]:
    content = answer.get("content", {}).get("application/problem+json")
    return content["schema"]["allOf"][1]["properties"]["code"]["enum"] if content else []


def _properties(document: dict[str, Any], node: Any, seen: set[str]) -> set[str]:
    """Every property name reachable from a schema node."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in seen:
                return found
            seen.add(ref)
            node = _resolve(document, node)
        found |= set(node.get("properties", {}))
        for value in node.values():
            found |= _properties(document, value, seen)
    elif isinstance(node, list):
        for value in node:
            found |= _properties(document, value, seen)
    return found


def test_no_request_body_has_a_clear_personal_field_and_issuance_seals_them(platform: Platform) -> None:
    document = _document(platform)
    for _method, path, operation in _operations(document):
        if "requestBody" in operation:
            clear = _properties(document, operation["requestBody"], set()) & envelope.PERSONAL_FIELDS
            assert not clear, (path, clear)
    issue = document["components"]["schemas"]["IssueRequest"]
    assert issue["properties"]["envelope"]["$ref"] == "#/components/schemas/Envelope"
    assert "envelope" in issue["required"]
    assert set(document["components"]["schemas"]["Envelope"]["required"]) == set(envelope.PARTS)


def test_an_answer_that_may_seal_clear_fields_documents_its_envelope(platform: Platform) -> None:
    resolution = _document(platform)["components"]["schemas"]["Resolution"]
    assert resolution["properties"]["envelope"]["$ref"] == "#/components/schemas/Envelope"


def test_a_method_the_path_does_not_serve_is_405_with_allow(platform: Platform) -> None:
    http = app_client(platform)
    answer = http.delete("/v1/regions")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET"
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "method_not_allowed"
    signed_path = http.get("/v1/ecards/issuance/password")  # PUT only
    assert signed_path.status_code == 405
    assert signed_path.headers["allow"] == "PUT"


def test_header_patterns_are_json_schema_patterns(platform: Platform) -> None:
    """ECMA-262 has no \\Z: a Python end-of-text anchor must be written $ in the document."""
    parameters = _document(platform)["components"]["parameters"]
    patterns = [p["schema"]["pattern"] for p in parameters.values() if "pattern" in p["schema"]]
    assert len(patterns) >= 6
    for pattern in patterns:
        assert "\\Z" not in pattern
        assert pattern.startswith("^")
        assert pattern.endswith("$")


def test_links_lead_from_an_answer_to_the_operations_its_values_open(platform: Platform) -> None:
    document = _document(platform)
    operation_ids = {
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
    }
    issued = document["paths"]["/v1/ecards/issuance"]["post"]["responses"]["200"]["links"]
    code = document["paths"]["/v1/ecards/{sign_no}/qr-codes"]["post"]["responses"]["201"]["links"]

    assert issued["getEcards"] == {
        "operationId": "view_v1_ecards__sign_no__get",
        "parameters": {"sign_no": "$response.body#/signNo"},
    }
    assert code["postResolutions"]["requestBody"] == {"code": "$response.body#/code"}
    links = [
        link
        for operations in document["paths"].values()
        for operation in operations.values()
        for answer in operation["responses"].values()
        for link in answer.get("links", {}).values()
    ]
    assert len(links) >= 30
    assert {link["operationId"] for link in links} <= operation_ids
