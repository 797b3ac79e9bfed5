"""The matrix: every channel route of the app x channels x provinces, each function granted or not.

What is not granted (or suspended, disabled in the province, or asked by a suspended channel) is refused with
its own code, naming the function; what is granted is never refused by authorisation.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import delete

from essc.authorisations import service as authorisations
from essc.authorisations.models import ChannelGrant, ProvinceBusinessItem
from essc.channels import service as channels
from essc.core import migrate
from essc.core.deps import policy_of
from essc.core.platform import Platform, build_platform
from essc.core.settings import Settings
from essc.kit.clock import FrozenClock, SystemClock
from essc.kit.codes import CodeKind, new_token_code
from essc.kit.crypto.base import PrivateKey
from essc.kit.keystore import KeyStore
from essc.regions.repository import sync_regions
from essc.shared.policy import NATIONAL, Function
from essc.shared.policy import Party as PolicyParty
from essc.web.app import ROUTERS, api_routes, create_app
from essc_sdk import PlatformError
from factories import Party, app_client, attestation, channel, holder, issue_request, load, operator_uow

PROVINCES = ("44", "11")
AUTHORISATION_CODES = {
    "function_not_authorised",
    "function_suspended",
    "function_disabled_in_province",
    "function_not_declared",
    "channel_suspended",
    "channel_terminated",
    "channel_not_active",
}
ALL = frozenset(Function)


@dataclass(frozen=True)
class Grants:
    """One channel's standing: status, grants by scope ("00" national), suspended functions by scope."""

    status: str
    granted: dict[str, frozenset[Function]]
    suspended: dict[str, frozenset[Function]]


# Each function is granted to some (channel, province) pairs and not to others.
CHANNELS: dict[str, Grants] = {
    "national": Grants("active", {NATIONAL: ALL}, {"11": frozenset({Function.ISSUANCE})}),
    "provincial": Grants(
        "active",
        {
            "44": frozenset({Function.ISSUANCE, Function.QR, Function.LOGIN}),
            "11": frozenset({Function.QUERIES, Function.PAYMENT, Function.ISSUANCE}),
        },
        {NATIONAL: frozenset({Function.LOGIN})},
    ),
    "nothing": Grants("active", {}, {}),
    "suspended": Grants("suspended", {NATIONAL: ALL}, {}),
}
DISABLED = {"44": frozenset[Function](), "11": frozenset({Function.PAYMENT, Function.QR})}


def expected_refusal(name: str, province: str, function: Function) -> str | None:
    """The oracle, written apart from the platform's rule: None when the request must pass authorisation."""
    standing = CHANNELS[name]
    if standing.status == "suspended":
        return "channel_suspended"
    scopes = (province, NATIONAL)
    if any(function in standing.suspended.get(s, frozenset()) for s in scopes):
        return "function_suspended"
    if not any(function in standing.granted.get(s, frozenset()) for s in scopes):
        return "function_not_authorised"
    if function in DISABLED[province]:
        return "function_disabled_in_province"
    return None


@dataclass
class Scene:
    platform: Platform
    parties: dict[str, Party]
    sign_nos: dict[tuple[str, str], str]  # (channel name, province) -> signNo
    aab301: dict[str, str]  # province -> the holder's region


