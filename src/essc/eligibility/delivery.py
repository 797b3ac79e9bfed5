"""Delivers certification results to provinces' benefit systems: leased, retried with backoff, once each.

Mirrors the webhook dispatcher (essc.webhooks.dispatcher): the outbox row was written in the transaction of
the certification; a dispatcher leases one due row at a time, hands it to the province's adapter, logs the
attempt and either settles it (the province's receipt) or schedules the next attempt. The certification id
travels as the idempotency key (X-Essc-Event-Id): a province that receives an id twice (a lease that ran out
during a slow acknowledgement) records it once and answers the same receipt.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Protocol

from essc.core import outbox
from essc.core.platform import Platform
from essc.eligibility import repository
from essc.eligibility.adapters import BenefitSystem, HttpBenefitSystem, ResultDelivery
from essc.eligibility.models import DeliveryAttempt
from essc.kit.ids import new_id

log = logging.getLogger("essc.eligibility")


class BenefitSystems(Protocol):
    """The adapter of each province's benefit system (None: the province registered no endpoint)."""

    def of(self, province: str, url: str | None) -> BenefitSystem | None: ...


class RegisteredBenefitSystems:
    """The real resolver: each province's registered HTTPS endpoint."""

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._systems: dict[str, HttpBenefitSystem] = {}

    def of(self, province: str, url: str | None) -> BenefitSystem | None:
        if url is None:
            return None
        if url not in self._systems:
            self._systems[url] = HttpBenefitSystem(self._platform, url)
        return self._systems[url]


class OneBenefitSystem:
    """Every province served by the same adapter (the sandbox in the demo and tests)."""

    def __init__(self, system: BenefitSystem) -> None:
        self.system = system

    def of(self, province: str, url: str | None) -> BenefitSystem | None:
        return self.system


def deliver_due(platform: Platform, systems: BenefitSystems, limit: int = 100) -> int:
    """Deliver what is due now; returns how many deliveries were attempted (essc.core.outbox)."""
    due_by = platform.clock.now()

    def attempt(job: tuple[str, str, bytes, str | None]) -> None:
        delivery_id, province, body, url = job
        _deliver(platform, systems.of(province, url), ResultDelivery(province, delivery_id, body))

    return outbox.deliver_due(lambda: _claim_one(platform, due_by), attempt, limit)


def _claim_one(platform: Platform, due_by: datetime) -> tuple[str, str, bytes, str | None] | None:
    with platform.session_factory() as session:
        leased = repository.claim_due_deliveries(session, due_by, platform.clock.now() + outbox.LEASE, 1)
        if not leased:
            return None
        row = leased[0]
        endpoint = repository.benefit_system(session, row.province)
        job = (row.id, row.province, row.payload.encode("utf-8"), endpoint.url if endpoint else None)
        session.commit()
    return job


def _deliver(platform: Platform, system: BenefitSystem | None, delivery: ResultDelivery) -> None:
    receipt: str | None = None
    error: str | None = None
    started = time.monotonic()
    if system is None:
        error = f"province {delivery.province} has registered no benefit system endpoint"
    else:
        try:
            receipt = system.deliver(delivery)
        except Exception as exc:  # whatever failed is this attempt's outcome, retried later
            error = f"{type(exc).__name__}: {exc}"
    _record(platform, delivery.certification_id, receipt, error, int((time.monotonic() - started) * 1000))


def _record(
    platform: Platform, delivery_id: str, receipt: str | None, error: str | None, duration_ms: int
) -> None:
    now = platform.clock.now()
    with platform.session_factory() as session:
        row = repository.delivery(session, delivery_id)
        if row is None:
            return
        session.add(
            DeliveryAttempt(
                id=new_id(),
                delivery_id=delivery_id,
                attempt_no=row.attempts + 1,
                attempted_at=now,
                error=error,
                duration_ms=duration_ms,
            )
        )
        if (
            outbox.settle(row, error, now, max_attempts=platform.settings.webhook_max_attempts)
            and error is None
        ):
            row.receipt = receipt
        session.commit()


class DeliveryThread(outbox.DeliveryLoop):
    """Delivers results in the background of a process, beside the webhook dispatcher."""

    def __init__(
        self, platform: Platform, systems: BenefitSystems | None = None, interval: float = 1.0
    ) -> None:
        chosen = systems or RegisteredBenefitSystems(platform)
        super().__init__("essc-eligibility", lambda: deliver_due(platform, chosen), log, interval)
