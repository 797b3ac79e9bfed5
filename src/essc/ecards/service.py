"""E-card rules: issuance per channel, password, busiSeq, 二级签发, unlink, following the physical card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from essc.authorisations.service import authorise, authorise_standing
from essc.cardholders import repository as cards_repo
from essc.cardholders.errors import UnknownRegion
from essc.cardholders.lifecycle import CardEventType, card_is_usable
from essc.cardholders.models import Card, Person
from essc.cardholders.service import aac002_index, birth_date, read_clear_person
from essc.channels.models import Channel
from essc.channels.service import acting_channel
from essc.core.conflicts import ConcurrentWrite
from essc.core.db import unattached_of
from essc.core.uow import UnitOfWork
from essc.ecards import passwords, repository
from essc.ecards.errors import (
    AttestationRefused,
    BankAccountInactive,
    BusiSeqInvalid,
    CardNotActive,
    EcardUnlinked,
    HolderMismatch,
    PasswordAlreadySet,
    PasswordLocked,
    PasswordNotSet,
    SignNoNotFound,
    WrongPassword,
)
from essc.ecards.events import EcardStopped
from essc.ecards.models import Ecard, Issuance, IssuanceEvidence, IssuanceStatus
from essc.ecards.schemas import (
    Attestation,
    BusiSeqRequest,
    BusiSeqResponse,
    EcardView,
    IssueRequest,
    IssueResponse,
    Purpose,
)
from essc.kit.errors import InvalidInput
from essc.kit.idnumber import normalise_id_number
from essc.kit.ids import new_id, random_code, random_token
from essc.kit.keystore import KeyPurpose
from essc.kit.masking import mask_card_number
from essc.regions.data import is_known_region
from essc.shared.tokens import OneTimeTokens
from essc.webhooks.service import announce

_Row = TypeVar("_Row", Ecard, Issuance)

HOLDER_MISMATCH = "aac002, aac003, aaz500 and aab301 do not describe one cardholder's card"
MIN_ATTESTATION_SCORE = 80
ATTESTATION_MAX_AGE = timedelta(minutes=10)


def _view(issuance: Issuance, person: Person, card: Card) -> EcardView:
    return _shown(
        repository.SeenEcard(
            province=issuance.province,
            sign_no=issuance.sign_no,
            sign_level=issuance.sign_level,
            issuance_status=issuance.status,
            issued_at=issuance.issued_at,
            card_status=card.status,
            aab301=card.aab301,
            aaz500=card.aaz500,
            aac002_masked=person.aac002_masked,
            aac003_masked=person.aac003_masked,
            issuance_id=issuance.id,
            ecard_id=issuance.ecard_id,
        )
    )


def _shown(seen: repository.SeenEcard) -> EcardView:
    """What a channel is shown of an e-card: statuses, level and masked holder fields, never clear ones."""
    active = seen.issuance_status == IssuanceStatus.ACTIVE
    return EcardView(
        sign_no=seen.sign_no,
        sign_level=seen.sign_level,
        status=IssuanceStatus.ACTIVE if active else IssuanceStatus.UNLINKED,
        usable=statuses_usable(seen.issuance_status, seen.card_status),
        card_status=seen.card_status,
        aab301=seen.aab301,
        aac002=seen.aac002_masked,
        aac003=seen.aac003_masked,
        aaz500=mask_card_number(seen.aaz500),
        issued_at=seen.issued_at,
    )


def is_usable(issuance: Issuance, card: Card) -> bool:
    """The e-card works in a channel exactly when its physical card is normal and it is not unlinked there."""
    return statuses_usable(issuance.status, card.status)


def statuses_usable(issuance_status: str, card_status: str) -> bool:
    """is_usable on the two statuses alone (hot paths read them without loading the rows)."""
    return issuance_status == IssuanceStatus.ACTIVE and card_is_usable(card_status)


def _check_attestation(uow: UnitOfWork, attestation: Attestation) -> None:
    now = uow.clock.now()
    if attestation.score < MIN_ATTESTATION_SCORE:
        raise AttestationRefused(
            f"attestation score {attestation.score} is below {MIN_ATTESTATION_SCORE}",
            field="attestation.score",
        )
    if (
        attestation.checked_at > now + timedelta(minutes=1)
        or now - attestation.checked_at > ATTESTATION_MAX_AGE
    ):
        raise AttestationRefused(
            "attestation.checkedAt must be within the last 10 minutes", field="attestation.checkedAt"
        )


def issue(
    uow: UnitOfWork, channel: Channel, request: IssueRequest, signature: str, digest: str
) -> IssueResponse:
    """一级签发: verify holder and card, record the evidence, issue the e-card and this channel's signNo."""
    session, now = uow.session, uow.clock.now()
    if not is_known_region(request.aab301):
        raise UnknownRegion(f"aab301 {request.aab301} is not a GB/T 2260 region", field="aab301")
    aac002 = normalise_id_number(request.aac002)
    province = request.aab301[:2]
    authorise(uow, channel, province)
    _check_attestation(uow, request.attestation)
    person = cards_repo.person_by_index(session, aac002_index(uow.platform, aac002))
    card = cards_repo.card_by_number(session, province, request.aaz500.upper())
    # One answer whichever of the four is wrong: telling a channel which one would let it guess names for a
    # known ID number and card (and learn that a card exists) one field at a time.
    if (
        person is None
        or card is None
        or card.person_id != person.id
        or person.province != province
        or card.aab301 != request.aab301
        or read_clear_person(uow, person, purpose="issuance_name_check").aac003 != request.aac003
    ):
        raise HolderMismatch(HOLDER_MISMATCH)
    if not card_is_usable(card.status):
        raise CardNotActive(f"card {mask_card_number(card.aaz500)} is {card.status}", card_status=card.status)

    ecard = repository.ecard_of_person(session, province, person.id)
    if ecard is None:
        values = {
            "province": province,
            "id": new_id(),
            "essc_no": random_code(20),
            "person_id": person.id,
            "card_id": card.id,
            "issued_at": now,
            "updated_at": now,
        }
        if repository.add_ecard_unless_held(session, values):
            ecard = Ecard(**values)
            uow.audit("ecard.created", "ecard", ecard.id, province, card_id=card.id)
        else:
            ecard = _winner(repository.ecard_of_person(session, province, person.id))
    if ecard.card_id != card.id:
        raise CardNotActive("this card is not the holder's current card", field="aaz500")

    # Locked: of concurrent issuances finding it unlinked, one reactivates it and the others see that.
    issuance = repository.issuance_in_channel(session, province, ecard.id, channel.id, lock=True)
    created = False
    if issuance is None:
        values = {
            "province": province,
            "id": new_id(),
            "ecard_id": ecard.id,
            "channel_id": channel.id,
            "sign_no": random_code(24),
            "sign_level": 1,
            "status": IssuanceStatus.ACTIVE,
            "issued_at": now,
            "level2_at": None,
            "unlinked_at": None,
        }
        created = repository.add_issuance_unless_issued(session, values)
        issuance = (
            Issuance(**values)
            if created
            else _winner(repository.issuance_in_channel(session, province, ecard.id, channel.id, lock=True))
        )
    if issuance.status != IssuanceStatus.ACTIVE:
        issuance.status, issuance.sign_level, issuance.issued_at = IssuanceStatus.ACTIVE, 1, now
        issuance.unlinked_at, issuance.level2_at = None, None
        created = True
    session.flush()
    if created:
        session.add(
            IssuanceEvidence(
                province=province,
                id=new_id(),
                issuance_id=issuance.id,
                channel_id=channel.id,
                method=request.attestation.method,
                provider=request.attestation.provider,
                reference=request.attestation.reference,
                score=request.attestation.score,
                checked_at=request.attestation.checked_at,
                request_signature=signature,
                request_digest=digest,
                recorded_at=now,
            )
        )
        uow.audit("ecard.issued", "issuance", issuance.id, province, channel=channel.channel_no, sign_level=1)
    view = _view(issuance, person, card)
    return IssueResponse(**view.model_dump(), created=created)


