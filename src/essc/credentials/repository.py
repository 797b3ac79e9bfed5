"""All SQL of credentials and their status lists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from essc.core.db import Session, affected_rows, insert_ignoring_conflicts
from essc.credentials.models import CredentialRecord, CredentialStatus, CredentialStatusList
from essc.offline.models import CertificateStatus, DeviceCertificateRecord


def newest_list(session: Session, province: str) -> CredentialStatusList | None:
    """The status list new credentials of the province draw their indexes from (the highest number)."""
    query = (
        select(CredentialStatusList)
        .where(CredentialStatusList.province == province)
        .order_by(CredentialStatusList.list_no.desc())
        .limit(1)
    )
    return session.execute(query).scalars().first()


def status_list(session: Session, province: str, list_no: int) -> CredentialStatusList | None:
    return session.get(CredentialStatusList, (province, list_no))


def open_list(session: Session, row: dict[str, object]) -> None:
    """Create a status list unless a concurrent issuance created the same one first (both then use it)."""
    insert_ignoring_conflicts(session, CredentialStatusList.__table__, [row])


def add_unless_index_taken(session: Session, row: dict[str, object]) -> bool:
    """Insert a credential at its drawn index; False when another credential holds that index."""
    return insert_ignoring_conflicts(session, CredentialRecord.__table__, [row]) == 1


def listed_statuses(session: Session, province: str, list_no: int, now: datetime) -> dict[int, str]:
    """Index -> status of the list's unexpired credentials that are not valid (valid is every other entry)."""
    query = select(CredentialRecord.idx, CredentialRecord.status).where(
        CredentialRecord.province == province,
        CredentialRecord.list_no == list_no,
        CredentialRecord.status != CredentialStatus.VALID,
        CredentialRecord.expires_at > now,
    )
    return {int(idx): str(status) for idx, status in session.execute(query)}


def live_device(
    session: Session, province: str, issuance_id: str, now: datetime
) -> DeviceCertificateRecord | None:
    """The newest unrevoked, unexpired device certificate enrolled for the issuance (its key goes in cnf)."""
    query = (
        select(DeviceCertificateRecord)
        .where(
            DeviceCertificateRecord.province == province,
            DeviceCertificateRecord.issuance_id == issuance_id,
            DeviceCertificateRecord.status == CertificateStatus.ACTIVE,
            DeviceCertificateRecord.not_after > now,
        )
        .order_by(DeviceCertificateRecord.not_before.desc())
        .limit(1)
    )
    return session.execute(query).scalars().first()


def set_status_of_card(
    session: Session, province: str, card_id: str, status: CredentialStatus, now: datetime
) -> int:
    """Move the card's unexpired credentials that are not final (invalid) to status; how many moved."""
    result = session.execute(
        update(CredentialRecord)
        .where(
            CredentialRecord.province == province,
            CredentialRecord.card_id == card_id,
            CredentialRecord.status != CredentialStatus.INVALID,
            CredentialRecord.status != status,
            CredentialRecord.expires_at > now,
        )
        .values(status=status, status_changed_at=now)
        .execution_options(synchronize_session=False)
    )
    return affected_rows(result)


def invalidate_of_issuance(session: Session, province: str, issuance_id: str, now: datetime) -> int:
    """Make the issuance's unexpired credentials invalid (the e-card was unlinked from that channel)."""
    result = session.execute(
        update(CredentialRecord)
        .where(
            CredentialRecord.province == province,
            CredentialRecord.issuance_id == issuance_id,
            CredentialRecord.status != CredentialStatus.INVALID,
            CredentialRecord.expires_at > now,
        )
        .values(status=CredentialStatus.INVALID, status_changed_at=now)
        .execution_options(synchronize_session=False)
    )
    return affected_rows(result)


def credential(session: Session, province: str, credential_id: str) -> CredentialRecord | None:
    return session.get(CredentialRecord, (province, credential_id))
