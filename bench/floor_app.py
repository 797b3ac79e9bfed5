"""The floor of bench_qr: the platform's durable work for each measured route, on a bare async stack.

Starlette routes on raw asyncpg and redis.asyncio, served by the same HTTP server as the platform and run on
the same scratch database, Redis and keystore. Each route does what the platform must do for that request
and nothing more, so platform CPU per request / this app's is the cost of the platform's machinery:

- POST /v1/qr/resolutions: the session MAC (HMAC-SM3) of the request's canonical string (essc.kit.wire) is
  checked, the nonce claimed in Redis (SET NX EX, the platform's key), then ONE statement (a data-modifying
  CTE) checks the session, terminal, institution and grant, spends the code under the WHERE of the
  platform's `spend`, reads the holder, inserts the card_usages row and the audit entry (a plain insert,
  sequenced later, as the platform's); the answer carries the pseudonym (HMAC-SM3) and the MAC of the
  response string.
  The session key is read from caller_sessions and decrypted on a session's first request in each worker,
  then kept, as the platform keeps it; the session's validity (expiry, caller and key status) is checked
  in the statement on every request, as the platform checks it on every request.
  The audit entry's source address is its blind index (one HMAC-SM3), as the platform stores it.
- GET /open/v1/ecards/{signNo}: the e-card read of the platform's GET /v1/ecards/{signNo} (as served
  unauthenticated by bench/auth_twin.py): channel of the caller named in x-essc-bench-caller, issuance by
  signNo in that channel, e-card, person, card, the channel's grants of function issuance in the province
  or nationally and the province's business item, in one statement, judged as the platform judges them.
- GET /healthz: a bare route.

Bench use only: the e-card route serves anyone as any caller, like the twin.
"""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import orjson
import redis.asyncio as redis
from redis.commands.core import AsyncScript
from sqlalchemy.engine import make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from essc.core.nonces import NONCE_CLAIM
from essc.core.platform import open_keystore
from essc.core.settings import Settings
from essc.kit import wire
from essc.kit.codes import CodeKind, MalformedCode, parse_code
from essc.kit.crypto import get_suite
from essc.kit.fieldcrypt import FieldCipher
from essc.kit.ids import new_id
from essc.kit.keystore import KeyPurpose
from essc.kit.masking import mask_card_number

BENCH_CALLER_HEADER = "x-essc-bench-caller"  # as bench/auth_twin.py reads it
POOL_SIZE = 10  # per worker, as the platform's SQLAlchemy pool (essc.core.db.make_engine)

