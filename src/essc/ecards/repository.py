"""All SQL of e-cards, issuances, passwords and busiSeq tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, String, and_, bindparam, delete, insert, select, update

from essc.authorisations.repository import Standing, standing_columns, standing_of
from essc.cardholders.lifecycle import CardStatus
from essc.cardholders.models import Card, Person
from essc.channels.models import Channel
from essc.core.db import (
    HotStatement,
    Session,
    UtcDateTime,
    affected_rows,
    insert_ignoring_conflicts,
    table_of,
    unattached_of,
)
from essc.ecards.models import BusiSeq, Ecard, EcardPassword, Issuance, IssuanceStatus
from essc.shared.tokens import unspent


def statuses_usable_sql(
    issuance_status: ColumnElement[str], card_status: ColumnElement[str]
) -> ColumnElement[bool]:
    """SQL of essc.ecards.service.statuses_usable, for a write that only a usable e-card may make."""
    return and_(issuance_status == IssuanceStatus.ACTIVE.value, card_status == CardStatus.NORMAL.value)


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


_CALLER = bindparam("caller_id", type_=String)


class SeenEcard(NamedTuple):
    """The columns of what a channel's signNo names that its view of the e-card shows, and the rows' ids."""

    province: str
    sign_no: str
    sign_level: int
    issuance_status: str
    issued_at: datetime
    card_status: str
    aab301: str
    aaz500: str
    aac002_masked: str
    aac003_masked: str
    issuance_id: str
    ecard_id: str


class CallersEcard(NamedTuple):
    """The channel of a calling party, what its signNo names there (None: not issued in it), its standing."""

    channel: Channel
    seen: SeenEcard | None
    standing: Standing


# A request on a signNo by a channel acting for itself (a GET, the commonest channel request; a login's
# scan, busiSeq and confirm): the channel, the columns its view shows, the rows' ids and its standing in the
# holder's province, in one round trip on the driver's prepared statement. Outer joins: a channel with no
# such signNo still comes back, so that refusal costs no second statement either.
_CALLERS_ECARD = HotStatement(
    select(
        Channel.id,
        Channel.channel_no,
        Channel.status,
        Channel.status_reason,
        Issuance.province,
        Issuance.sign_no,
        Issuance.sign_level,
        Issuance.status,
        Issuance.issued_at,
        Card.status,
        Card.aab301,
        Card.aaz500,
        Person.aac002_masked,
        Person.aac003_masked,
        Issuance.id,
        Issuance.ecard_id,
        *standing_columns(Channel.id, _FUNCTION, Issuance.province),
    )
    .outerjoin(Issuance, and_(Issuance.channel_id == Channel.id, Issuance.sign_no == _SIGN_NO))
    .outerjoin(Ecard, and_(Ecard.province == Issuance.province, Ecard.id == Issuance.ecard_id))
    .outerjoin(Person, and_(Person.province == Ecard.province, Person.id == Ecard.person_id))
    .outerjoin(Card, and_(Card.province == Ecard.province, Card.id == Ecard.card_id))
    .where(Channel.caller_id == _CALLER)
)


def callers_ecard(
    session: Session, caller_id: str, sign_no: str, function: str | None
) -> CallersEcard | None:
    """What a caller's channel sees of its signNo, in one statement; None if the caller is no channel."""
    rows = _CALLERS_ECARD.execute(
        session, {"caller_id": caller_id, "sign_no": sign_no, "function": function}
    ).rows
    if not rows:
        return None
    row = rows[0]
    channel_id, channel_no, status, status_reason = row[:4]
    # The channel as the rule reads it (status and number), not attached to the session.
    channel = unattached_of(
        Channel,
        {"id": channel_id, "channel_no": channel_no, "status": status, "status_reason": status_reason},
    )
    seen = SeenEcard(*row[4:16])
    if seen.sign_no is None:
        return CallersEcard(channel, None, standing_of("", None, None, None))
    return CallersEcard(channel, seen, standing_of(seen.province, *row[16:19]))


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


_busi_seqs = table_of(BusiSeq)
_ADD_BUSI_SEQ = HotStatement(insert(_busi_seqs), columns_from_params=True)


def add_busi_seq(session: Session, values: dict[str, Any]) -> None:
    """Insert a fresh busiSeq (every column named: no ORM defaults are applied)."""
    _ADD_BUSI_SEQ.execute(session, values)


class SpentBusiSeq(NamedTuple):
    """Whom and what a busiSeq spent just now was issued for."""

    province: str
    ecard_id: str
    channel_id: str
    purpose: str


_NOW = bindparam("now", type_=UtcDateTime())
# Built once, in Core and run on the driver: every login, credential and certification spends one. The
# UPDATE hands back what the caller checks, so spending and reading are one statement.
_SPEND_BUSI_SEQ = HotStatement(
    update(_busi_seqs)
    .where(
        _busi_seqs.c.token_digest == bindparam("digest"),
        unspent(_busi_seqs.c.used_at, _busi_seqs.c.expires_at, _NOW),
    )
    .values(used_at=_NOW)
    .returning(_busi_seqs.c.province, _busi_seqs.c.ecard_id, _busi_seqs.c.channel_id, _busi_seqs.c.purpose)
)


def consume_busi_seq(session: Session, token_digest: bytes, now: datetime) -> SpentBusiSeq | None:
    """Mark an unexpired, unused busiSeq used in one statement, so two requests cannot both consume it."""
    rows = _SPEND_BUSI_SEQ.execute(session, {"digest": token_digest, "now": now}).rows
    return SpentBusiSeq(*rows[0]) if rows else None


def purge_busi_seqs(session: Session, before: datetime) -> int:
    """Delete busiSeqs that expired before `before`; they can never be spent again."""
    return affected_rows(session.execute(delete(BusiSeq).where(BusiSeq.expires_at < before)))
