"""MAC sessions (docs/protocol.md, MAC sessions): opened by a signature, then HMAC per request."""

from __future__ import annotations

from datetime import timedelta

import pytest

from essc.access import service as access
from essc.core.platform import Platform
from essc.kit import wire
from essc.kit.clock import FrozenClock
from essc_sdk import PlatformError, ResponseSignatureInvalid
from factories import app_client, channel, operator_uow


def _code(response_json: dict[str, object]) -> object:
    return response_json.get("code")


def test_session_requests_are_maced_both_ways(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    session_id = app.client.open_session()

    response = app.client.raw("GET", "/v1/ecards/NOSUCHSIGNNO", nonce="session-nonce-0001")

    assert response.request.headers[wire.HEADER_SESSION] == session_id
    assert wire.HEADER_KEY_ID not in response.request.headers
    assert response.headers[wire.HEADER_SESSION] == session_id
    assert _code(response.json()) == "sign_no_not_found"
    app.client.verify_response(response, "session-nonce-0001")


def test_a_tampered_session_response_is_detected_by_the_sdk(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    app.client.open_session()
    response = app.client.raw("GET", "/v1/ecards/X", nonce="session-nonce-0002")
    response._content = response.content.replace(b"sign_no_not_found", b"sign_no_was_found")
    with pytest.raises(ResponseSignatureInvalid):
        app.client.verify_response(response, "session-nonce-0002")


def test_a_wrong_mac_is_refused(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    app.client.open_session()
    headers = app.client.signed_headers("GET", "/v1/ecards/X", b"")
    headers[wire.HEADER_SIGNATURE] = wire.encode_signature(b"\x00" * 32)
    response = app.client.http.get("/v1/ecards/X", headers=headers)
    assert response.status_code == 401
    assert _code(response.json()) == "invalid_request_signature"


def test_a_replayed_session_nonce_is_refused(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    app.client.open_session()
    app.client.raw("GET", "/v1/ecards/X", nonce="session-replay-0001")
    assert _code(app.client.raw("GET", "/v1/ecards/X", nonce="session-replay-0001").json()) == "nonce_reused"


def test_an_unknown_or_foreign_session_is_refused(platform: Platform) -> None:
    http = app_client(platform)
    one, two = channel(platform, http), channel(platform, http)
    one.client.open_session()
    assert one.client.session is not None
    two.client.session = one.client.session  # the key leaked, but the session is bound to its caller
    assert _code(two.client.raw("GET", "/v1/ecards/X").json()) == "unknown_session"
    two.client.session = ("0" * 26, b"k" * 16)
    assert _code(two.client.raw("GET", "/v1/ecards/X").json()) == "unknown_session"


def test_a_session_expires(platform: Platform, clock: FrozenClock) -> None:
    app = channel(platform, app_client(platform))
    app.client.open_session()
    clock.advance(timedelta(seconds=platform.settings.session_ttl_seconds + 1))
    assert _code(app.client.raw("GET", "/v1/ecards/X").json()) == "session_expired"


def test_revoking_the_key_that_opened_a_session_ends_it_at_once(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    app.client.open_session()
    with operator_uow(platform) as uow:
        access.revoke_key(uow, "channel", app.label.split("/")[1], app.key_id)
        uow.commit()
    assert _code(app.client.raw("GET", "/v1/ecards/X").json()) == "key_revoked"


def test_a_session_cannot_open_another_session(platform: Platform) -> None:
    app = channel(platform, app_client(platform))
    app.client.open_session()
    with pytest.raises(PlatformError) as refused:
        app.client.post("/v1/sessions")
    assert refused.value.code == "session_not_allowed"
