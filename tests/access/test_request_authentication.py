"""docs/protocol.md, Signed requests: each request is signed; skew, replay, unknown or revoked keys fail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from essc.access import repository as access_repository
from essc.access import service as access
from essc.access.models import CallerKey
from essc.core.platform import Platform
from essc.kit import wire
from essc.kit.clock import FrozenClock
from essc_sdk import ResponseSignatureInvalid
from factories import Party, app_client, channel, operator_uow


def _code(response: object) -> str:
    return str(response.json()["code"])  # type: ignore[attr-defined]


def test_a_signed_request_passes_and_its_response_is_signed(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    response = app.client.raw("GET", "/v1/ecards/NOSUCHSIGNNO", nonce="n" * 20)
    assert response.status_code == 404  # authenticated: the e-card is what was missing
    app.client.verify_response(response, "n" * 20)


def test_missing_header_is_named(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    for header in (
        wire.HEADER_CALLER,
        wire.HEADER_KEY_ID,
        wire.HEADER_TIMESTAMP,
        wire.HEADER_NONCE,
        wire.HEADER_SIGNATURE,
    ):
        headers = app.client.signed_headers("GET", "/v1/ecards/X", b"")
        del headers[header]
        response = app.client.http.get("/v1/ecards/X", headers=headers)
        assert response.status_code == 401
        assert _code(response) == "missing_auth_header"
        assert response.json()["header"] == header


def test_timestamp_more_than_five_minutes_off_is_refused(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    now = int(platform.clock.now().timestamp())
    for skew in (-301, 301):
        response = app.client.raw("GET", "/v1/ecards/X", timestamp=now + skew)
        assert response.status_code == 401
        assert _code(response) == "timestamp_out_of_window"
    assert app.client.raw("GET", "/v1/ecards/X", timestamp=now - 299).status_code == 404


def test_nonce_is_never_accepted_twice(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    assert app.client.raw("GET", "/v1/ecards/X", nonce="replayed-nonce-0001").status_code == 404
    second = app.client.raw("GET", "/v1/ecards/X", nonce="replayed-nonce-0001")
    assert second.status_code == 401
    assert _code(second) == "nonce_reused"


def test_nonce_survives_a_restart(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    assert app.client.raw("GET", "/v1/ecards/X", nonce="restart-nonce-00001").status_code == 404
    app.client.http = app_client(platform)  # a new application instance over the same stores
    assert _code(app.client.raw("GET", "/v1/ecards/X", nonce="restart-nonce-00001")) == "nonce_reused"


def test_tampered_body_path_or_signature_is_refused(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    body = b'{"aab301":"440100"}'
    headers = app.client.signed_headers("POST", "/v1/ecards/issuance", body)
    tampered = app.client.http.post(
        "/v1/ecards/issuance", content=body.replace(b"44", b"11"), headers=headers
    )
    assert tampered.status_code == 401
    assert _code(tampered) == "invalid_request_signature"

    headers = app.client.signed_headers("GET", "/v1/ecards/A", b"")
    other_path = app.client.http.get("/v1/ecards/B", headers=headers)
    assert _code(other_path) == "invalid_request_signature"

    headers = app.client.signed_headers("GET", "/v1/ecards/A", b"")
    headers[wire.HEADER_SIGNATURE] = "not base64!"
    assert _code(app.client.http.get("/v1/ecards/A", headers=headers)) == "missing_auth_header"


def test_a_signature_by_another_key_is_refused(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    app.client.private_key = platform.suite.generate_private_key()
    response = app.client.raw("GET", "/v1/ecards/X")
    assert _code(response) == "invalid_request_signature"


def test_unknown_caller_and_key_id(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    app.client.key_id = "k-unknown"
    assert _code(app.client.raw("GET", "/v1/ecards/X")) == "unknown_key_id"
    app.client.caller = "channel/9999999999"
    assert _code(app.client.raw("GET", "/v1/ecards/X")) == "unknown_caller"


def test_revoked_key_stops_at_once(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    assert app.client.raw("GET", "/v1/ecards/X").status_code == 404
    kind, ref = app.label.split("/")
    with operator_uow(platform) as uow:
        access.revoke_key(uow, kind, ref, app.key_id)
        uow.commit()
    assert _code(app.client.raw("GET", "/v1/ecards/X")) == "key_revoked"


def test_suspended_caller_is_refused(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    kind, ref = app.label.split("/")
    with operator_uow(platform) as uow:
        access.set_caller_status(uow, kind, ref, "suspended")
        uow.commit()
    response = app.client.raw("GET", "/v1/ecards/X")
    assert response.status_code == 403
    assert _code(response) == "caller_suspended"


def test_client_detects_a_forged_platform_response(platform: Platform, clock: FrozenClock) -> None:
    app = channel(platform, app_client(platform))
    response = app.client.raw("GET", "/v1/ecards/X", nonce="forgery-check-0001")
    forged = type(response)(status_code=200, content=b'{"usable":true}', headers=response.headers)
    with pytest.raises(ResponseSignatureInvalid):
        app.client.verify_response(forged, "forgery-check-0001")
    clock.advance(timedelta(seconds=1))


def _share_key(platform: Platform, victim: Party, holder_of_key: Party) -> None:
    """Give the victim's key the other party's public key, as the registry allowed before it checked."""
    assert victim.key_id == holder_of_key.key_id
    with platform.session_factory() as session:
        session.execute(
            update(CallerKey)
            .where(CallerKey.caller_id == victim.caller_id, CallerKey.key_id == victim.key_id)
            .values(public_key=holder_of_key.private_key.public_key().to_der())
        )
        session.commit()


def test_a_signature_made_as_one_caller_does_not_pass_as_another_holding_the_same_key(
    platform: Platform,
) -> None:
    http = app_client(platform)
    signer, other = channel(platform, http), channel(platform, http)
    _share_key(platform, other, signer)
    headers = signer.client.signed_headers("GET", "/v1/ecards/X", b"")
    assert http.get("/v1/ecards/X", headers=headers).status_code == 404  # genuine: authenticated

    headers = signer.client.signed_headers("GET", "/v1/ecards/X", b"")
    headers[wire.HEADER_CALLER] = other.label  # the same bytes, sent as the other channel
    response = http.get("/v1/ecards/X", headers=headers)

    assert response.status_code == 401
    assert _code(response) == "invalid_request_signature"


def test_a_signature_under_another_key_id_of_the_same_key_does_not_pass(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    kind, ref = app.label.split("/")
    with operator_uow(platform) as uow:
        caller = access_repository.caller_by_ref(uow.session, kind, ref)
        assert caller is not None
        access.add_key(uow, caller, "k2", app.private_key.public_key().to_pem())
        uow.commit()
    headers = app.client.signed_headers("GET", "/v1/ecards/X", b"")
    headers[wire.HEADER_KEY_ID] = "k2"

    response = app.client.http.get("/v1/ecards/X", headers=headers)

    assert _code(response) == "invalid_request_signature"


def test_a_request_signed_under_the_retired_scheme_is_refused(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    timestamp, nonce = int(platform.clock.now().timestamp()), "retired-scheme-0001"
    digest = platform.suite.hash(b"").hex()
    retired = "\n".join(["ESSC-REQ-1", "GET", "/v1/ecards/X", str(timestamp), nonce, digest]).encode()
    signature = platform.suite.sign(app.private_key, retired)
    headers = wire.SignedHeaders(app.label, app.key_id, timestamp, nonce, signature).as_dict()

    response = app.client.http.get("/v1/ecards/X", headers=headers)

    assert response.status_code == 401
    assert _code(response) == "invalid_request_signature"
    assert "ESSC-REQ-2" in response.json()["detail"]
    assert "ESSC-REQ-1 is no longer accepted" in response.json()["detail"]


def test_an_answer_signed_for_one_caller_does_not_verify_for_another(platform: Platform) -> None:
    http = app_client(platform)
    one, other = channel(platform, http), channel(platform, http)
    response = one.client.raw("GET", "/v1/ecards/X", nonce="bound-answer-00001")
    one.client.verify_response(response, "bound-answer-00001")

    with pytest.raises(ResponseSignatureInvalid):
        other.client.verify_response(response, "bound-answer-00001")
