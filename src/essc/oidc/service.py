"""The OpenID provider's rules: registry, client authentication, PAR, holder login, codes, tokens, logout."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import orjson
from joserfc import jwe, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

from essc.cardholders import repository as cards_repo
from essc.cardholders.lifecycle import card_is_usable
from essc.cardholders.service import read_clear_person
from essc.channels.models import Channel
from essc.chips.service import CHIP_GENERATION, CHIP_SUITE
from essc.chips.wire import CHALLENGE_BYTES, chip_string
from essc.core.db import unattached_of
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.ecards import passwords
from essc.ecards.models import Ecard
from essc.ecards.schemas import Purpose
from essc.ecards.service import (
    PasswordOutcome,
    authorise_sign_no,
    check_password,
    consume_busi_seq,
    ensure_usable,
)
from essc.kit.crypto.base import CryptoSuite
from essc.kit.errors import CryptoError, MalformedKey
from essc.kit.ids import new_id
from essc.kit.jose import SM2_CURVE, Sm2Key
from essc.kit.keystore import KeyPurpose
from essc.login import service as logins
from essc.login.schemas import LoginCodeOut, LoginStatus
from essc.oidc import repository
from essc.oidc.errors import (
    AppLoginsLimited,
    AuthorizationRequestUnknown,
    CodeReplayed,
    HolderLoginRefused,
    InvalidClient,
    InvalidClientMetadata,
    InvalidGrant,
    InvalidRequest,
    InvalidRequestUri,
    InvalidScope,
    InvalidToken,
    RefreshReused,
    RelyingPartyExists,
    RelyingPartyNotFound,
    RelyingPartyRefused,
    ScanLoginDenied,
    ScanLoginExpired,
    ScanLoginReplayed,
    ScanLoginUnconfirmed,
    SlowDown,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from essc.oidc.keys import ID_TOKEN_ALGORITHMS, signing_keys
from essc.oidc.limits import SlidingWindow
from essc.oidc.models import (
    AuthMethod,
    Authorization,
    AuthorizationStatus,
    Grant,
    LogoutNotice,
    NoticeStatus,
    RelyingParty,
    RelyingPartyStatus,
    TokenKind,
)
from essc.oidc.schemas import (
    AppLoginIn,
    AppLoginOut,
    IdTokenAlg,
    PublicRelyingParty,
    RelyingPartyIn,
    RelyingPartyOut,
    Scope,
)
from essc.shared.policy import NATIONAL
from essc.shared.tokens import OneTimeTokens

REQUEST_URI_PREFIX: Final = "urn:ietf:params:oauth:request_uri:"
ASSERTION_TYPE: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
PAR_SECONDS: Final = 60  # a pushed request is used at once by the browser it redirects
PAGE_SECONDS: Final = 600  # the holder has ten minutes on the login page
CODE_SECONDS: Final = 60  # an authorization code lives at most 60 s
ACCESS_SECONDS: Final = 600
REFRESH_SECONDS: Final = 30 * 24 * 3600
ID_TOKEN_SECONDS: Final = 600
# A client assertion may not claim to live longer (Authlib, unchanged, asks for one hour); its jti is kept
# until it expires, so the bound is also what the replay store holds per assertion.
ASSERTION_MAX_SECONDS: Final = 3600
SKEW_SECONDS: Final = 30
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# A fixed argon2id hash of nothing anyone knows: an unknown e-card costs one KDF like a known one, so the
# time of the answer tells nothing either.
_DUMMY_ECARD = "00000000000000000000000000"


# -- the registry ----------------------------------------------------------------------------------------


def _signing_key(jwk: dict[str, Any]) -> ECKey:
    """A relying party's public JWK as a joserfc key: P-256 (ES256, ECDH-ES) or SM2 (SM2SM3)."""
    if jwk.get("kty") != "EC":
        raise MalformedKey("relying-party keys are EC keys (crv P-256 or SM2)")
    if jwk.get("crv") == SM2_CURVE:
        return Sm2Key.from_jwk(jwk)
    if jwk.get("crv") != "P-256" or "d" in jwk:
        raise MalformedKey("relying-party EC keys are public P-256 or SM2 keys")
    try:
        return ECKey.import_key(jwk)
    except (JoseError, ValueError) as exc:
        raise MalformedKey(f"not a valid P-256 JWK: {exc}") from exc


def _keys_of(jwks: dict[str, Any]) -> list[ECKey]:
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys or len(keys) > 10:
        raise InvalidClientMetadata("jwks holds 1-10 keys in a keys array", field="jwks")
    found = []
    for index, jwk in enumerate(keys):
        if not isinstance(jwk, dict) or not isinstance(jwk.get("kid"), str):
            raise InvalidClientMetadata(f"jwks key {index} needs a kid", field="jwks")
        try:
            found.append(_signing_key(jwk))
        except MalformedKey as exc:
            raise InvalidClientMetadata(f"jwks key {index}: {exc.detail}", field="jwks") from exc
    return found


def _use(key: ECKey) -> str:
    return str(key.get("use") or "sig")


def _check_redirect(uri: str) -> str:
    parts = urlsplit(uri)
    local = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")
    if not (parts.scheme == "https" or local) or not parts.hostname or parts.fragment:
        raise InvalidClientMetadata(
            f"{uri!r}: redirect URIs are https (or http on the loopback) without a fragment",
            field="redirectUris",
        )
    return parts.hostname


