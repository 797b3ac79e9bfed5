"""Request authentication (docs/protocol.md, Signed requests), and registration of callers and their keys."""

from __future__ import annotations

import base64
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from essc.access import repository
from essc.access.errors import (
    CallerSuspended,
    DuplicateCaller,
    KeyRetired,
    KeyRevoked,
    NonceReused,
    PublicKeyInUse,
    RelayNotAllowed,
    RequestSignatureInvalid,
    SessionExpired,
    SessionNotAllowed,
    TimestampOutOfWindow,
    UnknownCaller,
    UnknownKeyId,
    UnknownSession,
)
from essc.access.models import Caller, CallerKey, CallerSession, CallerStatus, KeyStatus
from essc.access.schemas import OpenedSession, SignedRequest
from essc.core.db import Session
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.kit import wire
from essc.kit.crypto.base import CryptoSuite, PublicKey
from essc.kit.crypto.sm import sm3
from essc.kit.errors import CryptoError, InvalidInput, NotFound
from essc.kit.ids import new_id
from essc.kit.names import InvalidDisplayName, check_display_name
from essc.shared.callers import AuthenticatedCaller, Environment, MissingAuthHeader

_PARSED_KEYS_MAX = 4096


_parsed_keys: dict[tuple[str, bytes], PublicKey] = {}


def _parsed_key(suite: CryptoSuite, der: bytes) -> PublicKey:
    # Parsing a public key costs as much as a fraction of a verification; keys change rarely.
    cache_key = (suite.name, der)
    parsed = _parsed_keys.get(cache_key)
    if parsed is None:
        if len(_parsed_keys) >= _PARSED_KEYS_MAX:
            _parsed_keys.clear()
        parsed = _parsed_keys[cache_key] = suite.load_public_key(der)
    return parsed


def _header(request: SignedRequest, name: str) -> str:
    value = request.headers.get(name.lower())
    if not value:
        raise MissingAuthHeader(f"header {name} is required on every signed request", header=name)
    return value


def authenticate(
    platform: Platform, request: SignedRequest, *, session_checked_by_route: bool = False
) -> AuthenticatedCaller:
    """Check caller, key or session, timestamp window, signature or MAC, then claim the nonce.

    `session_checked_by_route`: the route checks in its own statement that a MAC session still holds
    (`session_holds_sql`), so a session whose key this worker already holds is not looked up here.
    """
    caller_header = _header(request, wire.HEADER_CALLER)
    parsed = wire.parse_caller(caller_header)
    if parsed is None:
        raise MissingAuthHeader(
            f"header {wire.HEADER_CALLER} must be {wire.CALLER_FORMS}", header=wire.HEADER_CALLER
        )
    kind, ref = parsed
    session_id = request.headers.get(wire.HEADER_SESSION.lower())
    key_id = "" if session_id else _header(request, wire.HEADER_KEY_ID)
    if key_id and not wire.KEY_ID_PATTERN.match(key_id):
        raise MissingAuthHeader(
            f"header {wire.HEADER_KEY_ID} must be 1-64 of A-Z a-z 0-9 _ . -", header=wire.HEADER_KEY_ID
        )
    timestamp = wire.parse_timestamp(_header(request, wire.HEADER_TIMESTAMP))
    if timestamp is None:
        raise MissingAuthHeader(
            f"header {wire.HEADER_TIMESTAMP} must be Unix seconds as 1-15 ASCII digits",
            header=wire.HEADER_TIMESTAMP,
        )
    nonce = _header(request, wire.HEADER_NONCE)
    if not wire.NONCE_PATTERN.match(nonce):
        raise MissingAuthHeader(
            f"header {wire.HEADER_NONCE} must be 16-64 characters of A-Z a-z 0-9 _ -",
            header=wire.HEADER_NONCE,
        )
    on_behalf_of = _relayed_channel(request, kind)
    signature = wire.decode_signature(_header(request, wire.HEADER_SIGNATURE))
    if signature is None:
        raise MissingAuthHeader(
            f"header {wire.HEADER_SIGNATURE} must be base64", header=wire.HEADER_SIGNATURE
        )

    window = platform.settings.request_clock_skew_seconds
    now = int(platform.clock.now().timestamp())
    if abs(now - timestamp) > window:
        raise TimestampOutOfWindow(
            f"{wire.HEADER_TIMESTAMP} {timestamp} is {now - timestamp:+d} s from the platform clock {now}; "
            f"at most {window} s is allowed",
            platform_time=now,
        )
    message = wire.request_string(
        request.method,
        request.path,
        timestamp,
        nonce,
        request.body,
        digest=platform.suite.hash,
        caller=caller_header,
        key_id=None if session_id else key_id,
        session_id=session_id or None,
        on_behalf_of=on_behalf_of,
    )
    session_key: bytes | None = None
    session_checked = True
    if session_id:
        caller_id, environment, session_key, session_checked = _check_session_mac(
            platform,
            kind,
            ref,
            session_id=session_id,
            message=message,
            mac=signature,
            checked_by_route=session_checked_by_route,
        )
    else:
        caller_id, environment = _check_signature(
            platform, kind, ref, key_id=key_id, message=message, signature=signature
        )

    # Claimed only after the signature verified, so nobody can burn another caller's nonces.
    if not platform.nonces.claim(caller_id, nonce, ttl_seconds=2 * window + 60, timestamp=timestamp):
        raise NonceReused(f"nonce {nonce!r} was already used by {kind}/{ref}", header=wire.HEADER_NONCE)
    return AuthenticatedCaller(
        caller_id=caller_id,
        kind=kind,
        ref=ref,
        key_id=key_id,
        nonce=nonce,
        signature=wire.encode_signature(signature),
        body_digest=platform.suite.hash(request.body).hex(),
        session_id=session_id,
        session_key=session_key,
        environment=environment,
        on_behalf_of=on_behalf_of,
        session_checked=session_checked,
    )


