"""Imports every table so metadata (Alembic, tests) sees the whole schema."""

from __future__ import annotations

from essc.access.models import Caller, CallerKey, SeenNonce
from essc.audit.models import AuditEntry, AuditHead
from essc.cardholders.models import Card, CardEvent, Person
from essc.channels.models import Channel
from essc.core.db import Base
from essc.ecards.models import BusiSeq, Ecard, EcardPassword, Issuance, IssuanceEvidence
from essc.regions.models import Region
from essc.webhooks.models import DeliveryAttempt, OutboxMessage

__all__ = [
    "AuditEntry",
    "AuditHead",
    "Base",
    "BusiSeq",
    "Caller",
    "CallerKey",
    "Card",
    "CardEvent",
    "Channel",
    "DeliveryAttempt",
    "Ecard",
    "EcardPassword",
    "Issuance",
    "IssuanceEvidence",
    "OutboxMessage",
    "Person",
    "Region",
    "SeenNonce",
]
