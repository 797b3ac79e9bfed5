""" "Who used my card" answers carry each use's leaf and inclusion proof; the SDK checks them."""

from __future__ import annotations

import base64

import pytest

from essc.audit import service as audit_service
from essc.core.platform import Platform
from essc.kit.keystore import KeyPurpose
from essc_sdk import InvalidNote, InvalidProof, verify_usage
from factories import app_client, channel, holder, institution, issued_sign_no, load, province, terminal


def _history_with_two_uses(platform: Platform, *, sequenced: bool = True) -> dict[str, object]:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app, owner = channel(platform, http), province(platform, http)
    sign_no = issued_sign_no(platform, app, record)
    device = terminal(
        platform, http, owner, institution(owner, "hrss_centre"), {"01": "masked", "03": "masked"}
    )
    for busi_type in ("01", "03"):
        code = app.client.post(f"/v1/ecards/{sign_no}/qr-codes", {"images": []})["code"]
        device.client.post("/v1/qr/resolutions", {"code": code, "busiType": busi_type})
    if sequenced:
        audit_service.sequence_all(platform)
    history: dict[str, object] = app.client.get(f"/v1/ecards/{sign_no}/usages")
    return history


def test_each_use_is_proven_in_the_signed_checkpoint_of_its_province(platform: Platform) -> None:
    history = _history_with_two_uses(platform)
    usages = history["usages"]
    assert isinstance(usages, list)
    assert len(usages) == 2
    log_key = platform.keys.signer(KeyPurpose.AUDIT_LOG).public_key()
    sizes = {verify_usage(history, usage, log_key=log_key, suite=platform.suite).size for usage in usages}
    assert len(sizes) == 1
    assert {usage["audit"]["log"] for usage in usages} == {"44"}
    assert len({usage["audit"]["leafIndex"] for usage in usages}) == 2


def test_a_use_shown_with_another_uses_leaf_or_a_changed_proof_fails(platform: Platform) -> None:
    history = _history_with_two_uses(platform)
    first, second = history["usages"]  # type: ignore[misc]
    log_key = platform.keys.signer(KeyPurpose.AUDIT_LOG).public_key()
    swapped = {**first, "audit": second["audit"]}
    with pytest.raises(InvalidProof, match="another use"):
        verify_usage(history, swapped, log_key=log_key, suite=platform.suite)
    proof = [base64.b64encode(bytes(32)).decode(), *first["audit"]["proof"][1:]]
    with pytest.raises(InvalidProof):
        verify_usage(
            history,
            {**first, "audit": {**first["audit"], "proof": proof}},
            log_key=log_key,
            suite=platform.suite,
        )
    stranger = platform.suite.generate_private_key().public_key()
    with pytest.raises(InvalidNote):
        verify_usage(history, first, log_key=stranger, suite=platform.suite)


def test_a_use_not_yet_sequenced_has_no_proof_yet(platform: Platform) -> None:
    history = _history_with_two_uses(platform, sequenced=False)
    usages = history["usages"]
    assert isinstance(usages, list)
    assert [usage.get("audit") for usage in usages] == [None, None]
    with pytest.raises(InvalidProof, match="not sequenced"):
        verify_usage(
            history,
            usages[0],
            log_key=platform.keys.signer(KeyPurpose.AUDIT_LOG).public_key(),
            suite=platform.suite,
        )
