"""Envelopes of personal fields, written once: the platform, the SDKs and the conformance kit all import it.

Personal fields (aac002, aac003, aac067, bank account data) never travel in the clear in a JSON body. They
are taken out of the object that holds them and put, as the canonical JSON of a flat object, into one
``envelope`` member of that same object::

    {"aaz500": "A12345678", "envelope": {"v": 1, "kid": "pe-3f9a1c2d", "key": "<b64>", "iv": "<b64>",
                                         "data": "<b64>"}}

``key`` is a fresh AEAD key (16 bytes, SM4, in the sm suite) encrypted to the receiver's public key
(SM2 encryption, GM/T 0009 C1C3C2 DER; ECIES in the intl suite); ``kid`` names that public key: one of the
platform's encryption keys on a request, the caller's own key (the one that signed the request or opened its
MAC session) on a response. ``data`` is the AEAD (SM4-GCM) ciphertext with its tag, under ``iv``, with the
associated data ``aad()``: version, direction, method, path with query as signed, caller and kid, one per
line, so an envelope cut from one call does not open in another.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

import orjson

from essc.kit.crypto.base import CryptoSuite, PrivateKey, PublicKey
from essc.kit.errors import CryptoError, EsscError

VERSION: Final = 1
SCHEME: Final = "ESSC-ENV-1"
ENDORSEMENT_SCHEME: Final = "ESSC-ENCKEY-1"
MEMBER: Final = "envelope"
# Envelopes opened for one request at most: every one costs an SM2 decryption
MAX_ENVELOPES: Final = 16
PARTS: Final = ("v", "kid", "key", "iv", "data")

# Wire names of personal data (docs/protocol.md, Glossary). Bank data uses the HRSS data elements:
# aae010 银行账号 (account number) and aae009 户名 (account holder's name); bankAccountActive is a flag, not
# personal data.
PERSONAL_FIELDS: Final = frozenset({"aac002", "aac003", "aac067", "aae009", "aae010"})
# A key spelt with JSON escapes (aac\u0030...) escapes a byte search: such bodies are always parsed.
_NEEDLES: Final = (*(f'"{name}"'.encode() for name in (*sorted(PERSONAL_FIELDS), MEMBER)), b"\\u")


class PersonalFieldInClear(EsscError):
    status = 400
    code = "personal_field_in_clear"
    title = "Personal field sent in the clear"


class EnvelopeInvalid(CryptoError):
    code = "envelope_invalid"
    title = "Envelope of personal fields is invalid"


class TooManyEnvelopes(CryptoError):
    code = "too_many_envelopes"
    title = "Too many envelopes"


class EnvelopeKeyUnknown(CryptoError):
    code = "envelope_key_unknown"
    title = "Envelope sealed to an unknown key"


class Direction(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"


@dataclass(frozen=True, slots=True)
class Context:
    """The one call an envelope belongs to."""

    direction: Direction
    method: str
    path: str  # with the query string, exactly as in the signed request string
    caller: str  # X-Essc-Caller of the request, e.g. channel/4400000001

    def aad(self, kid: str) -> bytes:
        """Associated data of the AEAD: binds the envelope to this call and to its receiver key."""
        return "\n".join(
            [SCHEME, self.direction.value, self.method.upper(), self.path, self.caller, kid]
        ).encode("utf-8")


# What a response model declares when its answers can hold clear personal values: a classmethod
# ``clear_personal_fields(body)`` naming the top-level fields of one answer (as JSON) that hold clear values
# and must be sealed to the caller; a model without it is never looked at.
ClearFieldsPolicy = Callable[[Mapping[str, Any]], Collection[str]]

# The receiver's side of key wrapping: (kid, wrapped key) -> key; EnvelopeKeyUnknown for a kid it lacks.
Unwrap = Callable[[str, bytes], bytes]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seal(
    suite: CryptoSuite, receiver: PublicKey, kid: str, fields: Mapping[str, Any], context: Context
) -> dict[str, Any]:
    """An envelope of fields for the holder of receiver's private key, valid in context only."""
    key = secrets.token_bytes(suite.aead_key_size)
    iv = secrets.token_bytes(suite.aead_nonce_size)
    plaintext = orjson.dumps(dict(fields), option=orjson.OPT_SORT_KEYS)
    return {
        "v": VERSION,
        "kid": kid,
        "key": _b64(suite.encrypt_to(receiver, key)),
        "iv": _b64(iv),
        "data": _b64(suite.aead_encrypt(key, iv, plaintext, context.aad(kid))),
    }


