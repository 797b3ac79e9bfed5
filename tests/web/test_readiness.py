"""The readiness probe asks the database, the nonce store and the key store; liveness asks nothing."""

from __future__ import annotations

import pytest

from essc.core.nonces import RedisNonceStore
from essc.core.platform import Platform
from essc.kit.errors import KeyNotFound
from factories import app_client


def test_ready_when_every_dependency_answers(platform: Platform) -> None:
    response = app_client(platform).get("/readyz")

    assert response.status_code == 200
    expected = {"database": "ok", "keystore": "ok"}
    if isinstance(platform.nonces, RedisNonceStore):
        expected["redis"] = "ok"
    assert response.json() == {"status": "ready", "checks": expected}


def test_not_ready_names_the_key_store_that_fails(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    http = app_client(platform)

    def gone(*_args: object, **_kwargs: object) -> None:
        raise KeyNotFound("the HSM does not answer")

    monkeypatch.setattr(platform.keys, "signer", gone)
    response = http.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["keystore"] == "unavailable (KeyNotFound)"
    assert http.get("/healthz").status_code == 200  # alive, only not ready
