"""Personal fields travel in envelopes through the platform: refused in the clear, sealed to the caller."""

from __future__ import annotations

import base64

import httpx
import orjson
import pytest

from essc.core.platform import Platform
from essc.kit import envelope, wire
from essc.kit.envelope import Context, Direction
from essc_sdk import EncryptionKeyUntrusted, EsscClient
from factories import (
    Party,
    app_client,
    channel,
    holder,
    institution,
    issue_request,
    issued_sign_no,
    load,
    province,
    terminal,
)

ISSUANCE = "/v1/ecards/issuance"


def _refusal(response: httpx.Response) -> dict[str, object]:
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, object] = response.json()
    return problem


def test_a_clear_aac002_is_refused_with_its_name_and_a_signed_problem(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    app = channel(platform, app_client(platform))
    nonce = "clear-fields-000001"

    response = app.client.raw("POST", ISSUANCE, issue_request(platform, record), nonce=nonce)

    assert response.status_code == 400
    problem = _refusal(response)
    assert problem["code"] == "personal_field_in_clear"
    assert problem["field"] == "aac002"
    assert "envelope" in str(problem["detail"])
    app.client.verify_response(response, nonce)  # the refusal itself is signed by the platform


def test_clear_personal_fields_are_refused_anywhere_in_the_body_however_spelt(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    nested = {"aab301": "440100", "attestation": {"method": "face", "aac067": "13800138000"}}
    assert _refusal(app.client.raw("POST", ISSUANCE, nested))["field"] == "attestation.aac067"
    escaped = b'{"aac\\u0030\\u00303":"\\u738b"}'
    headers = {"Content-Type": "application/json", **app.client.signed_headers("POST", ISSUANCE, escaped)}
    response = app.client.http.post(ISSUANCE, content=escaped, headers=headers)
    assert _refusal(response)["field"] == "aac003"


def test_the_sdk_seals_personal_fields_and_the_platform_accepts_them(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    sent: list[bytes] = []
    http.event_hooks["request"].append(lambda request: sent.append(request.read()))
    app = channel(platform, http)

    issued = app.client.post(ISSUANCE, issue_request(platform, record))

    assert issued["aac002"] != record.aac002  # masked in the answer, left in the clear
    issuance_body = orjson.loads(next(body for body in sent if b"attestation" in body))
    assert envelope.clear_field(issuance_body) is None
    assert record.aac002.encode() not in sent[-1]
    assert set(issuance_body["envelope"]) == set(envelope.PARTS)
    assert issuance_body["envelope"]["kid"] == platform.keys.decrypter().key_id


def test_an_explicitly_sealed_body_is_accepted(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    app = channel(platform, app_client(platform))
    body = issue_request(platform, record)
    personal = {"aac002": body.pop("aac002"), "aac003": body.pop("aac003")}
    body["envelope"] = app.client.seal(personal, "POST", ISSUANCE)

    response = app.client.raw("POST", ISSUANCE, body)

    assert response.status_code == 200, response.text
    assert response.json()["signNo"]


def _sealed_body(
    app: Party, platform: Platform, context: Context, kid: str | None = None
) -> dict[str, object]:
    record = holder()
    load(platform, record)
    body = issue_request(platform, record)
    personal = {"aac002": body.pop("aac002"), "aac003": body.pop("aac003")}
    key_id = kid or platform.keys.decrypter().key_id
    body["envelope"] = envelope.seal(
        platform.suite, platform.keys.decrypter().public_key(), key_id, personal, context
    )
    return body


def test_an_envelope_sealed_for_another_path_or_caller_is_refused(platform: Platform) -> None:
    http = app_client(platform)
    app, other = channel(platform, http), channel(platform, http)
    for context in (
        Context(Direction.REQUEST, "POST", "/v1/ecards/XYZ/level2", app.label),
        Context(Direction.REQUEST, "POST", ISSUANCE, other.label),
        Context(Direction.RESPONSE, "POST", ISSUANCE, app.label),
    ):
        response = app.client.raw("POST", ISSUANCE, _sealed_body(app, platform, context))
        assert response.status_code == 400
        problem = _refusal(response)
        assert problem["code"] == "envelope_invalid"
        assert problem["part"] == "data"


def test_an_envelope_sealed_to_an_unknown_key_is_refused(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    context = Context(Direction.REQUEST, "POST", ISSUANCE, app.label)
    response = app.client.raw("POST", ISSUANCE, _sealed_body(app, platform, context, kid="pe-00000000"))
    problem = _refusal(response)
    assert problem["code"] == "envelope_key_unknown"
    assert problem["part"] == "kid"


def test_platform_keys_publish_an_endorsed_encryption_key_beside_the_signing_keys(platform: Platform) -> None:
    answer = app_client(platform).get("/v1/platform/keys").json()
    assert set(answer["keys"]) == set(platform.keys.public_keys())
    assert {"suite", "algorithm"} <= set(answer)
    current = platform.keys.decrypter()
    entry = answer["encryptionKeys"][current.key_id]
    assert entry["use"] == "envelope"
    assert entry["current"] is True
    signed = envelope.endorsement_string(current.key_id, current.public_key(), platform.suite.hash)
    signature = wire.decode_signature(entry["signature"])
    assert signature is not None
    platform.suite.verify(platform.keys.public_key(entry["signedBy"]), signed, signature)


def test_the_sdk_refuses_an_encryption_key_its_pinned_signing_keys_do_not_endorse(platform: Platform) -> None:
    http = app_client(platform)
    app = channel(platform, http)
    stranger = platform.suite.generate_private_key().public_key()
    pinned = dict.fromkeys(platform.keys.public_keys(), stranger)
    client = EsscClient(
        http,
        platform.suite,
        caller=app.label,
        key_id=app.key_id,
        private_key=app.private_key,
        platform_keys=pinned,
    )
    with pytest.raises(EncryptionKeyUntrusted):
        client.fetch_platform_keys()
    with pytest.raises(EncryptionKeyUntrusted):
        client.seal({"aac002": "x"}, "POST", ISSUANCE)


def test_clear_values_of_a_resolution_come_sealed_to_the_terminal_and_the_sdk_opens_them(
    platform: Platform,
) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app, owner = channel(platform, http), province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    code = institution(owner, "hospital")
    counter = terminal(platform, http, owner, code, {"01": "masked", "04": "clear"})

    def resolve(busi_type: str) -> httpx.Response:
        payload = app.client.post(f"/v1/ecards/{sign_no}/qr-codes", {"images": []})["code"]
        return counter.client.raw("POST", "/v1/qr/resolutions", {"code": payload, "busiType": busi_type})

    sealed = resolve("04")
    assert sealed.status_code == 200
    assert record.aac002.encode() not in sealed.content
    assert record.aac003.encode() not in sealed.content
    body = sealed.json()
    assert "aac002" not in body
    assert body["envelope"]["kid"] == "t1"  # the terminal's key that opened its MAC session
    opened = counter.client.open(body, "POST", "/v1/qr/resolutions")
    assert (opened["aac002"], opened["aac003"]) == (record.aac002, record.aac003)

    masked = resolve("01").json()
    assert "envelope" not in masked
    assert masked["aac002"] == record.aac002[0] + "*" * 16 + record.aac002[-1]
    assert masked["aac002"] != record.aac002

    # Another party holding the answer cannot open it, nor can the terminal in another call.
    with pytest.raises(envelope.EnvelopeInvalid):
        counter.client.open(body, "POST", "/v1/qr/other")
    with pytest.raises(envelope.EnvelopeKeyUnknown):
        app.client.open(body, "POST", "/v1/qr/resolutions")

    payload = app.client.post(f"/v1/ecards/{sign_no}/qr-codes", {"images": []})["code"]
    answer = counter.client.call("POST", "/v1/qr/resolutions", {"code": payload, "busiType": "04"})
    assert answer.json()["aac002"] == record.aac002  # call() opens it
    assert b'"envelope"' in answer.body  # and keeps the signed, sealed bytes as evidence
    assert base64.b64decode(orjson.loads(answer.body)["envelope"]["key"])


def test_a_replayed_sealed_answer_is_the_first_one_byte_for_byte(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app, owner = channel(platform, http), province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    counter = terminal(platform, http, owner, institution(owner, "hospital"), {"04": "clear"})
    payload = app.client.post(f"/v1/ecards/{sign_no}/qr-codes", {"images": []})["code"]
    body = {"code": payload, "busiType": "04"}
    headers = {wire.HEADER_IDEMPOTENCY_KEY: "replay-sealed-answer-1"}

    first = counter.client.raw("POST", "/v1/qr/resolutions", body, headers=headers)
    again = counter.client.raw("POST", "/v1/qr/resolutions", body, headers=headers)

    assert again.headers[wire.HEADER_IDEMPOTENT_REPLAYED] == "true"
    assert again.content == first.content
    opened = counter.client.open(again.json(), "POST", "/v1/qr/resolutions")
    assert opened["aac002"] == record.aac002
