"""Wire types of scan-to-login: the site's code and status, the holder's scan and answer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from essc.kit.schemas import WireModel
from essc.terminals.schemas import InstitutionKind, TerminalKind


class LoginStatus(StrEnum):
    """Where a login stands; confirmed, denied, consumed and expired are final."""

    PENDING = "pending"  # shown, not scanned yet
    SCANNED = "scanned"  # a holder scanned it and is deciding
    CONFIRMED = "confirmed"  # the holder confirmed; the site may collect the result once
    DENIED = "denied"
    CONSUMED = "consumed"  # the site collected the confirmed result
    EXPIRED = "expired"


FINAL_STATUSES = frozenset(
    {LoginStatus.CONFIRMED, LoginStatus.DENIED, LoginStatus.CONSUMED, LoginStatus.EXPIRED}
)


class LoginCodeOut(WireModel):
    login_id: str = Field(alias="loginId", description="poll GET /v1/login-codes/{loginId} with it")
    code: str = Field(description="the payload to show: ESSC:L1:<token>, nothing personal")
    expires_at: datetime = Field(alias="expiresAt")
    png: str | None = Field(default=None, description="base64 PNG of the QR code")
    svg: str | None = Field(default=None, description="SVG of the QR code")


class ScanRequest(WireModel):
    code: str = Field(min_length=1, max_length=1024)
    sign_no: str = Field(alias="signNo", min_length=1, max_length=64)


class ScanOut(WireModel):
    """What the app shows before the holder decides: "log in to <institution>?"."""

    login_id: str = Field(alias="loginId")
    status: LoginStatus
    institution: str = Field(
        description="name of the institution that shows the code (or of the relying party of the login page)"
    )
    institution_kind: InstitutionKind | None = Field(
        default=None, alias="institutionKind", description="absent for a relying party's login page"
    )
    terminal_kind: TerminalKind | None = Field(
        default=None, alias="terminalKind", description="absent for a relying party's login page"
    )
    relying_party: str | None = Field(
        default=None,
        alias="relyingParty",
        description="client_id of the relying party whose login page (OpenID provider) shows the code",
    )
    expires_at: datetime = Field(alias="expiresAt")


class ConfirmRequest(WireModel):
    code: str = Field(min_length=1, max_length=1024)
    sign_no: str = Field(alias="signNo", min_length=1, max_length=64)
    busi_seq: str = Field(alias="busiSeq", min_length=1, max_length=128, description="purpose login")


class DenyRequest(WireModel):
    code: str = Field(min_length=1, max_length=1024)
    sign_no: str = Field(alias="signNo", min_length=1, max_length=64)


class AnswerOut(WireModel):
    login_id: str = Field(alias="loginId")
    status: LoginStatus


class LoginState(WireModel):
    """The site's view; the holder's fields appear exactly once, in the answer that reads confirmed."""

    login_id: str = Field(alias="loginId")
    status: LoginStatus
    expires_at: datetime = Field(alias="expiresAt")
    subject: str | None = Field(default=None, description="pseudonym of the holder, stable per institution")
    aac003: str | None = Field(
        default=None, description="masked name (withheld from presence-only institutions)"
    )
    sign_level: int | None = Field(default=None, alias="signLevel")
    confirmed_at: datetime | None = Field(default=None, alias="confirmedAt")
    consumed_at: datetime | None = Field(default=None, alias="consumedAt")


class LoginEvent(WireModel):
    """One Server-Sent Event of the status stream; it names the status only, the result comes from GET."""

    login_id: str = Field(alias="loginId")
    status: LoginStatus
    expires_at: datetime = Field(alias="expiresAt")
