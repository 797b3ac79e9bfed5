"""Offline codes: the holder's device makes codes without network and a terminal checks them without network.

The platform certifies a device key for a short time (``DeviceCertificate``, signed by a platform key); the
device signs each code with that key (``OfflineCode``, shown as payload ``ESSC:2:...``); the terminal checks
both signatures, the times, a replay memory and a signed list of revoked certificates (``StatusList``) that it
downloads while online (``OfflineVerifier``). The terminal uploads each ``OfflineAcceptance`` later for
settlement.

Binary formats, all integers big-endian, times unix seconds (u32), signatures raw r||s (64 bytes):

* certificate: ``01 | suite u8 | serial 16 | province 2 | device point X||Y 64 | not_before u32 |
  not_after u32 | key_id_len u8 | key_id | signature 64`` (157 bytes + key id);
* offline code body: ``01 | certificate_len u16 | certificate | issued_at u32 | counter u32 | busiType 2 |
  signature 64``;
* status list: ``01 | suite u8 | province 2 | issued_at u32 | next_update u32 | key_id_len u8 | key_id |
  count u32 | serials 16 each, strictly increasing | signature 64`` (16 bytes an entry).

Each signature covers a fixed context label followed by every byte before the signature, so a signature made
for one of these formats (or for an HTTP canonical string) never verifies as another. Nothing personal is
carried: the serial is random, and the platform keeps the link between a serial and a holder on its side.
"""

from __future__ import annotations

import re
import secrets
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from essc.kit.codes import CodeKind, MalformedCode, offline_payload, parse_code
from essc.kit.crypto.base import CryptoSuite, PrivateKey, PublicKey
from essc.kit.crypto.openssl_sm2 import der_to_raw_signature
from essc.kit.errors import EsscError, InvalidSignature, MalformedKey

__all__ = [
    "BUSI_TYPES",
    "NATIONAL",
    "SERIAL_BYTES",
    "CertificateExpired",
    "CertificateNotYetValid",
    "CertificateRevoked",
    "CertificateSignatureInvalid",
    "CodeSignatureInvalid",
    "DeviceCertificate",
    "MalformedStatusList",
    "OfflineAcceptance",
    "OfflineCode",
    "OfflineCodeRefused",
    "OfflineVerifier",
    "ReplayedCode",
    "StaleCode",
    "StatusList",
    "StatusListOutdated",
    "StatusListRejected",
    "StatusListSignatureInvalid",
    "StatusListStale",
    "StatusListWrongProvince",
    "SuiteMismatch",
    "UnknownPlatformKey",
    "decode_offline",
    "issue_certificate",
    "make_offline_code",
    "offline_payload",
    "public_key_from_raw",
    "public_key_to_raw",
    "raw_signature",
    "sign_status_list",
    "suite_signature",
    "verify_certificate",
    "verify_code_signature",
]

SERIAL_BYTES: Final = 16
NATIONAL: Final = "00"  # the province of a status list that covers every province
BUSI_TYPES: Final = frozenset({"01", "02", "03", "04"})
_POINT: Final = 64
_SIG: Final = 64
_U32: Final = 1 << 32
_MAX_KEY_ID: Final = 32
_FORMAT: Final = 1
# Longest status list a terminal will take (64 MiB); certificates are short-lived, so only revoked
# certificates that have not yet expired need listing and real lists stay far below this.
_MAX_STATUS_ENTRIES: Final = 4_000_000

_CERT_LABEL: Final = b"ESSC-DEVICE-CERT-1\n"
_CODE_LABEL: Final = b"ESSC-OFFLINE-CODE-1\n"
_STATUS_LABEL: Final = b"ESSC-STATUS-LIST-1\n"

_SUITE_IDS: Final = {"sm": 1, "intl": 2}
_SUITE_NAMES: Final = {number: name for name, number in _SUITE_IDS.items()}
# SubjectPublicKeyInfo DER up to and including the uncompressed-point marker 04, per suite; X||Y follows.
_SPKI_PREFIX: Final = {
    "sm": bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004"),
    "intl": bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d03010703420004"),
}

_CERT_HEAD: Final = struct.Struct(">BB16s2s64sIIB")
_CODE_HEAD: Final = struct.Struct(">BH")
_CODE_TAIL: Final = struct.Struct(">II2s")
_STATUS_HEAD: Final = struct.Struct(">BB2sIIB")
_COUNT: Final = struct.Struct(">I")
_CERT_MIN: Final = _CERT_HEAD.size + 1 + _SIG
_CODE_FIXED: Final = _CODE_HEAD.size + _CODE_TAIL.size + _SIG

