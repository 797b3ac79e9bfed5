"""Scan-to-login: a web or kiosk terminal shows a code, a holder scans and confirms it, the site collects."""

from __future__ import annotations

import base64
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from essc.cardholders import repository as cards_repo
from essc.channels.models import Channel
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.ecards.models import Ecard, Issuance
from essc.ecards.schemas import Purpose
from essc.ecards.service import (
    ChannelCaller,
    authorise_found,
    consume_busi_seq,
    ensure_usable,
    find_sign_no,
)
from essc.kit import qrimage
from essc.kit.codes import CodeKind, MalformedCode, new_token_code, parse_code
from essc.kit.ids import new_id
from essc.login import repository
from essc.login.errors import (
    LoginCodeAlreadyScanned,
    LoginCodeAnswered,
    LoginCodeExpired,
    LoginCodeNotScanned,
    LoginCodeUnknown,
    TerminalCannotLogin,
)
from essc.login.models import LoginCode
from essc.login.schemas import (
    FINAL_STATUSES,
    AnswerOut,
    ConfirmRequest,
    DenyRequest,
    LoginCodeOut,
    LoginEvent,
    LoginState,
    LoginStatus,
    ScanOut,
    ScanRequest,
)
from essc.qr.errors import WrongCodeKind
from essc.qr.schemas import CodeRequest, ImageFormat
from essc.qr.service import pseudonym, record_use
from essc.shared.tokens import IssuedToken, OneTimeTokens
from essc.terminals.models import Institution, Terminal
from essc.terminals.schemas import (
    DISCLOSURE_RANK,
    MAX_DISCLOSURE,
    BusiType,
    Disclosure,
    InstitutionKind,
    TerminalKind,
)
from essc.terminals.service import acting_terminal

MAX_LOGIN_SECONDS = 120
# A confirmed result waits this long for the site to collect it, even past the code's own expiry.
RESULT_SECONDS = 60
LOGIN_TERMINAL_KINDS = frozenset({TerminalKind.WEB, TerminalKind.KIOSK})
LOGIN_BUSI_TYPE = BusiType.OTHER


def create(uow: UnitOfWork, terminal: Terminal, owner: Institution, request: CodeRequest) -> LoginCodeOut:
    """A fresh login code for a website or kiosk to show, valid at most 120 s."""
    if TerminalKind(terminal.kind) not in LOGIN_TERMINAL_KINDS:
        raise TerminalCannotLogin(f"terminal {terminal.terminal_no} is a {terminal.kind}, not web or kiosk")
    payload, token = new_token_code(CodeKind.LOGIN)
    now = uow.clock.now()
    lifetime = timedelta(seconds=min(uow.platform.settings.login_code_ttl_seconds, MAX_LOGIN_SECONDS))
    issued = OneTimeTokens.of(uow.platform).issue(token.hex(), now, lifetime)
    login_id = new_id()
    _add_pending(
        uow,
        login_id,
        issued,
        terminal.province,
        now,
        terminal_id=terminal.id,
        institution_id=owner.id,
    )
    uow.audit("login.code_issued", "login_code", login_id, terminal.province, terminal=terminal.terminal_no)
    return LoginCodeOut(
        login_id=login_id,
        code=payload,
        expires_at=issued.expires_at,
        png=base64.b64encode(qrimage.qr_png(payload)).decode("ascii")
        if ImageFormat.PNG in request.images
        else None,
        svg=qrimage.qr_svg(payload) if ImageFormat.SVG in request.images else None,
    )


def create_for_relying_party(
    uow: UnitOfWork,
    client_id: str,
    site_name: str,
    province: str,
    lifetime: timedelta,
    *,
    login_id: str | None = None,
) -> LoginCodeOut:
    """A login code for the OpenID provider's login page of a relying party (SVG), valid at most 120 s.

    A caller may choose login_id, to name the code in its own row in the statement it sends anyway.
    """
    payload, token = new_token_code(CodeKind.LOGIN)
    now = uow.clock.now()
    issued = OneTimeTokens.of(uow.platform).issue(
        token.hex(), now, min(lifetime, timedelta(seconds=MAX_LOGIN_SECONDS))
    )
    login_id = login_id or new_id()
    _add_pending(
        uow,
        login_id,
        issued,
        province,
        now,
        relying_party=client_id,
        site_name=site_name,
    )
    uow.audit("login.code_issued", "login_code", login_id, province, relying_party=client_id)
    return LoginCodeOut(
        login_id=login_id, code=payload, expires_at=issued.expires_at, svg=qrimage.qr_svg(payload)
    )


