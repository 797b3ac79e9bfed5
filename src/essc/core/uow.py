"""Unit of work: one transaction per request or job; audit entries are inserted into it at commit."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

from essc.core.auditing import AuditStamp, PendingAuditEntry, audit_log
from essc.core.context import RequestContext
from essc.core.db import (
    OneStatementSession,
    ReadingSession,
    Session,
    WritesInReadOnlyWork,
    WritesOutsideTheStatement,
    commit_guards_first,
    run_on_loop,
)
from essc.core.events import Event, handlers
from essc.core.platform import Platform
from essc.kit.ids import new_id

_P = ParamSpec("_P")
_T = TypeVar("_T")


class UnitOfWork:
    """Services flush through `session`; only the owner of the unit of work commits."""

    def __init__(self, platform: Platform, context: RequestContext, session: Session | None = None) -> None:
        self.platform = platform
        self.context = context
        # A request passes a session of its event loop's engine; jobs and the CLI get the blocking one.
        self.session: Session = session if session is not None else platform.session_factory()
        self.clock = platform.clock
        self._audit: list[PendingAuditEntry] = []

    def audit(
        self,
        action: str,
        subject_kind: str,
        subject_id: str,
        province: str | None,
        **details: Any,
    ) -> None:
        """Record who did what to which subject; written in this transaction or not at all."""
        if isinstance(self.session, ReadingSession):
            raise WritesInReadOnlyWork(f"{action} would be audited in a unit of work declared to only read")
        if isinstance(self.session, OneStatementSession):
            # Appended at commit it would be a second statement, committed apart from the change it records.
            raise WritesOutsideTheStatement(f"{action} must be written by the work's one statement (stamp())")
        actor = self.context.actor
        self._audit.append(
            PendingAuditEntry(
                id=new_id(),
                at=self.clock.now(),
                actor_kind=actor.kind,
                actor_id=actor.id,
                action=action,
                subject_kind=subject_kind,
                subject_id=subject_id,
                province=province,
                source_ip=self._address_digest(self.context.source_ip),
                request_id=self.context.request_id,
                details=details,
            )
        )

    def stamp(self) -> AuditStamp:
        """Who, from where and now: for audit entries a statement writes itself (essc.audit.repository)."""
        actor = self.context.actor
        return AuditStamp(
            at=self.clock.now(),
            actor_kind=actor.kind,
            actor_id=actor.id,
            source_ip=self._address_digest(self.context.source_ip),
            request_id=self.context.request_id,
        )

    def _address_digest(self, address: str | None) -> str | None:
        """The caller's address as its blind index: audit leaves are published and name no one."""
        if address is None:
            return None
        return self.platform.blind_index.of("source_ip", address).hex()

    # Domain events (essc.core.events): the handlers wired at composition run now, in this transaction.
    def record(self, event: Event) -> None:
        """Hand what just happened to its handlers, which change state through this unit of work."""
        handlers.dispatch(self, event)

    def commit(self) -> None:
        with commit_guards_first(self.session):
            if self._audit:
                audit_log.append(self.session, self._audit)
                self._audit.clear()
            self.session.commit()

    async def run(
        self, work: Callable[Concatenate[UnitOfWork, _P], _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """Run a service on this unit of work from a request, on the event loop (essc.core.db.run_on_loop)."""
        return await run_on_loop(work, self, *args, **kwargs)

    def rollback(self) -> None:
        self._audit.clear()
        self.session.rollback()

    def close(self) -> None:
        self.session.close()

    async def close_on_loop(self) -> None:
        """Close a request's unit of work: a transaction left open is rolled back on the loop."""
        if self.session.in_transaction():
            await run_on_loop(self.close)
        else:
            self.close()  # after a commit, closing does no I/O

    def __enter__(self) -> UnitOfWork:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.rollback()
        self.close()
