"""Rules of online codes: issue one per request, resolve once within 60 s, disclose exactly the grant."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from essc.access.errors import SessionStandingChanged
from essc.audit import service as audit_service
from essc.cardholders.service import read_clear_person
from essc.channels.models import Channel
from essc.core.uow import UnitOfWork
from essc.ecards.service import authorise_sign_no, ensure_usable, statuses_usable
from essc.kit import qrimage, wire
from essc.kit.codes import CodeKind, new_token_code, parse_code
from essc.kit.ids import new_id
from essc.qr import repository
from essc.qr.errors import CardNotUsable, CodeAlreadyUsed, CodeExpired, CodeUnknown, WrongCodeKind
from essc.qr.models import OnlineCode
from essc.qr.repository import ONLINE_CODE_METHOD, SpentCode, UseRecords
from essc.qr.schemas import (
    CodeRequest,
    ImageFormat,
    OnlineCodeOut,
    Resolution,
    ResolveRequest,
    UsageAudit,
    UsageHistory,
    UsageOut,
)
from essc.shared.callers import AuthenticatedCaller
from essc.shared.tokens import OneTimeTokens
from essc.terminals.schemas import BusiType, Disclosure
from essc.terminals.service import InstitutionParty, TerminalParty, ensure_acting

MAX_CODE_SECONDS = 60  # docs/protocol.md, QR payloads: a code refreshes at most every 60 s and works once


def issue_code(uow: UnitOfWork, channel: Channel, sign_no: str, request: CodeRequest) -> OnlineCodeOut:
    """A fresh one-time code for the holder to show; refused while the e-card is not usable."""
    issuance, ecard, _person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    payload, token = new_token_code(CodeKind.ONLINE)
    now = uow.clock.now()
    lifetime = timedelta(seconds=min(uow.platform.settings.qr_code_ttl_seconds, MAX_CODE_SECONDS))
    issued = OneTimeTokens.of(uow.platform).issue(token.hex(), now, lifetime)
    uow.session.add(
        OnlineCode(
            token_digest=issued.digest,
            province=ecard.province,
            ecard_id=ecard.id,
            issuance_id=issuance.id,
            channel_id=channel.id,
            created_at=now,
            expires_at=issued.expires_at,
            used_at=None,
            used_by=None,
        )
    )
    uow.session.flush()
    uow.audit("qr.code_issued", "issuance", issuance.id, ecard.province, channel=channel.channel_no)
    return OnlineCodeOut(
        code=payload,
        expires_at=issued.expires_at,
        png=base64.b64encode(qrimage.qr_png(payload)).decode("ascii")
        if ImageFormat.PNG in request.images
        else None,
        svg=qrimage.qr_svg(payload) if ImageFormat.SVG in request.images else None,
    )


def resolve(uow: UnitOfWork, caller: AuthenticatedCaller, request: ResolveRequest) -> Resolution:
    """Spend a code for a busiType and answer with exactly the fields the terminal's grant allows."""
    parsed = parse_code(request.code)
    if parsed.kind is not CodeKind.ONLINE:
        raise WrongCodeKind(f"a code of kind {parsed.kind.name} cannot be resolved online here", field="code")
    records = UseRecords.fresh(uow.stamp())
    now = records.stamp.at
    digest = OneTimeTokens.of(uow.platform).digest(parsed.body.hex())
    busi_type = request.busi_type
    # A session the protocol layer did not look up is checked by the statement that spends the code.
    unchecked_session = None if caller.session_checked else caller.session_id
    acting, spent, session_holds = repository.spend(
        uow.session,
        digest,
        now,
        caller.caller_id,
        busi_type.value,
        records=records,
        caller_session=unchecked_session,
    )
    if not session_holds:
        # Nothing was spent. The protocol layer checks the session of a refused request it did not look up,
        # and names why it no longer stands; found standing again, this 409 is the answer.
        raise SessionStandingChanged(
            f"session {caller.session_id} changed while the request ran; send it again",
            header=wire.HEADER_SESSION,
        )
    # The spend was conditioned on the same rule, so a refused terminal has burnt nothing.
    acting, disclosure = ensure_acting(acting, busi_type)
    terminal, owner = acting.terminal, acting.institution
    if spent is None:
        raise _why_not_live(uow, digest)
    if not statuses_usable(spent.issuance_status, spent.card_status):
        if not spent.recorded:
            uow.audit(
                "qr.refused",
                "ecard",
                spent.ecard_id,
                spent.province,
                terminal=terminal.terminal_no,
                busi_type=busi_type.value,
                card_status=spent.card_status,
                issuance_status=spent.issuance_status,
            )
        raise CardNotUsable(
            "the e-card cannot be used now (card or e-card status changed); ask the holder to check the app",
            card_status=spent.card_status,
        )
    resolution = _disclose(uow, owner.id, spent, disclosure=disclosure, busi_type=busi_type, now=now)
    if not spent.recorded:
        record_use(
            uow,
            spent.province,
            spent.ecard_id,
            channel_id=spent.channel_id,
            terminal=terminal,
            owner=owner,
            busi_type=busi_type,
            method=ONLINE_CODE_METHOD,
            disclosure=disclosure,
            now=now,
            usage_id=records.usage_id,
        )
    return resolution


