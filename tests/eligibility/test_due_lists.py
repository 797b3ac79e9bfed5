"""Loading who must certify, reminders through the channels' webhooks, and figures per province and period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from essc.cardholders.models import Person
from essc.core.platform import Platform
from essc.eligibility import service
from essc.eligibility.adapters import SandboxBenefitSystem, sandbox_due_records
from essc.eligibility.models import BenefitType, DueItem, DueStatus
from essc.eligibility.schemas import DueLoad
from essc.kit.clock import FrozenClock
from essc.kit.ids import new_id
from essc.shared.policy import Function
from essc.webhooks.models import OutboxMessage
from essc_sdk import PlatformError
from factories import (
    another_holder,
    app_client,
    certify,
    channel,
    due_record,
    eligibility_scene,
    holder,
    issued_sign_no,
    load,
    load_due,
    ministry,
    operator_uow,
    province,
)

PERIOD = 2027


def test_loading_again_leaves_items_unchanged_and_unknown_cards_are_rejected(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    again = load_due(
        scene.owner,
        2027,
        due_record(platform, scene.record),
        due_record(platform, scene.record, aaz500="ZZ9999999"),
    )
    assert (again["loaded"], again["unchanged"]) == (0, 1)
    assert [r["reason"] for r in again["rejected"]] == ["no card ZZ9999999 in province 44"]


def test_an_item_due_before_it_opens_is_rejected(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    now = platform.clock.now()
    answer = load_due(
        scene.owner,
        2028,
        due_record(
            platform, scene.record, opensAt=now.isoformat(), dueAt=(now - timedelta(days=1)).isoformat()
        ),
    )
    assert answer["loaded"] == 0
    assert answer["rejected"][0]["reason"] == "opensAt must be before dueAt"


def test_a_province_loads_only_its_own_items(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    other = province(platform, scene.http, "11")
    with pytest.raises(PlatformError) as refused:
        load_due(other, PERIOD, due_record(platform, scene.record))
    assert refused.value.code == "wrong_province"


def test_a_channel_cannot_load_due_items(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    with pytest.raises(PlatformError) as refused:
        scene.app.client.post("/v1/provinces/44/eligibility/due-items", {"period": PERIOD, "items": []})
    assert refused.value.code == "wrong_caller_kind"


def test_the_sandbox_benefit_system_loads_deterministic_items(platform: Platform) -> None:
    records = [holder() for _ in range(4)]
    load(platform, *records)
    numbers = sorted(r.aaz500 for r in records)
    system = SandboxBenefitSystem(due={("44", PERIOD): sandbox_due_records("44", PERIOD, numbers)})
    assert sandbox_due_records("44", PERIOD, numbers) == system.due_items("44", PERIOD)
    with operator_uow(platform) as uow:
        result = service.load_due(uow, "44", DueLoad(period=PERIOD, items=system.due_items("44", PERIOD)))
        uow.commit()
    assert (result.loaded, result.rejected) == (4, [])
    with platform.session_factory() as session:
        benefits = sorted(session.execute(select(DueItem.benefit_type)).scalars())
    assert benefits == ["basic_pension", "basic_pension", "unemployment", "work_injury"]


def _reminders(platform: Platform, within: timedelta = timedelta(days=45)) -> int:
    with operator_uow(platform) as uow:
        sent = service.send_reminders(uow, within)
        uow.commit()
    return sent


def _reminder_messages(platform: Platform) -> list[dict[str, object]]:
    with platform.session_factory() as session:
        rows = session.execute(
            select(OutboxMessage).where(OutboxMessage.event_type == service.REMINDER_EVENT)
        ).scalars()
        return [orjson.loads(r.payload)["data"] for r in rows]


def test_one_reminder_per_holder_period_and_channel_however_often_the_job_runs(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    load_due(scene.owner, PERIOD, due_record(platform, scene.record, benefitType="work_injury"))
    second = channel(platform, scene.http)
    issued_sign_no(platform, second, scene.record)
    assert _reminders(platform) == 2
    assert _reminders(platform) == 0
    messages = _reminder_messages(platform)
    assert len(messages) == 2
    assert all(len(m["items"]) == 2 for m in messages)  # type: ignore[arg-type]
    assert scene.sign_no in {m["signNo"] for m in messages}


def test_no_reminder_for_items_certified_or_due_later(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    later = another_holder(platform, scene, dueAt=(platform.clock.now() + timedelta(days=90)).isoformat())
    certify(platform, scene)
    assert _reminders(platform) == 0
    assert later.sign_no


def test_no_reminder_through_a_channel_without_the_function(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    http = app_client(platform)
    without = channel(
        platform, http, functions=[f for f in Function if f != Function.ELIGIBILITY_CERTIFICATION]
    )
    issued_sign_no(platform, without, scene.record)
    assert _reminders(platform) == 1
    assert [m["signNo"] for m in _reminder_messages(platform)] == [scene.sign_no]


def test_figures_count_due_certified_and_overdue(platform: Platform, clock: FrozenClock) -> None:
    first = eligibility_scene(platform)
    another_holder(platform, first)
    late = another_holder(platform, first, dueAt=(platform.clock.now() + timedelta(days=1)).isoformat())
    certify(platform, first)
    clock.advance(timedelta(days=2))
    figures = first.owner.client.get(f"/v1/provinces/44/eligibility/figures?period={PERIOD}")
    assert (figures["due"], figures["certified"], figures["overdue"]) == (1, 1, 1)
    certify(platform, late)
    figures = first.owner.client.get(f"/v1/provinces/44/eligibility/figures?period={PERIOD}")
    assert (figures["due"], figures["certified"], figures["overdue"], figures["certifiedLate"]) == (
        1,
        2,
        0,
        1,
    )
    registry = ministry(platform, first.http)
    national = registry.client.get(f"/v1/ministry/eligibility/figures?province=44&period={PERIOD}")
    assert national["byBenefit"] == figures["byBenefit"]


def test_a_province_sees_only_its_own_figures(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    with pytest.raises(PlatformError) as refused:
        scene.owner.client.get(f"/v1/provinces/11/eligibility/figures?period={PERIOD}")
    assert refused.value.code == "wrong_province"


NOW = datetime(2027, 6, 1, tzinfo=UTC)
MAX_ITEMS = 25
ITEMS = st.lists(
    st.tuples(
        st.sampled_from(list(BenefitType)),
        st.sampled_from([PERIOD, PERIOD + 1]),
        st.integers(-30, 30),  # due in days from now
        st.one_of(st.none(), st.integers(-60, 0)),  # certified, days from now
    ),
    max_size=MAX_ITEMS,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=ITEMS)
def test_figures_agree_with_a_brute_force_count(
    platform: Platform, clock: FrozenClock, items: list[tuple[BenefitType, int, int, int | None]]
) -> None:
    clock.set(NOW)
    with platform.session_factory() as session:
        session.execute(delete(DueItem))
        persons = list(session.execute(select(Person.id).where(Person.province == "44")).scalars())
        if len(persons) < MAX_ITEMS:  # one person per item: a person has one item per benefit and period
            session.commit()
            load(platform, *(holder() for _ in range(MAX_ITEMS)))
            persons = list(session.execute(select(Person.id).where(Person.province == "44")).scalars())
        for n, (benefit, period, due_in, certified_in) in enumerate(items):
            due_at = NOW + timedelta(days=due_in, hours=1)
            certified_at = None if certified_in is None else NOW + timedelta(days=certified_in)
            session.add(
                DueItem(
                    province="44",
                    id=new_id(),
                    person_id=persons[n],
                    benefit_type=benefit.value,
                    period=period,
                    opens_at=NOW - timedelta(days=200),
                    due_at=due_at,
                    source_ref=f"bf-{n}",
                    status=DueStatus.DUE if certified_at is None else DueStatus.CERTIFIED,
                    loaded_at=NOW,
                    certified_at=certified_at,
                )
            )
        session.commit()
    with operator_uow(platform) as uow:
        figures = service.figures(uow, "44", PERIOD)
    mine = [(b, d, c) for b, p, d, c in items if p == PERIOD]
    expected = {
        b: (
            sum(1 for x, d, c in mine if x == b and c is None and d >= 0),
            sum(1 for x, d, c in mine if x == b and c is not None),
            sum(1 for x, d, c in mine if x == b and c is None and d < 0),
            sum(1 for x, d, c in mine if x == b and c is not None and c > d),
        )
        for b in {b for b, _, _ in mine}
    }
    got = {r.benefit_type: (r.due, r.certified, r.overdue, r.certified_late) for r in figures.by_benefit}
    assert got == expected
    assert figures.due + figures.certified + figures.overdue == len(mine)
