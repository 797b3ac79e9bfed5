"""essc.kit.sdjwt: each refusal by name, selective disclosure, key binding, status lists, the peer's view.

The peer is the reference SD-JWT implementation (the `sd-jwt` package, on jwcrypto): it verifies what we
issue and we verify what it issues, key binding included.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from essc.kit import sdjwt
from essc.kit.crypto.base import PrivateKey, PublicKey
from essc.kit.crypto.intl import IntlSuite
from essc.kit.crypto.sm import SmSuite
from essc.kit.errors import EsscError

P256, SM = IntlSuite(), SmSuite()
ISSUER_KEY = P256.generate_private_key()
DEVICE_KEY = P256.generate_private_key()
KID, ISS, VCT, URI = (
    "cs-test",
    "https://essc.test",
    "urn:essc:vct:ecard-identity:1",
    "https://essc.test/sl/44/1",
)
NOW = 1_767_225_600
AUD, NONCE = "office/INST1", "nonce-1"
KEYS: dict[str, PublicKey] = {KID: ISSUER_KEY.public_key()}
DISCLOSABLE = {"maskedName": "王*明", "aab301": "440106", "cardStatus": "normal", "aac003": "王小明"}


def _signer(key: PrivateKey = ISSUER_KEY, kid: str = KID) -> sdjwt.Es256Signer:
    return sdjwt.Es256Signer(kid, lambda message: P256.sign(key, message))


def _held(statuses: dict[int, int] | None = None, issued_at: int = NOW) -> dict[str, sdjwt.StatusListToken]:
    token = sdjwt.StatusListToken.sign(
        _signer(),
        URI,
        statuses or {},
        size=64,
        bits=2,
        issued_at=issued_at,
        expires_at=issued_at + 600,
        ttl=60,
    )
    held = sdjwt.StatusListToken.verify(token, KEYS, issued_at)
    return {held.uri: held}


def _claims(**changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISS,
        "vct": VCT,
        "iat": NOW,
        "exp": NOW + 3600,
        "status": {"status_list": {"idx": 5, "uri": URI}},
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _issued(bound: bool = False, signer: sdjwt.JwsSigner | None = None, **changes: Any) -> sdjwt.Issued:
    if bound:
        changes["cnf"] = {"jwk": sdjwt.jwk_of(DEVICE_KEY.public_key())}
    return sdjwt.issue(signer or _signer(), _claims(**changes), DISCLOSABLE, decoys=2)


def _verify(presentation: str, now: int = NOW, **options: Any) -> sdjwt.Verified:
    options.setdefault("status_lists", _held())
    return sdjwt.verify_presentation(presentation, KEYS, now=now, issuer=ISS, vct=VCT, **options)


def _bound(disclose: list[str], *, key: PrivateKey = DEVICE_KEY, iat: int = NOW, **kb: str) -> str:
    device = sdjwt.suite_signer("intl", "device", lambda message: P256.sign(key, message))
    return sdjwt.present(
        _issued(bound=True).combined(),
        disclose,
        device=device,
        nonce=kb.get("nonce", NONCE),
        aud=kb.get("aud", AUD),
        iat=iat,
    )


# -- selective disclosure ---------------------------------------------------------------------------------


def test_only_the_chosen_claims_are_visible() -> None:
    verified = _verify(sdjwt.present(_issued().combined(), ["aab301"]))
    assert verified.disclosed == {"aab301"}
    assert verified.claims["aab301"] == "440106"
    assert not {"aac003", "maskedName", "cardStatus", "_sd"} & set(verified.claims)
    assert verified.claims["iss"] == ISS


def test_nothing_disclosed_still_proves_the_issuer_and_status() -> None:
    verified = _verify(sdjwt.present(_issued().combined(), []))
    assert verified.disclosed == frozenset()
    assert not verified.key_bound


def test_a_tampered_disclosure_is_refused() -> None:
    issued = _issued()
    genuine = issued.disclosures["aab301"]
    forged = sdjwt.make_disclosure("aab301", "110101", salt=sdjwt.parse_disclosure(genuine)[0])
    with pytest.raises(sdjwt.DisclosureInvalid):
        _verify(f"{issued.jwt}~{forged}~")


def test_a_disclosure_given_twice_is_refused() -> None:
    issued = _issued()
    disclosure = issued.disclosures["aab301"]
    with pytest.raises(sdjwt.DisclosureInvalid):
        _verify(f"{issued.jwt}~{disclosure}~{disclosure}~")


def test_a_disclosure_may_not_override_a_clear_claim() -> None:
    with pytest.raises(sdjwt.DisclosureInvalid):
        sdjwt.parse_disclosure(sdjwt.make_disclosure("iss", "https://evil.test"))


# -- the issuer JWT ---------------------------------------------------------------------------------------


def test_an_unknown_kid_is_refused() -> None:
    issued = _issued(signer=_signer(kid="cs-other"))
    with pytest.raises(sdjwt.CredentialIssuerUnknown):
        _verify(issued.combined([]))


def test_a_signature_by_another_key_is_refused() -> None:
    issued = _issued(signer=_signer(key=P256.generate_private_key()))
    with pytest.raises(sdjwt.CredentialSignatureInvalid):
        _verify(issued.combined([]))


def test_a_changed_payload_is_refused() -> None:
    head, _body, signature = _issued().jwt.split(".")
    body = sdjwt.b64url(json.dumps(_claims(exp=NOW + 10**6)).encode())
    with pytest.raises(sdjwt.CredentialSignatureInvalid):
        _verify(f"{head}.{body}.{signature}~")


def test_another_issuer_or_type_is_refused() -> None:
    with pytest.raises(sdjwt.CredentialIssuerUnknown):
        _verify(_issued(iss="https://other.test").combined([]))
    with pytest.raises(sdjwt.CredentialMalformed):
        _verify(_issued(vct="urn:other").combined([]))


def test_times_are_checked() -> None:
    presentation = _issued().combined([])
    with pytest.raises(sdjwt.CredentialExpired):
        _verify(presentation, now=NOW + 3600)
    with pytest.raises(sdjwt.CredentialNotYetValid):
        _verify(presentation, now=NOW - 3600, status_lists=_held(issued_at=NOW - 3600))


# -- key binding ------------------------------------------------------------------------------------------


def test_a_bound_credential_verifies_with_its_device_key() -> None:
    verified = _verify(_bound(["aab301"]), expected_aud=AUD, expected_nonce=NONCE)
    assert verified.key_bound
    assert verified.disclosed == {"aab301"}


def test_a_bound_credential_without_key_binding_is_refused() -> None:
    with pytest.raises(sdjwt.KeyBindingMissing):
        _verify(_issued(bound=True).combined(["aab301"]), expected_aud=AUD, expected_nonce=NONCE)


def test_a_key_binding_by_another_key_is_refused() -> None:
    with pytest.raises(sdjwt.KeyBindingInvalid):
        _verify(_bound([], key=P256.generate_private_key()), expected_aud=AUD, expected_nonce=NONCE)


def test_a_wrong_nonce_or_audience_is_refused() -> None:
    with pytest.raises(sdjwt.KeyBindingMismatch):
        _verify(_bound([], nonce="other"), expected_aud=AUD, expected_nonce=NONCE)
    with pytest.raises(sdjwt.KeyBindingMismatch):
        _verify(_bound([], aud="office/OTHER"), expected_aud=AUD, expected_nonce=NONCE)


def test_a_stale_or_future_key_binding_is_refused() -> None:
    with pytest.raises(sdjwt.KeyBindingStale):
        _verify(_bound([], iat=NOW - sdjwt.KB_MAX_AGE - 1), expected_aud=AUD, expected_nonce=NONCE)
    with pytest.raises(sdjwt.KeyBindingStale):
        _verify(_bound([], iat=NOW + 3600), expected_aud=AUD, expected_nonce=NONCE)


def test_a_key_binding_moved_to_other_disclosures_is_refused() -> None:
    presented = _bound(["aab301"])
    kb = presented.rsplit("~", 1)[1]
    with pytest.raises(sdjwt.KeyBindingMismatch):
        _verify(f"{presented.split('~')[0]}~{kb}", expected_aud=AUD, expected_nonce=NONCE)


def test_an_sm2_device_key_binds_with_the_sm2_algorithm() -> None:
    device = SM.generate_private_key()
    claims = _claims(cnf={"jwk": sdjwt.jwk_of(device.public_key())})
    issued = sdjwt.issue(_signer(), claims, DISCLOSABLE)
    assert claims["cnf"]["jwk"]["crv"] == "SM2"
    signer = sdjwt.suite_signer("sm", "device", lambda message: SM.sign(device, message))
    presented = sdjwt.present(issued.combined(), ["aab301"], device=signer, nonce=NONCE, aud=AUD, iat=NOW)
    assert _verify(presented, expected_aud=AUD, expected_nonce=NONCE).key_bound


# -- status -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "refusal"),
    [(1, sdjwt.CredentialRevoked), (2, sdjwt.CredentialSuspended), (3, sdjwt.CredentialRevoked)],
)
def test_a_listed_status_refuses(value: int, refusal: type[EsscError]) -> None:
    with pytest.raises(refusal):
        _verify(_issued().combined([]), status_lists=_held({5: value}))


def test_a_missing_or_expired_status_list_is_refused() -> None:
    with pytest.raises(sdjwt.StatusListMissing):
        _verify(_issued().combined([]), status_lists={})
    with pytest.raises(sdjwt.StatusListStale):
        _verify(_issued(exp=NOW + 10**5).combined([]), now=NOW + 3600)


def test_a_status_list_signed_by_another_key_is_refused() -> None:
    token = sdjwt.StatusListToken.sign(
        _signer(key=P256.generate_private_key()),
        URI,
        {},
        size=8,
        bits=1,
        issued_at=NOW,
        expires_at=NOW + 1,
        ttl=1,
    )
    with pytest.raises(sdjwt.StatusListTokenInvalid):
        sdjwt.StatusListToken.verify(token, KEYS, NOW)


@given(st.dictionaries(st.integers(0, 255), st.integers(0, 3)), st.sampled_from([2, 8]))
def test_packed_statuses_read_back(statuses: dict[int, int], bits: int) -> None:
    statuses = {index: value % (1 << bits) for index, value in statuses.items()}
    packed = sdjwt.pack_statuses(statuses, 256, bits)
    assert all(sdjwt.status_at(packed, index, bits) == statuses.get(index, 0) for index in range(256))
    assert sdjwt.status_at(packed, 256, bits) is None


# -- the reference implementation -------------------------------------------------------------------------


def _jwk(key: PrivateKey) -> JWK:
    return JWK.from_pem(key.to_pem())


def test_the_reference_verifies_what_we_issue() -> None:
    now = int(time.time())
    issued = sdjwt.issue(
        _signer(),
        _claims(iat=now, exp=now + 60, cnf={"jwk": sdjwt.jwk_of(DEVICE_KEY.public_key())}),
        DISCLOSABLE,
        decoys=3,
    )
    device = sdjwt.Es256Signer("device", lambda message: P256.sign(DEVICE_KEY, message))
    presented = sdjwt.present(
        issued.combined(), ["aab301", "aac003"], device=device, nonce=NONCE, aud=AUD, iat=now
    )
    public = JWK.from_pem(ISSUER_KEY.public_key().to_pem())
    peer = SDJWTVerifier(presented, lambda _iss, _header: public, expected_aud=AUD, expected_nonce=NONCE)
    claims = peer.get_verified_payload()
    assert claims["aab301"] == "440106"
    assert claims["aac003"] == "王小明"
    assert "maskedName" not in claims


def test_we_verify_what_the_reference_issues() -> None:
    now = int(time.time())
    user_claims: dict[Any, Any] = _claims(iat=now, exp=now + 60) | {
        SDObj(n): v for n, v in DISCLOSABLE.items()
    }
    peer = SDJWTIssuer(
        user_claims,
        _jwk(ISSUER_KEY),
        holder_key=_jwk(DEVICE_KEY),
        extra_header_parameters={"typ": sdjwt.TYP, "kid": KID},
        add_decoy_claims=True,
    )
    holder = SDJWTHolder(peer.sd_jwt_issuance)
    holder.create_presentation(
        {"aab301": True}, nonce=NONCE, aud=AUD, holder_key=_jwk(DEVICE_KEY), sign_alg="ES256"
    )
    verified = sdjwt.verify_presentation(
        holder.sd_jwt_presentation,
        KEYS,
        now=now,
        status_lists=_held(issued_at=now),
        expected_aud=AUD,
        expected_nonce=NONCE,
        issuer=ISS,
    )
    assert verified.disclosed == {"aab301"}
    assert verified.key_bound


# -- arbitrary input: only named refusals -----------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        _issued().jwt,
        *_issued().disclosures.values(),
        _bound(["aab301"]).rsplit("~", 1)[1],
        "",
        "~",
        ".",
        "eyJ9",
        "WyJ4IiwiYSJd",
        "W10",
        "bnVsbA",
    ]
)


def _only_named(call: Callable[[], object]) -> None:
    with contextlib.suppress(sdjwt.CredentialRefused):
        call()


@settings(max_examples=300)
@given(st.text(max_size=300))
def test_a_disclosure_of_any_text_is_parsed_or_named(text: str) -> None:
    with contextlib.suppress(sdjwt.DisclosureInvalid):
        sdjwt.parse_disclosure(text)


@settings(max_examples=300)
@given(
    st.one_of(
        st.text(max_size=400), st.lists(st.one_of(_PIECES, st.text(max_size=40)), max_size=8).map("~".join)
    )
)
def test_a_presentation_of_anything_verifies_or_is_named(text: str) -> None:
    _only_named(lambda: _verify(text, expected_aud=AUD, expected_nonce=NONCE))


@settings(max_examples=200)
@given(st.binary(max_size=200).map(lambda data: sdjwt.b64url(data) + "." + sdjwt.b64url(data[::-1]) + ".AA"))
def test_a_status_list_token_of_anything_verifies_or_is_named(token: str) -> None:
    _only_named(lambda: sdjwt.StatusListToken.verify(token, KEYS, NOW))


def test_joserfc_accepts_our_jws_as_standard_es256() -> None:
    issued = _issued(bound=True)
    presented = _bound(["aab301"])
    status_list = sdjwt.StatusListToken.sign(
        _signer(), URI, {1: 1}, size=8, bits=1, issued_at=NOW, expires_at=NOW + 60, ttl=60
    )
    issuer_key = ECKey.import_key(ISSUER_KEY.public_key().to_pem())
    for token in (issued.jwt, status_list):
        assert jws.deserialize_compact(token, issuer_key, algorithms=["ES256"]).headers()["kid"] == KID
    kb = jws.deserialize_compact(
        presented.rsplit("~", 1)[1],
        ECKey.import_key(sdjwt.jwk_of(DEVICE_KEY.public_key())),
        algorithms=["ES256"],
    )
    assert kb.headers()["typ"] == sdjwt.KB_TYP
