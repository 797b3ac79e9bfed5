"""All SQL of e-cards, issuances, passwords and busiSeq tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from essc.core.db import Session, affected_rows
from essc.ecards.models import BusiSeq, Ecard, EcardPassword, Issuance
from essc.shared.tokens import unspent


def ecard_of_person(session: Session, province: str, person_id: str) -> Ecard | None:
    return session.execute(
        select(Ecard).where(Ecard.province == province, Ecard.person_id == person_id)
    ).scalar_one_or_none()


def ecards_of_card(session: Session, province: str, card_id: str) -> list[Ecard]:
    return list(
        session.execute(select(Ecard).where(Ecard.province == province, Ecard.card_id == card_id)).scalars()
    )


def ecard(session: Session, province: str, ecard_id: str) -> Ecard | None:
    return session.get(Ecard, (province, ecard_id))


def issuance_in_channel(session: Session, province: str, ecard_id: str, channel_id: str) -> Issuance | None:
    return session.execute(
        select(Issuance).where(
            Issuance.province == province, Issuance.ecard_id == ecard_id, Issuance.channel_id == channel_id
        )
    ).scalar_one_or_none()


def issuance_by_sign_no(session: Session, sign_no: str) -> Issuance | None:
    return session.execute(select(Issuance).where(Issuance.sign_no == sign_no)).scalar_one_or_none()


def issuances_of_ecard(session: Session, province: str, ecard_id: str) -> list[Issuance]:
    return list(
        session.execute(
            select(Issuance).where(Issuance.province == province, Issuance.ecard_id == ecard_id)
        ).scalars()
    )


def password(session: Session, province: str, ecard_id: str, lock: bool = False) -> EcardPassword | None:
    stmt = select(EcardPassword).where(EcardPassword.province == province, EcardPassword.ecard_id == ecard_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def consume_busi_seq(session: Session, token_digest: bytes, now: datetime) -> BusiSeq | None:
    """Mark an unexpired, unused busiSeq used in one statement, so two requests cannot both consume it."""
    result = session.execute(
        update(BusiSeq)
        .where(BusiSeq.token_digest == token_digest, unspent(BusiSeq.used_at, BusiSeq.expires_at, now))
        .values(used_at=now)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return session.execute(
        select(BusiSeq).where(BusiSeq.token_digest == token_digest).execution_options(populate_existing=True)
    ).scalar_one()


def purge_busi_seqs(session: Session, before: datetime) -> int:
    """Delete busiSeqs that expired before `before`; they can never be spent again."""
    return affected_rows(session.execute(delete(BusiSeq).where(BusiSeq.expires_at < before)))
