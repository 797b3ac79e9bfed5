"""Adapters of the external systems: the province's benefit system (pull, registration), face checks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import orjson
import pytest

from essc.core.context import Actor
from essc.core.platform import Platform
from essc.ecards.errors import AttestationRefused
from essc.ecards.schemas import Attestation
from essc.eligibility import jobs
from essc.eligibility.adapters import (
    FaceOutcome,
    HttpBenefitSystem,
    HttpFaceVerifier,
    SandboxFaceVerifier,
    confirmed,
)
from essc.eligibility.errors import BenefitSystemUnavailable, FaceCheckUnavailable, NoBenefitSystem
from essc.kit import wire
from essc_sdk import PlatformError
from factories import due_record, eligibility_scene, province

FACE = Attestation(
    method="face",
    provider="sandbox-face",
    reference="ref-1",
    score=95,
    checked_at=datetime(2027, 1, 1, tzinfo=UTC),
)


def test_a_province_registers_where_results_go_and_only_its_own(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    with pytest.raises(NoBenefitSystem):
        jobs.registered_system(platform, "44")
    answer = scene.owner.client.put(
        "/v1/provinces/44/eligibility/benefit-system", {"url": "https://benefits.test/gd"}
    )
    assert answer["url"] == "https://benefits.test/gd"
    assert isinstance(jobs.registered_system(platform, "44"), HttpBenefitSystem)
    other = province(platform, scene.http, "11")
    with pytest.raises(PlatformError) as refused:
        other.client.put("/v1/provinces/44/eligibility/benefit-system", {"url": "https://evil.test/"})
    assert refused.value.code == "wrong_province"


def test_the_pull_job_loads_what_the_provinces_system_answers_signed_for_it(platform: Platform) -> None:
    scene = eligibility_scene(platform)
    items = [due_record(platform, scene.record, benefitType="unemployment")]

    def province_system(request: httpx.Request) -> httpx.Response:
        # Signed as a webhook over the empty body, for this province.
        headers = request.headers
        canonical = wire.webhook_string(
            headers["X-Essc-Event-Id"],
            int(headers[wire.HEADER_TIMESTAMP]),
            headers[wire.HEADER_NONCE],
            request.content,
            platform.suite.hash,
            receiver="province/44",
            key_id=headers[wire.HEADER_KEY_ID],
        )
        signature = wire.decode_signature(headers[wire.HEADER_SIGNATURE])
        assert signature is not None
        platform.suite.verify(platform.keys.public_keys()[headers[wire.HEADER_KEY_ID]], canonical, signature)
        assert request.url.params["period"] == "2027"
        return httpx.Response(200, content=orjson.dumps({"period": 2027, "items": items}))

    client = httpx.Client(transport=httpx.MockTransport(province_system))
    system = HttpBenefitSystem(platform, "https://benefits.test/gd", client)
    result = jobs.load_from(platform, system, "44", 2027, Actor.operator("tests"))
    assert (result.loaded, result.rejected) == (1, [])
    due = scene.app.client.get(f"/v1/eligibility/{scene.sign_no}/due-items")["items"]
    assert sorted(i["benefitType"] for i in due) == ["basic_pension", "unemployment"]


def test_a_pull_that_gets_no_good_answer_is_named(platform: Platform) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(500)))
    with pytest.raises(BenefitSystemUnavailable):
        HttpBenefitSystem(platform, "https://benefits.test/gd", client).due_items("44", 2027)
    garbage = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(200, content=b"{")))
    with pytest.raises(BenefitSystemUnavailable):
        HttpBenefitSystem(platform, "https://benefits.test/gd", garbage).due_items("44", 2027)


def test_an_unreachable_face_service_is_unavailable_not_a_refusal() -> None:
    verdict = asyncio.run(HttpFaceVerifier("http://127.0.0.1:9", timeout=0.5).verify(FACE))
    assert verdict.outcome is FaceOutcome.UNAVAILABLE
    with pytest.raises(FaceCheckUnavailable):
        confirmed(verdict)


def test_the_sandbox_face_service_confirms_all_but_refused_references() -> None:
    assert confirmed(asyncio.run(SandboxFaceVerifier().verify(FACE))).reference == "ref-1"
    refused = FACE.model_copy(update={"reference": "refused-1"})
    with pytest.raises(AttestationRefused):
        confirmed(asyncio.run(SandboxFaceVerifier().verify(refused)))