_PROVINCE: Final = re.compile(r"[0-9]{2}")
_KEY_ID: Final = re.compile(r"[\x21-\x7e]{1,32}")


class OfflineCodeRefused(EsscError):
    status = 403
    code = "offline_code_refused"
    title = "Offline code refused"


class SuiteMismatch(OfflineCodeRefused):
    status = 400
    code = "suite_mismatch"
    title = "The certificate belongs to another crypto suite"


class UnknownPlatformKey(OfflineCodeRefused):
    code = "unknown_platform_key"
    title = "The certificate names a platform key this terminal does not know"


class CertificateSignatureInvalid(OfflineCodeRefused):
    code = "certificate_signature_invalid"
    title = "The device certificate's platform signature does not verify"


class CertificateExpired(OfflineCodeRefused):
    code = "certificate_expired"
    title = "The device certificate has expired"


class CertificateNotYetValid(OfflineCodeRefused):
    code = "certificate_not_yet_valid"
    title = "The device certificate is not valid yet"


class CertificateRevoked(OfflineCodeRefused):
    code = "certificate_revoked"
    title = "The device certificate is revoked"


class CodeSignatureInvalid(OfflineCodeRefused):
    code = "code_signature_invalid"
    title = "The offline code's device signature does not verify"


class StaleCode(OfflineCodeRefused):
    code = "stale_code"
    title = "The offline code is too old or from the future"


class ReplayedCode(OfflineCodeRefused):
    status = 409
    code = "replayed_code"
    title = "This offline code was already accepted"


class StatusListStale(OfflineCodeRefused):
    status = 503
    code = "status_list_stale"
    title = "No fresh certificate status list; go online to refresh it"


class StatusListRejected(EsscError):
    status = 400
    code = "status_list_rejected"
    title = "Status list refused"


class MalformedStatusList(StatusListRejected):
    code = "malformed_status_list"
    title = "Malformed status list"


class StatusListSignatureInvalid(StatusListRejected):
    code = "status_list_signature_invalid"
    title = "The status list is not signed by a known platform key"


class StatusListOutdated(StatusListRejected):
    status = 409
    code = "status_list_outdated"
    title = "The status list is older than the one already held"


class StatusListWrongProvince(StatusListRejected):
    status = 422
    code = "status_list_wrong_province"
    title = "The status list is for another province"


# --- keys and signatures ------------------------------------------------------------------------------------


def _suite_name(suite: CryptoSuite) -> str:
    if suite.name not in _SUITE_IDS:
        raise ValueError(f"offline codes support the suites {', '.join(_SUITE_IDS)}, not {suite.name!r}")
    return suite.name


def public_key_to_raw(suite: CryptoSuite, key: PublicKey) -> bytes:
    """The 64-byte X||Y point of a suite public key; MalformedKey for a key of another curve."""
    der = key.to_der()
    prefix = _SPKI_PREFIX[_suite_name(suite)]
    if len(der) != len(prefix) + _POINT or not der.startswith(prefix):
        raise MalformedKey(f"not an uncompressed {suite.name} suite public key")
    return der[len(prefix) :]


def public_key_from_raw(suite: CryptoSuite, raw: bytes) -> PublicKey:
    """The suite public key for a 64-byte X||Y point; MalformedKey when it is not a point of the curve."""
    if len(raw) != _POINT:
        raise MalformedKey("a raw public key is 64 bytes X||Y")
    return suite.load_public_key(_SPKI_PREFIX[_suite_name(suite)] + bytes(raw))


def raw_signature(suite: CryptoSuite, der: bytes) -> bytes:
    """A suite's DER signature as 64 bytes r||s; InvalidSignature when it is not one."""
    if _suite_name(suite) == "sm":
        return der_to_raw_signature(der)
    try:
        r, s = decode_dss_signature(bytes(der))
    except ValueError as exc:
        raise InvalidSignature("expected a DER ECDSA signature") from exc
    if not 0 < r < 1 << 256 or not 0 < s < 1 << 256:
        raise InvalidSignature("ECDSA signature components out of range")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _der_integer(value: bytes) -> bytes:
    """DER INTEGER of a big-endian unsigned value: minimal, with a 00 byte where the top bit is set."""
    body = value.lstrip(b"\x00")
    if body[0] & 0x80:
        body = b"\x00" + body
    return b"\x02" + bytes((len(body),)) + body


