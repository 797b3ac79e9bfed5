"""Errors of benefit eligibility certification."""

from __future__ import annotations

from essc.kit.errors import Conflict, EsscError, Forbidden, InvalidInput, NotFound


class DueItemNotFound(NotFound):
    code = "due_item_not_found"
    title = "No such due item for this holder"


class NotDue(Conflict):
    code = "not_due"
    title = "The certification period of this item has not opened yet"


class AlreadyCertified(Conflict):
    code = "already_certified"
    title = "The item is already certified; its certification is named in certificationId"


class DelegationNotFound(NotFound):
    code = "delegation_not_found"
    title = "No such delegation between this holder and this relative"


class DelegationRevoked(Conflict):
    code = "delegation_revoked"
    title = "The holder revoked this delegation"


class DelegateIsHolder(InvalidInput):
    code = "delegate_is_holder"
    title = "A holder cannot delegate certification to their own e-card"


class BenefitSystemUnavailable(EsscError):
    status = 502
    code = "benefit_system_unavailable"
    title = "The province's benefit system did not answer as expected"


class FaceCheckUnavailable(EsscError):
    status = 503
    code = "face_check_unavailable"
    title = "The face verification service could not be reached; try again"


class NoBenefitSystem(Forbidden):
    code = "benefit_system_not_registered"
    title = "The province has registered no benefit system endpoint"
