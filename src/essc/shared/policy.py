"""What every endpoint serves: the function and the party (caller kind), declared once per route."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Function(StrEnum):
    """The functions a province authorises a channel for and enables for its cardholders (see README)."""

    ISSUANCE = "issuance"
    LOGIN = "login"
    QR = "qr"
    PAYMENT = "payment"
    QUERIES = "queries"
    BUSINESS_APPLICATIONS = "business_applications"
    ELIGIBILITY_CERTIFICATION = "eligibility_certification"


class Party(StrEnum):
    """Who may call an endpoint."""

    CHANNEL = "channel"
    PROVINCE = "province"
    TERMINAL = "terminal"
    MINISTRY = "ministry"
    SIGNED = "signed"  # any registered signing party (opening a MAC session)
    PUBLIC = "public"  # no authentication (health, reference data, platform keys)


NATIONAL = "00"  # the province code of a grant that holds in every province (made by the ministry)


@dataclass(frozen=True, slots=True)
class Policy:
    """The declaration of one route: a channel route names the function it serves; others may."""

    party: Party
    function: Function | None

    def describe(self) -> dict[str, str]:
        return {"party": self.party.value} | ({"function": self.function.value} if self.function else {})