def _add_pending(
    uow: UnitOfWork,
    login_id: str,
    issued: IssuedToken,
    province: str,
    now: datetime,
    *,
    terminal_id: str | None = None,
    institution_id: str | None = None,
    relying_party: str | None = None,
    site_name: str | None = None,
) -> None:
    """A pending code of a terminal or of a relying party's login page: who shows it, until when."""
    repository.add_code(
        uow.session,
        {
            "id": login_id,
            "token_digest": issued.digest,
            "province": province,
            "terminal_id": terminal_id,
            "institution_id": institution_id,
            "relying_party": relying_party,
            "site_name": site_name,
            "status": LoginStatus.PENDING.value,
            "created_at": now,
            "expires_at": issued.expires_at,
            "holder_province": None,
            "ecard_id": None,
            "issuance_id": None,
            "channel_id": None,
            "scanned_at": None,
            "sign_level": None,
            "answered_at": None,
            "consumed_at": None,
        },
    )


def _digest(uow: UnitOfWork, code: str) -> bytes:
    parsed = parse_code(code)
    if parsed.kind is not CodeKind.LOGIN:
        raise WrongCodeKind(f"a code of kind {parsed.kind.name} is not a login code", field="code")
    return OneTimeTokens.of(uow.platform).digest(parsed.body.hex())


def status_at(row: LoginCode, now: datetime) -> LoginStatus:
    """The status a row has at `now`: expiry is computed, never written."""
    status = LoginStatus(row.status)
    if status in (LoginStatus.PENDING, LoginStatus.SCANNED) and now >= row.expires_at:
        return LoginStatus.EXPIRED
    if status is LoginStatus.CONFIRMED and _result_expired(row, now):
        return LoginStatus.EXPIRED
    return status


def _result_expired(row: LoginCode, now: datetime) -> bool:
    return row.answered_at is None or now >= row.answered_at + timedelta(seconds=RESULT_SECONDS)


def _scanned_by(row: LoginCode, issuance: Issuance) -> bool:
    return (row.holder_province, row.issuance_id) == (issuance.province, issuance.id)


def _refusal(
    row: LoginCode | None, issuance: Issuance, now: datetime
) -> LoginCodeUnknown | LoginCodeExpired | LoginCodeAlreadyScanned | LoginCodeNotScanned | LoginCodeAnswered:
    """Why a scan or an answer did not apply to the code, most telling reason first."""
    if row is None:
        return LoginCodeUnknown(
            "no such login code was issued (or it was purged long after expiry)", field="code"
        )
    status = LoginStatus(row.status)
    if status is LoginStatus.PENDING:
        if now >= row.expires_at:
            return LoginCodeExpired(f"the login code expired at {row.expires_at.isoformat()}", field="code")
        return LoginCodeNotScanned("scan the login code first", field="code")
    if not _scanned_by(row, issuance):
        return LoginCodeAlreadyScanned(
            "another holder (or another app) scanned this login code", field="code"
        )
    if status is LoginStatus.SCANNED:
        return LoginCodeExpired(f"the login code expired at {row.expires_at.isoformat()}", field="code")
    return LoginCodeAnswered(
        f"this login was already {'denied' if status is LoginStatus.DENIED else 'confirmed'}"
    )


def _site(uow: UnitOfWork, row: LoginCode) -> tuple[Terminal, Institution] | None:
    """The terminal and institution that show the code; None for a relying party's login page."""
    if row.terminal_id is None:
        return None  # the OpenID provider judges the relying party when the page collects the result
    # The site must still be allowed to operate: a suspended institution gets no holder.
    return acting_terminal(uow, row.terminal_id)


def scan(uow: UnitOfWork, calling: Channel | ChannelCaller, request: ScanRequest) -> ScanOut:
    """Bind the code to the holder who scanned it and tell the app whom it would log in to."""
    found = find_sign_no(uow, calling, request.sign_no)
    channel = found.channel
    digest = _digest(uow, request.code)
    issuance, ecard, card = authorise_found(uow, found)
    ensure_usable(issuance, card)
    now = uow.clock.now()
    row = repository.scan(
        uow.session,
        digest,
        now,
        holder_province=ecard.province,
        ecard_id=ecard.id,
        issuance_id=issuance.id,
        channel_id=channel.id,
    )
    if row is not None:
        uow.audit(
            "login.scanned", "login_code", row.id, ecard.province, ecard=ecard.id, channel=channel.channel_no
        )
    else:
        row = repository.by_digest(uow.session, digest)
        # The same holder scanning again in the same app (a retry) sees the same answer.
        if (
            row is None
            or row.status != LoginStatus.SCANNED
            or not _scanned_by(row, issuance)
            or now >= row.expires_at
        ):
            raise _refusal(row, issuance, now)
    site = _site(uow, row)
    if site is None:
        return ScanOut(
            login_id=row.id,
            status=LoginStatus.SCANNED,
            institution=row.site_name or "",
            relying_party=row.relying_party,
            expires_at=row.expires_at,
        )
    terminal, owner = site
    return ScanOut(
        login_id=row.id,
        status=LoginStatus.SCANNED,
        institution=owner.name,
        institution_kind=InstitutionKind(owner.kind),
        terminal_kind=TerminalKind(terminal.kind),
        expires_at=row.expires_at,
    )


