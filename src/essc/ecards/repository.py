"""All SQL of e-cards, issuances, passwords and busiSeq tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import String, and_, bindparam, delete, select, update

from essc.authorisations.repository import Standing, standing_columns, standing_of
from essc.cardholders.models import Card, Person
from essc.core.db import Session, affected_rows, insert_ignoring_conflicts, table_of
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


def issuance_in_channel(
    session: Session, province: str, ecard_id: str, channel_id: str, *, lock: bool = False
) -> Issuance | None:
    stmt = select(Issuance).where(
        Issuance.province == province, Issuance.ecard_id == ecard_id, Issuance.channel_id == channel_id
    )
    if lock:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalar_one_or_none()


def add_ecard_unless_held(session: Session, values: dict[str, Any]) -> bool:
    """Insert the person's e-card unless they already hold one; False when a concurrent issuance won.

    ON CONFLICT DO NOTHING waits for the competing transaction and then skips the row, so the loser reads
    the winner's e-card next instead of failing on uq_ecards_province_person_id.
    """
    return insert_ignoring_conflicts(session, table_of(Ecard), [values]) == 1


def add_issuance_unless_issued(session: Session, values: dict[str, Any]) -> bool:
    """Insert the e-card's issuance in a channel unless it exists; False when a concurrent issuance won."""
    return insert_ignoring_conflicts(session, table_of(Issuance), [values]) == 1


def add_first_password(session: Session, values: dict[str, Any]) -> bool:
    """Insert the e-card's first password; False when one is set already (a concurrent request was first)."""
    return insert_ignoring_conflicts(session, table_of(EcardPassword), [values]) == 1


class SignedEcard(NamedTuple):
    """What a channel's signNo names (issuance, e-card, person, card) and the channel's standing there."""

    issuance: Issuance
    ecard: Ecard
    person: Person
    card: Card
    standing: Standing


_SIGN_NO = bindparam("sign_no", type_=String)
_CHANNEL = bindparam("channel_id", type_=String)
_FUNCTION = bindparam("function", type_=String)
# Built once: every channel request on a signNo asks it. Issuance by the unique signNo, the e-card, person and
# card by their primary keys, and the standing as scalar subqueries correlated to the issuance's province.
_SIGNED_ECARD = (
    select(Issuance, Ecard, Person, Card, *standing_columns(_CHANNEL, _FUNCTION, Issuance.province))
    .join(Ecard, and_(Ecard.province == Issuance.province, Ecard.id == Issuance.ecard_id))
    .join(Person, and_(Person.province == Ecard.province, Person.id == Ecard.person_id))
    .join(Card, and_(Card.province == Ecard.province, Card.id == Ecard.card_id))
    .where(Issuance.sign_no == _SIGN_NO, Issuance.channel_id == _CHANNEL)
)


def signed_ecard(session: Session, sign_no: str, channel_id: str, function: str | None) -> SignedEcard | None:
    """The rows behind a signNo issued in the channel with its standing for `function`, in one statement.

    None when the signNo is unknown or issued in another channel. The joins are inner: the foreign keys
    guarantee the e-card, person and card of an issuance.
    """
    row = session.execute(
        _SIGNED_ECARD, {"sign_no": sign_no, "channel_id": channel_id, "function": function}
    ).one_or_none()
    if row is None:
        return None
    issuance, ecard, person, card, in_province, nationally, enabled = row
    return SignedEcard(
        issuance, ecard, person, card, standing_of(issuance.province, in_province, nationally, enabled)
    )


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
