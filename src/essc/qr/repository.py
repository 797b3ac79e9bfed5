"""All SQL of online codes and card usages."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple, TypeVarTuple

from sqlalchemy import Select, bindparam, delete, insert, select, true, update

from essc.cardholders.models import Card, Person
from essc.core.db import HotStatement, Session, affected_rows, table_of
from essc.ecards.models import Ecard, Issuance
from essc.qr.models import CardUsage, OnlineCode
from essc.terminals.models import Institution, Terminal, TerminalGrant
from essc.terminals.repository import may_act_for, terminal_with_grant

_Row = TypeVarTuple("_Row")


class SpentCode(NamedTuple):
    """A code just spent, with the holder behind it as of this moment."""

    channel_id: str
    issuance: Issuance
    ecard: Ecard
    person: Person
    card: Card


ActingTerminal = tuple[Terminal, Institution, str | None]  # the terminal, its institution, its disclosure


def spend(
    session: Session, token_digest: bytes, now: datetime, terminal_id: str, busi_type: str
) -> tuple[ActingTerminal | None, SpentCode | None]:
    """Spend a live code for a terminal allowed to act for the busiType; read the terminal and the holder.

    The UPDATE alone decides: of many concurrent resolutions exactly one gets a row, and none does for a
    terminal that may not act (its grant is in the UPDATE's WHERE, so a refused terminal cannot burn a code).
    On PostgreSQL the reads ride in the same statement (a data-modifying CTE), one round trip on the
    platform's hottest path; SQLite has no such CTEs and takes three.
    """
    params = {"digest": token_digest, "now": now, "terminal": terminal_id, "busi_type": busi_type}
    if session.get_bind().dialect.name == "postgresql":
        row = session.execute(_SPEND_AND_READ, params).one_or_none()
        if row is None:
            return None, None
        terminal: ActingTerminal = (row[0], row[1], row[2])
        if row[3] is None:
            return terminal, None
        return terminal, SpentCode(row[7], row[3], row[4], row[5], row[6])
    code_row = session.execute(_CONSUME, params).one_or_none()
    acting = terminal_with_grant(session, terminal_id, busi_type)
    if code_row is None:
        return acting, None
    province, issuance_id, channel_id = code_row
    query = select(Issuance, Ecard, Person, Card).where(
        Issuance.province == province, Issuance.id == issuance_id
    )
    holder = session.execute(_with_holder(query)).one()
    return acting, SpentCode(channel_id, holder[0], holder[1], holder[2], holder[3])


def _with_holder(query: Select[*_Row], *, outer: bool = False) -> Select[*_Row]:
    """Join the e-card, person and current card of the selected issuance, on primary keys."""
    join = query.outerjoin if outer else query.join
    query = join(Ecard, (Ecard.province == Issuance.province) & (Ecard.id == Issuance.ecard_id))
    join = query.outerjoin if outer else query.join
    query = join(Person, (Person.province == Ecard.province) & (Person.id == Ecard.person_id))
    join = query.outerjoin if outer else query.join
    return join(Card, (Card.province == Ecard.province) & (Card.id == Ecard.card_id))


# Built once, in Core (not the ORM's bulk UPDATE): on every resolution, building them costs more than running.
_codes = table_of(OnlineCode)
_CONSUME = (
    update(_codes)
    .where(
        _codes.c.token_digest == bindparam("digest"),
        _codes.c.used_at.is_(None),
        _codes.c.expires_at > bindparam("now"),
        may_act_for(bindparam("terminal"), bindparam("busi_type")),
    )
    .values(used_at=bindparam("now"), used_by=bindparam("terminal"))
    .returning(_codes.c.province, _codes.c.issuance_id, _codes.c.channel_id)
)
_INSERT_USAGE = HotStatement(insert(table_of(CardUsage)))
_spent = _CONSUME.cte("spent")
# One row whenever the terminal exists: the holder's columns are NULL when no code was spent.
_SPEND_AND_READ = _with_holder(
    select(
        Terminal, Institution, TerminalGrant.disclosure, Issuance, Ecard, Person, Card, _spent.c.channel_id
    )
    .select_from(Terminal)
    .join(Institution, Institution.id == Terminal.institution_id)
    .outerjoin(
        TerminalGrant,
        (TerminalGrant.terminal_id == Terminal.id) & (TerminalGrant.busi_type == bindparam("busi_type")),
    )
    .outerjoin(_spent, true())
    .outerjoin(Issuance, (Issuance.province == _spent.c.province) & (Issuance.id == _spent.c.issuance_id))
    .where(Terminal.id == bindparam("terminal")),
    outer=True,
)


def add_usage(session: Session, usage: dict[str, Any]) -> None:
    """Insert one card use (a Core insert: nothing reads it back in the request)."""
    _INSERT_USAGE.execute(session, usage)


def code(session: Session, token_digest: bytes) -> OnlineCode | None:
    return session.get(OnlineCode, token_digest)


def usages(
    session: Session, province: str, ecard_id: str, before: datetime | None, limit: int
) -> list[tuple[CardUsage, Institution, Terminal]]:
    query = (
        select(CardUsage, Institution, Terminal)
        .join(Institution, Institution.id == CardUsage.institution_id)
        .join(Terminal, Terminal.id == CardUsage.terminal_id)
        .where(CardUsage.province == province, CardUsage.ecard_id == ecard_id)
        .order_by(CardUsage.at.desc(), CardUsage.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(CardUsage.at < before)
    return [(r[0], r[1], r[2]) for r in session.execute(query)]


def purge_codes(session: Session, before: datetime) -> int:
    """Delete codes that expired before `before`; their uses are kept in card_usages."""
    return affected_rows(session.execute(delete(OnlineCode).where(OnlineCode.expires_at < before)))