def unwrap_with(suite: CryptoSuite, kid: str, private_key: PrivateKey) -> Unwrap:
    """Unwrap for a receiver holding one private key in memory under kid."""

    def unwrap(envelope_kid: str, wrapped: bytes) -> bytes:
        if envelope_kid != kid:
            raise EnvelopeKeyUnknown(
                f"envelope is sealed to key {envelope_kid!r}, this receiver holds {kid!r}", part="kid"
            )
        return suite.decrypt_with(private_key, wrapped)

    return unwrap


def _part(envelope: Mapping[str, Any], name: str) -> bytes:
    value = envelope.get(name)
    try:
        if not isinstance(value, str):
            raise TypeError
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (TypeError, binascii.Error, UnicodeEncodeError, ValueError):
        raise EnvelopeInvalid(f"{MEMBER}.{name} must be a base64 string", part=name) from None


def open_envelope(suite: CryptoSuite, unwrap: Unwrap, envelope: Any, context: Context) -> dict[str, Any]:
    """The personal fields inside envelope; EnvelopeInvalid names the part that is wrong."""
    if not isinstance(envelope, dict):
        raise EnvelopeInvalid(f"{MEMBER} must be an object with members {', '.join(PARTS)}", part=MEMBER)
    unknown = sorted(set(envelope) - set(PARTS))
    if unknown:
        raise EnvelopeInvalid(
            f"{MEMBER} has unknown members {unknown}; expected {list(PARTS)}", part=unknown[0]
        )
    if envelope.get("v") != VERSION:
        raise EnvelopeInvalid(f"{MEMBER}.v must be {VERSION}", part="v")
    kid = envelope.get("kid")
    if not isinstance(kid, str) or not 1 <= len(kid) <= 64:
        raise EnvelopeInvalid(f"{MEMBER}.kid must name the receiver's key (1-64 characters)", part="kid")
    wrapped, iv, data = _part(envelope, "key"), _part(envelope, "iv"), _part(envelope, "data")
    if len(iv) != suite.aead_nonce_size:
        raise EnvelopeInvalid(f"{MEMBER}.iv must be {suite.aead_nonce_size} bytes", part="iv")
    try:
        key = unwrap(kid, wrapped)
    except EnvelopeKeyUnknown:
        raise
    except CryptoError as exc:
        raise EnvelopeInvalid(
            f"{MEMBER}.key does not decrypt with the private key of {kid!r}", part="key"
        ) from exc
    if len(key) != suite.aead_key_size:
        raise EnvelopeInvalid(f"{MEMBER}.key must wrap a {suite.aead_key_size}-byte key", part="key")
    try:
        plaintext = suite.aead_decrypt(key, iv, data, context.aad(kid))
    except CryptoError as exc:
        raise EnvelopeInvalid(
            f"{MEMBER}.data does not open under {MEMBER}.iv: one was altered, or it was sealed for another "
            f"call (expected {context.direction.value} {context.method.upper()} {context.path} of "
            f"{context.caller})",
            part="data",
        ) from exc
    try:
        fields = orjson.loads(plaintext)
    except orjson.JSONDecodeError:
        raise EnvelopeInvalid(f"{MEMBER}.data does not hold a JSON object", part="data") from None
    if not isinstance(fields, dict):
        raise EnvelopeInvalid(f"{MEMBER}.data does not hold a JSON object", part="data")
    foreign = sorted(set(fields) - PERSONAL_FIELDS)
    if foreign:
        raise EnvelopeInvalid(
            f"{MEMBER} may hold personal fields only ({', '.join(sorted(PERSONAL_FIELDS))}), not {foreign}",
            part="data",
        )
    return fields


