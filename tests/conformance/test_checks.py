"""The proxy's conclusions and the driver contract's parsing, on hand-made exchanges and answers."""

from __future__ import annotations

import orjson

from essc_conformance import checks
from essc_conformance.driver import parse_answer
from essc_conformance.proxy import Exchange, FaultKind


def exchange(
    seq: int,
    body: object,
    *,
    key: str | None = "k-1",
    nonce: str = "n" * 20,
    path: str = "/v1/x",
    fault: FaultKind | None = None,
) -> Exchange:
    headers = {"x-essc-nonce": nonce} | ({"idempotency-key": key} if key else {})
    return Exchange(seq, "case", "POST", path, headers, orjson.dumps(body), 201, fault)


def test_a_clear_value_is_found_also_when_json_escapes_it() -> None:
    escaped = Exchange(0, "case", "POST", "/v1/x", {}, b'{"name":"\\u738b\\u5c0f\\u660e"}', 201, None)

    found = checks.clear_personal_fields([escaped], ["王小明"])

    assert found == ["POST /v1/x (during case) carried a test person's clear value outside an envelope"]
    assert checks.clear_personal_fields([exchange(0, {"aac067": "13800000000"})], []) == [
        "POST /v1/x (during case) carried personal field aac067 in the clear in its body"
    ]


def test_a_retry_must_keep_key_and_body_and_every_change_needs_a_key() -> None:
    failed = exchange(0, {"a": 1}, nonce="a" * 20, fault=FaultKind.UNAVAILABLE)
    retried = exchange(1, {"a": 2}, key="k-2", nonce="b" * 20)
    keyless = exchange(2, {}, key=None, nonce="c" * 20, path="/v1/y")

    faults = checks.idempotency_faults([failed, retried, keyless])

    assert len(faults) == 3
    assert "carried no Idempotency-Key header" in faults[0]
    assert "carried Idempotency-Key 'k-2'; expected the first attempt's 'k-1'" in faults[1]
    assert "sent another body" in faults[2]


def test_off_contract_driver_answers_are_named() -> None:
    assert parse_answer(500, b"").error_code == "driver_invalid"
    assert parse_answer(200, b"[]").error_code == "driver_invalid"
    refused = parse_answer(200, b'{"ok": false, "error": {"code": "wrong_password", "detail": "2 left"}}')
    assert (refused.ok, refused.error_code, refused.error_detail) == (False, "wrong_password", "2 left")
    assert parse_answer(200, b'{"ok": true, "signNo": "S1"}').data == {"signNo": "S1"}
