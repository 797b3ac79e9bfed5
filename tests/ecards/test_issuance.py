"""一级签发 through a channel: checks, evidence, one esscNo per person, one signNo per channel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from essc.core.platform import Platform
from essc.ecards.models import Ecard, IssuanceEvidence
from essc_sdk import PlatformError
from factories import app_client, attestation, channel, holder, issue_request, load


def test_issuance_returns_sign_no_and_masked_holder(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)

    issued = app.client.post("/v1/ecards/issuance", issue_request(platform, record))

    assert issued["created"] is True
    assert issued["signLevel"] == 1
    assert issued["usable"] is True
    assert issued["aac002"] != record.aac002
    assert issued["aac002"] == record.aac002[0] + "*" * 16 + record.aac002[-1]
    assert "*" in issued["aac003"]
    assert "*" in issued["aaz500"]
    with platform.session_factory() as session:
        evidence = session.execute(select(IssuanceEvidence)).scalar_one()
        assert evidence.method == "face"
        assert evidence.score == 95
        assert evidence.request_signature
        assert len(evidence.request_digest) == 64


def test_issuing_again_in_the_same_channel_returns_the_same_sign_no(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)

    first = app.client.post("/v1/ecards/issuance", issue_request(platform, record))
    second = app.client.post("/v1/ecards/issuance", issue_request(platform, record))

    assert second["signNo"] == first["signNo"]
    assert second["created"] is False


def test_each_channel_gets_its_own_sign_no_for_one_ecard(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    one, two = channel(platform, http), channel(platform, http)

    a = one.client.post("/v1/ecards/issuance", issue_request(platform, record))
    b = two.client.post("/v1/ecards/issuance", issue_request(platform, record))

    assert a["signNo"] != b["signNo"]
    with platform.session_factory() as session:
        assert session.execute(select(func.count()).select_from(Ecard)).scalar_one() == 1


@pytest.mark.parametrize("status", ["temp_lost", "lost", "locked", "cancelled"])
def test_issuance_refused_when_card_is_not_normal(platform: Platform, status: str) -> None:
    record = holder(card_status=status)
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)

    with pytest.raises(PlatformError) as refused:
        app.client.post("/v1/ecards/issuance", issue_request(platform, record))

    assert refused.value.status == 409
    assert refused.value.code == "card_not_active"


@pytest.mark.parametrize(
    ("field", "value"),
    [("aac003", "王小明明"), ("aaz500", "Z99999999"), ("aab301", "110100")],
)
def test_issuance_refused_when_fields_do_not_describe_one_card(
    platform: Platform, field: str, value: str
) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http, provinces=("44", "11"))  # authorised where the wrong aab301 points

    with pytest.raises(PlatformError) as refused:
        app.client.post("/v1/ecards/issuance", issue_request(platform, record, **{field: value}))

    assert refused.value.code == "holder_mismatch"


def test_issuance_refused_for_invalid_id_number(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    wrong_check_digit = record.aac002[:17] + ("0" if record.aac002[17] != "0" else "1")

    with pytest.raises(PlatformError) as refused:
        app.client.post("/v1/ecards/issuance", issue_request(platform, record, aac002=wrong_check_digit))

    assert refused.value.status == 422
    assert refused.value.code == "invalid_aac002"


def test_issuance_refused_for_weak_or_stale_attestation(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    stale = attestation(platform, at=platform.clock.now() - timedelta(minutes=30))

    for bad in (attestation(platform, score=40), stale):
        with pytest.raises(PlatformError) as refused:
            app.client.post("/v1/ecards/issuance", issue_request(platform, record, attestation=bad))
        assert refused.value.code == "attestation_refused"


def test_malformed_body_gets_problem_details_naming_the_field(platform: Platform) -> None:
    http = app_client(platform)
    app = channel(platform, http)

    response = app.client.raw("POST", "/v1/ecards/issuance", {"aab301": "44"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "invalid_input"
    assert {e["field"] for e in problem["errors"]} >= {"aab301", "aac002", "attestation"}


def test_a_holder_mismatch_reads_the_same_whichever_field_is_wrong(platform: Platform) -> None:
    record, other = holder(), holder()
    load(platform, record, other)
    http = app_client(platform)
    app = channel(platform, http, provinces=("44", "11"))
    wrong = {
        "aac002": other.aac002,
        "aac003": record.aac003 + "明",
        "aaz500": other.aaz500,
        "aab301": "110100",
    }

    problems = []
    for field, value in wrong.items():
        response = app.client.raw(
            "POST",
            "/v1/ecards/issuance",
            app.client.seal_body(
                issue_request(platform, record, **{field: value}), "POST", "/v1/ecards/issuance"
            ),
        )
        problem = response.json()
        problems.append((response.status_code, {k: v for k, v in problem.items() if k != "request_id"}))

    assert problems[0][1]["code"] == "holder_mismatch"
    assert all(problem == problems[0] for problem in problems), problems


@pytest.mark.parametrize("hidden", ["\u202e", "\u200b", "\u0085", "\u2066"])
def test_issuance_refuses_a_name_with_hidden_characters(platform: Platform, hidden: str) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)

    with pytest.raises(PlatformError) as refused:
        app.client.post(
            "/v1/ecards/issuance",
            issue_request(platform, record, aac003=record.aac003[:1] + hidden + record.aac003[1:]),
        )

    assert (refused.value.status, refused.value.code) == (422, "invalid_input")