def may_hold_personal_fields(body: bytes) -> bool:
    """False when a JSON body certainly has no personal field and no envelope (a byte search, no parsing)."""
    return any(needle in body for needle in _NEEDLES)


def count_envelopes(body: Any) -> int:
    """How many envelope members body holds, at any depth."""
    if isinstance(body, list):
        return sum(count_envelopes(item) for item in body)
    if isinstance(body, dict):
        return int(MEMBER in body) + sum(count_envelopes(value) for value in body.values())
    return 0


def clear_field(body: Any, path: str = "") -> str | None:
    """The JSON path of the first personal field with a clear (non-null) value in body, or None."""
    if isinstance(body, dict):
        for name, value in body.items():
            where = f"{path}.{name}" if path else name
            if name in PERSONAL_FIELDS and value is not None:
                return where
            found = clear_field(value, where) if name != MEMBER else None
            if found is not None:
                return found
    elif isinstance(body, list):
        for index, item in enumerate(body):
            found = clear_field(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def refuse_clear_fields(body: Any) -> None:
    """Raise PersonalFieldInClear naming the first personal field sent outside an envelope."""
    where = clear_field(body)
    if where is not None:
        raise PersonalFieldInClear(
            f"{where} is personal data: put it inside an {MEMBER!r} member sealed to the platform's "
            "encryption key (GET /v1/platform/keys, encryptionKeys), never in the clear",
            field=where,
        )


def seal_fields(body: Any, sealer: Callable[[Mapping[str, Any]], dict[str, Any]]) -> Any:
    """body with the clear personal fields of every object moved into an envelope member of that object."""
    if isinstance(body, list):
        return [seal_fields(item, sealer) for item in body]
    if not isinstance(body, dict):
        return body
    personal = {name: value for name, value in body.items() if name in PERSONAL_FIELDS and value is not None}
    rest = {name: seal_fields(value, sealer) for name, value in body.items() if name not in personal}
    if personal:
        if MEMBER in rest:
            raise EnvelopeInvalid(
                f"an object cannot carry both {MEMBER!r} and clear {sorted(personal)}", part=MEMBER
            )
        rest[MEMBER] = sealer(personal)
    return rest


def open_fields(body: Any, opener: Callable[[Any], dict[str, Any]], *, limit: int | None = None) -> Any:
    """body with every envelope member opened and its fields merged into the object that held it.

    With a limit, a body holding more envelopes is refused before any is opened: each costs an SM2 decryption.
    """
    if limit is not None and (count := count_envelopes(body)) > limit:
        raise TooManyEnvelopes(f"the body holds {count} envelopes; at most {limit} are opened", limit=limit)
    if isinstance(body, list):
        return [open_fields(item, opener) for item in body]
    if not isinstance(body, dict):
        return body
    opened = {name: open_fields(value, opener) for name, value in body.items() if name != MEMBER}
    if MEMBER in body:
        fields = opener(body[MEMBER])
        twice = sorted(name for name in fields if opened.get(name) is not None)
        if twice:
            raise EnvelopeInvalid(f"{twice} are both inside the {MEMBER} and beside it", part=MEMBER)
        opened.update(fields)
    return opened


def endorsement_string(kid: str, public_key: PublicKey, digest: Callable[[bytes], bytes]) -> bytes:
    """What the platform signs to vouch for one of its encryption keys (verified with its signing keys)."""
    return "\n".join([ENDORSEMENT_SCHEME, kid, digest(public_key.to_der()).hex()]).encode("utf-8")
