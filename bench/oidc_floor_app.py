"""The floor of bench_oidc: a login's durable work on a bare async stack (Starlette, the platform's engine).

Per login, as the platform: PAR verifies the ES256 client assertion, claims its jti and inserts the
authorization row (digest of the request_uri); the page spends the request_uri (UPDATE ... RETURNING); the
kiosk post reads the e-card by number and its password row, runs the argon2id verification on the password
executor, and issues the code (UPDATE); the token endpoint verifies the second assertion, claims its jti,
redeems the code (UPDATE), inserts the grant and two tokens and signs an ES256 ID token. No registry,
policy, audit, page rendering, rate limits or checks of the rest of the rules: what the platform does
beyond this is its cost.

A scan-to-login (bench_oidc --method scan) does, as the platform: PAR as above; the page spends the
request_uri, inserts the login code (digest of its token) and renders its QR code (SVG); each of the channel
app's three
calls (scan, busiSeq after a face check, confirm) checks the session MAC (HMAC-SM3 of the canonical request
string), claims the nonce (a row of seen_nonces), reads the channel's issuance, e-card, card, login or
issuance
grant and the province's business item in one statement, makes its change (the code scanned; a busiSeq row;
the code confirmed and the busiSeq spent) and MACs its answer; the page's poll collects the confirmed code
(UPDATE) and issues the authorization code (UPDATE); the token endpoint as above. No password KDF, no
idempotency record, no audit.
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
from essc.core.platform import open_keystore
from essc.core.settings import Settings
from essc.ecards.passwords import _HASHER
from essc.kit import qrimage, wire
from essc.kit.codes import CodeKind, new_token_code, parse_code
from essc.kit.crypto import get_suite
from essc.kit.fieldcrypt import FieldCipher
from essc.kit.ids import new_id

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
    with_scan = request.query_params.get("with_scan") == "1"  # the platform's page always offers it
    async with ENGINE.begin() as connection:
        login_id = None
        if with_scan:
            payload, code_token = new_token_code(CodeKind.LOGIN)
            login_id = new_id()
            await connection.execute(
                text(
                    "INSERT INTO login_codes (id, token_digest, province, relying_party, site_name, status, "
                    "created_at, expires_at) "
                    "VALUES (:id, :d, '00', 'rp-bench', 'Bench RP', 'pending', :n, :e)"
                ),
                {
                    "id": login_id,
                    "d": _digest(code_token.hex()),
                    "n": _now(),
                    "e": _now() + timedelta(seconds=120),
                },
            )
        row = (
            await connection.execute(
                text(
                    "UPDATE oidc_authorizations SET status = 'shown', interaction_digest = :i, "
                    "expires_at = :e, login_code_id = :l "
                    "WHERE request_digest = :d AND status = 'pushed' AND expires_at > :n RETURNING id"
                ),
                {
                    "i": _digest(interaction),
                    "e": _now() + timedelta(seconds=600),
                    "d": _digest(token),
                    "n": _now(),
                    "l": login_id,
                },
            )
        ).one()
    assert row
    form = f'<form><input type="hidden" name="interaction" value="{interaction}"></form>'
    if not with_scan:
        return HTMLResponse(form)
    link = f"/oidc/authorize/scan?interaction={interaction}&amp;code={payload}"
    return HTMLResponse(f'{form}{qrimage.qr_svg(payload)}<a href="{link}">continue</a>')


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


# -- scan-to-login: the channel app's calls and the page's poll --------------------------------------------

SETTINGS = Settings()
SUITE = get_suite(SETTINGS.crypto_suite)
_KEYS = open_keystore(SETTINGS, SUITE)
FIELDS = FieldCipher(SUITE, _KEYS)
_sessions: dict[str, tuple[str, bytes]] = {}
# The reads of the platform's authorise_sign_no: the issuance in the caller's channel, e-card, card, the
# channel's active grants of the function in the province or nationally, and the province's business item.
HOLDER = """
SELECT iss.province, iss.ecard_id, iss.id, iss.status, cd.status, ch.id,
       (SELECT count(*) FROM channel_grants g WHERE g.channel_id = ch.id AND g.function = :f
          AND g.province IN (iss.province, '00') AND g.status = 'active') AS granted,
       (SELECT bi.enabled FROM province_business_items bi
          WHERE bi.province = iss.province AND bi.function = :f) AS enabled