def _winner(row: _Row | None) -> _Row:
    """The row a concurrent request inserted first (an insert skipped on a random code's clash finds none)."""
    if row is None:
        raise ConcurrentWrite("a concurrent issuance clashed; send the request again")
    return row


def authorise_sign_no(
    uow: UnitOfWork, channel: Channel, sign_no: str
) -> tuple[Issuance, Ecard, Person, Card]:
    """Authorise a channel request on a signNo; returns the issuance, e-card, person and card it names.

    One statement reads the rows and the channel's standing for the route's function in the holder's province
    (only the e-card tells the province); `authorise_standing` judges it by the one rule, after the signNo
    is found, so an unknown signNo is refused as such whatever the standing.
    """
    found = repository.signed_ecard(uow.session, sign_no, channel.id, uow.context.function)
    if found is None:
        raise _sign_no_not_found(channel, sign_no)
    authorise_standing(uow, channel, found.issuance.province, found.standing)
    return found.issuance, found.ecard, found.person, found.card


@dataclass(frozen=True, slots=True)
class ChannelCaller:
    """An authenticated channel caller as its route found it before reading the body.

    `relayed`: the second-level channel a relayed request acts for, found and allowed by `acting_channel`;
    None when the caller acts for itself (its channel is read with the signNo, in one statement).
    """

    caller_id: str
    relayed: Channel | None = None


