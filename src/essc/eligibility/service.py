"""Eligibility certification rules: due items, certifying (in person or by delegation), reminders, figures."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from essc.authorisations.service import authorise, refusal
from essc.cardholders import repository as cards_repo
from essc.channels import repository as channels_repo
from essc.channels.models import Channel
from essc.core.uow import UnitOfWork
from essc.ecards.errors import SignNoNotFound
from essc.ecards.models import Ecard
from essc.ecards.schemas import Purpose
from essc.ecards.service import authorise_sign_no, consume_busi_seq, ensure_usable
from essc.eligibility import repository
from essc.eligibility.adapters import FaceVerdict
from essc.eligibility.errors import (
    AlreadyCertified,
    DelegateIsHolder,
    DelegationNotFound,
    DelegationRevoked,
    DueItemNotFound,
    NotDue,
)
from essc.eligibility.models import (
    BenefitSystemEndpoint,
    BenefitType,
    Certification,
    Certifier,
    Delegation,
    DelegationStatus,
    Delivery,
    DeliveryStatus,
    DueItem,
    DueStatus,
    Standing,
)
from essc.eligibility.schemas import (
    BenefitSystemOut,
    CertificationList,
    CertificationView,
    CertifyRequest,
    DelegationGranted,
    DelegationList,
    DelegationRequest,
    DelegationView,
    DueItemView,
    DueList,
    DueLoad,
    Figures,
    FiguresRow,
    LoadRejection,
    LoadResult,
)
from essc.kit.errors import InvalidInput
from essc.kit.ids import new_id
from essc.shared.policy import Function
from essc.webhooks.service import announce

DELIVERY_EVENT = "eligibility.certified"
REMINDER_EVENT = "eligibility.due_reminder"


def standing(item: DueItem, now: datetime) -> Standing:
    """What a due item is as of now: certified once certified, else overdue after its due date, else due."""
    if item.status == DueStatus.CERTIFIED:
        return Standing.CERTIFIED
    return Standing.OVERDUE if now > item.due_at else Standing.DUE


def load_due(uow: UnitOfWork, province: str, load: DueLoad) -> LoadResult:
    """Record who must certify in a period; an item the holder already has is left as it is."""
    session, now = uow.session, uow.clock.now()
    cards = cards_repo.cards_by_number(session, province, sorted({r.aaz500.upper() for r in load.items}))
    rows: list[dict[str, Any]] = []
    rejected: list[LoadRejection] = []
    refs: set[str] = set()
    for record in load.items:
        card = cards.get(record.aaz500.upper())
        reason = None
        if record.ref in refs:
            reason = "the ref appears twice in the batch"
        elif card is None:
            reason = f"no card {record.aaz500} in province {province}"
        elif not record.opens_at < record.due_at:
            reason = "opensAt must be before dueAt"
        if reason is not None or card is None:
            rejected.append(LoadRejection(ref=record.ref, reason=reason or ""))
            continue
        refs.add(record.ref)
        rows.append(
            {
                "province": province,
                "id": new_id(),
                "person_id": card.person_id,
                "benefit_type": record.benefit_type.value,
                "period": load.period,
                "opens_at": record.opens_at,
                "due_at": record.due_at,
                "source_ref": record.ref,
                "status": DueStatus.DUE.value,
                "loaded_at": now,
                "certified_at": None,
            }
        )
    loaded = repository.add_due_items(session, rows)
    uow.audit(
        "eligibility.due_loaded",
        "province",
        province,
        province,
        period=load.period,
        loaded=loaded,
        rejected=len(rejected),
    )
    return LoadResult(period=load.period, loaded=loaded, unchanged=len(rows) - loaded, rejected=rejected)


def register_benefit_system(uow: UnitOfWork, province: str, url: str) -> BenefitSystemOut:
    """Where the province's benefit system takes results; the next delivery goes there."""
    now = uow.clock.now()
    row = repository.benefit_system(uow.session, province)
    if row is None:
        row = BenefitSystemEndpoint(province=province, url=url, updated_at=now)
        uow.session.add(row)
    else:
        row.url, row.updated_at = url, now
    uow.session.flush()
    uow.audit("eligibility.benefit_system_registered", "province", province, province, url=url)
    return BenefitSystemOut(province=province, url=url, updated_at=now)


def _certification_view(row: Certification, item: DueItem) -> CertificationView:
    return CertificationView(
        certification_id=row.id,
        due_item_id=item.id,
        benefit_type=BenefitType(item.benefit_type),
        period=item.period,
        certifier=Certifier(row.certifier),
        delegation_id=row.delegation_id,
        method=row.method,
        evidence_ref=row.evidence_ref,
        certified_at=row.certified_at,
        late=row.certified_at > item.due_at,
    )