def register(uow: UnitOfWork, body: RelyingPartyIn, province: str, by: str) -> RelyingPartyOut:
    """Register a relying party of a province ("00": the ministry, every province), active at once."""
    hosts = [_check_redirect(uri) for uri in body.redirect_uris]
    jwks = body.jwks.model_dump(exclude_none=True)
    keys = _keys_of(jwks)
    if not any(_use(k) == "sig" for k in keys):
        raise InvalidClientMetadata("jwks needs a signing key (use sig) for private_key_jwt", field="jwks")
    scopes = set(body.scopes)
    if Scope.OPENID not in scopes:
        raise InvalidClientMetadata("scopes must include openid", field="scopes")
    if Scope.ID_NUMBER in scopes and not body.clear_id_number:
        raise InvalidClientMetadata("the id_number scope needs clearIdNumber", field="scopes")
    if body.clear_id_number and not any(_use(k) == "enc" and not isinstance(k, Sm2Key) for k in keys):
        raise InvalidClientMetadata(
            "a relying party authorised for the clear ID number needs a P-256 encryption key (use enc)",
            field="jwks",
        )
    if body.backchannel_logout_uri is not None:
        _check_redirect(body.backchannel_logout_uri)
    now = uow.clock.now()
    values = {
        "client_id": body.client_id,
        "name": body.name,
        "province": province,
        "registered_by": by,
        "status": RelyingPartyStatus.ACTIVE.value,
        "redirect_uris": orjson.dumps(body.redirect_uris).decode(),
        "jwks": orjson.dumps(jwks).decode(),
        "id_token_alg": body.id_token_alg.value,
        "scopes": " ".join(sorted(s.value for s in scopes)),
        "clear_id_number": body.clear_id_number,
        "sector": body.sector or hosts[0],
        "backchannel_logout_uri": body.backchannel_logout_uri,
        "created_at": now,
        "updated_at": now,
    }
    if not repository.add_relying_party(uow.session, values):
        raise RelyingPartyExists(f"client_id {body.client_id} is registered already", field="clientId")
    uow.audit("oidc.rp_registered", "relying_party", body.client_id, province, by=by)
    found = repository.relying_party(uow.session, body.client_id)
    assert found is not None
    return describe(found)


def describe(rp: RelyingParty) -> RelyingPartyOut:
    return RelyingPartyOut(
        client_id=rp.client_id,
        name=rp.name,
        province=rp.province,
        status=RelyingPartyStatus(rp.status),
        redirect_uris=orjson.loads(rp.redirect_uris),
        id_token_alg=IdTokenAlg(rp.id_token_alg),
        scopes=[Scope(s) for s in rp.scopes.split()],
        clear_id_number=rp.clear_id_number,
        backchannel_logout_uri=rp.backchannel_logout_uri,
        sector=rp.sector,
        registered_by=rp.registered_by,
        created_at=rp.created_at,
    )


def registered(uow: UnitOfWork, client_id: str, province: str) -> RelyingParty:
    """A relying party the province (or, for "00", the ministry) registered; others are unknown to it."""
    rp = repository.relying_party(uow.session, client_id)
    if rp is None or rp.province != province:
        raise RelyingPartyNotFound(f"no relying party {client_id} registered by {province}")
    return rp


def set_status(uow: UnitOfWork, rp: RelyingParty, status: RelyingPartyStatus, by: str) -> RelyingPartyOut:
    """Suspend or reactivate; a suspension takes effect on the next request (nothing is cached)."""
    rp.status = status.value
    rp.updated_at = uow.clock.now()
    uow.session.flush()
    uow.audit("oidc.rp_status", "relying_party", rp.client_id, rp.province, status=status.value, by=by)
    return describe(rp)


def public_list(uow: UnitOfWork) -> list[PublicRelyingParty]:
    """The relying parties in force, for the public list beside the channel apps."""
    return [
        PublicRelyingParty(client_id=rp.client_id, name=rp.name, province=rp.province)
        for rp in repository.active_relying_parties(uow.session)
    ]


def login_refusal(
    uow: UnitOfWork, rp: RelyingParty, holder_province: str, *, login_enabled: bool | None = None
) -> UnauthorizedClient | None:
    """Deny by default, the channels' rule for the login function: why this RP may not log this holder in.

    The relying party must be active, registered by the holder's province or nationally by the ministry,
    and the holder's province must have enabled the login business item (absent means disabled); a caller
    that read the province's item already (repository.holder_standing) passes it as login_enabled.
    """
    facts = {"client_id": rp.client_id, "province": holder_province}
    if rp.status != RelyingPartyStatus.ACTIVE:
        return UnauthorizedClient(f"relying party {rp.client_id} is {rp.status}", **facts)
    if rp.province not in (holder_province, NATIONAL):
        return UnauthorizedClient(
            f"relying party {rp.client_id} is registered by province {rp.province}, not for cardholders of "
            f"{holder_province}",
            **facts,
        )
    if login_enabled is None:
        login_enabled = repository.login_enabled(uow.session, holder_province)
    if not login_enabled:
        return UnauthorizedClient(
            f"province {holder_province} has not enabled the login business item for its cardholders", **facts
        )
    return None


# -- endpoints and client authentication -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The provider's URLs, from the platform's public URL (the issuer)."""

    issuer: str

    @classmethod
    def of(cls, platform: Platform) -> Endpoints:
        return cls(platform.settings.public_url.rstrip("/"))

    @property
    def token(self) -> str:
        return f"{self.issuer}/oidc/token"

    @property
    def par(self) -> str:
        return f"{self.issuer}/oidc/par"

    def discovery(self) -> dict[str, Any]:
        base = f"{self.issuer}/oidc"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/authorize",
            "pushed_authorization_request_endpoint": self.par,
            "require_pushed_authorization_requests": True,
            "token_endpoint": self.token,
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "sm2_jwks_uri": f"{base}/jwks/sm2",  # essc's extension: SM2SM3 keys (docs/protocol.md)
            "end_session_endpoint": f"{base}/logout",
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": list(ID_TOKEN_ALGORITHMS),
            "userinfo_encryption_alg_values_supported": ["ECDH-ES+A256KW"],
            "userinfo_encryption_enc_values_supported": ["A256GCM"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ID_TOKEN_ALGORITHMS),
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": [s.value for s in Scope],
            "claims_supported": ["sub", "name", "region", "id_number", "auth_time", "sid", "nonce"],
            "authorization_response_iss_parameter_supported": True,
        }


def _one(form: dict[str, list[str]], name: str, *, required: bool = True) -> str | None:
    values = form.get(name, [])
    if len(values) > 1:
        raise InvalidRequest(f"{name} is repeated")
    if not values or values[0] == "":
        if required:
            raise InvalidRequest(f"{name} is missing")
        return None
    return values[0]


def _required(form: dict[str, list[str]], name: str) -> str:
    value = _one(form, name)
    assert value is not None
    return value


