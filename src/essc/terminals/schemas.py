"""Wire types of institutions and terminals."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from essc.kit.schemas import DisplayName, WireModel


class BusiType(StrEnum):
    """What a scanned code is used for (docs/protocol.md, Glossary: busiType)."""

    QUERY = "01"
    PAYMENT = "02"
    OTHER = "03"
    CROSS_REGION_MEDICAL = "04"


class Disclosure(StrEnum):
    """How much of the holder a terminal learns when it resolves a code, from least to most."""

    PRESENCE = "presence"  # usable yes/no and a pseudonym stable per institution
    MASKED = "masked"  # plus masked name and ID number
    CLEAR = "clear"  # plus the clear name and ID number (the read is audited)


DISCLOSURE_RANK = {Disclosure.PRESENCE: 0, Disclosure.MASKED: 1, Disclosure.CLEAR: 2}


class InstitutionKind(StrEnum):
    HRSS_CENTRE = "hrss_centre"
    HOSPITAL = "hospital"
    PHARMACY = "pharmacy"
    BANK = "bank"
    TRANSIT = "transit"
    OTHER = "other"


# The most an institution of each kind may ever be granted; a transit gate only needs yes/no.
MAX_DISCLOSURE = {
    InstitutionKind.HRSS_CENTRE: Disclosure.CLEAR,
    InstitutionKind.HOSPITAL: Disclosure.CLEAR,
    InstitutionKind.PHARMACY: Disclosure.CLEAR,
    InstitutionKind.BANK: Disclosure.MASKED,
    InstitutionKind.TRANSIT: Disclosure.PRESENCE,
    InstitutionKind.OTHER: Disclosure.MASKED,
}


class TerminalKind(StrEnum):
    COUNTER = "counter"
    KIOSK = "kiosk"
    GATE = "gate"
    POS = "pos"
    WEB = "web"


class PartyStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class InstitutionIn(WireModel):
    code: str = Field(pattern=r"^[0-9A-Z]{6,32}$", description="registration number, unique in the province")
    name: DisplayName = Field(min_length=1, max_length=128)
    kind: InstitutionKind
    webhook_url: str | None = Field(default=None, alias="webhookUrl", max_length=512)


class InstitutionOut(WireModel):
    code: str
    province: str
    name: str
    kind: InstitutionKind
    status: PartyStatus
    created_at: datetime = Field(alias="createdAt")


class Grant(WireModel):
    busi_type: BusiType = Field(alias="busiType")
    disclosure: Disclosure


class TerminalIn(WireModel):
    terminal_no: str = Field(alias="terminalNo", pattern=r"^[0-9A-Z]{8,20}$")
    device_serial: str = Field(alias="deviceSerial", min_length=1, max_length=64)
    kind: TerminalKind
    public_key: str = Field(alias="publicKey", description="PEM of the terminal's SM2 public key")
    key_id: str = Field(alias="keyId", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    grants: list[Grant] = Field(default_factory=list)


class TerminalOut(WireModel):
    terminal_no: str = Field(alias="terminalNo")
    institution: str
    province: str
    kind: TerminalKind
    status: PartyStatus
    grants: list[Grant]


class StatusChange(WireModel):
    status: PartyStatus
    reason: DisplayName = Field(min_length=1, max_length=256)
