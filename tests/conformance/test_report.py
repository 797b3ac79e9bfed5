"""The signed report: signature, tampering, expiry, key changes, and what it certifies."""

from __future__ import annotations

from datetime import timedelta

import pytest
from conformance_scene import registered_channel, signed_report

from essc.channels import service as channels
from essc.core.platform import Platform
from essc.kit.clock import FrozenClock
from essc.shared.callers import Environment
from essc.shared.policy import Function
from essc_conformance import report
from essc_conformance.report import (
    ReportBeforeKeyChange,
    ReportExpired,
    ReportKeyMismatch,
    ReportMalformed,
    ReportSignatureInvalid,
)
from essc_conformance.service import record_report
from factories import operator_uow


def _certified(platform: Platform, channel_no: str, function: Function) -> bool:
    with operator_uow(platform) as uow:
        channel = channels.by_number(uow, channel_no)
        return channels.has_valid_certification(uow, channel, function, Environment.PRODUCTION)


def test_the_signature_verifies_and_any_change_breaks_it(platform: Platform) -> None:
    _, key = registered_channel(platform, "4490000001")
    document = signed_report(platform, "4490000001", key, failed=("functional.qr-code",))
    keys = platform.keys.public_keys()

    assert report.verify(document, platform.suite, keys) is document
    assert document["functionsPassed"] == ["issuance", "payment"]
    passed_qr = {**document, "functionsPassed": ["issuance", "payment", "qr"]}
    with pytest.raises(ReportSignatureInvalid, match="changed after the platform signed it"):
        report.verify(passed_qr, platform.suite, keys)
    other_key = {**document, "signature": {**document["signature"], "keyId": "nobody"}}
    with pytest.raises(ReportSignatureInvalid, match="not signed by a known platform key"):
        report.verify(other_key, platform.suite, keys)
    with pytest.raises(ReportMalformed):
        report.verify({"cases": []}, platform.suite, keys)


def test_a_verified_report_certifies_its_passed_functions_on_the_current_key(platform: Platform) -> None:
    _, key = registered_channel(platform, "4490000002")
    document = signed_report(platform, "4490000002", key, failed=("functional.qr-code",))

    with operator_uow(platform) as uow:
        rows = record_report(uow, document)
        uow.commit()

    assert sorted(r.function for r in rows) == ["issuance", "payment"]
    assert {r.key_fingerprint for r in rows} == {key.public_key().fingerprint()}
    assert _certified(platform, "4490000002", Function.ISSUANCE)
    assert not _certified(platform, "4490000002", Function.QR)


def test_a_report_run_before_a_key_change_no_longer_counts(platform: Platform, clock: FrozenClock) -> None:
    _, key = registered_channel(platform, "4490000003")
    document = signed_report(platform, "4490000003", key)
    with operator_uow(platform) as uow:
        record_report(uow, document)
        uow.commit()
    clock.advance(timedelta(minutes=5))
    new_key = platform.suite.generate_private_key()
    with operator_uow(platform) as uow:
        channels.add_key(
            uow,
            channels.by_number(uow, "4490000003"),
            channels.NewKey("prd-2", new_key.public_key().to_pem(), Environment.PRODUCTION),
            replaces="prd-1",
        )
        uow.commit()

    assert not _certified(platform, "4490000003", Function.ISSUANCE)
    with (
        operator_uow(platform) as uow,
        pytest.raises(ReportBeforeKeyChange, match="before channel 4490000003"),
    ):
        record_report(uow, document)


def test_an_expired_report_does_not_count(platform: Platform, clock: FrozenClock) -> None:
    _, key = registered_channel(platform, "4490000004")
    document = signed_report(platform, "4490000004", key)
    with operator_uow(platform) as uow:
        record_report(uow, document)
        uow.commit()
    clock.advance(timedelta(days=181))

    assert not _certified(platform, "4490000004", Function.ISSUANCE)
    with operator_uow(platform) as uow, pytest.raises(ReportExpired, match="run the access tests again"):
        record_report(uow, document)
    with pytest.raises(ReportExpired):
        report.certification_rows(document, environment="production", now=clock.now())


def test_a_report_naming_none_of_the_channels_keys_certifies_nothing(platform: Platform) -> None:
    registered_channel(platform, "4490000005")
    stranger = platform.suite.generate_private_key()
    document = signed_report(platform, "4490000005", stranger)

    with (
        operator_uow(platform) as uow,
        pytest.raises(ReportKeyMismatch, match="names no current production key"),
    ):
        record_report(uow, document)
