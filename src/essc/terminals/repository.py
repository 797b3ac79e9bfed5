"""All SQL of institutions and terminals."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Select, bindparam, delete, exists, select

from essc.core.db import HotStatement, Session
from essc.terminals.models import Institution, Terminal, TerminalGrant
from essc.terminals.schemas import PartyStatus


def institution_by_code(session: Session, province: str, code: str) -> Institution | None:
    return session.execute(
        select(Institution).where(Institution.province == province, Institution.code == code)
    ).scalar_one_or_none()


def terminal_by_number(session: Session, terminal_no: str) -> Terminal | None:
    return session.execute(select(Terminal).where(Terminal.terminal_no == terminal_no)).scalar_one_or_none()


def terminal_with_institution(session: Session, terminal_id: str) -> tuple[Terminal, Institution] | None:
    row = session.execute(
        select(Terminal, Institution)
        .join(Institution, Institution.id == Terminal.institution_id)
        .where(Terminal.id == terminal_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


class TerminalState(NamedTuple):
    """What the rules need of a terminal acting now."""

    id: str
    terminal_no: str
    status: str


class InstitutionState(NamedTuple):
    """What the rules need of the institution behind a terminal acting now."""

    id: str
    code: str
    status: str


class ActingTerminal(NamedTuple):
    """A terminal, its institution and what it may learn for one busiType (None: not granted)."""

    terminal: TerminalState
    institution: InstitutionState
    disclosure: str | None


ACTING_TERMINAL_COLUMNS = (
    Terminal.id,
    Terminal.terminal_no,
    Terminal.status,
    Institution.id,
    Institution.code,
    Institution.status,
    TerminalGrant.disclosure,
)


def acting_terminal_of(row: Sequence[Any]) -> ActingTerminal:
    """The ActingTerminal in the first columns of a row that selected ACTING_TERMINAL_COLUMNS first."""
    return ActingTerminal(
        TerminalState(row[0], row[1], row[2]), InstitutionState(row[3], row[4], row[5]), row[6]
    )


def acting_terminal_query(*more: Any) -> Select[*tuple[Any, ...]]:
    """ACTING_TERMINAL_COLUMNS, then `more`, of the terminal :terminal with its grant for :busi_type."""
    return (
        select(*ACTING_TERMINAL_COLUMNS, *more)
        .select_from(Terminal)
        .join(Institution, Institution.id == Terminal.institution_id)
        .outerjoin(
            TerminalGrant,
            (TerminalGrant.terminal_id == Terminal.id) & (TerminalGrant.busi_type == bindparam("busi_type")),
        )
        .where(Terminal.id == bindparam("terminal"))
    )


# Built once and run on the driver: it runs on every resolution.
_TERMINAL_WITH_GRANT = HotStatement(acting_terminal_query())


def terminal_with_grant(session: Session, terminal_id: str, busi_type: str) -> ActingTerminal | None:
    """The terminal, its institution and its disclosure for one busiType (None: not granted), in one query."""
    rows = _TERMINAL_WITH_GRANT.execute(session, {"terminal": terminal_id, "busi_type": busi_type}).rows
    return acting_terminal_of(rows[0]) if rows else None


def may_act_for(terminal_id: ColumnElement[str], busi_type: ColumnElement[str]) -> ColumnElement[bool]:
    """SQL of essc.terminals.service.ensure_acting: terminal and institution active, busiType granted.

    Other domains put it in the WHERE of a write that only an allowed terminal may make (spending a code), so
    the write and the check are one statement; the service re-derives which refusal applies from the rows.
    """
    return exists().where(
        Terminal.id == terminal_id,
        Terminal.status == PartyStatus.ACTIVE.value,
        Institution.id == Terminal.institution_id,
        Institution.status == PartyStatus.ACTIVE.value,
        TerminalGrant.terminal_id == Terminal.id,
        TerminalGrant.busi_type == busi_type,
    )


def grant(session: Session, terminal_id: str, busi_type: str) -> TerminalGrant | None:
    return session.get(TerminalGrant, (terminal_id, busi_type))


def grants_of(session: Session, terminal_id: str) -> list[TerminalGrant]:
    return list(
        session.execute(
            select(TerminalGrant)
            .where(TerminalGrant.terminal_id == terminal_id)
            .order_by(TerminalGrant.busi_type)
        ).scalars()
    )


def clear_grants(session: Session, terminal_id: str) -> None:
    session.execute(delete(TerminalGrant).where(TerminalGrant.terminal_id == terminal_id))
