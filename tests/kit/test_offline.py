"""Offline codes on both suites: formats, every refusal by name, replay and staleness, tampering, fuzzing."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
import segno
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from essc.kit import offline
from essc.kit.codes import CodeKind, MalformedCode, new_token_code, offline_payload, parse_code
from essc.kit.crypto import CryptoSuite, PrivateKey, PublicKey, get_suite
from essc.kit.crypto.openssl_sm2 import raw_to_der_signature
from essc.kit.errors import EsscError, InvalidSignature, MalformedKey
from essc.kit.offline import (
    NATIONAL,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateRevoked,
    CertificateSignatureInvalid,
    CodeSignatureInvalid,
    DeviceCertificate,
    MalformedStatusList,
    OfflineAcceptance,
    OfflineCode,
    OfflineCodeRefused,
    OfflineVerifier,
    ReplayedCode,
    StaleCode,
    StatusList,
    StatusListOutdated,
    StatusListRejected,
    StatusListSignatureInvalid,
    StatusListStale,
    StatusListWrongProvince,
    SuiteMismatch,
    UnknownPlatformKey,
    decode_offline,
    issue_certificate,
    make_offline_code,
    public_key_from_raw,
    public_key_to_raw,
    raw_signature,
    sign_status_list,
    suite_signature,
    verify_certificate,
    verify_code_signature,
)

T0 = 1_800_000_000
DAY = 86_400
KEY_ID = "platform-2026"


class FakeClock:
    """Unix seconds that move only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    """One suite's platform key, one device with its certificate, and a terminal with a fresh status list."""

    suite: CryptoSuite
    platform: PrivateKey
    device: PrivateKey
    certificate: DeviceCertificate
    clock: FakeClock
    verifier: OfflineVerifier

    @property
    def platform_keys(self) -> dict[str, PublicKey]:
        return {KEY_ID: self.platform.public_key()}

    def platform_sign(self, message: bytes) -> bytes:
        return self.suite.sign(self.platform, message)

    def code(self, counter: int = 1, issued_at: int | None = None, busi_type: str = "01") -> str:
        moment = int(self.clock.now) if issued_at is None else issued_at
        return make_offline_code(self.suite, self.device, self.certificate, moment, counter, busi_type)

    def status_list(
        self,
        revoked: tuple[bytes, ...] = (),
        province: str = "44",
        issued_at: int = T0 - 60,
        next_update: int = T0 + 3600,
    ) -> bytes:
        return sign_status_list(
            self.suite, self.platform_sign, KEY_ID, province, issued_at, next_update, revoked
        ).encode()

    def new_verifier(self, **options: int | str | None) -> OfflineVerifier:
        return OfflineVerifier(self.suite, self.platform_keys, self.clock, **options)  # type: ignore[arg-type]


def make_world(name: str) -> World:
    suite = get_suite(name)
    platform, device = suite.generate_private_key(), suite.generate_private_key()
    certificate = issue_certificate(
        suite, lambda m: suite.sign(platform, m), KEY_ID, device.public_key(), "44", T0 - 3600, 7 * DAY
    )
    clock = FakeClock()
    verifier = OfflineVerifier(suite, {KEY_ID: platform.public_key()}, clock)
    world = World(suite, platform, device, certificate, clock, verifier)
    verifier.update_status_list(world.status_list())
    return world


@pytest.fixture(params=["sm", "intl"])
def world(request: pytest.FixtureRequest) -> World:
    return make_world(request.param)


@pytest.fixture(scope="module", params=["sm", "intl"])
def shared_world(request: pytest.FixtureRequest) -> World:
    """For tests that never accept a code (so the replay memory stays empty)."""
    return make_world(request.param)


# --- keys and signatures ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sm", "intl"])
def test_raw_public_keys_round_trip(name: str) -> None:
    suite = get_suite(name)
    key = suite.generate_private_key().public_key()
    raw = public_key_to_raw(suite, key)
    assert len(raw) == 64
    assert key.to_der().endswith(b"\x04" + raw)
    assert public_key_from_raw(suite, raw).to_der() == key.to_der()


def test_raw_public_key_refusals(shared_world: World) -> None:
    suite = shared_world.suite
    other = get_suite("intl" if suite.name == "sm" else "sm")
    with pytest.raises(MalformedKey, match="uncompressed"):
        public_key_to_raw(suite, other.generate_private_key().public_key())
    with pytest.raises(MalformedKey, match="64 bytes"):
        public_key_from_raw(suite, bytes(63))
    with pytest.raises(MalformedKey):
        public_key_from_raw(suite, bytes(64))  # (0, 0) is not on the curve


