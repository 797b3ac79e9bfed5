"""kit.bodies: every byte string is either one JSON value read alike by every parser, or refused by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from essc.kit import bodies
from essc.kit.errors import EsscError

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)
_ENCODINGS = ("utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be")


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _accepted(body: bytes) -> Any:
    """The value the application reads, or the named refusal."""
    value = bodies.parse(body, "application/json")
    canonical = bodies.canonical(value)
    bodies.refuse_nul(body, value)
    return json.loads(canonical)


@settings(max_examples=400)
@given(st.one_of(st.binary(max_size=300), _JSON.map(lambda v: _text(v).encode("utf-8"))))
def test_any_bytes_are_one_value_or_a_named_refusal(body: bytes) -> None:
    refusal: EsscError | None = None
    try:
        read = _accepted(body)
    except (
        bodies.BodyEncodingUnsupported,
        bodies.BodyNotJson,
        bodies.NumberOutOfRange,
        bodies.NulInText,
    ) as refused:
        refusal = refused
    if refusal is not None:
        assert refusal.status in {400, 415, 422}
        return
    # What the application reads is what the checks parsed, and what Python's own parser makes of the bytes.
    assert read == bodies.parse(body, None) == json.loads(body.decode("utf-8"))
    assert bodies.nul_field(read) is None


@given(_JSON, st.sampled_from(_ENCODINGS))
def test_json_in_any_other_encoding_is_refused_before_parsing(value: Any, encoding: str) -> None:
    body = _text(value).encode(encoding)
    with pytest.raises(bodies.BodyEncodingUnsupported):
        bodies.check_encoding(body, "application/json")


@given(_JSON)
def test_nul_is_found_wherever_it_is(value: Any) -> None:
    nested = {"outer": [value, {"k": "a\x00b"}]}
    with pytest.raises(bodies.NulInText) as refused:
        bodies.refuse_nul(_text(nested).encode(), nested)
    expected = bodies.nul_field(value, "outer[0]") or "outer[1].k"
    assert refused.value.extensions["field"] == expected


def test_a_body_nested_too_deep_to_write_again_is_refused_by_name() -> None:
    deep = b"[" * 300 + b"]" * 300
    with pytest.raises(bodies.BodyNotJson):
        bodies.canonical(bodies.parse(deep, None))


@pytest.mark.parametrize(
    "literal", [b"-9223372036854775809", b"18446744073709551616", b'{"size": 1' + b"0" * 30 + b"}"]
)
def test_an_integer_beyond_64_bits_is_refused_rather_than_read_as_another_number(literal: bytes) -> None:
    with pytest.raises(bodies.NumberOutOfRange):
        bodies.parse(literal, "application/json")


def test_integers_within_64_bits_and_long_digit_strings_are_read_exactly() -> None:
    body = b'{"min": -9223372036854775808, "max": 18446744073709551615, "id": "12345678901234567890123"}'
    assert bodies.parse(body, "application/json") == json.loads(body)