def _why_not_live(uow: UnitOfWork, digest: bytes) -> CodeUnknown | CodeAlreadyUsed | CodeExpired:
    found = repository.code(uow.session, digest)
    if found is None:
        return CodeUnknown("no such code was issued (or it was purged long after expiry)", field="code")
    if found.used_at is not None:
        return CodeAlreadyUsed(f"the code was used at {found.used_at.isoformat()}", field="code")
    return CodeExpired(f"the code expired at {found.expires_at.isoformat()}", field="code")


def pseudonym(uow: UnitOfWork, institution_id: str, ecard_id: str) -> str:
    """Stable for one holder at one institution, unlinkable across institutions."""
    mac = uow.platform.blind_index.of("pseudonym", f"{institution_id}:{ecard_id}")
    return base64.b32encode(mac[:15]).decode("ascii")


def _disclose(
    uow: UnitOfWork,
    institution_id: str,
    spent: SpentCode,
    *,
    disclosure: Disclosure,
    busi_type: BusiType,
    now: datetime,
) -> Resolution:
    aac002 = aac003 = aab301 = None
    if disclosure is Disclosure.MASKED:
        aac002, aac003, aab301 = spent.person.aac002_masked, spent.person.aac003_masked, spent.aab301
    elif disclosure is Disclosure.CLEAR:
        # The statement that spent the code wrote the read's audit entry where it could (UseRecords).
        purpose = None if spent.recorded else f"qr_resolution:{busi_type.value}"
        clear = read_clear_person(uow, spent.person, purpose=purpose)
        aac002, aac003, aab301 = clear.aac002, clear.aac003, spent.aab301
    return Resolution(
        resolution_id=new_id(),
        busi_type=busi_type,
        disclosure=disclosure,
        usable=True,
        pseudonym=pseudonym(uow, institution_id, spent.ecard_id),
        sign_level=spent.sign_level,
        aab301=aab301,
        aac003=aac003,
        aac002=aac002,
        resolved_at=now,
    )


def record_use(
    uow: UnitOfWork,
    province: str,
    ecard_id: str,
    *,
    terminal: TerminalParty,
    owner: InstitutionParty,
    busi_type: BusiType,
    method: str,
    disclosure: Disclosure,
    channel_id: str | None = None,
    now: datetime | None = None,
    usage_id: str | None = None,
) -> None:
    """Add one use of the e-card (online or offline code, login, card chip) to the holder's history."""
    usage_id = usage_id or new_id()
    repository.add_usage(
        uow.session,
        {
            "province": province,
            "id": usage_id,
            "ecard_id": ecard_id,
            "channel_id": channel_id,
            "terminal_id": terminal.id,
            "institution_id": owner.id,
            "busi_type": busi_type.value,
            "method": method,
            "disclosure": disclosure.value,
            "at": now or uow.clock.now(),
        },
    )
    uow.audit(
        "ecard.used",
        "ecard",
        ecard_id,
        province,
        terminal=terminal.terminal_no,
        institution=owner.code,
        busi_type=busi_type.value,
        method=method,
        disclosure=disclosure.value,
        usage=usage_id,  # so the holder's history can show this entry's place in the audit log
    )


def usage_history(
    uow: UnitOfWork, channel: Channel, sign_no: str, before: datetime | None, limit: int
) -> UsageHistory:
    """Who used the holder's e-card, newest first: institution, terminal, busiType, how and when."""
    _issuance, ecard, _person, _card = authorise_sign_no(uow, channel, sign_no)
    rows = repository.usages(uow.session, ecard.province, ecard.id, before, limit)
    # A use is audited when it is recorded or later (an offline one at upload): no entry of the page is older.
    since = min((usage.at for usage, _owner, _terminal in rows), default=None)
    proven = audit_service.proofs_of_uses(uow.session, uow.platform, ecard.province, ecard.id, since)
    usages = [
        UsageOut(
            at=usage.at,
            institution=owner.name,
            institution_kind=owner.kind,
            terminal_no=terminal.terminal_no,
            busi_type=BusiType(usage.busi_type),
            method=usage.method,
            disclosure=Disclosure(usage.disclosure),
            audit=_usage_audit(proven.leaves.get(usage.id)),
        )
        for usage, owner, terminal in rows
    ]
    return UsageHistory(
        usages=usages,
        next_before=usages[-1].at if len(usages) == limit else None,
        checkpoint=proven.checkpoint,
    )


def _usage_audit(proof: audit_service.LeafProof | None) -> UsageAudit | None:
    if proof is None:
        return None
    return UsageAudit(log=proof.log, leaf_index=proof.index, leaf=proof.leaf, proof=proof.proof)
