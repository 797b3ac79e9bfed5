"""Typed factories of test data, built through the platform's own services."""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import redis
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine

from essc.access import repository as access_repository
from essc.access import service as access
from essc.authorisations import service as authorisations
from essc.cardholders.importfile import HolderRecord
from essc.cardholders.service import load_holders
from essc.cardholders.synthetic import synthetic_holders
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.db import HotResult, HotStatement, Session
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.kit import sdjwt
from essc.kit.crypto.base import PrivateKey
from essc.kit.ids import new_id
from essc.shared.callers import AuthenticatedCaller
from essc.shared.policy import Function
from essc.web.app import create_app
from essc_sdk import EsscClient

_seeds = itertools.count(1)
_channel_numbers = itertools.count(4400000101)


def operator_uow(platform: Platform) -> UnitOfWork:
    return UnitOfWork(platform, RequestContext(actor=Actor.operator("test")))


def holder(province: str = "44", **changes: object) -> HolderRecord:
    """A valid synthetic holder of the province with a normal card and an active bank account."""
    record = next(synthetic_holders(province, 1, seed=next(_seeds)))
    record = replace(record, card_status="normal", bank_account_active=True)
    return replace(record, **changes)  # type: ignore[arg-type]


def load(platform: Platform, *records: HolderRecord) -> None:
    with operator_uow(platform) as uow:
        by_province: dict[str, list[tuple[int, HolderRecord]]] = {}
        for line, record in enumerate(records, start=1):
            by_province.setdefault(record.aab301[:2], []).append((line, record))
        for province, rows in by_province.items():
            result = load_holders(uow, province, rows)
            assert not result.rejected, result.rejected
        uow.commit()


@dataclass
class Party:
    """A registered channel or province system with a signing SDK client bound to a test app."""

    label: str
    key_id: str
    private_key: PrivateKey
    client: EsscClient
    caller_id: str


# Clients whose app is running (lifespan started, one event loop for all their requests), closed by conftest
# after each test, so the loop's engine and Redis connections are released on their own loop.
open_clients: list[TestClient] = []


def app_client(platform: Platform) -> TestClient:
    """A test client of the platform's app, started as a server starts it (one event loop, lifespan run)."""
    return running(TestClient(create_app(platform), raise_server_exceptions=False))


def stop_clients() -> None:
    """Stop every app started with running(), newest first."""
    while open_clients:
        open_clients.pop().__exit__(None, None, None)


def running(client: TestClient) -> TestClient:
    """The client with its app started; it is stopped after the test."""
    client.__enter__()
    open_clients.append(client)
    return client


def _client(platform: Platform, http: TestClient, label: str, key_id: str, key: PrivateKey) -> EsscClient:
    return EsscClient(
        http,
        platform.suite,
        caller=label,
        key_id=key_id,
        private_key=key,
        platform_keys=platform.keys.public_keys(),
        clock=lambda: platform.clock.now().timestamp(),
    )


def channel(
    platform: Platform,
    http: TestClient,
    webhook_url: str | None = "https://channel.test/hooks",
    *,
    functions: Iterable[Function] = tuple(Function),
    provinces: Iterable[str] = ("44",),
) -> Party:
    """An active channel, certified and authorised nationally for `functions`, which `provinces` enable."""
    key = platform.suite.generate_private_key()
    number = str(next(_channel_numbers))
    wanted = list(functions)
    with operator_uow(platform) as uow:
        row = channels.register(
            uow,
            number,
            f"Channel {number}",
            channels.ChannelType.HRSS_APP,
            public_key=key.public_key().to_pem(),
            key_id="k1",
            webhook_url=webhook_url,
        )
        if wanted:
            channels.commission(uow, row, wanted, attested_by="tests")
            authorisations.open_everywhere(uow, row, wanted, provinces, by="operator/tests")
        uow.commit()
    label = f"channel/{number}"
    return Party(label, "k1", key, _client(platform, http, label, "k1", key), row.caller_id)


