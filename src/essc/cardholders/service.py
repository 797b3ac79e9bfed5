"""Rules of the cardholder base: loading holders, reading them (masked or audited clear), card events."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple, Protocol

from essc.cardholders import repository
from essc.cardholders.errors import CardNotFound, CardTransitionRefused, EventConflict, ReplacementMissing
from essc.cardholders.events import CardChanged
from essc.cardholders.importfile import HolderRecord
from essc.cardholders.lifecycle import CardEventType, CardStatus, next_status
from essc.cardholders.models import Card, CardEvent
from essc.cardholders.schemas import CardEventIn, CardEventOut, ClearPerson, NewCard
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.kit.fieldcrypt import BlindIndex, FieldCipher
from essc.kit.idnumber import birth_date_of
from essc.kit.ids import new_id
from essc.kit.masking import mask_card_number, mask_id_number, mask_name
from essc.shared.provinces import WrongProvince


def field_aad(province: str, person_id: str, column: str) -> str:
    """Binds a ciphertext to its row and column so it cannot be pasted elsewhere."""
    return f"persons/{province}/{person_id}/{column}"


def aac002_index(platform: Platform, aac002: str) -> bytes:
    return platform.blind_index.of("aac002", aac002)


def content_digest(index: BlindIndex, record: HolderRecord) -> bytes:
    """Keyed digest of a holder's clear fields: a re-import tells "same" from "changed" without decrypting."""
    # Keyed, so the digest of a low-entropy ID number cannot be brute-forced from a database copy.
    return index.of("person", f"{record.aac002}\x00{record.aac003}\x00{record.aac067 or ''}")


def _content_digest(platform: Platform, record: HolderRecord) -> bytes:
    return content_digest(platform.blind_index, record)


def person_fields(
    cipher: FieldCipher, index: BlindIndex, province: str, person_id: str, record: HolderRecord
) -> dict[str, Any]:
    """A person row's encrypted, masked and digested columns, sealed to that row."""
    return seal_persons(cipher, index, province, [(person_id, record)])[0]._asdict()


class SealedPerson(NamedTuple):
    """A person row's encrypted, masked and digested columns (person_fields as a tuple)."""

    aac002_cipher: bytes
    aac003_cipher: bytes
    aac067_cipher: bytes | None
    aac002_masked: str
    aac003_masked: str
    content_digest: bytes


def seal_persons(
    cipher: FieldCipher, index: BlindIndex, province: str, holders: Sequence[tuple[str, HolderRecord]]
) -> list[SealedPerson]:
    """person_fields of many (person id, record) at once: every field of them sealed in one batch."""
    fields: list[tuple[str, str]] = []
    for person_id, record in holders:
        fields.append((record.aac002, field_aad(province, person_id, "aac002")))
        fields.append((record.aac003, field_aad(province, person_id, "aac003")))
        if record.aac067:
            fields.append((record.aac067, field_aad(province, person_id, "aac067")))
    sealed = iter(cipher.encrypt_many(fields))
    return [
        SealedPerson(
            next(sealed),
            next(sealed),
            next(sealed) if record.aac067 else None,
            mask_id_number(record.aac002),
            mask_name(record.aac003),
            content_digest(index, record),
        )
        for _person_id, record in holders
    ]


def _person_fields(platform: Platform, province: str, person_id: str, record: HolderRecord) -> dict[str, Any]:
    return person_fields(platform.fields, platform.blind_index, province, person_id, record)


@dataclass(slots=True)
class BatchResult:
    """What one batch of holder records did."""

    persons_added: int = 0
    persons_updated: int = 0
    cards_added: int = 0
    cards_updated: int = 0
    unchanged: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Batch:
    """What one load_holders call has seen and will insert."""

    province: str
    now: datetime
    existing_persons: dict[bytes, tuple[str, str, bytes]]
    existing_cards: dict[str, Card]
    new_persons: list[dict[str, Any]] = field(default_factory=list)
    new_cards: list[dict[str, Any]] = field(default_factory=list)
    seen_in_batch: dict[bytes, str] = field(default_factory=dict)
    cards_in_batch: dict[str, str] = field(default_factory=dict)  # aaz500 -> person id, of new_cards