def _relayed_channel(request: SignedRequest, kind: str) -> str | None:
    """The second-level channelNo a first-level channel relays for, if the request names one."""
    value = request.headers.get(wire.HEADER_ON_BEHALF_OF.lower())
    if value is None:
        return None
    if kind != "channel" or not wire.CALLER_REF_PATTERNS["channel"].match(value):
        raise RelayNotAllowed(
            f"header {wire.HEADER_ON_BEHALF_OF} is for a first-level channel naming one of its second-level "
            "channels by its 10-digit channelNo",
            header=wire.HEADER_ON_BEHALF_OF,
        )
    return value


def _ensure_key_usable(
    key_id: str, status: str, not_after: datetime | None, *, label: str, now: datetime, header: str
) -> None:
    """A revoked key stops at once; a replaced one at the end of its overlap window."""
    if status != KeyStatus.ACTIVE:
        raise KeyRevoked(f"key {key_id!r} of {label} was revoked", header=header)
    if not_after is not None and not_after <= now:
        raise KeyRetired(
            f"key {key_id!r} of {label} was replaced and stopped working at {not_after.isoformat()}; "
            "sign with the new key",
            header=header,
            stopped_at=not_after.isoformat(),
        )


def _check_signature(
    platform: Platform, kind: str, ref: str, *, key_id: str, message: bytes, signature: bytes
) -> tuple[str, str]:
    # Reads that stand alone: autocommitted on PostgreSQL, no BEGIN and ROLLBACK round trips around them.
    with platform.single_statement_factory() as session:
        found = repository.caller_with_key(session, kind, ref, key_id)
    if found is None:
        raise UnknownCaller(f"no {kind} {ref} is registered", header=wire.HEADER_CALLER)
    if found.key_id is None or found.key_status is None or found.public_key is None or not found.environment:
        raise UnknownKeyId(f"{kind}/{ref} has no key {key_id!r}", header=wire.HEADER_KEY_ID)
    _ensure_key_usable(
        found.key_id,
        found.key_status,
        found.not_after,
        label=f"{kind}/{ref}",
        now=platform.clock.now(),
        header=wire.HEADER_KEY_ID,
    )
    if found.caller_status != CallerStatus.ACTIVE:
        raise CallerSuspended(f"{kind}/{ref} is {found.caller_status}")
    caller_id, public_der, environment = found.caller_id, found.public_key, found.environment
    try:
        platform.suite.verify(_parsed_key(platform.suite, public_der), message, signature)
    except CryptoError as exc:
        raise RequestSignatureInvalid(
            f"{wire.HEADER_SIGNATURE} does not verify under key {key_id!r} over the canonical string "
            f"{wire.REQUEST_SCHEME} (scheme, method, path?query, timestamp, nonce, caller:<caller>, "
            f"key:<key id>, hex digest of the body; one per line); {', '.join(wire.RETIRED_REQUEST_SCHEMES)} "
            "is no longer accepted",
            header=wire.HEADER_SIGNATURE,
        ) from exc
    return caller_id, environment


@dataclass(frozen=True, slots=True)
class _KnownSession:
    """What never changes in a MAC session's life: whose it is, its key's environment and its MAC key."""

    caller_id: str
    kind: str
    ref: str
    environment: str
    secret: bytes


