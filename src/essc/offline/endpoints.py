"""HTTP of offline codes: channels enrol devices, terminals fetch status lists and upload acceptances."""

from __future__ import annotations

from fastapi import Path, Request, Response, status

from essc.core.deps import ChannelUoW, TerminalUoW, caller_of, requires
from essc.core.routing import api_router
from essc.ecards.endpoints import CurrentChannel
from essc.ecards.errors import SIGN_NO_REFUSALS, BusiSeqInvalid, CardNotActive, EcardUnlinked
from essc.kit.codes import MalformedCode
from essc.kit.errors import InvalidSignature, MalformedKey
from essc.kit.offline import (
    CertificateSignatureInvalid,
    CodeSignatureInvalid,
    MalformedStatusList,
    SuiteMismatch,
    UnknownPlatformKey,
)
from essc.offline import service
from essc.offline.errors import DeviceKeyInvalid, TooManyAcceptances
from essc.offline.schemas import Enrolment, EnrolRequest, UploadRequest, UploadResult
from essc.shared.policy import Function, Party
from essc.terminals.errors import ACTING_TERMINAL_REFUSALS, BusiTypeNotGranted
from essc.terminals.service import acting_terminal

router = api_router(prefix="/v1", tags=["offline"])


@router.post(
    "/ecards/{sign_no}/devices",
    response_model=Enrolment,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            Function.QR,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                InvalidSignature,
                MalformedCode,
                MalformedKey,
                BusiSeqInvalid,
                CardNotActive,
                EcardUnlinked,
                DeviceKeyInvalid,
            ),
        )
    ],
)
async def enrol_device(
    sign_no: str, body: EnrolRequest, uow: ChannelUoW, channel: CurrentChannel
) -> Enrolment:
    """Certify the holder's device key so the device can make offline codes for a while."""
    return await uow.run(service.enrol_device, channel, sign_no, body.device_public_key, body.busi_seq)


@router.get(
    "/offline/status-lists/{province}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
    dependencies=[
        requires(
            Function.QR,
            party=Party.TERMINAL,
            raises=(
                MalformedCode,
                *ACTING_TERMINAL_REFUSALS,
                InvalidSignature,
                MalformedStatusList,
            ),
        )
    ],
)
async def status_list(
    request: Request, uow: TerminalUoW, province: str = Path(pattern=r"^[0-9]{2}$")
) -> Response:
    """The signed binary list of revoked device certificates of a province ("00" for all provinces)."""
    await uow.run(acting_terminal, caller_of(request).caller_id)
    content = await uow.run(service.status_list, province)
    return Response(content=content, media_type="application/octet-stream")


@router.post(
    "/offline/acceptances",
    response_model=UploadResult,
    dependencies=[
        requires(
            Function.QR,
            party=Party.TERMINAL,
            raises=(
                *ACTING_TERMINAL_REFUSALS,
                InvalidSignature,
                MalformedCode,
                MalformedKey,
                SuiteMismatch,
                BusiTypeNotGranted,
                CertificateSignatureInvalid,
                CodeSignatureInvalid,
                UnknownPlatformKey,
                TooManyAcceptances,
            ),
        )
    ],
)
async def upload(body: UploadRequest, request: Request, uow: TerminalUoW) -> UploadResult:
    """Settle what the terminal accepted offline; a code accepted at two terminals is reported as replayed."""
    terminal, owner = await uow.run(acting_terminal, caller_of(request).caller_id)
    return await uow.run(service.settle, terminal, owner, body)
