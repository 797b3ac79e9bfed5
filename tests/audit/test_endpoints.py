"""The published logs: checkpoints, proofs and leaves anyone can check; cosignatures; the witness."""

from __future__ import annotations

import base64
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from essc.audit import service
from essc.audit.models import AuditEntry, AuditTile, AuditTreeHead
from essc.audit.witness import Witness, accepted_checkpoints, load_state
from essc.core.platform import Platform
from essc.kit.checkpoints import Checkpoint, NoteKey, cosign, open_note, parse_note
from essc.kit.keystore import KeyPurpose
from essc.kit.merkle import MemoryTree, TreeHasher, verify_consistency, verify_inclusion
from factories import app_client, channel, holder, issue_request, load

ORIGIN = "essc.example/audit/44"


def _with_history(platform: Platform) -> TestClient:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    app = channel(platform, http)
    app.client.post("/v1/ecards/issuance", issue_request(platform, record))
    service.sequence_all(platform)
    return http


def _log_key(platform: Platform) -> NoteKey:
    return NoteKey(ORIGIN, platform.keys.signer(KeyPurpose.AUDIT_LOG).public_key(), platform.suite)


def _checkpoint(platform: Platform, http: TestClient) -> Checkpoint:
    answer = http.get("/v1/audit/logs/44/checkpoint")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    body, _ = open_note(answer.text, _log_key(platform))
    return Checkpoint.parse(body)


def _hasher(platform: Platform) -> TreeHasher:
    return service.hasher_of(platform.suite)


def test_every_leaf_has_an_inclusion_proof_against_the_published_checkpoint(platform: Platform) -> None:
    http = _with_history(platform)
    checkpoint = _checkpoint(platform, http)
    assert checkpoint.origin == ORIGIN
    leaves = http.get("/v1/audit/logs/44/leaves", params={"limit": 1000}).json()
    assert len(leaves["leaves"]) == checkpoint.size
    assert leaves["next_start"] is None
    for leaf in leaves["leaves"]:
        data = base64.b64decode(leaf["data"])
        proof = http.get(
            "/v1/audit/logs/44/proofs/inclusion", params={"index": leaf["index"], "size": checkpoint.size}
        ).json()
        leaf_hash = _hasher(platform).leaf(data)
        assert base64.b64decode(proof["leaf_hash"]) == leaf_hash
        path = [base64.b64decode(p) for p in proof["proof"]]
        verify_inclusion(
            _hasher(platform), leaf["index"], checkpoint.size, leaf_hash, path, root=checkpoint.root
        )


def test_the_leaves_rebuild_the_root_and_name_no_one(platform: Platform) -> None:
    http = _with_history(platform)
    checkpoint = _checkpoint(platform, http)
    tree = MemoryTree(_hasher(platform))
    start: int | None = 0
    while start is not None:
        page = http.get("/v1/audit/logs/44/leaves", params={"start": start, "limit": 3}).json()
        for leaf in page["leaves"]:
            data = base64.b64decode(leaf["data"])
            assert b"testclient" not in data  # the caller's address is a keyed digest
            tree.append(data)
        start = page["next_start"]
    assert tree.root() == checkpoint.root


def test_a_consistency_proof_links_two_published_checkpoints(platform: Platform) -> None:
    http = _with_history(platform)
    first = _checkpoint(platform, http)
    load(platform, holder())
    service.sequence_all(platform)
    second = _checkpoint(platform, http)
    proof = http.get(
        "/v1/audit/logs/44/proofs/consistency", params={"size1": first.size, "size2": second.size}
    ).json()
    path = [base64.b64decode(p) for p in proof["proof"]]
    verify_consistency(_hasher(platform), first.size, second.size, path, root1=first.root, root2=second.root)


def test_unknown_logs_and_unsigned_sizes_are_refused_by_name(platform: Platform) -> None:
    http = _with_history(platform)
    size = _checkpoint(platform, http).size
    for path in ("/v1/audit/logs/99/checkpoint", "/v1/audit/logs/xx/checkpoint", "/v1/audit/logs/99/leaves"):
        assert http.get(path).json()["code"] == "audit_log_unknown"
    refused = http.get("/v1/audit/logs/44/proofs/inclusion", params={"index": 0, "size": size + 1})
    assert (refused.status_code, refused.json()["code"]) == (422, "audit_tree_size_unavailable")
    refused = http.get("/v1/audit/logs/44/proofs/inclusion", params={"index": size, "size": size})
    assert (refused.status_code, refused.json()["code"]) == (422, "audit_leaf_not_in_tree")
    refused = http.get("/v1/audit/logs/44/proofs/consistency", params={"size1": size + 1, "size2": size})
    assert refused.status_code == 422
    refused = http.get("/v1/audit/logs/44/proofs/inclusion", params={"index": -1, "size": size})
    assert refused.status_code == 422


def _witness(
    platform: Platform, http: TestClient, tmp_path: Path, name: str = "witness.example/a"
) -> Witness:
    key = platform.suite.generate_private_key()
    with platform.session_factory() as session:
        service.add_witness(session, platform, name, key.public_key().to_pem())
        session.commit()
    return Witness(
        name=name,
        key=key,
        suite=platform.suite,
        log_key=_log_key(platform).public_key,
        origin_prefix="essc.example/audit",
        state_path=tmp_path / "witness.json",
        http=http,
    )