def suite_signature(suite: CryptoSuite, raw: bytes) -> bytes:
    """64 bytes r||s as the DER signature the suite verifies; InvalidSignature when impossible."""
    _suite_name(suite)
    # Both suites sign as SEQUENCE{INTEGER r, INTEGER s}; built on bytes because this runs once a verification
    # and integer arithmetic costs several microseconds more.
    if len(raw) != _SIG:
        raise InvalidSignature("a raw signature is 64 bytes r||s")
    r, s = raw[:32], raw[32:]
    if not r.strip(b"\x00") or not s.strip(b"\x00"):
        raise InvalidSignature("signature components out of range")
    body = _der_integer(r) + _der_integer(s)
    return b"\x30" + bytes((len(body),)) + body


def _check_u32(value: int, what: str) -> None:
    if not isinstance(value, int) or not 0 <= value < _U32:
        raise MalformedCode(f"{what} must fit in an unsigned 32-bit field")


def _check_key_id(key_id: str) -> bytes:
    if not isinstance(key_id, str) or _KEY_ID.fullmatch(key_id) is None:
        raise MalformedCode(f"a platform key id is 1..{_MAX_KEY_ID} printable ASCII characters")
    return key_id.encode("ascii")


def _check_province(province: str) -> bytes:
    if not isinstance(province, str) or _PROVINCE.fullmatch(province) is None:
        raise MalformedCode("a province is two digits")
    return province.encode("ascii")


