"""All SQL of the OpenID provider; every single-use value is spent by one conditional UPDATE, so one wins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, String, bindparam, insert, select, update

from essc.authorisations.models import ProvinceBusinessItem
from essc.cardholders.models import Card, Person
from essc.core.db import (
    HotStatement,
    Session,
    UtcDateTime,
    affected_rows,
    changing_row,
    insert_ignoring_conflicts,
    table_of,
    unattached,
)
from essc.ecards.models import Ecard
from essc.oidc.models import (
    Authorization,
    AuthorizationStatus,
    ClientAssertion,
    Grant,
    LogoutNotice,
    RelyingParty,
    RelyingPartyStatus,
    Token,
    TokenKind,
)
from essc.shared.policy import Function


def add_relying_party(session: Session, values: dict[str, Any]) -> bool:
    """Insert a relying party unless its client_id is taken; False when it was."""
    return insert_ignoring_conflicts(session, table_of(RelyingParty), [values]) == 1


def relying_party(session: Session, client_id: str) -> RelyingParty | None:
    return session.get(RelyingParty, client_id)


_parties = table_of(RelyingParty)
# Built once and run on the driver: PAR, the page and the token request each read the relying party.
_RELYING_PARTY = HotStatement(select(*_parties.columns).where(_parties.c.client_id == bindparam("client_id")))


def read_relying_party(session: Session, client_id: str) -> RelyingParty | None:
    """The relying party as it stands now, for rules that only read it (not the session's: `unattached`)."""
    rows = _RELYING_PARTY.execute(session, {"client_id": client_id}).rows
    return unattached(RelyingParty, rows[0]) if rows else None


def active_relying_parties(session: Session) -> list[RelyingParty]:
    return list(
        session.execute(
            select(RelyingParty)
            .where(RelyingParty.status == RelyingPartyStatus.ACTIVE)
            .order_by(RelyingParty.province, RelyingParty.name)
        ).scalars()
    )


def login_enabled(session: Session, province: str) -> bool:
    """Whether the province enabled the login business item for its cardholders (absent: disabled)."""
    row = session.get(ProvinceBusinessItem, (province, Function.LOGIN.value))
    return bool(row and row.enabled)


def claim_assertion(session: Session, client_id: str, jti: str, expires_at: datetime) -> bool:
    """Record a client assertion's jti; False when it was seen before (a replay)."""
    values = {"client_id": client_id, "jti": jti, "expires_at": expires_at}
    return insert_ignoring_conflicts(session, table_of(ClientAssertion), [values]) == 1


_authorizations = table_of(Authorization)
_NOW = bindparam("now", type_=UtcDateTime())
_LIVE = _authorizations.c.expires_at > _NOW
_OF_CLIENT = _authorizations.c.client_id == bindparam("client")
_ADD_AUTHORIZATION = HotStatement(insert(_authorizations), columns_from_params=True)


def add_authorization(session: Session, values: dict[str, Any]) -> None:
    """Insert a pushed authorization request (every column named: no ORM defaults are applied)."""
    _ADD_AUTHORIZATION.execute(session, values)


def _changed(statement: HotStatement, session: Session, params: dict[str, Any]) -> Authorization | None:
    """The row as the change left it (not the session's: `unattached`), or None when nothing matched."""
    rows = statement.execute(session, params).rows
    return unattached(Authorization, rows[0]) if rows else None


# Built once and run on the driver: the page, the poll (or a kiosk login) and the token request each send one.
_SPEND_REQUEST = changing_row(
    _authorizations,
    _authorizations.c.request_digest == bindparam("digest"),
    _OF_CLIENT,
    _authorizations.c.status == AuthorizationStatus.PUSHED.value,
    _LIVE,
    status=AuthorizationStatus.SHOWN.value,
    interaction_digest=bindparam("interaction"),
    expires_at=bindparam("until", type_=UtcDateTime()),
    chip_challenge=bindparam("challenge"),
    login_code_id=bindparam("login_code"),
)
_ISSUE_CODE = changing_row(
    _authorizations,
    _authorizations.c.id == bindparam("authorization"),
    _authorizations.c.status == bindparam("from_status", type_=String()),
    _LIVE,
    status=AuthorizationStatus.CODE_ISSUED.value,
    code_digest=bindparam("code"),
    expires_at=bindparam("code_expires_at", type_=UtcDateTime()),
    holder_province=bindparam("province"),
    ecard_id=bindparam("ecard"),
    auth_method=bindparam("method"),
    auth_time=bindparam("logged_in_at", type_=UtcDateTime()),
    clear_id_consent=bindparam("consent", type_=Boolean()),
)
_REDEEM_CODE = changing_row(
    _authorizations,
    _authorizations.c.code_digest == bindparam("digest"),
    _OF_CLIENT,
    _authorizations.c.status == AuthorizationStatus.CODE_ISSUED.value,
    _LIVE,
    status=AuthorizationStatus.REDEEMED.value,
    redeemed_at=_NOW,
    grant_id=bindparam("grant"),
)


def spend_request(
    session: Session,
    digest: bytes,
    client_id: str,
    now: datetime,
    *,
    interaction: bytes,
    until: datetime,
    chip_challenge: bytes,
    login_code_id: str,
) -> Authorization | None:
    """Spend a pushed request_uri once: it becomes the page's interaction (chip challenge, scan code)."""
    return _changed(
        _SPEND_REQUEST,
        session,
        {
            "digest": digest,
            "client": client_id,
            "now": now,
            "interaction": interaction,
            "until": until,
            "challenge": chip_challenge,
            "login_code": login_code_id,
        },
    )


def pushed(session: Session, digest: bytes, client_id: str, now: datetime) -> Authorization | None:
    """A live pushed request of this client that no page has spent."""
    return session.execute(
        select(Authorization).where(
            Authorization.request_digest == digest,
            Authorization.client_id == client_id,
            Authorization.status == AuthorizationStatus.PUSHED,
            Authorization.expires_at > now,
        )
    ).scalar_one_or_none()


_PAGE = HotStatement(
    select(*_authorizations.columns, *_parties.columns)
    .join(_parties, _parties.c.client_id == _authorizations.c.client_id)
    .where(_authorizations.c.interaction_digest == bindparam("interaction"))
)
_SHOW_ANOTHER_CODE = HotStatement(
    update(_authorizations)
    .where(_authorizations.c.id == bindparam("authorization"))
    .values(login_code_id=bindparam("login_code"))
)


def page(session: Session, interaction_digest: bytes) -> tuple[Authorization, RelyingParty] | None:
    """The authorization request of a login page's interaction, with its relying party (one statement).

    Neither is the session's (`unattached`): a change to the request goes through its own statement.
    """
    rows = _PAGE.execute(session, {"interaction": interaction_digest}).rows
    if not rows:
        return None
    split = len(_authorizations.columns)
    return unattached(Authorization, rows[0][:split]), unattached(RelyingParty, rows[0][split:])


def show_another_code(session: Session, authorization_id: str, login_code_id: str) -> None:
    """Name the login code the page shows from now on (the one it showed is no longer its)."""
    _SHOW_ANOTHER_CODE.execute(session, {"authorization": authorization_id, "login_code": login_code_id})


def issue_code(
    session: Session,
    authorization_id: str,
    now: datetime,
    code_digest: bytes,
    *,
    from_status: AuthorizationStatus,
    expires_at: datetime,
    holder_province: str,
    ecard_id: str,
    auth_method: str,
    auth_time: datetime,
    clear_id_consent: bool,
) -> Authorization | None:
    """The holder logged in on a live page (or in an app, on a pushed request): one of racing posts wins."""
    return _changed(
        _ISSUE_CODE,
        session,
        {
            "authorization": authorization_id,
            "from_status": from_status.value,
            "now": now,
            "code": code_digest,
            "code_expires_at": expires_at,
            "province": holder_province,
            "ecard": ecard_id,
            "method": auth_method,
            "logged_in_at": auth_time,
            "consent": clear_id_consent,
        },
    )


def redeem_code(
    session: Session, digest: bytes, client_id: str, now: datetime, grant_id: str
) -> Authorization | None:
    """Spend a live code of this client once, naming the grant its use issues (inserted by the caller)."""
    return _changed(
        _REDEEM_CODE, session, {"digest": digest, "client": client_id, "now": now, "grant": grant_id}
    )


def by_code(session: Session, digest: bytes) -> Authorization | None:
    return session.execute(
        select(Authorization).where(Authorization.code_digest == digest)
    ).scalar_one_or_none()


_ADD_GRANT = HotStatement(insert(table_of(Grant)), columns_from_params=True)
_ADD_TOKENS = HotStatement(insert(table_of(Token)), columns_from_params=True)


def add_grant(session: Session, values: dict[str, Any]) -> None:
    """Insert a grant (every column named: no ORM defaults are applied)."""
    _ADD_GRANT.execute(session, values)


def add_tokens(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert tokens of a grant inserted before (every column named: no ORM defaults are applied)."""
    _ADD_TOKENS.execute(session, rows)


def add_notice(session: Session, notice: LogoutNotice) -> None:
    session.add(notice)


def spend_refresh(session: Session, digest: bytes, now: datetime) -> Token | None:
    """Rotate a live refresh token away once; of concurrent refreshes one wins."""
    return session.execute(
        update(Token)
        .where(
            Token.digest == digest,
            Token.kind == TokenKind.REFRESH,
            Token.used_at.is_(None),
            Token.expires_at > now,
        )
        .values(used_at=now)
        .returning(Token)
        .execution_options(synchronize_session=False, populate_existing=True)
    ).scalar_one_or_none()


def token(session: Session, digest: bytes) -> Token | None:
    return session.get(Token, digest)


def live_access(session: Session, digest: bytes, now: datetime) -> Grant | None:
    """The grant of a live access token, if the token and its grant are both in force."""
    return session.execute(
        select(Grant)
        .join(Token, Token.grant_id == Grant.id)
        .where(
            Token.digest == digest,
            Token.kind == TokenKind.ACCESS,
            Token.expires_at > now,
            Grant.revoked_at.is_(None),
        )
    ).scalar_one_or_none()


def grant(session: Session, grant_id: str) -> Grant | None:
    return session.get(Grant, grant_id)


def revoke_grant(session: Session, grant_id: str, now: datetime, reason: str) -> bool:
    """Revoke a grant (every token of it stops at once: lookups join the grant); False if it was already."""
    done = session.execute(
        update(Grant)
        .where(Grant.id == grant_id, Grant.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return affected_rows(done) == 1


def live_grants_of_holder(session: Session, province: str, ecard_id: str) -> list[Grant]:
    return list(
        session.execute(
            select(Grant).where(
                Grant.holder_province == province, Grant.ecard_id == ecard_id, Grant.revoked_at.is_(None)
            )
        ).scalars()
    )


def ecard_by_number(session: Session, essc_no: str) -> Ecard | None:
    return session.execute(select(Ecard).where(Ecard.essc_no == essc_no)).scalar_one_or_none()


def holder(session: Session, province: str, ecard_id: str) -> tuple[Ecard, Person, Card] | None:
    row = session.execute(
        select(Ecard, Person, Card)
        .join(Person, (Person.province == Ecard.province) & (Person.id == Ecard.person_id))
        .join(Card, (Card.province == Ecard.province) & (Card.id == Ecard.card_id))
        .where(Ecard.province == province, Ecard.id == ecard_id)
    ).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


_PROVINCE = bindparam("province", type_=String())
_ECARD = bindparam("ecard", type_=String())
# Built once and run on the driver: every login reads the holder's standing, every token its claims.
_HOLDER_STANDING = HotStatement(
    select(Card.status, ProvinceBusinessItem.enabled)
    .select_from(Ecard)
    .join(Person, (Person.province == Ecard.province) & (Person.id == Ecard.person_id))
    .join(Card, (Card.province == Ecard.province) & (Card.id == Ecard.card_id))
    .outerjoin(
        ProvinceBusinessItem,
        (ProvinceBusinessItem.province == Ecard.province)
        & (ProvinceBusinessItem.function == Function.LOGIN.value),
    )
    .where(Ecard.province == _PROVINCE, Ecard.id == _ECARD)
)
_HOLDER_CLAIMS = HotStatement(
    select(Person.aac003_masked, Card.aab301)
    .select_from(Ecard)
    .join(Person, (Person.province == Ecard.province) & (Person.id == Ecard.person_id))
    .join(Card, (Card.province == Ecard.province) & (Card.id == Ecard.card_id))
    .where(Ecard.province == _PROVINCE, Ecard.id == _ECARD)
)


def holder_standing(session: Session, province: str, ecard_id: str) -> tuple[str, bool] | None:
    """The holder's card status and whether their province enabled the login business item (one statement)."""
    rows = _HOLDER_STANDING.execute(session, {"province": province, "ecard": ecard_id}).rows
    return (str(rows[0][0]), bool(rows[0][1])) if rows else None


def holder_claims(session: Session, province: str, ecard_id: str) -> tuple[str, str] | None:
    """The holder's masked name and card region, the ID token's claims (no entity loaded)."""
    rows = _HOLDER_CLAIMS.execute(session, {"province": province, "ecard": ecard_id}).rows
    return (str(rows[0][0]), str(rows[0][1])) if rows else None


def ecard_of_card(session: Session, province: str, card_id: str) -> Ecard | None:
    """The e-card that follows this physical card, if the holder has one."""
    return session.execute(
        select(Ecard).where(Ecard.province == province, Ecard.card_id == card_id).limit(1)
    ).scalar_one_or_none()
