"""Where request nonces are remembered: Redis in production, the database on a single node."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import redis
import redis.asyncio
from sqlalchemy import CHAR, String, delete
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, Session, UtcDateTime, insert_ignoring_conflicts, on_loop, wait_on_loop
from essc.core.settings import Settings
from essc.kit.clock import Clock


class SeenNonce(Base):
    """A request nonce already used by a caller (the single-node nonce store)."""

    __tablename__ = "seen_nonces"

    caller_id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class NonceStore(Protocol):
    """Claims a caller's nonce once; every worker and every restart sees the same claims."""

    def claim(self, caller_id: str, nonce: str, ttl_seconds: int) -> bool:
        """True the first time; False when the nonce was already seen within its lifetime."""
        ...

    async def close_loop(self) -> None:
        """Release what the running event loop holds."""
        ...

    def close(self) -> None: ...


class RedisNonceStore:
    """SET NX with an expiry: atomic across workers, and gone by itself once no timestamp could reuse it.

    On the event loop (a request) the claim is awaited on redis.asyncio; elsewhere it blocks on redis-py.
    """

    def __init__(self, url: str) -> None:
        self._url = url
        self._client = redis.Redis.from_url(url, socket_timeout=5)
        self._loop_clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}

    def claim(self, caller_id: str, nonce: str, ttl_seconds: int) -> bool:
        name = f"essc:nonce:{caller_id}:{nonce}"
        if on_loop():
            return bool(wait_on_loop(self._loop_client().set(name, b"1", nx=True, ex=ttl_seconds)))
        return bool(self._client.set(name, b"1", nx=True, ex=ttl_seconds))

    def _loop_client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self._loop_clients.get(loop)
        if client is None:
            client = self._loop_clients[loop] = redis.asyncio.Redis.from_url(self._url, socket_timeout=5)
        return client

    def ping(self) -> None:
        self._client.ping()

    async def close_loop(self) -> None:
        client = self._loop_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        self._client.close()


class DatabaseNonceStore:
    """A primary key per (caller, nonce), claimed in a statement of its own."""

    _PURGE_EVERY = 1000

    def __init__(self, sessions: Callable[[], Session], clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._claims = 0

    def claim(self, caller_id: str, nonce: str, ttl_seconds: int) -> bool:
        now = self._clock.now()
        with self._sessions() as session:
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

    async def close_loop(self) -> None:
        return None

    def close(self) -> None:
        return None


def make_nonce_store(settings: Settings, sessions: Callable[[], Session], clock: Clock) -> NonceStore:
    """Redis when ESSC_REDIS_URL is set (checked at start-up), the database otherwise."""
    if settings.redis_url:
        store = RedisNonceStore(settings.redis_url)
        store.ping()
        return store
    return DatabaseNonceStore(sessions, clock)
