"""Request bodies as the protocol takes them: UTF-8 JSON without a byte-order mark, parsed once, no NUL.

The protocol layer parses a body here, once, and hands the application the canonical JSON of that one value
(`canonical`), so the personal-field check, the envelopes and the endpoint all see the same thing: no second
parser with other decoding rules (Python's json detects UTF-16 and UTF-32 and skips a BOM; orjson does not)
can read fields the check never saw.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

import orjson

from essc.kit.errors import EsscError

# UTF-8, UTF-16 BE/LE (and UTF-32 LE, which starts like UTF-16 LE), UTF-32 BE.
_BYTE_ORDER_MARKS: Final = (b"\xef\xbb\xbf", b"\xfe\xff", b"\xff\xfe", b"\x00\x00\xfe\xff")
_NUL_ESCAPE: Final = b"\\u0000"
# An integer literal wider than 64 bits has at least 19 digits; orjson reads such a literal as a float.
_LONG_DIGITS: Final = re.compile(rb"[0-9]{19}")
_INT64: Final = range(-(2**63), 2**64)
# orjson writes at most this depth; a deeper body is refused rather than failing when it is written again.
MAX_DEPTH: Final = 254


class BodyEncodingUnsupported(EsscError):
    status = 415
    code = "body_encoding_unsupported"
    title = "Request body is not UTF-8 without a byte-order mark"


class BodyNotJson(EsscError):
    status = 400
    code = "body_not_json"
    title = "Request body is not JSON"


class NumberOutOfRange(EsscError):
    status = 422
    code = "number_out_of_range"
    title = "A number in the request body is an integer beyond 64 bits"


class NulInText(EsscError):
    status = 422
    code = "nul_in_text"
    title = "Text holds the NUL character (U+0000)"


def _charset(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type, lower case, or None."""
    if not content_type:
        return None
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return None


def check_encoding(body: bytes, content_type: str | None) -> None:
    """Refuse, before any parsing, a body that is not UTF-8 or starts with a byte-order mark."""
    charset = _charset(content_type)
    if charset is not None and charset not in {"utf-8", "utf8"}:
        raise BodyEncodingUnsupported(
            f"request bodies are UTF-8 JSON; Content-Type names charset {charset!r}", charset=charset
        )
    if body.startswith(_BYTE_ORDER_MARKS):
        raise BodyEncodingUnsupported("request bodies are UTF-8 JSON without a byte-order mark")
    # A NUL byte is never part of UTF-8 JSON text (control characters are escaped); it is how UTF-16 and
    # UTF-32 look without a byte-order mark.
    if b"\x00" in body:
        raise BodyEncodingUnsupported("request bodies are UTF-8 JSON; this one holds NUL bytes (UTF-16/32?)")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyEncodingUnsupported(
            f"request bodies are UTF-8 JSON; byte {exc.start} is not UTF-8", position=exc.start
        ) from None


def parse(body: bytes, content_type: str | None) -> Any:
    """The one parse of a non-empty request body; named errors for every body that is refused."""
    check_encoding(body, content_type)
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyNotJson(
            f"the request body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            position=exc.pos,
        ) from None
    # orjson reads an integer beyond 64 bits as a float: the application would see another number than the
    # caller sent. Only a body with 19 digits in a row can hold one; the exact reading decides.
    if _LONG_DIGITS.search(body) is not None and _wide_integer(json.loads(body)):
        raise NumberOutOfRange("the request body holds an integer outside the 64-bit range")
    return value


def _wide_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value not in _INT64
    if isinstance(value, dict):
        return any(_wide_integer(item) for item in value.values())
    if isinstance(value, list):
        return any(_wide_integer(item) for item in value)
    return False


def canonical(value: Any) -> bytes:
    """The bytes the application reads for a parsed body: one value, one way of writing it."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise BodyNotJson(f"the request body is nested deeper than {MAX_DEPTH} levels") from None


def nul_field(value: Any, path: str = "") -> str | None:
    """The JSON path of the first string (value or member name) holding U+0000, or None."""
    if isinstance(value, str):
        return (path or "$") if "\x00" in value else None
    if isinstance(value, dict):
        for name, item in value.items():
            where = f"{path}.{name}" if path else name
            if "\x00" in name:
                return where.replace("\x00", "\\u0000")
            found = nul_field(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_field(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def refuse_nul(body: bytes, value: Any) -> None:
    """Refuse a parsed body with U+0000 in any string: no database column can hold it (PostgreSQL text)."""
    if _NUL_ESCAPE not in body:  # the only way to write U+0000 in UTF-8 JSON: most bodies stop here
        return
    where = nul_field(value)
    if where is not None:
        raise NulInText(f"{where} holds the NUL character (U+0000), which no text may hold", field=where)


def refuse_nul_in_url(raw_path: bytes, query: bytes) -> None:
    """Refuse a path or query string with a percent-encoded NUL (%00)."""
    for part, where in ((raw_path, "path"), (query, "query")):
        if b"%00" in part:
            raise NulInText(f"the {where} holds %00, the NUL character (U+0000)", field=where)