# The sessions whose key this worker decrypted, by id; whether one still holds is checked on every request.
_known_sessions: dict[str, _KnownSession] = {}
_KNOWN_SESSIONS_MAX = 65536


def _session_aad(session_id: str) -> str:
    return f"caller_sessions/{session_id}"


def _check_session_mac(
    platform: Platform,
    kind: str,
    ref: str,
    *,
    session_id: str,
    message: bytes,
    mac: bytes,
    checked_by_route: bool = False,
) -> tuple[str, str, bytes, bool]:
    """The caller id, environment and MAC key of a verified session request, and whether it was checked.

    With `checked_by_route`, a session known to this worker is checked by the route's statement instead
    of a lookup here: one round trip less on the hottest path.
    """
    if not wire.SESSION_PATTERN.match(session_id):
        raise UnknownSession(f"header {wire.HEADER_SESSION} is not a session id", header=wire.HEADER_SESSION)
    known = _known_sessions.get(session_id) if checked_by_route else None
    checked = known is None or (known.kind, known.ref) != (kind, ref)
    if checked:
        with platform.single_statement_factory() as session:
            known = _standing_session(session, platform, kind, ref, session_id)
    assert known is not None
    if not hmac.compare_digest(platform.suite.mac(known.secret, message), mac):
        raise RequestSignatureInvalid(
            f"{wire.HEADER_SIGNATURE} is not the session MAC of the canonical string {wire.REQUEST_SCHEME} "
            "(scheme, method, path?query, timestamp, nonce, caller:<caller>, session:<session id>, "
            "hex digest of the body; one per line)",
            header=wire.HEADER_SIGNATURE,
        )
    return known.caller_id, known.environment, known.secret, checked


def _standing_session(
    session: Session, platform: Platform, kind: str, ref: str, session_id: str
) -> _KnownSession:
    """The session of `kind/ref`, refused by name unless it, its key and its caller all still stand."""
    found = repository.session_with_caller(session, session_id)
    if found is None:
        raise UnknownSession(f"session {session_id} does not exist", header=wire.HEADER_SESSION)
    if (found.kind, found.ref) != (kind, ref):
        raise UnknownSession(f"session {session_id} belongs to another caller", header=wire.HEADER_SESSION)
    now = platform.clock.now()
    if found.expires_at <= now:
        raise SessionExpired(
            f"session {session_id} expired at {found.expires_at.isoformat()}; open a new one",
            header=wire.HEADER_SESSION,
        )
    # A session lives no longer than the key that opened it (revoked now, or retired after its overlap).
    _ensure_key_usable(
        found.key_id,
        found.key_status,
        found.not_after,
        label=f"{kind}/{ref} (session {session_id})",
        now=now,
        header=wire.HEADER_SESSION,
    )
    if found.caller_status != CallerStatus.ACTIVE:
        raise CallerSuspended(f"{kind}/{ref} is {found.caller_status}")
    known = _known_sessions.get(session_id)
    if known is None or (known.kind, known.ref) != (kind, ref):
        secret = base64.b64decode(platform.fields.decrypt(found.key_cipher, _session_aad(session_id)))
        if len(_known_sessions) >= _KNOWN_SESSIONS_MAX:
            _known_sessions.clear()
        known = _known_sessions[session_id] = _KnownSession(
            found.caller_id, kind, ref, found.environment, secret
        )
    return known


def check_session_standing(platform: Platform, caller: AuthenticatedCaller) -> None:
    """Refuse by name the session of a request whose route answered before checking it (a bad body, say)."""
    assert caller.session_id is not None
    with platform.single_statement_factory() as session:
        _standing_session(session, platform, caller.kind, caller.ref, caller.session_id)


def open_session(platform: Platform, caller: AuthenticatedCaller) -> OpenedSession:
    """A MAC session for a caller who just signed a request with one of its keys."""
    if caller.session_id is not None:
        raise SessionNotAllowed("open a session with a signed request, not from inside another session")
    secret = secrets.token_bytes(platform.suite.aead_key_size)
    session_id = new_id()
    now = platform.clock.now()
    expires_at = now + timedelta(seconds=platform.settings.session_ttl_seconds)
    with platform.session_factory() as session:
        key = repository.caller_key(session, caller.caller_id, caller.key_id)
        assert key is not None  # the request was just verified with it
        public = _parsed_key(platform.suite, key.public_key)
        session.add(
            CallerSession(
                id=session_id,
                caller_id=caller.caller_id,
                key_id=caller.key_id,
                key_cipher=platform.fields.encrypt(
                    base64.b64encode(secret).decode("ascii"), _session_aad(session_id)
                ),
                created_at=now,
                expires_at=expires_at,
            )
        )
        session.commit()
    return OpenedSession(
        session_id=session_id,
        encrypted_key=base64.b64encode(platform.suite.encrypt_to(public, secret)).decode("ascii"),
        mac_algorithm="HMAC-SM3" if platform.suite.name == "sm" else "HMAC-SHA256",
        expires_at=expires_at,
    )


def register_caller(uow: UnitOfWork, kind: str, ref: str, name: str) -> Caller:
    """Register a signing party (a channel or a province's card system)."""
    try:
        name = check_display_name(name)
    except InvalidDisplayName as exc:
        raise InvalidInput(str(exc), field="name") from exc
    if repository.caller_by_ref(uow.session, kind, ref) is not None:
        raise DuplicateCaller(f"{kind}/{ref} is already registered")
    caller = Caller(
        id=new_id(), kind=kind, ref=ref, name=name, status=CallerStatus.ACTIVE, created_at=uow.clock.now()
    )
    uow.session.add(caller)
    uow.session.flush()
    uow.audit("caller.registered", "caller", caller.id, None, kind=kind, ref=ref, name=name)
    return caller


def add_key(
    uow: UnitOfWork,
    caller: Caller,
    key_id: str,
    public_key: bytes,
    *,
    environment: Environment = Environment.PRODUCTION,
) -> CallerKey:
    """Attach a public key (PEM or DER) under a key id for an environment, validated before it is stored."""
    suite = uow.platform.suite
    parsed = suite.load_public_key(public_key)
    if repository.caller_key(uow.session, caller.id, key_id) is not None:
        raise DuplicateCaller(f"{caller.kind}/{caller.ref} already has a key {key_id!r}")
    # One key, one party: a key shared by two parties would let either sign as the other.
    owner = repository.claim_public_key(
        uow.session, public_key_digest(parsed.to_der()), caller.id, uow.clock.now()
    )
    if owner != caller.id:
        raise PublicKeyInUse(
            f"this public key (fingerprint {parsed.fingerprint()}) is already registered to another party; "
            "every party signs with a key of its own",
            fingerprint=parsed.fingerprint(),
        )
    key = CallerKey(
        id=new_id(),
        caller_id=caller.id,
        key_id=key_id,
        algorithm=suite.signature_algorithm,
        public_key=parsed.to_der(),
        status=KeyStatus.ACTIVE,
        environment=environment.value,
        created_at=uow.clock.now(),
        revoked_at=None,
        not_after=None,
    )
    uow.session.add(key)
    uow.session.flush()
    uow.audit(
        "caller.key_added",
        "caller",
        caller.id,
        None,
        key_id=key_id,
        environment=environment.value,
        fingerprint=parsed.fingerprint(),
    )
    return key


def public_key_digest(der: bytes) -> bytes:
    """The key's identity in public_key_owners: SM3 of its DER, whatever the suite (migrations compute it)."""
    return sm3(der)


def schedule_key_stop(uow: UnitOfWork, caller: Caller, key_id: str, stops_at: datetime) -> CallerKey:
    """End a replaced key's overlap window: requests (and sessions) with it are refused from `stops_at` on."""
    key = repository.caller_key(uow.session, caller.id, key_id)
    if key is None:
        raise NotFound(f"{caller.kind}/{caller.ref} has no key {key_id!r}")
    key.not_after = stops_at
    uow.session.flush()
    uow.audit(
        "caller.key_stop_scheduled", "caller", caller.id, None, key_id=key_id, stops_at=stops_at.isoformat()
    )
    return key


def revoke_key(uow: UnitOfWork, kind: str, ref: str, key_id: str) -> None:
    """Revoke a caller's key; the next request signed with it is refused."""
    caller = repository.caller_by_ref(uow.session, kind, ref)
    key = repository.caller_key(uow.session, caller.id, key_id) if caller else None
    if caller is None or key is None:
        raise NotFound(f"{kind}/{ref} has no key {key_id!r}")
    key.status, key.revoked_at = KeyStatus.REVOKED, uow.clock.now()
    uow.session.flush()
    uow.audit("caller.key_revoked", "caller", caller.id, None, key_id=key_id)


def set_caller_status(uow: UnitOfWork, kind: str, ref: str, status: CallerStatus) -> None:
    caller = repository.caller_by_ref(uow.session, kind, ref)
    if caller is None:
        raise NotFound(f"no {kind} {ref} is registered")
    previous, caller.status = caller.status, status
    uow.session.flush()
    uow.audit("caller.status_changed", "caller", caller.id, None, previous=previous, status=status)