def load_holders(uow: UnitOfWork, province: str, rows: Iterable[tuple[int, HolderRecord]]) -> BatchResult:
    """Insert or update a batch of holders and their cards; a record already loaded as is changes nothing."""
    platform, session = uow.platform, uow.session
    result = BatchResult()
    indexed: list[tuple[int, HolderRecord, bytes]] = []
    for line, record in rows:
        if record.aab301[:2] != province:
            result.rejected.append((line, f"aab301 {record.aab301} is not in province {province}"))
            continue
        indexed.append((line, record, aac002_index(platform, record.aac002)))
    batch = _Batch(
        province,
        uow.clock.now(),
        repository.persons_by_index(session, [index for _, _, index in indexed]),
        repository.cards_by_number(session, province, [record.aaz500 for _, record, _ in indexed]),
    )
    for line, record, index in indexed:
        person = _load_person(uow, batch, record, index)
        if isinstance(person, Rejection):
            result.rejected.append((line, person.reason))
            continue
        person_id, person_change = person
        card_change = _load_card(batch, record, person_id)
        if isinstance(card_change, Rejection):
            result.rejected.append((line, card_change.reason))
            continue
        result.persons_added += person_change == "added"
        result.persons_updated += person_change == "updated"
        result.cards_added += card_change == "added"
        result.cards_updated += card_change == "updated"
        if person_change == card_change == "unchanged":
            result.unchanged += 1
        else:
            uow.audit(
                "holder.loaded",
                "person",
                person_id,
                province,
                line=line,
                person=person_change,
                card=card_change,
                aaz500=record.aaz500,
            )
    repository.insert_persons(session, batch.new_persons)
    repository.insert_cards(session, batch.new_cards)
    session.flush()
    return result


@dataclass(frozen=True)
class Rejection:
    """Why one record of a batch was not loaded."""

    reason: str


def _load_person(
    uow: UnitOfWork, batch: _Batch, record: HolderRecord, index: bytes
) -> tuple[str, str] | Rejection:
    platform, province = uow.platform, batch.province
    if index in batch.existing_persons:
        person_province, person_id, old_digest = batch.existing_persons[index]
        if person_province != province:
            return Rejection(f"aac002 is already held by province {person_province}")
        digest = _content_digest(platform, record)
        if old_digest == digest:
            return person_id, "unchanged"
        repository.update_person_fields(
            uow.session,
            province,
            person_id,
            {**_person_fields(platform, province, person_id, record), "updated_at": batch.now},
        )
        batch.existing_persons[index] = (province, person_id, digest)
        return person_id, "updated"
    if index in batch.seen_in_batch:
        return batch.seen_in_batch[index], "unchanged"
    person_id = new_id()
    batch.seen_in_batch[index] = person_id
    batch.new_persons.append(
        {
            "province": province,
            "id": person_id,
            "aac002_index": index,
            "created_at": batch.now,
            "updated_at": batch.now,
            **_person_fields(platform, province, person_id, record),
        }
    )
    return person_id, "added"


def _load_card(batch: _Batch, record: HolderRecord, person_id: str) -> str | Rejection:
    card = batch.existing_cards.get(record.aaz500)
    if card is None and record.aaz500 in batch.cards_in_batch:
        # An earlier line of this batch brought the card: the same holder again changes nothing.
        if batch.cards_in_batch[record.aaz500] != person_id:
            return Rejection(f"aaz500 {mask_card_number(record.aaz500)} belongs to another person")
        return "unchanged"
    if card is None:
        batch.cards_in_batch[record.aaz500] = person_id
        batch.new_cards.append(
            {
                "province": batch.province,
                "id": new_id(),
                "person_id": person_id,
                "aaz500": record.aaz500,
                "aaz501": record.aaz501,
                "aab301": record.aab301,
                "generation": record.generation,
                "bank_account_active": record.bank_account_active,
                "status": record.card_status,
                "chip_public_key": None,
                "issued_at": batch.now,
                "status_changed_at": batch.now,
            }
        )
        return "added"
    if card.person_id != person_id:
        return Rejection(f"aaz500 {mask_card_number(record.aaz500)} belongs to another person")
    if (card.aaz501, card.aab301, card.generation, card.bank_account_active) == (
        record.aaz501,
        record.aab301,
        record.generation,
        record.bank_account_active,
    ):
        return "unchanged"
    # Status is not taken from a file once the card exists: it moves only through card events.
    card.aaz501, card.aab301 = record.aaz501, record.aab301
    card.generation, card.bank_account_active = record.generation, record.bank_account_active
    return "updated"