def _rp_keys(rp: RelyingParty, use: str) -> list[ECKey]:
    """The relying party's keys of one use (checked when it registered)."""
    return [k for k in _parsed_jwks(rp.jwks) if _use(k) == use]


@functools.lru_cache(maxsize=1024)
def _parsed_jwks(jwks: str) -> tuple[ECKey, ...]:
    """A stored JWKS parsed once per process: keyed by its text, so a relying party's new keys are new text
    and take effect on its next request (the row is read on every request; only the parsing is kept)."""
    return tuple(_signing_key(jwk) for jwk in orjson.loads(jwks)["keys"])


def _checked_claims(
    claims: dict[str, Any], client_id: str, audiences: set[str], stamp: float
) -> tuple[float, str]:
    """The assertion's exp and jti once its sub, aud, exp and jti pass RFC 7523 §3."""
    aud = claims.get("aud")
    auds = {aud} if isinstance(aud, str) else set(aud) if isinstance(aud, list) else set()
    exp, jti = claims.get("exp"), claims.get("jti")
    if claims.get("sub") != client_id:
        raise InvalidClient("the assertion's sub must be the client_id")
    if not auds & audiences:
        raise InvalidClient(f"the assertion's aud must name the issuer or this endpoint {sorted(audiences)}")
    if not isinstance(exp, int | float) or exp <= stamp - SKEW_SECONDS:
        raise InvalidClient("the client assertion expired (or has no exp)")
    if exp > stamp + ASSERTION_MAX_SECONDS + SKEW_SECONDS:
        raise InvalidClient(f"a client assertion lives at most {ASSERTION_MAX_SECONDS} s")
    if not isinstance(jti, str) or not 1 <= len(jti) <= 128:
        raise InvalidClient("the client assertion needs a jti of 1-128 characters")
    return float(exp), jti


def authenticate_client(uow: UnitOfWork, form: dict[str, list[str]], audiences: set[str]) -> RelyingParty:
    """private_key_jwt (RFC 7523): a fresh assertion signed by a key of the RP's JWKS, used once."""
    if _one(form, "client_assertion_type", required=False) != ASSERTION_TYPE:
        raise InvalidClient(f"authenticate with private_key_jwt: client_assertion_type {ASSERTION_TYPE}")
    assertion = _one(form, "client_assertion", required=False)
    if assertion is None:
        raise InvalidClient("client_assertion is missing")
    try:
        header = orjson.loads(base64.urlsafe_b64decode(assertion.split(".")[0] + "=="))
        unverified = orjson.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
    except (ValueError, IndexError, orjson.JSONDecodeError) as exc:
        raise InvalidClient("client_assertion is not a JWT") from exc
    if not isinstance(header, dict) or not isinstance(unverified, dict):
        raise InvalidClient("client_assertion is not a JWT")
    client_id = unverified.get("iss")
    named = _one(form, "client_id", required=False)
    if not isinstance(client_id, str) or (named is not None and named != client_id):
        raise InvalidClient("the assertion's iss must be the client_id")
    rp = repository.read_relying_party(uow.session, client_id)
    if rp is None:
        raise InvalidClient("unknown client")
    alg = header.get("alg")
    if alg not in ID_TOKEN_ALGORITHMS:
        raise InvalidClient(f"client assertions are signed with {' or '.join(ID_TOKEN_ALGORITHMS)}")
    candidates = [k for k in _rp_keys(rp, "sig") if header.get("kid") in (None, k.kid)]
    claims = None
    for key in candidates:
        try:
            claims = jwt.decode(assertion, key, algorithms=[str(alg)]).claims
            break
        except (JoseError, ValueError):
            continue
    if claims is None:
        raise InvalidClient("the client assertion's signature does not verify under the client's keys")
    now = uow.clock.now()
    exp, jti = _checked_claims(claims, client_id, audiences, now.timestamp())
    expires = datetime.fromtimestamp(exp, now.tzinfo) + timedelta(seconds=SKEW_SECONDS)
    if not repository.claim_assertion(uow.session, client_id, jti, expires):
        raise InvalidClient("this client assertion (jti) was used before")
    if rp.status != RelyingPartyStatus.ACTIVE:
        raise UnauthorizedClient(f"relying party {client_id} is {rp.status}", client_id=client_id)
    return rp


# -- pushed authorization requests and the page -------------------------------------------------------------


def _tokens(uow: UnitOfWork) -> OneTimeTokens:
    return OneTimeTokens.of(uow.platform)


def _fresh() -> str:
    return secrets.token_urlsafe(32)


def push(uow: UnitOfWork, rp: RelyingParty, form: dict[str, list[str]]) -> dict[str, Any]:
    """Store a pushed authorization request (RFC 9126) and hand out its single-use request_uri."""
    if "request_uri" in form or "request" in form:
        raise InvalidRequest("a pushed request carries its parameters, not request or request_uri")
    if _required(form, "response_type") != "code":
        raise InvalidRequest("response_type must be code")
    redirect_uri = _required(form, "redirect_uri")
    if redirect_uri not in orjson.loads(rp.redirect_uris):
        raise InvalidRequest("redirect_uri is not one the relying party registered (exact match)")
    scopes = (_required(form, "scope")).split()
    if Scope.OPENID.value not in scopes:
        raise InvalidScope("scope must include openid")
    if not set(scopes) <= set(rp.scopes.split()):
        raise InvalidScope(f"this relying party may ask for {rp.scopes} only")
    method = _one(form, "code_challenge_method", required=False)
    if method != "S256":
        raise InvalidRequest("PKCE is required with code_challenge_method S256 (plain is refused)")
    challenge = _required(form, "code_challenge")
    if not _CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge must be the base64url SHA-256 of the verifier (43 characters)")
    state, nonce = _one(form, "state", required=False), _one(form, "nonce", required=False)
    for name, value in (("state", state), ("nonce", nonce)):
        if value is not None and len(value) > 512:
            raise InvalidRequest(f"{name} is longer than 512 characters")
    params = {
        "redirect_uri": redirect_uri,
        "scope": " ".join(dict.fromkeys(scopes)),
        "code_challenge": challenge,
        "state": state,
        "nonce": nonce,
    }
    now = uow.clock.now()
    issued = _tokens(uow).issue(_fresh(), now, timedelta(seconds=PAR_SECONDS))
    repository.add_authorization(
        uow.session,
        {
            "id": new_id(),
            "client_id": rp.client_id,
            "status": AuthorizationStatus.PUSHED.value,
            "params": orjson.dumps(params).decode(),
            "request_digest": issued.digest,
            "interaction_digest": None,
            "code_digest": None,
            "created_at": now,
            "expires_at": issued.expires_at,
            "holder_province": None,
            "ecard_id": None,
            "clear_id_consent": False,
            "auth_method": None,
            "login_code_id": None,
            "chip_challenge": None,
            "auth_time": None,
            "grant_id": None,
            "redeemed_at": None,
        },
    )
    return {"request_uri": REQUEST_URI_PREFIX + issued.token, "expires_in": PAR_SECONDS}