# The WHERE of the platform's spend (qr/repository.py, may_act_for) and of its session check
# (access/service.py _check_session_mac), the holder joins of _with_holder, record_use's card_usages row and
# audit entry (inserted unsequenced: no row shared with other requests).
RESOLVE = """
WITH acting AS (
    SELECT t.id AS terminal_id, t.terminal_no, i.id AS institution_id, i.code AS institution_code,
           g.disclosure
    FROM caller_sessions s
    JOIN callers c ON c.id = s.caller_id
    JOIN caller_keys k ON k.caller_id = s.caller_id AND k.key_id = s.key_id
    JOIN terminals t ON t.id = s.caller_id
    JOIN institutions i ON i.id = t.institution_id
    JOIN terminal_grants g ON g.terminal_id = t.id AND g.busi_type = $2::char(2)
    WHERE s.id = $1 AND c.kind = 'terminal' AND c.ref = $3::varchar AND c.status = 'active'
      AND s.expires_at > $4 AND k.status = 'active' AND (k.not_after IS NULL OR k.not_after > $4)
      AND t.status = 'active' AND i.status = 'active'
), spent AS (
    UPDATE qr_codes q SET used_at = $4, used_by = acting.terminal_id
    FROM acting
    WHERE q.token_digest = $5 AND q.used_at IS NULL AND q.expires_at > $4
    RETURNING q.province, q.issuance_id, q.channel_id
), holder AS (
    SELECT spent.province, e.id AS ecard_id, spent.channel_id, iss.status AS issuance_status,
           iss.sign_level, cd.status AS card_status, cd.aab301, p.aac002_masked, p.aac003_masked
    FROM spent
    JOIN issuances iss ON iss.province = spent.province AND iss.id = spent.issuance_id
    JOIN ecards e ON e.province = iss.province AND e.id = iss.ecard_id
    JOIN persons p ON p.province = e.province AND p.id = e.person_id
    JOIN cards cd ON cd.province = e.province AND cd.id = e.card_id
), used AS (
    SELECT holder.province, holder.ecard_id, holder.channel_id, acting.terminal_id, acting.terminal_no,
           acting.institution_id, acting.institution_code, acting.disclosure
    FROM holder, acting
    WHERE holder.issuance_status = 'active' AND holder.card_status = 'normal'
), usage AS (
    INSERT INTO card_usages
        (province, id, ecard_id, channel_id, terminal_id, institution_id, busi_type, method, disclosure, at)
    SELECT province, $6, ecard_id, channel_id, terminal_id, institution_id, $2::char(2), 'online_code',
           disclosure, $4
    FROM used
    RETURNING 1
), audit AS (
    INSERT INTO audit_entries
        (id, log, at, actor_kind, actor_id, action, subject_kind, subject_id, province, source_ip, request_id,
         details)
    SELECT $7, used.province, $4, 'terminal', $3::varchar, 'ecard.used', 'ecard', used.ecard_id,
           used.province, $8::varchar, $9::varchar,
           '{"busi_type":"' || $2::text || '","disclosure":"' || used.disclosure || '","institution":"'
               || used.institution_code || '","method":"online_code","terminal":"' || used.terminal_no
               || '","usage":"' || $6::text || '"}'
    FROM used
    RETURNING 1
)
SELECT acting.institution_id, acting.disclosure, holder.ecard_id, holder.issuance_status, holder.sign_level,
       holder.card_status, holder.aab301, holder.aac002_masked, holder.aac003_masked,
       (SELECT count(*) FROM usage) AS usages, (SELECT count(*) FROM audit) AS audits
FROM acting LEFT JOIN holder ON true
"""

# The reads of the platform's GET /v1/ecards/{signNo}: acting_channel (channel by caller), locate (issuance
# by signNo, e-card, person, card) and authorise (grants_for in the province and "00", business_item).
ECARD = """
SELECT ch.status AS channel_status, iss.sign_no, iss.sign_level, iss.status, iss.issued_at,
       cd.status AS card_status, cd.aab301, cd.aaz500, p.aac002_masked, p.aac003_masked,
       grants.granted, grants.suspended, coalesce(bi.enabled, false) AS enabled
FROM channels ch
JOIN issuances iss ON iss.sign_no = $2 AND iss.channel_id = ch.id
JOIN ecards e ON e.province = iss.province AND e.id = iss.ecard_id
JOIN persons p ON p.province = e.province AND p.id = e.person_id
JOIN cards cd ON cd.province = e.province AND cd.id = e.card_id
LEFT JOIN province_business_items bi ON bi.province = iss.province AND bi.function = 'issuance'
CROSS JOIN LATERAL (
    SELECT count(*) > 0 AS granted, count(*) FILTER (WHERE g.status = 'suspended') > 0 AS suspended
    FROM channel_grants g
    WHERE g.channel_id = ch.id AND g.function = 'issuance' AND g.province IN (iss.province, '00')
) grants
WHERE ch.caller_id = $1
"""
CALLER_BY_REF = "SELECT id FROM callers WHERE kind = $1 AND ref = $2"
SESSION = "SELECT caller_id, key_cipher FROM caller_sessions WHERE id = $1"


def _problem(status: int, code: str) -> Response:
    return JSONResponse({"status": status, "code": code}, status_code=status)


def _wire_time(moment: datetime) -> str:
    """A timestamp as the platform's pydantic answers write it."""
    return moment.isoformat().replace("+00:00", "Z")


