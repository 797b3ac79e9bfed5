"""Electronic service credentials as SD-JWT VCs, and Token Status Lists, written once for every party.

The platform issues (``issue``), the holder's device presents (``present``: chosen disclosures and a key
binding JWT), a terminal verifies offline (``verify_presentation``) against the platform's credential keys and
a status list token it fetched while online (``StatusListToken.verify``). Formats (docs/protocol.md,
Electronic service credentials):

* SD-JWT (draft-ietf-oauth-selective-disclosure-jwt): ``<issuer JWT>~<disclosure>~...~<KB-JWT or empty>``; a
  disclosure is base64url (no padding) of the JSON array ``[salt, name, value]``, and its digest, base64url of
  SHA-256 over the disclosure's ASCII, sits in the issuer JWT's top-level ``_sd`` (``_sd_alg`` ``sha-256``).
* SD-JWT VC (draft-ietf-oauth-sd-jwt-vc): header ``typ: dc+sd-jwt``; ``iss``, ``vct``, ``iat``, ``exp``,
  ``status`` and, when the holder has a device key, ``cnf: {jwk}``.
* Key binding JWT: header ``typ: kb+jwt``; ``iat``, ``aud``, ``nonce`` and ``sd_hash`` (base64url SHA-256 of
  the presentation up to and including the ``~`` before it), signed with the key of ``cnf``.
* Token Status List (draft-ietf-oauth-status-list): a JWT of ``typ: statuslist+jwt`` whose ``status_list``
  holds ``bits`` (1 or 2) and ``lst``, base64url of the zlib-compressed bytes (entry i at bits
  ``i*bits..`` counted from each byte's least significant bit); ``sub`` is the URI credentials point to.

Every refusal is an ``EsscError`` named for its condition, so a parser fed anything raises only those.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import secrets
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final, Protocol

import orjson
import segno
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from essc.kit.crypto.base import CryptoSuite, PublicKey
from essc.kit.crypto.intl import IntlSuite
from essc.kit.crypto.sm import SmSuite
from essc.kit.errors import EsscError, InvalidSignature, MalformedKey
from essc.kit.jose import SM2_SM3
from essc.kit.offline import public_key_from_raw, public_key_to_raw, raw_signature

__all__ = [
    "ES256",
    "KB_TYP",
    "SD_ALG",
    "SM2_ALG",
    "STATUS_LIST_TYP",
    "TYP",
    "CredentialExpired",
    "CredentialIssuerUnknown",
    "CredentialMalformed",
    "CredentialNotYetValid",
    "CredentialRefused",
    "CredentialRevoked",
    "CredentialSignatureInvalid",
    "CredentialSuspended",
    "DisclosureInvalid",
    "Es256Signer",
    "Issued",
    "JwsSigner",
    "KeyBindingInvalid",
    "KeyBindingMismatch",
    "KeyBindingMissing",
    "KeyBindingStale",
    "Sm2Signer",
    "Status",
    "StatusListMissing",
    "StatusListStale",
    "StatusListToken",
    "StatusListTokenInvalid",
    "Verified",
    "b64url",
    "b64url_decode",
    "device_jwk",
    "digest_of",
    "issue",
    "jwk_of",
    "make_disclosure",
    "pack_statuses",
    "parse_disclosure",
    "present",
    "presentation_png",
    "public_key_of_jwk",
    "sd_hash",
    "status_at",
    "suite_signer",
    "verify_presentation",
]

TYP: Final = "dc+sd-jwt"
KB_TYP: Final = "kb+jwt"
STATUS_LIST_TYP: Final = "statuslist+jwt"
SD_ALG: Final = "sha-256"
ES256: Final = "ES256"
# SM2 with SM3 (user id 1234567812345678, signature r||s) under the one JWS name the platform gives it
# (kit.jose, docs/protocol.md), for device keys of the sm suite; ES256 stays the default for wallets.
SM2_ALG: Final = SM2_SM3
MAX_PRESENTATION: Final = 16_384  # characters: what a QR code or an app-to-app hand-over carries at most
MAX_DISCLOSURES: Final = 32
SALT_BYTES: Final = 16
KB_MAX_AGE: Final = 300  # seconds a key binding JWT is accepted after its iat
CLOCK_SKEW: Final = 60  # seconds a verifier's clock may lag the platform's or the device's
RESERVED_NAMES: Final = frozenset(
    {"_sd", "_sd_alg", "...", "iss", "iat", "exp", "nbf", "cnf", "vct", "status"}
)


# -- refusals ---------------------------------------------------------------------------------------------


class CredentialRefused(EsscError):
    status = 403
    code = "credential_refused"
    title = "Credential refused"


class CredentialMalformed(CredentialRefused):
    status = 400
    code = "credential_malformed"
    title = "Not an SD-JWT credential of this platform"


class DisclosureInvalid(CredentialRefused):
    status = 400
    code = "disclosure_invalid"
    title = "A disclosure is malformed, repeated or not signed by the issuer"


class CredentialIssuerUnknown(CredentialRefused):
    code = "credential_issuer_unknown"
    title = "The credential is not signed by a known platform credential key"


class CredentialSignatureInvalid(CredentialRefused):
    code = "credential_signature_invalid"
    title = "The credential's issuer signature does not verify"


class CredentialExpired(CredentialRefused):
    code = "credential_expired"
    title = "The credential has expired"


class CredentialNotYetValid(CredentialRefused):
    code = "credential_not_yet_valid"
    title = "The credential is not valid yet"


class CredentialRevoked(CredentialRefused):
    code = "credential_revoked"
    title = "The credential is revoked (card cancelled or replaced, or the e-card unlinked)"


class CredentialSuspended(CredentialRefused):
    code = "credential_suspended"
    title = "The credential is suspended (card reported lost or locked)"


class KeyBindingMissing(CredentialRefused):
    code = "key_binding_missing"
    title = "The credential is bound to a device key but the presentation has no key binding JWT"


class KeyBindingInvalid(CredentialRefused):
    code = "key_binding_invalid"
    title = "The key binding JWT is malformed or not signed by the credential's device key"


class KeyBindingMismatch(CredentialRefused):
    code = "key_binding_mismatch"
    title = "The key binding JWT is for another verifier, nonce or presentation"


class KeyBindingStale(CredentialRefused):
    code = "key_binding_stale"
    title = "The key binding JWT is too old or from the future"


class StatusListTokenInvalid(CredentialRefused):
    status = 400
    code = "status_list_token_invalid"
    title = "The status list token is malformed or not signed by a platform credential key"


class StatusListMissing(CredentialRefused):
    status = 503
    code = "status_list_missing"
    title = "No status list for this credential; go online to fetch it"


class StatusListStale(CredentialRefused):
    status = 503
    code = "credential_status_stale"
    title = "The credential's status list is past its expiry; go online to refresh it"


# -- encodings --------------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: Any, error: Callable[[str], EsscError], what: str) -> bytes:
    """Inverse of b64url; error(detail) for anything else (padding, other alphabets, non-ASCII)."""
    if not isinstance(text, str) or not text.isascii() or "=" in text or len(text) % 4 == 1:
        raise error(f"{what} is not base64url without padding")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise error(f"{what} is not base64url without padding") from None


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _load_object(raw: bytes, error: Callable[[str], EsscError], what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(raw)  # strict: UTF-8 only, no NaN or Infinity, integers within 64 bits
    except orjson.JSONDecodeError:
        raise error(f"{what} is not UTF-8 JSON") from None
    if not isinstance(value, dict):
        raise error(f"{what} is not a JSON object")
    return value


def digest_of(disclosure: str) -> str:
    """The digest of a disclosure as it sits in ``_sd``: base64url of SHA-256 over its ASCII."""
    return b64url(hashlib.sha256(disclosure.encode("ascii")).digest())


def make_disclosure(name: str, value: Any, salt: str | None = None) -> str:
    """One disclosure of an object property: base64url of ``[salt, name, value]``."""
    salt = salt if salt is not None else b64url(secrets.token_bytes(SALT_BYTES))
    return b64url(_json([salt, name, value]))


def parse_disclosure(disclosure: str) -> tuple[str, str, Any]:
    """(salt, name, value) of an object-property disclosure; DisclosureInvalid for anything else."""
    raw = b64url_decode(disclosure, DisclosureInvalid, "a disclosure")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise DisclosureInvalid("a disclosure is not UTF-8 JSON") from None
    if not (isinstance(value, list) and len(value) == 3):
        raise DisclosureInvalid("a disclosure must be a JSON array [salt, name, value]")
    salt, name, claim = value
    if not isinstance(salt, str) or not isinstance(name, str):
        raise DisclosureInvalid("a disclosure's salt and name must be strings")
    if name in RESERVED_NAMES:
        raise DisclosureInvalid(f"a disclosure may not set the claim {name!r}")
    return salt, name, claim


# -- signing ----------------------------------------------------------------------------------------------


class JwsSigner(Protocol):
    """Signs JWS signing inputs under one key: its JWS ``alg``, its ``kid`` and raw JWS signatures."""

    @property
    def alg(self) -> str: ...

    @property
    def kid(self) -> str: ...

    def sign(self, signing_input: bytes) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Es256Signer:
    """ES256 over a signing function that returns DER ECDSA P-256/SHA-256 (a key store's signer)."""

    kid: str
    sign_der: Callable[[bytes], bytes]
    alg: str = ES256

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature: r||s, 32 bytes each."""
        r, s = decode_dss_signature(self.sign_der(signing_input))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class Sm2Signer:
    """SM2 JWS over a signing function that returns DER SM2 signatures (a device key of the sm suite)."""

    kid: str
    sign_der: Callable[[bytes], bytes]
    alg: str = SM2_ALG

    def sign(self, signing_input: bytes) -> bytes:
        """The JWS signature: r||s, 32 bytes each."""
        return raw_signature(_SM, self.sign_der(signing_input))


def suite_signer(suite_name: str, kid: str, sign_der: Callable[[bytes], bytes]) -> JwsSigner:
    """The JWS signer of a key of the sm (SM2) or intl (ES256) suite, e.g. a holder's device key."""
    return Sm2Signer(kid, sign_der) if suite_name == "sm" else Es256Signer(kid, sign_der)


def compact_jws(header: Mapping[str, Any], payload: Mapping[str, Any], signer: JwsSigner) -> str:
    """A JWS compact serialisation; alg and kid of the header are the signer's."""
    head = b64url(_json({**header, "alg": signer.alg, "kid": signer.kid}))
    body = b64url(_json(dict(payload)))
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{b64url(signer.sign(signing_input))}"


# -- keys -------------------------------------------------------------------------------------------------

_INTL, _SM = IntlSuite(), SmSuite()
_CURVES: Final[dict[str, tuple[CryptoSuite, str]]] = {"P-256": (_INTL, ES256), "SM2": (_SM, SM2_ALG)}


def jwk_of(key: PublicKey, kid: str | None = None) -> dict[str, str]:
    """The public JWK of a P-256 (crv P-256) or SM2 (crv SM2) key."""
    for crv, (suite, _alg) in _CURVES.items():
        try:
            raw = public_key_to_raw(suite, key)
        except MalformedKey:
            continue
        jwk = {"kty": "EC", "crv": crv, "x": b64url(raw[:32]), "y": b64url(raw[32:])}
        return jwk | ({"kid": kid} if kid is not None else {})
    raise MalformedKey("only P-256 and SM2 keys have a JWK here")


def device_jwk(raw_point: bytes, suite_name: str) -> dict[str, str]:
    """The cnf JWK of a device key stored as its 64-byte point, of the suite that certified it."""
    return {
        "kty": "EC",
        "crv": "SM2" if suite_name == "sm" else "P-256",
        "x": b64url(raw_point[:32]),
        "y": b64url(raw_point[32:]),
    }


def public_key_of_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """The public key of an EC JWK of crv P-256 or SM2; MalformedKey otherwise."""
    return _key_of_jwk(dict(jwk), _malformed_key)[0]


def _malformed_key(detail: str) -> EsscError:
    return MalformedKey(detail)


def _key_of_jwk(jwk: Any, error: Callable[[str], EsscError]) -> tuple[PublicKey, str]:
    """(public key, JWS alg) of an EC JWK of crv P-256 or SM2."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") not in _CURVES:
        raise error("the key is not an EC JWK of crv P-256 or SM2")
    suite, alg = _CURVES[str(jwk["crv"])]
    x = b64url_decode(jwk.get("x"), error, "jwk.x")
    y = b64url_decode(jwk.get("y"), error, "jwk.y")
    if len(x) != 32 or len(y) != 32:
        raise error("jwk.x and jwk.y must be 32 bytes each")
    try:
        return public_key_from_raw(suite, x + y), alg
    except MalformedKey:
        raise error("the JWK is not a point of its curve") from None


def _verify_signature(alg: str, key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
    """Whether signature (r||s) is a valid JWS signature of alg by key: ES256, or SM2 with SM3."""
    if len(signature) != 64:
        return False
    if alg in {ES256, SM2_ALG}:
        suite = _INTL if alg == ES256 else _SM
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        der = encode_dss_signature(r, s)
        try:
            suite.verify(key, signing_input, der)
        except (InvalidSignature, MalformedKey):
            return False
        return True
    return False


@dataclass(frozen=True, slots=True)
class _Jwt:
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


def _split_jwt(token: str, error: Callable[[str], EsscError], what: str) -> _Jwt:
    parts = token.split(".")
    if len(parts) != 3:
        raise error(f"{what} is not a compact JWS")
    header = _load_object(b64url_decode(parts[0], error, f"{what} header"), error, f"{what} header")
    payload = _load_object(b64url_decode(parts[1], error, f"{what} payload"), error, f"{what} payload")
    signature = b64url_decode(parts[2], error, f"{what} signature")
    if "crit" in header:
        raise error(f"{what} has critical header parameters this verifier does not understand")
    return _Jwt(header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature)


def _int_claim(payload: Mapping[str, Any], name: str, error: Callable[[str], EsscError]) -> int:
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**40:
        raise error(f"{name} must be a NumericDate in whole seconds")
    return value


# -- issuance ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Issued:
    """An issued SD-JWT: the issuer JWT and a disclosure per selectively disclosable claim."""

    jwt: str
    disclosures: dict[str, str]

    def combined(self, names: Iterable[str] | None = None) -> str:
        """The SD-JWT with the disclosures of names (all when None), without key binding."""
        chosen = self.disclosures if names is None else {n: self.disclosures[n] for n in names}
        return "~".join([self.jwt, *chosen.values(), ""])


def issue(
    signer: JwsSigner,
    claims: Mapping[str, Any],
    disclosable: Mapping[str, Any],
    *,
    salts: Mapping[str, str] | None = None,
    decoys: int = 0,
) -> Issued:
    """Sign an SD-JWT VC: claims in the clear, disclosable ones as digests in ``_sd`` (sorted, decoys too)."""
    clash = sorted(set(claims) & set(disclosable)) + sorted(set(disclosable) & RESERVED_NAMES)
    if clash:
        raise ValueError(f"claims {clash} cannot be selectively disclosable")
    disclosures = {
        name: make_disclosure(name, value, (salts or {}).get(name)) for name, value in disclosable.items()
    }
    digests = [digest_of(d) for d in disclosures.values()]
    digests += [b64url(hashlib.sha256(secrets.token_bytes(SALT_BYTES)).digest()) for _ in range(decoys)]
    payload = {**claims, "_sd": sorted(digests), "_sd_alg": SD_ALG}
    return Issued(compact_jws({"typ": TYP}, payload, signer), disclosures)


# -- presentation (the holder's device) -------------------------------------------------------------------


def sd_hash(presented: str) -> str:
    """sd_hash of a key binding JWT: base64url SHA-256 of the presentation up to its last ``~``."""
    return b64url(hashlib.sha256(presented.encode("ascii")).digest())


def present(
    sd_jwt: str,
    disclose: Iterable[str],
    *,
    device: JwsSigner | None = None,
    nonce: str | None = None,
    aud: str | None = None,
    iat: int | None = None,
) -> str:
    """The presentation of chosen claims; with a device signer, a key binding JWT for nonce and aud at iat."""
    jwt, *disclosures, _old_kb = sd_jwt.split("~")
    wanted = set(disclose)
    by_name = {parse_disclosure(d)[1]: d for d in disclosures}
    missing = sorted(wanted - set(by_name))
    if missing:
        raise DisclosureInvalid(f"the credential holds no disclosure of {missing}")
    presented = "~".join([jwt, *(d for n, d in by_name.items() if n in wanted), ""])
    if device is None:
        return presented
    if nonce is None or aud is None or iat is None:
        raise ValueError("a key binding JWT needs nonce, aud and iat")
    kb = compact_jws(
        {"typ": KB_TYP}, {"iat": iat, "aud": aud, "nonce": nonce, "sd_hash": sd_hash(presented)}, device
    )
    return presented + kb


def presentation_png(presentation: str, scale: int = 4) -> bytes:
    """PNG of a presentation as a QR code: byte mode (base64url with . and ~ is not alphanumeric), level L."""
    out = io.BytesIO()
    symbol = segno.make_qr(presentation, error="l", mode="byte", boost_error=False)
    symbol.save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


# -- status lists -----------------------------------------------------------------------------------------


class Status(IntEnum):
    """Token Status List values."""

    VALID = 0
    INVALID = 1
    SUSPENDED = 2


def pack_statuses(statuses: Mapping[int, int], size: int, bits: int) -> bytes:
    """The byte array of a status list: entry i in bits i*bits.. from each byte's least significant bit."""
    if bits not in (1, 2, 4, 8) or size % (8 // bits):
        raise ValueError("bits must be 1, 2, 4 or 8 and size a multiple of the entries a byte holds")
    per_byte = 8 // bits
    packed = bytearray(size // per_byte)
    for index, value in statuses.items():
        if not 0 <= index < size or not 0 <= value < 2**bits:
            raise ValueError(f"entry {index}={value} does not fit a list of {size} entries of {bits} bits")
        packed[index // per_byte] |= value << ((index % per_byte) * bits)
    return bytes(packed)


def status_at(packed: bytes, index: int, bits: int) -> int | None:
    """The status of entry index, or None beyond the list."""
    per_byte = 8 // bits
    if index < 0 or index // per_byte >= len(packed):
        return None
    return (packed[index // per_byte] >> ((index % per_byte) * bits)) & ((1 << bits) - 1)


@dataclass(frozen=True, slots=True)
class StatusListToken:
    """A verified status list token: its URI, times and the unpacked bytes."""

    uri: str
    issued_at: int
    expires_at: int
    ttl: int
    bits: int
    packed: bytes = field(repr=False)

    @staticmethod
    def sign(
        signer: JwsSigner,
        uri: str,
        statuses: Mapping[int, int],
        *,
        size: int,
        bits: int,
        issued_at: int,
        expires_at: int,
        ttl: int,
    ) -> str:
        """A status list token (compact JWT) for the statuses of a list of size entries."""
        lst = b64url(zlib.compress(pack_statuses(statuses, size, bits), 9))
        payload = {
            "sub": uri,
            "iat": issued_at,
            "exp": expires_at,
            "ttl": ttl,
            "status_list": {"bits": bits, "lst": lst},
        }
        return compact_jws({"typ": STATUS_LIST_TYP}, payload, signer)

    @classmethod
    def verify(cls, token: str, keys: Mapping[str, PublicKey], now: int) -> StatusListToken:
        """Check a status list token's signature and times; StatusListTokenInvalid or StatusListStale."""
        if not isinstance(token, str) or len(token) > 4 * MAX_PRESENTATION * 16:
            raise StatusListTokenInvalid("the status list token is not a string of a sane size")
        jwt = _split_jwt(token.strip(), StatusListTokenInvalid, "the status list token")
        header, payload = jwt.header, jwt.payload
        if header.get("typ") != STATUS_LIST_TYP:
            raise StatusListTokenInvalid(f"the status list token's typ must be {STATUS_LIST_TYP}")
        key = keys.get(str(header.get("kid")))
        alg = header.get("alg")
        if key is None or alg != ES256:
            raise StatusListTokenInvalid(f"kid {header.get('kid')!r} is not a platform credential key")
        if not _verify_signature(ES256, key, jwt.signing_input, jwt.signature):
            raise StatusListTokenInvalid("the status list token's signature does not verify")
        issued_at = _int_claim(payload, "iat", StatusListTokenInvalid)
        expires_at = _int_claim(payload, "exp", StatusListTokenInvalid)
        ttl = _int_claim(payload, "ttl", StatusListTokenInvalid)
        uri, body = payload.get("sub"), payload.get("status_list")
        if not isinstance(uri, str) or not isinstance(body, dict):
            raise StatusListTokenInvalid("the status list token needs sub and status_list")
        bits = body.get("bits")
        if bits not in (1, 2, 4, 8) or isinstance(bits, bool):
            raise StatusListTokenInvalid("status_list.bits must be 1, 2, 4 or 8")
        compressed = b64url_decode(body.get("lst"), StatusListTokenInvalid, "status_list.lst")
        try:
            inflater = zlib.decompressobj()
            packed = inflater.decompress(compressed, 1 << 24)
        except zlib.error:
            raise StatusListTokenInvalid("status_list.lst is not zlib data") from None
        if inflater.unconsumed_tail or not inflater.eof:
            raise StatusListTokenInvalid("status_list.lst is truncated or larger than 16 MiB")
        if now >= expires_at + CLOCK_SKEW:
            raise StatusListStale(f"the status list {uri} expired at {expires_at}; fetch it again")
        return cls(uri, issued_at, expires_at, ttl, int(bits), packed)

    def status(self, index: int) -> int | None:
        """The status of a credential's index, or None beyond the list."""
        return status_at(self.packed, index, self.bits)


# -- verification (a verifier, online or offline) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verified:
    """What a verified presentation says: the issuer's clear claims and the disclosed ones."""

    claims: dict[str, Any]
    disclosed: frozenset[str]
    key_bound: bool
    issuer_kid: str


def _check_key_binding(
    kb_token: str,
    presented: str,
    cnf: Any,
    *,
    now: int,
    expected_aud: str | None,
    expected_nonce: str | None,
) -> None:
    if not isinstance(cnf, dict) or "jwk" not in cnf:
        raise CredentialMalformed("cnf must hold the device key as a jwk")
    key, alg = _key_of_jwk(cnf["jwk"], CredentialMalformed)
    if not kb_token:
        raise KeyBindingMissing("the credential is bound to a device key: present it with a key binding JWT")
    kb = _split_jwt(kb_token, KeyBindingInvalid, "the key binding JWT")
    if kb.header.get("typ") != KB_TYP or kb.header.get("alg") != alg:
        raise KeyBindingInvalid(f"the key binding JWT must have typ {KB_TYP} and alg {alg}")
    if not _verify_signature(alg, key, kb.signing_input, kb.signature):
        raise KeyBindingInvalid("the key binding JWT is not signed by the credential's device key")
    if kb.payload.get("sd_hash") != sd_hash(presented):
        raise KeyBindingMismatch("the key binding JWT was made for another presentation (sd_hash)")
    if expected_aud is None or kb.payload.get("aud") != expected_aud:
        raise KeyBindingMismatch(f"the key binding JWT is for audience {kb.payload.get('aud')!r}")
    if expected_nonce is None or kb.payload.get("nonce") != expected_nonce:
        raise KeyBindingMismatch("the key binding JWT carries another nonce than this verifier gave")
    iat = _int_claim(kb.payload, "iat", KeyBindingInvalid)
    if iat > now + CLOCK_SKEW or now - iat > KB_MAX_AGE:
        raise KeyBindingStale(f"the key binding JWT was made at {iat}; now is {now}")


def _check_issuer_jwt(
    jwt_text: str, issuer_keys: Mapping[str, PublicKey], *, now: int, issuer: str | None, vct: str | None
) -> tuple[str, dict[str, Any]]:
    """The issuer key id and payload of a verified issuer JWT whose header, claims and times are right."""
    jwt = _split_jwt(jwt_text, CredentialMalformed, "the issuer JWT")
    header, payload = jwt.header, jwt.payload
    kid = header.get("kid")
    key = issuer_keys.get(kid) if isinstance(kid, str) else None
    if key is None or not isinstance(kid, str):
        raise CredentialIssuerUnknown(f"kid {kid!r} is not one of the platform's credential keys")
    if header.get("alg") != ES256:
        raise CredentialSignatureInvalid(f"the issuer JWT must be signed with {ES256}")
    if not _verify_signature(ES256, key, jwt.signing_input, jwt.signature):
        raise CredentialSignatureInvalid("the issuer JWT's signature does not verify")
    if header.get("typ") != TYP:
        raise CredentialMalformed(f"the issuer JWT's typ must be {TYP}")
    if issuer is not None and payload.get("iss") != issuer:
        raise CredentialIssuerUnknown(f"iss {payload.get('iss')!r} is not {issuer!r}")
    if vct is not None and payload.get("vct") != vct:
        raise CredentialMalformed(f"vct {payload.get('vct')!r} is not {vct!r}")
    if payload.get("_sd_alg") != SD_ALG:
        raise CredentialMalformed(f"_sd_alg must be {SD_ALG}")
    issued_at = _int_claim(payload, "iat", CredentialMalformed)
    expires_at = _int_claim(payload, "exp", CredentialMalformed)
    if issued_at > now + CLOCK_SKEW:
        raise CredentialNotYetValid(f"the credential was issued at {issued_at}, after now ({now})")
    if now >= expires_at:
        raise CredentialExpired(f"the credential expired at {expires_at}")
    return kid, payload


def _disclosed_claims(payload: Mapping[str, Any], disclosures: list[str]) -> tuple[dict[str, Any], set[str]]:
    """The issuer's clear claims with the disclosed ones added; each disclosure signed once and used once."""
    digests = payload.get("_sd", [])
    if not isinstance(digests, list) or not all(isinstance(d, str) for d in digests):
        raise CredentialMalformed("_sd must be a list of digests")
    claims = {name: value for name, value in payload.items() if name not in ("_sd", "_sd_alg")}
    signed = set(digests)
    seen: set[str] = set()
    disclosed: set[str] = set()
    for disclosure in disclosures:
        _salt, name, value = parse_disclosure(disclosure)
        digest = digest_of(disclosure)
        if digest not in signed:
            raise DisclosureInvalid(f"the disclosure of {name!r} is not among the issuer's digests")
        if digest in seen or name in claims:
            raise DisclosureInvalid(f"the claim {name!r} is disclosed twice")
        seen.add(digest)
        disclosed.add(name)
        claims[name] = value
    return claims, disclosed


def verify_presentation(
    presentation: str,
    issuer_keys: Mapping[str, PublicKey],
    *,
    now: int,
    status_lists: Mapping[str, StatusListToken],
    expected_aud: str | None = None,
    expected_nonce: str | None = None,
    issuer: str | None = None,
    vct: str | None = None,
) -> Verified:
    """Check a presentation offline; the disclosed claims, or the refusal named for the first failed check.

    Order: shape, issuer key and signature, header and claims, times, disclosures, key binding (when the
    credential has cnf), status. status_lists are verified tokens by URI.
    """
    if (
        not isinstance(presentation, str)
        or not presentation.isascii()
        or len(presentation) > MAX_PRESENTATION
    ):
        raise CredentialMalformed(f"a presentation is ASCII and at most {MAX_PRESENTATION} characters")
    parts = presentation.strip().split("~")
    if len(parts) < 2 or len(parts) > MAX_DISCLOSURES + 2:
        raise CredentialMalformed("a presentation is <issuer JWT>~<disclosures>~<key binding JWT or empty>")
    jwt_text, disclosures, kb_token = parts[0], parts[1:-1], parts[-1]
    kid, payload = _check_issuer_jwt(jwt_text, issuer_keys, now=now, issuer=issuer, vct=vct)
    claims, disclosed = _disclosed_claims(payload, disclosures)
    key_bound = "cnf" in payload
    if key_bound:
        presented = presentation.strip()[: len(presentation.strip()) - len(kb_token)]
        _check_key_binding(
            kb_token,
            presented,
            payload["cnf"],
            now=now,
            expected_aud=expected_aud,
            expected_nonce=expected_nonce,
        )
    elif kb_token:
        raise KeyBindingInvalid("the credential names no device key (cnf) to check a key binding JWT with")
    _check_status(payload.get("status"), status_lists, now)
    return Verified(claims, frozenset(disclosed), key_bound, kid)


def _check_status(status: Any, status_lists: Mapping[str, StatusListToken], now: int) -> None:
    reference = status.get("status_list") if isinstance(status, dict) else None
    if not isinstance(reference, dict):
        raise CredentialMalformed("the credential has no status.status_list reference")
    uri, index = reference.get("uri"), reference.get("idx")
    if not isinstance(uri, str) or isinstance(index, bool) or not isinstance(index, int):
        raise CredentialMalformed("status.status_list needs uri and idx")
    held = status_lists.get(uri)
    if held is None:
        raise StatusListMissing(f"no status list {uri} is held; fetch it while online")
    if now >= held.expires_at + CLOCK_SKEW:
        raise StatusListStale(f"the status list {uri} expired at {held.expires_at}; fetch it again")
    value = held.status(index)
    if value is None:
        raise CredentialMalformed(f"index {index} is beyond the status list {uri}")
    if value == Status.SUSPENDED:
        raise CredentialSuspended(f"the status list {uri} marks index {index} suspended")
    if value != Status.VALID:
        raise CredentialRevoked(f"the status list {uri} marks index {index} invalid")
