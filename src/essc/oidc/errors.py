"""Why an OpenID Connect step was refused: OAuth error codes (RFC 6749 §5.2, RFC 9126) and the registry's."""

from __future__ import annotations

from typing import ClassVar

from essc.kit.errors import Conflict, EsscError, Forbidden, Gone, NotFound


class OAuthError(EsscError):
    """Rendered as OAuth error JSON ({"error", "error_description"}) as the RFCs require, not a problem."""

    oauth: ClassVar[bool] = True


class InvalidRequest(OAuthError):
    status = 400
    code = "invalid_request"
    title = "The request is missing a parameter, repeats one or is otherwise malformed"


class InvalidRequestUri(OAuthError):
    status = 400
    code = "invalid_request_uri"
    title = "The request_uri is unknown, expired or already used"


class InvalidClient(OAuthError):
    status = 401
    code = "invalid_client"
    title = "Client authentication failed (private_key_jwt)"


class InvalidGrant(OAuthError):
    status = 400
    code = "invalid_grant"
    title = "The code or refresh token is invalid, expired, used, or was issued to another client"


class CodeReplayed(InvalidGrant):
    """A second use of a code: what the first use issued is revoked, and that revocation is kept."""

    persist_changes = True


class RefreshReused(InvalidGrant):
    """A rotated refresh token presented again: its whole family is revoked, and that revocation is kept."""

    persist_changes = True


class UnauthorizedClient(OAuthError):
    status = 400
    code = "unauthorized_client"
    title = "The relying party is not authorised for this (suspended, or the province has not enabled login)"


class UnsupportedGrantType(OAuthError):
    status = 400
    code = "unsupported_grant_type"
    title = "Only authorization_code and refresh_token grants are offered"


class InvalidScope(OAuthError):
    status = 400
    code = "invalid_scope"
    title = "A scope the relying party may not ask for, or no openid scope"


class InvalidToken(OAuthError):
    status = 401
    code = "invalid_token"
    title = "The access token is invalid, expired or revoked"


class SlowDown(OAuthError):
    status = 429
    code = "slow_down"
    title = "Too many requests from this relying party or source; wait and retry"


class RelyingPartyExists(Conflict):
    code = "relying_party_exists"
    title = "A relying party with this client_id is registered already"


class RelyingPartyNotFound(NotFound):
    code = "relying_party_not_found"
    title = "No such relying party (or it is registered by another province)"


class InvalidClientMetadata(EsscError):
    status = 400
    code = "invalid_client_metadata"
    title = "A redirect URI, key set, algorithm or scope of the registration is not acceptable"


class HolderLoginRefused(Forbidden):
    """One answer for an unknown e-card, a wrong password and a locked one, so none can be told apart."""

    code = "holder_login_refused"
    title = "The e-card number or password is wrong, or the e-card cannot log in now"
    persist_changes = True  # a wrong password counts towards the lockout


class ScanLoginExpired(Gone):
    code = "scan_login_expired"
    title = "The scan-to-login code of this login page expired; show a new one"


class ScanLoginDenied(Forbidden):
    code = "scan_login_denied"
    title = "The holder refused this login in their channel app"


class ScanLoginUnconfirmed(Conflict):
    code = "scan_login_unconfirmed"
    title = "The scan-to-login code was not confirmed in a channel app yet"


class ScanLoginReplayed(Conflict):
    code = "scan_login_replayed"
    title = "The confirmed scan-to-login code was used already; its authorization code went out once"


class AuthorizationRequestUnknown(NotFound):
    code = "authorization_request_unknown"
    title = "No pending authorization request with this request_uri for this relying party (or it expired)"


class RelyingPartyRefused(Forbidden):
    code = "relying_party_refused"
    title = "The relying party may not log this holder in (suspended, another province's, or login disabled)"


class AppLoginsLimited(EsscError):
    status = 429
    code = "app_logins_limited"
    title = "Too many app-to-app logins for this relying party or from this source; wait and retry"