@dataclass(frozen=True, slots=True)
class FoundSignNo:
    """The channel a request acts for and the signNo it names, read but not yet judged."""

    channel: Channel
    sign_no: str
    read: repository.CallersEcard | None  # None: judged by the two-step `authorise_sign_no`


def authorise_found(uow: UnitOfWork, found: FoundSignNo) -> tuple[Issuance, Ecard, Card]:
    """The issuance, e-card and card a found signNo names, or the refusal `authorise_sign_no` would raise.

    Read in the one statement, they are not attached to the session and hold only the columns it read:
    for rules that read them (a login, a busiSeq), never for a change to them.
    """
    if found.read is None:
        issuance, ecard, _person, card = authorise_sign_no(uow, found.channel, found.sign_no)
        return issuance, ecard, card
    seen = found.read.seen
    if seen is None:
        raise _sign_no_not_found(found.channel, found.sign_no)
    authorise_standing(uow, found.channel, seen.province, found.read.standing)
    issuance = unattached_of(
        Issuance,
        {
            "province": seen.province,
            "id": seen.issuance_id,
            "ecard_id": seen.ecard_id,
            "channel_id": found.channel.id,
            "sign_no": seen.sign_no,
            "sign_level": seen.sign_level,
            "status": seen.issuance_status,
            "issued_at": seen.issued_at,
        },
    )
    ecard = unattached_of(Ecard, {"province": seen.province, "id": seen.ecard_id})
    card = unattached_of(
        Card,
        {
            "province": seen.province,
            "status": seen.card_status,
            "aab301": seen.aab301,
            "aaz500": seen.aaz500,
        },
    )
    return issuance, ecard, card


def find_sign_no(uow: UnitOfWork, calling: Channel | ChannelCaller, sign_no: str) -> FoundSignNo:
    """The acting channel and what its signNo names: one statement when a caller acts for itself.

    A channel already found, or a relayed request, takes the two-step path. The channel's own refusals (the
    caller is no channel) are raised here, as `acting_channel` raises them; the signNo's and the standing's
    by `authorise_found`, in `authorise_sign_no`'s order, so a route may check its body in between.
    """
    if isinstance(calling, Channel):
        return FoundSignNo(calling, sign_no, None)
    if calling.relayed is not None:
        return FoundSignNo(calling.relayed, sign_no, None)
    found = repository.callers_ecard(uow.session, calling.caller_id, sign_no, uow.context.function)
    if found is None:
        return FoundSignNo(acting_channel(uow, calling.caller_id, None), sign_no, None)
    return FoundSignNo(found.channel, sign_no, found)


def _sign_no_not_found(channel: Channel, sign_no: str) -> SignNoNotFound:
    return SignNoNotFound(f"signNo {sign_no} is not issued in channel {channel.channel_no}", field="signNo")


def ensure_usable(issuance: Issuance, card: Card) -> None:
    """Raise the named reason unless the e-card is usable in this channel right now."""
    if issuance.status != IssuanceStatus.ACTIVE:
        raise EcardUnlinked(f"signNo {issuance.sign_no} was unlinked from this channel")
    if not card_is_usable(card.status):
        raise CardNotActive(f"the physical card is {card.status}", card_status=card.status)


def view(uow: UnitOfWork, channel: Channel, sign_no: str) -> EcardView:
    issuance, _, person, card = authorise_sign_no(uow, channel, sign_no)
    return _view(issuance, person, card)


