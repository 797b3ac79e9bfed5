"""HTTP of the OpenID provider (discovery, JWKS, PAR, authorize, token, userinfo, logout) and its registry."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from essc.core.context import Actor, RequestContext
from essc.core.db import run_on_loop
from essc.core.deps import (
    ChannelUoW,
    MinistryUoW,
    ProvinceUoW,
    caller_of,
    get_platform,
    hand_over_unit_of_work,
    requires,
)
from essc.core.platform import Platform
from essc.core.routing import api_router, opens_unit_of_work
from essc.core.uow import UnitOfWork
from essc.ecards.endpoints import CurrentChannel
from essc.ecards.errors import SIGN_NO_REFUSALS, BusiSeqInvalid, CardNotActive, EcardUnlinked
from essc.kit.codes import MalformedCode
from essc.kit.errors import MalformedKey
from essc.kit.qrimage import UnrenderablePayload
from essc.oidc import page, service
from essc.oidc.errors import (
    AppLoginsLimited,
    AuthorizationRequestUnknown,
    CodeReplayed,
    HolderLoginRefused,
    InvalidClient,
    InvalidClientMetadata,
    InvalidGrant,
    InvalidRequest,
    InvalidRequestUri,
    InvalidScope,
    InvalidToken,
    RefreshReused,
    RelyingPartyExists,
    RelyingPartyNotFound,
    RelyingPartyRefused,
    ScanLoginDenied,
    ScanLoginExpired,
    ScanLoginReplayed,
    ScanLoginUnconfirmed,
    SlowDown,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from essc.oidc.schemas import (
    AppLoginIn,
    AppLoginOut,
    PublicRelyingParty,
    RelyingPartyIn,
    RelyingPartyOut,
    RelyingPartyStatusChange,
)
from essc.qr.errors import WrongCodeKind
from essc.shared.policy import NATIONAL, Function, Party
from essc.shared.provinces import WrongProvince, ensure_same_province

router = api_router(tags=["openid-connect"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# Making and showing a scan-to-login code (kit.codes, kit.qrimage): a login code always renders, so these
# cannot happen for the provider's own codes; declared as the code that makes them can raise them.
SCAN_CODE_FAULTS = (MalformedCode, UnrenderablePayload)
FORM = "application/x-www-form-urlencoded"
CLIENT_AUTH_REFUSALS = (InvalidClient, UnauthorizedClient, InvalidRequest, MalformedKey)


@opens_unit_of_work
async def oidc_uow(request: Request) -> UnitOfWork:
    """The unit of work of an OAuth or login-page request: no signed caller, committed when it returns."""
    platform: Platform = request.app.state.platform
    context = RequestContext(
        actor=Actor(kind="public", id="oidc"),
        request_id=request.state.request_id,
        source_ip=request.client.host if request.client else None,
        function=Function.LOGIN.value,
    )
    uow = UnitOfWork(platform, context, platform.loop_engine().sessions())
    hand_over_unit_of_work(request, uow)
    return uow


OidcUoW = Annotated[UnitOfWork, Depends(oidc_uow)]


async def _form(request: Request) -> dict[str, list[str]]:
    if (request.headers.get("content-type") or "").split(";")[0].strip().lower() != FORM:
        raise InvalidRequest(f"the body must be {FORM}")
    try:
        text = (await request.body()).decode("utf-8")
        return parse_qs(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=50)
    except ValueError as exc:
        raise InvalidRequest("the form body is malformed") from exc


# -- discovery and keys ----------------------------------------------------------------------------------


@router.get("/.well-known/openid-configuration", dependencies=[requires(None, party=Party.PUBLIC)])
async def discovery(p: Annotated[Platform, Depends(get_platform)]) -> dict[str, Any]:
    """OpenID Provider metadata (OpenID Connect Discovery 1.0, RFC 8414)."""
    return service.Endpoints.of(p).discovery()


@router.get("/oidc/jwks", dependencies=[requires(None, party=Party.PUBLIC, raises=(MalformedKey,))])
async def jwks(p: Annotated[Platform, Depends(get_platform)]) -> dict[str, Any]:
    """The ES256 ID-token keys (jwks_uri): standard JWKs only, so any client library parses the set."""
    return service.jwks(p)


@router.get("/oidc/jwks/sm2", dependencies=[requires(None, party=Party.PUBLIC, raises=(MalformedKey,))])
async def sm2_jwks(p: Annotated[Platform, Depends(get_platform)]) -> dict[str, Any]:
    """The SM2SM3 ID-token keys (kty EC, crv SM2; discovery's sm2_jwks_uri)."""
    return service.sm2_jwks(p)


# -- the OAuth endpoints ---------------------------------------------------------------------------------


@router.post(
    "/oidc/par",
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires(None, party=Party.PUBLIC, raises=(*CLIENT_AUTH_REFUSALS, InvalidScope))],
)
async def par(request: Request, uow: OidcUoW) -> JSONResponse:
    """Pushed authorization request (RFC 9126), required: the request_uri is single-use and lives 60 s."""
    form = await _form(request)
    ends = service.Endpoints.of(uow.platform)
    rp = await uow.run(service.authenticate_client, form, {ends.issuer, ends.par, ends.token})
    answer = await uow.run(service.push, rp, form)
    return JSONResponse(answer, status_code=201, headers=NO_STORE)


