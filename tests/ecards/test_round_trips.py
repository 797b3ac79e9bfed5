"""A channel's request on a signNo finds what it names and authorises it in one statement.

Measured with a `before_cursor_execute` listener on the platform's engines, and on PostgreSQL by recording
the hot statements handed to the driver (`factories.sent_statements`). A GET on a signNo by a channel acting
for itself finds the channel in the same statement (`ecards.service.view_for_caller`), and so do the
requests that only read what the signNo names (a busiSeq, a login's scan and confirm:
`ecards.service.find_sign_no`); the other requests find the acting channel first, then read the issuance,
e-card, person, card, grants and business item in one statement. Before, finding and authorising took 6
statements (the issuance, the grants, the business item, the e-card, the person, the card)."""

from __future__ import annotations

import re

import pytest

from essc.authorisations import service as authorisations
from essc.channels import service as channels
from essc.core.platform import Platform
from essc.shared.policy import Function
from essc_sdk import PlatformError
from factories import (
    Party,
    app_client,
    attestation,
    channel,
    holder,
    issued_sign_no,
    load,
    operator_uow,
    sent_statements,
)

# What finding a signNo and authorising the request read: the rows it names and the channel's standing.
LOCATING = {"issuances", "ecards", "persons", "cards", "channel_grants", "province_business_items"}
_READS = re.compile(r"\b(?:FROM|JOIN)\s+(\w+)", re.IGNORECASE)


def locating(sent: list[str]) -> list[str]:
    """The statements that read any of the locating tables; each must read all of them (and may read the
    acting channel: a GET finds it in the same statement)."""
    found = [s for s in sent if LOCATING & set(_READS.findall(s))]
    for statement in found:
        assert set(_READS.findall(statement)) - {"channels"} == LOCATING, statement
    return found


def reading_channels(sent: list[str]) -> list[str]:
    return [s for s in sent if "channels" in _READS.findall(s)]


def _issued(platform: Platform) -> tuple[Party, str]:
    record = holder()
    load(platform, record)
    app = channel(platform, app_client(platform))
    return app, issued_sign_no(platform, app, record)


def test_a_get_on_a_sign_no_finds_and_authorises_in_one_statement(platform: Platform) -> None:
    app, sign_no = _issued(platform)

    with sent_statements(platform) as sent:
        seen = app.client.get(f"/v1/ecards/{sign_no}")

    assert seen["signNo"] == sign_no
    assert len(locating(sent)) == 1
    assert reading_channels(sent) == locating(sent)  # the acting channel is found in the same statement


def test_a_post_on_a_sign_no_finds_and_authorises_in_one_statement(platform: Platform) -> None:
    app, sign_no = _issued(platform)

    with sent_statements(platform) as sent:
        code = app.client.post(f"/v1/ecards/{sign_no}/qr-codes", {})

    assert code["code"].startswith("ESSC:")
    assert len(locating(sent)) == 1


def test_a_refused_request_reads_nothing_after_the_one_statement(platform: Platform) -> None:
    app, sign_no = _issued(platform)
    with operator_uow(platform) as uow:
        row = channels.by_number(uow, app.label.removeprefix("channel/"))
        authorisations.set_grant(uow, row, "44", Function.ISSUANCE, "suspended", by="operator/tests")
        uow.commit()

    with sent_statements(platform) as sent, pytest.raises(PlatformError) as refused:
        app.client.get(f"/v1/ecards/{sign_no}")

    assert refused.value.code == "function_suspended"
    assert locating(sent) == sent[-1:]


def test_an_unknown_sign_no_costs_the_same_one_statement(platform: Platform) -> None:
    app, _ = _issued(platform)

    with sent_statements(platform) as sent, pytest.raises(PlatformError) as refused:
        app.client.get("/v1/ecards/NOT-A-SIGN-NO")

    assert refused.value.code == "sign_no_not_found"
    assert locating(sent) == sent[-1:]
    assert reading_channels(sent) == sent[-1:]


def test_a_busi_seq_finds_the_channel_and_its_sign_no_in_one_statement(platform: Platform) -> None:
    app, sign_no = _issued(platform)
    body = {"purpose": "login", "method": "face", "attestation": attestation(platform)}

    with sent_statements(platform) as sent:
        issued = app.client.post(f"/v1/ecards/{sign_no}/busi-seqs", body)

    assert issued["busiSeq"]
    assert len(locating(sent)) == 1
    assert reading_channels(sent) == locating(sent)


def test_a_busi_seq_on_an_unknown_sign_no_costs_the_one_statement(platform: Platform) -> None:
    app, _ = _issued(platform)
    body = {"purpose": "login", "method": "face", "attestation": attestation(platform)}

    with sent_statements(platform) as sent, pytest.raises(PlatformError) as refused:
        app.client.post("/v1/ecards/NOT-A-SIGN-NO/busi-seqs", body)

    assert refused.value.code == "sign_no_not_found"
    assert locating(sent) == reading_channels(sent)
    assert len(locating(sent)) == 1