def view_for_caller(uow: UnitOfWork, caller_id: str, on_behalf_of: str | None, sign_no: str) -> EcardView:
    """`view` for the channel an authenticated caller acts for: one statement when it acts for itself.

    The statement reads the channel, the columns the view shows and the standing, judged by the one rule
    (`authorise_standing`) in the same order as `authorise_sign_no`. A relayed request, or a caller that is
    no channel, takes the two-step path, whose refusals name the reason (not a channel, a relay refused).
    """
    if on_behalf_of is None:
        found = repository.callers_ecard(uow.session, caller_id, sign_no, uow.context.function)
        if found is not None:
            seen = found.seen
            if seen is None:
                raise _sign_no_not_found(found.channel, sign_no)
            authorise_standing(uow, found.channel, seen.province, found.standing)
            return _shown(seen)
    return view(uow, acting_channel(uow, caller_id, on_behalf_of), sign_no)


def set_password(uow: UnitOfWork, channel: Channel, sign_no: str, pin: str) -> None:
    """First password of the person's e-card, set right after issuance; valid in every channel."""
    issuance, ecard, person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    if repository.password(uow.session, ecard.province, ecard.id) is not None:
        raise PasswordAlreadySet("the e-card already has a password; use change or reset")
    passwords.check_new_password(pin, birth_date(uow, person))
    pepper = uow.platform.keys.data_key(KeyPurpose.PASSWORD_PEPPER)
    first = repository.add_first_password(
        uow.session,
        {
            "province": ecard.province,
            "ecard_id": ecard.id,
            "password_hash": passwords.hash_password(uow.platform.suite, pepper.secret, ecard.id, pin),
            "pepper_key_id": pepper.key_id,
            "failed_attempts": 0,
            "locked_until": None,
            "set_at": uow.clock.now(),
        },
    )
    if not first:
        raise PasswordAlreadySet("the e-card already has a password; use change or reset")
    uow.audit("ecard.password_set", "ecard", ecard.id, ecard.province, channel=channel.channel_no)


def _verify_password(uow: UnitOfWork, ecard: Ecard, channel: Channel, pin: str) -> None:
    verify_password(uow, ecard, pin, channel=channel.channel_no)


class PasswordOutcome(StrEnum):
    """What checking an e-card password found."""

    MATCHED = "matched"
    WRONG = "wrong"
    LOCKED = "locked"  # locked before this attempt, or by it
    NOT_SET = "not_set"


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    outcome: PasswordOutcome
    attempts_left: int = 0
    locked_until: datetime | None = None
    newly_locked: bool = False  # this attempt used the last one


def check_password(uow: UnitOfWork, ecard: Ecard, pin: str, **audit_facts: str) -> PasswordCheck:
    """The e-card password with its lockout, without raising: for callers that answer every failure alike."""
    row = repository.password(uow.session, ecard.province, ecard.id, lock=True)
    if row is None:
        return PasswordCheck(PasswordOutcome.NOT_SET)
    now, settings = uow.clock.now(), uow.platform.settings
    if row.locked_until is not None and row.locked_until > now:
        uow.audit("ecard.password_refused_locked", "ecard", ecard.id, ecard.province, **audit_facts)
        return PasswordCheck(PasswordOutcome.LOCKED, locked_until=row.locked_until)
    pepper = uow.platform.keys.data_key_by_id(row.pepper_key_id)
    if passwords.password_matches(uow.platform.suite, pepper.secret, ecard.id, pin, row.password_hash):
        row.failed_attempts, row.locked_until = 0, None
        uow.session.flush()
        return PasswordCheck(PasswordOutcome.MATCHED)
    row.failed_attempts += 1
    remaining = settings.password_max_failures - row.failed_attempts
    if remaining <= 0:
        row.failed_attempts = 0
        row.locked_until = now + timedelta(minutes=settings.password_lockout_minutes)
    uow.session.flush()
    uow.audit(
        "ecard.password_failed",
        "ecard",
        ecard.id,
        ecard.province,
        locked=remaining <= 0,
        **audit_facts,
    )
    if remaining <= 0:
        return PasswordCheck(PasswordOutcome.LOCKED, locked_until=row.locked_until, newly_locked=True)
    return PasswordCheck(PasswordOutcome.WRONG, attempts_left=remaining)


