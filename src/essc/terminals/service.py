"""Rules of institutions and terminals: registration, grants bounded by kind, suspension at once."""

from __future__ import annotations

from typing import Protocol

from essc.access import service as access
from essc.access.models import CallerStatus
from essc.core.uow import UnitOfWork
from essc.kit.ids import new_id
from essc.terminals import repository
from essc.terminals.errors import (
    BusiTypeNotGranted,
    DisclosureNotAllowed,
    DuplicateInstitution,
    DuplicateTerminal,
    InstitutionNotFound,
    InstitutionSuspended,
    TerminalNotFound,
    TerminalSuspended,
)
from essc.terminals.models import Institution, Terminal, TerminalGrant
from essc.terminals.repository import ActingTerminal
from essc.terminals.schemas import (
    DISCLOSURE_RANK,
    MAX_DISCLOSURE,
    BusiType,
    Disclosure,
    Grant,
    InstitutionIn,
    InstitutionKind,
    InstitutionOut,
    PartyStatus,
    TerminalIn,
    TerminalKind,
    TerminalOut,
)


def register_institution(uow: UnitOfWork, province: str, request: InstitutionIn) -> InstitutionOut:
    """Register an accepting institution in a province."""
    if repository.institution_by_code(uow.session, province, request.code) is not None:
        raise DuplicateInstitution(f"institution {request.code} is already registered in province {province}")
    now = uow.clock.now()
    institution = Institution(
        id=new_id(),
        province=province,
        code=request.code,
        name=request.name,
        kind=request.kind.value,
        status=PartyStatus.ACTIVE.value,
        webhook_url=request.webhook_url,
        created_at=now,
        status_changed_at=now,
    )
    uow.session.add(institution)
    uow.session.flush()
    uow.audit(
        "institution.registered",
        "institution",
        institution.id,
        province,
        code=request.code,
        kind=request.kind,
    )
    return institution_view(institution)


def institution_view(institution: Institution) -> InstitutionOut:
    return InstitutionOut(
        code=institution.code,
        province=institution.province,
        name=institution.name,
        kind=InstitutionKind(institution.kind),
        status=PartyStatus(institution.status),
        created_at=institution.created_at,
    )


def institution(uow: UnitOfWork, province: str, code: str) -> Institution:
    found = repository.institution_by_code(uow.session, province, code)
    if found is None:
        raise InstitutionNotFound(f"province {province} has no institution {code}", field="code")
    return found


def register_terminal(uow: UnitOfWork, province: str, code: str, request: TerminalIn) -> TerminalOut:
    """Register a terminal of an institution with its first public key and its grants."""
    owner = institution(uow, province, code)
    if repository.terminal_by_number(uow.session, request.terminal_no) is not None:
        raise DuplicateTerminal(f"terminal {request.terminal_no} is already registered")
    _check_grants(owner, request.grants)
    caller = access.register_caller(
        uow, "terminal", request.terminal_no, f"{owner.name} {request.terminal_no}"
    )
    access.add_key(uow, caller, request.key_id, request.public_key.encode())
    terminal = Terminal(
        id=caller.id,
        province=province,
        institution_id=owner.id,
        terminal_no=request.terminal_no,
        device_serial=request.device_serial,
        kind=request.kind.value,
        caller_id=caller.id,
        status=PartyStatus.ACTIVE.value,
        created_at=uow.clock.now(),
    )
    uow.session.add(terminal)
    uow.session.flush()
    _store_grants(uow, terminal, request.grants)
    uow.audit(
        "terminal.registered",
        "terminal",
        terminal.id,
        province,
        terminal_no=request.terminal_no,
        institution=code,
        grants={g.busi_type.value: g.disclosure.value for g in request.grants},
    )
    return terminal_view(uow, terminal, owner)


def _check_grants(owner: Institution, grants: list[Grant]) -> None:
    ceiling = MAX_DISCLOSURE[InstitutionKind(owner.kind)]
    seen: set[BusiType] = set()
    for grant in grants:
        if grant.busi_type in seen:
            raise DisclosureNotAllowed(f"busiType {grant.busi_type.value} is granted twice", field="grants")
        seen.add(grant.busi_type)
        if DISCLOSURE_RANK[grant.disclosure] > DISCLOSURE_RANK[ceiling]:
            raise DisclosureNotAllowed(
                f"a {owner.kind} institution may receive at most '{ceiling.value}', "
                f"not '{grant.disclosure.value}' (busiType {grant.busi_type.value})",
                field="grants",
            )


def _store_grants(uow: UnitOfWork, terminal: Terminal, grants: list[Grant]) -> None:
    now = uow.clock.now()
    for grant in grants:
        uow.session.add(
            TerminalGrant(
                terminal_id=terminal.id,
                busi_type=grant.busi_type.value,
                disclosure=grant.disclosure.value,
                granted_at=now,
            )
        )
    uow.session.flush()