def province(platform: Platform, http: TestClient, code: str = "44") -> Party:
    key = platform.suite.generate_private_key()
    with operator_uow(platform) as uow:
        caller = access.register_caller(uow, "province", code, f"Province {code}")
        access.add_key(uow, caller, "p1", key.public_key().to_pem())
        uow.commit()
    label = f"province/{code}"
    return Party(label, "p1", key, _client(platform, http, label, "p1", key), caller.id)


def ministry(platform: Platform, http: TestClient, ref: str = "MOHRSS") -> Party:
    """The ministry's registry system as a signing party."""
    key = platform.suite.generate_private_key()
    with operator_uow(platform) as uow:
        caller = access.register_caller(uow, "ministry", ref, "Ministry channel registry")
        access.add_key(uow, caller, "m1", key.public_key().to_pem())
        uow.commit()
    label = f"ministry/{ref}"
    return Party(label, "m1", key, _client(platform, http, label, "m1", key), caller.id)


def attestation(platform: Platform, score: int = 95, at: datetime | None = None) -> dict[str, object]:
    return {
        "method": "face",
        "provider": "sandbox-face",
        "reference": f"ref-{next(_seeds)}",
        "score": score,
        "checkedAt": (at or platform.clock.now()).isoformat(),
    }


def issue_request(platform: Platform, record: HolderRecord, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "aab301": record.aab301,
        "aac002": record.aac002,
        "aac003": record.aac003,
        "aaz500": record.aaz500,
        "attestation": attestation(platform),
    }
    body.update(changes)
    return body


_institution_codes = itertools.count(100001)
_terminal_numbers = itertools.count(44000000001)


@dataclass
class TerminalParty(Party):
    """A registered terminal of an institution; its client talks in a MAC session once one is open."""

    terminal_no: str = ""
    institution_code: str = ""


def institution(owner: Party, kind: str = "hospital", province: str = "44", name: str | None = None) -> str:
    """Register an institution through the province's API; returns its code."""
    code = f"INST{next(_institution_codes)}"
    owner.client.post(
        f"/v1/provinces/{province}/institutions",
        {"code": code, "name": name or f"{kind} {code}", "kind": kind},
    )
    return code


def terminal(
    platform: Platform,
    http: TestClient,
    owner: Party,
    institution_code: str,
    grants: dict[str, str],
    province: str = "44",
    session: bool = True,
    kind: str = "counter",
) -> TerminalParty:
    """Register a terminal with grants {busiType: disclosure} through the province's API."""
    key = platform.suite.generate_private_key()
    number = f"T{next(_terminal_numbers)}"
    owner.client.post(
        f"/v1/provinces/{province}/institutions/{institution_code}/terminals",
        {
            "terminalNo": number,
            "deviceSerial": f"SN-{number}",
            "kind": kind,
            "publicKey": key.public_key().to_pem().decode("ascii"),
            "keyId": "t1",
            "grants": [{"busiType": b, "disclosure": d} for b, d in grants.items()],
        },
    )
    label = f"terminal/{number}"
    client = _client(platform, http, label, "t1", key)
    if session:
        client.open_session()
    with operator_uow(platform) as uow:
        caller = access_repository.caller_by_ref(uow.session, "terminal", number)
        assert caller is not None
    return TerminalParty(label, "t1", key, client, caller.id, number, institution_code)


def issued_sign_no(platform: Platform, app: Party, record: HolderRecord) -> str:
    """Load nothing; issue the holder's e-card in the channel and return its signNo."""
    issued = app.client.post("/v1/ecards/issuance", issue_request(platform, record))
    return str(issued["signNo"])


_event_ids = itertools.count(1)


def card_event(
    platform: Platform, owner: Party, aaz500: str, kind: str, province: str = "44"
) -> dict[str, object]:
    """Send one card event as the province's card system and return the platform's answer."""
    answer: dict[str, object] = owner.client.post(
        f"/v1/provinces/{province}/card-events",
        {
            "eventId": f"event-{next(_event_ids)}",
            "aaz500": aaz500,
            "type": kind,
            "occurredAt": platform.clock.now().isoformat(),
        },
    )
    return answer


