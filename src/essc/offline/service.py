"""Rules of offline codes: enrol a device key, publish the status list, settle uploaded acceptances."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from essc.channels.models import Channel
from essc.core.uow import UnitOfWork
from essc.ecards import repository as ecards_repository
from essc.ecards.schemas import Purpose
from essc.ecards.service import authorise_sign_no, consume_busi_seq, ensure_usable
from essc.kit import offline
from essc.kit.codes import CodeKind, parse_code
from essc.kit.errors import CryptoError, EsscError
from essc.offline import repository
from essc.offline.errors import DeviceKeyInvalid, TooManyAcceptances
from essc.offline.models import CertificateStatus, DeviceCertificateRecord
from essc.offline.schemas import (
    AcceptanceResult,
    Enrolment,
    Outcome,
    UploadRequest,
    UploadResult,
)
from essc.qr.service import record_use
from essc.terminals.errors import BusiTypeNotGranted
from essc.terminals.models import Institution, Terminal
from essc.terminals.schemas import BusiType
from essc.terminals.service import granted_disclosure

MAX_UPLOAD = 500


def enrol_device(
    uow: UnitOfWork, channel: Channel, sign_no: str, device_public_key: str, busi_seq: str
) -> Enrolment:
    """Certify a holder's device key for offline codes, after a fresh busiSeq, while the e-card is usable."""
    issuance, ecard, _person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    suite = uow.platform.suite
    try:
        device_key = suite.load_public_key(device_public_key.encode())
    except CryptoError as exc:
        raise DeviceKeyInvalid(
            f"devicePublicKey is not a {suite.signature_algorithm} key", field="devicePublicKey"
        ) from exc
    consume_busi_seq(uow, busi_seq, ecard, channel, Purpose.OFFLINE_DEVICE)
    signer = uow.platform.keys.signer()
    now = uow.clock.now()
    certificate = offline.issue_certificate(
        suite,
        signer.sign,
        signer.key_id,
        device_key,
        ecard.province,
        int(now.timestamp()),
        uow.platform.settings.offline_certificate_ttl_seconds,
    )
    uow.session.add(
        DeviceCertificateRecord(
            province=ecard.province,
            serial=certificate.serial,
            ecard_id=ecard.id,
            issuance_id=issuance.id,
            channel_id=channel.id,
            device_public_key=certificate.device_public_key,
            not_before=_at(certificate.not_before),
            not_after=_at(certificate.not_after),
            status=CertificateStatus.ACTIVE,
            revoked_at=None,
            revoke_reason=None,
        )
    )
    uow.session.flush()
    uow.audit(
        "offline.device_enrolled",
        "issuance",
        issuance.id,
        ecard.province,
        serial=certificate.serial_hex,
        not_after=certificate.not_after,
    )
    return Enrolment(
        certificate=base64.b64encode(certificate.encode()).decode("ascii"),
        serial=certificate.serial_hex,
        not_after=_at(certificate.not_after),
        platform_key_id=certificate.platform_key_id,
    )


def _at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def revoke_for_ecard(
    uow: UnitOfWork, province: str, ecard_id: str, reason: str, issuance_id: str | None = None
) -> None:
    """Revoke the device certificates of an e-card that just became unusable (or of one unlinked issuance)."""
    serials = repository.revoke_of_ecard(
        uow.session, province, ecard_id, now=uow.clock.now(), reason=reason, issuance_id=issuance_id
    )
    for serial in serials:
        uow.audit(
            "offline.certificate_revoked", "ecard", ecard_id, province, serial=serial.hex(), reason=reason
        )


def status_list(uow: UnitOfWork, province: str) -> bytes:
    """The signed list of revoked, unexpired device certificates of a province ("00": of all provinces)."""
    platform = uow.platform
    issued_at = int(uow.clock.now().timestamp())
    # Lists are as of a whole second, so every list issued within one second has the same content and
    # terminals (which refuse a different list with the same issued_at) never see two versions of a second.
    serials = repository.revoked_serials(
        uow.session, None if province == offline.NATIONAL else province, _at(issued_at)
    )
    signer = platform.keys.signer()
    signed = offline.sign_status_list(
        platform.suite,
        signer.sign,
        signer.key_id,
        province,
        issued_at,
        issued_at + platform.settings.status_list_interval_seconds,
        serials,
    )
    return signed.encode()