FROM channels ch
JOIN issuances iss ON iss.sign_no = :s AND iss.channel_id = ch.id
JOIN ecards e ON e.province = iss.province AND e.id = iss.ecard_id
JOIN cards cd ON cd.province = e.province AND cd.id = e.card_id
WHERE ch.caller_id = :c AND ch.status = 'active'
"""


async def _channel_call(request: Request, connection: object) -> tuple[str, bytes, str, bytes]:
    """The session MAC checked and the nonce claimed: caller id, session key, nonce, body."""
    headers = request.headers
    body = await request.body()
    session_id = headers[wire.HEADER_SESSION]
    timestamp = wire.parse_timestamp(headers[wire.HEADER_TIMESTAMP])
    nonce = headers[wire.HEADER_NONCE]
    mac = wire.decode_signature(headers[wire.HEADER_SIGNATURE])
    assert timestamp is not None
    assert mac is not None
    message = wire.request_string(
        request.method,
        wire.path_with_query(request.url.path, request.url.query),
        timestamp,
        nonce,
        body,
        digest=SUITE.hash,
        caller=headers[wire.HEADER_CALLER],
        session_id=session_id,
    )
    known = _sessions.get(session_id)
    if known is None:
        row = (
            await connection.execute(  # type: ignore[attr-defined]
                text("SELECT caller_id, key_cipher FROM caller_sessions WHERE id = :s"), {"s": session_id}
            )
        ).one()
        secret = base64.b64decode(FIELDS.decrypt(row[1], f"caller_sessions/{session_id}"))
        known = _sessions[session_id] = (str(row[0]), secret)
    caller_id, secret = known
    assert hmac.compare_digest(SUITE.mac(secret, message), mac)
    await connection.execute(  # type: ignore[attr-defined]
        text("INSERT INTO seen_nonces (caller_id, nonce, expires_at) VALUES (:c, :n, :e)"),
        {"c": caller_id, "n": nonce, "e": _now() + timedelta(seconds=600)},
    )
    return caller_id, secret, nonce, body


async def _holder(connection: object, caller_id: str, sign_no: str, function: str) -> tuple[object, ...]:
    row = (
        await connection.execute(  # type: ignore[attr-defined]
            text(HOLDER), {"f": function, "s": sign_no, "c": caller_id}
        )
    ).one()
    assert (row[3], row[4]) == ("active", "normal"), row
    assert row[6] > 0, row
    assert row[7], row
    return tuple(row)


def _answer(request: Request, secret: bytes, nonce: str, answer: dict[str, object]) -> Response:
    content = orjson.dumps(answer)
    at = int(time.time())
    session_id = request.headers[wire.HEADER_SESSION]
    signed = SUITE.mac(
        secret,
        wire.response_string(
            200,
            nonce,
            at,
            content,
            SUITE.hash,
            caller=request.headers[wire.HEADER_CALLER],
            session_id=session_id,
        ),
    )
    return Response(
        content,
        media_type="application/json",
        headers={
            wire.HEADER_SESSION: session_id,
            wire.HEADER_TIMESTAMP: str(at),
            wire.HEADER_SIGNATURE: wire.encode_signature(signed),
            wire.HEADER_REQUEST_ID: new_id(),
        },
    )


def _code_digest(code: str) -> bytes:
    return _digest(parse_code(code).body.hex())


async def scan(request: Request) -> Response:
    async with ENGINE.begin() as connection:
        caller_id, secret, nonce, body = await _channel_call(request, connection)
        fields = orjson.loads(body)
        holder = await _holder(connection, caller_id, fields["signNo"], "login")
        row = (
            await connection.execute(
                text(
                    "UPDATE login_codes SET status = 'scanned', scanned_at = :n, holder_province = :p, "
                    "ecard_id = :e, issuance_id = :i, channel_id = :c WHERE token_digest = :d "
                    "AND status = 'pending' AND expires_at > :n RETURNING id, expires_at"
                ),
                {
                    "n": _now(),
                    "p": holder[0],
                    "e": holder[1],
                    "i": holder[2],
                    "c": holder[5],
                    "d": _code_digest(fields["code"]),
                },
            )
        ).one()
    return _answer(
        request, secret, nonce, {"loginId": row[0], "status": "scanned", "institution": "Bench RP"}
    )


async def busi_seq(request: Request) -> Response:
    token = secrets.token_urlsafe(32)
    async with ENGINE.begin() as connection:
        caller_id, secret, nonce, body = await _channel_call(request, connection)
        fields = orjson.loads(body)
        holder = await _holder(connection, caller_id, request.path_params["sign_no"], "issuance")
        await connection.execute(
            text(
                "INSERT INTO busi_seqs (token_digest, province, ecard_id, channel_id, purpose, method, "
                "created_at, expires_at) VALUES (:d, :p, :e, :c, :u, :m, :n, :x)"
            ),
            {
                "d": _digest(token),
                "p": holder[0],
                "e": holder[1],
                "c": holder[5],
                "u": fields["purpose"],
                "m": fields["method"],
                "n": _now(),
                "x": _now() + timedelta(seconds=300),
            },
        )
    return _answer(request, secret, nonce, {"busiSeq": token, "purpose": fields["purpose"]})


async def confirm(request: Request) -> Response:
    async with ENGINE.begin() as connection:
        caller_id, secret, nonce, body = await _channel_call(request, connection)
        fields = orjson.loads(body)
        holder = await _holder(connection, caller_id, fields["signNo"], "login")
        row = (
            await connection.execute(
                text(
                    "UPDATE login_codes SET status = 'confirmed', answered_at = :n WHERE token_digest = :d "
                    "AND status = 'scanned' AND holder_province = :p AND issuance_id = :i "
                    "AND expires_at > :n "
                    "RETURNING id"
                ),
                {"n": _now(), "d": _code_digest(fields["code"]), "p": holder[0], "i": holder[2]},
            )
        ).one()
        spent = await connection.execute(
            text(
                "UPDATE busi_seqs SET used_at = :n WHERE token_digest = :d AND used_at IS NULL AND "
                "expires_at > :n AND purpose = 'login'"
            ),
            {"n": _now(), "d": _digest(fields["busiSeq"])},
        )
        assert spent.rowcount == 1
    return _answer(request, secret, nonce, {"loginId": row[0], "status": "confirmed"})


async def scan_poll(request: Request) -> Response:
    code = secrets.token_urlsafe(32)
    async with ENGINE.begin() as connection:
        found = (
            await connection.execute(
                text(
                    "SELECT id, login_code_id FROM oidc_authorizations WHERE interaction_digest = :d "
                    "AND status = 'shown'"
                ),
                {"d": _digest(request.query_params["interaction"])},
            )
        ).one()
        holder = (
            await connection.execute(
                text(
                    "UPDATE login_codes SET status = 'consumed', consumed_at = :n WHERE id = :l "
                    "AND status = 'confirmed' RETURNING holder_province, ecard_id"
                ),
                {"n": _now(), "l": found[1]},
            )
        ).one()
        row = (
            await connection.execute(
                text(
                    "UPDATE oidc_authorizations SET status = 'code_issued', code_digest = :c, "
                    "expires_at = :e, holder_province = :p, ecard_id = :i, auth_time = :n "
                    "WHERE id = :a AND status = 'shown' RETURNING params"
                ),
                {
                    "c": _digest(code),
                    "e": _now() + timedelta(seconds=60),
                    "p": holder[0],
                    "i": holder[1],
                    "n": _now(),
                    "a": found[0],
                },
            )
        ).one()
    params = orjson.loads(row[0])
    return RedirectResponse(
        f"{params['redirect_uri']}?code={code}&state={params.get('state')}", status_code=303
    )


async def keys(_request: Request) -> Response:
    return JSONResponse({"keys": []})


app = Starlette(
    routes=[
        Route("/oidc/par", par, methods=["POST"]),
        Route("/oidc/authorize", authorize),
        Route("/oidc/authorize/kiosk", kiosk, methods=["POST"]),
        Route("/oidc/token", token, methods=["POST"]),
        Route("/oidc/authorize/scan", scan_poll),
        Route("/v1/login-codes/scan", scan, methods=["POST"]),
        Route("/v1/login-codes/confirm", confirm, methods=["POST"]),
        Route("/v1/ecards/{sign_no}/busi-seqs", busi_seq, methods=["POST"]),
        Route("/v1/platform/keys", keys),
    ]
)