def busi_seq(platform: Platform, app: Party, sign_no: str, purpose: str) -> str:
    """A busiSeq for purpose after a (sandbox) face check in the channel."""
    body = {"purpose": purpose, "method": "face", "attestation": attestation(platform)}
    return str(app.client.post(f"/v1/ecards/{sign_no}/busi-seqs", body)["busiSeq"])


@contextmanager
def sent_statements(platform: Platform) -> Iterator[list[str]]:
    """The statements the platform's engines send inside the block (not SQLite's BEGIN).

    Requests run on their event loop's engine and jobs on the blocking one, so every engine is listened to.
    Hot statements on PostgreSQL go to the driver's own cursor, below the engine's events: they are recorded
    as they are handed to it.
    """
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if not statement.startswith("BEGIN"):
            sent.append(statement)

    original = HotStatement.execute

    def recording(self: HotStatement, session: Session, params: Any) -> HotResult:
        if session.get_bind().dialect.name == "postgresql":
            sent.append(str(self.statement.compile(dialect=session.get_bind().dialect)))
        return original(self, session, params)

    event.listen(Engine, "before_cursor_execute", record)
    HotStatement.execute = recording  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        HotStatement.execute = original  # type: ignore[method-assign]
        event.remove(Engine, "before_cursor_execute", record)


def drop_redis_keys(url: str, prefix: str) -> None:
    """Delete the Redis keys under one test's own prefix, and no other (the server is shared)."""
    client = redis.Redis.from_url(url)
    try:
        names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if names:
            client.delete(*names)
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(platform: Platform, port: int | None = None) -> Iterator[str]:
    """The platform served by uvicorn in a thread of this process, over the test database; yields its URL."""
    port = port or free_port()
    server = uvicorn.Server(
        # lifespan on: at shutdown the app closes its event loop's engine, so no database connection outlives
        # the server (PostgreSQL's connection slots are shared by every test process).
        uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def credential_device_signer(platform: Platform, key: PrivateKey) -> sdjwt.JwsSigner:
    """A holder's device signing key binding JWTs with its key of the platform's suite (SM2 or ES256)."""
    return sdjwt.suite_signer(
        platform.suite.name, "device", lambda message: platform.suite.sign(key, message)
    )


# -- bulk import and daily feeds (tests/cardholders/test_bulk_*.py) -----------------------------------------


def read_clear_holder(platform: Platform, aac002: str) -> ClearHolder:
    """A loaded holder's clear fields and card, found by ID number (for asserting what an import wrote)."""
    from essc.cardholders import repository as holders
    from essc.cardholders.service import aac002_index, read_clear_person

    with operator_uow(platform) as uow:
        person = holders.person_by_index(uow.session, aac002_index(platform, aac002))
        assert person is not None, "no such holder"
        clear = read_clear_person(uow, person, "test")
        cards = holders.cards_of_person(uow.session, person.province, person.id)
        return ClearHolder(
            clear.aac002,
            clear.aac003,
            clear.aac067,
            {card.aaz500: (card.status, card.bank_account_active) for card in cards},
        )


@dataclass(frozen=True)
class ClearHolder:
    """What the platform holds of one person, decrypted: ID number, name, phone and cards by aaz500."""

    aac002: str
    aac003: str
    aac067: str | None
    cards: dict[str, tuple[str, bool]]


# Eligibility certification (线上待遇资格认证)


def due_record(platform: Platform, record: HolderRecord, **changes: object) -> dict[str, object]:
    """A due item of the holder, open since yesterday and due in 30 days, as a province names it."""
    now = platform.clock.now()
    body: dict[str, object] = {
        "ref": f"due-{next(_seeds)}",
        "aaz500": record.aaz500,
        "benefitType": "basic_pension",
        "opensAt": (now - timedelta(days=1)).isoformat(),
        "dueAt": (now + timedelta(days=30)).isoformat(),
    }
    body.update(changes)
    return body


def load_due(owner: Party, period: int, *items: dict[str, object], province: str = "44") -> dict[str, Any]:
    """Load due items through the province's endpoint; returns the platform's answer."""
    answer: dict[str, Any] = owner.client.post(
        f"/v1/provinces/{province}/eligibility/due-items", {"period": period, "items": list(items)}
    )
    return answer


def certification(
    platform: Platform, app: Party, sign_no: str, due_item_id: str, **changes: object
) -> dict[str, object]:
    """A certification request by the signNo's holder: a fresh face check, a busiSeq for eligibility."""
    body: dict[str, object] = {
        "dueItemId": due_item_id,
        "busiSeq": busi_seq(platform, app, sign_no, "eligibility"),
        "attestation": attestation(platform),
    }
    body.update(changes)
    return body


@dataclass
class EligibilityScene:
    """A holder with an e-card in a channel, their province's system, and one due item of `period`."""

    app: Party
    owner: Party
    record: HolderRecord
    sign_no: str
    item_id: str
    http: TestClient


def eligibility_scene(
    platform: Platform, period: int = 2027, provinces: Iterable[str] = ("44",), **due_changes: object
) -> EligibilityScene:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http, provinces=provinces)
    owner = province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    answer = load_due(owner, period, due_record(platform, record, **due_changes))
    assert answer["loaded"] == 1, answer
    items = app.client.get(f"/v1/eligibility/{sign_no}/due-items")["items"]
    return EligibilityScene(app, owner, record, sign_no, items[0]["dueItemId"], http)


