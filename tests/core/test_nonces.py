"""Nonce stores: a nonce is claimed once, a store that forgot lets no replay in, Redis down is a 503."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest

from essc.core.nonces import DatabaseNonceStore, RedisNonceStore
from essc.core.platform import Platform
from essc.kit.clock import FrozenClock
from essc.kit.errors import EsscError
from factories import app_client, channel, drop_redis_keys


def test_the_database_nonce_store_claims_a_nonce_once_on_every_backend(platform: Platform) -> None:
    store = DatabaseNonceStore(platform.session_factory, platform.clock)
    assert store.claim("caller-1", "nonce-aaaaaaaaaaaaaaaa", 600, timestamp=0) is True
    assert store.claim("caller-1", "nonce-aaaaaaaaaaaaaaaa", 600, timestamp=0) is False
    assert store.claim("caller-2", "nonce-aaaaaaaaaaaaaaaa", 600, timestamp=0) is True


def _redis_store(platform: Platform) -> RedisNonceStore:
    if not isinstance(platform.nonces, RedisNonceStore):
        pytest.skip("needs Redis (CI sets ESSC_TEST_REDIS_URL)")
    return platform.nonces


def test_a_request_accepted_before_redis_lost_its_data_is_not_accepted_again(
    platform: Platform, clock: FrozenClock
) -> None:
    store = _redis_store(platform)
    app = channel(platform, app_client(platform))
    body = b'{"images":[]}'
    path = "/v1/ecards/NOSUCHSIGNNO/qr-codes"
    headers = {"Content-Type": "application/json", **app.client.signed_headers("POST", path, body)}
    assert app.client.http.post(path, content=body, headers=headers).status_code == 404  # authenticated
    clock.advance(timedelta(seconds=30))

    assert platform.settings.redis_url is not None
    drop_redis_keys(platform.settings.redis_url, store.prefix)  # Redis restarted without its data
    replayed = app.client.http.post(path, content=body, headers=headers)

    assert replayed.status_code == 503
    assert replayed.json()["code"] == "nonce_store_recovering"
    window = platform.settings.request_clock_skew_seconds
    assert int(replayed.headers["Retry-After"]) == window
    # A fresh request is refused too while its timestamp could be covered by a forgotten claim...
    assert app.client.raw("GET", "/v1/ecards/X").json()["code"] == "nonce_store_recovering"
    # ...and passes once fresh timestamps are past the fence; the old request stays refused.
    clock.advance(timedelta(seconds=window))
    assert app.client.raw("GET", "/v1/ecards/X").status_code == 404
    again = app.client.http.post(path, content=body, headers=headers)
    assert again.status_code in {401, 503}
    assert again.json()["code"] in {"timestamp_out_of_window", "nonce_store_recovering"}


def test_the_fence_follows_the_epoch_in_redis_on_every_worker(platform: Platform) -> None:
    store = _redis_store(platform)
    now = int(platform.clock.now().timestamp())
    assert platform.settings.redis_url is not None
    drop_redis_keys(platform.settings.redis_url, store.prefix)
    window = platform.settings.request_clock_skew_seconds
    other_worker = RedisNonceStore(
        platform.settings.redis_url, platform.clock, window_seconds=window, prefix=store.prefix
    )
    try:
        with pytest.raises(EsscError) as first:
            store.claim("caller-1", "nonce-bbbbbbbbbbbbbbbb", 600, timestamp=now)
        with pytest.raises(EsscError) as second:
            other_worker.claim("caller-1", "nonce-cccccccccccccccc", 600, timestamp=now + window - 1)
        assert other_worker.claim("caller-1", "nonce-dddddddddddddddd", 600, timestamp=now + window) is True
    finally:
        other_worker.close()
    assert first.value.code == second.value.code == "nonce_store_recovering"


def _unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again: nothing listens there


def test_redis_down_answers_503_by_name_and_readiness_says_so(platform: Platform) -> None:
    http = app_client(platform)
    app = channel(platform, http)
    platform.nonces = RedisNonceStore(
        f"redis://127.0.0.1:{_unused_port()}/0",
        platform.clock,
        window_seconds=platform.settings.request_clock_skew_seconds,
    )

    response = app.client.raw("GET", "/v1/ecards/X")
    ready = http.get("/readyz")
    alive = http.get("/healthz")

    assert response.status_code == 503
    assert response.json()["code"] == "nonce_store_unavailable"
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"].startswith("unavailable")
    assert ready.json()["checks"]["database"] == "ok"
    assert alive.status_code == 200
