"""Domain events: a service records what happened on its unit of work; the handlers wired at composition run
at once, in the same transaction, so the domain that publishes never imports the domains that react."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from essc.core.uow import UnitOfWork


class Event:
    """Something that happened in one domain; subclasses are frozen dataclasses named in the past tense."""


Handler = Callable[["UnitOfWork", Any], None]


class HandlersNotRegistered(RuntimeError):
    """An event was recorded before the process wired its handlers (essc.wiring.register_handlers)."""


class EventHandlers:
    """Which handlers react to which event type; replaced as a whole by the composition root."""

    def __init__(self) -> None:
        self._by_type: dict[type[Event], tuple[Handler, ...]] | None = None

    def register(self, table: Mapping[type[Event], Sequence[Handler]]) -> None:
        self._by_type = {event_type: tuple(handlers) for event_type, handlers in table.items()}

    def of(self, event_type: type[Event]) -> tuple[Handler, ...]:
        # Loud beats an unwired process silently skipping a reaction (an e-card not following its card).
        if self._by_type is None:
            raise HandlersNotRegistered(f"{event_type.__name__} recorded before register_handlers()")
        return self._by_type.get(event_type, ())

    def dispatch(self, uow: UnitOfWork, event: Event) -> None:
        for handler in self.of(type(event)):
            handler(uow, event)


handlers = EventHandlers()
