"""Domain events reach the handlers wired at composition, at once; an unwired process refuses to record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from essc.cardholders.events import CardChanged
from essc.core.events import Event, EventHandlers, HandlersNotRegistered, handlers
from essc.ecards.events import EcardStopped
from essc.wiring import register_handlers


@dataclass(frozen=True, slots=True)
class Happened(Event):
    what: str


def test_handlers_run_in_order_when_the_event_is_recorded() -> None:
    seen: list[str] = []
    table = EventHandlers()
    table.register(
        {
            Happened: [
                lambda uow, e: seen.append(f"first {e.what}"),
                lambda uow, e: seen.append(f"then {e.what}"),
            ]
        }
    )
    uow: Any = object()
    table.dispatch(uow, Happened("x"))
    assert seen == ["first x", "then x"]


def test_an_event_without_handlers_is_fine_once_wired() -> None:
    table = EventHandlers()
    table.register({})
    uow: Any = object()
    table.dispatch(uow, Happened("x"))


def test_recording_before_wiring_fails_loudly() -> None:
    uow: Any = object()
    with pytest.raises(HandlersNotRegistered):
        EventHandlers().dispatch(uow, Happened("x"))


def test_every_domain_event_has_a_handler_once_the_platform_is_wired() -> None:
    register_handlers()
    assert all(handlers.of(event_type) for event_type in (CardChanged, EcardStopped))
