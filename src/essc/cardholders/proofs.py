"""Proof that a holder was imported: the row digest, its path to the batch root, the batch entry in the log.

A bulk import writes one audit entry per batch, carrying the Merkle root of the batch's row digests
(bulk.row_leaf); the ledger keeps the digests. So one holder is provable without one log leaf per row:
row digest -> batch root (the path within the batch) -> the batch's audit entry -> the province log's signed
tree head (the entry's inclusion proof). docs/bulk-import.md describes the checks; verify_import_proof
makes them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import orjson

from essc.audit import repository as audit_repository
from essc.audit import service as audit_service
from essc.audit.leaves import LEAF_COLUMNS, leaf_bytes
from essc.cardholders import repository
from essc.cardholders.bulk import BATCH_ACTION, BATCH_SUBJECT, row_leaf, subject_of
from essc.cardholders.errors import ImportNotSequenced, PersonNotFound, RowNotImported
from essc.cardholders.service import aac002_index
from essc.core.db import Session
from essc.core.platform import Platform
from essc.kit.merkle import InvalidProof, MemoryTree, TreeHasher, verify_inclusion


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@dataclass(frozen=True, slots=True)
class ImportProof:
    """Everything a verifier needs, hashes in base64; `checkpoint` is the log's signed note it ends in."""

    log: str
    row_digest: str
    file_digest: str
    batch_no: int
    position: int
    batch_rows: int
    batch_root: str
    batch_path: list[str]
    entry: str
    log_index: int
    log_size: int
    log_path: list[str]
    checkpoint: str

    def as_json(self) -> bytes:
        return orjson.dumps(self, option=orjson.OPT_INDENT_2)


def prove_import(session: Session, platform: Platform, aac002: str) -> ImportProof:
    """The proof that the holder's current row was loaded by a bulk import batch now in the signed log."""
    hasher = audit_service.hasher_of(platform.suite)
    person = repository.person_by_index(session, aac002_index(platform, aac002))
    if person is None:
        raise PersonNotFound("no cardholder with this aac002")
    found = None
    for card in repository.cards_of_person(session, person.province, person.id):
        digest = hasher.leaf(
            row_leaf(person.province, bytes(person.aac002_index), bytes(person.content_digest), card)
        )
        found = repository.batch_holding(session, person.province, digest)
        if found is not None:
            break
    if found is None:
        raise RowNotImported("the holder's current row was not loaded by a bulk import batch")
    batch, position = found
    size = hasher.size
    leaves = [bytes(batch.row_digests[i : i + size]) for i in range(0, len(batch.row_digests), size)]
    tree = MemoryTree(hasher, leaves)
    entries = audit_repository.entry_of_subject(
        session, BATCH_SUBJECT, subject_of(batch.file_digest, batch.batch_no), limit=1
    )
    latest = audit_repository.latest_head(session, batch.province)
    if not entries or entries[0].leaf_index is None or latest is None or entries[0].leaf_index >= latest.size:
        raise ImportNotSequenced(
            "the batch's audit entry is not under a signed tree head yet; try again shortly"
        )
    entry = entries[0]
    assert entry.leaf_index is not None
    included = audit_service.inclusion(session, platform, batch.province, entry.leaf_index, latest.size)
    row = tuple(getattr(entry, column) for column in LEAF_COLUMNS)
    return ImportProof(
        log=batch.province,
        row_digest=_b64(leaves[position]),
        file_digest=batch.file_digest,
        batch_no=batch.batch_no,
        position=position,
        batch_rows=len(leaves),
        batch_root=_b64(bytes(batch.root)),
        batch_path=[_b64(p) for p in tree.inclusion_proof(position)],
        entry=_b64(leaf_bytes(row)),
        log_index=entry.leaf_index,
        log_size=latest.size,
        log_path=included.proof,
        checkpoint=audit_service.checkpoint_note(session, batch.province),
    )


def verify_import_proof(hasher: TreeHasher, proof: ImportProof, log_root: bytes) -> None:
    """Return if the proof leads from the row digest to `log_root` (the checked tree head's root)."""
    root = _unb64(proof.batch_root)
    verify_inclusion(
        hasher,
        proof.position,
        proof.batch_rows,
        _unb64(proof.row_digest),
        [_unb64(p) for p in proof.batch_path],
        root=root,
    )
    entry_bytes = _unb64(proof.entry)
    entry = orjson.loads(entry_bytes)
    details = orjson.loads(entry["details"])
    if entry["action"] != BATCH_ACTION or details.get("root") != root.hex():
        raise InvalidProof("the audit entry is not the batch entry carrying this batch root")
    if (details.get("file"), details.get("batch"), details.get("rows")) != (
        proof.file_digest,
        proof.batch_no,
        proof.batch_rows,
    ):
        raise InvalidProof("the audit entry names another file, batch or row count")
    verify_inclusion(
        hasher,
        proof.log_index,
        proof.log_size,
        hasher.leaf(entry_bytes),
        [_unb64(p) for p in proof.log_path],
        root=log_root,
    )