def test_a_witness_cosigns_and_the_cosignature_is_published_beside_the_checkpoint(
    platform: Platform, tmp_path: Path
) -> None:
    http = _with_history(platform)
    witness = _witness(platform, http, tmp_path)
    outcomes = witness.run(["44"], now=1_700_000_000)
    assert [(o.log, o.accepted, o.reason) for o in outcomes] == [("44", True, "accepted and cosigned")]
    note = http.get("/v1/audit/logs/44/checkpoint").text
    _, signatures = parse_note(note)
    assert [s.name for s in signatures] == [ORIGIN, "witness.example/a"]
    assert load_state(tmp_path / "witness.json")["44"]["size"] == _checkpoint(platform, http).size
    # Later checkpoints are accepted after their consistency proof.
    load(platform, holder())
    service.sequence_all(platform)
    assert witness.run(["44"], now=1_700_000_100)[0].accepted
    with platform.session_factory() as session:
        assert service.verify(session, platform, accepted_checkpoints(tmp_path / "witness.json")).intact


def test_a_cosignature_of_an_unknown_witness_or_a_wrong_tree_is_refused(
    platform: Platform, tmp_path: Path
) -> None:
    http = _with_history(platform)
    checkpoint = _checkpoint(platform, http)
    stranger = NoteKey(
        "stranger.example", platform.suite.generate_private_key().public_key(), platform.suite, True
    )
    key = platform.suite.generate_private_key()
    made = cosign(checkpoint.body(), 1, stranger.name, stranger.key_id, lambda m: platform.suite.sign(key, m))
    answer = http.post(
        "/v1/audit/logs/44/cosignatures", json={"size": checkpoint.size, "cosignature": made.line()}
    )
    assert (answer.status_code, answer.json()["code"]) == (403, "audit_witness_unknown")
    witness = _witness(platform, http, tmp_path)
    wrong = Checkpoint(checkpoint.origin, checkpoint.size, b"\x00" * 32).body()
    made = cosign(
        wrong, 1, witness.name, witness.note_key.key_id, lambda m: platform.suite.sign(witness._key, m)
    )
    answer = http.post(
        "/v1/audit/logs/44/cosignatures", json={"size": checkpoint.size, "cosignature": made.line()}
    )
    assert (answer.status_code, answer.json()["code"]) == (422, "audit_cosignature_invalid")
    answer = http.post(
        "/v1/audit/logs/44/cosignatures", json={"size": checkpoint.size, "cosignature": "garbage"}
    )
    assert (answer.status_code, answer.json()["code"]) == (422, "audit_cosignature_invalid")


def test_the_witness_refuses_and_names_a_rollback(platform: Platform, tmp_path: Path) -> None:
    http = _with_history(platform)
    witness = _witness(platform, http, tmp_path)
    first = _checkpoint(platform, http)
    load(platform, holder())
    service.sequence_all(platform)
    assert witness.run(["44"], now=1)[0].accepted
    with platform.session_factory() as session:
        session.execute(
            delete(AuditTreeHead).where(AuditTreeHead.log == "44", AuditTreeHead.size > first.size)
        )
        session.commit()
    outcome = witness.run(["44"], now=2)[0]
    assert not outcome.accepted
    assert "rolled back" in outcome.reason
    # The platform's verify finds it too, from the witness's cosignature it still holds.
    with platform.session_factory() as session:
        assert any("rolled back" in f.reason for f in service.verify(session, platform).findings)


def test_the_witness_refuses_and_names_a_fork(platform: Platform, tmp_path: Path) -> None:
    http = _with_history(platform)
    witness = _witness(platform, http, tmp_path)
    assert witness.run(["44"], now=1)[0].accepted
    with platform.session_factory() as session:
        # History rewritten with the log's own key: every leaf sequenced again after a changed entry.
        first = session.query(AuditEntry).filter(AuditEntry.log == "44", AuditEntry.leaf_index == 0).one()
        session.execute(update(AuditEntry).where(AuditEntry.id == first.id).values(details='{"forged":1}'))
        session.execute(delete(AuditTreeHead).where(AuditTreeHead.log == "44"))
        session.execute(delete(AuditTile).where(AuditTile.log == "44"))
        session.execute(update(AuditEntry).where(AuditEntry.log == "44").values(leaf_index=None))
        session.commit()
    load(platform, holder())
    service.sequence_all(platform)
    outcome = witness.run(["44"], now=2)[0]
    assert not outcome.accepted
    assert "forked" in outcome.reason


def test_the_witness_names_a_log_that_is_gone(platform: Platform, tmp_path: Path) -> None:
    http = _with_history(platform)
    witness = _witness(platform, http, tmp_path)
    assert witness.run(["44"], now=1)[0].accepted
    with platform.session_factory() as session:
        session.execute(delete(AuditTreeHead).where(AuditTreeHead.log == "44"))
        session.commit()
    outcome = witness.run([], now=2)[0]
    assert (outcome.log, outcome.accepted) == ("44", False)
    assert "gone" in outcome.reason