def another_holder(
    platform: Platform, scene: EligibilityScene, period: int = 2027, **due_changes: object
) -> EligibilityScene:
    """A second holder in the scene's channel and province, with one due item of `period`."""
    record = holder()
    load(platform, record)
    sign_no = issued_sign_no(platform, scene.app, record)
    assert load_due(scene.owner, period, due_record(platform, record, **due_changes))["loaded"] == 1
    items = scene.app.client.get(f"/v1/eligibility/{sign_no}/due-items")["items"]
    return replace(scene, record=record, sign_no=sign_no, item_id=items[0]["dueItemId"])


def certify(platform: Platform, scene: EligibilityScene) -> dict[str, Any]:
    """The scene's holder certifies its due item; returns the certification."""
    made: dict[str, Any] = scene.app.client.post(
        f"/v1/eligibility/{scene.sign_no}/certifications",
        certification(platform, scene.app, scene.sign_no, scene.item_id),
    )
    return made


# -- the OpenID provider (essc.oidc) ------------------------------------------------------------------------

_rp_numbers = itertools.count(1)
RP_REDIRECT = "https://rp.test/callback"
KIOSK_PASSWORD = "385916"


@dataclass
class RelyingPartyClient:
    """A registered relying party with its private keys: signing (private_key_jwt) and encryption (JWE)."""

    client_id: str
    signing: Any  # joserfc ECKey (P-256) or kit.jose.Sm2Key
    encryption: Any  # joserfc ECKey (P-256)


def relying_party(
    platform: Platform,
    *,
    province: str = "00",
    id_token_alg: str = "ES256",
    scopes: tuple[str, ...] = ("openid", "profile", "region"),
    clear_id_number: bool = False,
    backchannel_logout_uri: str | None = None,
    redirect_uris: tuple[str, ...] = (RP_REDIRECT,),
    sm2_client_key: bool = False,
) -> RelyingPartyClient:
    """Register a relying party through the registry's service, as a province or the ministry would."""
    from joserfc.jwk import ECKey

    from essc.kit.crypto import openssl_sm2
    from essc.kit.jose import Sm2Key
    from essc.oidc import service as oidc
    from essc.oidc.schemas import RelyingPartyIn

    number = next(_rp_numbers)
    signing: Any = (
        Sm2Key.of(openssl_sm2.generate_private_key(), kid=f"sig{number}")
        if sm2_client_key
        else ECKey.generate_key("P-256", parameters={"kid": f"sig{number}"})
    )
    encryption = ECKey.generate_key("P-256", parameters={"kid": f"enc{number}", "use": "enc"})
    keys = [signing.as_dict(private=False), encryption.as_dict(private=False)]
    body = RelyingPartyIn.model_validate(
        {
            "clientId": f"rp-{number}-{province}",
            "name": f"Relying party {number}",
            "redirectUris": list(redirect_uris),
            "jwks": {"keys": keys},
            "idTokenAlg": id_token_alg,
            "scopes": list(scopes),
            "clearIdNumber": clear_id_number,
            "backchannelLogoutUri": backchannel_logout_uri,
        }
    )
    with operator_uow(platform) as uow:
        out = oidc.register(uow, body, province, "operator/tests")
        uow.commit()
    return RelyingPartyClient(out.client_id, signing, encryption)


