"""The reference relying party passes its plan; each deliberately broken one fails its check, by name."""

from __future__ import annotations

import pytest

from essc.core.platform import Platform
from essc_conformance import report
from essc_conformance.rp_reference import RpFaults
from essc_conformance.sandbox import run_relying_party_in_process

CASES = {
    "relying-party.setup",
    "relying-party.login",
    "relying-party.par",
    "relying-party.pkce",
    "relying-party.client-auth",
    "relying-party.refresh-rotation",
    "relying-party.id-token.signature",
    "relying-party.id-token.issuer",
    "relying-party.id-token.audience",
    "relying-party.id-token.expired",
    "relying-party.id-token.nonce",
    "relying-party.logout.bad-signature",
    "relying-party.logout.other-audience",
    "relying-party.logout.not-a-logout-token",
    "relying-party.logout.genuine",
}


def test_the_reference_relying_party_passes_its_plan_and_gets_a_signed_report(platform: Platform) -> None:
    run = run_relying_party_in_process(platform)
    document = report.verify(run.report, platform.suite, platform.keys.public_keys())

    failed = {c["id"]: c["detail"] for c in document["cases"] if not c["passed"]}
    assert failed == {}
    assert {c["id"] for c in document["cases"]} == CASES
    assert document["passed"] is True
    assert document["clientId"] == run.relying_party.client_id
    assert document["functionsPassed"] == ["login"]
    assert document["keyThumbprints"] == [run.relying_party.signing_key.thumbprint()]
    # The relying party's own requests went through the proxy: discovery, JWKS, PAR and tokens.
    paths = {e.path for e in run.proxy.exchanges}
    assert {"/.well-known/openid-configuration", "/oidc/jwks", "/oidc/par", "/oidc/token"} <= paths


BROKEN = [
    (
        RpFaults(parameters_in_authorization_url=True),
        {"relying-party.par": "the authorization URL carried code_challenge, code_challenge_method, nonce"},
    ),
    (
        RpFaults(fixed_pkce_verifier=True),
        {"relying-party.pkce": "pushed the code_challenge of POST /oidc/par (during relying-party.login)"},
    ),
    (
        RpFaults(skip_signature_check=True),
        # One validation for ID and logout tokens: skipping a check there lets both kinds through.
        {
            "relying-party.id-token.signature": "accepted an ID token whose signature does not verify",
            "relying-party.logout.bad-signature": "accepted a logout token whose signature does not verify",
        },
    ),
    (
        RpFaults(skip_issuer_check=True),
        {"relying-party.id-token.issuer": "accepted an ID token of another issuer"},
    ),
    (
        RpFaults(skip_audience_check=True),
        {
            "relying-party.id-token.audience": "accepted an ID token for another relying party",
            "relying-party.logout.other-audience": "accepted a logout token for another relying party",
        },
    ),
    (
        RpFaults(skip_expiry_check=True),
        {"relying-party.id-token.expired": "accepted an ID token that expired an hour ago"},
    ),
    (
        RpFaults(skip_nonce_check=True),
        {"relying-party.id-token.nonce": "accepted an ID token replaying the nonce of an earlier login"},
    ),
    (
        RpFaults(accept_any_logout_token=True),
        {
            "relying-party.logout.bad-signature": "accepted a logout token whose signature does not verify",
            "relying-party.logout.other-audience": "accepted a logout token for another relying party",
            "relying-party.logout.not-a-logout-token": "accepted a token of the provider without the back",
        },
    ),
    (
        RpFaults(keep_session_on_logout=True),
        {"relying-party.logout.genuine": "expected every session of the holder ended"},
    ),
    (
        RpFaults(no_refresh_rotation=True),
        {"relying-party.refresh-rotation": "presented the refresh token of POST /oidc/token"},
    ),
]


# The faults are the relying party's own, so one backend shows them all.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("faults", "expected"), BROKEN, ids=lambda v: "" if isinstance(v, dict) else "-")
def test_a_broken_relying_party_fails_exactly_its_checks_with_a_precise_detail(
    platform: Platform, faults: RpFaults, expected: dict[str, str]
) -> None:
    document = run_relying_party_in_process(platform, faults=faults).report

    failed = {c["id"]: c["detail"] for c in document["cases"] if not c["passed"]}
    assert set(failed) == set(expected), failed
    for case_id, words in expected.items():
        assert words in failed[case_id]
        assert "expected" in failed[case_id]
    assert document["passed"] is False
    assert document["functionsPassed"] == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_relying_party_reusing_its_assertion_jti_fails_client_authentication(platform: Platform) -> None:
    document = run_relying_party_in_process(platform, faults=RpFaults(reused_assertion_jti=True)).report

    failed = {c["id"]: c["detail"] for c in document["cases"] if not c["passed"]}
    # The provider refuses the replayed assertion, so the logins after the first fail too.
    assert "relying-party.client-auth" in failed
    assert (
        "sent the client assertion jti 'fixed-jti' of POST /oidc/par" in failed["relying-party.client-auth"]
    )
    assert "expected a fresh jti" in failed["relying-party.client-auth"]
