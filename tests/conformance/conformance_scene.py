"""Typed factories of conformance reports and channels for the kit's tests."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from essc.channels import service as channels
from essc.channels.models import Channel
from essc.core.platform import Platform
from essc.kit.crypto.base import PrivateKey
from essc.kit.ids import new_id
from essc.shared.callers import Environment
from essc.shared.policy import Function
from essc_conformance import report
from essc_conformance.report import Case, ChannelKey, Plan
from factories import operator_uow


def registered_channel(platform: Platform, channel_no: str) -> tuple[Channel, PrivateKey]:
    """A registered (not certified) channel with one production key."""
    key = platform.suite.generate_private_key()
    with operator_uow(platform) as uow:
        channel = channels.register(
            uow,
            channel_no,
            f"Channel {channel_no}",
            channels.ChannelType.BANK,
            webhook_url=None,
            keys=[channels.NewKey("prd-1", key.public_key().to_pem(), Environment.PRODUCTION)],
        )
        uow.commit()
    return channel, key


def signed_report(
    platform: Platform,
    channel_no: str,
    key: PrivateKey,
    *,
    finished_at: datetime | None = None,
    failed: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A platform-signed report of a run in which every case passed except `failed`."""
    finished = finished_at or platform.clock.now()
    ids = ("functional.issuance", "functional.level2", "functional.qr-code", "security.nonces")
    cases = [
        Case(
            case_id,
            Plan.SECURITY if case_id.startswith("security") else Plan.FUNCTIONAL,
            case_id,
            case_id not in failed,
            "as expected" if case_id not in failed else "it went wrong; expected it not to",
            {"functional.level2": (Function.PAYMENT,), "functional.qr-code": (Function.QR,)}.get(
                case_id, (Function.ISSUANCE,)
            ),
        )
        for case_id in ids
    ]
    document = report.build(
        report_id=new_id(),
        channel_no=channel_no,
        environment="sandbox",
        platform_url="http://sandbox.test",
        keys=[ChannelKey("prd-1", "production", key.public_key().fingerprint())],
        signed_with=["sbx-1"],
        cases=cases,
        tested=(Function.ISSUANCE, Function.PAYMENT, Function.QR),
        started_at=finished - timedelta(seconds=2),
        finished_at=finished,
        run_seconds=2.0,
    )
    return report.sign(document, platform.keys.signer())


def signed_relying_party_report(platform: Platform, client_id: str) -> dict[str, Any]:
    """A platform-signed report of a relying-party run in which every case passed."""
    finished = platform.clock.now()
    cases = [
        Case(case_id, Plan.RELYING_PARTY, case_id, True, "as expected", (Function.LOGIN,))
        for case_id in ("relying-party.par", "relying-party.id-token.nonce", "relying-party.logout.genuine")
    ]
    document = report.build_relying_party(
        report_id=new_id(),
        client_id=client_id,
        environment="sandbox",
        platform_url="http://sandbox.test",
        key_thumbprints=["thumbprint-1"],
        cases=cases,
        started_at=finished - timedelta(seconds=2),
        finished_at=finished,
        run_seconds=2.0,
    )
    return report.sign(document, platform.keys.signer())
