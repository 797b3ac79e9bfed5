"""What a leaf of an audit log is: the canonical bytes of one entry, one definition to write and verify."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

LEAF_FORMAT = "essc-audit/1"

# The columns of an entry, in the order the sequencer and the verifier read them.
LEAF_COLUMNS = (
    "id",
    "log",
    "at",
    "actor_kind",
    "actor_id",
    "action",
    "subject_kind",
    "subject_id",
    "province",
    "source_ip",
    "request_id",
    "details",
)


def leaf_bytes(row: tuple[Any, ...] | list[Any]) -> bytes:
    """Canonical JSON of an entry's columns (LEAF_COLUMNS order; `details` already canonical JSON text)."""
    fields: dict[str, Any] = dict(zip(LEAF_COLUMNS, row, strict=True))
    at: datetime = fields["at"]
    fields["at"] = at.isoformat(timespec="microseconds")
    fields["format"] = LEAF_FORMAT
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)


def canonical_details(details: dict[str, Any]) -> str:
    return orjson.dumps(details, option=orjson.OPT_SORT_KEYS).decode("utf-8")