def _item_views(
    uow: UnitOfWork, items: list[DueItem], delegation: Delegation | None, holder: str | None
) -> list[DueItemView]:
    if not items:
        return []
    now = uow.clock.now()
    found = repository.certifications_of_items(uow.session, items[0].province, [i.id for i in items])
    views = []
    for item in items:
        certified = found.get(item.id)
        views.append(
            DueItemView(
                due_item_id=item.id,
                benefit_type=BenefitType(item.benefit_type),
                period=item.period,
                opens_at=item.opens_at,
                due_at=item.due_at,
                standing=standing(item, now),
                delegation_id=delegation.id if delegation else None,
                holder=holder,
                certification=_certification_view(certified, item) if certified else None,
            )
        )
    return views


def due_list(uow: UnitOfWork, channel: Channel, sign_no: str) -> DueList:
    """What the holder must certify, and what holders who delegated to them must certify."""
    _, _, person, _ = authorise_sign_no(uow, channel, sign_no)
    items = _item_views(uow, repository.due_items_of(uow.session, person.province, [person.id]), None, None)
    for delegation in repository.delegations_received(uow.session, person.province, person.id):
        if delegation.status != DelegationStatus.ACTIVE:
            continue
        holder = repository.person(uow.session, delegation.province, delegation.person_id)
        theirs = repository.due_items_of(uow.session, delegation.province, [delegation.person_id])
        items += _item_views(uow, theirs, delegation, holder.aac003_masked if holder else None)
    return DueList(sign_no=sign_no, items=items)


def _delegation_for_use(
    uow: UnitOfWork, delegation_id: str, delegate_province: str, delegate_id: str
) -> Delegation:
    found = repository.delegation_by_id(uow.session, delegation_id)
    if found is None or (found.delegate_province, found.delegate_person_id) != (
        delegate_province,
        delegate_id,
    ):
        raise DelegationNotFound(
            f"no delegation {delegation_id} to this e-card", field="delegationId", delegationId=delegation_id
        )
    if found.status != DelegationStatus.ACTIVE:
        raise DelegationRevoked(
            f"delegation {delegation_id} was revoked by the holder", delegationId=delegation_id
        )
    return found


def certify(
    uow: UnitOfWork,
    channel: Channel,
    sign_no: str,
    request: CertifyRequest,
    *,
    verdict: FaceVerdict,
    digest: str,
) -> CertificationView:
    """Certify a due item: the signNo's holder for themself, or a relative under the holder's delegation."""
    session, now = uow.session, uow.clock.now()
    issuance, ecard, person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    delegation = None
    holder_province, holder_id = person.province, person.id
    if request.delegation_id is not None:
        delegation = _delegation_for_use(uow, request.delegation_id, person.province, person.id)
        holder_province, holder_id = delegation.province, delegation.person_id
        # The result concerns a holder of the delegation's province: the channel must serve it there too.
        authorise(uow, channel, holder_province)
    item = repository.due_item(session, holder_province, request.due_item_id)
    if item is None or item.person_id != holder_id:
        raise DueItemNotFound(f"no due item {request.due_item_id} for this holder", field="dueItemId")
    if item.opens_at > now:
        raise NotDue(
            f"due item {item.id} can be certified from {item.opens_at.isoformat()}",
            opensAt=item.opens_at.isoformat(),
        )
    existing = repository.certification(session, item.province, item.id)
    if existing is not None:
        raise _already(existing)
    consume_busi_seq(uow, request.busi_seq, ecard, channel, Purpose.ELIGIBILITY)
    certification_id = new_id()
    certifier = Certifier.DELEGATE if delegation else Certifier.HOLDER
    values = {
        "province": item.province,
        "due_item_id": item.id,
        "id": certification_id,
        "person_id": item.person_id,
        "certifier": certifier.value,
        "certifier_province": person.province,
        "certifier_person_id": person.id,
        "delegation_id": delegation.id if delegation else None,
        "channel_id": channel.id,
        "method": verdict.method,
        "provider": verdict.provider,
        "evidence_ref": verdict.reference,
        "score": verdict.score,
        "checked_at": verdict.checked_at,
        "request_digest": digest,
        "certified_at": now,
    }
    if not repository.add_certification_unless_certified(session, values):
        winner = repository.certification(session, item.province, item.id)
        if winner is None:
            raise AlreadyCertified(f"due item {item.id} was certified by a concurrent request")
        raise _already(winner)
    repository.mark_certified(session, item.province, item.id, now)
    row = Certification(**values)
    _enqueue_delivery(uow, row, item, channel)
    uow.audit(
        "eligibility.certified",
        "due_item",
        item.id,
        item.province,
        certification=certification_id,
        certifier=certifier.value,
        channel=channel.channel_no,
        evidence=verdict.reference,
        delegation=values["delegation_id"],
    )
    if delegation is not None:
        uow.audit(
            "eligibility.delegation_used",
            "delegation",
            delegation.id,
            delegation.province,
            certification=certification_id,
            delegate_province=person.province,
        )
    return _certification_view(row, item)