def _check_bytes(value: bytes, size: int, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != size:
        raise MalformedCode(f"{what} must be {size} bytes")


def _ascii(value: bytes, what: str) -> str:
    try:
        return value.decode("ascii")
    except UnicodeDecodeError as exc:
        raise MalformedCode(f"{what} is not ASCII") from exc


# --- device certificate -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviceCertificate:
    """The platform's statement that a device key may sign offline codes for a while; no personal data."""

    serial: bytes
    province: str
    device_public_key: bytes
    not_before: int
    not_after: int
    platform_key_id: str
    signature: bytes
    suite: str = "sm"

    def __post_init__(self) -> None:
        _check_bytes(self.serial, SERIAL_BYTES, "a certificate serial")
        _check_province(self.province)
        _check_bytes(self.device_public_key, _POINT, "a device public key")
        _check_u32(self.not_before, "not_before")
        _check_u32(self.not_after, "not_after")
        if self.not_after < self.not_before:
            raise MalformedCode("a certificate's not_after precedes its not_before")
        _check_key_id(self.platform_key_id)
        _check_bytes(self.signature, _SIG, "a certificate signature")
        if self.suite not in _SUITE_IDS:
            raise MalformedCode(f"unknown crypto suite {self.suite!r}")

    @property
    def serial_hex(self) -> str:
        """The serial as 32 lowercase hex digits."""
        return self.serial.hex()

    def _unsigned(self) -> bytes:
        key_id = self.platform_key_id.encode("ascii")
        head = _CERT_HEAD.pack(
            _FORMAT,
            _SUITE_IDS[self.suite],
            self.serial,
            self.province.encode("ascii"),
            self.device_public_key,
            self.not_before,
            self.not_after,
            len(key_id),
        )
        return head + key_id

    def signed_part(self) -> bytes:
        """The exact bytes the platform signs: a context label and every encoded byte before the signature."""
        return _CERT_LABEL + self._unsigned()

    def encode(self) -> bytes:
        """The binary certificate."""
        return self._unsigned() + self.signature

    @classmethod
    def decode(cls, data: bytes) -> DeviceCertificate:
        """Parse a binary certificate strictly (no trailing bytes); MalformedCode otherwise."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedCode("a certificate is bytes")
        data = bytes(data)
        if len(data) < _CERT_MIN:
            raise MalformedCode("the certificate is truncated")
        fmt, suite_id, serial, province, point, not_before, not_after, key_len = _CERT_HEAD.unpack_from(data)
        if fmt != _FORMAT:
            raise MalformedCode(f"unknown certificate format {fmt}")
        suite = _SUITE_NAMES.get(suite_id)
        if suite is None:
            raise MalformedCode(f"unknown crypto suite number {suite_id}")
        if len(data) != _CERT_HEAD.size + key_len + _SIG:
            raise MalformedCode("the certificate length does not match its key id length")
        end = _CERT_HEAD.size + key_len
        return cls(
            serial=serial,
            province=_ascii(province, "the province"),
            device_public_key=point,
            not_before=not_before,
            not_after=not_after,
            platform_key_id=_ascii(data[_CERT_HEAD.size : end], "the platform key id"),
            signature=data[end:],
            suite=suite,
        )

    def device_key(self, suite: CryptoSuite) -> PublicKey:
        """The certified device key as a suite public key; MalformedKey when it is not a curve point."""
        return public_key_from_raw(suite, self.device_public_key)


def issue_certificate(  # noqa: PLR0917 - the shared API takes these positionally
    suite: CryptoSuite,
    signer_sign: Callable[[bytes], bytes],
    platform_key_id: str,
    device_key: PublicKey,
    province: str,
    not_before: int,
    lifetime_s: int,
) -> DeviceCertificate:
    """Certify device_key with a fresh random serial; signer_sign returns the suite's DER signature."""
    if not isinstance(lifetime_s, int) or lifetime_s <= 0:
        raise MalformedCode("a certificate lifetime is a positive number of seconds")
    unsigned = DeviceCertificate(
        serial=secrets.token_bytes(SERIAL_BYTES),
        province=province,
        device_public_key=public_key_to_raw(suite, device_key),
        not_before=not_before,
        not_after=not_before + lifetime_s,
        platform_key_id=platform_key_id,
        signature=bytes(_SIG),
        suite=_suite_name(suite),
    )
    signature = raw_signature(suite, signer_sign(unsigned.signed_part()))
    return DeviceCertificate(
        unsigned.serial,
        unsigned.province,
        unsigned.device_public_key,
        unsigned.not_before,
        unsigned.not_after,
        unsigned.platform_key_id,
        signature,
        unsigned.suite,
    )


def _check_platform_signature(
    suite: CryptoSuite, certificate: DeviceCertificate, platform_keys: Mapping[str, PublicKey]
) -> None:
    if certificate.suite != _suite_name(suite):
        raise SuiteMismatch(
            f"the certificate is for the {certificate.suite} suite, this side uses {suite.name}"
        )
    platform_key = platform_keys.get(certificate.platform_key_id)
    if platform_key is None:
        raise UnknownPlatformKey(
            f"no platform key {certificate.platform_key_id!r}", platform_key_id=certificate.platform_key_id
        )
    try:
        suite.verify(platform_key, certificate.signed_part(), suite_signature(suite, certificate.signature))
    except InvalidSignature as exc:
        raise CertificateSignatureInvalid(
            "the device certificate was not signed by the platform", serial=certificate.serial_hex
        ) from exc


def _certified_key(suite: CryptoSuite, certificate: DeviceCertificate) -> PublicKey:
    try:
        return certificate.device_key(suite)
    except MalformedKey as exc:
        # Only a platform bug could sign such a certificate; refusing it is all a verifier can do.
        raise CertificateSignatureInvalid("the certified device key is not a curve point") from exc


def verify_certificate(
    suite: CryptoSuite, certificate: DeviceCertificate, platform_keys: Mapping[str, PublicKey]
) -> PublicKey:
    """Check the platform's signature (not the times) and return the device key; named errors otherwise."""
    _check_platform_signature(suite, certificate, platform_keys)
    return _certified_key(suite, certificate)


# --- offline code -------------------------------------------------------------------------------------------


def _check_busi_type(busi_type: str) -> None:
    if busi_type not in BUSI_TYPES:
        raise MalformedCode(f"busiType must be one of {', '.join(sorted(BUSI_TYPES))}")


@dataclass(frozen=True, slots=True)
class OfflineCode:
    """One offline code: the device's certificate and the device's signature over it and this use."""

    certificate: DeviceCertificate
    issued_at: int
    counter: int
    busi_type: str
    signature: bytes

    def __post_init__(self) -> None:
        _check_u32(self.issued_at, "issued_at")
        _check_u32(self.counter, "counter")
        if not isinstance(self.busi_type, str):
            raise MalformedCode("busiType is text")
        _check_busi_type(self.busi_type)
        _check_bytes(self.signature, _SIG, "a code signature")

    def _unsigned(self) -> bytes:
        certificate = self.certificate.encode()
        return (
            _CODE_HEAD.pack(_FORMAT, len(certificate))
            + certificate
            + _CODE_TAIL.pack(self.issued_at, self.counter, self.busi_type.encode("ascii"))
        )

    def signed_part(self) -> bytes:
        """The exact bytes the device signs: a context label and every encoded byte before the signature."""
        return _CODE_LABEL + self._unsigned()

    def encode(self) -> bytes:
        """The binary body (the payload carries it in base32)."""
        return self._unsigned() + self.signature

    def payload(self) -> str:
        """The QR payload ``ESSC:2:...``."""
        return offline_payload(self.encode())


def _split_offline(body: bytes) -> tuple[bytes, int, int, bytes, bytes]:
    """(certificate, issued_at, counter, busiType, signature) of a body; only its structure is checked."""
    if len(body) < _CODE_FIXED + _CERT_MIN:
        raise MalformedCode("the offline code is truncated")
    fmt, cert_len = _CODE_HEAD.unpack_from(body)
    if fmt != _FORMAT:
        raise MalformedCode(f"unknown offline code format {fmt}")
    if len(body) != _CODE_FIXED + cert_len:
        raise MalformedCode("the offline code length does not match its certificate length")
    end = _CODE_HEAD.size + cert_len
    issued_at, counter, busi_type = _CODE_TAIL.unpack_from(body, end)
    return body[_CODE_HEAD.size : end], issued_at, counter, busi_type, body[-_SIG:]


def decode_offline(body: bytes) -> OfflineCode:
    """Parse an offline code body strictly; MalformedCode otherwise (signatures are not checked here)."""
    if not isinstance(body, bytes | bytearray | memoryview):
        raise MalformedCode("an offline code is bytes")
    certificate, issued_at, counter, busi_type, signature = _split_offline(bytes(body))
    return OfflineCode(
        DeviceCertificate.decode(certificate),
        issued_at,
        counter,
        _ascii(busi_type, "busiType"),
        signature,
    )


def make_offline_code(  # noqa: PLR0917 - the shared API takes these positionally
    suite: CryptoSuite,
    device_key: PrivateKey,
    certificate: DeviceCertificate,
    issued_at: int,
    counter: int,
    busi_type: str,
) -> str:
    """The payload of a fresh offline code signed by the device key the certificate certifies."""
    if public_key_to_raw(suite, device_key.public_key()) != certificate.device_public_key:
        raise MalformedKey("the device key is not the one the certificate certifies")
    unsigned = OfflineCode(certificate, issued_at, counter, busi_type, bytes(_SIG))
    signature = raw_signature(suite, suite.sign(device_key, unsigned.signed_part()))
    return OfflineCode(certificate, issued_at, counter, busi_type, signature).payload()


def verify_code_signature(suite: CryptoSuite, code: OfflineCode, device_key: PublicKey) -> None:
    """Check the device signature of code under device_key; CodeSignatureInvalid otherwise."""
    try:
        suite.verify(device_key, code.signed_part(), suite_signature(suite, code.signature))
    except InvalidSignature as exc:
        raise CodeSignatureInvalid("the offline code was not signed by the certified device key") from exc


# --- status list --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatusList:
    """The platform's signed list of revoked device certificate serials of one province ("00": all)."""

    province: str
    issued_at: int
    next_update: int
    revoked_serials: tuple[bytes, ...]
    platform_key_id: str
    signature: bytes
    suite: str = "sm"

    def __post_init__(self) -> None:
        try:
            _check_province(self.province)
            _check_u32(self.issued_at, "issued_at")
            _check_u32(self.next_update, "next_update")
            _check_key_id(self.platform_key_id)
            _check_bytes(self.signature, _SIG, "a status list signature")
        except MalformedCode as exc:
            raise MalformedStatusList(exc.detail) from exc
        if self.next_update < self.issued_at:
            raise MalformedStatusList("a status list's next_update precedes its issued_at")
        if self.suite not in _SUITE_IDS:
            raise MalformedStatusList(f"unknown crypto suite {self.suite!r}")
        if not isinstance(self.revoked_serials, tuple) or len(self.revoked_serials) > _MAX_STATUS_ENTRIES:
            raise MalformedStatusList(f"a status list holds a tuple of at most {_MAX_STATUS_ENTRIES} serials")
        previous = b""
        for serial in self.revoked_serials:
            if not isinstance(serial, bytes) or len(serial) != SERIAL_BYTES or serial <= previous:
                raise MalformedStatusList("revoked serials are distinct 16-byte values in increasing order")
            previous = serial

    def _unsigned(self) -> bytes:
        key_id = self.platform_key_id.encode("ascii")
        head = _STATUS_HEAD.pack(
            _FORMAT,
            _SUITE_IDS[self.suite],
            self.province.encode("ascii"),
            self.issued_at,
            self.next_update,
            len(key_id),
        )
        return head + key_id + _COUNT.pack(len(self.revoked_serials)) + b"".join(self.revoked_serials)

    def signed_part(self) -> bytes:
        """The exact bytes the platform signs: a context label and every encoded byte before the signature."""
        return _STATUS_LABEL + self._unsigned()

    def encode(self) -> bytes:
        """The binary list (16 bytes an entry)."""
        return self._unsigned() + self.signature

    @classmethod
    def decode(cls, data: bytes) -> StatusList:
        """Parse a binary status list strictly; MalformedStatusList otherwise (signature not checked)."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedStatusList("a status list is bytes")
        data = bytes(data)
        if len(data) < _STATUS_HEAD.size + 1 + _COUNT.size + _SIG:
            raise MalformedStatusList("the status list is truncated")
        fmt, suite_id, province, issued_at, next_update, key_len = _STATUS_HEAD.unpack_from(data)
        if fmt != _FORMAT:
            raise MalformedStatusList(f"unknown status list format {fmt}")
        suite = _SUITE_NAMES.get(suite_id)
        if suite is None:
            raise MalformedStatusList(f"unknown crypto suite number {suite_id}")
        count_at = _STATUS_HEAD.size + key_len
        if len(data) < count_at + _COUNT.size + _SIG:
            raise MalformedStatusList("the status list is truncated")
        (count,) = _COUNT.unpack_from(data, count_at)
        start = count_at + _COUNT.size
        if count > _MAX_STATUS_ENTRIES or len(data) != start + count * SERIAL_BYTES + _SIG:
            raise MalformedStatusList("the status list length does not match its entry count")
        serials = tuple(
            data[i : i + SERIAL_BYTES] for i in range(start, start + count * SERIAL_BYTES, SERIAL_BYTES)
        )
        try:
            key_id = data[_STATUS_HEAD.size : count_at].decode("ascii")
            province_text = province.decode("ascii")
        except UnicodeDecodeError as exc:
            raise MalformedStatusList("the status list's province or key id is not ASCII") from exc
        return cls(province_text, issued_at, next_update, serials, key_id, data[-_SIG:], suite)

    def verify(self, suite: CryptoSuite, platform_keys: Mapping[str, PublicKey]) -> None:
        """Check the platform's signature; StatusListSignatureInvalid otherwise."""
        if self.suite != _suite_name(suite):
            raise StatusListSignatureInvalid(
                f"the status list is for the {self.suite} suite, not {suite.name}"
            )
        platform_key = platform_keys.get(self.platform_key_id)
        if platform_key is None:
            raise StatusListSignatureInvalid(f"no platform key {self.platform_key_id!r}")
        try:
            suite.verify(platform_key, self.signed_part(), suite_signature(suite, self.signature))
        except InvalidSignature as exc:
            raise StatusListSignatureInvalid("the status list was not signed by the platform") from exc


def sign_status_list(  # noqa: PLR0917 - the shared API takes these positionally
    suite: CryptoSuite,
    signer_sign: Callable[[bytes], bytes],
    platform_key_id: str,
    province: str,
    issued_at: int,
    next_update: int,
    revoked_serials: Iterable[bytes],
) -> StatusList:
    """A signed status list of the given serials (sorted, duplicates dropped); signer_sign returns DER."""
    serials = tuple(sorted(set(revoked_serials)))
    unsigned = StatusList(
        province, issued_at, next_update, serials, platform_key_id, bytes(_SIG), _suite_name(suite)
    )
    signature = raw_signature(suite, signer_sign(unsigned.signed_part()))
    return StatusList(province, issued_at, next_update, serials, platform_key_id, signature, unsigned.suite)


# --- terminal side ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OfflineAcceptance:
    """What a terminal accepted offline and uploads later for settlement; payload is the canonical code."""

    serial: str
    counter: int
    issued_at: int
    busi_type: str
    province: str
    payload: str
    accepted_at: int


@dataclass(frozen=True, slots=True)
class _KnownCertificate:
    certificate: DeviceCertificate
    device_key: PublicKey


@dataclass(frozen=True, slots=True)
class _HeldList:
    status: StatusList
    encoded: bytes
    revoked: frozenset[bytes]


class OfflineVerifier:
    """A terminal's offline check of codes: pure (no network), its only state a replay memory and caches."""

    def __init__(  # noqa: PLR0917 - the shared API takes the limits positionally
        self,
        suite: CryptoSuite,
        platform_keys: Mapping[str, PublicKey],
        clock: Callable[[], float],
        max_code_age_s: int = 60,
        max_clock_skew_s: int = 30,
        max_status_age_s: int = 86_400,
        *,
        province: str | None = None,
        max_cached_certificates: int = 100_000,
    ) -> None:
        if province is not None:
            _check_province(province)
        if min(max_code_age_s, max_clock_skew_s, max_status_age_s) < 0 or max_cached_certificates < 1:
            raise ValueError("ages and skew must not be negative, the certificate cache must hold one")
        self._suite = suite
        self._suite_label = _suite_name(suite)
        self._clock = clock
        self._max_code_age = max_code_age_s
        self._skew = max_clock_skew_s
        self._max_status_age = max_status_age_s
        self._province = province
        self._max_cached = max_cached_certificates
        self._platform_keys: dict[str, PublicKey] = dict(platform_keys)
        self._certificates: dict[bytes, _KnownCertificate] = {}
        self._device_keys: dict[bytes, PublicKey] = {}
        self._key_generation = 0  # bumped by set_platform_keys: a verification begun before must not cache
        self._lists: dict[str, _HeldList] = {}
        self._seen: set[bytes] = set()
        self._seen_order: deque[tuple[float, bytes]] = deque()
        # Replay memory, caches and lists change under one lock so two threads cannot both accept a code.
        self._lock = threading.Lock()

    def set_platform_keys(self, platform_keys: Mapping[str, PublicKey]) -> None:
        """Replace the trusted platform keys and forget cached certificates: a dropped key stops counting."""
        with self._lock:
            self._platform_keys = dict(platform_keys)
            self._certificates = {}
            self._key_generation += 1

    def status_list(self, province: str) -> StatusList | None:
        """The status list held for province (NATIONAL for the national one), if any."""
        held = self._lists.get(province)
        return held.status if held else None

    def update_status_list(self, encoded: bytes) -> None:
        """Take a newer signed status list; named StatusListRejected errors for anything else."""
        status = StatusList.decode(encoded)
        if self._province is not None and status.province not in {self._province, NATIONAL}:
            raise StatusListWrongProvince(
                f"this terminal takes the lists of province {self._province} and the national one, "
                f"not {status.province}"
            )
        status.verify(self._suite, self._platform_keys)
        data = bytes(encoded)
        with self._lock:
            current = self._lists.get(status.province)
            if current is not None:
                # The same content signed again (signatures are randomised) is the list already held.
                if current.encoded[:-_SIG] == data[:-_SIG]:
                    return
                if status.issued_at <= current.status.issued_at:
                    raise StatusListOutdated(
                        f"the list issued at {status.issued_at} is not newer than the held one "
                        f"issued at {current.status.issued_at}"
                    )
            self._lists[status.province] = _HeldList(status, data, frozenset(status.revoked_serials))

    def _check_status(self, certificate: DeviceCertificate, now: float) -> None:
        lists = [held for key in (NATIONAL, certificate.province) if (held := self._lists.get(key))]
        for held in lists:
            if certificate.serial in held.revoked:
                raise CertificateRevoked("the device certificate is revoked", serial=certificate.serial_hex)
        for held in lists:
            status = held.status
            if now - status.issued_at <= self._max_status_age and now <= status.next_update + self._skew:
                return
        raise StatusListStale(
            f"no fresh status list covers province {certificate.province}", province=certificate.province
        )

    def _forget_old(self, now: float) -> None:
        seen, order = self._seen, self._seen_order
        while order and order[0][0] < now:
            seen.discard(order.popleft()[1])

    def _lookup(self, cert_bytes: bytes) -> tuple[DeviceCertificate, _KnownCertificate | None]:
        """The certificate, and its cache entry if it was verified before (then it costs no verification)."""
        known = self._certificates.get(cert_bytes)
        if known is not None:
            return known.certificate, known
        certificate = DeviceCertificate.decode(cert_bytes)
        if certificate.suite != self._suite_label:
            raise SuiteMismatch(
                f"the code is for the {certificate.suite} suite, this terminal uses {self._suite_label}"
            )
        if certificate.platform_key_id not in self._platform_keys:
            raise UnknownPlatformKey(
                f"no platform key {certificate.platform_key_id!r}",
                platform_key_id=certificate.platform_key_id,
            )
        return certificate, None

    def _check_times(self, certificate: DeviceCertificate, issued_at: int, now: float) -> None:
        if now + self._skew < certificate.not_before:
            raise CertificateNotYetValid(
                "the device certificate is not valid yet", serial=certificate.serial_hex
            )
        if now - self._skew > certificate.not_after:
            raise CertificateExpired("the device certificate has expired", serial=certificate.serial_hex)
        age = now - issued_at
        if age > self._max_code_age:
            raise StaleCode(f"the code is {int(age)} s old, more than {self._max_code_age} s")
        if -age > self._skew:
            raise StaleCode(f"the code is {int(-age)} s in the future, more than the allowed {self._skew} s")

    def _remember(
        self, cert_bytes: bytes, known: _KnownCertificate, replay_key: bytes, now: float, generation: int
    ) -> None:
        """Record an accepted code (refusing it if another thread just did) and cache its certificate."""
        with self._lock:
            if cert_bytes not in self._certificates and generation == self._key_generation:
                if len(self._certificates) >= self._max_cached:
                    # Oldest first: dicts keep insertion order, and a device's certificate is renewed anyway.
                    del self._certificates[next(iter(self._certificates))]
                self._certificates[cert_bytes] = known
                point = known.certificate.device_public_key
                if point not in self._device_keys:
                    if len(self._device_keys) >= self._max_cached:
                        del self._device_keys[next(iter(self._device_keys))]
                    self._device_keys[point] = known.device_key
            self._forget_old(now)
            if replay_key in self._seen:
                raise ReplayedCode("this code was already accepted here", serial=known.certificate.serial_hex)
            self._seen.add(replay_key)
            # Past this moment the code is stale whatever its issued_at (<= now + skew): it can be forgotten.
            self._seen_order.append((now + self._max_code_age + self._skew, replay_key))

    def verify(self, payload: str) -> OfflineAcceptance:
        """Accept an offline code once, or raise the named error for why not (MalformedCode included)."""
        parsed = parse_code(payload)
        if parsed.kind is not CodeKind.OFFLINE:
            raise MalformedCode(f"a version {parsed.kind.value} code is not an offline code")
        # What parse_code accepted, stripped and uppercased, is the canonical spelling: no re-encoding.
        canonical = payload.strip().upper()
        body = parsed.body
        cert_bytes, issued_at, counter, busi_raw, signature = _split_offline(body)
        busi_type = _ascii(busi_raw, "busiType")
        _check_busi_type(busi_type)
        generation = self._key_generation
        certificate, known = self._lookup(cert_bytes)

        # Cheap refusals first: a stale, revoked or replayed code costs no signature verification.
        now = self._clock()
        self._check_times(certificate, issued_at, now)
        self._check_status(certificate, now)
        replay_key = certificate.serial + counter.to_bytes(4, "big")
        if replay_key in self._seen:
            raise ReplayedCode("this code was already accepted here", serial=certificate.serial_hex)

        if known is None:
            _check_platform_signature(self._suite, certificate, self._platform_keys)
            # Parsing a key costs OpenSSL 3 nearly as much as a verification; a renewed certificate reuses it.
            device_key = self._device_keys.get(certificate.device_public_key)
            if device_key is None:
                device_key = _certified_key(self._suite, certificate)
            known = _KnownCertificate(certificate, device_key)
        try:
            self._suite.verify(
                known.device_key, _CODE_LABEL + body[:-_SIG], suite_signature(self._suite, signature)
            )
        except InvalidSignature as exc:
            raise CodeSignatureInvalid(
                "the offline code was not signed by the certified device key", serial=certificate.serial_hex
            ) from exc
        self._remember(cert_bytes, known, replay_key, now, generation)
        return OfflineAcceptance(
            serial=certificate.serial_hex,
            counter=counter,
            issued_at=issued_at,
            busi_type=busi_type,
            province=certificate.province,
            payload=canonical,
            accepted_at=int(now),
        )

    def remembered_codes(self) -> int:
        """How many accepted codes the replay memory holds now (it is bounded by the code age window)."""
        return len(self._seen)
