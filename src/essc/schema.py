"""Every table of the platform in one metadata (Alembic, tests, benchmarks): imports each domain's models."""

from __future__ import annotations

from essc.access.models import Caller, CallerKey, CallerSession, PublicKeyOwner
from essc.audit.models import AuditCosignature, AuditEntry, AuditTile, AuditTreeHead, AuditWitness
from essc.authorisations.models import ChannelGrant, ProvinceBusinessItem
from essc.cardholders.models import Card, CardEvent, HolderFeedMark, ImportBatch, Person
from essc.channels.models import Channel, ChannelCertification
from essc.chips.models import ChipChallenge
from essc.core.db import Base
from essc.core.nonces import SeenNonce
from essc.credentials.models import CredentialRecord, CredentialStatusList
from essc.ecards.models import BusiSeq, Ecard, EcardPassword, Issuance, IssuanceEvidence
from essc.eligibility.models import (
    BenefitSystemEndpoint,
    Certification,
    Delegation,
    DueItem,
    Reminder,
)
from essc.eligibility.models import Delivery as EligibilityDelivery
from essc.eligibility.models import DeliveryAttempt as EligibilityDeliveryAttempt
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
    "BenefitSystemEndpoint",
    "BusiSeq",
    "Caller",
    "CallerKey",
    "CallerSession",
    "Card",
    "CardEvent",
    "CardUsage",
    "Certification",
    "Channel",
    "ChannelCertification",
    "ChannelGrant",
    "ChipChallenge",
    "ClientAssertion",
    "CredentialRecord",
    "CredentialStatusList",
    "Delegation",
    "DeliveryAttempt",
    "DeviceCertificateRecord",
    "DueItem",
    "Ecard",
    "EcardPassword",
    "EligibilityDelivery",
    "EligibilityDeliveryAttempt",
    "Grant",
    "HolderFeedMark",
    "IdempotencyRecord",
    "ImportBatch",
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
    "PublicKeyOwner",
    "Region",
    "RelyingParty",
    "Reminder",
    "SeenNonce",
    "Terminal",
    "TerminalGrant",
    "Token",
]
