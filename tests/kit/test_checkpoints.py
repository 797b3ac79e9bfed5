"""C2SP checkpoints in signed notes with SM2 signatures, and witness cosignatures."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from essc.kit.checkpoints import (
    Checkpoint,
    Cosignature,
    InvalidNote,
    NoteKey,
    cosign,
    open_note,
    parse_note,
    sign_note,
    verify_cosignature,
)
from essc.kit.crypto.sm import SmSuite

SUITE = SmSuite()
LOG_KEY = SUITE.generate_private_key()
WITNESS_KEY = SUITE.generate_private_key()
LOG = NoteKey("essc.example/audit/44", LOG_KEY.public_key(), SUITE)
WITNESS = NoteKey("witness.example/a", WITNESS_KEY.public_key(), SUITE, cosigner=True)


def _note(checkpoint: Checkpoint) -> str:
    return sign_note(checkpoint.body(), LOG.name, LOG.key_id, lambda m: SUITE.sign(LOG_KEY, m))


def test_a_checkpoint_body_is_origin_size_and_base64_root() -> None:
    checkpoint = Checkpoint("essc.example/audit/44", 7, bytes(range(32)))
    assert checkpoint.body() == "essc.example/audit/44\n7\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    assert Checkpoint.parse(checkpoint.body()) == checkpoint


def test_a_signed_note_opens_with_its_key_and_the_signature_is_sm2_over_the_body(tmp_path: Path) -> None:
    checkpoint = Checkpoint(LOG.name, 3, b"\x01" * 32)
    note = _note(checkpoint)
    body, signatures = open_note(note, LOG)
    assert body == checkpoint.body()
    assert note.split("\n")[4].startswith("\u2014 essc.example/audit/44 ")
    # The signature is plain SM2 (default distinguishing id) over the body: openssl verifies it too.
    (tmp_path / "body").write_bytes(body.encode())
    (tmp_path / "sig").write_bytes(signatures[0].signature)
    (tmp_path / "pub.pem").write_bytes(LOG.public_key.to_pem())
    result = subprocess.run(
        ["openssl", "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pubin",
         "-inkey", tmp_path / "pub.pem", "-in", tmp_path / "body", "-sigfile", tmp_path / "sig",
         "-pkeyopt", "distid:1234567812345678"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert b"Signature Verified Successfully" in result.stdout, result.stderr


def test_a_changed_body_or_another_key_fails() -> None:
    note = _note(Checkpoint(LOG.name, 3, b"\x01" * 32))
    with pytest.raises(InvalidNote, match="does not verify"):
        open_note(note.replace("\n3\n", "\n4\n"), LOG)
    other = NoteKey(LOG.name, WITNESS_KEY.public_key(), SUITE)
    with pytest.raises(InvalidNote, match="not signed by"):
        open_note(note, other)


@pytest.mark.parametrize(
    "text",
    [
        "no blank line\n",
        "a\n\n— name\n",
        "a\n\n— name !!!\n",
        "a\n\n- name AAAAAAA=\n",
        "a\x01\n\n— n AAAAAAA=\n",
    ],
)
def test_malformed_notes_are_refused(text: str) -> None:
    with pytest.raises(InvalidNote):
        parse_note(text)


@pytest.mark.parametrize("body", ["o\n01\nAA==\n", "o\n-1\nAA==\n", "\n1\nAA==\n", "o\n1\n!!\n", "o\n1\n"])
def test_malformed_checkpoints_are_refused(body: str) -> None:
    with pytest.raises(InvalidNote):
        Checkpoint.parse(body)


def test_a_cosignature_round_trips_and_binds_time_and_body() -> None:
    body = Checkpoint(LOG.name, 9, b"\x02" * 32).body()
    made = cosign(body, 1_700_000_000, WITNESS.name, WITNESS.key_id, lambda m: SUITE.sign(WITNESS_KEY, m))
    parsed = Cosignature.parse(made.line())
    assert parsed == made
    assert base64.b64decode(made.line().split(" ")[2])[4:12] == (1_700_000_000).to_bytes(8, "big")
    assert verify_cosignature(body, parsed, [WITNESS]) == WITNESS
    with pytest.raises(InvalidNote):
        verify_cosignature(body.replace("\n9\n", "\n8\n"), parsed, [WITNESS])
    with pytest.raises(InvalidNote):
        verify_cosignature(
            body, Cosignature(made.name, made.key_id, made.timestamp + 1, made.signature), [WITNESS]
        )
    with pytest.raises(InvalidNote, match="no trusted witness"):
        verify_cosignature(body, parsed, [LOG])


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_parsing_any_text_either_succeeds_or_refuses_by_name(text: str) -> None:
    try:
        body, _ = parse_note(text)
    except InvalidNote:
        pass
    else:
        assert text.startswith(body)
    try:
        checkpoint = Checkpoint.parse(text)
    except InvalidNote:
        pass
    else:
        assert text.startswith(f"{checkpoint.origin}\n{checkpoint.size}\n")