def test_raw_signatures_round_trip(shared_world: World) -> None:
    suite, key = shared_world.suite, shared_world.platform
    for _ in range(20):  # DER lengths vary with leading zero bytes; the raw form never does
        der = suite.sign(key, b"message")
        raw = raw_signature(suite, der)
        assert len(raw) == 64
        assert suite_signature(suite, raw) == der
        suite.verify(key.public_key(), b"message", suite_signature(suite, raw))


@given(raw=st.binary(min_size=64, max_size=64))
def test_raw_to_der_matches_the_reference_encoders(raw: bytes) -> None:
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    for name in ("sm", "intl"):
        if r == 0 or s == 0:
            with pytest.raises(InvalidSignature):
                suite_signature(get_suite(name), raw)
            continue
        der = suite_signature(get_suite(name), raw)
        assert der == encode_dss_signature(r, s) == raw_to_der_signature(raw)
        assert raw_signature(get_suite(name), der) == raw


def test_raw_signature_refusals(shared_world: World) -> None:
    suite = shared_world.suite
    with pytest.raises(InvalidSignature):
        raw_signature(suite, b"\x30\x00")
    with pytest.raises(InvalidSignature):
        suite_signature(suite, bytes(63))
    with pytest.raises(InvalidSignature):
        suite_signature(suite, bytes(64))


def test_unsupported_suite_is_a_configuration_error(shared_world: World) -> None:
    @dataclass
    class Other:
        name: str = "rsa"

    with pytest.raises(ValueError, match="offline codes support the suites sm, intl"):
        OfflineVerifier(Other(), {}, FakeClock())  # type: ignore[arg-type]


# --- certificates -------------------------------------------------------------------------------------------


def test_certificate_round_trip(shared_world: World) -> None:
    certificate = shared_world.certificate
    encoded = certificate.encode()
    assert len(encoded) == 157 + len(KEY_ID)
    assert DeviceCertificate.decode(encoded) == certificate
    assert certificate.not_after - certificate.not_before == 7 * DAY
    assert certificate.suite == shared_world.suite.name
    assert certificate.signed_part().startswith(b"ESSC-DEVICE-CERT-1\n")
    assert certificate.signed_part().endswith(encoded[:-64])
    assert certificate.device_key(shared_world.suite) == shared_world.device.public_key()
    assert re.fullmatch(r"[0-9a-f]{32}", certificate.serial_hex)


def test_certificate_serials_are_random(shared_world: World) -> None:
    w = shared_world
    serials = {
        issue_certificate(w.suite, w.platform_sign, KEY_ID, w.device.public_key(), "44", T0, DAY).serial
        for _ in range(50)
    }
    assert len(serials) == 50


def test_verify_certificate(shared_world: World) -> None:
    w = shared_world
    assert verify_certificate(w.suite, w.certificate, w.platform_keys) == w.device.public_key()
    with pytest.raises(UnknownPlatformKey, match="no platform key 'platform-2026'"):
        verify_certificate(w.suite, w.certificate, {})
    forged = replace(w.certificate, province="11")
    with pytest.raises(CertificateSignatureInvalid):
        verify_certificate(w.suite, forged, w.platform_keys)
    other = get_suite("intl" if w.suite.name == "sm" else "sm")
    with pytest.raises(SuiteMismatch):
        verify_certificate(other, w.certificate, w.platform_keys)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"serial": bytes(15)}, "serial must be 16 bytes"),
        ({"province": "4"}, "province is two digits"),
        ({"province": "4a"}, "province is two digits"),
        ({"device_public_key": bytes(65)}, "device public key must be 64 bytes"),
        ({"not_before": -1}, "not_before must fit"),
        ({"not_after": 1 << 32}, "not_after must fit"),
        ({"not_after": T0 - 7200}, "not_after precedes its not_before"),
        ({"platform_key_id": ""}, "1..32 printable ASCII"),
        ({"platform_key_id": "k" * 33}, "1..32 printable ASCII"),
        ({"platform_key_id": "a b"}, "1..32 printable ASCII"),
        ({"platform_key_id": "clé"}, "1..32 printable ASCII"),
        ({"signature": bytes(63)}, "certificate signature must be 64 bytes"),
        ({"suite": "rsa"}, "unknown crypto suite 'rsa'"),
    ],
)
def test_certificate_field_refusals(shared_world: World, change: dict[str, object], message: str) -> None:
    with pytest.raises(MalformedCode, match=re.escape(message)):
        replace(shared_world.certificate, **change)