@router.get(
    "/oidc/authorize",
    response_class=HTMLResponse,
    dependencies=[requires(None, party=Party.PUBLIC, raises=(InvalidRequestUri, *SCAN_CODE_FAULTS))],
)
async def authorize(request: Request, uow: OidcUoW) -> HTMLResponse:
    """The login page for a pushed request (client_id and request_uri only; PAR is required)."""
    client_id = request.query_params.get("client_id", "")
    request_uri = request.query_params.get("request_uri", "")
    try:
        shown = await uow.run(service.show, client_id, request_uri)
    except InvalidRequestUri as exc:
        return HTMLResponse(page.error_page(exc.detail), status_code=400, headers=NO_STORE)
    return HTMLResponse(page.login_page(shown), headers=NO_STORE)


@router.post(
    "/oidc/authorize/kiosk",
    response_class=HTMLResponse,
    dependencies=[
        requires(
            None,
            party=Party.PUBLIC,
            raises=(InvalidRequestUri, HolderLoginRefused, SlowDown, UnauthorizedClient, InvalidRequest),
        )
    ],
)
async def kiosk(request: Request, uow: OidcUoW) -> Response:
    """The holder's e-card number and password; a redirect to the site with the code, or the page again."""
    try:
        form = await _form(request)
    except InvalidRequest as exc:
        return HTMLResponse(page.error_page(exc.detail), status_code=400, headers=NO_STORE)
    interaction = form.get("interaction", [""])[0]
    return await _kiosk_answer(
        uow,
        interaction,
        service.kiosk_login,
        interaction,
        form.get("essc_no", [""])[0][:64],
        form.get("password", [""])[0][:64],
        form.get("consent_id_number", [""])[0] == "yes",
    )


async def _kiosk_answer(uow: UnitOfWork, interaction: str, call: Any, *args: Any) -> Response:
    """A kiosk login step's answer: the redirect with the code, or the page again with the refusal."""
    try:
        location = await uow.run(call, *args)
    except (HolderLoginRefused, SlowDown, UnauthorizedClient) as exc:
        try:
            again = await uow.run(service.page_of, interaction)
        except InvalidRequestUri as gone:
            return HTMLResponse(page.error_page(gone.detail), status_code=400, headers=NO_STORE)
        if exc.persist_changes:
            await run_on_loop(uow.commit)  # the failed attempt counts (the lockout)
        return HTMLResponse(page.login_page(again, exc.detail), status_code=exc.status, headers=NO_STORE)
    except InvalidRequestUri as exc:
        return HTMLResponse(page.error_page(exc.detail), status_code=400, headers=NO_STORE)
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


SCAN_REFUSALS = (ScanLoginExpired, ScanLoginDenied, ScanLoginUnconfirmed, ScanLoginReplayed)
PAGE_HEADERS = NO_STORE | {"Referrer-Policy": "no-referrer"}  # the scan page's URL names its interaction


async def _scan_answer(uow: UnitOfWork, call: Any, *args: Any) -> Response:
    """Run a step of scan-to-login and answer its page: the redirect, waiting, consent, or the refusal."""
    try:
        outcome = await uow.run(call, *args)
    except (HolderLoginRefused, SlowDown, UnauthorizedClient, *SCAN_REFUSALS) as exc:
        if exc.persist_changes:
            await run_on_loop(uow.commit)
        again = None
        if isinstance(exc, ScanLoginExpired | ScanLoginDenied):
            again = f"{page.SCAN_PATH}?{urlencode({'interaction': args[0], 'renew': 'yes'})}"
        return HTMLResponse(page.error_page(exc.detail, again), status_code=exc.status, headers=PAGE_HEADERS)
    except InvalidRequestUri as exc:
        return HTMLResponse(page.error_page(exc.detail), status_code=400, headers=PAGE_HEADERS)
    if isinstance(outcome, service.ScanWaiting):
        return HTMLResponse(page.waiting_page(outcome.page, outcome.scanned), headers=PAGE_HEADERS)
    if isinstance(outcome, service.ScanConsent):
        return HTMLResponse(page.consent_page(outcome.page), headers=PAGE_HEADERS)
    return RedirectResponse(outcome, status_code=303, headers=PAGE_HEADERS)


