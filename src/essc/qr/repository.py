"""All SQL of online codes and card usages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVarTuple

from sqlalchemy import Select, bindparam, delete, insert, select, true, update

from essc.cardholders.models import Card, Person
from essc.core.db import HotStatement, Session, affected_rows, table_of
from essc.ecards.models import Ecard, Issuance
from essc.qr.models import CardUsage, OnlineCode
from essc.shared.tokens import unspent
from essc.terminals.models import Institution, Terminal
from essc.terminals.repository import (
    ACTING_TERMINAL_COLUMNS,
    ActingTerminal,
    acting_terminal_of,
    acting_terminal_query,
    may_act_for,
    terminal_with_grant,
)

_Row = TypeVarTuple("_Row")


class HolderPerson(NamedTuple):
    """The person behind a spent code: masked fields, and the encrypted ones for a clear grant."""

    province: str
    id: str
    aac002_masked: str
    aac003_masked: str
    aac002_cipher: bytes
    aac003_cipher: bytes
    aac067_cipher: bytes | None


class SpentCode(NamedTuple):
    """A code just spent, with the holder behind it as of this moment."""

    channel_id: str
    province: str
    ecard_id: str
    issuance_status: str
    sign_level: int
    card_status: str
    aab301: str
    person: HolderPerson


_HOLDER_COLUMNS = (
    Ecard.province,
    Ecard.id,
    Issuance.status,
    Issuance.sign_level,
    Card.status,
    Card.aab301,
    Person.province,
    Person.id,
    Person.aac002_masked,
    Person.aac003_masked,
    Person.aac002_cipher,
    Person.aac003_cipher,
    Person.aac067_cipher,
)


def _spent_code(channel_id: str, row: Sequence[Any]) -> SpentCode:
    """A SpentCode from the channel and the _HOLDER_COLUMNS of a row."""
    province, ecard_id, issuance_status, sign_level, card_status, aab301 = row[:6]
    return SpentCode(
        channel_id,
        province,
        ecard_id,
        issuance_status,
        sign_level,
        card_status,
        aab301,
        HolderPerson(*row[6:13]),
    )


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
        rows = _SPEND_AND_READ.execute(session, params).rows
        if not rows:
            return None, None
        row = rows[0]
        holder = row[len(ACTING_TERMINAL_COLUMNS) :]
        return acting_terminal_of(row), None if holder[0] is None else _spent_code(holder[-1], holder)
    code_rows = _CONSUME.execute(session, params).rows
    acting = terminal_with_grant(session, terminal_id, busi_type)
    if not code_rows:
        return acting, None
    province, issuance_id, channel_id = code_rows[0]
    holder_row = _HOLDER.execute(session, {"province": province, "issuance": issuance_id}).rows[0]
    return acting, _spent_code(channel_id, holder_row)


def _with_holder(query: Select[*_Row]) -> Select[*_Row]:
    """Join the e-card, person and current card of the selected issuance, on primary keys.

    Outer joins: every issuance has all three, and a select without an issuance (no code spent) keeps its row.
    """
    return (
        query.outerjoin(Ecard, (Ecard.province == Issuance.province) & (Ecard.id == Issuance.ecard_id))
        .outerjoin(Person, (Person.province == Ecard.province) & (Person.id == Ecard.person_id))
        .outerjoin(Card, (Card.province == Ecard.province) & (Card.id == Ecard.card_id))
    )


# Built once, in Core and run on the driver: on every resolution, building them costs more than running.
_codes = table_of(OnlineCode)
_CONSUME_CODE = (
    update(_codes)
    .where(
        _codes.c.token_digest == bindparam("digest"),
        unspent(_codes.c.used_at, _codes.c.expires_at, bindparam("now")),
        may_act_for(bindparam("terminal"), bindparam("busi_type")),
    )
    .values(used_at=bindparam("now"), used_by=bindparam("terminal"))
    .returning(_codes.c.province, _codes.c.issuance_id, _codes.c.channel_id)
)
_CONSUME = HotStatement(_CONSUME_CODE)
_HOLDER = HotStatement(
    _with_holder(
        select(*_HOLDER_COLUMNS)
        .select_from(Issuance)
        .where(Issuance.province == bindparam("province"), Issuance.id == bindparam("issuance"))
    )
)
_INSERT_USAGE = HotStatement(insert(table_of(CardUsage)), columns_from_params=True)
_spent = _CONSUME_CODE.cte("spent")
# One row whenever the terminal exists: the holder's columns are NULL when no code was spent.
_SPEND_AND_READ = HotStatement(
    _with_holder(
        acting_terminal_query(*_HOLDER_COLUMNS, _spent.c.channel_id)
        .outerjoin(_spent, true())
        .outerjoin(Issuance, (Issuance.province == _spent.c.province) & (Issuance.id == _spent.c.issuance_id))
    )
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