@dataclass(frozen=True, slots=True)
class Page:
    """What the login page shows: whom the holder logs in to, what it learns, and the page's own token."""

    interaction: str
    client_name: str
    scopes: list[str]
    asks_clear_id: bool
    chip_challenge: str  # hex of the 32 bytes the kiosk's card reader hands to a third-generation card
    scan_code: LoginCodeOut | None = None  # the scan-to-login code, shown when the page opens


def show(uow: UnitOfWork, client_id: str, request_uri: str) -> Page:
    """Spend the pushed request (once) and open the login page for it."""
    rp = repository.read_relying_party(uow.session, client_id)
    if rp is None or not request_uri.startswith(REQUEST_URI_PREFIX):
        raise InvalidRequestUri("unknown client_id or request_uri")
    now = uow.clock.now()
    tokens = _tokens(uow)
    interaction = tokens.issue(_fresh(), now, timedelta(seconds=PAGE_SECONDS))
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    login_id = new_id()  # the page's scan code, named in the same UPDATE that spends the request
    row = repository.spend_request(
        uow.session,
        tokens.digest(request_uri.removeprefix(REQUEST_URI_PREFIX)),
        client_id,
        now,
        interaction=interaction.digest,
        until=interaction.expires_at,
        chip_challenge=challenge,
        login_code_id=login_id,
    )
    if row is None:
        raise InvalidRequestUri(
            "the request_uri is unknown, expired or was used already; push the request again"
        )
    return _page(row, rp, interaction.token, _scan_code(uow, rp, login_id))


def _page(row: Authorization, rp: RelyingParty, interaction: str, scan_code: LoginCodeOut | None) -> Page:
    scopes = orjson.loads(row.params)["scope"].split()
    assert row.chip_challenge is not None  # set when the page opened
    return Page(
        interaction=interaction,
        client_name=rp.name,
        scopes=scopes,
        asks_clear_id=Scope.ID_NUMBER.value in scopes and rp.clear_id_number,
        chip_challenge=row.chip_challenge.hex(),
        scan_code=scan_code,
    )


def _scan_code(uow: UnitOfWork, rp: RelyingParty, login_id: str) -> LoginCodeOut:
    lifetime = timedelta(seconds=uow.platform.settings.login_code_ttl_seconds)
    return logins.create_for_relying_party(
        uow, rp.client_id, rp.name, rp.province, lifetime, login_id=login_id
    )


def _new_scan_code(uow: UnitOfWork, row: Authorization, rp: RelyingParty) -> LoginCodeOut:
    """A fresh scan-to-login code bound to this authorization request (and to no other)."""
    row.login_code_id = new_id()  # the page's row as read, and the stored one
    repository.show_another_code(uow.session, row.id, row.login_code_id)
    return _scan_code(uow, rp, row.login_code_id)


# Per platform object (a process normally has one); the weak reference tells a new platform from a dead one
# that had the same id().
_limits: dict[int, tuple[weakref.ref[Platform], SlidingWindow, SlidingWindow]] = {}


def _limit(uow: UnitOfWork, client_id: str) -> None:
    if not _within_limits(uow, client_id):
        raise SlowDown("too many login attempts; wait a minute")


def _within_limits(uow: UnitOfWork, client_id: str, *, per_address: bool = True) -> bool:
    """Count one login attempt per source address and per relying party; False when either is spent."""
    platform = uow.platform
    found = _limits.get(id(platform))
    if found is None or found[0]() is not platform:
        settings = platform.settings
        found = _limits[id(platform)] = (
            weakref.ref(platform),
            SlidingWindow(settings.oidc_logins_per_minute_per_source),
            SlidingWindow(settings.oidc_logins_per_minute_per_client),
        )
    _ref, per_source, per_client = found
    if per_address and not per_source.allow(uow.context.source_ip or "unknown"):
        return False
    return per_client.allow(client_id)


def _refused() -> HolderLoginRefused:
    return HolderLoginRefused("the e-card number or password is wrong, or this e-card cannot log in now")


def _live_page(uow: UnitOfWork, interaction: str) -> tuple[Authorization, RelyingParty]:
    return _live(uow, repository.page(uow.session, _tokens(uow).digest(interaction)))


def _live(
    uow: UnitOfWork, found: tuple[Authorization, RelyingParty] | None
) -> tuple[Authorization, RelyingParty]:
    """The page's request and relying party, if the page is still open."""
    now = uow.clock.now()
    if found is None or found[0].status != AuthorizationStatus.SHOWN or found[0].expires_at <= now:
        raise InvalidRequestUri("this login page expired or was used; start again from the site")
    return found


def _pretend_kdf(suite: CryptoSuite, pepper: bytes, pin: str) -> None:
    passwords.password_matches(suite, pepper, _DUMMY_ECARD, pin, _dummy_hash(suite, pepper))


_dummy: dict[bytes, str] = {}


def _dummy_hash(suite: CryptoSuite, pepper: bytes) -> str:
    found = _dummy.get(pepper)
    if found is None:
        found = _dummy[pepper] = passwords.hash_password(suite, pepper, _DUMMY_ECARD, secrets.token_hex(8))
    return found


