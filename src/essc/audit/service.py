"""The audit logs: sequencing entries into signed Merkle trees, proofs, cosignatures, and verification.

Appending is `repository.append`, in the transaction of the change (no shared row). The sequencer leads one
log at a time and, in one transaction, gives committed entries consecutive leaf indexes, extends the tiles
and signs the new tree head: a crash anywhere rolls all of it back, so nothing is lost or sequenced twice.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from essc.audit import repository
from essc.audit.errors import (
    CosignatureInvalid,
    LeafNotInTree,
    TreeSizeUnavailable,
    UnknownLog,
    UnknownWitness,
)
from essc.audit.leaves import leaf_bytes
from essc.audit.models import AuditCosignature, AuditTreeHead
from essc.audit.schemas import (
    NATIONAL_LOG,
    ConsistencyProofOut,
    CosignatureIn,
    Finding,
    InclusionProofOut,
    LeafOut,
    LeavesOut,
    PendingAuditEntry,
    VerificationReport,
)
from essc.core.db import Session
from essc.core.platform import Platform
from essc.kit.checkpoints import (
    Checkpoint,
    Cosignature,
    InvalidNote,
    NoteKey,
    note_key_id,
    open_note,
    sign_note,
    signature_type,
    verify_cosignature,
)
from essc.kit.crypto.base import CryptoSuite
from essc.kit.errors import KeyNotFound, MalformedKey
from essc.kit.ids import new_id
from essc.kit.keystore import KeyPurpose
from essc.kit.merkle import (
    TILE_WIDTH,
    InvalidProof,
    MemoryTree,
    TreeHasher,
    consistency_proof,
    extend_tiles,
    inclusion_proof,
    root_of,
    tile_node_reader,
    tiles_of,
    verify_consistency,
)

DEFAULT_BATCH = 20_000
MAX_LEAVES_PAGE = 1000


def hasher_of(suite: CryptoSuite) -> TreeHasher:
    """The tree hash of the suite: SM3 in the sm suite."""
    return TreeHasher(suite.hash)


def origin_of(platform: Platform, log: str) -> str:
    return f"{platform.settings.audit_origin}/{log}"


def _is_log(log: str) -> bool:
    return len(log) == 2 and log.isdigit()


# -- sequencing ------------------------------------------------------------------------------------


def sequence_log(session: Session, platform: Platform, log: str, batch: int = DEFAULT_BATCH) -> int:
    """Sequence up to `batch` committed entries of the log and sign the new tree head; 0 if another leads.

    The caller commits (one transaction: indexes, tiles and the signed head together, or none of them).
    """
    if not repository.lead(session, log):
        return 0
    hasher = hasher_of(platform.suite)
    latest = repository.latest_head(session, log)
    size = latest.size if latest is not None else 0
    # Leaves that hold an index beyond the signed tree: the chained entries the migration to 0004 carried
    # over in their chain order. They are taken first, as they are; then the committed, unsequenced entries.
    carried = repository.leaves(session, log, size, size + batch)
    carried = [row for n, row in enumerate(carried) if row[0] == size + n]
    rows = [row[1:] for row in carried] or repository.take_unsequenced(session, log, size, batch)
    if not rows:
        return 0
    leaf_hashes = [hasher.leaf(leaf_bytes(row)) for row in rows]
    cache: dict[tuple[int, int], bytes] = {}

    def read(level: int, index: int) -> bytes:
        if (level, index) not in cache:
            cache[(level, index)] = repository.read_tile(session, log, level, index)
        return cache[(level, index)]

    changed = extend_tiles(hasher, size, leaf_hashes, read)
    cache.update(changed)
    new_size = size + len(rows)
    root = root_of(hasher, new_size, tile_node_reader(hasher, read))
    repository.save_tiles(session, log, changed)
    signer = platform.keys.signer(KeyPurpose.AUDIT_LOG)
    origin = origin_of(platform, log)
    key_id = note_key_id(origin, signature_type(platform.suite), signer.public_key())
    note = sign_note(Checkpoint(origin, new_size, root).body(), origin, key_id, signer.sign)
    now = platform.clock.now()
    repository.insert_head(
        session, log=log, size=new_size, root=root, at=now, key_id=signer.key_id, note=note
    )
    if size == 0 and log != NATIONAL_LOG:
        # The national log records every log it has seen open, so a log deleted whole is found (verify).
        repository.append(
            session,
            [
                PendingAuditEntry(
                    id=new_id(),
                    at=now,
                    actor_kind="platform",
                    actor_id="sequencer",
                    action="audit.log_opened",
                    subject_kind="log",
                    subject_id=log,
                    province=None,
                    source_ip=None,
                    request_id=None,
                )
            ],
        )
    return len(rows)


def sequence_all(platform: Platform, batch: int = DEFAULT_BATCH) -> dict[str, int]:
    """Sequence what every log has committed, each batch its own transaction; again only while batches fill.

    A round takes each log once, so entries that keep arriving under load wait for the next round (a second
    later, in the background) and are sequenced in one batch, rather than one batch of a few entries each,
    every one of which would pay for its tiles, its signed tree head and its statements.
    """
    done: dict[str, int] = {}
    while True:
        with platform.session_factory() as session:
            found = repository.logs_to_sequence(session)
        # The national log last, always: a province's first batch records the log's opening in it, and that
        # entry is sequenced in the same round.
        logs = [log for log in found if log != NATIONAL_LOG] + [NATIONAL_LOG]
        backlog = False
        for log in logs:
            with platform.session_factory() as session:
                count = sequence_log(session, platform, log, batch)
                session.commit()
            if count:
                done[log] = done.get(log, 0) + count
            backlog = backlog or count == batch
        if not backlog:
            return done


# -- publishing ------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def checkpoint_note(session: Session, log: str) -> str:
    """The log's latest signed checkpoint with every witness cosignature of it (C2SP signed note)."""
    if not _is_log(log) or (latest := repository.latest_head(session, log)) is None:
        raise UnknownLog(f"no audit log {log!r} with a signed tree head")
    return _cosigned_note(session, log, latest)


