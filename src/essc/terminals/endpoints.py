"""HTTP of institutions and terminals, for the province that owns them."""

from __future__ import annotations

from fastapi import status

from essc.access.errors import DuplicateCaller, PublicKeyInUse
from essc.core.deps import ProvinceUoW, requires
from essc.core.routing import api_router
from essc.kit.errors import InvalidInput, MalformedKey, NotFound
from essc.shared.policy import Party
from essc.shared.provinces import WrongProvince, ensure_same_province
from essc.terminals import service
from essc.terminals.errors import (
    DisclosureNotAllowed,
    DuplicateInstitution,
    DuplicateTerminal,
    InstitutionNotFound,
    TerminalNotFound,
)
from essc.terminals.schemas import Grant, InstitutionIn, InstitutionOut, StatusChange, TerminalIn, TerminalOut

router = api_router(prefix="/v1/provinces", tags=["terminals"])


def _own(uow: ProvinceUoW, province: str) -> None:
    ensure_same_province(uow.context.actor.province or "", province)


@router.post(
    "/{province}/institutions",
    response_model=InstitutionOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                WrongProvince,
                InstitutionNotFound,
                DuplicateInstitution,
            ),
        )
    ],
)
async def register_institution(province: str, body: InstitutionIn, uow: ProvinceUoW) -> InstitutionOut:
    """Register an accepting institution (受理机构) of this province."""
    _own(uow, province)
    return await uow.run(service.register_institution, province, body)


@router.put(
    "/{province}/institutions/{code}/status",
    response_model=InstitutionOut,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                WrongProvince,
                InstitutionNotFound,
            ),
        )
    ],
)
async def set_institution_status(
    province: str, code: str, body: StatusChange, uow: ProvinceUoW
) -> InstitutionOut:
    """Suspend or reactivate an institution; all its terminals follow on their next request."""
    _own(uow, province)
    await uow.run(service.set_institution_status, province, code, body.status, body.reason)
    return service.institution_view(await uow.run(service.institution, province, code))


@router.post(
    "/{province}/institutions/{code}/terminals",
    response_model=TerminalOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                PublicKeyInUse,
                MalformedKey,
                WrongProvince,
                InstitutionNotFound,
                DuplicateCaller,
                DuplicateTerminal,
                DisclosureNotAllowed,
                InvalidInput,  # an institution named before display names had a rule
            ),
        )
    ],
)
async def register_terminal(province: str, code: str, body: TerminalIn, uow: ProvinceUoW) -> TerminalOut:
    """Register a terminal of an institution with its public key and busiType grants."""
    _own(uow, province)
    return await uow.run(service.register_terminal, province, code, body)


@router.get(
    "/{province}/terminals/{terminal_no}",
    response_model=TerminalOut,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                WrongProvince,
                TerminalNotFound,
            ),
        )
    ],
)
async def describe_terminal(province: str, terminal_no: str, uow: ProvinceUoW) -> TerminalOut:
    _own(uow, province)
    return await uow.run(service.describe_terminal, province, terminal_no)


@router.put(
    "/{province}/terminals/{terminal_no}/grants",
    response_model=TerminalOut,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                WrongProvince,
                TerminalNotFound,
                DisclosureNotAllowed,
            ),
        )
    ],
)
async def set_grants(province: str, terminal_no: str, body: list[Grant], uow: ProvinceUoW) -> TerminalOut:
    """Replace the busiTypes a terminal may resolve and what it may learn for each."""
    _own(uow, province)
    return await uow.run(service.set_grants, province, terminal_no, body)


@router.put(
    "/{province}/terminals/{terminal_no}/status",
    response_model=TerminalOut,
    dependencies=[
        requires(
            None,
            party=Party.PROVINCE,
            raises=(
                WrongProvince,
                NotFound,
                TerminalNotFound,
            ),
        )
    ],
)
async def set_terminal_status(
    province: str, terminal_no: str, body: StatusChange, uow: ProvinceUoW
) -> TerminalOut:
    """Suspend or reactivate one terminal."""
    _own(uow, province)
    await uow.run(service.set_terminal_status, province, terminal_no, body.status, body.reason)
    return await uow.run(service.describe_terminal, province, terminal_no)