def kiosk_login(uow: UnitOfWork, interaction: str, essc_no: str, pin: str, consent: bool) -> str:
    """The holder's e-card number and password on a kiosk page; the answer is the redirect with the code.

    An unknown e-card, a wrong password, a locked or unset password and an unusable card all raise the same
    HolderLoginRefused with the same text, after the same work (one KDF), so none can be told apart.
    """
    row, rp = _live_page(uow, interaction)
    _limit(uow, rp.client_id)
    ecard = repository.ecard_by_number(uow.session, essc_no.strip())
    return _password_login(uow, row, rp, ecard, pin=pin, consent=consent, method=AuthMethod.KIOSK_PASSWORD)


def _password_login(
    uow: UnitOfWork,
    row: Authorization,
    rp: RelyingParty,
    ecard: Ecard | None,
    *,
    pin: str,
    consent: bool,
    method: AuthMethod,
) -> str:
    """The password of the holder a kiosk found (None: none), then the code; one refusal for every miss."""
    if ecard is None:
        _pretend_kdf(uow.platform.suite, uow.platform.keys.data_key(KeyPurpose.PASSWORD_PEPPER).secret, pin)
        raise _refused()
    if check_password(uow, ecard, pin, relying_party=rp.client_id).outcome is not PasswordOutcome.MATCHED:
        raise _refused()
    standing = repository.holder_standing(uow.session, ecard.province, ecard.id)
    if standing is None or not card_is_usable(standing[0]):
        raise _refused()
    refusal = login_refusal(uow, rp, ecard.province, login_enabled=standing[1])
    if refusal is not None:
        raise refusal
    return _issue_code(
        uow, row, rp, province=ecard.province, ecard_id=ecard.id, method=method, consent=consent
    )


def _issue_code(
    uow: UnitOfWork,
    row: Authorization,
    rp: RelyingParty,
    *,
    province: str,
    ecard_id: str,
    method: AuthMethod,
    consent: bool,
) -> str:
    """The redirect with a fresh code for the holder who logged in on the live page."""
    location = _code_redirect(
        uow,
        row,
        rp,
        province=province,
        ecard_id=ecard_id,
        method=method,
        consent=consent,
        from_status=AuthorizationStatus.SHOWN,
    )
    if location is None:
        raise InvalidRequestUri("this login page expired or was used; start again from the site")
    return location


def _code_redirect(
    uow: UnitOfWork,
    row: Authorization,
    rp: RelyingParty,
    *,
    province: str,
    ecard_id: str,
    method: AuthMethod,
    consent: bool,
    from_status: AuthorizationStatus,
) -> str | None:
    """Issue the code if the request is still in from_status (one of racing logins wins), and its redirect."""
    now = uow.clock.now()
    params = orjson.loads(row.params)
    code = _tokens(uow).issue(_fresh(), now, timedelta(seconds=CODE_SECONDS))
    asks_clear = Scope.ID_NUMBER.value in params["scope"].split() and rp.clear_id_number
    done = repository.issue_code(
        uow.session,
        row.id,
        now,
        code.digest,
        from_status=from_status,
        expires_at=code.expires_at,
        holder_province=province,
        ecard_id=ecard_id,
        auth_method=method.value,
        auth_time=now,
        clear_id_consent=bool(asks_clear and consent),
    )
    if done is None:
        return None
    uow.audit(
        "oidc.code_issued", "oidc_authorization", row.id, province, client=rp.client_id, method=method.value
    )
    answer = {"code": code.token, "iss": Endpoints.of(uow.platform).issuer}
    if params.get("state") is not None:
        answer["state"] = params["state"]
    return f"{params['redirect_uri']}{'&' if '?' in params['redirect_uri'] else '?'}{urlencode(answer)}"


# -- scan-to-login on the page (a website) ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScanWaiting:
    """The page's scan-to-login code is not confirmed yet: show the waiting page again."""

    page: Page
    scanned: bool = False  # the holder scanned it and is deciding in the app


@dataclass(frozen=True, slots=True)
class ScanConsent:
    """Confirmed in the app; the site asks for the clear ID number, so the page asks for consent."""

    page: Page


def _scan_page(uow: UnitOfWork, interaction: str) -> tuple[Authorization, RelyingParty]:
    """The page of an interaction whose scan code may still finish it; a page it finished names the replay."""
    found = repository.page(uow.session, _tokens(uow).digest(interaction))
    if (
        found is not None
        and found[0].status != AuthorizationStatus.SHOWN
        and found[0].auth_method == AuthMethod.SCAN
    ):
        raise ScanLoginReplayed(
            "this login page's confirmed code was used already; start again from the site"
        )
    row, rp = _live(uow, found)
    if row.login_code_id is None:
        raise InvalidRequestUri("this login page shows no scan-to-login code")
    return row, rp


def _scan_refusal(
    status: LoginStatus,
) -> ScanLoginExpired | ScanLoginDenied | ScanLoginUnconfirmed | ScanLoginReplayed:
    if status in (LoginStatus.PENDING, LoginStatus.SCANNED):
        return ScanLoginUnconfirmed("confirm the login in your e-card app first, then continue")
    if status is LoginStatus.DENIED:
        return ScanLoginDenied("you refused this login in your e-card app")
    if status is LoginStatus.CONSUMED:
        return ScanLoginReplayed("this confirmed code was used already; start again from the site")
    return ScanLoginExpired("the code expired before it was confirmed; show a new code")


def scan_progress(
    uow: UnitOfWork, interaction: str, shown: str | None, renew: bool
) -> str | ScanWaiting | ScanConsent:
    """The page polls its scan-to-login code: the redirect with the code, the waiting page, or consent.

    `shown` is the code's payload the page displays (public: it is on the screen), shown again while the
    code waits. A code confirmed for another authorization request is another row: it never finishes this one.
    """
    row, rp = _scan_page(uow, interaction)
    assert row.login_code_id is not None
    # Held while the code is collected below: the session's identity map then answers without a re-read.
    code = logins.relying_party_code(uow, row.login_code_id, rp.client_id)
    status = logins.status_of_code(uow, code)
    # A new code replaces one nobody scanned (the page lost it: shown again after a kiosk refusal), one that
    # expired, or one the holder refused; a scanned or confirmed code stays the page's.
    if renew and status in (LoginStatus.PENDING, LoginStatus.EXPIRED, LoginStatus.DENIED):
        _limit(uow, rp.client_id)
        return ScanWaiting(_page(row, rp, interaction, _new_scan_code(uow, row, rp)))
    if status in (LoginStatus.PENDING, LoginStatus.SCANNED):
        again = None
        # Scanned, the code has done its work on the screen: no need to render it at every poll.
        if shown is not None and status is LoginStatus.PENDING:
            again = logins.redisplay_for_relying_party(uow, row.login_code_id, rp.client_id, shown)
        return ScanWaiting(_page(row, rp, interaction, again), scanned=status is LoginStatus.SCANNED)
    if status is LoginStatus.CONFIRMED and _page(row, rp, interaction, None).asks_clear_id:
        return ScanConsent(_page(row, rp, interaction, None))
    return _finish_scan(uow, row, rp, consent=False)