def _cosigned_note(session: Session, log: str, head: AuditTreeHead) -> str:
    lines = [c.line for c in repository.cosignatures(session, log, head.size)]
    return head.note + "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _published_size(session: Session, log: str, size: int) -> None:
    if not _is_log(log):
        raise UnknownLog(f"no audit log {log!r}")
    if repository.head(session, log, size) is None:
        raise TreeSizeUnavailable(f"log {log} has no signed tree head of {size} leaves", size=size)


def _tile_nodes(session: Session, platform: Platform, log: str) -> Callable[[int, int], bytes]:
    return tile_node_reader(
        hasher_of(platform.suite), lambda level, index: repository.read_tile(session, log, level, index)
    )


def inclusion(session: Session, platform: Platform, log: str, index: int, size: int) -> InclusionProofOut:
    """Proof that leaf `index` is in the signed tree of `size` leaves."""
    _published_size(session, log, size)
    if not 0 <= index < size:
        raise LeafNotInTree(f"leaf {index} is not in the tree of {size} leaves", index=index, size=size)
    hasher = hasher_of(platform.suite)
    nodes = _tile_nodes(session, platform, log)
    proof = inclusion_proof(hasher, index, size, nodes)
    return InclusionProofOut(
        log=log, index=index, size=size, leaf_hash=_b64(nodes(0, index)), proof=[_b64(p) for p in proof]
    )


def consistency(
    session: Session, platform: Platform, log: str, size1: int, size2: int
) -> ConsistencyProofOut:
    """Proof that the signed tree of `size2` leaves extends its first `size1` (any size a witness holds)."""
    _published_size(session, log, size2)
    if not 0 < size1 <= size2:
        raise TreeSizeUnavailable(f"no consistency proof from {size1} leaves to {size2}", size=size1)
    proof = consistency_proof(hasher_of(platform.suite), size1, size2, _tile_nodes(session, platform, log))
    return ConsistencyProofOut(log=log, size1=size1, size2=size2, proof=[_b64(p) for p in proof])


def leaves(session: Session, log: str, start: int, limit: int) -> LeavesOut:
    """A page of the log's leaves under its latest signed tree head."""
    if not _is_log(log) or (latest := repository.latest_head(session, log)) is None:
        raise UnknownLog(f"no audit log {log!r} with a signed tree head")
    end = min(latest.size, start + max(1, min(limit, MAX_LEAVES_PAGE)))
    rows = repository.leaves(session, log, start, end) if start < end else []
    return LeavesOut(
        log=log,
        leaves=[LeafOut(index=int(row[0]), data=_b64(leaf_bytes(row[1:]))) for row in rows],
        next_start=end if end < latest.size else None,
    )


@dataclass(frozen=True, slots=True)
class LeafProof:
    """An entry's leaf (base64 of its bytes), its index and its inclusion proof (base64 hashes)."""

    log: str
    index: int
    leaf: str
    proof: list[str]


