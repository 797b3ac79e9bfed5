"""The audit logs: every change audited, sequenced into signed trees, and each tampering found by verify."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from essc.audit import repository, service
from essc.audit.leaves import LEAF_COLUMNS, leaf_bytes
from essc.audit.models import AuditEntry, AuditTile, AuditTreeHead
from essc.audit.service import AcceptedCheckpoint
from essc.core.platform import Platform
from essc.kit.checkpoints import Checkpoint, NoteKey, open_note
from essc.kit.keystore import KeyPurpose
from essc.kit.merkle import MemoryTree, tiles_of
from factories import app_client, channel, holder, issue_request, load


def _entries(platform: Platform, log: str | None = None) -> list[AuditEntry]:
    with platform.session_factory() as session:
        query = select(AuditEntry).order_by(AuditEntry.log, AuditEntry.leaf_index)
        if log is not None:
            query = query.where(AuditEntry.log == log)
        return list(session.execute(query).scalars())


def _findings(platform: Platform, accepted: dict[str, AcceptedCheckpoint] | None = None) -> list[str]:
    with platform.session_factory() as session:
        report = service.verify(session, platform, accepted)
    return [f"{f.log}:{f.leaf}:{f.reason}" for f in report.findings]


def _with_history(platform: Platform) -> None:
    record = holder()
    load(platform, record)
    app = channel(platform, app_client(platform))
    app.client.post("/v1/ecards/issuance", issue_request(platform, record))
    service.sequence_all(platform)


def _latest(platform: Platform, log: str) -> AuditTreeHead:
    with platform.session_factory() as session:
        found = repository.latest_head(session, log)
    assert found is not None
    return found


def _run(platform: Platform, *statements: object) -> None:
    with platform.session_factory() as session:
        for statement in statements:
            session.execute(statement)  # type: ignore[call-overload]
        session.commit()


def _leaf(entry: AuditEntry) -> bytes:
    return leaf_bytes([getattr(entry, column) for column in LEAF_COLUMNS])


def test_every_change_and_clear_read_is_audited_with_who_and_request(platform: Platform) -> None:
    _with_history(platform)
    actions = {e.action: e for e in _entries(platform)}
    expected = {"holder.loaded", "channel.registered", "person.clear_read", "ecard.created", "ecard.issued"}
    assert expected <= set(actions)
    issued = actions["ecard.issued"]
    assert issued.actor_kind == "channel"
    assert issued.request_id
    assert issued.province == "44"
    assert _findings(platform) == []


def test_the_source_address_is_kept_as_a_keyed_digest(platform: Platform) -> None:
    _with_history(platform)
    issued = next(e for e in _entries(platform) if e.action == "ecard.issued")
    assert issued.source_ip == platform.blind_index.of("source_ip", "testclient").hex()


def test_logs_are_per_province_and_national_with_consecutive_leaves_under_a_signed_head(
    platform: Platform,
) -> None:
    _with_history(platform)
    for log in ("00", "44"):
        entries = _entries(platform, log)
        assert [e.leaf_index for e in entries] == list(range(len(entries)))
        head = _latest(platform, log)
        assert head.size == len(entries)
        key = NoteKey(f"essc.example/audit/{log}", platform.keys.public_key(head.key_id), platform.suite)
        body, _ = open_note(head.note, key)
        tree = MemoryTree(service.hasher_of(platform.suite))
        for entry in entries:
            tree.append(_leaf(entry))
        assert Checkpoint.parse(body) == Checkpoint(key.name, len(entries), tree.root())
    # The national log recorded the province's log opening.
    assert "audit.log_opened" in {e.action for e in _entries(platform, "00")}


def test_the_log_signer_key_is_its_own_key_purpose(platform: Platform) -> None:
    _with_history(platform)
    assert _latest(platform, "44").key_id == platform.keys.signer(KeyPurpose.AUDIT_LOG).key_id
    assert _latest(platform, "44").key_id.startswith("al-")


def test_sequencing_again_changes_nothing_and_later_entries_extend_the_tree(platform: Platform) -> None:
    _with_history(platform)
    before = _latest(platform, "44")
    assert service.sequence_all(platform) == {}
    load(platform, holder())
    service.sequence_all(platform)
    after = _latest(platform, "44")
    assert after.size > before.size
    with platform.session_factory() as session:
        proof = service.consistency(session, platform, "44", before.size, after.size)
    assert proof.proof
    assert _findings(platform) == []


def test_one_flipped_byte_is_found_and_its_leaf_named(platform: Platform) -> None:
    _with_history(platform)
    victim = _entries(platform, "44")[1]
    flipped = bytearray(victim.details.encode())
    flipped[0] ^= 0x01
    _run(
        platform,
        update(AuditEntry).where(AuditEntry.id == victim.id).values(details=flipped.decode("latin-1")),
    )
    assert any(f.startswith("44:1:leaf 1 is not") for f in _findings(platform))


def test_a_removed_entry_is_found(platform: Platform) -> None:
    _with_history(platform)
    victim = _entries(platform, "44")[1]
    _run(platform, delete(AuditEntry).where(AuditEntry.id == victim.id))
    assert any(f.startswith("44:1:leaves 1..1 are missing") for f in _findings(platform))


def test_swapped_entries_are_found_at_the_first_of_them(platform: Platform) -> None:
    _with_history(platform)
    a, b = _entries(platform, "44")[:2]
    _run(
        platform,
        update(AuditEntry).where(AuditEntry.id == a.id).values(leaf_index=-1),
        update(AuditEntry).where(AuditEntry.id == b.id).values(leaf_index=a.leaf_index),
        update(AuditEntry).where(AuditEntry.id == a.id).values(leaf_index=b.leaf_index),
    )
    assert any(f.startswith("44:0:leaf 0 is not") for f in _findings(platform))


def test_an_inserted_entry_is_found(platform: Platform) -> None:
    _with_history(platform)
    entries = _entries(platform, "44")
    # Make room at index 1 as a forger must: renumber the rest (through a free range, the pairs are unique).
    _run(
        platform,
        *[update(AuditEntry).where(AuditEntry.id == e.id).values(leaf_index=(e.leaf_index or 0) + 10**6)
          for e in entries[1:]],
        *[update(AuditEntry).where(AuditEntry.id == e.id).values(leaf_index=(e.leaf_index or 0) + 1)
          for e in entries[1:]],
    )  # fmt: skip
    with platform.session_factory() as session:
        session.add(
            AuditEntry(
                id="0" * 26, log="44", at=entries[0].at, actor_kind="ministry", actor_id="x",
                action="ecard.issued", subject_kind="ecard", subject_id="x", province="44", source_ip=None,
                request_id=None, details="{}", leaf_index=1,
            )
        )  # fmt: skip
        session.commit()
    assert any(f.startswith("44:1:leaf 1 is not") for f in _findings(platform))


def test_deleting_the_last_entry_and_rolling_back_its_head_is_found(platform: Platform) -> None:
    _with_history(platform)
    load(platform, holder())
    service.sequence_all(platform)
    last = _entries(platform, "44")[-1]
    head = _latest(platform, "44")
    _run(
        platform,
        delete(AuditEntry).where(AuditEntry.id == last.id),
        delete(AuditTreeHead).where(AuditTreeHead.log == "44", AuditTreeHead.size == head.size),
    )
    found = _findings(platform)
    assert any("the stored tiles do not hold the tree" in f for f in found), found


def test_a_thorough_rollback_is_found_against_what_a_witness_accepted(platform: Platform) -> None:
    _with_history(platform)
    first = _latest(platform, "44")
    load(platform, holder())
    service.sequence_all(platform)
    head = _latest(platform, "44")
    accepted = {"44": AcceptedCheckpoint(head.size, bytes(head.root))}
    tree = MemoryTree(service.hasher_of(platform.suite))
    for entry in _entries(platform, "44")[: first.size]:
        tree.append(_leaf(entry))
    # Back to the first tree, consistently: entries, heads and tiles (all the attacker can write).
    _run(
        platform,
        delete(AuditEntry).where(AuditEntry.log == "44", AuditEntry.leaf_index >= first.size),
        delete(AuditTreeHead).where(AuditTreeHead.log == "44", AuditTreeHead.size > first.size),
        delete(AuditTile).where(AuditTile.log == "44"),
    )
    with platform.session_factory() as session:
        repository.save_tiles(session, "44", dict(tiles_of(tree)))
        session.commit()
    assert _findings(platform) == []  # nothing left in the database betrays it
    assert any("rolled back" in f for f in _findings(platform, accepted))


def test_a_whole_log_deleted_is_found(platform: Platform) -> None:
    _with_history(platform)
    _run(
        platform,
        delete(AuditEntry).where(AuditEntry.log == "44"),
        delete(AuditTreeHead).where(AuditTreeHead.log == "44"),
        delete(AuditTile).where(AuditTile.log == "44"),
    )
    assert "44:None:the national log recorded this log opened; it is gone" in _findings(platform)


def test_a_rolled_back_tree_head_is_found(platform: Platform) -> None:
    _with_history(platform)
    head = _latest(platform, "44")
    _run(platform, delete(AuditTreeHead).where(AuditTreeHead.log == "44", AuditTreeHead.size == head.size))
    assert any("under no signed tree head" in f for f in _findings(platform))


def test_a_forged_tree_head_is_found(platform: Platform) -> None:
    _with_history(platform)
    head = _latest(platform, "44")
    _run(
        platform,
        update(AuditTreeHead)
        .where(AuditTreeHead.log == "44", AuditTreeHead.size == head.size)
        .values(root=b"\x00" * 32),
    )
    assert any("its signed note names another tree" in f for f in _findings(platform))


def test_a_forked_log_is_found_against_what_a_witness_accepted(platform: Platform) -> None:
    _with_history(platform)
    head = _latest(platform, "44")
    accepted = {"44": AcceptedCheckpoint(head.size, bytes(head.root))}
    victim = _entries(platform, "44")[0]
    # The operator rewrites history with the log key itself: changed entry, new tiles, new signed heads.
    _run(
        platform,
        update(AuditEntry).where(AuditEntry.id == victim.id).values(details='{"rewritten":true}'),
        delete(AuditTreeHead).where(AuditTreeHead.log == "44"),
        delete(AuditTile).where(AuditTile.log == "44"),
        update(AuditEntry).where(AuditEntry.log == "44").values(leaf_index=None),
    )
    service.sequence_all(platform)
    assert _findings(platform) == []
    assert any("forked" in f for f in _findings(platform, accepted))


def test_unsequenced_entries_are_not_findings(platform: Platform) -> None:
    _with_history(platform)
    load(platform, holder())
    with platform.session_factory() as session:
        unsequenced = select(func.count()).select_from(AuditEntry).where(AuditEntry.leaf_index.is_(None))
        assert session.execute(unsequenced).scalar_one() > 0
    assert _findings(platform) == []
