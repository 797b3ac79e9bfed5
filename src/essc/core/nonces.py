"""Where request nonces are remembered: Redis in production, the database on a single node."""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

import redis
from sqlalchemy import delete
from sqlalchemy.orm import sessionmaker

from essc.access.models import SeenNonce
from essc.core.db import Session, insert_ignoring_conflicts
from essc.core.settings import Settings
from essc.kit.clock import Clock


class NonceStore(Protocol):
    """Claims a caller's nonce once; every worker and every restart sees the same claims."""

    def claim(self, caller_id: str, nonce: str, ttl_seconds: int) -> bool:
        """True the first time; False when the nonce was already seen within its lifetime."""
        ...

    def close(self) -> None: ...


class RedisNonceStore:
    """SET NX with an expiry: atomic across workers, and gone by itself once no timestamp could reuse it."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def claim(self, caller_id: str, nonce: str, ttl_seconds: int) -> bool:
        return bool(self._client.set(f"essc:nonce:{caller_id}:{nonce}", b"1", nx=True, ex=ttl_seconds))

    def close(self) -> None:
        self._client.close()


class DatabaseNonceStore:
    """A primary key per (caller, nonce), claimed in its own short transaction."""

    _PURGE_EVERY = 1000

    def __init__(self, session_factory: sessionmaker[Session], clock: Clock) -> None:
        self._session_factory = session_factory
        self._clock = clock
        self._claims = 0

    def claim(self, caller_id: str, nonce: str, ttl_seconds: int) -> bool:
        now = self._clock.now()
        with self._session_factory() as session:
            inserted = insert_ignoring_conflicts(
                session,
                SeenNonce.__table__,
                [
                    {
                        "caller_id": caller_id,
                        "nonce": nonce,
                        "expires_at": now + timedelta(seconds=ttl_seconds),
                    }
                ],
            )
            self._claims += 1
            if self._claims % self._PURGE_EVERY == 0:
                # Timestamps older than the window are refused anyway, so expired nonces need not be kept.
                session.execute(delete(SeenNonce).where(SeenNonce.expires_at < now))
            session.commit()
        return inserted == 1

    def close(self) -> None:
        return None


def make_nonce_store(settings: Settings, session_factory: sessionmaker[Session], clock: Clock) -> NonceStore:
    """Redis when ESSC_REDIS_URL is set (checked at start-up), the database otherwise."""
    if settings.redis_url:
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=5)
        client.ping()
        return RedisNonceStore(client)
    return DatabaseNonceStore(session_factory, clock)
