"""A province's daily feed of holder changes, applied idempotently and in each holder's event order.

A feed is NDJSON, one change per line, each naming its holder (aac002) and the holder's event sequence
number ``seq`` (docs/bulk-import.md). A change whose seq is not above the last one applied to that holder is
older than what the platform holds: it is ignored and reported, so a feed applied twice or late changes
nothing. Card events go through the card-events service (apply_card_event), so e-cards follow and channels
are told exactly as when the province calls the API. Batches commit on their own with a ledger row and one
audit entry carrying the Merkle root of the rows they left, as the bulk import does; a rerun resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from essc.cardholders import repository
from essc.cardholders.bulk import BulkReport, file_digest, row_leaf, subject_of
from essc.cardholders.importfile import COLUMNS, GoodRow, HolderRecord, ImportFileError, ndjson_row
from essc.cardholders.models import Card, HolderFeedMark, ImportBatch, Person
from essc.cardholders.schemas import CardEventIn
from essc.cardholders.service import (
    aac002_index,
    apply_card_event,
    field_aad,
    load_holders,
    person_fields,
)
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.kit.errors import EsscError
from essc.kit.idnumber import InvalidIdNumber, normalise_id_number
from essc.kit.masking import mask_card_number
from essc.kit.merkle import MemoryTree, TreeHasher
from essc.kit.names import InvalidName, check_person_name

FEED_ACTION = "holders.feed_applied"
DEFAULT_FEED_BATCH = 1000
CHANGE_TYPES = ("new_person", "person_changed", "card_event", "bank_account_activated")


@dataclass(frozen=True, slots=True)
class Change:
    """One line of a feed, checked: whose change (by blind index), its sequence number and what it says."""

    line: int
    seq: int
    aac002: str
    kind: str
    body: dict[str, Any]


class _BadChange(ValueError):
    """Why a feed line cannot be applied (masked values only)."""


def _parse(number: int, raw: bytes) -> Change | None:
    """A feed line as a Change; None for a blank line; _BadChange when it cannot be one."""
    if not raw.strip():
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _BadChange(f"invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise _BadChange(f"expected a JSON object, got {type(value).__name__}")
    kind, seq, aac002 = value.get("type"), value.get("seq"), value.get("aac002")
    if kind not in CHANGE_TYPES:
        raise _BadChange(f"type must be one of {', '.join(CHANGE_TYPES)}")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise _BadChange("seq must be a non-negative integer")
    if not isinstance(aac002, str):
        raise _BadChange("aac002 must be a string")
    try:
        aac002 = normalise_id_number(aac002.strip())
    except InvalidIdNumber:
        raise _BadChange("aac002 is not a valid ID number") from None
    return Change(number, seq, aac002, kind, value)


@dataclass(slots=True)
class _Applied:
    """What one batch did: rows touched (for the batch root), counts and reasons."""

    touched: dict[tuple[str, str], Card] = field(default_factory=dict)
    bad: list[tuple[int, str]] = field(default_factory=list)
    ignored: list[tuple[int, str]] = field(default_factory=list)
    applied: int = 0


def _apply(uow: UnitOfWork, province: str, change: Change, out: _Applied) -> None:
    """Apply one change in a savepoint: a refused change is reported and leaves nothing behind."""
    index = aac002_index(uow.platform, change.aac002)
    mark = uow.session.get(HolderFeedMark, (province, index))
    if mark is not None and change.seq <= mark.last_seq:
        out.ignored.append(
            (change.line, f"seq {change.seq} is not after seq {mark.last_seq} already applied")
        )
        return
    savepoint = uow.session.begin_nested()
    try:
        _apply_kind(uow, province, change, index, out)
    except (EsscError, _BadChange) as exc:
        savepoint.rollback()
        reason = exc.detail if isinstance(exc, EsscError) else str(exc)
        out.bad.append((change.line, reason))
        return
    savepoint.commit()
    now = uow.clock.now()
    if mark is None:
        uow.session.add(
            HolderFeedMark(province=province, aac002_index=index, last_seq=change.seq, updated_at=now)
        )
    else:
        mark.last_seq, mark.updated_at = change.seq, now
    uow.session.flush()
    out.applied += 1


def _person(uow: UnitOfWork, province: str, index: bytes) -> Person:
    person = repository.person_by_index(uow.session, index)
    if person is None or person.province != province:
        raise _BadChange(f"no holder with this aac002 in province {province}")
    return person


def _card_of(uow: UnitOfWork, person: Person, aaz500: object) -> Card:
    card = repository.card_by_number(uow.session, person.province, str(aaz500))
    if card is None or card.person_id != person.id:
        raise _BadChange(f"aaz500 {mask_card_number(str(aaz500))} is not a card of this holder")
    return card


def _apply_kind(uow: UnitOfWork, province: str, change: Change, index: bytes, out: _Applied) -> None:
    body = change.body
    card: Card | None
    if change.kind == "new_person":
        holder = orjson.dumps({key: body.get(key) for key in COLUMNS if key in body}).decode("utf-8")
        row = ndjson_row(change.line, holder)
        if not isinstance(row, GoodRow):
            raise _BadChange(row.reason if row is not None else "an empty holder")
        record = row.record
        if record.aab301[:2] != province:
            raise _BadChange(f"aab301 {record.aab301} is not in province {province}")
        result = load_holders(uow, province, [(change.line, record)])
        if result.rejected:
            raise _BadChange(result.rejected[0][1])
        person = _person(uow, province, index)
        card = _card_of(uow, person, record.aaz500)
    elif change.kind == "person_changed":
        person = _person(uow, province, index)
        fields = uow.platform.fields
        name = body.get(
            "aac003", fields.decrypt(person.aac003_cipher, field_aad(province, person.id, "aac003"))
        )
        phone = body["aac067"] if "aac067" in body else _phone(uow, person)
        try:
            name = check_person_name(str(name).strip())
        except InvalidName as exc:
            raise _BadChange(f"aac003 {'*' * len(str(name))}: {exc}") from None
        if phone is not None and not (isinstance(phone, str) and len(phone) == 11 and phone.isdigit()):
            raise _BadChange("aac067 must be 11 digits or null")
        cards = repository.cards_of_person(uow.session, province, person.id)
        template = HolderRecord(change.aac002, name, phone, "", "", "", 2, False, "normal")
        sealed = person_fields(fields, uow.platform.blind_index, province, person.id, template)
        repository.update_person_fields(
            uow.session, province, person.id, {**sealed, "updated_at": uow.clock.now()}
        )
        uow.session.refresh(person)
        uow.audit("holder.changed_by_feed", "person", person.id, province, line=change.line, seq=change.seq)
        card = cards[0] if cards else None
    elif change.kind == "bank_account_activated":
        person = _person(uow, province, index)
        card = _card_of(uow, person, body.get("aaz500"))
        card.bank_account_active = True
        uow.audit("card.bank_account_activated", "card", card.id, province, seq=change.seq)
    else:
        person = _person(uow, province, index)
        try:
            event = CardEventIn.model_validate(body.get("event"))
        except ValidationError as exc:
            raise _BadChange(f"event is not a card event: {exc.error_count()} problem(s)") from None
        card = _card_of(uow, person, event.aaz500)
        apply_card_event(uow, province, event)
    uow.session.flush()
    if card is not None:
        out.touched[(person.id, card.aaz500)] = card


def _phone(uow: UnitOfWork, person: Person) -> str | None:
    if person.aac067_cipher is None:
        return None
    return uow.platform.fields.decrypt(person.aac067_cipher, field_aad(person.province, person.id, "aac067"))


def _lines(
    path: Path, start: int, line: int, size: int
) -> Iterator[tuple[int, int, list[tuple[int, bytes]]]]:
    with path.open("rb") as handle:
        handle.seek(start)
        while True:
            batch: list[tuple[int, bytes]] = []
            while len(batch) < size and (raw := handle.readline()):
                line += 1
                batch.append((line, raw))
            if not batch:
                return
            yield line, handle.tell(), batch


def apply_feed(
    platform: Platform,
    province: str,
    path: Path,
    actor: Actor,
    *,
    batch_size: int = DEFAULT_FEED_BATCH,
    progress: Callable[[BulkReport], None] | None = None,
) -> FeedReport:
    """Apply a feed file batch by batch; a rerun resumes after its last committed batch, changing nothing."""
    if not path.is_file():
        raise ImportFileError(f"cannot read {path}: no such file", path=str(path))
    digest = file_digest(platform.suite, path)
    report = FeedReport(bytes_total=path.stat().st_size)
    with platform.session_factory() as session:
        done = repository.import_batches(session, digest)
    start = line = batch_no = 0
    if done:
        start, line, batch_no = done[-1].byte_end, done[-1].last_line, done[-1].batch_no + 1
        report.resumed_batches = len(done)
    started = time.monotonic()
    for last_line, byte_end, lines in _lines(path, start, line, batch_size):
        changes: list[Change] = []
        bad: list[tuple[int, str]] = []
        for number, raw in lines:
            try:
                change = _parse(number, raw)
            except _BadChange as exc:
                bad.append((number, str(exc)))
                continue
            if change is not None:
                changes.append(change)
        # Each holder's changes in their own order: a feed may list a holder's events out of order.
        changes.sort(key=lambda c: (c.aac002, c.seq, c.line))
        out = _Applied(bad=bad)
        with UnitOfWork(platform, RequestContext(actor=actor)) as uow:
            for change in changes:
                _apply(uow, province, change, out)
            # The batch root: an RFC 9162 tree over the rows the batch left, as a bulk import batch's.
            tree = MemoryTree(TreeHasher(platform.suite.hash))
            for (person_id, _), card in sorted(out.touched.items()):
                person = repository.person(uow.session, province, person_id)
                assert person is not None
                tree.append(
                    row_leaf(province, bytes(person.aac002_index), bytes(person.content_digest), card)
                )
            root = tree.root()
            uow.audit(
                FEED_ACTION,
                "import_batch",
                subject_of(digest, batch_no),
                province,
                file=digest,
                batch=batch_no,
                first_line=lines[0][0],
                last_line=last_line,
                rows=tree.size,
                root=root.hex(),
                applied=out.applied,
                ignored=len(out.ignored),
                rejected=len(out.bad),
            )
            uow.session.add(
                ImportBatch(
                    file_digest=digest,
                    batch_no=batch_no,
                    province=province,
                    kind="feed",
                    status="committed",
                    first_line=lines[0][0],
                    last_line=last_line,
                    byte_end=byte_end,
                    rows=len(changes),
                    changed=out.applied,
                    root=root,
                    row_digests=b"".join(tree.levels[0]),
                    rejected="".join(f"{n}\t{reason}\n" for n, reason in sorted(out.bad)),
                    committed_at=uow.clock.now(),
                )
            )
            uow.commit()
        report.rows += len(changes) + len(bad)
        report.applied += out.applied
        report.ignored.extend(out.ignored)
        report.bad_rows.extend(out.bad)
        report.batches += 1
        report.bytes_done = byte_end
        report.seconds = time.monotonic() - started
        if progress:
            progress(report)
        batch_no += 1
    report.bad_rows.sort()
    report.ignored.sort()
    return report


@dataclass(slots=True)
class FeedReport(BulkReport):
    """A bulk report plus the changes applied and those ignored as older than what was applied."""

    applied: int = 0
    ignored: list[tuple[int, str]] = field(default_factory=list)