def kiosk_holder(
    platform: Platform, http: TestClient, record: HolderRecord | None = None, password: str = KIOSK_PASSWORD
) -> tuple[str, HolderRecord]:
    """A loaded holder with an e-card and its password, and the province enabling login; their esscNo."""
    from sqlalchemy import select

    from essc.ecards.models import Ecard, Issuance

    record = record or holder()
    load(platform, record)
    app = channel(platform, http, provinces=(record.aab301[:2],))
    sign_no = issued_sign_no(platform, app, record)
    app.client.put(f"/v1/ecards/{sign_no}/password", {"password": password})
    with operator_uow(platform) as uow:
        issuance = uow.session.execute(select(Issuance).where(Issuance.sign_no == sign_no)).scalar_one()
        ecard = uow.session.get(Ecard, (issuance.province, issuance.ecard_id))
        assert ecard is not None
        return ecard.essc_no, record


# -- issue 13: the OpenID provider's login methods (scan-to-login, app-to-app, third-generation card) --


@dataclass
class LoginHolder:
    """A holder whose e-card is active in a channel authorised for login, with its e-card password set."""

    record: HolderRecord
    app: Party
    sign_no: str
    essc_no: str


def login_holder(
    platform: Platform,
    http: TestClient,
    record: HolderRecord | None = None,
    functions: Iterable[Function] = tuple(Function),
) -> LoginHolder:
    """A loaded holder with an e-card in a channel of `functions` and a password; login enabled."""
    from sqlalchemy import select

    from essc.ecards.models import Ecard, Issuance

    record = record or holder()
    load(platform, record)
    app = channel(platform, http, functions=functions, provinces=(record.aab301[:2],))
    sign_no = issued_sign_no(platform, app, record)
    app.client.put(f"/v1/ecards/{sign_no}/password", {"password": KIOSK_PASSWORD})
    with operator_uow(platform) as uow:
        issuance = uow.session.execute(select(Issuance).where(Issuance.sign_no == sign_no)).scalar_one()
        ecard = uow.session.get(Ecard, (issuance.province, issuance.ecard_id))
        assert ecard is not None
        return LoginHolder(record, app, sign_no, ecard.essc_no)


def chip_of(platform: Platform, http: TestClient, record: HolderRecord) -> Any:
    """The sandbox chip of a third-generation card, its key loaded by the card's province."""
    from essc.chips.sandbox import SandboxCardChip

    assert record.generation == 3
    chip = SandboxCardChip(record.aaz500, record.aaz501)
    owner = province(platform, http, record.aab301[:2])
    owner.client.put(
        f"/v1/provinces/{record.aab301[:2]}/cards/{record.aaz500}/chip-key",
        {"publicKey": chip.public_key_pem()},
    )
    return chip


def authenticated_as(party: Party) -> AuthenticatedCaller:
    """The caller a party's signed request (not in a session) authenticates as, for calling services."""
    kind, ref = party.label.split("/", 1)
    return AuthenticatedCaller(
        caller_id=party.caller_id,
        kind=kind,
        ref=ref,
        key_id=party.key_id,
        nonce=new_id(),
        signature="",
        body_digest="",
    )
