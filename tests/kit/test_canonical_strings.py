"""The canonical strings of kit.wire, byte for byte: what implementers in other languages must reproduce."""

from __future__ import annotations

import hashlib

import pytest

from essc.kit import wire


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


EMPTY = hashlib.sha256(b"").hexdigest()
BODY = b'{"aab301":"440100"}'


def test_the_request_string_binds_caller_and_key_id() -> None:
    signed = wire.request_string(
        "post", "/v1/ecards/issuance?x=1", 1767225600, "n" * 16, BODY,
        digest=_sha256, caller="channel/4400000001", key_id="k1",
    )  # fmt: skip

    assert signed == (
        b"ESSC-REQ-2\nPOST\n/v1/ecards/issuance?x=1\n1767225600\nnnnnnnnnnnnnnnnn\n"
        b"caller:channel/4400000001\nkey:k1\n" + hashlib.sha256(BODY).hexdigest().encode()
    )


def test_a_session_request_binds_the_session_and_a_relayed_one_its_channel() -> None:
    signed = wire.request_string(
        "GET", "/v1/ecards/X", 1, "n" * 16, b"",
        digest=_sha256, caller="channel/4400000001", session_id="S" * 26, on_behalf_of="4400000002",
    )  # fmt: skip

    assert signed.split(b"\n")[5:] == [
        b"caller:channel/4400000001",
        b"session:" + b"S" * 26,
        EMPTY.encode(),
        b"on-behalf-of:4400000002",
    ]


def test_a_request_names_exactly_one_credential() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        wire.request_string("GET", "/", 1, "n" * 16, b"", digest=_sha256, caller="channel/4400000001")
    with pytest.raises(ValueError, match="exactly one"):
        wire.request_string(
            "GET", "/", 1, "n" * 16, b"", digest=_sha256, caller="c", key_id="k1", session_id="s"
        )


def test_the_response_and_webhook_strings_bind_caller_or_receiver_and_key() -> None:
    response = wire.response_string(200, "n" * 16, 2, b"", _sha256, caller="channel/4400000001", key_id="pk1")
    webhook = wire.webhook_string(
        "E1", 3, "m" * 16, b"", _sha256, receiver="channel/4400000001", key_id="pk1"
    )

    assert response == (
        f"ESSC-RESP-2\n200\n{'n' * 16}\n2\ncaller:channel/4400000001\nkey:pk1\n{EMPTY}".encode()
    )
    assert webhook == (
        f"ESSC-HOOK-2\nE1\n3\n{'m' * 16}\nreceiver:channel/4400000001\nkey:pk1\n{EMPTY}".encode()
    )
