"""Jobs of eligibility certification, each one transaction: loading due items, sending reminders."""

from __future__ import annotations

from datetime import timedelta

from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.eligibility import repository, service
from essc.eligibility.adapters import (
    BenefitSystem,
    HttpBenefitSystem,
    SandboxBenefitSystem,
    sandbox_due_records,
)
from essc.eligibility.errors import NoBenefitSystem
from essc.eligibility.schemas import DueLoad, LoadResult

BATCH = 1000


def registered_system(platform: Platform, province: str) -> BenefitSystem:
    """The province's registered benefit system; refused when it registered none."""
    with platform.session_factory() as session:
        endpoint = repository.benefit_system(session, province)
    if endpoint is None:
        raise NoBenefitSystem(
            f"province {province} has registered no benefit system endpoint "
            f"(PUT /v1/provinces/{province}/eligibility/benefit-system)"
        )
    return HttpBenefitSystem(platform, endpoint.url)


def sandbox_system(platform: Platform, province: str, period: int, count: int) -> SandboxBenefitSystem:
    """A sandbox benefit system naming the province's first `count` cards (deterministic)."""
    with platform.session_factory() as session:
        numbers = repository.card_numbers(session, province, count)
    return SandboxBenefitSystem(due={(province, period): sandbox_due_records(province, period, numbers)})


def load_from(
    platform: Platform, system: BenefitSystem, province: str, period: int, actor: Actor
) -> LoadResult:
    """Pull who must certify from the province's benefit system and record them, in one transaction."""
    records = system.due_items(province, period)
    loaded, unchanged, rejected = 0, 0, []
    with UnitOfWork(platform, RequestContext(actor=actor)) as uow:
        for start in range(0, len(records), BATCH):
            result = service.load_due(
                uow, province, DueLoad(period=period, items=records[start : start + BATCH])
            )
            loaded, unchanged = loaded + result.loaded, unchanged + result.unchanged
            rejected.extend(result.rejected)
        uow.commit()
    return LoadResult(period=period, loaded=loaded, unchanged=unchanged, rejected=rejected)


def remind(platform: Platform, within: timedelta, actor: Actor) -> int:
    """Queue the reminders due now (one per holder, period and channel); returns how many."""
    with UnitOfWork(platform, RequestContext(actor=actor)) as uow:
        sent = service.send_reminders(uow, within)
        uow.commit()
    return sent