SCAN_ROUTE_REFUSALS = (InvalidRequestUri, HolderLoginRefused, SlowDown, UnauthorizedClient, *SCAN_REFUSALS)


@router.get(
    "/oidc/authorize/scan",
    response_class=HTMLResponse,
    dependencies=[
        requires(None, party=Party.PUBLIC, raises=(*SCAN_ROUTE_REFUSALS, *SCAN_CODE_FAULTS, WrongCodeKind))
    ],
)
async def scan_poll(request: Request, uow: OidcUoW) -> Response:
    """The page asks whether its scan-to-login code was confirmed: waiting, consent, or the redirect."""
    query = request.query_params
    code = query.get("code")
    return await _scan_answer(
        uow,
        service.scan_progress,
        query.get("interaction", "")[:128],
        code[:128] if code else None,
        query.get("renew") == "yes",
    )


@router.post(
    "/oidc/authorize/scan",
    response_class=HTMLResponse,
    dependencies=[requires(None, party=Party.PUBLIC, raises=(*SCAN_ROUTE_REFUSALS, InvalidRequest))],
)
async def scan_finish(request: Request, uow: OidcUoW) -> Response:
    """The holder confirmed in the app and consented on the page: the redirect with the code."""
    try:
        form = await _form(request)
    except InvalidRequest as exc:
        return HTMLResponse(page.error_page(exc.detail), status_code=400, headers=NO_STORE)
    consent = form.get("consent_id_number", [""])[0] == "yes"
    return await _scan_answer(uow, service.scan_finish, form.get("interaction", [""])[0][:128], consent)


@router.post(
    "/oidc/authorize/chip",
    response_class=HTMLResponse,
    dependencies=[
        requires(
            None,
            party=Party.PUBLIC,
            raises=(InvalidRequestUri, HolderLoginRefused, SlowDown, UnauthorizedClient, InvalidRequest),
        )
    ],
)
async def chip(request: Request, uow: OidcUoW) -> Response:
    """A third-generation card's chip signature over the page's challenge and the e-card password."""
    try:
        form = await _form(request)
    except InvalidRequest as exc:
        return HTMLResponse(page.error_page(exc.detail), status_code=400, headers=NO_STORE)
    interaction = form.get("interaction", [""])[0]
    presented = service.ChipLogin(
        aab301=form.get("aab301", [""])[0][:6],
        aaz500=form.get("aaz500", [""])[0][:16],
        signature=form.get("chip_signature", [""])[0][:256],
    )
    return await _kiosk_answer(
        uow,
        interaction,
        service.kiosk_chip_login,
        interaction,
        presented,
        form.get("password", [""])[0][:64],
        form.get("consent_id_number", [""])[0] == "yes",
    )


@router.post(
    "/v1/oidc/app-logins",
    response_model=AppLoginOut,
    dependencies=[
        requires(
            Function.LOGIN,
            party=Party.CHANNEL,
            raises=(
                *SIGN_NO_REFUSALS,
                AuthorizationRequestUnknown,
                RelyingPartyRefused,
                AppLoginsLimited,
                BusiSeqInvalid,
                CardNotActive,
                EcardUnlinked,
            ),
        )
    ],
)
async def app_login(body: AppLoginIn, uow: ChannelUoW, channel: CurrentChannel) -> AppLoginOut:
    """App-to-app: the channel app approves a pushed request for its holder and gets the redirect URL back."""
    return await uow.run(service.app_login, channel, body)


@router.post(
    "/oidc/token",
    dependencies=[
        requires(
            None,
            party=Party.PUBLIC,
            raises=(*CLIENT_AUTH_REFUSALS, InvalidGrant, CodeReplayed, RefreshReused, UnsupportedGrantType),
        )
    ],
)
async def token(request: Request, uow: OidcUoW) -> JSONResponse:
    """Tokens for a code (PKCE S256, single use, 60 s) or a refresh token (rotated, reuse revokes)."""
    form = await _form(request)
    ends = service.Endpoints.of(uow.platform)
    rp = await uow.run(service.authenticate_client, form, {ends.issuer, ends.token})
    return JSONResponse(await uow.run(service.token, rp, form), headers=NO_STORE)


async def _userinfo(request: Request, uow: UnitOfWork) -> Response:
    scheme, _, value = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise InvalidToken("send the access token as Authorization: Bearer")
    media_type, body = await uow.run(service.userinfo, value.strip())
    return Response(body, media_type=media_type, headers=NO_STORE)


