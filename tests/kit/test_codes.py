"""QR payload strings: round trips, every refusal by name, and fuzzing that only MalformedCode comes out."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from essc.kit.codes import (
    MAX_PAYLOAD_CHARS,
    TOKEN_BYTES,
    CodeKind,
    MalformedCode,
    ParsedCode,
    new_token_code,
    offline_payload,
    parse_code,
    token_payload,
)
from essc.kit.errors import InvalidInput

# What QR alphanumeric mode can carry (ISO/IEC 18004 table 5); every payload must fit it.
QR_ALPHANUMERIC = re.compile(r"[0-9A-Z $%*+\-./:]+")
TOKEN_KINDS = [CodeKind.ONLINE, CodeKind.LOGIN]


def test_error_is_a_named_400() -> None:
    assert issubclass(MalformedCode, InvalidInput)
    assert MalformedCode.code == "malformed_code"
    assert MalformedCode.status == 400


@pytest.mark.parametrize("kind", TOKEN_KINDS)
def test_token_code_round_trip(kind: CodeKind) -> None:
    payload, token = new_token_code(kind)
    assert len(token) == TOKEN_BYTES
    assert payload == f"ESSC:{kind.value}:{base64.b32encode(token).decode()}"
    assert "=" not in payload
    assert QR_ALPHANUMERIC.fullmatch(payload)
    assert parse_code(payload) == ParsedCode(kind, token)
    assert token_payload(kind, token) == payload
    assert parse_code(payload).payload() == payload


@pytest.mark.parametrize("kind", TOKEN_KINDS)
def test_tokens_are_fresh(kind: CodeKind) -> None:
    tokens = {new_token_code(kind)[1] for _ in range(1000)}
    assert len(tokens) == 1000


def test_online_and_login_codes_differ_for_the_same_token() -> None:
    token = bytes(range(20))
    online, login = (
        parse_code(token_payload(CodeKind.ONLINE, token)),
        parse_code(token_payload(CodeKind.LOGIN, token)),
    )
    assert online.kind is CodeKind.ONLINE
    assert login.kind is CodeKind.LOGIN
    assert online.body == login.body == token


def test_lowercase_and_outer_whitespace_are_normalised() -> None:
    payload, token = new_token_code(CodeKind.ONLINE)
    assert parse_code(f"  {payload.lower()}\r\n") == ParsedCode(CodeKind.ONLINE, token)
    assert parse_code("\t" + payload.replace("ESSC", "essc") + " ").body == token
    assert parse_code(payload.lower().replace("l1", "L1")).kind is CodeKind.ONLINE


@given(st.binary(min_size=1, max_size=600))
def test_offline_bodies_round_trip(body: bytes) -> None:
    payload = offline_payload(body)
    assert QR_ALPHANUMERIC.fullmatch(payload)
    assert parse_code(payload) == ParsedCode(CodeKind.OFFLINE, body)
    assert parse_code(payload.lower()).payload() == payload


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "ESSC:<version>:<data>"),
        ("ESSC", "ESSC:<version>:<data>"),
        ("ESSC:1", "ESSC:<version>:<data>"),
        ("ESSC:1:AAAA:AAAA", "ESSC:<version>:<data>"),
        ("ESSD:1:" + "A" * 32, "ESSC:<version>:<data>"),
        ("XESSC:1:" + "A" * 32, "ESSC:<version>:<data>"),
        ("ESSC:3:" + "A" * 32, "unknown code version '3'"),
        ("ESSC::" + "A" * 32, "unknown code version"),
        ("ESSC:L2:" + "A" * 32, "unknown code version 'L2'"),
        ("ESSC:1:" + "A" * 31, "exactly 32 base32 characters"),
        ("ESSC:L1:" + "A" * 33, "exactly 32 base32 characters"),
        ("ESSC:1:", "exactly 32 base32 characters"),
        ("ESSC:2:", "impossible base32 length"),
        ("ESSC:2:A", "impossible base32 length"),
        ("ESSC:2:AAA", "impossible base32 length"),
        ("ESSC:2:AAAAAA", "impossible base32 length"),
        ("ESSC:1:" + "A" * 31 + "1", "not base32"),
        ("ESSC:1:" + "A" * 31 + "8", "not base32"),
        ("ESSC:1:" + "A" * 24 + "AAAAAA==", "not base32"),
        ("ESSC:2:AAAA AAA", "not base32"),
        ("ESSC:2:AAAA-AAA", "not base32"),
        ("ESSC :1:" + "A" * 32, "ESSC:<version>:<data>"),
        ("ESSC:2:AB", "not canonical base32"),
        ("ESSC:2:AAAB", "not canonical base32"),
        ("ESSC:1:" + "A" * 31 + "\x00", "not base32"),
        ("E\u017fSC:1:" + "A" * 32, "ASCII"),
        ("ESSC:1:" + "A" * 31 + "\u0391", "ASCII"),
    ],
)
def test_refusals_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(MalformedCode, match=re.escape(message)):
        parse_code(text)


def test_length_cap_comes_first() -> None:
    # Not even the prefix is looked at: a huge string is refused for its size alone.
    with pytest.raises(MalformedCode, match="at most 1024 characters"):
        parse_code("\u017f" * (MAX_PAYLOAD_CHARS + 1))
    with pytest.raises(MalformedCode, match="at most 1024 characters"):
        parse_code(" " * 2000 + new_token_code(CodeKind.ONLINE)[0])
    longest = offline_payload(bytes(635))
    assert len(longest) <= MAX_PAYLOAD_CHARS
    assert parse_code(longest).body == bytes(635)


def test_non_text_is_malformed() -> None:
    with pytest.raises(MalformedCode, match="text"):
        parse_code(b"ESSC:1:" + b"A" * 32)  # type: ignore[arg-type]
    with pytest.raises(MalformedCode, match="text"):
        parse_code(None)  # type: ignore[arg-type]


def test_token_payload_refusals() -> None:
    with pytest.raises(MalformedCode, match="OFFLINE code does not carry a token"):
        token_payload(CodeKind.OFFLINE, bytes(20))
    with pytest.raises(MalformedCode, match="exactly 20 bytes"):
        token_payload(CodeKind.ONLINE, bytes(19))
    with pytest.raises(MalformedCode, match="exactly 20 bytes"):
        token_payload(CodeKind.LOGIN, "A" * 20)  # type: ignore[arg-type]


def test_offline_payload_refusals() -> None:
    with pytest.raises(MalformedCode, match=r"1\.\.1024 characters"):
        offline_payload(b"")
    with pytest.raises(MalformedCode, match=r"1\.\.1024 characters"):
        offline_payload(bytes(700))


def _check(text: str) -> None:
    try:
        parsed = parse_code(text)
    except MalformedCode:
        return
    # Whatever parses has one canonical spelling, which parses to the same code.
    assert parse_code(parsed.payload()) == parsed
    assert QR_ALPHANUMERIC.fullmatch(parsed.payload())


@settings(max_examples=500)
@given(st.text(max_size=1100))
def test_fuzz_arbitrary_text(text: str) -> None:
    _check(text)


PAYLOADISH = st.builds(
    lambda version, data, pad: f"{pad}ESSC:{version}:{data}{pad}",
    st.sampled_from(["1", "L1", "2", "l1", "0", "22", ""]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567abcxyz0189=:- \u017f", max_size=80),
    st.sampled_from(["", " ", "\n", "\u3000"]),
)


@settings(max_examples=1000)
@given(PAYLOADISH)
def test_fuzz_payload_like_text(text: str) -> None:
    _check(text)


@given(st.binary(min_size=1, max_size=300), st.data())
def test_fuzz_mutated_payloads(body: bytes, data: st.DataObject) -> None:
    payload = offline_payload(body)
    index = data.draw(st.integers(0, len(payload) - 1))
    char = data.draw(st.characters())
    _check(payload[:index] + char + payload[index + 1 :])


@settings(max_examples=1000)
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", min_size=1, max_size=120))
def test_base32_agrees_with_the_standard_library(data: str) -> None:
    """Accepted exactly when RFC 4648 decodes it and re-encodes the same text, and to the same bytes."""
    padded = data + "=" * (-len(data) % 8)
    try:
        expected: bytes | None = base64.b32decode(padded)
    except ValueError:
        expected = None
    if expected is not None and base64.b32encode(expected).decode() != padded:
        expected = None
    try:
        body: bytes | None = parse_code(f"ESSC:2:{data}").body
    except MalformedCode:
        body = None
    assert body == expected
