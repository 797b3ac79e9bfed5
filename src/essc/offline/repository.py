"""All SQL of device certificates and offline acceptances."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from essc.core.db import Session, insert_ignoring_conflicts
from essc.offline.models import CertificateStatus, DeviceCertificateRecord, OfflineAcceptanceRecord


def certificate(session: Session, province: str, serial: bytes) -> DeviceCertificateRecord | None:
    return session.get(DeviceCertificateRecord, (province, serial))


def revoke_of_ecard(
    session: Session,
    province: str,
    ecard_id: str,
    *,
    now: datetime,
    reason: str,
    issuance_id: str | None = None,
) -> list[bytes]:
    """Revoke the live certificates of an e-card (or of one of its issuances); returns their serials."""
    condition = (
        (DeviceCertificateRecord.province == province)
        & (DeviceCertificateRecord.ecard_id == ecard_id)
        & (DeviceCertificateRecord.status == CertificateStatus.ACTIVE)
        & (DeviceCertificateRecord.not_after > now)
    )
    if issuance_id is not None:
        condition &= DeviceCertificateRecord.issuance_id == issuance_id
    serials = list(session.execute(select(DeviceCertificateRecord.serial).where(condition)).scalars())
    if serials:
        session.execute(
            update(DeviceCertificateRecord)
            .where(condition)
            .values(status=CertificateStatus.REVOKED, revoked_at=now, revoke_reason=reason)
            .execution_options(synchronize_session=False)
        )
    return serials


def revoked_serials(session: Session, province: str | None, as_of: datetime) -> list[bytes]:
    """Serials revoked before as_of whose certificates are still unexpired then (expired need no listing)."""
    query = select(DeviceCertificateRecord.serial).where(
        DeviceCertificateRecord.status == CertificateStatus.REVOKED,
        DeviceCertificateRecord.revoked_at < as_of,
        DeviceCertificateRecord.not_after > as_of,
    )
    if province is not None:
        query = query.where(DeviceCertificateRecord.province == province)
    return list(session.execute(query).scalars())


def record_acceptance(session: Session, row: dict[str, object]) -> bool:
    """Insert the first sighting of (province, serial, counter); False when it was already there."""
    return insert_ignoring_conflicts(session, OfflineAcceptanceRecord.__table__, [row]) == 1


def acceptance(
    session: Session, province: str, serial: bytes, counter: int
) -> OfflineAcceptanceRecord | None:
    return session.get(OfflineAcceptanceRecord, (province, serial, counter))