def scan_finish(uow: UnitOfWork, interaction: str, consent: bool) -> str:
    """Collect the page's confirmed scan-to-login code (once) and answer the redirect with the code."""
    row, rp = _scan_page(uow, interaction)
    return _finish_scan(uow, row, rp, consent=consent)


def _finish_scan(uow: UnitOfWork, row: Authorization, rp: RelyingParty, *, consent: bool) -> str:
    assert row.login_code_id is not None
    _limit(uow, rp.client_id)
    outcome = logins.collect_for_relying_party(uow, row.login_code_id, rp.client_id)
    if isinstance(outcome, LoginStatus):
        raise _scan_refusal(outcome)
    standing = repository.holder_standing(uow.session, outcome.province, outcome.ecard_id)
    if standing is None or not card_is_usable(standing[0]):
        raise _refused()
    refusal = login_refusal(uow, rp, outcome.province, login_enabled=standing[1])
    if refusal is not None:
        raise refusal
    return _issue_code(
        uow,
        row,
        rp,
        province=outcome.province,
        ecard_id=outcome.ecard_id,
        method=AuthMethod.SCAN,
        consent=consent,
    )


# -- app-to-app: a channel app approves a pushed request for its holder -------------------------------------


def app_login(uow: UnitOfWork, channel: Channel, request: AppLoginIn) -> AppLoginOut:
    """The holder approved the pushed request in the channel app (busiSeq); the answer is the redirect URL.

    The channel must be authorised for login in the holder's province and the e-card active in it
    (authorise_sign_no, under the route's function); the request_uri is spent here, no page is shown.
    """
    # The channel's standing first: a channel not authorised for login learns nothing of pushed requests.
    issuance, ecard, _person, card = authorise_sign_no(uow, channel, request.sign_no)
    ensure_usable(issuance, card)
    rp = repository.relying_party(uow.session, request.client_id)
    if rp is None or not request.request_uri.startswith(REQUEST_URI_PREFIX):
        raise AuthorizationRequestUnknown(f"no pending authorization request of {request.client_id}")
    # An app-to-app call comes from the channel's server, which speaks for all its holders; the channel is
    # authenticated and the holder proved by a busiSeq, so only the relying party's limit applies.
    if not _within_limits(uow, rp.client_id, per_address=False):
        raise AppLoginsLimited("too many logins for this relying party or from this source; wait a minute")
    now = uow.clock.now()
    digest = _tokens(uow).digest(request.request_uri.removeprefix(REQUEST_URI_PREFIX))
    row = repository.pushed(uow.session, digest, rp.client_id, now)
    if row is None:
        raise AuthorizationRequestUnknown(
            "the request_uri is unknown, expired or was used already; the site must push the request again"
        )
    consume_busi_seq(uow, request.busi_seq, ecard, channel, Purpose.LOGIN)
    refusal = login_refusal(uow, rp, ecard.province)
    if refusal is not None:
        raise RelyingPartyRefused(refusal.detail, client_id=rp.client_id, province=ecard.province)
    location = _code_redirect(
        uow,
        row,
        rp,
        province=ecard.province,
        ecard_id=ecard.id,
        method=AuthMethod.APP,
        consent=request.consent_id_number,
        from_status=AuthorizationStatus.PUSHED,
    )
    if location is None:  # a browser opened the request's page meanwhile
        raise AuthorizationRequestUnknown("the request_uri was used already; the site must push it again")
    uow.audit("oidc.app_login", "oidc_authorization", row.id, ecard.province, channel=channel.channel_no)
    return AppLoginOut(redirect_url=location)


# -- a third-generation card and the e-card password at a kiosk ---------------------------------------------


def kiosk_chip_login(uow: UnitOfWork, interaction: str, card: ChipLogin, pin: str, consent: bool) -> str:
    """The card's chip signs the page's challenge, the holder types the e-card password: the redirect.

    An unknown card, a card without a chip key, a signature that does not verify, a wrong password, a locked
    one and an unusable card all raise the same HolderLoginRefused, after the same work (one KDF).
    """
    row, rp = _live_page(uow, interaction)
    _limit(uow, rp.client_id)
    assert row.chip_challenge is not None  # set when the page opened
    ecard = _chip_holder(uow, row.chip_challenge, card)
    return _password_login(uow, row, rp, ecard, pin=pin, consent=consent, method=AuthMethod.KIOSK_CHIP)


@dataclass(frozen=True, slots=True)
class ChipLogin:
    """What the kiosk's card reader read from the card: its region, number, and the chip's signature."""

    aab301: str
    aaz500: str
    signature: str  # base64 of the chip's SM2 DER signature over the chip string of the page's challenge


def _chip_holder(uow: UnitOfWork, challenge: bytes, presented: ChipLogin) -> Ecard | None:
    """The e-card of the card whose chip signed the challenge; None for anything that does not verify."""
    if not presented.aab301[:2].isdigit() or len(presented.aab301) != 6:
        return None
    province = presented.aab301[:2]
    card = cards_repo.card_by_number(uow.session, province, presented.aaz500.strip().upper())
    if card is None or card.generation != CHIP_GENERATION or card.chip_public_key is None:
        return None
    try:
        signature = base64.b64decode(presented.signature, validate=True)
        CHIP_SUITE.verify(
            CHIP_SUITE.load_public_key(card.chip_public_key),
            chip_string(card.aaz500, card.aaz501, challenge),
            signature,
        )
    except (binascii.Error, ValueError, CryptoError):
        return None
    uow.audit("chip.verified", "card", card.id, province, relying_party="oidc")
    return repository.ecard_of_card(uow.session, province, card.id)


