"""HTTP of credentials: channels ask for them, anyone reads the issuer's keys and the status lists."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Response, status

from essc.core.conflicts import ConcurrentWrite
from essc.core.deps import (
    ChannelUoW,
    PublicReaderUoW,
    get_platform,
    requires,
)
from essc.core.platform import Platform
from essc.core.routing import api_router
from essc.credentials import service
from essc.credentials.errors import StatusListNotFound
from essc.credentials.schemas import CredentialOut, CredentialRequest, IssuerMetadata
from essc.ecards.endpoints import CurrentChannel
from essc.ecards.errors import SIGN_NO_REFUSALS, BusiSeqInvalid, CardNotActive, EcardUnlinked
from essc.kit.errors import MalformedKey
from essc.shared.policy import Function, Party

router = api_router(tags=["credentials"])
STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"


@router.post(
    "/v1/ecards/{sign_no}/credentials",
    response_model=CredentialOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            Function.QUERIES,
            party=Party.CHANNEL,
            raises=(*SIGN_NO_REFUSALS, BusiSeqInvalid, CardNotActive, EcardUnlinked, ConcurrentWrite),
        )
    ],
)
async def issue(
    sign_no: str, body: CredentialRequest, uow: ChannelUoW, channel: CurrentChannel
) -> CredentialOut:
    """An SD-JWT VC of the holder's e-card identity; disclosures of clear claims arrive sealed."""
    return await uow.run(service.issue, channel, sign_no, body)


@router.get(
    "/v1/credentials/status-lists/{province}/{list_no}",
    response_class=Response,
    responses={200: {"content": {STATUS_LIST_MEDIA_TYPE: {}}}},
    dependencies=[requires(None, party=Party.PUBLIC, raises=(StatusListNotFound,))],
)
async def status_list(
    uow: PublicReaderUoW,
    province: Annotated[str, Path(pattern=r"^[0-9]{2}$")],
    list_no: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:
    """The signed Token Status List of one list of a province's credentials (statuslist+jwt)."""
    token, ttl = await uow.run(service.status_list_token, province, list_no)
    return Response(
        content=token, media_type=STATUS_LIST_MEDIA_TYPE, headers={"Cache-Control": f"public, max-age={ttl}"}
    )


@router.get(
    "/.well-known/jwt-vc-issuer",
    response_model=IssuerMetadata,
    dependencies=[requires(None, party=Party.PUBLIC, raises=(MalformedKey,))],
)
async def issuer_metadata(platform: Annotated[Platform, Depends(get_platform)]) -> IssuerMetadata:
    """SD-JWT VC issuer metadata: the issuer identifier and its credential keys (JWKS)."""
    return service.issuer_metadata(platform)
