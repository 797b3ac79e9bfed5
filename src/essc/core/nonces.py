"""Where request nonces are remembered: Redis in production, the database on a single node.

A nonce store that loses its memory must not let a replay in. The Redis store keeps an epoch beside the
nonces: the time it was first found empty. Any nonce claimed before that time may be forgotten, and a request
accepted before it can carry a timestamp up to one skew window ahead of that moment, so every timestamp
earlier than epoch + window is refused (503 nonce_store_recovering, Retry-After) until fresh timestamps pass
it: for one skew window after Redis comes back empty, including the first start of an empty Redis (a new
deployment declares it never held nonces with `start_fresh`, `essc nonce-store-fresh`). The database store
is as durable as the data it guards: a restore from backup rolls back the e-cards with the nonces.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

import redis
import redis.asyncio
import redis.exceptions
from sqlalchemy import CHAR, String, delete
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, Session, UtcDateTime, insert_ignoring_conflicts, on_loop, wait_on_loop
from essc.core.settings import Settings
from essc.kit.clock import Clock
from essc.kit.errors import EsscError


class NonceStoreUnavailable(EsscError):
    status = 503
    code = "nonce_store_unavailable"
    title = "The nonce store cannot be reached"


class NonceStoreRecovering(EsscError):
    status = 503
    code = "nonce_store_recovering"
    title = "The nonce store lost its memory; older timestamps could be replays"


# Atomic across workers: (re)start the epoch when the store was found empty, refuse timestamps a forgotten
# claim could cover, else claim the nonce. KEYS: epoch, nonce; ARGV: now, timestamp, window, ttl.
_CLAIM = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  redis.call('SET', KEYS[1], ARGV[1])
  epoch = ARGV[1]
end
if tonumber(ARGV[2]) < tonumber(epoch) + tonumber(ARGV[3]) then
  return {-1, tonumber(epoch)}
end
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[4])) then
  return {1, tonumber(epoch)}
end
return {0, tonumber(epoch)}
"""


class SeenNonce(Base):
    """A request nonce already used by a caller (the single-node nonce store)."""

    __tablename__ = "seen_nonces"

    caller_id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class NonceStore(Protocol):
    """Claims a caller's nonce once; every worker and every restart sees the same claims."""

    def claim(self, caller_id: str, nonce: str, ttl_seconds: int, timestamp: int) -> bool:
        """True the first time, False when seen; a store that forgot claims refuses timestamps they cover."""
        ...

    async def ready(self) -> None:
        """Raise unless the store answers (for the readiness probe)."""
        ...

    async def close_loop(self) -> None:
        """Release what the running event loop holds."""
        ...

    def close(self) -> None: ...


class RedisNonceStore:
    """SET NX with an expiry under an epoch (see the module docstring), in one script.

    On the event loop (a request) the claim is awaited on redis.asyncio; elsewhere it blocks on redis-py.
    Redis unreachable answers 503 nonce_store_unavailable, never a 500.
    """

    def __init__(self, url: str, clock: Clock, *, window_seconds: int, prefix: str = "essc:") -> None:
        self._url = url
        self._clock = clock
        self._window = window_seconds
        self.prefix = prefix
        self.epoch_key = f"{prefix}nonce-epoch"
        self._client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
        self._script = self._client.register_script(_CLAIM)
        self._loop_clients: dict[asyncio.AbstractEventLoop, redis.asyncio.Redis] = {}

    def claim(self, caller_id: str, nonce: str, ttl_seconds: int, timestamp: int) -> bool:
        now = int(self._clock.now().timestamp())
        keys = [self.epoch_key, f"{self.prefix}nonce:{caller_id}:{nonce}"]
        args = [now, timestamp, self._window, ttl_seconds]
        try:
            if on_loop():
                client = self._loop_client()
                outcome = wait_on_loop(client.eval(_CLAIM, len(keys), *keys, *args))
            else:
                outcome = self._script(keys=keys, args=args)
        except redis.exceptions.RedisError as exc:
            raise NonceStoreUnavailable(
                f"the nonce store (Redis) cannot be reached ({type(exc).__name__}); try again shortly"
            ) from None
        claimed, epoch = int(outcome[0]), int(outcome[1])
        if claimed < 0:
            ready_at = epoch + self._window
            raise NonceStoreRecovering(
                f"the nonce store came back empty at {epoch}; timestamps before {ready_at} could be replays "
                f"of requests it forgot and are refused: sign again with a fresh timestamp after {ready_at}",
                epoch=epoch,
                retry_after=max(1, ready_at - now),
            )
        return claimed == 1

    def start_fresh(self) -> None:
        """Declare that this Redis never held this deployment's nonces: no epoch fence (a new deployment)."""
        self._client.set(self.epoch_key, 0, nx=True)

    def _loop_client(self) -> redis.asyncio.Redis:
        loop = asyncio.get_running_loop()
        client = self._loop_clients.get(loop)
        if client is None:
            client = self._loop_clients[loop] = redis.asyncio.Redis.from_url(
                self._url, socket_timeout=5, socket_connect_timeout=2
            )
        return client

    def ping(self) -> None:
        self._client.ping()

    async def ready(self) -> None:
        await self._loop_client().ping()

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

    def claim(self, caller_id: str, nonce: str, ttl_seconds: int, timestamp: int) -> bool:
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

    async def ready(self) -> None:
        return None  # the database is the readiness probe's own check

    async def close_loop(self) -> None:
        return None

    def close(self) -> None:
        return None


def make_nonce_store(settings: Settings, sessions: Callable[[], Session], clock: Clock) -> NonceStore:
    """Redis when ESSC_REDIS_URL is set (checked at start-up), the database otherwise."""
    if settings.redis_url:
        store = RedisNonceStore(
            settings.redis_url,
            clock,
            window_seconds=settings.request_clock_skew_seconds,
            prefix=settings.redis_key_prefix,
        )
        store.ping()
        return store
    return DatabaseNonceStore(sessions, clock)
