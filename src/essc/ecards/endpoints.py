"""HTTP of the e-card life cycle, for authenticated channels."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, status

from essc.cardholders.errors import UnknownRegion
from essc.channels.models import Channel
from essc.channels.service import acting_channel
from essc.core.conflicts import ConcurrentWrite
from essc.core.deps import ChannelUoW, Work, caller_of, requires
from essc.core.routing import api_router
from essc.ecards import service
from essc.ecards.errors import (
    SIGN_NO_REFUSALS,
    AttestationRefused,
    BankAccountInactive,
    BusiSeqInvalid,
    CardNotActive,
    EcardUnlinked,
    HolderMismatch,
    PasswordAlreadySet,
    PasswordLocked,
    PasswordNotSet,
    WeakPassword,
    WrongPassword,
)
from essc.ecards.schemas import (
    BusiSeqRequest,
    BusiSeqResponse,
    BusiSeqUse,
    Done,
    EcardView,
    IssueRequest,
    IssueResponse,
    PasswordChange,
    PasswordReset,
    PasswordSet,
)
from essc.kit.errors import InvalidInput
from essc.kit.idnumber import InvalidIdNumber
from essc.shared.policy import Function, Party

router = api_router(prefix="/v1/ecards", tags=["ecards"])


async def current_channel(request: Request, uow: ChannelUoW) -> Channel:
    """The channel behind the authenticated caller of this request."""
    caller = caller_of(request)
    return await uow.run(acting_channel, caller.caller_id, caller.on_behalf_of)


CurrentChannel = Annotated[Channel, Depends(current_channel)]


async def channel_caller(request: Request, uow: ChannelUoW) -> service.ChannelCaller:
    """The caller of a route that reads its channel with the signNo; a relay is found and allowed here."""
    caller = caller_of(request)
    if caller.on_behalf_of is None:
        return service.ChannelCaller(caller.caller_id)
    relayed = await uow.run(acting_channel, caller.caller_id, caller.on_behalf_of)
    return service.ChannelCaller(caller.caller_id, relayed)


# A route that names a signNo in its body or path and only reads the rows it names (a login, a busiSeq):
# the channel comes with them in one statement (`ecards.service.find_sign_no`).
CallingChannel = Annotated[service.ChannelCaller, Depends(channel_caller)]


@router.post(
    "/issuance",
    response_model=IssueResponse,
    dependencies=[
        requires(
            Function.ISSUANCE,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                CardNotActive,
                AttestationRefused,
                HolderMismatch,
                InvalidIdNumber,
                UnknownRegion,
                ConcurrentWrite,
            ),
        )
    ],
)
async def issue(
    body: IssueRequest, request: Request, uow: ChannelUoW, channel: CurrentChannel
) -> IssueResponse:
    """一级签发 in the calling channel; issuing again returns the same signNo."""
    caller = caller_of(request)
    return await uow.run(service.issue, channel, body, caller.signature, caller.body_digest)


@router.get(
    "/{sign_no}",
    response_model=EcardView,
    dependencies=[
        requires(
            Function.ISSUANCE,
            party=Party.CHANNEL,
            raises=(*SIGN_NO_REFUSALS,),
            work=Work.READS_ONLY,
        )
    ],
)
async def view(sign_no: str, request: Request, uow: ChannelUoW) -> EcardView:
    """The e-card as this channel sees it: status, level, masked holder fields."""
    caller = caller_of(request)
    return await uow.run(service.view_for_caller, caller.caller_id, caller.on_behalf_of, sign_no)


@router.put(
    "/{sign_no}/password",
    response_model=Done,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            Function.ISSUANCE,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                CardNotActive,
                EcardUnlinked,
                PasswordAlreadySet,
                InvalidInput,
                WeakPassword,
            ),
        )
    ],
)
async def set_password(sign_no: str, body: PasswordSet, uow: ChannelUoW, channel: CurrentChannel) -> Done:
    """Set the person's e-card password (once; valid in every channel)."""
    await uow.run(service.set_password, channel, sign_no, body.password)
    return Done(sign_no=sign_no, result="password_set")


@router.post(
    "/{sign_no}/password/change",
    response_model=Done,
    dependencies=[
        requires(
            Function.ISSUANCE,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                WrongPassword,
                PasswordLocked,
                CardNotActive,
                EcardUnlinked,
                PasswordNotSet,
                InvalidInput,
                WeakPassword,
            ),
        )
    ],
)
async def change_password(
    sign_no: str, body: PasswordChange, uow: ChannelUoW, channel: CurrentChannel
) -> Done:
    await uow.run(service.change_password, channel, sign_no, body.old_password, body.new_password)
    return Done(sign_no=sign_no, result="password_changed")


@router.post(
    "/{sign_no}/password/reset",
    response_model=Done,
    dependencies=[
        requires(
            Function.ISSUANCE,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                BusiSeqInvalid,
                CardNotActive,
                EcardUnlinked,
                PasswordNotSet,
                InvalidInput,
                WeakPassword,
            ),
        )
    ],
)
async def reset_password(sign_no: str, body: PasswordReset, uow: ChannelUoW, channel: CurrentChannel) -> Done:
    """Reset and unlock the password with a busiSeq from a face check."""
    await uow.run(service.reset_password, channel, sign_no, body.busi_seq, body.new_password)
    return Done(sign_no=sign_no, result="password_reset")


@router.post(
    "/{sign_no}/busi-seqs",
    response_model=BusiSeqResponse,
    status_code=status.HTTP_201_CREATED,
    dependencies=[
        requires(
            Function.ISSUANCE,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                WrongPassword,
                PasswordLocked,
                CardNotActive,
                EcardUnlinked,
                PasswordNotSet,
                AttestationRefused,
                InvalidInput,
            ),
        )
    ],
)
async def create_busi_seq(
    sign_no: str, body: BusiSeqRequest, uow: ChannelUoW, calling: CallingChannel
) -> BusiSeqResponse:
    """A one-time busiSeq after a password or face check, bound to a purpose."""
    return await uow.run(service.create_busi_seq, calling, sign_no, body)


@router.post(
    "/{sign_no}/level2",
    response_model=EcardView,
    dependencies=[
        requires(
            Function.PAYMENT,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                BusiSeqInvalid,
                BankAccountInactive,
                CardNotActive,
                EcardUnlinked,
            ),
        )
    ],
)
async def upgrade(sign_no: str, body: BusiSeqUse, uow: ChannelUoW, channel: CurrentChannel) -> EcardView:
    """二级签发: enable payment with a busiSeq of purpose sign_level2."""
    return await uow.run(service.upgrade_to_level2, channel, sign_no, body.busi_seq)


@router.post(
    "/{sign_no}/unlink",
    response_model=EcardView,
    dependencies=[
        requires(
            Function.ISSUANCE,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                BusiSeqInvalid,
                EcardUnlinked,
            ),
        )
    ],
)
async def unlink(sign_no: str, body: BusiSeqUse, uow: ChannelUoW, channel: CurrentChannel) -> EcardView:
    """解除关联 from this channel with a busiSeq of purpose unlink."""
    return await uow.run(service.unlink, channel, sign_no, body.busi_seq)