# -- tokens ------------------------------------------------------------------------------------------------


def _pkce_matches(verifier: str, challenge: str) -> bool:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return hmac.compare_digest(expected, challenge)


def token(uow: UnitOfWork, rp: RelyingParty, form: dict[str, list[str]]) -> dict[str, Any]:
    """The token endpoint: authorization_code (PKCE S256) or refresh_token (rotation)."""
    grant_type = _required(form, "grant_type")
    if grant_type == "authorization_code":
        return _redeem(uow, rp, form)
    if grant_type == "refresh_token":
        return _refresh(uow, rp, form)
    raise UnsupportedGrantType(f"grant_type {grant_type} is not offered")


def _redeem(uow: UnitOfWork, rp: RelyingParty, form: dict[str, list[str]]) -> dict[str, Any]:
    code, redirect_uri = _required(form, "code"), _required(form, "redirect_uri")
    verifier = _required(form, "code_verifier")
    now = uow.clock.now()
    digest = _tokens(uow).digest(code)
    grant_id = new_id()  # named by the redeeming UPDATE; a refusal below rolls both back
    row = repository.redeem_code(uow.session, digest, rp.client_id, now, grant_id)
    if row is None:
        used = repository.by_code(uow.session, digest)
        if used is not None and used.client_id == rp.client_id and used.grant_id is not None:
            if repository.revoke_grant(uow.session, used.grant_id, now, "code_replayed"):
                uow.audit("oidc.code_replayed", "oidc_grant", used.grant_id, used.holder_province)
                _announce_logout(uow, [used.grant_id])
            raise CodeReplayed("the code was used before; the tokens it gave were revoked")
        raise InvalidGrant("the code is unknown, expired, used, or was issued to another client")
    params = orjson.loads(row.params)
    if redirect_uri != params["redirect_uri"]:
        raise InvalidGrant("redirect_uri differs from the one of the authorization request")
    if not _VERIFIER.fullmatch(verifier) or not _pkce_matches(verifier, params["code_challenge"]):
        raise InvalidGrant("code_verifier does not match the code_challenge (S256)")
    assert row.holder_province is not None
    assert row.ecard_id is not None
    assert row.auth_time is not None
    values = {
        "id": grant_id,
        "client_id": rp.client_id,
        "holder_province": row.holder_province,
        "ecard_id": row.ecard_id,
        "scope": params["scope"],
        "clear_id_consent": row.clear_id_consent,
        "auth_time": row.auth_time,
        "created_at": now,
        "revoked_at": None,
        "revoked_reason": None,
    }
    repository.add_grant(uow.session, values)  # before its tokens (_tokens_for): they name it
    grant = unattached_of(Grant, values)  # not the session's: the ID token reads it
    uow.audit("oidc.tokens_issued", "oidc_grant", grant.id, grant.holder_province, client=rp.client_id)
    return _tokens_for(uow, rp, grant, now, nonce=params.get("nonce"))


def _refresh(uow: UnitOfWork, rp: RelyingParty, form: dict[str, list[str]]) -> dict[str, Any]:
    presented = _required(form, "refresh_token")
    now = uow.clock.now()
    digest = _tokens(uow).digest(presented)
    spent = repository.spend_refresh(uow.session, digest, now)
    if spent is None:
        old = repository.token(uow.session, digest)
        if old is not None and old.kind == TokenKind.REFRESH and old.used_at is not None:
            family = repository.grant(uow.session, old.grant_id)
            if family is not None and family.client_id == rp.client_id:
                if repository.revoke_grant(uow.session, family.id, now, "refresh_reused"):
                    uow.audit("oidc.refresh_reused", "oidc_grant", family.id, family.holder_province)
                    _announce_logout(uow, [family.id])
                raise RefreshReused("the refresh token was used before; its whole family was revoked")
        raise InvalidGrant("the refresh token is unknown, expired or revoked")
    grant = repository.grant(uow.session, spent.grant_id)
    if grant is None or grant.client_id != rp.client_id or grant.revoked_at is not None:
        raise InvalidGrant("the refresh token is unknown, expired or revoked")
    return _tokens_for(uow, rp, grant, now, nonce=None)


def _tokens_for(
    uow: UnitOfWork, rp: RelyingParty, grant: Grant, now: datetime, *, nonce: str | None
) -> dict[str, Any]:
    tokens = _tokens(uow)
    access = tokens.issue(_fresh(), now, timedelta(seconds=ACCESS_SECONDS))
    refresh = tokens.issue(_fresh(), now, timedelta(seconds=REFRESH_SECONDS))
    repository.add_tokens(
        uow.session,
        [
            {
                "digest": issued.digest,
                "grant_id": grant.id,
                "kind": kind.value,
                "created_at": now,
                "expires_at": issued.expires_at,
                "used_at": None,
            }
            for issued, kind in ((access, TokenKind.ACCESS), (refresh, TokenKind.REFRESH))
        ],
    )
    return {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": ACCESS_SECONDS,
        "refresh_token": refresh.token,
        "scope": grant.scope,
        "id_token": id_token(uow, rp, grant, now, nonce=nonce),
    }


def subject(uow: UnitOfWork, rp: RelyingParty, province: str, ecard_id: str) -> str:
    """The pairwise subject: a keyed digest of the holder and the relying party's sector."""
    mac = uow.platform.blind_index.of("oidc-sub", f"{rp.sector}\x00{province}\x00{ecard_id}")
    return base64.b32encode(mac[:20]).decode("ascii").lower()


def _claims(uow: UnitOfWork, grant: Grant, rp: RelyingParty) -> dict[str, Any]:
    found = repository.holder_claims(uow.session, grant.holder_province, grant.ecard_id)
    scopes = set(grant.scope.split())
    claims: dict[str, Any] = {"sub": subject(uow, rp, grant.holder_province, grant.ecard_id)}
    if found is None:
        return claims
    masked_name, region = found
    if scopes & {Scope.OPENID.value, Scope.PROFILE.value}:
        claims["name"] = masked_name
    if scopes & {Scope.OPENID.value, Scope.REGION.value}:
        claims["region"] = region
    return claims


