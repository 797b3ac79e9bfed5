"""Errors of the e-card life cycle."""

from __future__ import annotations

from essc.authorisations.errors import FUNCTION_REFUSALS
from essc.channels.errors import ACTING_CHANNEL_REFUSALS
from essc.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated


class CardNotActive(Conflict):
    code = "card_not_active"
    title = "The physical card is not in normal status"


class HolderMismatch(InvalidInput):
    code = "holder_mismatch"
    title = "aac002, aac003, aaz500 and aab301 do not describe one cardholder's card"


class AttestationRefused(InvalidInput):
    code = "attestation_refused"
    title = "The real-name attestation is not acceptable"


class SignNoNotFound(NotFound):
    code = "sign_no_not_found"
    title = "No e-card with this signNo in this channel"


class EcardUnlinked(Conflict):
    code = "ecard_unlinked"
    title = "The e-card was unlinked from this channel"


class PasswordAlreadySet(Conflict):
    code = "password_already_set"
    title = "The e-card password is already set; change or reset it"


class PasswordNotSet(Conflict):
    code = "password_not_set"
    title = "No e-card password is set yet"


class WeakPassword(InvalidInput):
    code = "weak_password"
    title = "The e-card password is too easy to guess"


class WrongPassword(Unauthenticated):
    code = "wrong_password"
    title = "Wrong e-card password"
    persist_changes = True


class PasswordLocked(Forbidden):
    code = "password_locked"
    title = "The e-card password is locked after repeated failures"
    persist_changes = True


class BusiSeqInvalid(Forbidden):
    code = "busi_seq_invalid"
    title = "busiSeq is unknown, expired, already used, or for another person, channel or purpose"


class BankAccountInactive(Conflict):
    code = "bank_account_inactive"
    title = "The card's bank account is not active; 二级签发 is not possible"


# What may refuse any channel request on a signNo before its own rules: the acting channel, the channel's
# standing for the route's function, and the signNo itself (essc.ecards.service.authorise_sign_no).
SIGN_NO_REFUSALS = (*ACTING_CHANNEL_REFUSALS, *FUNCTION_REFUSALS, SignNoNotFound)
