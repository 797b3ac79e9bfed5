"""Rules of electronic service credentials: issue one to a confirmed holder, publish and flip its status."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Final

from essc.cardholders.lifecycle import CardStatus
from essc.cardholders.models import Card
from essc.cardholders.service import read_clear_person
from essc.channels.models import Channel
from essc.core.conflicts import ConcurrentWrite
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.credentials import repository
from essc.credentials.errors import StatusListNotFound
from essc.credentials.models import CredentialStatus
from essc.credentials.schemas import CredentialOut, CredentialRequest, IssuerMetadata, StatusReference
from essc.ecards.schemas import Purpose
from essc.ecards.service import authorise_sign_no, consume_busi_seq, ensure_usable
from essc.kit import sdjwt
from essc.kit.ids import new_id
from essc.kit.keystore import KeyPurpose

VCT: Final = "urn:essc:vct:ecard-identity:1"
CREDENTIAL_LIFETIME: Final = timedelta(days=30)
# How long a terminal may keep using a status list token offline (exp); it should refetch after ttl.
STATUS_LIST_LIFETIME: Final = timedelta(hours=24)
LIST_SIZE = 1 << 20  # entries of a new status list (2 bits each: 256 KiB before compression)
LIST_BITS: Final = 2
# Consecutive draws of a taken index after which an issuance opens the next list: at a fill f the chance is
# f**8, so a list is replaced around a quarter full, without anyone counting its credentials.
COLLISIONS_BEFORE_NEW_LIST: Final = 8
MAX_DRAWS: Final = 16

_CARD_TO_CREDENTIAL: Final = {
    CardStatus.NORMAL: CredentialStatus.VALID,
    CardStatus.TEMP_LOST: CredentialStatus.SUSPENDED,
    CardStatus.LOST: CredentialStatus.SUSPENDED,
    CardStatus.LOCKED: CredentialStatus.SUSPENDED,
    CardStatus.CANCELLED: CredentialStatus.INVALID,
}
_LISTED: Final = {
    CredentialStatus.VALID: sdjwt.Status.VALID,
    CredentialStatus.SUSPENDED: sdjwt.Status.SUSPENDED,
    CredentialStatus.INVALID: sdjwt.Status.INVALID,
}


def signer(platform: Platform) -> sdjwt.Es256Signer:
    """The platform's current credential key as a JWS signer (ES256; an SM2 signer fits the interface)."""
    key = platform.keys.signer(KeyPurpose.CREDENTIAL_SIGNING)
    return sdjwt.Es256Signer(key.key_id, key.sign)


def issuer(platform: Platform) -> str:
    """The credentials' iss: the platform's public URL (its keys at /.well-known/jwt-vc-issuer)."""
    return platform.settings.public_url.rstrip("/")


def status_list_uri(platform: Platform, province: str, list_no: int) -> str:
    return f"{issuer(platform)}/v1/credentials/status-lists/{province}/{list_no}"


def issue(uow: UnitOfWork, channel: Channel, sign_no: str, request: CredentialRequest) -> CredentialOut:
    """A credential of the holder's e-card identity, once the holder confirmed it (busiSeq: credential)."""
    issuance, ecard, person, card = authorise_sign_no(uow, channel, sign_no)
    ensure_usable(issuance, card)
    consume_busi_seq(uow, request.busi_seq, ecard, channel, Purpose.CREDENTIAL)
    platform, now = uow.platform, uow.clock.now()
    issued_at = now.replace(microsecond=0)
    expires_at = issued_at + CREDENTIAL_LIFETIME
    device = repository.live_device(uow.session, ecard.province, issuance.id, now)
    credential_id = new_id()
    list_no, index = _draw_index(
        uow,
        {
            "province": ecard.province,
            "id": credential_id,
            "ecard_id": ecard.id,
            "issuance_id": issuance.id,
            "card_id": card.id,
            "channel_id": channel.id,
            "device_serial": device.serial if device is not None else None,
            "status": CredentialStatus.VALID.value,
            "issued_at": issued_at,
            "expires_at": expires_at,
            "status_changed_at": None,
        },
    )
    uri = status_list_uri(platform, ecard.province, list_no)
    claims: dict[str, object] = {
        "iss": issuer(platform),
        "vct": VCT,
        "iat": int(issued_at.timestamp()),
        "exp": int(expires_at.timestamp()),
        "status": {"status_list": {"idx": index, "uri": uri}},
    }
    if device is not None:
        claims["cnf"] = {"jwk": sdjwt.device_jwk(device.device_public_key, platform.suite.name)}
    disclosable: dict[str, object] = {
        "maskedName": person.aac003_masked,
        "maskedIdNumber": person.aac002_masked,
        "aab301": card.aab301,
        "cardStatus": card.status,
    }
    if request.clear_claims:
        clear = read_clear_person(uow, person, purpose="credential")
        disclosable |= {name: getattr(clear, name) for name in sorted(set(request.clear_claims))}
    issued = sdjwt.issue(signer(platform), claims, disclosable, decoys=2)
    uow.audit(
        "credential.issued",
        "issuance",
        issuance.id,
        ecard.province,
        credential=credential_id,
        channel=channel.channel_no,
        status_list=list_no,
        clear_claims=sorted(set(request.clear_claims)),
        key_bound=device is not None,
    )
    personal = {
        name: issued.disclosures.pop(name) for name in ("aac002", "aac003") if name in issued.disclosures
    }
    return CredentialOut(
        credential_id=credential_id,
        credential=issued.combined(),
        key_bound=device is not None,
        device_serial=device.serial.hex() if device is not None else None,
        status=StatusReference(uri=uri, idx=index),
        expires_at=expires_at,
        **personal,
    )


