"""The login and chip endpoints are in the OpenAPI document, the event stream as text/event-stream."""

from __future__ import annotations

from essc.core.platform import Platform
from factories import app_client


def test_the_new_endpoints_are_documented(platform: Platform) -> None:
    paths = app_client(platform).get("/openapi.json").json()["paths"]
    for path in (
        "/v1/login-codes",
        "/v1/login-codes/scan",
        "/v1/login-codes/confirm",
        "/v1/login-codes/deny",
        "/v1/login-codes/{login_id}",
        "/v1/provinces/{province}/cards/{aaz500}/chip-key",
        "/v1/ecards/{sign_no}/chip-challenges",
        "/v1/ecards/{sign_no}/chip-challenges/{challenge_id}/response",
    ):
        assert path in paths
    stream = paths["/v1/login-codes/{login_id}/events"]["get"]["responses"]["200"]["content"]
    assert "text/event-stream" in stream
