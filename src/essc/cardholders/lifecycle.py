"""The physical card's status machine (aaz502) and the events a province sends to move it."""

from __future__ import annotations

from enum import StrEnum


class CardStatus(StrEnum):
    NORMAL = "normal"  # 正常
    TEMP_LOST = "temp_lost"  # 临时挂失
    LOST = "lost"  # 正式挂失
    LOCKED = "locked"  # 应用锁定
    CANCELLED = "cancelled"  # 注销


class CardEventType(StrEnum):
    TEMPORARILY_LOST = "temporarily_lost"
    LOST = "lost"
    LOSS_CLEARED = "loss_cleared"  # 挂失解除
    LOCKED = "locked"
    UNLOCKED = "unlocked"
    CANCELLED = "cancelled"
    REPLACED = "replaced"  # 补换卡: the old card is cancelled, a new aaz500 is issued to the same person


_ANY_LIVE = frozenset({CardStatus.NORMAL, CardStatus.TEMP_LOST, CardStatus.LOST, CardStatus.LOCKED})

# event -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[CardEventType, tuple[frozenset[CardStatus], CardStatus]] = {
    CardEventType.TEMPORARILY_LOST: (frozenset({CardStatus.NORMAL, CardStatus.LOCKED}), CardStatus.TEMP_LOST),
    CardEventType.LOST: (
        frozenset({CardStatus.NORMAL, CardStatus.TEMP_LOST, CardStatus.LOCKED}),
        CardStatus.LOST,
    ),
    CardEventType.LOSS_CLEARED: (frozenset({CardStatus.TEMP_LOST, CardStatus.LOST}), CardStatus.NORMAL),
    CardEventType.LOCKED: (frozenset({CardStatus.NORMAL}), CardStatus.LOCKED),
    CardEventType.UNLOCKED: (frozenset({CardStatus.LOCKED}), CardStatus.NORMAL),
    CardEventType.CANCELLED: (_ANY_LIVE, CardStatus.CANCELLED),
    CardEventType.REPLACED: (_ANY_LIVE, CardStatus.CANCELLED),
}


def next_status(current: CardStatus, event: CardEventType) -> CardStatus | None:
    """The status after the event, or None when the event is not allowed from the current status."""
    allowed_from, target = TRANSITIONS[event]
    return target if current in allowed_from else None


def card_is_usable(status: str) -> bool:
    """An e-card can be used only while its physical card is normal."""
    return status == CardStatus.NORMAL
