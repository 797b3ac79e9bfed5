"""The reference channel passes both plans; each deliberately broken channel fails exactly its own cases."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from essc.core.platform import Platform
from essc_conformance import report
from essc_conformance.reference import Faults
from essc_conformance.sandbox import PRODUCTION_KEY_ID, SANDBOX_KEY_ID, run_in_process


def test_reference_channel_passes_both_plans_and_gets_a_signed_report(platform: Platform) -> None:
    run = run_in_process(platform)
    document = report.verify(run.report, platform.suite, platform.keys.public_keys())

    failed = {c["id"]: c["detail"] for c in document["cases"] if not c["passed"]}
    assert failed == {}
    ids = {c["id"] for c in document["cases"]}
    assert {
        "functional.issuance",
        "functional.password-set",
        "functional.password-verify",
        "functional.busi-seq",
        "functional.retry",
        "functional.lost-answer",
        "functional.level2",
        "functional.qr-code",
        "functional.unlink",
        "functional.webhook.unlinked",
        "functional.webhook.replaced",
        "functional.webhook.cancelled",
        "security.response-signature",
        "security.personal-fields",
        "security.nonces",
        "security.idempotency-keys",
        "security.webhook.genuine",
        "security.webhook.bad-signature",
        "security.webhook.old-timestamp",
        "security.webhook.replayed-nonce",
        "security.webhook.unknown-key",
        "security.webhook.other-receiver",
    } <= ids
    assert document["passed"] is True
    assert document["functionsPassed"] == ["issuance", "payment", "qr"]
    assert document["signedWith"] == [SANDBOX_KEY_ID]
    assert {(k["keyId"], k["environment"], k["fingerprint"]) for k in document["keys"]} == {
        (SANDBOX_KEY_ID, "sandbox", run.keys.sandbox.public_key().fingerprint()),
        (PRODUCTION_KEY_ID, "production", run.keys.production.public_key().fingerprint()),
    }
    finished = datetime.fromisoformat(document["finishedAt"])
    assert datetime.fromisoformat(document["expiresAt"]) == finished + timedelta(days=180)
    # Every request the channel sent went through the proxy, none of them with a personal field in clear.
    assert any(e.path == "/v1/ecards/issuance" for e in run.proxy.exchanges)


BROKEN = [
    (
        Faults(accept_forged_webhooks=True),
        {
            "security.webhook.bad-signature": "accepted a webhook whose body was changed after",
            "security.webhook.old-timestamp": "accepted a genuinely signed webhook with a timestamp 15",
            "security.webhook.unknown-key": "accepted a webhook signed by a key the platform does not have",
            "security.webhook.replayed-nonce": "accepted the first genuine delivery sent again byte for byte",
            "security.webhook.other-receiver": "accepted a webhook genuinely signed by the platform, but for",
        },
    ),
    (
        Faults(clear_personal_field=True),
        {"security.personal-fields": "carried personal field(s) aac003 in its query"},
    ),
    (
        Faults(reuse_nonce=True),
        {
            "security.nonces": "was sent again with POST /v1/ecards/",
            # the platform saw the lost answer's nonce: the retry that reuses it is refused
            "functional.lost-answer": "the retry after the lost answer was answered 401",
        },
    ),
    (
        Faults(ignore_response_signature=True),
        {"security.response-signature": "accepted an answer whose platform signature does not verify"},
    ),
    (
        Faults(new_idempotency_key_on_retry=True),
        {
            "security.idempotency-keys": "after an injected 503 carried Idempotency-Key",
            "functional.lost-answer": "as a new request, not as the replay of the first",
        },
    ),
]


# The faults are the channel's own, so one backend shows them all.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("faults", "expected"), BROKEN, ids=lambda v: "" if isinstance(v, dict) else "-")
def test_a_broken_channel_fails_exactly_its_cases_with_a_precise_detail(
    platform: Platform, faults: Faults, expected: dict[str, str]
) -> None:
    document = run_in_process(platform, faults=faults).report

    failed = {c["id"]: c["detail"] for c in document["cases"] if not c["passed"]}
    assert set(failed) == set(expected), failed
    for case_id, words in expected.items():
        assert words in failed[case_id]
        assert "expected" in failed[case_id]
    assert document["passed"] is False
    assert document["functionsPassed"] == []  # a failed security case certifies nothing
    assert document["summary"]["failed"] == list(failed)