def _already(existing: Certification) -> AlreadyCertified:
    return AlreadyCertified(
        f"due item {existing.due_item_id} was certified at {existing.certified_at.isoformat()}",
        certificationId=existing.id,
        certifiedAt=existing.certified_at.isoformat(),
    )


def delivery_body(row: Certification, item: DueItem, channel_no: str) -> bytes:
    """What the platform posts to the province's benefit system for one certification (docs/protocol.md)."""
    body = {
        "eventId": row.id,
        "type": DELIVERY_EVENT,
        "occurredAt": row.certified_at.isoformat(),
        "data": {
            "certificationId": row.id,
            "province": item.province,
            "dueRef": item.source_ref,
            "benefitType": item.benefit_type,
            "period": item.period,
            "certifiedAt": row.certified_at.isoformat(),
            "late": row.certified_at > item.due_at,
            "certifier": row.certifier,
            "delegationId": row.delegation_id,
            "channelNo": channel_no,
            "evidence": {
                "method": row.method,
                "provider": row.provider,
                "reference": row.evidence_ref,
                "score": row.score,
                "checkedAt": row.checked_at.isoformat(),
            },
        },
    }
    return orjson.dumps(body)


def _enqueue_delivery(uow: UnitOfWork, row: Certification, item: DueItem, channel: Channel) -> None:
    now = uow.clock.now()
    uow.session.add(
        Delivery(
            id=row.id,
            province=item.province,
            payload=delivery_body(row, item, channel.channel_no).decode("utf-8"),
            status=DeliveryStatus.PENDING.value,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
            delivered_at=None,
            receipt=None,
            last_error=None,
        )
    )
    uow.session.flush()


def certifications(uow: UnitOfWork, channel: Channel, sign_no: str) -> CertificationList:
    """The holder's certifications, newest period first, whoever made them."""
    _, _, person, _ = authorise_sign_no(uow, channel, sign_no)
    items = repository.due_items_of(uow.session, person.province, [person.id])
    found = repository.certifications_of_items(uow.session, person.province, [i.id for i in items])
    views = [_certification_view(found[i.id], i) for i in items if i.id in found]
    return CertificationList(sign_no=sign_no, certifications=views)


def _delegate_e_card(uow: UnitOfWork, channel: Channel, delegate_sign_no: str) -> tuple[Ecard, str]:
    try:
        issuance, ecard, person, card = authorise_sign_no(uow, channel, delegate_sign_no)
    except SignNoNotFound as exc:
        raise SignNoNotFound(exc.detail, field="delegateSignNo") from exc
    ensure_usable(issuance, card)
    return ecard, person.aac003_masked


def grant_delegation(
    uow: UnitOfWork, channel: Channel, sign_no: str, request: DelegationRequest
) -> DelegationGranted:
    """The holder lets a relative (their e-card in the same channel) certify for them, until revoked."""
    session, now = uow.session, uow.clock.now()
    issuance, ecard, person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    delegate, delegate_name = _delegate_e_card(uow, channel, request.delegate_sign_no)
    if (delegate.province, delegate.person_id) == (person.province, person.id):
        raise DelegateIsHolder("name a relative's e-card, not the holder's own", field="delegateSignNo")
    consume_busi_seq(uow, request.busi_seq, ecard, channel, Purpose.ELIGIBILITY_DELEGATION)
    key = (person.province, person.id, delegate.province, delegate.person_id)
    values = {
        "province": person.province,
        "id": new_id(),
        "person_id": person.id,
        "delegate_province": delegate.province,
        "delegate_person_id": delegate.person_id,
        "status": DelegationStatus.ACTIVE.value,
        "channel_id": channel.id,
        "granted_at": now,
        "revoked_at": None,
    }
    created = repository.active_delegation(session, *key) is None and repository.add_delegation_unless_active(
        session, values
    )
    row = Delegation(**values) if created else repository.active_delegation(session, *key)
    if row is None:  # revoked between the conflict and the read: the holder's own other request won
        raise DelegationRevoked("the delegation was revoked by a concurrent request; grant it again")
    if created:
        uow.audit(
            "eligibility.delegation_granted",
            "delegation",
            row.id,
            row.province,
            channel=channel.channel_no,
            delegate_province=delegate.province,
        )
    return DelegationGranted(
        **_delegation_view(row, Certifier.HOLDER, delegate_name).model_dump(), created=created
    )


def _delegation_view(row: Delegation, role: Certifier, other: str) -> DelegationView:
    return DelegationView(
        delegation_id=row.id,
        role=role,
        other=other,
        status=DelegationStatus(row.status),
        granted_at=row.granted_at,
        revoked_at=row.revoked_at,
    )


