"""The audit chain finds a changed, removed or reordered entry; changes and clear reads are audited."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from essc.audit import service
from essc.audit.models import AuditEntry, AuditHead
from essc.core.platform import Platform
from factories import app_client, channel, holder, issue_request, load


def _entries(platform: Platform) -> list[AuditEntry]:
    with platform.session_factory() as session:
        return list(session.execute(select(AuditEntry).order_by(AuditEntry.stream, AuditEntry.seq)).scalars())


def _verify(platform: Platform) -> list[str]:
    with platform.session_factory() as session:
        return [b.reason for b in service.verify(session, platform.suite, platform.keys).breaks]


def _with_history(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    app = channel(platform, app_client(platform))
    app.client.post("/v1/ecards/issuance", issue_request(platform, record))


def test_every_change_and_clear_read_is_audited_with_who_and_request(platform: Platform) -> None:
    _with_history(platform)
    actions = {e.action: e for e in _entries(platform)}
    assert {
        "holder.loaded",
        "channel.registered",
        "person.clear_read",
        "ecard.created",
        "ecard.issued",
    } <= set(actions)
    issued = actions["ecard.issued"]
    assert issued.actor_kind == "channel"
    assert issued.request_id
    assert issued.province == "44"
    assert _verify(platform) == []


def test_one_flipped_byte_is_found(platform: Platform) -> None:
    _with_history(platform)
    victim = _entries(platform)[1]
    flipped = bytearray(victim.details.encode())
    flipped[0] ^= 0x01
    with platform.session_factory() as session:
        session.execute(
            update(AuditEntry)
            .where(AuditEntry.stream == victim.stream, AuditEntry.seq == victim.seq)
            .values(details=flipped.decode("latin-1"))
        )
        session.commit()
    assert "content does not match its MAC" in _verify(platform)


def test_a_removed_entry_is_found(platform: Platform) -> None:
    _with_history(platform)
    victim = _entries(platform)[1]
    with platform.session_factory() as session:
        session.execute(
            delete(AuditEntry).where(AuditEntry.stream == victim.stream, AuditEntry.seq == victim.seq)
        )
        session.commit()
    assert any("missing" in reason for reason in _verify(platform))


def test_a_removed_last_entry_is_found(platform: Platform) -> None:
    _with_history(platform)
    last = _entries(platform)[-1]
    with platform.session_factory() as session:
        session.execute(
            delete(AuditEntry).where(AuditEntry.stream == last.stream, AuditEntry.seq == last.seq)
        )
        session.commit()
    assert any("head says" in reason for reason in _verify(platform))


def test_swapped_entries_are_found(platform: Platform) -> None:
    _with_history(platform)
    a, b = [e for e in _entries(platform) if e.stream == "44"][:2]
    with platform.session_factory() as session:
        for entry, seq in ((a, -1), (b, a.seq), (a, b.seq)):
            source = -1 if entry is a and seq == b.seq else entry.seq
            session.execute(
                update(AuditEntry).where(AuditEntry.stream == "44", AuditEntry.seq == source).values(seq=seq)
            )
        session.commit()
    reasons = _verify(platform)
    assert "does not link to the entry before it" in reasons


def test_streams_are_per_province_with_gapless_sequences(platform: Platform) -> None:
    _with_history(platform)
    with platform.session_factory() as session:
        heads = {h.stream: h.last_seq for h in session.execute(select(AuditHead)).scalars()}
    entries = _entries(platform)
    for stream, last in heads.items():
        assert [e.seq for e in entries if e.stream == stream] == list(range(1, last + 1))
    assert {"00", "44"} <= set(heads)
