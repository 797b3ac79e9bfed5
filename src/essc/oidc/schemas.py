"""Wire types of the relying-party registry and the provider's JSON answers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from essc.kit.schemas import WireModel
from essc.oidc.models import RelyingPartyStatus


class Scope(StrEnum):
    """What a relying party may ask for; openid is required, the rest add claims."""

    OPENID = "openid"  # sub (pairwise), the masked name and the region
    PROFILE = "profile"  # name: the masked name
    REGION = "region"  # region: the holder's card region (GB/T 2260)
    ID_NUMBER = "id_number"  # the clear ID number, sealed (JWE), after the holder's consent


class IdTokenAlg(StrEnum):
    ES256 = "ES256"
    SM2SM3 = "SM2SM3"


class PublicJwk(WireModel):
    """A relying party's public EC key (RFC 7517): P-256, or SM2 (kit.jose); no other members."""

    kty: str = Field(pattern=r"^EC$")
    crv: str = Field(pattern=r"^(P-256|SM2)$")
    x: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    y: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    kid: str = Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")
    use: str | None = Field(default=None, pattern=r"^(sig|enc)$")
    alg: str | None = Field(default=None, pattern=r"^(ES256|SM2SM3|ECDH-ES\+A256KW)$")


class PublicJwks(WireModel):
    """A JWK set of 1-10 public keys."""

    keys: list[PublicJwk] = Field(min_length=1, max_length=10)


class RelyingPartyIn(WireModel):
    client_id: str = Field(alias="clientId", pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    name: str = Field(min_length=1, max_length=128)
    redirect_uris: list[str] = Field(alias="redirectUris", min_length=1, max_length=10)
    jwks: PublicJwks = Field(description="public keys: signing (private_key_jwt), encryption (JWE)")
    id_token_alg: IdTokenAlg = Field(default=IdTokenAlg.ES256, alias="idTokenAlg")
    scopes: list[Scope] = Field(default=[Scope.OPENID, Scope.PROFILE, Scope.REGION])
    clear_id_number: bool = Field(default=False, alias="clearIdNumber")
    backchannel_logout_uri: str | None = Field(default=None, alias="backchannelLogoutUri", max_length=512)
    sector: str | None = Field(default=None, max_length=255, description="default: the redirect URIs' host")


class RelyingPartyOut(WireModel):
    client_id: str = Field(alias="clientId")
    name: str
    province: str
    status: RelyingPartyStatus
    redirect_uris: list[str] = Field(alias="redirectUris")
    id_token_alg: IdTokenAlg = Field(alias="idTokenAlg")
    scopes: list[Scope]
    clear_id_number: bool = Field(alias="clearIdNumber")
    backchannel_logout_uri: str | None = Field(alias="backchannelLogoutUri")
    sector: str
    registered_by: str = Field(alias="registeredBy")
    created_at: datetime = Field(alias="createdAt")


class RelyingPartyStatusChange(WireModel):
    status: RelyingPartyStatus


class PublicRelyingParty(WireModel):
    """A relying party as the public list shows it beside the channel apps."""

    client_id: str = Field(alias="clientId")
    name: str
    province: str


class AppLoginIn(WireModel):
    """A channel app approves a relying party's pushed request for the holder whose e-card it holds."""

    client_id: str = Field(alias="clientId", min_length=1, max_length=64, description="the relying party")
    request_uri: str = Field(
        alias="requestUri",
        min_length=1,
        max_length=256,
        description="the request_uri PAR gave the relying party",
    )
    sign_no: str = Field(alias="signNo", min_length=1, max_length=64)
    busi_seq: str = Field(
        alias="busiSeq",
        min_length=1,
        max_length=128,
        description="purpose login: the holder approved in the app",
    )
    consent_id_number: bool = Field(
        default=False,
        alias="consentIdNumber",
        description="the holder agreed in the app to give the clear ID number (when the relying party asks)",
    )


class AppLoginOut(WireModel):
    redirect_url: str = Field(
        alias="redirectUrl",
        description="the relying party's redirect_uri with code, state and iss, for the relying party app",
    )