def test_certificate_decode_refusals(shared_world: World) -> None:
    encoded = shared_world.certificate.encode()
    cases: list[tuple[bytes, str]] = [
        (encoded[:-1], "length does not match"),
        (encoded + b"\x00", "length does not match"),
        (encoded[:100], "truncated"),
        (b"\x02" + encoded[1:], "unknown certificate format 2"),
        (encoded[:1] + b"\x09" + encoded[2:], "unknown crypto suite number 9"),
        (encoded[:18] + b"\xff4" + encoded[20:], "province is not ASCII"),
        (encoded[:-65] + b"\xff" + encoded[-64:], "key id is not ASCII"),
    ]
    for data, message in cases:
        with pytest.raises(MalformedCode, match=message):
            DeviceCertificate.decode(data)
    with pytest.raises(MalformedCode, match="bytes"):
        DeviceCertificate.decode("text")  # type: ignore[arg-type]


def test_issue_certificate_refusals(shared_world: World) -> None:
    w = shared_world
    with pytest.raises(MalformedCode, match="positive number of seconds"):
        issue_certificate(w.suite, w.platform_sign, KEY_ID, w.device.public_key(), "44", T0, 0)
    with pytest.raises(MalformedCode, match="province"):
        issue_certificate(w.suite, w.platform_sign, KEY_ID, w.device.public_key(), "Guangdong", T0, DAY)
    with pytest.raises(InvalidSignature):
        issue_certificate(w.suite, lambda _m: b"not DER", KEY_ID, w.device.public_key(), "44", T0, DAY)


# --- offline codes ------------------------------------------------------------------------------------------


