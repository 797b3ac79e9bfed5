"""Every table of the platform in one metadata (Alembic, tests, benchmarks): imports each domain's models."""

from __future__ import annotations

from essc.access.models import Caller, CallerKey, CallerSession
from essc.audit.models import AuditCosignature, AuditEntry, AuditTile, AuditTreeHead, AuditWitness
from essc.authorisations.models import ChannelGrant, ProvinceBusinessItem
from essc.cardholders.models import Card, CardEvent, Person
from essc.channels.models import Channel, ChannelCertification
from essc.chips.models import ChipChallenge
from essc.core.db import Base
from essc.core.nonces import SeenNonce
from essc.ecards.models import BusiSeq, Ecard, EcardPassword, Issuance, IssuanceEvidence
from essc.idempotency.models import IdempotencyRecord
from essc.login.models import LoginCode
from essc.offline.models import DeviceCertificateRecord, OfflineAcceptanceRecord
from essc.oidc.models import Authorization, ClientAssertion, Grant, LogoutNotice, RelyingParty, Token
from essc.qr.models import CardUsage, OnlineCode
from essc.regions.models import Region
from essc.terminals.models import Institution, Terminal, TerminalGrant
from essc.webhooks.models import DeliveryAttempt, OutboxMessage

__all__ = [
    "AuditCosignature",
    "AuditEntry",
    "AuditTile",
    "AuditTreeHead",
    "AuditWitness",
    "Authorization",
    "Base",
    "BusiSeq",
    "Caller",
    "CallerKey",
    "CallerSession",
    "Card",
    "CardEvent",
    "CardUsage",
    "Channel",
    "ChannelCertification",
    "ChannelGrant",
    "ChipChallenge",
    "ClientAssertion",
    "DeliveryAttempt",
    "DeviceCertificateRecord",
    "Ecard",
    "EcardPassword",
    "Grant",
    "IdempotencyRecord",
    "Institution",
    "Issuance",
    "IssuanceEvidence",
    "LoginCode",
    "LogoutNotice",
    "OfflineAcceptanceRecord",
    "OnlineCode",
    "OutboxMessage",
    "Person",
    "ProvinceBusinessItem",
    "Region",
    "RelyingParty",
    "SeenNonce",
    "Terminal",
    "TerminalGrant",
    "Token",
]