def id_token(uow: UnitOfWork, rp: RelyingParty, grant: Grant, now: datetime, *, nonce: str | None) -> str:
    """The ID token, ES256 or SM2SM3 as the relying party registered, under the platform's current key."""
    keys = signing_keys(uow.platform.keys)
    key = keys.for_algorithm(rp.id_token_alg)
    payload = _claims(uow, grant, rp) | {
        "iss": Endpoints.of(uow.platform).issuer,
        "aud": rp.client_id,
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + ID_TOKEN_SECONDS,
        "auth_time": int(grant.auth_time.timestamp()),
        "sid": grant.id,
    }
    if nonce is not None:
        payload["nonce"] = nonce
    header = {"alg": rp.id_token_alg, "kid": key.kid, "typ": "JWT"}
    return jwt.encode(header, payload, key, algorithms=[rp.id_token_alg])


def userinfo(uow: UnitOfWork, access_token: str) -> tuple[str, bytes]:
    """The holder's claims for a live access token: JSON, or a JWE to the RP's key with the clear ID."""
    now = uow.clock.now()
    grant = repository.live_access(uow.session, _tokens(uow).digest(access_token), now)
    if grant is None:
        raise InvalidToken("the access token is invalid, expired or revoked")
    rp = repository.relying_party(uow.session, grant.client_id)
    assert rp is not None
    claims = _claims(uow, grant, rp)
    if not (grant.clear_id_consent and rp.clear_id_number):
        return "application/json", orjson.dumps(claims)
    found = repository.holder(uow.session, grant.holder_province, grant.ecard_id)
    assert found is not None
    clear = read_clear_person(uow, found[1], purpose=f"oidc:{rp.client_id}")
    sealed = claims | {
        "id_number": clear.aac002,
        "iss": Endpoints.of(uow.platform).issuer,
        "aud": rp.client_id,
    }
    key = _rp_keys(rp, "enc")[0]
    jwe_compact = jwe.encrypt_compact(
        {"alg": "ECDH-ES+A256KW", "enc": "A256GCM", "kid": key.kid, "cty": "json"},
        orjson.dumps(sealed),
        key,
    )
    return "application/jwt", jwe_compact.encode("ascii")


def jwks(platform: Platform) -> dict[str, Any]:
    return signing_keys(platform.keys).public_jwks()


def sm2_jwks(platform: Platform) -> dict[str, Any]:
    return signing_keys(platform.keys).sm2_jwks()


# -- logout ------------------------------------------------------------------------------------------------


BACKCHANNEL_EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_SECONDS: Final = 120


def _announce_logout(uow: UnitOfWork, grant_ids: list[str]) -> None:
    """Queue a back-channel logout token for each ended grant whose relying party asked for them."""
    now = uow.clock.now()
    issuer = Endpoints.of(uow.platform).issuer
    keys = signing_keys(uow.platform.keys)
    for grant_id in grant_ids:
        grant = repository.grant(uow.session, grant_id)
        rp = repository.relying_party(uow.session, grant.client_id) if grant else None
        if grant is None or rp is None or rp.backchannel_logout_uri is None:
            continue
        notice_id = new_id()
        claims = {
            "iss": issuer,
            "aud": rp.client_id,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + LOGOUT_TOKEN_SECONDS,
            "jti": notice_id,
            "sub": subject(uow, rp, grant.holder_province, grant.ecard_id),
            "sid": grant.id,
            "events": {BACKCHANNEL_EVENT: {}},
        }
        key = keys.for_algorithm(rp.id_token_alg)
        header = {"alg": rp.id_token_alg, "kid": key.kid, "typ": "logout+jwt"}
        repository.add_notice(
            uow.session,
            LogoutNotice(
                id=notice_id,
                client_id=rp.client_id,
                grant_id=grant.id,
                url=rp.backchannel_logout_uri,
                logout_token=jwt.encode(header, claims, key, algorithms=[rp.id_token_alg]),
                status=NoticeStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            ),
        )


def end_sessions_of_holder(uow: UnitOfWork, province: str, ecard_id: str, reason: str) -> int:
    """End the holder's sessions at every relying party: revoke each grant and tell each RP back-channel."""
    now = uow.clock.now()
    ended = []
    for grant in repository.live_grants_of_holder(uow.session, province, ecard_id):
        if repository.revoke_grant(uow.session, grant.id, now, reason):
            ended.append(grant.id)
    if ended:
        uow.audit("oidc.sessions_ended", "ecard", ecard_id, province, reason=reason, sessions=len(ended))
        _announce_logout(uow, ended)
    return len(ended)


def logout(uow: UnitOfWork, id_token_hint: str) -> int:
    """RP-initiated logout: the ID token we issued names the holder; every session of theirs ends."""
    keys = signing_keys(uow.platform.keys)
    claims = None
    for alg in ID_TOKEN_ALGORITHMS:
        try:
            claims = jwt.decode(id_token_hint, keys.for_algorithm(alg), algorithms=[alg]).claims
            break
        except (JoseError, ValueError):
            continue
    if claims is None or claims.get("iss") != Endpoints.of(uow.platform).issuer:
        raise InvalidRequest("id_token_hint is not an ID token of this provider")
    grant = repository.grant(uow.session, str(claims.get("sid", "")))
    if grant is None:
        raise InvalidRequest("id_token_hint names no session")
    return end_sessions_of_holder(uow, grant.holder_province, grant.ecard_id, "logout")


def page_of(uow: UnitOfWork, interaction: str) -> Page:
    """The live page of an interaction again (after a refused login attempt), without its scan code."""
    row, rp = _live_page(uow, interaction)
    return _page(row, rp, interaction, None)


def may_return_to(uow: UnitOfWork, /, client_id: str, uri: str) -> bool:
    """A post-logout redirect goes only to a redirect URI the relying party registered (exact match)."""
    rp = repository.relying_party(uow.session, client_id)
    return rp is not None and uri in orjson.loads(rp.redirect_uris)
