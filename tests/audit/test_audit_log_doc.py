"""The worked example of docs/audit-log.md is what the code computes, and its checkpoint verifies."""

from __future__ import annotations

from pathlib import Path

from essc.kit.checkpoints import Checkpoint, NoteKey, note_key_id, open_note, sign_note, signature_type
from essc.kit.crypto.sm import SmSuite, sm3
from essc.kit.merkle import MemoryTree, TreeHasher, verify_consistency, verify_inclusion

DOC = (Path(__file__).resolve().parents[2] / "docs" / "audit-log.md").read_text()
SM3 = TreeHasher(sm3)


def _tree() -> MemoryTree:
    tree = MemoryTree(SM3)
    for leaf in (b"leaf-0", b"leaf-1", b"leaf-2"):
        tree.append(leaf)
    return tree


def test_the_worked_example_hashes_and_proofs_are_the_codes() -> None:
    tree = _tree()
    proof = tree.inclusion_proof(1)
    consistency = tree.consistency_proof(2)
    for value in (SM3.leaf(b"leaf-1"), *proof, tree.root(2), *consistency, tree.root()):
        assert value.hex() in DOC
    verify_inclusion(SM3, 1, 3, SM3.leaf(b"leaf-1"), proof, root=tree.root())
    verify_consistency(SM3, 2, 3, consistency, root1=tree.root(2), root2=tree.root())


def test_the_worked_example_checkpoint_is_the_codes_and_a_signed_note_of_it_opens() -> None:
    checkpoint = Checkpoint("essc.example/audit/44", 3, _tree().root())
    assert checkpoint.body() + "\n\u2014 essc.example/audit/44 <base64" in DOC
    suite = SmSuite()
    key = suite.generate_private_key()
    key_id = note_key_id(checkpoint.origin, signature_type(suite), key.public_key())
    note = sign_note(checkpoint.body(), checkpoint.origin, key_id, lambda m: suite.sign(key, m))
    body, _ = open_note(note, NoteKey(checkpoint.origin, key.public_key(), suite))
    assert Checkpoint.parse(body) == checkpoint
