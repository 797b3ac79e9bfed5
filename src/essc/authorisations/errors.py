"""Why a channel request or an authorisation change was refused, naming function, province and channel."""

from __future__ import annotations

from essc.kit.errors import Conflict, Forbidden, InvalidInput, NotFound


class FunctionNotAuthorised(Forbidden):
    code = "function_not_authorised"
    title = "The channel is not authorised for this function for the holder's province"


class FunctionSuspendedForChannel(Forbidden):
    code = "function_suspended"
    title = "This function of the channel is suspended"


class FunctionDisabledInProvince(Forbidden):
    code = "function_disabled_in_province"
    title = "The province has not enabled this business item"


class FunctionNotDeclared(Forbidden):
    code = "function_not_declared"
    title = "The endpoint declares no function, so nothing can authorise it"


class FunctionNotCertified(Conflict):
    code = "function_not_certified"
    title = "The channel has no valid production certification for this function"


class GrantNotFound(NotFound):
    code = "channel_authorisation_not_found"
    title = "No authorisation of this channel for this function in this province"


class UnknownFunction(InvalidInput):
    code = "unknown_function"
    title = "Not one of the functions"


# Why a channel may not use the route's function for a holder's province (authorisations.service.refusal).
FUNCTION_REFUSALS = (
    FunctionNotDeclared,
    FunctionNotAuthorised,
    FunctionSuspendedForChannel,
    FunctionDisabledInProvince,
)