def verify_password(uow: UnitOfWork, ecard: Ecard, pin: str, **audit_facts: str) -> None:
    """The e-card password with its lockout; a named refusal for each failure."""
    check = check_password(uow, ecard, pin, **audit_facts)
    if check.outcome is PasswordOutcome.MATCHED:
        return
    if check.outcome is PasswordOutcome.NOT_SET:
        raise PasswordNotSet("set the e-card password first")
    locked_until = check.locked_until.isoformat() if check.locked_until else None
    if check.outcome is PasswordOutcome.LOCKED and check.newly_locked:
        raise PasswordLocked(
            f"too many wrong passwords; locked for {uow.platform.settings.password_lockout_minutes} minutes "
            "or until reset",
            locked_until=locked_until,
        )
    if check.outcome is PasswordOutcome.LOCKED:
        raise PasswordLocked(
            f"locked until {locked_until}; wait or reset the password after a face check "
            f"(busiSeq purpose {Purpose.PASSWORD_RESET.value}, method face)",
            locked_until=locked_until,
        )
    raise WrongPassword(
        f"wrong e-card password; {check.attempts_left} attempts left", attempts_left=check.attempts_left
    )


def change_password(uow: UnitOfWork, channel: Channel, sign_no: str, old: str, new: str) -> None:
    issuance, ecard, person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    _verify_password(uow, ecard, channel, old)
    passwords.check_new_password(new, birth_date(uow, person))
    _store_password(uow, ecard, new)
    uow.audit("ecard.password_changed", "ecard", ecard.id, ecard.province, channel=channel.channel_no)


def reset_password(uow: UnitOfWork, channel: Channel, sign_no: str, busi_seq: str, new: str) -> None:
    """Reset (and unlock) after a face check proven by a busiSeq of purpose password_reset."""
    issuance, ecard, person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    consume_busi_seq(uow, busi_seq, ecard, channel, Purpose.PASSWORD_RESET)
    passwords.check_new_password(new, birth_date(uow, person))
    if repository.password(uow.session, ecard.province, ecard.id) is None:
        raise PasswordNotSet("no password to reset; set one instead")
    _store_password(uow, ecard, new)
    uow.audit("ecard.password_reset", "ecard", ecard.id, ecard.province, channel=channel.channel_no)


def _store_password(uow: UnitOfWork, ecard: Ecard, pin: str) -> None:
    row = repository.password(uow.session, ecard.province, ecard.id, lock=True)
    assert row is not None
    pepper = uow.platform.keys.data_key(KeyPurpose.PASSWORD_PEPPER)
    row.password_hash = passwords.hash_password(uow.platform.suite, pepper.secret, ecard.id, pin)
    row.pepper_key_id, row.failed_attempts, row.locked_until = pepper.key_id, 0, None
    row.set_at = uow.clock.now()
    uow.session.flush()


def create_busi_seq(
    uow: UnitOfWork, calling: Channel | ChannelCaller, sign_no: str, request: BusiSeqRequest
) -> BusiSeqResponse:
    """After a password or face check, a one-time token bound to person, channel and purpose."""
    found = find_sign_no(uow, calling, sign_no)
    channel = found.channel
    issuance, ecard, card = authorise_found(uow, found)
    ensure_usable(issuance, card)
    if request.method == "password":
        if request.password is None:
            raise InvalidInput("method password needs the password field", field="password")
        _verify_password(uow, ecard, channel, request.password)
    else:
        if request.attestation is None:
            raise InvalidInput("method face needs the attestation field", field="attestation")
        _check_attestation(uow, request.attestation)
    if request.purpose is Purpose.PASSWORD_RESET and request.method != "face":
        raise InvalidInput("a password reset needs a face check (method face)", field="method")
    return issue_busi_seq(uow, ecard, channel, request.purpose, request.method)


def issue_busi_seq(
    uow: UnitOfWork, ecard: Ecard, channel: Channel, purpose: Purpose, method: str
) -> BusiSeqResponse:
    """A busiSeq for a holder the caller has just checked by `method` (password, face, card_chip)."""
    lifetime = timedelta(seconds=uow.platform.settings.busi_seq_ttl_seconds)
    now = uow.clock.now()
    issued = OneTimeTokens.of(uow.platform).issue(random_token(24), now, lifetime)
    repository.add_busi_seq(
        uow.session,
        {
            "token_digest": issued.digest,
            "province": ecard.province,
            "ecard_id": ecard.id,
            "channel_id": channel.id,
            "purpose": purpose.value,
            "method": method,
            "created_at": now,
            "expires_at": issued.expires_at,
            "used_at": None,
        },
    )
    uow.audit("busi_seq.issued", "ecard", ecard.id, ecard.province, purpose=purpose.value, method=method)
    return BusiSeqResponse(busi_seq=issued.token, purpose=purpose, expires_at=issued.expires_at)