@dataclass(frozen=True, slots=True)
class UsesProven:
    """The log's checkpoint and, by usage id, the proof of each use's entry against it."""

    checkpoint: str | None
    leaves: dict[str, LeafProof]


def proofs_of_uses(
    session: Session, platform: Platform, log: str, ecard_id: str, since: datetime | None
) -> UsesProven:
    """Inclusion proofs of an e-card's sequenced "ecard.used" entries recorded since `since`, by usage id."""
    latest = repository.latest_head(session, log) if since is not None else None
    if since is None or latest is None:
        return UsesProven(None, {})
    hasher = hasher_of(platform.suite)
    nodes = _tile_nodes(session, platform, log)
    proven: dict[str, LeafProof] = {}
    for index, row in repository.uses_of(session, log, ecard_id, since, latest.size):
        usage = orjson.loads(row[-1]).get("usage")
        if isinstance(usage, str):
            proof = inclusion_proof(hasher, index, latest.size, nodes)
            proven[usage] = LeafProof(log, index, _b64(leaf_bytes(row)), [_b64(p) for p in proof])
    return UsesProven(_cosigned_note(session, log, latest), proven)


def add_witness(session: Session, platform: Platform, name: str, public_key_pem: bytes) -> None:
    """Accept the cosignatures of this witness from now on."""
    key = platform.suite.load_public_key(public_key_pem)
    repository.add_witness(session, name, key.to_der(), platform.clock.now())


def witness_keys(session: Session, suite: CryptoSuite) -> list[NoteKey]:
    return [
        NoteKey(w.name, suite.load_public_key(bytes(w.public_key)), suite, cosigner=True)
        for w in repository.witnesses(session)
    ]


def submit_cosignature(session: Session, platform: Platform, log: str, cosigned: CosignatureIn) -> None:
    """Store a registered witness's cosignature of one of the log's signed tree heads, to publish it."""
    _published_size(session, log, cosigned.size)
    stored = repository.head(session, log, cosigned.size)
    assert stored is not None
    try:
        cosignature = Cosignature.parse(cosigned.cosignature)
    except InvalidNote as exc:
        raise CosignatureInvalid(exc.detail) from None
    keys = [k for k in witness_keys(session, platform.suite) if k.name == cosignature.name]
    if not keys:
        raise UnknownWitness(f"{cosignature.name!r} is not a registered witness")
    body = Checkpoint(origin_of(platform, log), stored.size, stored.root).body()
    try:
        verify_cosignature(body, cosignature, keys)
    except InvalidNote as exc:
        raise CosignatureInvalid(exc.detail) from None
    repository.save_cosignature(
        session,
        log=log,
        size=cosigned.size,
        witness=cosignature.name,
        line=cosignature.line(),
        at=platform.clock.now(),
    )


# -- verification ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AcceptedCheckpoint:
    """What a witness last accepted of a log (size, root): finds a rollback or fork the database hides."""

    size: int
    root: bytes


def verify(
    session: Session,
    platform: Platform,
    accepted: Mapping[str, AcceptedCheckpoint] | None = None,
) -> VerificationReport:
    """Recompute every log from its entries; check every tree head, tile, cosignature and consistency."""
    report = VerificationReport()
    logs = set(repository.known_logs(session)) | set(accepted or {})
    opened = set(repository.opened_logs(session, NATIONAL_LOG))
    for log in sorted(logs | opened):
        report.logs += 1
        _verify_log(session, platform, log, report, (accepted or {}).get(log))
    for log in sorted(opened):
        if not any(f.log == log for f in report.findings) and repository.latest_head(session, log) is None:
            report.findings.append(
                Finding(log, None, "the national log recorded this log opened; it is gone")
            )
    return report


def _verify_log(
    session: Session,
    platform: Platform,
    log: str,
    report: VerificationReport,
    accepted: AcceptedCheckpoint | None,
) -> None:
    check = _LogCheck(platform, log, report.findings)
    check.leaves(repository.sequenced(session, log))
    report.leaves += check.tree.size
    check.tiles(repository.tiles(session, log))
    heads = repository.heads(session, log)
    report.tree_heads += len(heads)
    check.heads(heads)
    check.cosignatures(repository.cosignatures(session, log), {h.size for h in heads})
    if accepted is not None:
        check.accepted(accepted)


