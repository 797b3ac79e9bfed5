"""Results reach the province exactly once: outbox, leased attempts, backoff, idempotent receipts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from essc.core.platform import Platform
from essc.eligibility import delivery as dispatcher
from essc.eligibility import repository
from essc.eligibility.adapters import (
    HttpBenefitSystem,
    ResultDelivery,
    SandboxBenefitSystem,
    acknowledged_receipt,
)
from essc.eligibility.errors import BenefitSystemUnavailable
from essc.eligibility.models import Certification, Delivery, DeliveryStatus, DueItem
from essc.eligibility.service import delivery_body
from essc.kit import wire
from essc.kit.clock import FrozenClock
from essc.kit.crypto import get_suite
from essc_sdk import PlatformError
from essc_sdk.webhooks import verify_webhook
from factories import certify, eligibility_scene

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")
EXAMPLES = {
    m["name"]: m["body"]
    for m in re.finditer(r"<!-- example: (?P<name>[\w.-]+) -->\n```\w*\n(?P<body>.*?)\n```", DOC, re.DOTALL)
}


def _row(platform: Platform, delivery_id: str) -> Delivery:
    with platform.session_factory() as session:
        row = repository.delivery(session, delivery_id)
        assert row is not None
        session.expunge(row)
        return row


def _attempts(platform: Platform, delivery_id: str) -> list[tuple[int, str | None]]:
    with platform.session_factory() as session:
        return [(a.attempt_no, a.error) for a in repository.attempts_of(session, delivery_id)]


def test_a_flaky_province_gets_the_result_once_after_retries_with_backoff(
    platform: Platform, clock: FrozenClock
) -> None:
    made = certify(platform, eligibility_scene(platform))
    province = SandboxBenefitSystem(failures=3)
    systems = dispatcher.OneBenefitSystem(province)
    delays = []
    while _row(platform, made["certificationId"]).status == DeliveryStatus.PENDING:
        assert dispatcher.deliver_due(platform, systems) == 1
        row = _row(platform, made["certificationId"])
        if row.status == DeliveryStatus.PENDING:
            delays.append(row.next_attempt_at - clock.now())
            assert dispatcher.deliver_due(platform, systems) == 0  # not due again before its backoff
            clock.advance(row.next_attempt_at - clock.now())
    assert province.attempts == [made["certificationId"]] * 4
    assert list(province.received) == [made["certificationId"]]
    # 5 s, 10 s, 20 s, each with at most 20 % jitter
    assert len(delays) == 3
    for n, delay in enumerate(delays):
        assert 5 * 2**n <= delay.total_seconds() <= 1.2 * 5 * 2**n
    row = _row(platform, made["certificationId"])
    assert (row.status, row.attempts, row.receipt) == ("delivered", 4, f"SBX-{made['certificationId']}")
    assert [n for n, _ in _attempts(platform, made["certificationId"])] == [1, 2, 3, 4]
    clock.advance(timedelta(hours=2))
    assert dispatcher.deliver_due(platform, systems) == 0
    assert len(province.attempts) == 4


def test_a_province_that_never_answers_is_given_up_after_the_last_attempt(
    platform: Platform, clock: FrozenClock
) -> None:
    made = certify(platform, eligibility_scene(platform))
    systems = dispatcher.OneBenefitSystem(SandboxBenefitSystem(failures=1000))
    for _ in range(platform.settings.webhook_max_attempts):
        assert dispatcher.deliver_due(platform, systems) == 1
        clock.advance(timedelta(hours=2))
    row = _row(platform, made["certificationId"])
    assert (row.status, row.attempts) == (DeliveryStatus.DEAD, platform.settings.webhook_max_attempts)
    assert dispatcher.deliver_due(platform, systems) == 0


def test_a_province_without_a_registered_endpoint_waits_and_retries(platform: Platform) -> None:
    made = certify(platform, eligibility_scene(platform))
    assert dispatcher.deliver_due(platform, dispatcher.RegisteredBenefitSystems(platform)) == 1
    row = _row(platform, made["certificationId"])
    assert row.status == DeliveryStatus.PENDING
    assert "no benefit system endpoint" in (row.last_error or "")


def test_a_repeated_delivery_is_recorded_once_by_the_sandbox_province() -> None:
    province = SandboxBenefitSystem()
    first = province.deliver(ResultDelivery("44", "C1", b"{}"))
    again = province.deliver(ResultDelivery("44", "C1", b"{}"))
    assert first == again
    assert list(province.received) == ["C1"]


class IdempotentProvince:
    """A province's HTTPS endpoint as a fake transport: verifies like a webhook, records each id once."""

    def __init__(self, platform: Platform, failures: int = 0) -> None:
        self.platform = platform
        self.failures = failures
        self.recorded: dict[str, bytes] = {}
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        event = verify_webhook(
            self.platform.suite,
            self.platform.keys.public_keys(),
            dict(request.headers),
            request.content,
            receiver="province/44",
            now=self.platform.clock.now().timestamp(),
        )
        assert request.headers[wire.HEADER_TIMESTAMP]
        if self.failures:
            self.failures -= 1
            return httpx.Response(503)
        self.recorded.setdefault(event["eventId"], request.content)
        return httpx.Response(
            200, json={"certificationId": event["eventId"], "receipt": "R-" + event["eventId"]}
        )


