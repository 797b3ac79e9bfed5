"""The readiness probe: whether this process can serve requests now (database, nonce store, key store).

`/healthz` is the liveness probe (the process answers; it touches nothing); `/readyz` asks every dependency a
request needs and answers 503 naming the ones that fail, so a load balancer stops sending traffic that would
only fail.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from essc.core.deps import get_platform, requires
from essc.core.nonces import RedisNonceStore
from essc.core.platform import Platform
from essc.core.routing import api_router
from essc.shared.policy import Party

router = api_router(tags=["operations"])

READY = "ok"
_PROBE = b"essc readiness probe"


async def _database(platform: Platform) -> None:
    async with platform.loop_engine().engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def _failure(exc: BaseException) -> str:
    # The exception's type only: its message may carry a URL or a path.
    return f"unavailable ({type(exc).__name__})"


@router.get(
    "/readyz",
    dependencies=[requires(None, party=Party.PUBLIC)],
    responses={
        503: {
            "description": "Not ready: `checks` names each dependency that failed",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def readyz(platform: Annotated[Platform, Depends(get_platform)]) -> JSONResponse:
    """200 when the database, the nonce store and the key store all answer; 503 naming those that do not."""
    checks: dict[str, str] = {}
    try:
        await _database(platform)
        checks["database"] = READY
    except Exception as exc:  # any failure of a dependency means not ready; the probe names it
        checks["database"] = _failure(exc)
    if isinstance(platform.nonces, RedisNonceStore):
        try:
            await platform.nonces.ready()
            checks["redis"] = READY
        except Exception as exc:
            checks["redis"] = _failure(exc)
    try:
        platform.keys.signer().sign(_PROBE)  # reaches the HSM when keys live in one
        checks["keystore"] = READY
    except Exception as exc:
        checks["keystore"] = _failure(exc)
    ready = all(value == READY for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )
