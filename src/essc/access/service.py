"""Request authentication of SPEC section 4, and registration of callers and their keys."""

from __future__ import annotations

from essc.access import repository
from essc.access.errors import (
    CallerSuspended,
    DuplicateCaller,
    KeyRevoked,
    MissingAuthHeader,
    NonceReused,
    RequestSignatureInvalid,
    TimestampOutOfWindow,
    UnknownCaller,
    UnknownKeyId,
)
from essc.access.models import Caller, CallerKey
from essc.access.schemas import AuthenticatedCaller, SignedRequest
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.kit import wire
from essc.kit.crypto.base import CryptoSuite, PublicKey
from essc.kit.errors import CryptoError, NotFound
from essc.kit.ids import new_id

ACTIVE = "active"
REVOKED = "revoked"
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


def authenticate(platform: Platform, request: SignedRequest) -> AuthenticatedCaller:
    """Check caller, key, timestamp window, signature over the canonical string, then claim the nonce."""
    caller_header = _header(request, wire.HEADER_CALLER)
    match = wire.CALLER_PATTERN.match(caller_header)
    if match is None:
        raise MissingAuthHeader(
            f"header {wire.HEADER_CALLER} must be 'channel/<10-digit channelNo>' "
            "or 'province/<2-digit code>'",
            header=wire.HEADER_CALLER,
        )
    kind, ref = match.group(1), match.group(2)
    key_id = _header(request, wire.HEADER_KEY_ID)
    raw_timestamp = _header(request, wire.HEADER_TIMESTAMP)
    if not raw_timestamp.isdigit():
        raise MissingAuthHeader(
            f"header {wire.HEADER_TIMESTAMP} must be Unix seconds as digits", header=wire.HEADER_TIMESTAMP
        )
    timestamp = int(raw_timestamp)
    nonce = _header(request, wire.HEADER_NONCE)
    if not wire.NONCE_PATTERN.match(nonce):
        raise MissingAuthHeader(
            f"header {wire.HEADER_NONCE} must be 16-64 characters of A-Z a-z 0-9 _ -",
            header=wire.HEADER_NONCE,
        )
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

    with platform.session_factory() as session:
        caller = repository.caller_by_ref(session, kind, ref)
        if caller is None:
            raise UnknownCaller(f"no {kind} {ref} is registered", header=wire.HEADER_CALLER)
        key = repository.caller_key(session, caller.id, key_id)
        if key is None:
            raise UnknownKeyId(f"{kind}/{ref} has no key {key_id!r}", header=wire.HEADER_KEY_ID)
        if key.status != ACTIVE:
            raise KeyRevoked(f"key {key_id!r} of {kind}/{ref} was revoked", header=wire.HEADER_KEY_ID)
        if caller.status != ACTIVE:
            raise CallerSuspended(f"{kind}/{ref} is {caller.status}")
        caller_id, public_der = caller.id, key.public_key

    message = wire.request_string(
        request.method, request.path, timestamp, nonce, request.body, digest=platform.suite.hash
    )
    try:
        platform.suite.verify(_parsed_key(platform.suite, public_der), message, signature)
    except CryptoError as exc:
        raise RequestSignatureInvalid(
            f"{wire.HEADER_SIGNATURE} does not verify under key {key_id!r} over the canonical string "
            "(scheme, method, path?query, timestamp, nonce, hex SM3 of the body; one per line)",
            header=wire.HEADER_SIGNATURE,
        ) from exc

    # Claimed only after the signature verified, so nobody can burn another caller's nonces.
    if not platform.nonces.claim(caller_id, nonce, ttl_seconds=2 * window + 60):
        raise NonceReused(f"nonce {nonce!r} was already used by {kind}/{ref}", header=wire.HEADER_NONCE)
    return AuthenticatedCaller(
        caller_id=caller_id,
        kind=kind,
        ref=ref,
        key_id=key_id,
        nonce=nonce,
        signature=wire.encode_signature(signature),
        body_digest=platform.suite.hash(request.body).hex(),
    )


def register_caller(uow: UnitOfWork, kind: str, ref: str, name: str) -> Caller:
    """Register a signing party (a channel or a province's card system)."""
    if repository.caller_by_ref(uow.session, kind, ref) is not None:
        raise DuplicateCaller(f"{kind}/{ref} is already registered")
    caller = Caller(id=new_id(), kind=kind, ref=ref, name=name, status=ACTIVE, created_at=uow.clock.now())
    uow.session.add(caller)
    uow.session.flush()
    uow.audit("caller.registered", "caller", caller.id, None, kind=kind, ref=ref, name=name)
    return caller


def add_key(uow: UnitOfWork, caller: Caller, key_id: str, public_key: bytes) -> CallerKey:
    """Attach a public key (PEM or DER) under a key id; it is validated before it is stored."""
    suite = uow.platform.suite
    parsed = suite.load_public_key(public_key)
    if repository.caller_key(uow.session, caller.id, key_id) is not None:
        raise DuplicateCaller(f"{caller.kind}/{caller.ref} already has a key {key_id!r}")
    key = CallerKey(
        id=new_id(),
        caller_id=caller.id,
        key_id=key_id,
        algorithm=suite.signature_algorithm,
        public_key=parsed.to_der(),
        status=ACTIVE,
        created_at=uow.clock.now(),
        revoked_at=None,
    )
    uow.session.add(key)
    uow.session.flush()
    uow.audit("caller.key_added", "caller", caller.id, None, key_id=key_id, fingerprint=parsed.fingerprint())
    return key


def revoke_key(uow: UnitOfWork, kind: str, ref: str, key_id: str) -> None:
    """Revoke a caller's key; the next request signed with it is refused."""
    caller = repository.caller_by_ref(uow.session, kind, ref)
    key = repository.caller_key(uow.session, caller.id, key_id) if caller else None
    if caller is None or key is None:
        raise NotFound(f"{kind}/{ref} has no key {key_id!r}")
    key.status, key.revoked_at = REVOKED, uow.clock.now()
    uow.session.flush()
    uow.audit("caller.key_revoked", "caller", caller.id, None, key_id=key_id)


def set_caller_status(uow: UnitOfWork, kind: str, ref: str, status: str) -> None:
    caller = repository.caller_by_ref(uow.session, kind, ref)
    if caller is None:
        raise NotFound(f"no {kind} {ref} is registered")
    previous, caller.status = caller.status, status
    uow.session.flush()
    uow.audit("caller.status_changed", "caller", caller.id, None, previous=previous, status=status)