USERINFO = [requires(None, party=Party.PUBLIC, raises=(InvalidToken, MalformedKey))]


@router.get("/oidc/userinfo", dependencies=USERINFO)
async def userinfo(request: Request, uow: OidcUoW) -> Response:
    """The holder's claims; sealed as a JWE (application/jwt) when they hold the clear ID number."""
    return await _userinfo(request, uow)


@router.post("/oidc/userinfo", dependencies=USERINFO)
async def userinfo_post(request: Request, uow: OidcUoW) -> Response:
    """userinfo by POST (OpenID Connect Core §5.3.1)."""
    return await _userinfo(request, uow)


@router.get(
    "/oidc/logout",
    response_class=HTMLResponse,
    dependencies=[requires(None, party=Party.PUBLIC, raises=(InvalidRequest, MalformedKey))],
)
async def logout(request: Request, uow: OidcUoW) -> Response:
    """RP-initiated logout: every session of the holder ends at every relying party."""
    hint = request.query_params.get("id_token_hint", "")
    try:
        await uow.run(service.logout, hint)
    except InvalidRequest as exc:
        return HTMLResponse(page.error_page(exc.detail), status_code=400, headers=NO_STORE)
    target = request.query_params.get("post_logout_redirect_uri")
    client_id = request.query_params.get("client_id")
    allowed = False
    if target and client_id:
        allowed = await uow.run(service.may_return_to, client_id, target)
    if target and allowed:
        state = request.query_params.get("state")
        suffix = ("&" if "?" in target else "?") + f"state={state}" if state else ""
        return RedirectResponse(target + suffix, status_code=303, headers=NO_STORE)
    return HTMLResponse(page.error_page("已退出 You are logged out"), headers=NO_STORE)


# -- the registry ----------------------------------------------------------------------------------------

REGISTRY_REFUSALS = (InvalidClientMetadata, RelyingPartyExists, MalformedKey)


@router.post(
    "/v1/provinces/{province}/relying-parties",
    response_model=RelyingPartyOut,
    status_code=status.HTTP_201_CREATED,
    tags=["openid-connect"],
    dependencies=[requires(None, party=Party.PROVINCE, raises=(*REGISTRY_REFUSALS, WrongProvince))],
)
async def register_for_province(
    province: str, body: RelyingPartyIn, request: Request, uow: ProvinceUoW
) -> RelyingPartyOut:
    """A province registers a relying party that logs its cardholders in."""
    ensure_same_province(caller_of(request).ref, province)
    return await uow.run(service.register, body, province, f"province/{province}")


@router.post(
    "/v1/ministry/relying-parties",
    response_model=RelyingPartyOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[requires(None, party=Party.MINISTRY, raises=REGISTRY_REFUSALS)],
)
async def register_national(body: RelyingPartyIn, request: Request, uow: MinistryUoW) -> RelyingPartyOut:
    """The ministry registers a relying party for the cardholders of every province."""
    return await uow.run(service.register, body, NATIONAL, caller_of(request).label)


@router.put(
    "/v1/provinces/{province}/relying-parties/{client_id}/status",
    response_model=RelyingPartyOut,
    dependencies=[requires(None, party=Party.PROVINCE, raises=(RelyingPartyNotFound, WrongProvince))],
)
async def province_status(
    province: str, client_id: str, body: RelyingPartyStatusChange, request: Request, uow: ProvinceUoW
) -> RelyingPartyOut:
    """Suspend or reactivate one of the province's relying parties."""
    ensure_same_province(caller_of(request).ref, province)
    rp = await uow.run(service.registered, client_id, province)
    return await uow.run(service.set_status, rp, body.status, f"province/{province}")


@router.put(
    "/v1/ministry/relying-parties/{client_id}/status",
    response_model=RelyingPartyOut,
    dependencies=[requires(None, party=Party.MINISTRY, raises=(RelyingPartyNotFound,))],
)
async def ministry_status(
    client_id: str, body: RelyingPartyStatusChange, request: Request, uow: MinistryUoW
) -> RelyingPartyOut:
    """Suspend or reactivate a national relying party."""
    rp = await uow.run(service.registered, client_id, NATIONAL)
    return await uow.run(service.set_status, rp, body.status, caller_of(request).label)


@router.get(
    "/v1/public/relying-parties",
    response_model=list[PublicRelyingParty],
    dependencies=[requires(None, party=Party.PUBLIC)],
)
async def public_relying_parties(uow: OidcUoW, response: Response) -> list[PublicRelyingParty]:
    """The relying parties in force, listed publicly beside the channel apps."""
    response.headers.update({"Cache-Control": "no-store"})
    return await uow.run(service.public_list)
