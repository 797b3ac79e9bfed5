"""The HMAC chain over audit entries: one definition used to write and to verify."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from essc.kit.crypto.base import CryptoSuite

GENESIS_MAC = b"\x00" * 32


def entry_bytes(
    *,
    stream: str,
    seq: int,
    id: str,
    at: datetime,
    actor_kind: str,
    actor_id: str,
    action: str,
    subject_kind: str,
    subject_id: str,
    province: str | None,
    source_ip: str | None,
    request_id: str | None,
    details: str,
    key_id: str,
) -> bytes:
    """Canonical encoding of every field of an entry (details already canonical JSON)."""
    fields: dict[str, Any] = {
        "stream": stream,
        "seq": seq,
        "id": id,
        "at": at.isoformat(timespec="microseconds"),
        "actor_kind": actor_kind,
        "actor_id": actor_id,
        "action": action,
        "subject_kind": subject_kind,
        "subject_id": subject_id,
        "province": province,
        "source_ip": source_ip,
        "request_id": request_id,
        "details": details,
        "key_id": key_id,
    }
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def link(suite: CryptoSuite, key: bytes, prev_mac: bytes, body: bytes) -> bytes:
    """MAC of an entry: it covers the previous entry's MAC, so order and presence are covered too."""
    return suite.mac(key, prev_mac + body)[:32]


def canonical_details(details: dict[str, Any]) -> str:
    return orjson.dumps(details, option=orjson.OPT_SORT_KEYS).decode("utf-8")