def _draw_index(uow: UnitOfWork, row: dict[str, object]) -> tuple[int, int]:
    """Insert the credential at a random free index of the province's newest list; (list, index).

    No row is shared by every issuance of a province: the list row is only read, and two issuances clash only
    when they draw the same index (they draw again). A run of clashes says the list is filling up, so the
    issuance opens the next one (concurrent openers insert the same row once).
    """
    province = str(row["province"])
    current = repository.newest_list(uow.session, province)
    collisions = 0
    for _ in range(MAX_DRAWS):
        if current is None or collisions >= COLLISIONS_BEFORE_NEW_LIST:
            list_no = 1 if current is None else current.list_no + 1
            repository.open_list(
                uow.session,
                {
                    "province": province,
                    "list_no": list_no,
                    "size": LIST_SIZE,
                    "bits": LIST_BITS,
                    "created_at": uow.clock.now(),
                },
            )
            current = repository.status_list(uow.session, province, list_no)
            assert current is not None
            collisions = 0
            uow.audit("credential.status_list_opened", "status_list", str(list_no), province, size=LIST_SIZE)
        index = secrets.randbelow(current.size)
        if repository.add_unless_index_taken(uow.session, row | {"list_no": current.list_no, "idx": index}):
            return current.list_no, index
        collisions += 1
    raise ConcurrentWrite("no free status list index was found; send the request again")


def status_list_token(uow: UnitOfWork, province: str, list_no: int) -> tuple[str, int]:
    """The signed status list token of a list and its ttl (seconds a reader may cache it)."""
    listed = repository.status_list(uow.session, province, list_no)
    if listed is None:
        raise StatusListNotFound(f"province {province} has no credential status list {list_no}")
    platform = uow.platform
    # As of a whole second, so every token issued within one second has the same content.
    issued_at = int(uow.clock.now().timestamp())
    statuses = repository.listed_statuses(
        uow.session, province, list_no, datetime.fromtimestamp(issued_at, UTC)
    )
    ttl = platform.settings.status_list_interval_seconds
    token = sdjwt.StatusListToken.sign(
        signer(platform),
        status_list_uri(platform, province, list_no),
        {index: _LISTED[CredentialStatus(status)] for index, status in statuses.items()},
        size=listed.size,
        bits=listed.bits,
        issued_at=issued_at,
        expires_at=issued_at + int(STATUS_LIST_LIFETIME.total_seconds()),
        ttl=ttl,
    )
    return token, ttl


def issuer_metadata(platform: Platform) -> IssuerMetadata:
    """The issuer and every credential key still to be accepted, as a JWKS."""
    keys = platform.keys.public_keys(KeyPurpose.CREDENTIAL_SIGNING)
    return IssuerMetadata(
        issuer=issuer(platform),
        jwks={
            "keys": [sdjwt.jwk_of(key, kid) | {"alg": sdjwt.ES256, "use": "sig"} for kid, key in keys.items()]
        },
    )


def follow_card(uow: UnitOfWork, card: Card) -> None:
    """The credentials of a card follow its status: suspended while lost or locked, invalid once cancelled."""
    status = _CARD_TO_CREDENTIAL[CardStatus(card.status)]
    moved = repository.set_status_of_card(uow.session, card.province, card.id, status, uow.clock.now())
    if moved:
        uow.audit(
            "credential.status_changed", "card", card.id, card.province, status=status.value, count=moved
        )


def stop_issuance(uow: UnitOfWork, province: str, issuance_id: str) -> None:
    """An e-card unlinked from a channel: the credentials issued through that channel are invalid."""
    moved = repository.invalidate_of_issuance(uow.session, province, issuance_id, uow.clock.now())
    if moved:
        uow.audit(
            "credential.status_changed", "issuance", issuance_id, province, status="invalid", count=moved
        )