class _LogCheck:
    """The checks of one log, each adding what it finds."""

    def __init__(self, platform: Platform, log: str, found: list[Finding]) -> None:
        self.platform = platform
        self.log = log
        self.found = found
        self.hasher = hasher_of(platform.suite)
        self.tree = MemoryTree(self.hasher)
        self.stored_tiles: dict[tuple[int, int], bytes] = {}
        self.first_bad: int | None = None
        self.latest = 0

    def add(self, leaf: int | None, reason: str) -> None:
        self.found.append(Finding(self.log, leaf, reason))

    def leaves(self, sequenced: Iterable[tuple[int, tuple[Any, ...]]]) -> None:
        """Recompute the tree from the entries, up to the first missing leaf."""
        for index, row in sequenced:
            if index != self.tree.size:
                self.add(self.tree.size, f"leaves {self.tree.size}..{index - 1} are missing (deleted)")
                return
            self.tree.append(leaf_bytes(row))

    def tiles(self, stored: dict[tuple[int, int], bytes]) -> None:
        """Name the first leaf whose hash is not the one the stored tiles hold."""
        self.stored_tiles = stored
        size = self.hasher.size
        for index in range(self.tree.size):
            tile = stored.get((0, index // TILE_WIDTH), b"")
            at = (index % TILE_WIDTH) * size
            if len(tile) < at + size:
                return  # the tiles end here: leaves past them are judged against the tree heads
            if tile[at : at + size] != self.tree.node(0, index):
                self.first_bad = index
                self.add(
                    index, f"leaf {index} is not the leaf the tree holds (changed, inserted or reordered)"
                )
                return

    def heads(self, heads: list[AuditTreeHead]) -> None:
        """Every signed head: its signature, its root against the leaves, consistency with the one before."""
        nodes = tile_node_reader(self.hasher, lambda level, index: self.stored_tiles.get((level, index), b""))
        previous: AuditTreeHead | None = None
        for stored in heads:
            self.head_signature(stored)
            if stored.size > self.tree.size:
                self.add(
                    self.tree.size,
                    f"tree head {stored.size} is signed over leaves the log no longer holds "
                    f"(it ends at {self.tree.size}): deleted",
                )
            elif self.tree.root(stored.size) != bytes(stored.root) and self.first_bad is None:
                self.add(None, f"tree head {stored.size} does not match the leaves")
            if previous is not None:
                try:
                    proof = consistency_proof(self.hasher, previous.size, stored.size, nodes)
                    verify_consistency(
                        self.hasher,
                        previous.size,
                        stored.size,
                        proof,
                        root1=bytes(previous.root),
                        root2=bytes(stored.root),
                    )
                except InvalidProof:
                    self.add(None, f"tree head {stored.size} is not consistent with {previous.size}: forked")
            previous = stored
        self.latest = heads[-1].size if heads else 0
        if self.tree.size > self.latest and not any(f.log == self.log for f in self.found):
            self.add(self.latest, f"leaves {self.latest}..{self.tree.size - 1} are under no signed tree head")
        expected = dict(tiles_of(MemoryTree(self.hasher, self.tree.levels[0][: self.latest])))
        if self.stored_tiles != expected and self.first_bad is None:
            self.add(None, "the stored tiles do not hold the tree of the leaves")

    def head_signature(self, stored: AuditTreeHead) -> None:
        origin = origin_of(self.platform, self.log)
        try:
            key = NoteKey(origin, self.platform.keys.public_key(stored.key_id), self.platform.suite)
            body, _ = open_note(stored.note, key)
        except (InvalidNote, KeyNotFound, MalformedKey) as exc:
            self.add(None, f"tree head {stored.size}: {exc.detail}")
            return
        if body != Checkpoint(origin, stored.size, bytes(stored.root)).body():
            self.add(None, f"tree head {stored.size}: its signed note names another tree")

    def cosignatures(self, cosigned: list[AuditCosignature], sizes: set[int]) -> None:
        """A cosignature of a tree the log no longer has is evidence of a rollback."""
        for item in cosigned:
            if item.size > self.latest:
                self.add(
                    self.latest,
                    f"witness {item.witness} cosigned {item.size} leaves, the latest tree head has "
                    f"{self.latest}: rolled back",
                )
            elif item.size not in sizes:
                self.add(None, f"the tree head of {item.size} leaves witness {item.witness} cosigned is gone")

    def accepted(self, accepted: AcceptedCheckpoint) -> None:
        """What a witness accepted must still be there, the same."""
        if accepted.size > self.latest:
            self.add(
                self.latest,
                f"a witness accepted {accepted.size} leaves, the latest tree head has {self.latest}: "
                "rolled back",
            )
        elif accepted.size <= self.tree.size and self.tree.root(accepted.size) != accepted.root:
            self.add(None, f"the tree of {accepted.size} leaves a witness accepted differs: forked")