def test_the_http_adapter_signs_as_a_webhook_for_the_province_and_reads_the_receipt(
    platform: Platform, clock: FrozenClock
) -> None:
    made = certify(platform, eligibility_scene(platform))
    province = IdempotentProvince(platform, failures=1)
    client = httpx.Client(transport=httpx.MockTransport(province))
    systems = dispatcher.OneBenefitSystem(HttpBenefitSystem(platform, "https://benefits.test/gd", client))
    assert dispatcher.deliver_due(platform, systems) == 1
    clock.advance(timedelta(seconds=10))
    assert dispatcher.deliver_due(platform, systems) == 1
    row = _row(platform, made["certificationId"])
    assert (row.status, row.receipt) == (DeliveryStatus.DELIVERED, f"R-{made['certificationId']}")
    assert province.requests == 2
    assert list(province.recorded) == [made["certificationId"]]
    data = orjson.loads(province.recorded[made["certificationId"]])["data"]
    assert data["certificationId"] == made["certificationId"]


def test_an_acknowledgement_for_another_certification_is_a_failed_attempt() -> None:
    refused = [
        b'{"certificationId": "OTHER", "receipt": "R"}',
        b"not json",
        b'{"certificationId": "C1"}',
        b"[]",
    ]
    for answer in refused:
        with pytest.raises(BenefitSystemUnavailable):
            acknowledged_receipt(answer, "C1")
    assert acknowledged_receipt(b'{"certificationId": "C1", "receipt": "R"}', "C1") == "R"


def test_the_worked_example_of_docs_protocol_verifies() -> None:
    suite = get_suite("sm")
    body = EXAMPLES["eligibility-body"].encode()
    event_id = orjson.loads(body)["eventId"]
    canonical = wire.webhook_string(
        event_id,
        1767225600,
        "EXAMPLEnonce0000000001",
        body,
        suite.hash,
        receiver="province/44",
        key_id="ps-example",
    )
    assert canonical == EXAMPLES["eligibility-canonical"].encode()
    signature = wire.decode_signature(EXAMPLES["eligibility-signature"])
    assert signature is not None
    suite.verify(suite.load_public_key(EXAMPLES["platform-public.pem"].encode()), canonical, signature)
    assert acknowledged_receipt(EXAMPLES["eligibility-ack"].encode(), event_id) == "GD-ACK-2027-000987"


def test_the_worked_example_body_is_what_the_platform_writes() -> None:
    data = orjson.loads(EXAMPLES["eligibility-body"])["data"]
    item = DueItem(
        province="44",
        id="01JDUEITEM0000000000000001",
        person_id="01JPERSON00000000000000001",
        benefit_type=data["benefitType"],
        period=data["period"],
        opens_at=datetime(2027, 1, 1, tzinfo=UTC),
        due_at=datetime(2027, 6, 30, tzinfo=UTC),
        source_ref=data["dueRef"],
    )
    evidence = data["evidence"]
    row = Certification(
        id=data["certificationId"],
        certifier=data["certifier"],
        delegation_id=None,
        method=evidence["method"],
        provider=evidence["provider"],
        evidence_ref=evidence["reference"],
        score=evidence["score"],
        checked_at=datetime.fromisoformat(evidence["checkedAt"]),
        certified_at=datetime.fromisoformat(data["certifiedAt"]),
    )
    assert delivery_body(row, item, data["channelNo"]) == EXAMPLES["eligibility-body"].encode()


def test_no_delivery_is_written_when_the_certification_is_refused(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    certify(platform, scene)
    with pytest.raises(PlatformError) as refused:
        certify(platform, scene)
    assert refused.value.code == "already_certified"
    with platform.session_factory() as session:
        assert len(session.execute(select(Delivery)).scalars().all()) == 1