def settle(uow: UnitOfWork, terminal: Terminal, owner: Institution, request: UploadRequest) -> UploadResult:
    """Check each uploaded acceptance again online; the first sighting settles, a second is a replay."""
    if len(request.acceptances) > MAX_UPLOAD:
        raise TooManyAcceptances(f"{len(request.acceptances)} acceptances sent; at most {MAX_UPLOAD}")
    results = []
    for index, item in enumerate(request.acceptances):
        try:
            results.append(
                _settle_one(
                    uow, terminal, owner, index=index, payload=item.code, accepted_at=item.accepted_at
                )
            )
        except EsscError as exc:
            results.append(AcceptanceResult(index=index, outcome=Outcome.REFUSED, reason=exc.code))
    return UploadResult(results=results)


def _settle_one(
    uow: UnitOfWork,
    terminal: Terminal,
    owner: Institution,
    *,
    index: int,
    payload: str,
    accepted_at: datetime,
) -> AcceptanceResult:
    parsed = parse_code(payload)
    if parsed.kind is not CodeKind.OFFLINE:
        return AcceptanceResult(index=index, outcome=Outcome.REFUSED, reason="wrong_code_kind")
    code = offline.decode_offline(parsed.body)
    platform = uow.platform
    device_key = offline.verify_certificate(platform.suite, code.certificate, platform.keys.public_keys())
    offline.verify_code_signature(platform.suite, code, device_key)
    cert = code.certificate
    record = repository.certificate(uow.session, cert.province, cert.serial)
    if record is None:
        return AcceptanceResult(index=index, outcome=Outcome.REFUSED, reason="unknown_certificate")
    busi_type = BusiType(code.busi_type)
    try:
        disclosure = granted_disclosure(uow, terminal, busi_type)
    except BusiTypeNotGranted:
        return AcceptanceResult(index=index, outcome=Outcome.REFUSED, reason=BusiTypeNotGranted.code)

    def answer(outcome: Outcome) -> AcceptanceResult:
        return AcceptanceResult(index=index, outcome=outcome, serial=cert.serial_hex, counter=code.counter)

    code_time = _at(code.issued_at)
    revoked_before = record.revoked_at is not None and record.revoked_at <= code_time
    first = repository.record_acceptance(
        uow.session,
        {
            "province": cert.province,
            "serial": cert.serial,
            "counter": code.counter,
            "terminal_id": terminal.id,
            "busi_type": code.busi_type,
            "code_issued_at": code_time,
            "accepted_at": accepted_at,
            "uploaded_at": uow.clock.now(),
            "outcome": Outcome.REVOKED.value if revoked_before else Outcome.CONFIRMED.value,
        },
    )
    if not first:
        earlier = repository.acceptance(uow.session, cert.province, cert.serial, code.counter)
        if earlier is not None and earlier.terminal_id == terminal.id:
            return answer(Outcome.ALREADY_UPLOADED)
        # The same code was accepted at two terminals: it was copied, so the device can no longer be trusted.
        uow.audit(
            "offline.replay_detected",
            "ecard",
            record.ecard_id,
            record.province,
            serial=cert.serial_hex,
            counter=code.counter,
            terminal=terminal.terminal_no,
            first_terminal=earlier.terminal_id if earlier else None,
        )
        revoke_for_ecard(uow, record.province, record.ecard_id, "replay_detected", record.issuance_id)
        return answer(Outcome.REPLAYED)
    if revoked_before:
        uow.audit(
            "offline.revoked_code_accepted",
            "ecard",
            record.ecard_id,
            record.province,
            serial=cert.serial_hex,
            counter=code.counter,
            terminal=terminal.terminal_no,
        )
        return answer(Outcome.REVOKED)
    ecard = ecards_repository.ecard(uow.session, record.province, record.ecard_id)
    assert ecard is not None  # a certificate is only issued for an existing e-card
    record_use(
        uow,
        ecard.province,
        ecard.id,
        terminal=terminal,
        owner=owner,
        busi_type=busi_type,
        method="offline_code",
        disclosure=disclosure,
    )
    return answer(Outcome.CONFIRMED)