class Floor:
    """What every request of one worker shares: pool, Redis, keys, and the caches the platform keeps too."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.suite = get_suite(self.settings.crypto_suite)
        keys = open_keystore(self.settings, self.suite)
        self.fields = FieldCipher(self.suite, keys)
        self.token_key = keys.data_key(KeyPurpose.TOKEN).secret
        self.blind_key = keys.data_key(KeyPurpose.BLIND_INDEX).secret
        self.pool: asyncpg.Pool | None = None
        self.redis: redis.Redis | None = None
        self.claim: AsyncScript | None = None
        self.sessions: dict[str, tuple[str, bytes]] = {}
        self.caller_ids: dict[str, str] = {}

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        url = make_url(self.settings.database_url).set(drivername="postgresql").render_as_string(False)
        self.pool = await asyncpg.create_pool(url, min_size=1, max_size=POOL_SIZE)
        self.redis = redis.Redis.from_url(str(self.settings.redis_url))
        self.claim = self.redis.register_script(NONCE_CLAIM)
        try:
            yield
        finally:
            await self.redis.aclose()
            await self.pool.close()

    async def session(self, connection: asyncpg.Connection, session_id: str) -> tuple[str, bytes] | None:
        """The session's caller id and MAC key, read and decrypted once per worker, as the platform keeps it.

        Neither changes in a session's life; whether the session still holds is checked by the statement.
        """
        known = self.sessions.get(session_id)
        if known is None:
            row = await connection.fetchrow(SESSION, session_id)
            if row is None:
                return None
            secret = base64.b64decode(self.fields.decrypt(row["key_cipher"], f"caller_sessions/{session_id}"))
            known = self.sessions[session_id] = (str(row["caller_id"]), secret)
        return known

    async def resolve(self, request: Request) -> Response:
        headers = request.headers
        body = await request.body()
        caller = wire.parse_caller(headers.get(wire.HEADER_CALLER, ""))
        session_id = headers.get(wire.HEADER_SESSION, "")
        timestamp = wire.parse_timestamp(headers.get(wire.HEADER_TIMESTAMP, ""))
        nonce = headers.get(wire.HEADER_NONCE, "")
        mac = wire.decode_signature(headers.get(wire.HEADER_SIGNATURE, ""))
        if (
            caller is None
            or caller[0] != "terminal"
            or not wire.SESSION_PATTERN.match(session_id)
            or timestamp is None
            or not wire.NONCE_PATTERN.match(nonce)
            or mac is None
        ):
            return _problem(401, "missing_auth_header")
        if abs(int(time.time()) - timestamp) > self.settings.request_clock_skew_seconds:
            return _problem(401, "timestamp_out_of_window")
        message = wire.request_string(
            request.method,
            wire.path_with_query(request.url.path, request.url.query),
            timestamp,
            nonce,
            body,
            digest=self.suite.hash,
            caller=headers.get(wire.HEADER_CALLER, ""),
            session_id=session_id,
        )
        assert self.pool is not None
        assert self.redis is not None
        async with self.pool.acquire() as connection:
            session = await self.session(connection, session_id)
            if session is None:
                return _problem(401, "unknown_session")
            caller_id, secret = session
            if not hmac.compare_digest(self.suite.mac(secret, message), mac):
                return _problem(401, "request_signature_invalid")
            # Claimed after the MAC verified, with the platform's script and keys (essc.core.nonces): SET NX
            # under the store's epoch, so a Redis that lost its data lets no replay in.
            window = self.settings.request_clock_skew_seconds
            prefix = self.settings.redis_key_prefix
            assert self.claim is not None
            claimed, _epoch = await self.claim(
                keys=[f"{prefix}nonce-epoch", f"{prefix}nonce:{caller_id}:{nonce}"],
                args=[int(time.time()), timestamp, window, 2 * window + 60],
            )
            if int(claimed) == 0:
                return _problem(401, "nonce_reused")
            if int(claimed) < 0:
                return _problem(503, "nonce_store_recovering")
            try:
                fields = orjson.loads(body)
                parsed = parse_code(fields["code"])
                busi_type = str(fields["busiType"])
            except (MalformedCode, KeyError, TypeError, ValueError):
                return _problem(400, "invalid_input")
            if parsed.kind is not CodeKind.ONLINE:
                return _problem(400, "wrong_code_kind")
            digest = self.suite.mac(self.token_key, parsed.body.hex().encode())
            now = datetime.now(UTC)
            audit_id, request_id = new_id(), new_id()
            address = request.client.host if request.client else None
            address_digest = (
                self.suite.mac(self.blind_key, f"source_ip\x00{address}".encode()).hex() if address else None
            )
            row = await connection.fetchrow(
                RESOLVE,
                session_id,
                busi_type,
                caller[1],
                now,
                digest,
                new_id(),
                audit_id,
                address_digest,
                request_id,
            )
        if row is None:
            return _problem(403, "terminal_not_acting")
        if row["ecard_id"] is None:
            return _problem(409, "code_not_live")
        if row["issuance_status"] != "active" or row["card_status"] != "normal":
            return _problem(409, "card_not_usable")
        if row["usages"] != 1 or row["audits"] != 1:
            return _problem(500, "not_recorded")
        disclosure = row["disclosure"]
        masked = disclosure == "masked"
        pseudonym = self.suite.mac(
            self.blind_key, f"pseudonym\x00{row['institution_id']}:{row['ecard_id']}".encode()
        )
        answer = orjson.dumps(
            {
                "resolutionId": new_id(),
                "busiType": busi_type,
                "disclosure": disclosure,
                "usable": True,
                "pseudonym": base64.b32encode(pseudonym[:15]).decode("ascii"),
                "signLevel": row["sign_level"],
                "aab301": row["aab301"] if masked else None,
                "aac003": row["aac003_masked"] if masked else None,
                "aac002": row["aac002_masked"] if masked else None,
                "resolvedAt": _wire_time(now),
            }
        )
        answered_at = int(time.time())
        answer_mac = self.suite.mac(
            secret,
            wire.response_string(
                200,
                nonce,
                answered_at,
                answer,
                self.suite.hash,
                caller=request.headers.get(wire.HEADER_CALLER, ""),
                session_id=session_id,
            ),
        )
        return Response(
            answer,
            media_type="application/json",
            headers={
                wire.HEADER_SESSION: session_id,
                wire.HEADER_TIMESTAMP: str(answered_at),
                wire.HEADER_SIGNATURE: wire.encode_signature(answer_mac),
                wire.HEADER_REQUEST_ID: request_id,
            },
        )

    async def ecard(self, request: Request) -> Response:
        label = request.headers.get(BENCH_CALLER_HEADER, "")
        assert self.pool is not None
        async with self.pool.acquire() as connection:
            caller_id = self.caller_ids.get(label)
            if caller_id is None:
                # Looked up once per caller, as the twin does: the platform's lookup is its authentication.
                parsed = wire.parse_caller(label)
                found = await connection.fetchval(CALLER_BY_REF, *parsed) if parsed else None
                if found is None:
                    return _problem(401, "unknown_caller")
                caller_id = self.caller_ids[label] = str(found)
            row = await connection.fetchrow(ECARD, caller_id, request.path_params["sign_no"])
        if row is None:
            return _problem(404, "sign_no_not_found")
        if row["channel_status"] != "active" or not row["granted"] or row["suspended"] or not row["enabled"]:
            return _problem(403, "function_not_authorised")
        active = row["status"] == "active"
        view = {
            "signNo": row["sign_no"],
            "signLevel": row["sign_level"],
            "status": "active" if active else "unlinked",
            "usable": active and row["card_status"] == "normal",
            "cardStatus": row["card_status"],
            "aab301": row["aab301"],
            "aac002": row["aac002_masked"],
            "aac003": row["aac003_masked"],
            "aaz500": mask_card_number(row["aaz500"]),
            "issuedAt": _wire_time(row["issued_at"]),
        }
        return Response(orjson.dumps(view), media_type="application/json")


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def build() -> ASGIApp:
    """The floor app (a factory: each server worker builds its own pool and Redis client)."""
    floor = Floor()
    return Starlette(
        routes=[
            Route("/v1/qr/resolutions", floor.resolve, methods=["POST"]),
            Route("/open/v1/ecards/{sign_no}", floor.ecard, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=floor.lifespan,
    )
