"""Typed factories of test data, built through the platform's own services."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import datetime

from fastapi.testclient import TestClient

from essc.access import service as access
from essc.cardholders.importfile import HolderRecord
from essc.cardholders.service import load_holders
from essc.cardholders.synthetic import synthetic_holders
from essc.channels import service as channels
from essc.core.app import create_app
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.kit.crypto.base import PrivateKey
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


def app_client(platform: Platform) -> TestClient:
    return TestClient(create_app(platform), raise_server_exceptions=False)


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
    platform: Platform, http: TestClient, webhook_url: str | None = "https://channel.test/hooks"
) -> Party:
    key = platform.suite.generate_private_key()
    number = str(next(_channel_numbers))
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