def revoke_delegation(
    uow: UnitOfWork, channel: Channel, sign_no: str, delegation_id: str, busi_seq: str
) -> DelegationView:
    """The holder withdraws a delegation; the relative's next certification for them is refused."""
    issuance, ecard, person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    row = repository.delegation(uow.session, person.province, delegation_id, lock=True)
    if row is None or row.person_id != person.id:
        raise DelegationNotFound(
            f"no delegation {delegation_id} granted by this e-card", delegationId=delegation_id
        )
    if row.status != DelegationStatus.ACTIVE:
        raise DelegationRevoked(f"delegation {delegation_id} is already revoked", delegationId=delegation_id)
    consume_busi_seq(uow, busi_seq, ecard, channel, Purpose.ELIGIBILITY_DELEGATION)
    row.status, row.revoked_at = DelegationStatus.REVOKED.value, uow.clock.now()
    uow.session.flush()
    uow.audit(
        "eligibility.delegation_revoked", "delegation", row.id, row.province, channel=channel.channel_no
    )
    other = repository.person(uow.session, row.delegate_province, row.delegate_person_id)
    return _delegation_view(row, Certifier.HOLDER, other.aac003_masked if other else "")


def delegations(uow: UnitOfWork, channel: Channel, sign_no: str) -> DelegationList:
    """Delegations this e-card granted (role holder) and received (role delegate)."""
    _, _, person, _ = authorise_sign_no(uow, channel, sign_no)
    views = []
    for row in repository.delegations_granted(uow.session, person.province, person.id):
        other = repository.person(uow.session, row.delegate_province, row.delegate_person_id)
        views.append(_delegation_view(row, Certifier.HOLDER, other.aac003_masked if other else ""))
    for row in repository.delegations_received(uow.session, person.province, person.id):
        other = repository.person(uow.session, row.province, row.person_id)
        views.append(_delegation_view(row, Certifier.DELEGATE, other.aac003_masked if other else ""))
    return DelegationList(sign_no=sign_no, delegations=views)


def send_reminders(uow: UnitOfWork, within: timedelta) -> int:
    """One webhook per holder, period and channel for items due within `within`; a second run sends none.

    Only channels that may serve the function for the holder's province now (the one rule, `refusal`) are
    reminded; the reminder row's key makes concurrent runs send each reminder once.
    """
    now = uow.clock.now()
    grouped: dict[tuple[str, str, int, str], list[repository.ReminderCandidate]] = {}
    for candidate in repository.reminder_candidates(uow.session, now, now + within):
        key = (candidate.province, candidate.person_id, candidate.period, candidate.channel_id)
        grouped.setdefault(key, []).append(candidate)
    channels: dict[str, Channel | None] = {}
    sent = 0
    for (province, person_id, period, channel_id), found in grouped.items():
        if channel_id not in channels:
            channels[channel_id] = channels_repo.by_id(uow.session, channel_id)
        channel = channels[channel_id]
        first = found[0]
        if channel is None or refusal(
            channel,
            Function.ELIGIBILITY_CERTIFICATION,
            province,
            environment=None,
            grants=first.standing.grants,
            enabled=first.standing.enabled,
        ):
            continue
        values = {
            "province": province,
            "person_id": person_id,
            "period": period,
            "channel_id": channel_id,
            "sent_at": now,
        }
        if not repository.add_reminder_unless_sent(uow.session, values):
            continue
        items = [
            {"dueItemId": c.due_item_id, "benefitType": c.benefit_type, "dueAt": c.due_at.isoformat()}
            for c in found
        ]
        announce(uow, channel_id, REMINDER_EVENT, {"signNo": first.sign_no, "period": period, "items": items})
        sent += 1
    if sent:
        uow.audit("eligibility.reminders_sent", "job", "reminders", None, count=sent)
    return sent


def figures(uow: UnitOfWork, province: str, period: int) -> Figures:
    """Due, certified and overdue items of a province's period, as of now."""
    if not (len(province) == 2 and province.isascii() and province.isdigit()):
        raise InvalidInput("province must be a two-digit code", field="province")
    now = uow.clock.now()
    rows = repository.figures(uow.session, province, period, now)
    by_benefit = [
        FiguresRow(
            benefit_type=BenefitType(r.benefit_type),
            due=r.due,
            certified=r.certified,
            overdue=r.overdue,
            certified_late=r.certified_late,
        )
        for r in rows
    ]
    return Figures(
        province=province,
        period=period,
        as_of=now,
        due=sum(r.due for r in rows),
        certified=sum(r.certified for r in rows),
        overdue=sum(r.overdue for r in rows),
        certified_late=sum(r.certified_late for r in rows),
        by_benefit=by_benefit,
    )
