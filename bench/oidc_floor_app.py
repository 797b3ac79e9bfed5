"""The floor of bench_oidc: a login's durable work on a bare async stack (Starlette, the platform's engine).

Per login, as the platform: PAR verifies the ES256 client assertion, claims its jti and inserts the
authorization row (digest of the request_uri); the page spends the request_uri (UPDATE ... RETURNING); the
kiosk post reads the e-card by number and its password row, runs the argon2id verification on the password
executor, and issues the code (UPDATE); the token endpoint verifies the second assertion, claims its jti,
redeems the code (UPDATE), inserts the grant and two tokens and signs an ES256 ID token. No registry,
policy, audit, page rendering, rate limits or checks of the rest of the rules: what the platform does
beyond this is its cost.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import secrets
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import orjson
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from essc.core.db import async_url
from essc.core.executors import PASSWORD_KDF
from essc.ecards.passwords import _HASHER

URL = os.environ["ESSC_DATABASE_URL"]
ENGINE = create_async_engine(async_url(URL))
SIGNING = ECKey.generate_key("P-256", parameters={"kid": "floor"})
SECRET = secrets.token_bytes(32)
_rp_keys: dict[str, KeySet] = {}


async def _form(request: Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}


def _digest(token: str) -> bytes:
    return hmac.digest(SECRET, token.encode(), "sha256")


def _now() -> datetime:
    return datetime.now(UTC)


async def _client(connection: object, form: dict[str, str]) -> str:
    payload = form["client_assertion"].split(".")[1]
    named = form.get("client_id") or orjson.loads(base64.urlsafe_b64decode(payload + "=="))["iss"]
    claims = jwt.decode(form["client_assertion"], await _keys(connection, named), algorithms=["ES256"]).claims
    await connection.execute(  # type: ignore[attr-defined]
        text("INSERT INTO oidc_client_assertions (client_id, jti, expires_at) VALUES (:c, :j, :e)"),
        {"c": claims["iss"], "j": claims["jti"], "e": _now() + timedelta(seconds=90)},
    )
    return str(claims["iss"])


async def _keys(connection: object, client_id: str) -> KeySet:
    found = _rp_keys.get(client_id)
    if found is None:
        row = (
            await connection.execute(
                text("SELECT jwks FROM oidc_relying_parties WHERE client_id = :c"), {"c": client_id}
            )
        ).one()  # type: ignore[attr-defined]
        found = _rp_keys[client_id] = KeySet.import_key_set(orjson.loads(row[0]))
    return found


async def par(request: Request) -> Response:
    form = await _form(request)
    token = secrets.token_urlsafe(32)
    async with ENGINE.begin() as connection:
        client_id = await _client(connection, form)  # type: ignore[arg-type]
        await connection.execute(
            text(
                "INSERT INTO oidc_authorizations (id, client_id, status, params, request_digest, created_at, "
                "expires_at, clear_id_consent) VALUES (:id, :c, 'pushed', :p, :d, :n, :e, false)"
            ),
            {
                "id": secrets.token_hex(13),
                "c": client_id,
                "p": orjson.dumps(form).decode(),
                "d": _digest(token),
                "n": _now(),
                "e": _now() + timedelta(seconds=60),
            },
        )
    return JSONResponse(
        {"request_uri": "urn:ietf:params:oauth:request_uri:" + token, "expires_in": 60}, status_code=201
    )


async def authorize(request: Request) -> Response:
    token = request.query_params["request_uri"].rsplit(":", 1)[1]
    interaction = secrets.token_urlsafe(32)
    async with ENGINE.begin() as connection:
        row = (
            await connection.execute(
                text(
                    "UPDATE oidc_authorizations SET status = 'shown', interaction_digest = :i, "
                    "expires_at = :e "
                    "WHERE request_digest = :d AND status = 'pushed' AND expires_at > :n RETURNING id"
                ),
                {
                    "i": _digest(interaction),
                    "e": _now() + timedelta(seconds=600),
                    "d": _digest(token),
                    "n": _now(),
                },
            )
        ).one()
    assert row
    return HTMLResponse(f'<form><input type="hidden" name="interaction" value="{interaction}"></form>')


async def kiosk(request: Request) -> Response:
    form = await _form(request)
    code = secrets.token_urlsafe(32)
    async with ENGINE.begin() as connection:
        ecard = (
            await connection.execute(
                text("SELECT province, id FROM ecards WHERE essc_no = :n"), {"n": form["essc_no"]}
            )
        ).one()
        stored = (
            await connection.execute(
                text("SELECT password_hash FROM ecard_passwords WHERE province = :p AND ecard_id = :e"),
                {"p": ecard[0], "e": ecard[1]},
            )
        ).one()
        loop = asyncio.get_running_loop()
        # The platform's check is a keyed pre-hash then argon2id; the verification (the cost) is the same.
        await loop.run_in_executor(PASSWORD_KDF, _verify, stored[0])
        row = (
            await connection.execute(
                text(
                    "UPDATE oidc_authorizations SET status = 'code_issued', code_digest = :c, expires_at "
                    "= :e, "
                    "holder_province = :p, ecard_id = :i, auth_time = :n WHERE interaction_digest = :d "
                    "AND status = 'shown' "
                    "RETURNING params"
                ),
                {
                    "c": _digest(code),
                    "e": _now() + timedelta(seconds=60),
                    "p": ecard[0],
                    "i": ecard[1],
                    "n": _now(),
                    "d": _digest(str(form["interaction"])),
                },
            )
        ).one()
    params = orjson.loads(row[0])
    return RedirectResponse(
        f"{params['redirect_uri']}?code={code}&state={params.get('state')}", status_code=303
    )


def _verify(stored: str) -> bool:
    try:
        return bool(_HASHER.verify(stored, b"not the pre-hash"))
    except Exception:
        return False


async def token(request: Request) -> Response:
    form = await _form(request)
    access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with ENGINE.begin() as connection:
        client_id = await _client(connection, form)  # type: ignore[arg-type]
        row = (
            await connection.execute(
                text(
                    "UPDATE oidc_authorizations SET status = 'redeemed', redeemed_at = :n WHERE "
                    "code_digest = :d "
                    "AND status = 'code_issued' RETURNING params, holder_province, ecard_id, auth_time"
                ),
                {"n": _now(), "d": _digest(str(form["code"]))},
            )
        ).one()
        params = orjson.loads(row[0])
        challenge = hashlib.sha256(str(form["code_verifier"]).encode()).digest()
        assert params["code_challenge"]
        grant = secrets.token_hex(13)
        await connection.execute(
            text(
                "INSERT INTO oidc_grants (id, client_id, holder_province, ecard_id, scope, "
                "clear_id_consent, auth_time, created_at) "
                "VALUES (:g, :c, :p, :e, 'openid', false, :a, :n)"
            ),
            {"g": grant, "c": client_id, "p": row[1], "e": row[2], "a": row[3], "n": _now()},
        )
        for value, kind in ((access, "access"), (refresh, "refresh")):
            await connection.execute(
                text(
                    "INSERT INTO oidc_tokens (digest, grant_id, kind, created_at, expires_at) VALUES "
                    "(:d, :g, :k, :n, :e)"
                ),
                {
                    "d": _digest(value),
                    "g": grant,
                    "k": kind,
                    "n": _now(),
                    "e": _now() + timedelta(seconds=600),
                },
            )
    now = int(time.time())
    id_token = jwt.encode(
        {"alg": "ES256", "kid": "floor"},
        {"iss": "floor", "sub": row[2], "aud": client_id, "iat": now, "exp": now + 600, "c": challenge.hex()},
        SIGNING,
        algorithms=["ES256"],
    )
    return JSONResponse(
        {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "Bearer",
            "expires_in": 600,
            "id_token": id_token,
        }
    )


async def keys(_request: Request) -> Response:
    return JSONResponse({"keys": []})


app = Starlette(
    routes=[
        Route("/oidc/par", par, methods=["POST"]),
        Route("/oidc/authorize", authorize),
        Route("/oidc/authorize/kiosk", kiosk, methods=["POST"]),
        Route("/oidc/token", token, methods=["POST"]),
        Route("/v1/platform/keys", keys),
    ]
)
