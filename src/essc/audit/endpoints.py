"""HTTP of the audit logs: checkpoints, cosignatures, proofs and leaves for anyone; witness cosignatures."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Response
from fastapi.responses import PlainTextResponse

from essc.audit import service
from essc.audit.errors import (
    CosignatureInvalid,
    LeafNotInTree,
    TreeSizeUnavailable,
    UnknownLog,
    UnknownWitness,
)
from essc.audit.schemas import (
    MAX_TREE_SIZE,
    ConsistencyProofOut,
    CosignatureIn,
    InclusionProofOut,
    LeavesOut,
)
from essc.core.deps import PublicReaderUoW, PublicWriterUoW, requires
from essc.core.routing import api_router
from essc.core.uow import UnitOfWork
from essc.kit.checkpoints import InvalidNote
from essc.kit.errors import EsscError
from essc.shared.policy import Party

router = api_router(tags=["audit"])


def _public(*raises: type[EsscError]) -> list[Any]:
    """A public route's declaration with the errors its code raises (published in the OpenAPI document)."""
    return [requires(None, party=Party.PUBLIC, raises=raises)]


LOG = "/v1/audit/logs/{log}"


def _checkpoint(uow: UnitOfWork, log: str) -> str:
    return service.checkpoint_note(uow.session, log)


@router.get(f"{LOG}/checkpoint", response_class=PlainTextResponse, dependencies=_public(UnknownLog))
async def checkpoint(log: str, uow: PublicReaderUoW) -> PlainTextResponse:
    """The log's latest signed tree head (C2SP tlog-checkpoint), with the witnesses' cosignature lines."""
    note = await uow.run(_checkpoint, log)
    return PlainTextResponse(note, headers={"Cache-Control": "no-store"})


def _inclusion(uow: UnitOfWork, log: str, index: int, size: int) -> InclusionProofOut:
    return service.inclusion(uow.session, uow.platform, log, index, size)


@router.get(
    f"{LOG}/proofs/inclusion",
    response_model=InclusionProofOut,
    dependencies=_public(UnknownLog, TreeSizeUnavailable, LeafNotInTree),
)
async def inclusion_proof(
    log: str,
    uow: PublicReaderUoW,
    index: Annotated[int, Query(ge=0, le=MAX_TREE_SIZE)],
    size: Annotated[int, Query(ge=1, le=MAX_TREE_SIZE)],
) -> InclusionProofOut:
    """Proof that leaf `index` is in the signed tree of `size` leaves."""
    return await uow.run(_inclusion, log, index, size)


def _consistency(uow: UnitOfWork, log: str, size1: int, size2: int) -> ConsistencyProofOut:
    return service.consistency(uow.session, uow.platform, log, size1, size2)


@router.get(
    f"{LOG}/proofs/consistency",
    response_model=ConsistencyProofOut,
    dependencies=_public(UnknownLog, TreeSizeUnavailable),
)
async def consistency_proof(
    log: str,
    uow: PublicReaderUoW,
    size1: Annotated[int, Query(ge=1, le=MAX_TREE_SIZE)],
    size2: Annotated[int, Query(ge=1, le=MAX_TREE_SIZE)],
) -> ConsistencyProofOut:
    """Proof that the signed tree of `size2` leaves extends the signed tree of `size1`."""
    return await uow.run(_consistency, log, size1, size2)


def _leaves(uow: UnitOfWork, log: str, start: int, limit: int) -> LeavesOut:
    return service.leaves(uow.session, log, start, limit)


@router.get(f"{LOG}/leaves", response_model=LeavesOut, dependencies=_public(UnknownLog))
async def leaves(
    log: str,
    uow: PublicReaderUoW,
    start: Annotated[int, Query(ge=0, le=MAX_TREE_SIZE)] = 0,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LEAVES_PAGE)] = 100,
) -> LeavesOut:
    """A page of the log's leaves: the canonical bytes of each entry, under the latest signed tree head."""
    return await uow.run(_leaves, log, start, limit)


def _submit(uow: UnitOfWork, log: str, cosigned: CosignatureIn) -> None:
    service.submit_cosignature(uow.session, uow.platform, log, cosigned)


@router.post(
    f"{LOG}/cosignatures",
    status_code=204,
    dependencies=_public(UnknownLog, UnknownWitness, TreeSizeUnavailable, CosignatureInvalid, InvalidNote),
)
async def submit_cosignature(log: str, cosigned: CosignatureIn, uow: PublicWriterUoW) -> Response:
    """A registered witness's cosignature of one of the log's signed tree heads, published beside it."""
    await uow.run(_submit, log, cosigned)
    return Response(status_code=204)