def set_grants(uow: UnitOfWork, province: str, terminal_no: str, grants: list[Grant]) -> TerminalOut:
    """Replace a terminal's grants; the next resolution sees the new set."""
    terminal, owner = _terminal_in(uow, province, terminal_no)
    _check_grants(owner, grants)
    repository.clear_grants(uow.session, terminal.id)
    _store_grants(uow, terminal, grants)
    uow.audit(
        "terminal.grants_set",
        "terminal",
        terminal.id,
        province,
        grants={g.busi_type.value: g.disclosure.value for g in grants},
    )
    return terminal_view(uow, terminal, owner)


def _terminal_in(uow: UnitOfWork, province: str, terminal_no: str) -> tuple[Terminal, Institution]:
    terminal = repository.terminal_by_number(uow.session, terminal_no)
    found = repository.terminal_with_institution(uow.session, terminal.id) if terminal else None
    if found is None or found[0].province != province:
        raise TerminalNotFound(f"province {province} has no terminal {terminal_no}", field="terminalNo")
    return found


def terminal_view(uow: UnitOfWork, terminal: Terminal, owner: Institution) -> TerminalOut:
    return TerminalOut(
        terminal_no=terminal.terminal_no,
        institution=owner.code,
        province=terminal.province,
        kind=TerminalKind(terminal.kind),
        status=PartyStatus(terminal.status),
        grants=[
            Grant(busi_type=BusiType(g.busi_type), disclosure=Disclosure(g.disclosure))
            for g in repository.grants_of(uow.session, terminal.id)
        ],
    )


def describe_terminal(uow: UnitOfWork, province: str, terminal_no: str) -> TerminalOut:
    terminal, owner = _terminal_in(uow, province, terminal_no)
    return terminal_view(uow, terminal, owner)


def set_institution_status(
    uow: UnitOfWork, province: str, code: str, status: PartyStatus, reason: str
) -> None:
    """Suspend or reactivate an institution; its terminals stop or resume on their next request."""
    found = institution(uow, province, code)
    previous, found.status, found.status_changed_at = found.status, status.value, uow.clock.now()
    uow.session.flush()
    uow.audit(
        "institution.status_changed",
        "institution",
        found.id,
        province,
        previous=previous,
        status=status.value,
        reason=reason,
    )


def set_terminal_status(
    uow: UnitOfWork, province: str, terminal_no: str, status: PartyStatus, reason: str
) -> None:
    """Suspend or reactivate one terminal; its signatures and sessions stop on the next request."""
    terminal, _owner = _terminal_in(uow, province, terminal_no)
    previous, terminal.status = terminal.status, status.value
    access.set_caller_status(uow, "terminal", terminal_no, CallerStatus(status.value))
    uow.audit(
        "terminal.status_changed",
        "terminal",
        terminal.id,
        province,
        previous=previous,
        status=status.value,
        reason=reason,
    )


def acting_terminal(uow: UnitOfWork, caller_id: str) -> tuple[Terminal, Institution]:
    """The terminal behind an authenticated caller, refused if it or its institution is suspended now."""
    found = repository.terminal_with_institution(uow.session, caller_id)
    if found is None:
        raise TerminalNotFound("the authenticated caller is not a registered terminal")
    terminal, owner = found
    _ensure_active(terminal, owner)
    return terminal, owner


def ensure_acting(found: ActingTerminal | None, busi_type: BusiType) -> tuple[ActingTerminal, Disclosure]:
    """The terminal may act for the busiType (repository.may_act_for is the same rule in SQL), or why not."""
    if found is None:
        raise TerminalNotFound("the authenticated caller is not a registered terminal")
    _ensure_active(found.terminal, found.institution)
    if found.disclosure is None:
        raise _not_granted(found.terminal, busi_type)
    return found, Disclosure(found.disclosure)


class TerminalParty(Protocol):
    """A terminal as the rules see it: a row of the table or the state read with a resolution."""

    @property
    def id(self) -> str: ...
    @property
    def terminal_no(self) -> str: ...
    @property
    def status(self) -> str: ...


class InstitutionParty(Protocol):
    """An institution as the rules see it."""

    @property
    def id(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def status(self) -> str: ...


def _ensure_active(terminal: TerminalParty, owner: InstitutionParty) -> None:
    if owner.status != PartyStatus.ACTIVE:
        raise InstitutionSuspended(f"institution {owner.code} is {owner.status}")
    if terminal.status != PartyStatus.ACTIVE:
        raise TerminalSuspended(f"terminal {terminal.terminal_no} is {terminal.status}")


def granted_disclosure(uow: UnitOfWork, terminal: Terminal, busi_type: BusiType) -> Disclosure:
    """What the terminal may learn for this busiType; BusiTypeNotGranted when nothing."""
    found = repository.grant(uow.session, terminal.id, busi_type.value)
    if found is None:
        raise _not_granted(terminal, busi_type)
    return Disclosure(found.disclosure)


def _not_granted(terminal: TerminalParty, busi_type: BusiType) -> BusiTypeNotGranted:
    return BusiTypeNotGranted(
        f"terminal {terminal.terminal_no} is not authorised for busiType {busi_type.value}",
        field="busiType",
    )