def _disclosure(owner: Institution) -> Disclosure:
    """A login shows the masked name unless the institution's kind may learn no more than presence."""
    ceiling = MAX_DISCLOSURE[InstitutionKind(owner.kind)]
    return Disclosure.MASKED if DISCLOSURE_RANK[ceiling] >= DISCLOSURE_RANK[Disclosure.MASKED] else ceiling


def confirm(uow: UnitOfWork, calling: Channel | ChannelCaller, request: ConfirmRequest) -> AnswerOut:
    """The holder confirms the login with a busiSeq of purpose login; the e-card must be usable now."""
    found = find_sign_no(uow, calling, request.sign_no)
    channel = found.channel
    digest = _digest(uow, request.code)
    issuance, ecard, card = authorise_found(uow, found)
    ensure_usable(issuance, card)
    now = uow.clock.now()
    row = repository.answer(
        uow.session,
        digest,
        now,
        holder_province=ecard.province,
        issuance_id=issuance.id,
        status=LoginStatus.CONFIRMED.value,
        sign_level=issuance.sign_level,
    )
    if row is None:
        raise _refusal(repository.by_digest(uow.session, digest), issuance, now)
    # A wrong busiSeq rolls the confirmation back with the rest of the transaction.
    consume_busi_seq(uow, request.busi_seq, ecard, channel, Purpose.LOGIN)
    site = _site(uow, row)
    if site is None:
        uow.audit(
            "login.confirmed",
            "login_code",
            row.id,
            ecard.province,
            ecard=ecard.id,
            channel=channel.channel_no,
            relying_party=row.relying_party,
        )
        return AnswerOut(login_id=row.id, status=LoginStatus.CONFIRMED)
    terminal, owner = site
    uow.audit(
        "login.confirmed",
        "login_code",
        row.id,
        ecard.province,
        ecard=ecard.id,
        channel=channel.channel_no,
        terminal=terminal.terminal_no,
        institution=owner.code,
    )
    record_use(
        uow,
        ecard.province,
        ecard.id,
        terminal=terminal,
        owner=owner,
        busi_type=LOGIN_BUSI_TYPE,
        method="login",
        disclosure=_disclosure(owner),
    )
    return AnswerOut(login_id=row.id, status=LoginStatus.CONFIRMED)


def deny(uow: UnitOfWork, calling: Channel | ChannelCaller, request: DenyRequest) -> AnswerOut:
    """The holder refuses the login; allowed whatever the card's status, so nobody is logged in by mistake."""
    found = find_sign_no(uow, calling, request.sign_no)
    channel = found.channel
    digest = _digest(uow, request.code)
    issuance, ecard, _card = authorise_found(uow, found)
    now = uow.clock.now()
    row = repository.answer(
        uow.session,
        digest,
        now,
        holder_province=ecard.province,
        issuance_id=issuance.id,
        status=LoginStatus.DENIED.value,
        sign_level=None,
    )
    if row is None:
        raise _refusal(repository.by_digest(uow.session, digest), issuance, now)
    uow.audit(
        "login.denied", "login_code", row.id, ecard.province, ecard=ecard.id, channel=channel.channel_no
    )
    return AnswerOut(login_id=row.id, status=LoginStatus.DENIED)


def own_login(uow: UnitOfWork, terminal: Terminal, login_id: str) -> LoginCode:
    """The terminal's own login code; another terminal's is as unknown as a made-up id."""
    row = repository.login(uow.session, login_id)
    if row is None or row.terminal_id != terminal.id:
        raise LoginCodeUnknown(f"terminal {terminal.terminal_no} has no login code {login_id}")
    return row


def collect(uow: UnitOfWork, terminal: Terminal, login_id: str) -> LoginState:
    """Where the login stands; once confirmed, the holder's subject is handed out in this answer only."""
    row = own_login(uow, terminal, login_id)
    now = uow.clock.now()
    status = status_at(row, now)
    if status is LoginStatus.CONFIRMED:
        spent = repository.collect(uow.session, row.id, now, now - timedelta(seconds=RESULT_SECONDS))
        if spent is not None:
            return _result(uow, spent, now)
        uow.session.refresh(row)  # a concurrent poll collected it first: read what it left
        status = status_at(row, now)
    return LoginState(
        login_id=row.id,
        status=status,
        expires_at=row.expires_at,
        consumed_at=row.consumed_at if status is LoginStatus.CONSUMED else None,
    )


