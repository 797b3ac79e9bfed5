"""Stateful property: a due item goes due → certified or overdue (→ certified late), a delegation active →
revoked, through the real platform, checked after every step against a model written from the rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from essc.core.platform import Platform
from essc.kit.clock import FrozenClock
from essc_sdk import EsscClient, PlatformError
from factories import (
    EligibilityScene,
    another_holder,
    busi_seq,
    certification,
    eligibility_scene,
    holder,
    issued_sign_no,
    load,
)

STATEFUL = settings(
    max_examples=16,
    stateful_step_count=10,
    derandomize=True,  # the same runs every time: no flakes, no example database needed
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class Seen:
    """Outcomes the runs reached, so a change that starves the search fails loudly."""

    milestones: set[str] = field(default_factory=set)


MILESTONES = {
    "certified by the holder",
    "certified late",
    "certified by a relative",
    "refused: already certified",
    "refused: delegation revoked",
    "overdue",
}


class DueItemMachine(RuleBasedStateMachine):
    """One holder's due item and one relative, driven through the channel API."""

    def __init__(self, platform: Platform, clock: FrozenClock, base: EligibilityScene, seen: Seen) -> None:
        super().__init__()
        self.platform, self.clock, self.base, self.seen = platform, clock, base, seen

    # Due from 20 hours ago (already overdue: it opened a day ago) to three days ahead.
    @initialize(due_in_hours=st.integers(-20, 72), delegated=st.booleans())
    def start(self, due_in_hours: int, delegated: bool) -> None:
        self.due_at: datetime = self.clock.now() + timedelta(hours=due_in_hours)
        self.scene = another_holder(self.platform, self.base, dueAt=self.due_at.isoformat())
        relative = holder()
        load(self.platform, relative)
        self.relative_sign_no = issued_sign_no(self.platform, self.scene.app, relative)
        self.certified = False
        self.delegations: list[str] = []  # every delegation granted, the last one the newest
        self.active: str | None = None
        if delegated:
            self.holder_grants()

    # The model, from the rules: certified stays certified; otherwise overdue once the due date passed.
    def standing(self) -> str:
        if self.certified:
            return "certified"
        return "overdue" if self.clock.now() > self.due_at else "due"

    @property
    def app(self) -> EsscClient:
        return self.scene.app.client

    # One rule that draws the action: a derandomized search over few examples otherwise repeats one rule.
    @rule(action=st.sampled_from(["time", "holder", "grant", "revoke", "relative"]), days=st.integers(1, 6))
    def step(self, action: str, days: int) -> None:
        {
            "time": lambda: self.time_passes(days),
            "holder": self.holder_certifies,
            "grant": self.holder_grants,
            "revoke": self.holder_revokes_the_newest,
            "relative": self.relative_certifies_under_the_newest,
        }[action]()

    def time_passes(self, days: int) -> None:
        self.clock.advance(timedelta(days=days))

    def _certify(self, sign_no: str, delegation_id: str | None) -> dict[str, object] | PlatformError:
        changes = {"delegationId": delegation_id} if delegation_id else {}
        body = certification(self.platform, self.scene.app, sign_no, self.scene.item_id, **changes)
        return self._post(f"/v1/eligibility/{sign_no}/certifications", body)

    def _post(self, path: str, body: dict[str, object]) -> dict[str, object] | PlatformError:
        try:
            answer: dict[str, object] = self.app.post(path, body)
        except PlatformError as refused:
            return refused
        return answer

    def _expect_certified(self, answer: dict[str, object] | PlatformError, certifier: str) -> None:
        if self.certified:
            assert isinstance(answer, PlatformError)
            assert answer.code == "already_certified"
            self.seen.milestones.add("refused: already certified")
            return
        assert isinstance(answer, dict), answer
        late = self.clock.now() > self.due_at
        assert (answer["certifier"], answer["late"]) == (certifier, late)
        self.certified = True
        self.seen.milestones.add(f"certified by {'the holder' if certifier == 'holder' else 'a relative'}")
        if late:
            self.seen.milestones.add("certified late")

    def holder_certifies(self) -> None:
        self._expect_certified(self._certify(self.scene.sign_no, None), "holder")

    def holder_grants(self) -> None:
        body = {
            "delegateSignNo": self.relative_sign_no,
            "busiSeq": busi_seq(self.platform, self.scene.app, self.scene.sign_no, "eligibility_delegation"),
        }
        granted = self.app.post(f"/v1/eligibility/{self.scene.sign_no}/delegations", body)
        assert granted["created"] is (self.active is None)
        if self.active is not None:
            assert granted["delegationId"] == self.active
        self.active = granted["delegationId"]
        if granted["created"]:
            self.delegations.append(granted["delegationId"])

    def holder_revokes_the_newest(self) -> None:
        if not self.delegations:
            return
        newest = self.delegations[-1]
        body = {
            "busiSeq": busi_seq(self.platform, self.scene.app, self.scene.sign_no, "eligibility_delegation")
        }
        path = f"/v1/eligibility/{self.scene.sign_no}/delegations/{newest}/revoke"
        answer = self._post(path, body)
        if self.active is None:
            assert isinstance(answer, PlatformError)
            assert answer.code == "delegation_revoked"
            return
        assert self.active == newest
        assert isinstance(answer, dict)
        assert answer["status"] == "revoked"
        self.active = None

    def relative_certifies_under_the_newest(self) -> None:
        if not self.delegations:
            answer = self._certify(self.relative_sign_no, None)
            assert isinstance(answer, PlatformError)
            assert answer.code == "due_item_not_found"
            return
        answer = self._certify(self.relative_sign_no, self.delegations[-1])
        if self.active is None:
            assert isinstance(answer, PlatformError)
            assert answer.code == "delegation_revoked"
            self.seen.milestones.add("refused: delegation revoked")
            return
        self._expect_certified(answer, "delegate")

    @invariant()
    def the_platform_agrees_with_the_model(self) -> None:
        items = self.app.get(f"/v1/eligibility/{self.scene.sign_no}/due-items")["items"]
        assert [i["standing"] for i in items] == [self.standing()]
        if self.standing() == "overdue":
            self.seen.milestones.add("overdue")
        theirs = self.app.get(f"/v1/eligibility/{self.relative_sign_no}/due-items")["items"]
        assert [i["delegationId"] for i in theirs] == ([self.active] if self.active else [])


def test_due_items_and_delegations_follow_the_rules(platform: Platform, clock: FrozenClock) -> None:
    base, seen = eligibility_scene(platform), Seen()
    machine: Callable[[], DueItemMachine] = lambda: DueItemMachine(platform, clock, base, seen)  # noqa: E731
    run_state_machine_as_test(machine, settings=STATEFUL)  # type: ignore[no-untyped-call]
    assert seen.milestones >= MILESTONES, f"never reached: {sorted(MILESTONES - seen.milestones)}"
