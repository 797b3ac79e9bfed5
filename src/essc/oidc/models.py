"""Tables of the OpenID provider: relying parties, authorizations, grants, tokens, client assertions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CHAR, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from essc.core.db import Base, UtcDateTime
from essc.core.outbox import OutboxStatus


class RelyingPartyStatus(StrEnum):
    """oidc_relying_parties.status: logs holders in, or held back by whoever registered it."""

    ACTIVE = "active"
    SUSPENDED = "suspended"


class RelyingParty(Base):
    """A website, HRSS app or kiosk that logs holders in with their e-card (an OAuth client)."""

    __tablename__ = "oidc_relying_parties"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    # Whose holders it may log in: a province code, or "00" (registered by the ministry) for every province.
    province: Mapped[str] = mapped_column(CHAR(2))
    registered_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # RelyingPartyStatus
    redirect_uris: Mapped[str] = mapped_column(Text)  # JSON list, matched exactly
    jwks: Mapped[str] = mapped_column(Text)  # JSON {"keys": [...]}: private_key_jwt and JWE to the RP
    id_token_alg: Mapped[str] = mapped_column(String(16))  # ES256 | SM2SM3
    scopes: Mapped[str] = mapped_column(Text)  # space-separated scopes it may ask for
    clear_id_number: Mapped[bool] = mapped_column(Boolean)  # authorised for the clear ID number
    sector: Mapped[str] = mapped_column(String(255))  # pairwise subjects are per sector
    backchannel_logout_uri: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AuthorizationStatus(StrEnum):
    """One login from PAR to tokens: pushed -> shown -> (code issued) -> redeemed; denied ends it."""

    PUSHED = "pushed"  # PAR stored; request_uri not used yet
    SHOWN = "shown"  # /authorize spent the request_uri and showed the page; the holder is logging in
    CODE_ISSUED = "code_issued"
    REDEEMED = "redeemed"


class AuthMethod(StrEnum):
    """oidc_authorizations.auth_method: how the holder proved who they are."""

    KIOSK_PASSWORD = "kiosk_password"  # noqa: S105 (a method name, not a secret); e-card number and e-card password
    KIOSK_CHIP = "kiosk_chip"  # third-generation card's chip signature and e-card password
    SCAN = "scan"  # the page's scan-to-login code confirmed in a channel app (busiSeq)
    APP = "app"  # a channel app approved the request for the holder whose e-card it holds (busiSeq)


class Authorization(Base):
    """One authorization request: its parameters, the page's interaction, the code (single-use digests)."""

    __tablename__ = "oidc_authorizations"
    __table_args__ = (Index("ix_oidc_authorizations_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_relying_parties.client_id"))
    status: Mapped[str] = mapped_column(String(16))  # AuthorizationStatus
    params: Mapped[str] = mapped_column(Text)  # JSON of the pushed request (nothing personal)
    request_digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    interaction_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    code_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)  # of whichever single-use value is live
    holder_province: Mapped[str | None] = mapped_column(CHAR(2))
    ecard_id: Mapped[str | None] = mapped_column(CHAR(26))
    clear_id_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    auth_method: Mapped[str | None] = mapped_column(String(16))  # AuthMethod
    login_code_id: Mapped[str | None] = mapped_column(CHAR(26), unique=True)  # the page's scan-to-login code
    chip_challenge: Mapped[bytes | None] = mapped_column(LargeBinary(32))  # for a third-generation card
    auth_time: Mapped[datetime | None] = mapped_column(UtcDateTime)
    grant_id: Mapped[str | None] = mapped_column(CHAR(26))  # what the code's first use issued
    redeemed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Grant(Base):
    """What one login gave one relying party (its session, sid); revoking it ends every token of it."""

    __tablename__ = "oidc_grants"
    __table_args__ = (Index("ix_oidc_grants_holder", "holder_province", "ecard_id"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)  # also the sid of the ID token
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_relying_parties.client_id"))
    holder_province: Mapped[str] = mapped_column(CHAR(2))
    ecard_id: Mapped[str] = mapped_column(CHAR(26))
    scope: Mapped[str] = mapped_column(Text)
    clear_id_consent: Mapped[bool] = mapped_column(Boolean)
    auth_time: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class TokenKind(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


class Token(Base):
    """An access or refresh token, by the keyed digest of its value only."""

    __tablename__ = "oidc_tokens"
    __table_args__ = (Index("ix_oidc_tokens_grant", "grant_id"),)

    digest: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("oidc_grants.id"))
    kind: Mapped[str] = mapped_column(String(8))  # TokenKind
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # a refresh token rotated away


class ClientAssertion(Base):
    """A private_key_jwt assertion's jti, kept until it expires so it is accepted once."""

    __tablename__ = "oidc_client_assertions"
    __table_args__ = (Index("ix_oidc_client_assertions_expires", "expires_at"),)

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    jti: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


# oidc_logout_notices.status: the states of every leased outbox (essc.core.outbox)
NoticeStatus = OutboxStatus


class LogoutNotice(Base):
    """A back-channel logout token for one relying party, queued in the transaction that ended the session."""

    __tablename__ = "oidc_logout_notices"
    __table_args__ = (Index("ix_oidc_logout_notices_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(CHAR(26), primary_key=True)  # also the logout token's jti
    client_id: Mapped[str] = mapped_column(ForeignKey("oidc_relying_parties.client_id"))
    grant_id: Mapped[str] = mapped_column(CHAR(26))
    url: Mapped[str] = mapped_column(String(512))
    logout_token: Mapped[str] = mapped_column(Text)  # names a pairwise sub and a sid, nothing personal
    status: Mapped[str] = mapped_column(String(16))  # NoticeStatus
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(256))