def test_offline_code_round_trip(shared_world: World) -> None:
    w = shared_world
    payload = w.code(counter=7, busi_type="04")
    parsed = parse_code(payload)
    assert parsed.kind is CodeKind.OFFLINE
    # 157 + key id bytes of certificate, 77 more of code, base32: a version 12 QR code at level M.
    assert len(payload) == len("ESSC:2:") + -(-(3 + 157 + len(KEY_ID) + 74) * 8 // 5)
    assert segno.make_qr(payload, error="m", boost_error=False).version == 12
    code = decode_offline(parsed.body)
    assert code.certificate == w.certificate
    assert (code.issued_at, code.counter, code.busi_type) == (T0, 7, "04")
    assert code.encode() == parsed.body
    assert code.payload() == payload
    assert code.signed_part().startswith(b"ESSC-OFFLINE-CODE-1\n")
    verify_code_signature(w.suite, code, w.device.public_key())
    with pytest.raises(CodeSignatureInvalid):
        verify_code_signature(w.suite, replace(code, counter=8), w.device.public_key())


def test_make_offline_code_refusals(shared_world: World) -> None:
    w = shared_world
    with pytest.raises(MalformedKey, match="not the one the certificate certifies"):
        make_offline_code(w.suite, w.platform, w.certificate, T0, 1, "01")
    for busi_type in ["00", "05", "1", "", "01 "]:
        with pytest.raises(MalformedCode, match="busiType must be one of 01, 02, 03, 04"):
            w.code(busi_type=busi_type)
    with pytest.raises(MalformedCode, match="counter must fit"):
        w.code(counter=1 << 32)
    with pytest.raises(MalformedCode, match="issued_at must fit"):
        w.code(issued_at=-5)


def test_decode_offline_refusals(shared_world: World) -> None:
    body = parse_code(shared_world.code()).body
    cases: list[tuple[bytes, str]] = [
        (body[:50], "truncated"),
        (body[:-1], "length does not match"),
        (body + b"\x00", "length does not match"),
        (b"\x05" + body[1:], "unknown offline code format 5"),
        (body[:1] + b"\x00\x10" + body[3:], "length does not match"),
        (body[:-66] + b"99" + body[-64:], "busiType must be one of"),
        (body[:-66] + b"\xff\xfe" + body[-64:], "busiType is not ASCII"),
    ]
    for data, message in cases:
        with pytest.raises(MalformedCode, match=message):
            decode_offline(data)
    with pytest.raises(MalformedCode, match="bytes"):
        decode_offline("text")  # type: ignore[arg-type]


# --- the terminal: acceptance -------------------------------------------------------------------------------


def test_verify_accepts_a_fresh_code(world: World) -> None:
    payload = world.code(counter=3, busi_type="02")
    acceptance = world.verifier.verify(payload)
    assert acceptance == OfflineAcceptance(
        serial=world.certificate.serial_hex,
        counter=3,
        issued_at=T0,
        busi_type="02",
        province="44",
        payload=payload,
        accepted_at=T0,
    )


def test_verify_accepts_a_lowercase_scan_and_returns_the_canonical_payload(world: World) -> None:
    payload = world.code()
    assert world.verifier.verify(f" {payload.lower()}\n").payload == payload


def test_every_counter_is_one_use(world: World) -> None:
    for counter in range(5):
        world.verifier.verify(world.code(counter=counter))
    assert world.verifier.remembered_codes() == 5


def test_code_age_limits_are_inclusive(world: World) -> None:
    world.verifier.verify(world.code(counter=1, issued_at=T0 - 60))
    world.verifier.verify(world.code(counter=2, issued_at=T0 + 30))


def test_a_known_certificate_is_not_verified_again(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real_verify = world.suite.verify

    def counting(key: PublicKey, message: bytes, signature: bytes) -> None:
        calls.append(message[:20])
        real_verify(key, message, signature)

    monkeypatch.setattr(world.suite, "verify", counting)
    world.verifier.verify(world.code(counter=1))
    assert [c.split(b"\n")[0] for c in calls] == [b"ESSC-DEVICE-CERT-1", b"ESSC-OFFLINE-CODE-1"]
    calls.clear()
    world.verifier.verify(world.code(counter=2))
    assert [c.split(b"\n")[0] for c in calls] == [b"ESSC-OFFLINE-CODE-1"]


def test_a_renewed_certificate_reuses_the_parsed_device_key(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[bytes] = []
    real = offline.public_key_from_raw

    def counting(suite: CryptoSuite, raw: bytes) -> PublicKey:
        parsed.append(raw)
        return real(suite, raw)

    monkeypatch.setattr(offline, "public_key_from_raw", counting)
    world.verifier.verify(world.code(counter=1))
    renewed = issue_certificate(
        world.suite, world.platform_sign, KEY_ID, world.device.public_key(), "44", T0 - 60, DAY
    )
    world.verifier.verify(make_offline_code(world.suite, world.device, renewed, T0, 2, "01"))
    assert parsed == [renewed.device_public_key]


def test_forgetting_platform_keys_forgets_cached_certificates(world: World) -> None:
    world.verifier.verify(world.code(counter=1))
    world.verifier.set_platform_keys({})
    with pytest.raises(UnknownPlatformKey):
        world.verifier.verify(world.code(counter=2))


def test_certificate_cache_is_bounded(world: World) -> None:
    verifier = world.new_verifier(max_cached_certificates=2)
    verifier.update_status_list(world.status_list())
    for counter in range(4):
        certificate = issue_certificate(
            world.suite, world.platform_sign, KEY_ID, world.device.public_key(), "44", T0 - 60, DAY
        )
        payload = make_offline_code(world.suite, world.device, certificate, T0, counter, "01")
        verifier.verify(payload)
    assert len(verifier._certificates) == 2


# --- the terminal: every refusal by name --------------------------------------------------------------------


def test_refusal_codes_are_stable() -> None:
    expected = {
        SuiteMismatch: ("suite_mismatch", 400),
        UnknownPlatformKey: ("unknown_platform_key", 403),
        CertificateSignatureInvalid: ("certificate_signature_invalid", 403),
        CertificateExpired: ("certificate_expired", 403),
        CertificateNotYetValid: ("certificate_not_yet_valid", 403),
        CertificateRevoked: ("certificate_revoked", 403),
        CodeSignatureInvalid: ("code_signature_invalid", 403),
        StaleCode: ("stale_code", 403),
        ReplayedCode: ("replayed_code", 409),
        StatusListStale: ("status_list_stale", 503),
        MalformedStatusList: ("malformed_status_list", 400),
        StatusListSignatureInvalid: ("status_list_signature_invalid", 400),
        StatusListOutdated: ("status_list_outdated", 409),
        StatusListWrongProvince: ("status_list_wrong_province", 422),
    }
    for error, (code, status) in expected.items():
        assert issubclass(error, EsscError)
        assert (error.code, error.status) == (code, status)
    codes = [error.code for error in expected]
    assert len(set(codes)) == len(codes)


def test_not_an_offline_code(shared_world: World) -> None:
    with pytest.raises(MalformedCode, match="version 1 code is not an offline code"):
        shared_world.verifier.verify(new_token_code(CodeKind.ONLINE)[0])
    with pytest.raises(MalformedCode):
        shared_world.verifier.verify("hello")
    with pytest.raises(MalformedCode, match="truncated"):
        shared_world.verifier.verify(offline_payload(b"\x01\x00"))


def test_unknown_platform_key(world: World) -> None:
    verifier = OfflineVerifier(world.suite, {"other": world.platform.public_key()}, world.clock)
    with pytest.raises(UnknownPlatformKey, match="no platform key 'platform-2026'") as info:
        verifier.verify(world.code())
    assert info.value.extensions == {"platform_key_id": KEY_ID}


def test_certificate_signed_by_someone_else(world: World) -> None:
    impostor = world.suite.generate_private_key()
    certificate = issue_certificate(
        world.suite,
        lambda m: world.suite.sign(impostor, m),
        KEY_ID,
        world.device.public_key(),
        "44",
        T0 - 60,
        DAY,
    )
    payload = make_offline_code(world.suite, world.device, certificate, T0, 1, "01")
    with pytest.raises(CertificateSignatureInvalid):
        world.verifier.verify(payload)


def test_certificate_of_another_suite(world: World) -> None:
    other = make_world("intl" if world.suite.name == "sm" else "sm")
    with pytest.raises(SuiteMismatch, match=f"this terminal uses {world.suite.name}"):
        world.verifier.verify(other.code())


def test_certificate_expired_and_not_yet_valid(world: World) -> None:
    certificate = world.certificate
    world.clock.now = certificate.not_after + 31
    with pytest.raises(CertificateExpired):
        world.verifier.verify(world.code())
    world.clock.now = certificate.not_before - 31
    with pytest.raises(CertificateNotYetValid):
        world.verifier.verify(world.code())
    # Within the clock skew either side, the certificate still counts.
    world.clock.now = certificate.not_before - 30
    verifier = world.new_verifier(max_status_age_s=10 * DAY)
    verifier.update_status_list(
        world.status_list(issued_at=certificate.not_before - 100, next_update=T0 + DAY)
    )
    verifier.verify(world.code(counter=1))


def test_code_signed_by_another_device(world: World) -> None:
    code = decode_offline(parse_code(world.code()).body)
    stranger = world.suite.generate_private_key()
    forged = replace(
        code, signature=raw_signature(world.suite, world.suite.sign(stranger, code.signed_part()))
    )
    with pytest.raises(CodeSignatureInvalid):
        world.verifier.verify(forged.payload())


def test_stale_and_future_codes(world: World) -> None:
    payload = world.code(issued_at=T0)
    world.clock.now = T0 + 61
    with pytest.raises(StaleCode, match="61 s old, more than 60 s"):
        world.verifier.verify(payload)
    world.clock.now = T0 - 31
    with pytest.raises(StaleCode, match="31 s in the future"):
        world.verifier.verify(payload)


def test_custom_age_and_skew(world: World) -> None:
    verifier = world.new_verifier(max_code_age_s=10, max_clock_skew_s=0)
    verifier.update_status_list(world.status_list())
    with pytest.raises(StaleCode):
        verifier.verify(world.code(issued_at=T0 - 11))
    with pytest.raises(StaleCode):
        verifier.verify(world.code(issued_at=T0 + 1))
    verifier.verify(world.code(issued_at=T0 - 10))


def test_replayed_code(world: World) -> None:
    payload = world.code(counter=9)
    world.verifier.verify(payload)
    world.clock.now += 5
    with pytest.raises(ReplayedCode) as info:
        world.verifier.verify(payload)
    assert info.value.extensions == {"serial": world.certificate.serial_hex}
    # The same counter signed again at another time is the same use.
    with pytest.raises(ReplayedCode):
        world.verifier.verify(world.code(counter=9))
    # Another terminal has its own memory; the platform catches that replay at settlement.
    other = world.new_verifier()
    other.update_status_list(world.status_list())
    other.verify(payload)


def test_replay_memory_is_bounded_by_the_age_window(world: World) -> None:
    for counter in range(100):
        world.verifier.verify(world.code(counter=counter))
    assert world.verifier.remembered_codes() == 100
    old = world.code(counter=0, issued_at=T0)
    world.clock.now = T0 + 60 + 30 + 1
    world.verifier.verify(world.code(counter=1000))
    assert world.verifier.remembered_codes() == 1
    # A forgotten code is stale by then, so forgetting it never lets it through again.
    with pytest.raises(StaleCode):
        world.verifier.verify(old)


def test_replay_memory_survives_until_the_code_is_stale(world: World) -> None:
    payload = world.code(counter=1, issued_at=T0 + 30)  # from the edge of the allowed future
    world.verifier.verify(payload)
    for step in range(1, 91):
        world.clock.now = T0 + step
        world.verifier.verify(world.code(counter=1000 + step))
        with pytest.raises(ReplayedCode):
            world.verifier.verify(payload)
    world.clock.now = T0 + 91
    with pytest.raises(StaleCode):
        world.verifier.verify(payload)


def test_concurrent_scans_accept_a_code_once(world: World) -> None:
    payload = world.code(counter=77)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def scan() -> None:
        barrier.wait()
        try:
            world.verifier.verify(payload)
            outcomes.append("accepted")
        except ReplayedCode:
            outcomes.append("replayed")

    threads = [threading.Thread(target=scan) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted"] + ["replayed"] * 7


def test_revoked_certificate(world: World) -> None:
    world.verifier.verify(world.code(counter=1))
    world.clock.now += 1
    world.verifier.update_status_list(
        world.status_list((world.certificate.serial, b"\x00" * 16), issued_at=T0)
    )
    with pytest.raises(CertificateRevoked) as info:
        world.verifier.verify(world.code(counter=2))
    assert info.value.extensions == {"serial": world.certificate.serial_hex}
    # A national list revokes too, whichever province list is held.
    verifier = world.new_verifier()
    verifier.update_status_list(world.status_list())
    verifier.update_status_list(world.status_list((world.certificate.serial,), province=NATIONAL))
    with pytest.raises(CertificateRevoked):
        verifier.verify(world.code(counter=3))


def test_missing_status_list(world: World) -> None:
    verifier = world.new_verifier()
    with pytest.raises(StatusListStale, match="no fresh status list covers province 44"):
        verifier.verify(world.code())
    # A list of another province does not cover this certificate.
    verifier.update_status_list(world.status_list(province="11"))
    with pytest.raises(StatusListStale):
        verifier.verify(world.code())
    # The national list covers every province.
    verifier.update_status_list(world.status_list(province=NATIONAL))
    verifier.verify(world.code())


def test_old_status_list(world: World) -> None:
    verifier = world.new_verifier(max_status_age_s=3600)
    verifier.update_status_list(world.status_list(issued_at=T0 - 3600, next_update=T0 + DAY))
    verifier.verify(world.code(counter=1))
    world.clock.now = T0 + 1
    with pytest.raises(StatusListStale):
        verifier.verify(world.code(counter=2))


def test_status_list_past_its_next_update(world: World) -> None:
    verifier = world.new_verifier()
    verifier.update_status_list(world.status_list(issued_at=T0 - 600, next_update=T0 - 30))
    verifier.verify(world.code(counter=1))
    world.clock.now = T0 + 1
    with pytest.raises(StatusListStale):
        verifier.verify(world.code(counter=2))


# --- status lists -------------------------------------------------------------------------------------------


def test_status_list_round_trip(shared_world: World) -> None:
    serials = [bytes([i]) * 16 for i in (9, 3, 7, 3)]
    status = sign_status_list(
        shared_world.suite, shared_world.platform_sign, KEY_ID, "44", T0, T0 + 60, serials
    )
    assert status.revoked_serials == (bytes([3]) * 16, bytes([7]) * 16, bytes([9]) * 16)
    encoded = status.encode()
    # 16 bytes an entry on top of a fixed head and the signature.
    assert len(encoded) == 13 + len(KEY_ID) + 4 + 3 * 16 + 64
    assert StatusList.decode(encoded) == status
    assert status.signed_part().startswith(b"ESSC-STATUS-LIST-1\n")
    status.verify(shared_world.suite, shared_world.platform_keys)
    big = sign_status_list(
        shared_world.suite,
        shared_world.platform_sign,
        KEY_ID,
        "00",
        T0,
        T0,
        (i.to_bytes(16, "big") for i in range(10_000)),
    )
    assert len(big.encode()) - len(status.encode()) == (10_000 - 3) * 16


def test_status_list_field_refusals(shared_world: World) -> None:
    status = StatusList.decode(shared_world.status_list((bytes(16), b"\x01" * 16)))
    cases: list[tuple[dict[str, object], str]] = [
        ({"province": "4"}, "two digits"),
        ({"next_update": T0 - 61}, "next_update precedes its issued_at"),
        ({"revoked_serials": (b"\x01" * 16, bytes(16))}, "increasing order"),
        ({"revoked_serials": (bytes(16), bytes(16))}, "increasing order"),
        ({"revoked_serials": (bytes(15),)}, "16-byte"),
        ({"revoked_serials": [bytes(16)]}, "tuple"),
        ({"platform_key_id": ""}, "printable ASCII"),
        ({"signature": b""}, "64 bytes"),
        ({"suite": "x"}, "unknown crypto suite"),
    ]
    for change, message in cases:
        with pytest.raises(MalformedStatusList, match=message):
            replace(status, **change)


def test_status_list_decode_refusals(shared_world: World) -> None:
    encoded = shared_world.status_list((bytes(16),))
    cases: list[tuple[bytes, str]] = [
        (encoded[:40], "truncated"),
        (encoded[:-1], "length does not match"),
        (encoded + bytes(16), "length does not match"),
        (b"\x07" + encoded[1:], "unknown status list format 7"),
        (encoded[:1] + b"\x00" + encoded[2:], "unknown crypto suite number 0"),
        (encoded[:2] + b"\xff\xff" + encoded[4:], "not ASCII"),
    ]
    for data, message in cases:
        with pytest.raises(MalformedStatusList, match=message):
            StatusList.decode(data)
    with pytest.raises(MalformedStatusList, match="bytes"):
        StatusList.decode(None)  # type: ignore[arg-type]


def test_status_list_update_refusals(world: World) -> None:
    verifier = world.verifier
    impostor = world.suite.generate_private_key()
    forged = sign_status_list(
        world.suite, lambda m: world.suite.sign(impostor, m), KEY_ID, "44", T0, T0 + 60, ()
    ).encode()
    with pytest.raises(StatusListSignatureInvalid, match="not signed by the platform"):
        verifier.update_status_list(forged)
    unknown = sign_status_list(world.suite, world.platform_sign, "nobody", "44", T0, T0 + 60, ()).encode()
    with pytest.raises(StatusListSignatureInvalid, match="no platform key 'nobody'"):
        verifier.update_status_list(unknown)
    with pytest.raises(StatusListOutdated, match="not newer"):
        verifier.update_status_list(world.status_list(issued_at=T0 - 61))
    with pytest.raises(StatusListOutdated, match="not newer"):
        verifier.update_status_list(world.status_list((bytes(16),), issued_at=T0 - 60))
    verifier.update_status_list(world.status_list())  # the same list again changes nothing
    with pytest.raises(MalformedStatusList):
        verifier.update_status_list(b"junk")
    assert issubclass(MalformedStatusList, StatusListRejected)
    other = make_world("intl" if world.suite.name == "sm" else "sm")
    with pytest.raises(StatusListSignatureInvalid, match="suite"):
        verifier.update_status_list(other.status_list())


def test_status_list_province_filter(world: World) -> None:
    verifier = world.new_verifier(province="44")
    with pytest.raises(StatusListWrongProvince, match="not 11"):
        verifier.update_status_list(world.status_list(province="11"))
    verifier.update_status_list(world.status_list(province="44"))
    verifier.update_status_list(world.status_list(province=NATIONAL))
    status = verifier.status_list(NATIONAL)
    assert status is not None
    assert status.province == NATIONAL
    with pytest.raises(MalformedCode):
        world.new_verifier(province="GD")


def test_a_newer_list_can_lift_a_revocation(world: World) -> None:
    world.verifier.update_status_list(world.status_list((world.certificate.serial,), issued_at=T0 - 30))
    with pytest.raises(CertificateRevoked):
        world.verifier.verify(world.code())
    world.verifier.update_status_list(world.status_list(issued_at=T0 - 10))
    world.verifier.verify(world.code())


# --- tampering: every signed byte counts --------------------------------------------------------------------


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ (1 << (index % 8))]) + data[index + 1 :]


def test_every_byte_of_a_code_is_protected(shared_world: World) -> None:
    w = shared_world
    body = parse_code(w.code(counter=5)).body
    for index in range(len(body)):
        with pytest.raises(EsscError):
            w.verifier.verify(offline_payload(_flip(body, index)))
    assert w.verifier.remembered_codes() == 0


def test_every_byte_of_a_certificate_is_protected(shared_world: World) -> None:
    w = shared_world
    encoded = w.certificate.encode()
    for index in range(len(encoded)):
        with pytest.raises(EsscError):
            verify_certificate(w.suite, DeviceCertificate.decode(_flip(encoded, index)), w.platform_keys)


def test_every_byte_of_a_status_list_is_protected(world: World) -> None:
    encoded = world.status_list((bytes(16), world.certificate.serial), issued_at=T0)
    for index in range(len(encoded)):
        with pytest.raises(StatusListRejected):
            world.verifier.update_status_list(_flip(encoded, index))
    # Nothing tampered was taken: the revocation the platform signed is not yet known.
    world.verifier.verify(world.code())


# --- no personal data ---------------------------------------------------------------------------------------


def test_payload_reveals_only_random_serial_times_and_counter(shared_world: World) -> None:
    """The body is exactly the declared fields, none from the holder, and no ID number shows through."""
    # The functions that make codes take no personal data at all: the certificate holds a random serial, a
    # province, the device's public key, validity times and the platform key id; the code adds a time, a
    # counter and busiType. Re-encoding those fields reproduces the body byte for byte: nowhere to hide more.
    w = shared_world
    aac002 = "44010619900307123X"  # a synthetic holder the platform would link to the serial on its side
    for counter in range(20):
        payload = w.code(counter=counter, issued_at=T0 + counter)
        body = parse_code(payload).body
        code = decode_offline(body)
        c = code.certificate
        rebuilt = OfflineCode(
            DeviceCertificate(
                c.serial,
                c.province,
                c.device_public_key,
                c.not_before,
                c.not_after,
                c.platform_key_id,
                c.signature,
                c.suite,
            ),
            code.issued_at,
            code.counter,
            code.busi_type,
            code.signature,
        )
        assert rebuilt.encode() == body
        assert c.device_public_key == public_key_to_raw(w.suite, w.device.public_key())
        assert re.search(r"[0-9]{17}[0-9X]", payload) is None
        for form in (
            aac002.encode(),
            aac002[:17].encode(),
            bytes.fromhex(aac002[:16]),
            w.suite.hash(aac002.encode()),
        ):
            assert form not in body
    # Two certificates for the same device and province share nothing but what they must.
    again = issue_certificate(
        w.suite, w.platform_sign, KEY_ID, w.device.public_key(), "44", T0 - 3600, 7 * DAY
    )
    assert again.serial != w.certificate.serial


# --- fuzzing: only named errors come out --------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _only_named(action: Callable[[], object], *allowed: type[EsscError]) -> None:
    with contextlib.suppress(*allowed):
        action()


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_certificate_decode(data: bytes) -> None:
    _only_named(lambda: DeviceCertificate.decode(data), MalformedCode)


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_decode_offline(data: bytes) -> None:
    _only_named(lambda: decode_offline(data), MalformedCode)


@FUZZ
@given(data=st.binary(max_size=400))
def test_fuzz_status_list_decode(data: bytes) -> None:
    _only_named(lambda: StatusList.decode(data), MalformedStatusList)


def _mutate(data: bytes, draw: st.DataObject) -> bytes:
    for _ in range(draw.draw(st.integers(1, 4))):
        index = draw.draw(st.integers(0, len(data) - 1))
        data = data[:index] + bytes([draw.draw(st.integers(0, 255))]) + data[index + 1 :]
    if draw.draw(st.booleans()):
        data = data[: draw.draw(st.integers(0, len(data)))]
    return data


@FUZZ
@given(draw=st.data())
def test_fuzz_mutated_encodings(shared_world: World, draw: st.DataObject) -> None:
    w = shared_world
    body = parse_code(w.code()).body
    cert = w.certificate.encode()
    status = w.status_list((bytes(16), b"\x01" * 16))
    _only_named(lambda: decode_offline(_mutate(body, draw)), MalformedCode)
    _only_named(lambda: DeviceCertificate.decode(_mutate(cert, draw)), MalformedCode)
    _only_named(lambda: StatusList.decode(_mutate(status, draw)), MalformedStatusList)


@FUZZ
@given(draw=st.data())
def test_fuzz_verifier(shared_world: World, draw: st.DataObject) -> None:
    w = shared_world
    body = parse_code(w.code()).body
    mutated = _mutate(body, draw)
    if mutated and mutated != body:
        _only_named(lambda: w.verifier.verify(offline_payload(mutated)), MalformedCode, OfflineCodeRefused)
    _only_named(
        lambda: w.verifier.verify(draw.draw(st.text(max_size=500))), MalformedCode, OfflineCodeRefused
    )
    _only_named(lambda: w.verifier.update_status_list(draw.draw(st.binary(max_size=200))), StatusListRejected)
    assert w.verifier.remembered_codes() == 0