def consume_busi_seq(uow: UnitOfWork, token: str, ecard: Ecard, channel: Channel, purpose: Purpose) -> None:
    """Spend a busiSeq of this person, channel and purpose; another is refused (its spend rolled back)."""
    digest = OneTimeTokens.of(uow.platform).digest(token)
    row = repository.consume_busi_seq(uow.session, digest, uow.clock.now())
    if row is None or (row.province, row.ecard_id, row.channel_id, row.purpose) != (
        ecard.province,
        ecard.id,
        channel.id,
        purpose.value,
    ):
        raise BusiSeqInvalid(
            f"busiSeq is unknown, expired, already used, or not for this person, channel and purpose "
            f"({purpose.value})",
            field="busiSeq",
        )
    uow.audit("busi_seq.used", "ecard", ecard.id, ecard.province, purpose=purpose.value)


def upgrade_to_level2(uow: UnitOfWork, channel: Channel, sign_no: str, busi_seq: str) -> EcardView:
    """二级签发: enable payment, only when the card's bank account is active."""
    issuance, ecard, person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    if not card.bank_account_active:
        raise BankAccountInactive("activate the card's bank account at the bank first")
    consume_busi_seq(uow, busi_seq, ecard, channel, Purpose.SIGN_LEVEL2)
    if issuance.sign_level != 2:
        issuance.sign_level, issuance.level2_at = 2, uow.clock.now()
        uow.session.flush()
        uow.audit("ecard.level2", "issuance", issuance.id, ecard.province, channel=channel.channel_no)
    return _view(issuance, person, card)


def unlink(uow: UnitOfWork, channel: Channel, sign_no: str, busi_seq: str) -> EcardView:
    """解除关联: the holder removes the e-card from one channel; other channels are untouched."""
    issuance, ecard, person, card = authorise_sign_no(uow, channel, sign_no)
    if issuance.status != IssuanceStatus.ACTIVE:
        raise EcardUnlinked(f"signNo {sign_no} is already unlinked")
    consume_busi_seq(uow, busi_seq, ecard, channel, Purpose.UNLINK)
    issuance.status, issuance.unlinked_at = IssuanceStatus.UNLINKED, uow.clock.now()
    uow.session.flush()
    uow.audit("ecard.unlinked", "issuance", issuance.id, ecard.province, channel=channel.channel_no)
    uow.record(EcardStopped(ecard.province, ecard.id, "unlinked", issuance.id))
    announce(uow, channel.id, "ecard.unlinked", {"signNo": issuance.sign_no, "usable": False})
    return _view(issuance, person, card)


def follow_card(uow: UnitOfWork, card: Card, replacement: Card | None, event: CardEventType) -> None:
    """Mirror a physical card change on its e-card and tell every channel that holds it."""
    for ecard in repository.ecards_of_card(uow.session, card.province, card.id):
        current = card
        if replacement is not None:
            ecard.card_id, ecard.updated_at = replacement.id, uow.clock.now()
            current = replacement
            uow.audit(
                "ecard.rebound", "ecard", ecard.id, ecard.province, old_card=card.id, new_card=replacement.id
            )
        if not card_is_usable(current.status):
            # Devices must stop making offline codes for this card; the next status list names them.
            uow.record(EcardStopped(ecard.province, ecard.id, f"card_{event.value}"))
        for issuance in repository.issuances_of_ecard(uow.session, ecard.province, ecard.id):
            if issuance.status != IssuanceStatus.ACTIVE:
                continue
            if replacement is not None and issuance.sign_level == 2 and not replacement.bank_account_active:
                issuance.sign_level, issuance.level2_at = 1, None
            data = {
                "signNo": issuance.sign_no,
                "event": event.value,
                "cardStatus": current.status,
                "usable": is_usable(issuance, current),
                "signLevel": issuance.sign_level,
            }
            if replacement is not None:
                data["aaz500"] = mask_card_number(replacement.aaz500)
            kind = "ecard.card_replaced" if replacement is not None else "ecard.status_changed"
            announce(uow, issuance.channel_id, kind, data)
        uow.session.flush()