@pytest.fixture(scope="module")
def scene(keystore: KeyStore, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    """Built once, in its own database: four channels, a holder in each of two provinces issued in every
    channel, then the grants of the matrix."""
    folder = tmp_path_factory.mktemp("matrix")
    url = f"sqlite:///{folder / 'matrix.db'}"
    migrate.upgrade(url)
    settings = Settings(database_url=url, keystore_path=folder / "unused-keys", run_dispatcher=False)
    platform = build_platform(settings, clock=FrozenClock(SystemClock().now()), keys=keystore)
    with platform.session_factory() as session:
        sync_regions(session)
        session.commit()
    try:
        http = app_client(platform)
        records = {p: holder(p) for p in PROVINCES}
        load(platform, *records.values())
        parties = {name: channel(platform, http, provinces=PROVINCES) for name in CHANNELS}
        sign_nos = {
            (name, p): str(
                party.client.post("/v1/ecards/issuance", issue_request(platform, records[p]))["signNo"]
            )
            for name, party in parties.items()
            for p in PROVINCES
        }
        _apply_matrix(platform, parties)
        yield Scene(platform, parties, sign_nos, {p: r.aab301 for p, r in records.items()})
    finally:
        platform.close()


def _apply_matrix(platform: Platform, parties: dict[str, Party]) -> None:
    with operator_uow(platform) as uow:
        uow.session.execute(delete(ChannelGrant))
        uow.session.execute(delete(ProvinceBusinessItem))
        for province in PROVINCES:
            for function in Function:
                enabled = function not in DISABLED[province]
                authorisations.set_business_item(uow, province, function, enabled, by="operator/matrix")
        for name, standing in CHANNELS.items():
            row = channels.by_number(uow, parties[name].label.removeprefix("channel/"))
            for status, table in (("active", standing.granted), ("suspended", standing.suspended)):
                for scope, functions in table.items():
                    for function in sorted(functions):
                        authorisations.set_grant(uow, row, scope, function, status, by="operator/matrix")
            if standing.status == "suspended":
                channels.set_status(uow, row, channels.ChannelStatus.SUSPENDED, "matrix")
        uow.commit()


def channel_routes() -> list[tuple[str, str, Function]]:
    """(method, path, function) of every route the app serves to channels, from its route table."""
    found = []
    for router in ROUTERS:
        for route in router.routes:
            policy = policy_of(route) if isinstance(route, APIRoute) else None
            if policy is not None and policy.party is PolicyParty.CHANNEL:
                assert policy.function is not None
                found.extend((method, route.path, policy.function) for method in sorted(route.methods))
    return found


CHANNEL_ROUTES = channel_routes()
_DUMMY_SIGNATURE = base64.b64encode(b"0" * 70).decode("ascii")


def _request(
    route: tuple[str, str, Function], scene: Scene, name: str, province: str
) -> tuple[str, dict[str, Any]]:
    """A well-formed request for the route about the holder of the province (the body must pass validation,
    or it would be refused before authorisation is even asked)."""
    _method, path, _function = route
    sign_no = scene.sign_nos[(name, province)]
    login_code, _ = new_token_code(CodeKind.LOGIN)
    bodies: dict[str, dict[str, Any]] = {
        "/v1/ecards/issuance": issue_request(scene.platform, _Record(scene.aab301[province])),
        "/v1/ecards/{sign_no}/password": {"password": "739251"},
        "/v1/ecards/{sign_no}/password/change": {"oldPassword": "739251", "newPassword": "582914"},
        "/v1/ecards/{sign_no}/password/reset": {"busiSeq": "not-a-real-busi-seq", "newPassword": "582914"},
        "/v1/ecards/{sign_no}/busi-seqs": {"purpose": "query", "method": "password", "password": "739251"},
        "/v1/ecards/{sign_no}/level2": {"busiSeq": "not-a-real-busi-seq"},
        "/v1/ecards/{sign_no}/unlink": {"busiSeq": "not-a-real-busi-seq"},
        "/v1/ecards/{sign_no}/qr-codes": {},
        "/v1/ecards/{sign_no}/devices": {
            "devicePublicKey": _device_key(scene),
            "busiSeq": "not-a-real-busi-seq",
        },
        "/v1/ecards/{sign_no}/credentials": {"busiSeq": "not-a-real-busi-seq"},
        "/v1/eligibility/{sign_no}/certifications": {
            "dueItemId": "01HZZZZZZZZZZZZZZZZZZZZZZZ",
            "busiSeq": "not-a-real-busi-seq",
            "attestation": attestation(scene.platform),
        },
        "/v1/eligibility/{sign_no}/delegations": {
            "delegateSignNo": sign_no,
            "busiSeq": "not-a-real-busi-seq",
        },
        "/v1/eligibility/{sign_no}/delegations/{delegation_id}/revoke": {"busiSeq": "not-a-real-busi-seq"},
        "/v1/ecards/{sign_no}/chip-challenges": {},
        "/v1/ecards/{sign_no}/chip-challenges/{challenge_id}/response": {"signature": _DUMMY_SIGNATURE},
        "/v1/login-codes/scan": {"code": login_code, "signNo": sign_no},
        "/v1/login-codes/confirm": {"code": login_code, "signNo": sign_no, "busiSeq": "not-a-real-busi-seq"},
        "/v1/login-codes/deny": {"code": login_code, "signNo": sign_no},
        "/v1/oidc/app-logins": {
            "clientId": "rp-not-registered",
            "requestUri": "urn:ietf:params:oauth:request_uri:not-a-real-one",
            "signNo": sign_no,
            "busiSeq": "not-a-real-busi-seq",
        },
    }
    concrete = (
        path.replace("{sign_no}", sign_no)
        .replace("{challenge_id}", "01HZZZZZZZZZZZZZZZZZZZZZZZ")
        .replace("{delegation_id}", "01HZZZZZZZZZZZZZZZZZZZZZZZ")
    )
    return concrete, bodies.get(path, {})


@dataclass(frozen=True)
class _Record:
    """Enough of a holder record for an issuance request about a holder of the region (who may not exist)."""

    aab301: str
    aac002: str = "110101199003074514"
    aac003: str = "张三"
    aaz500: str = "A00000001"


_device_keys: dict[int, PrivateKey] = {}


def _device_key(scene: Scene) -> str:
    key = _device_keys.setdefault(0, scene.platform.suite.generate_private_key())
    return key.public_key().to_pem().decode("ascii")


@pytest.mark.parametrize("province", PROVINCES)
@pytest.mark.parametrize("name", list(CHANNELS))
@pytest.mark.parametrize("route", CHANNEL_ROUTES, ids=[f"{m} {p}" for m, p, _ in CHANNEL_ROUTES])
def test_what_is_not_granted_is_refused(
    scene: Scene, route: tuple[str, str, Function], name: str, province: str
) -> None:
    method, _path, function = route
    path, body = _request(route, scene, name, province)
    client = scene.parties[name].client
    refusal: PlatformError | None = None
    try:
        client.call(method, path, None if method == "GET" else body)
    except PlatformError as refused:
        refusal = refused
    code = refusal.code if refusal else None
    if refusal is not None and code in AUTHORISATION_CODES:
        assert refusal.status == 403
        assert refusal.problem["channel"] == scene.parties[name].label.removeprefix("channel/")
        if not refusal.code.startswith("channel_"):
            assert (refusal.problem["function"], refusal.problem["province"]) == (function.value, province)
    expected = expected_refusal(name, province, function)
    if expected is None:
        assert code not in AUTHORISATION_CODES, (function, code)
    else:
        assert code == expected, (function, code)


def test_the_matrix_covers_every_channel_route_of_the_app(scene: Scene) -> None:
    app = create_app(scene.platform)
    served = {
        (method, route.path)
        for route in api_routes(app)
        if (policy := policy_of(route)) is not None and policy.party is PolicyParty.CHANNEL
        for method in route.methods
    }
    assert served == {(m, p) for m, p, _ in CHANNEL_ROUTES}
    assert len(served) >= 15
    assert {f for _, _, f in CHANNEL_ROUTES} >= {Function.ISSUANCE, Function.QR, Function.LOGIN}
