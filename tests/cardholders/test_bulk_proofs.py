"""An imported holder is provable: row digest, its path to the batch root, the batch entry in the log."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest

from essc.audit import repository as audit_repository
from essc.audit import service as audit_service
from essc.cardholders.bulk import bulk_import
from essc.cardholders.errors import ImportNotSequenced, PersonNotFound
from essc.cardholders.proofs import prove_import, verify_import_proof
from essc.cardholders.synthetic import synthetic_holders, write_csv
from essc.core.context import Actor
from essc.core.platform import Platform
from essc.kit.merkle import InvalidProof
from factories import holder


def _imported(platform: Platform, tmp_path: Path) -> list[str]:
    records = list(synthetic_holders("44", 40, seed=21))
    write_csv(tmp_path / "holders.csv", records)
    bulk_import(platform, "44", tmp_path / "holders.csv", Actor.operator("test"), batch_size=16, workers=0)
    return [record.aac002 for record in records]


def _log_root(platform: Platform) -> bytes:
    with platform.session_factory() as session:
        head = audit_repository.latest_head(session, "44")
        assert head is not None
        return bytes(head.root)


def test_one_persons_proof_checks_end_to_end_against_the_signed_log(
    platform: Platform, tmp_path: Path
) -> None:
    aac002s = _imported(platform, tmp_path)
    audit_service.sequence_all(platform)

    with platform.session_factory() as session:
        proof = prove_import(session, platform, aac002s[20])

    assert (proof.batch_no, proof.position, proof.batch_rows) == (1, 4, 16)
    assert proof.checkpoint.splitlines()[1] == str(proof.log_size)
    verify_import_proof(audit_service.hasher_of(platform.suite), proof, _log_root(platform))


def test_a_proof_with_another_row_digest_or_root_fails(platform: Platform, tmp_path: Path) -> None:
    aac002s = _imported(platform, tmp_path)
    audit_service.sequence_all(platform)
    with platform.session_factory() as session:
        proof = prove_import(session, platform, aac002s[3])
        other = prove_import(session, platform, aac002s[4])
    hasher = audit_service.hasher_of(platform.suite)

    with pytest.raises(InvalidProof):
        verify_import_proof(hasher, replace(proof, row_digest=other.row_digest), _log_root(platform))
    with pytest.raises(InvalidProof):
        verify_import_proof(hasher, proof, base64.b64decode(other.row_digest))


def test_no_proof_before_the_batch_entry_is_sequenced(platform: Platform, tmp_path: Path) -> None:
    aac002s = _imported(platform, tmp_path)
    with platform.session_factory() as session, pytest.raises(ImportNotSequenced):
        prove_import(session, platform, aac002s[0])


def test_no_proof_for_someone_never_imported(platform: Platform, tmp_path: Path) -> None:
    _imported(platform, tmp_path)
    audit_service.sequence_all(platform)
    with platform.session_factory() as session, pytest.raises(PersonNotFound):
        prove_import(session, platform, holder().aac002)
