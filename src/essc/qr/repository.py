"""All SQL of online codes and card usages."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, TypeVarTuple

from sqlalchemy import (
    LABEL_STYLE_TABLENAME_PLUS_COL,
    Select,
    String,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    insert,
    literal,
    not_,
    select,
    true,
    update,
)

from essc.access.repository import session_holds_sql
from essc.audit.repository import entries_insert, entry_select, stamp_params
from essc.cardholders.models import Card, Person
from essc.core.auditing import AuditStamp
from essc.core.db import HotStatement, Session, UtcDateTime, affected_rows, table_of
from essc.ecards.models import Ecard, Issuance
from essc.ecards.repository import statuses_usable_sql
from essc.kit.ids import new_ids
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
from essc.terminals.schemas import Disclosure

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
    # True when the spend wrote the use and its audit entries itself (PostgreSQL: UseRecords)
    recorded: bool = False


ONLINE_CODE_METHOD = "online_code"


class UseRecords(NamedTuple):
    """What the statement spending a code writes beside it on PostgreSQL, under these ids and this stamp.

    A usable e-card: the card_usages row, the clear read's audit entry (a clear grant) and `ecard.used`;
    an unusable one: `qr.refused`. Each the row service.record_use and UnitOfWork.audit would write.
    """

    stamp: AuditStamp
    usage_id: str
    clear_read_entry_id: str
    used_entry_id: str
    refused_entry_id: str

    @classmethod
    def fresh(cls, stamp: AuditStamp) -> UseRecords:
        usage_id, clear_read_entry_id, used_entry_id, refused_entry_id = new_ids(4)  # one draw of randomness
        return cls(stamp, usage_id, clear_read_entry_id, used_entry_id, refused_entry_id)

    def params(self) -> dict[str, Any]:
        return {
            **stamp_params(self.stamp),
            "usage_id": self.usage_id,
            "clear_read_entry_id": self.clear_read_entry_id,
            "used_entry_id": self.used_entry_id,
            "refused_entry_id": self.refused_entry_id,
        }


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


def _spent_code(channel_id: str, row: Sequence[Any], *, recorded: bool = False) -> SpentCode:
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
        recorded,
    )


class Spending(NamedTuple):
    """What spending a code found: acting terminal, the code's holder, whether the caller's session holds."""

    acting: ActingTerminal | None
    spent: SpentCode | None
    session_holds: bool = True


def spend(
    session: Session,
    token_digest: bytes,
    now: datetime,
    terminal_id: str,
    busi_type: str,
    *,
    records: UseRecords,
    caller_session: str | None = None,
) -> Spending:
    """Spend a live code for a terminal allowed to act for the busiType; read the terminal and the holder.

    The UPDATE alone decides: of many concurrent resolutions exactly one gets a row, and none does for a
    terminal that may not act (its grant is in the UPDATE's WHERE, so a refused terminal cannot burn a code)
    or whose MAC session `caller_session` no longer holds (when given: a session the request's
    authentication did not look up). On PostgreSQL the reads and the records (UseRecords) ride in the same
    statement (data-modifying CTEs): one round trip on the platform's hottest path, atomic without a
    transaction around it. SQLite has no such CTEs: it takes up to four, and the service records the use
    (SpentCode.recorded is False).
    """
    params = {
        "digest": token_digest,
        "now": now,
        "terminal": terminal_id,
        "busi_type": busi_type,
        "session": caller_session,
    }
    if session.get_bind().dialect.name == "postgresql":
        rows = _SPEND_AND_RECORD.execute(session, {**params, **records.params()}).rows
        if not rows:
            return Spending(None, None)
        row = rows[0]
        holder, session_holds = row[len(ACTING_TERMINAL_COLUMNS) : -1], bool(row[-1])
        if holder[0] is None:
            return Spending(acting_terminal_of(row), None, session_holds)
        return Spending(acting_terminal_of(row), _spent_code(holder[-1], holder, recorded=True))
    if caller_session is not None and not _SESSION_HOLDS.execute(session, params).rows[0][0]:
        return Spending(None, None, session_holds=False)
    code_rows = _CONSUME.execute(session, params).rows
    acting = terminal_with_grant(session, terminal_id, busi_type)
    if not code_rows:
        return Spending(acting, None)
    province, issuance_id, channel_id = code_rows[0]
    holder_row = _HOLDER.execute(session, {"province": province, "issuance": issuance_id}).rows[0]
    return Spending(acting, _spent_code(channel_id, holder_row))


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
_session_holds = session_holds_sql(
    bindparam("session", type_=String()), bindparam("terminal"), bindparam("now", type_=UtcDateTime())
)
_SESSION_HOLDS = HotStatement(select(_session_holds))
_CONSUME_CODE = (
    update(_codes)
    .where(
        _codes.c.token_digest == bindparam("digest"),
        unspent(_codes.c.used_at, _codes.c.expires_at, bindparam("now")),
        may_act_for(bindparam("terminal"), bindparam("busi_type")),
        _session_holds,
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
# One row whenever the terminal exists: the holder's columns are NULL when no code was spent; the last
# column says whether the caller's session holds.
_SPEND_AND_READ_QUERY = _with_holder(
    acting_terminal_query(*_HOLDER_COLUMNS, _spent.c.channel_id, _session_holds.label("session_holds"))
    .outerjoin(_spent, true())
    .outerjoin(Issuance, (Issuance.province == _spent.c.province) & (Issuance.id == _spent.c.issuance_id))
)


# The same select as a CTE, and what the statement writes from it (UseRecords), each only for its rows.
_resolved = _SPEND_AND_READ_QUERY.set_label_style(LABEL_STYLE_TABLENAME_PLUS_COL).cte("resolved")
_r = _resolved.c
_was_spent = _r.ecards_id.is_not(None)
_usable = and_(_was_spent, statuses_usable_sql(_r.issuances_status, _r.cards_status))
_busi_type = bindparam("busi_type", type_=String())
_usage_id = bindparam("usage_id", type_=String())
_USAGE_COLUMNS = (
    "province",
    "id",
    "ecard_id",
    "channel_id",
    "terminal_id",
    "institution_id",
    "busi_type",
    "method",
    "disclosure",
    "at",
)


def spend_and_record(*, audited: bool = True) -> Select[Any]:
    """`spend`'s statement on PostgreSQL; `audited` False leaves its audit entries out (a benchmark's twin).

    PostgreSQL runs every data-modifying CTE once and to completion, whether or not the SELECT reads it.
    """
    records = [
        insert(table_of(CardUsage))
        .from_select(
            _USAGE_COLUMNS,
            select(
                _r.ecards_province,
                _usage_id,
                _r.ecards_id,
                _r.spent_channel_id,
                _r.terminals_id,
                _r.institutions_id,
                _busi_type,
                literal(ONLINE_CODE_METHOD, String()),
                _r.terminal_grants_disclosure,
                bindparam("now", type_=UtcDateTime()),
            ).where(_usable),
        )
        .cte("usage"),
    ]
    if audited:
        # One INSERT of whichever entries apply (entries_insert), each only for its rows.
        records.append(
            entries_insert(
                entry_select(
                    select()
                    .select_from(_resolved)
                    .where(_usable, _r.terminal_grants_disclosure == Disclosure.CLEAR.value),
                    id_param="clear_read_entry_id",
                    action="person.clear_read",
                    subject_kind="person",
                    subject_id=_r.persons_id,
                    province=_r.persons_province,
                    details={"purpose": literal("qr_resolution:", Text()).concat(cast(_busi_type, Text()))},
                ),
                entry_select(
                    select().select_from(_resolved).where(_usable),
                    id_param="used_entry_id",
                    action="ecard.used",
                    subject_kind="ecard",
                    subject_id=_r.ecards_id,
                    province=_r.ecards_province,
                    details={
                        "terminal": _r.terminals_terminal_no,
                        "institution": _r.institutions_code,
                        "busi_type": _busi_type,
                        "method": ONLINE_CODE_METHOD,
                        "disclosure": _r.terminal_grants_disclosure,
                        "usage": _usage_id,
                    },
                ),
                entry_select(
                    select().select_from(_resolved).where(_was_spent, not_(_usable)),
                    id_param="refused_entry_id",
                    action="qr.refused",
                    subject_kind="ecard",
                    subject_id=_r.ecards_id,
                    province=_r.ecards_province,
                    details={
                        "terminal": _r.terminals_terminal_no,
                        "busi_type": _busi_type,
                        "card_status": _r.cards_status,
                        "issuance_status": _r.issuances_status,
                    },
                ),
            ).cte("audited")
        )
    return select(*_resolved.c).add_cte(*records)


_SPEND_AND_RECORD = HotStatement(spend_and_record())


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
