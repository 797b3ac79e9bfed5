"""Commit guards run once before every commit, first in a unit of work, and a failing one stops the commit."""

from __future__ import annotations

import pytest

from essc.core.context import Actor, RequestContext
from essc.core.db import Session, guard_commit
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork


class GuardFailed(Exception):
    """Raised by the test's guard when told to."""


class CountingGuard:
    """A guard that counts its runs, notes whether audit entries were already appended, and can refuse."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.runs = 0
        self.saw_pending_audit: list[bool] = []
        self.refuse = False

    def __call__(self, _session: Session) -> None:
        self.runs += 1
        self.saw_pending_audit.append(bool(self.uow._audit))
        if self.refuse:
            raise GuardFailed


def _guarded(platform: Platform) -> tuple[UnitOfWork, CountingGuard]:
    uow = UnitOfWork(platform, RequestContext(actor=Actor.operator("test")))
    guard = CountingGuard(uow)
    guard_commit(uow.session, guard)
    return uow, guard


def test_a_unit_of_work_runs_its_guards_once_per_commit_before_appending_audit(platform: Platform) -> None:
    uow, guard = _guarded(platform)
    with uow:
        uow.audit("test.first", "test", "a", None)
        uow.commit()
        uow.audit("test.second", "test", "b", None)
        uow.commit()
    assert guard.runs == 2
    assert guard.saw_pending_audit == [True, True]  # the audit entries were still waiting


def test_a_plain_session_commit_runs_the_guards_too(platform: Platform) -> None:
    uow, guard = _guarded(platform)
    with uow:
        uow.session.commit()
    assert guard.runs == 1


def test_a_refusing_guard_stops_the_commit_and_the_next_commit_is_guarded_again(platform: Platform) -> None:
    uow, guard = _guarded(platform)
    with uow:
        guard.refuse = True
        uow.audit("test.refused", "test", "c", None)
        with pytest.raises(GuardFailed):
            uow.commit()
        uow.rollback()
        guard.refuse = False
        uow.session.commit()  # outside the unit of work's commit: the event must still run the guard
    assert guard.runs == 2
