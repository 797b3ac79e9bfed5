"""Errors of institutions and terminals."""

from __future__ import annotations

from essc.kit.errors import Conflict, Forbidden, InvalidInput, NotFound


class InstitutionNotFound(NotFound):
    code = "institution_not_found"
    title = "No such institution in this province"


class TerminalNotFound(NotFound):
    code = "terminal_not_found"
    title = "No such terminal in this province"


class DuplicateInstitution(Conflict):
    code = "duplicate_institution"
    title = "An institution with this code is already registered in the province"


class DuplicateTerminal(Conflict):
    code = "duplicate_terminal"
    title = "A terminal with this number is already registered"


class DisclosureNotAllowed(InvalidInput):
    code = "disclosure_not_allowed"
    title = "This kind of institution may not receive that much of the holder"


class InstitutionSuspended(Forbidden):
    code = "institution_suspended"
    title = "The terminal's institution is suspended"


class TerminalSuspended(Forbidden):
    code = "terminal_suspended"
    title = "The terminal is suspended"


class BusiTypeNotGranted(Forbidden):
    code = "busi_type_not_granted"
    title = "The terminal is not authorised for this busiType"


# Why a terminal's request cannot act (essc.terminals.service.acting_terminal).
ACTING_TERMINAL_REFUSALS = (TerminalNotFound, TerminalSuspended, InstitutionSuspended)
