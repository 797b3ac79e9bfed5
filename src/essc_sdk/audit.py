"""Checking that the platform committed to what it shows a holder: inclusion proofs against checkpoints.

A "who used my card" answer carries the province log's checkpoint (a C2SP signed note) and, for each use
already sequenced, its leaf (the audit entry's bytes), leaf index and inclusion proof. `verify_usage` checks
the checkpoint's signature with the platform's audit log key (pinned by the app, `essc audit log-key`), the
proof from the leaf to the checkpoint's root (RFC 9162, the suite's hash: SM3), and that the leaf records
this use. A witness's cosignature lines on the same note show the tree is the one everybody else sees.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson

from essc.kit.checkpoints import Checkpoint, InvalidNote, NoteKey, open_note
from essc.kit.crypto.base import CryptoSuite, PublicKey
from essc.kit.merkle import InvalidProof, TreeHasher, verify_consistency, verify_inclusion

__all__ = ["InvalidNote", "InvalidProof", "verify_consistency", "verify_inclusion", "verify_usage"]


def verify_usage(
    history: Mapping[str, Any],
    usage: Mapping[str, Any],
    *,
    log_key: PublicKey,
    suite: CryptoSuite,
    origin_prefix: str = "essc.example/audit",
) -> Checkpoint:
    """The checkpoint `usage` of `history` is proven in; InvalidNote or InvalidProof if it is not."""
    audit = usage.get("audit")
    if not isinstance(audit, Mapping):
        raise InvalidProof("this use is not sequenced yet: ask again in a few seconds")
    origin = f"{origin_prefix}/{audit['log']}"
    body, _ = open_note(str(history.get("checkpoint") or ""), NoteKey(origin, log_key, suite))
    checkpoint = Checkpoint.parse(body)
    try:
        leaf = base64.b64decode(str(audit["leaf"]), validate=True)
        proof = [base64.b64decode(str(p), validate=True) for p in audit["proof"]]
    except (binascii.Error, TypeError, KeyError):
        raise InvalidProof("the leaf or the proof is not base64") from None
    hasher = TreeHasher(suite.hash)
    verify_inclusion(
        hasher, int(audit["leafIndex"]), checkpoint.size, hasher.leaf(leaf), proof, root=checkpoint.root
    )
    _leaf_records(leaf, usage)
    return checkpoint


def _leaf_records(leaf: bytes, usage: Mapping[str, Any]) -> None:
    """The leaf is the audit entry of this very use: action, terminal, busiType and method agree."""
    try:
        entry = orjson.loads(leaf)
        details = orjson.loads(entry["details"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise InvalidProof("the leaf is not an audit entry") from None
    recorded = (entry.get("action"), details.get("terminal"), details.get("busi_type"), details.get("method"))
    shown = ("ecard.used", usage.get("terminalNo"), usage.get("busiType"), usage.get("method"))
    if recorded != shown:
        raise InvalidProof("the proven leaf records another use than the one shown")