@dataclass(frozen=True, slots=True)
class ConfirmedHolder:
    """Who confirmed a relying party's login code in their channel app, and when."""

    province: str
    ecard_id: str
    confirmed_at: datetime


def redisplay_for_relying_party(
    uow: UnitOfWork, login_id: str, client_id: str, code: str
) -> LoginCodeOut | None:
    """The relying party's code again for the page that shows it (its payload is public); None if not it."""
    row = repository.login(uow.session, login_id)
    if row is None or row.relying_party != client_id:
        return None
    try:
        digest = _digest(uow, code)
    except (MalformedCode, WrongCodeKind):
        return None
    if not hmac.compare_digest(digest, row.token_digest):
        return None
    return LoginCodeOut(login_id=row.id, code=code, expires_at=row.expires_at, svg=qrimage.qr_svg(code))


def relying_party_code(uow: UnitOfWork, login_id: str, client_id: str) -> LoginCode | None:
    """The relying party's login code; None if purged or another's. Held, it spares collecting a re-read."""
    row = repository.login(uow.session, login_id)
    return row if row is not None and row.relying_party == client_id else None


def status_of_code(uow: UnitOfWork, code: LoginCode | None) -> LoginStatus:
    """Where a relying party's login code (relying_party_code) stands now, without spending it."""
    if code is None:
        return LoginStatus.EXPIRED  # purged, or not this relying party's: nothing can come of it
    return status_at(code, uow.clock.now())


def status_for_relying_party(uow: UnitOfWork, login_id: str, client_id: str) -> LoginStatus:
    """Where the relying party's login code stands now, without spending it."""
    return status_of_code(uow, relying_party_code(uow, login_id, client_id))


def collect_for_relying_party(
    uow: UnitOfWork, login_id: str, client_id: str
) -> ConfirmedHolder | LoginStatus:
    """Spend the relying party's confirmed code once and name its holder, or say where the code stands."""
    row = repository.login(uow.session, login_id)
    if row is None or row.relying_party != client_id:
        return LoginStatus.EXPIRED  # purged, or not this relying party's: nothing can come of it
    now = uow.clock.now()
    status = status_at(row, now)
    if status is not LoginStatus.CONFIRMED:
        return status
    spent = repository.collect(uow.session, row.id, now, now - timedelta(seconds=RESULT_SECONDS))
    if spent is None:
        return LoginStatus.CONSUMED  # a concurrent poll collected it first
    assert spent.holder_province is not None  # a confirmed code was scanned
    assert spent.ecard_id is not None
    assert spent.answered_at is not None
    uow.audit("login.collected", "login_code", spent.id, spent.province, relying_party=client_id)
    return ConfirmedHolder(spent.holder_province, spent.ecard_id, spent.answered_at)


def _result(uow: UnitOfWork, row: LoginCode, now: datetime) -> LoginState:
    assert row.holder_province is not None  # a confirmed code was scanned
    assert row.ecard_id is not None
    ecard = uow.session.get(Ecard, (row.holder_province, row.ecard_id))
    assert ecard is not None
    person = cards_repo.person(uow.session, ecard.province, ecard.person_id)
    assert person is not None
    assert row.institution_id is not None  # a terminal's code (own_login)
    owner = uow.session.get(Institution, row.institution_id)
    assert owner is not None
    uow.audit("login.collected", "login_code", row.id, row.province, institution=owner.code)
    return LoginState(
        login_id=row.id,
        status=LoginStatus.CONFIRMED,
        expires_at=row.expires_at,
        subject=pseudonym(uow, row.institution_id, row.ecard_id),
        aac003=person.aac003_masked if _disclosure(owner) is Disclosure.MASKED else None,
        sign_level=row.sign_level,
        confirmed_at=row.answered_at,
        consumed_at=now,
    )


def peek(platform: Platform, login_id: str) -> LoginEvent:
    """The status now, read in a short session of its own (the event stream calls this every interval)."""
    with platform.session_factory() as session:
        row = repository.login(session, login_id)
        now = platform.clock.now()
        if row is None:  # purged while watched: it can only have expired
            return LoginEvent(login_id=login_id, status=LoginStatus.EXPIRED, expires_at=now)
        return LoginEvent(login_id=row.id, status=status_at(row, now), expires_at=row.expires_at)


def is_final(event: LoginEvent) -> bool:
    return event.status in FINAL_STATUSES