class EncryptedPerson(Protocol):
    """A person row, or the part of it read with a hot-path statement: whose fields, and their ciphertexts."""

    @property
    def province(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def aac002_cipher(self) -> bytes: ...
    @property
    def aac003_cipher(self) -> bytes: ...
    @property
    def aac067_cipher(self) -> bytes | None: ...


def read_clear_person(uow: UnitOfWork, person: EncryptedPerson, purpose: str | None) -> ClearPerson:
    """Decrypt a person's fields for a caller entitled to them; the read itself is audited.

    `purpose` None: the caller's statement already wrote the read's audit entry (essc.qr.repository).
    """
    cipher = uow.platform.fields
    aac067 = (
        cipher.decrypt(person.aac067_cipher, field_aad(person.province, person.id, "aac067"))
        if person.aac067_cipher
        else None
    )
    clear = ClearPerson(
        aac002=cipher.decrypt(person.aac002_cipher, field_aad(person.province, person.id, "aac002")),
        aac003=cipher.decrypt(person.aac003_cipher, field_aad(person.province, person.id, "aac003")),
        aac067=aac067,
    )
    if purpose is not None:
        uow.audit("person.clear_read", "person", person.id, person.province, purpose=purpose)
    return clear


def birth_date(uow: UnitOfWork, person: EncryptedPerson) -> date:
    """The holder's birth date from the encrypted aac002, for a rule that needs it (the password rule)."""
    # Not audited as a clear read: nothing of it leaves the platform. A clear column of it beside the masked
    # aac002 would narrow the ID number to a handful of candidates.
    cipher, aad = person.aac002_cipher, field_aad(person.province, person.id, "aac002")
    aac002 = uow.platform.fields.decrypt(cipher, aad)
    return birth_date_of(aac002)


def _record_event(
    uow: UnitOfWork, card: Card, event: CardEventIn, previous: str, replacement_id: str | None
) -> CardEvent:
    row = CardEvent(
        province=card.province,
        id=new_id(),
        card_id=card.id,
        source_event_id=event.event_id,
        event_type=event.type,
        from_status=previous,
        to_status=card.status,
        replacement_card_id=replacement_id,
        occurred_at=event.occurred_at,
        recorded_at=uow.clock.now(),
    )
    uow.session.add(row)
    return row


def _issue_replacement(uow: UnitOfWork, old: Card, new: NewCard, now: datetime) -> Card:
    if new.aab301[:2] != old.province:
        raise WrongProvince(f"the new card's aab301 {new.aab301} is not in province {old.province}")
    if repository.card_by_number(uow.session, old.province, new.aaz500) is not None:
        raise CardTransitionRefused(f"the new card aaz500 {new.aaz500} already exists")
    replacement = Card(
        province=old.province,
        id=new_id(),
        person_id=old.person_id,
        aaz500=new.aaz500,
        aaz501=new.aaz501,
        aab301=new.aab301,
        generation=new.generation,
        bank_account_active=new.bank_account_active,
        status=CardStatus.NORMAL,
        chip_public_key=None,
        issued_at=now,
        status_changed_at=now,
    )
    uow.session.add(replacement)
    return replacement


def apply_card_event(uow: UnitOfWork, province: str, event: CardEventIn) -> CardEventOut:
    """Apply one event of a province's card system; the same eventId again returns the first outcome."""
    session = uow.session
    earlier = repository.event_by_source(session, province, event.event_id)
    if earlier is not None:
        card = repository.card(session, province, earlier.card_id)
        if card is None or card.aaz500 != event.aaz500 or earlier.event_type != event.type:
            raise EventConflict(f"eventId {event.event_id} was already used for another card or event type")
        earlier_replacement = repository.card(session, province, earlier.replacement_card_id or "")
        return CardEventOut.of(
            earlier, card.aaz500, earlier_replacement.aaz500 if earlier_replacement else None, replayed=True
        )

    card = repository.card_for_update(session, province, event.aaz500)
    if card is None:
        raise CardNotFound(f"province {province} has no card aaz500 {event.aaz500}", field="aaz500")
    target = next_status(CardStatus(card.status), event.type)
    if target is None:
        raise CardTransitionRefused(
            f"card {event.aaz500} is {card.status}; event {event.type.value} is not allowed from there",
            card_status=card.status,
        )
    now = uow.clock.now()
    replacement: Card | None = None
    if event.type is CardEventType.REPLACED:
        if event.new_card is None:
            raise ReplacementMissing("a 'replaced' event must carry newCard", field="newCard")
        replacement = _issue_replacement(uow, card, event.new_card, now)
    previous = card.status
    card.status, card.status_changed_at = target, now
    session.flush()
    row = _record_event(uow, card, event, previous, replacement.id if replacement else None)
    session.flush()
    uow.audit(
        "card.status_changed",
        "card",
        card.id,
        province,
        event=event.type.value,
        event_id=event.event_id,
        previous=previous,
        status=target.value,
        replacement_card_id=replacement.id if replacement else None,
    )
    uow.record(CardChanged(card, replacement, event.type))
    return CardEventOut.of(row, card.aaz500, replacement.aaz500 if replacement else None, replayed=False)
