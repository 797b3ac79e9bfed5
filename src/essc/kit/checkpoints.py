"""C2SP tlog-checkpoint tree heads in C2SP signed notes, signed with the suite's key; witness cosignatures.

A checkpoint's body is three lines: the log's origin, its size in decimal, its root hash in base64. A signed
note is the body, a blank line, and one line per signature: em dash, space, key name, space,
base64(4-byte key ID || signature). The suite's signatures have no type byte assigned by C2SP signed-note, so
they use its extension byte 0xff followed by a name of ours: ``0xff || "essc/<algorithm>"`` for tree heads
(SM2 with SM3 and the default distinguishing id "1234567812345678" in the sm suite, DER signature) and
``0xff || "essc/cosignature/v1/<algorithm>"`` for cosignatures. The key ID is, as C2SP recommends,
SHA-256(key name || 0x0A || type bytes || SubjectPublicKeyInfo DER)[:4]: an identifier, not a security
property, so it stays SHA-256 for every suite. A cosignature follows C2SP tlog-cosignature: it signs
"cosignature/v1\\ntime <seconds>\\n" followed by the checkpoint body, and carries the timestamp as 8 bytes
big-endian before the signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from essc.kit.crypto.base import CryptoSuite, PublicKey
from essc.kit.errors import EsscError, InvalidSignature

__all__ = [
    "COSIGNATURE_HEADER",
    "Checkpoint",
    "Cosignature",
    "InvalidNote",
    "NoteKey",
    "NoteSignature",
    "cosign",
    "cosignature_type",
    "note_key_id",
    "open_note",
    "parse_note",
    "sign_note",
    "signature_type",
    "verify_cosignature",
]

COSIGNATURE_HEADER = "cosignature/v1"
_DASH = "\u2014"
_MAX_SIGNATURES = 100


class InvalidNote(EsscError):
    """A checkpoint or signed note is malformed or not signed by the key it must be signed by."""

    status = 422
    code = "invalid_note"
    title = "Invalid signed note"


def signature_type(suite: CryptoSuite) -> bytes:
    """Type bytes of a tree head signature of the suite (C2SP signed-note extension byte 0xff)."""
    return b"\xff" + f"essc/{suite.signature_algorithm}".encode()


def cosignature_type(suite: CryptoSuite) -> bytes:
    """Type bytes of a witness cosignature of the suite."""
    return b"\xff" + f"essc/{COSIGNATURE_HEADER}/{suite.signature_algorithm}".encode()


def note_key_id(name: str, type_bytes: bytes, public_key: PublicKey) -> bytes:
    """SHA-256(name || 0x0A || type || SPKI DER)[:4], as C2SP signed-note recommends."""
    return hashlib.sha256(name.encode() + b"\n" + type_bytes + public_key.to_der()).digest()[:4]


@dataclass(frozen=True, slots=True)
class NoteKey:
    """A verifier's trusted key: name, public key, and whether it signs tree heads or cosigns them."""

    name: str
    public_key: PublicKey
    suite: CryptoSuite
    cosigner: bool = False

    @property
    def key_id(self) -> bytes:
        kind = cosignature_type(self.suite) if self.cosigner else signature_type(self.suite)
        return note_key_id(self.name, kind, self.public_key)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A tree head: the log's origin, its size and its root hash (C2SP tlog-checkpoint)."""

    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """The checkpoint of a note body; extension lines after the root are ignored, as the spec allows."""
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise InvalidNote("a checkpoint is origin, size and root hash, each on a line ending in newline")
        origin, size_text, root_text = lines[0], lines[1], lines[2]
        if not origin or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise InvalidNote(
                "a checkpoint's origin is not empty and its size is a decimal without leading zeros"
            )
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error:
            raise InvalidNote("a checkpoint's root hash is not base64") from None
        return cls(origin, int(size_text), root)


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line of a note."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{_DASH} {self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


def parse_note(text: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its body and signature lines (nothing verified yet)."""
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise InvalidNote("a signed note holds no control characters other than newline")
    body, sep, block = text.rpartition("\n\n")
    if not sep or not block.endswith("\n"):
        raise InvalidNote("a signed note is its text, a blank line and signature lines ending in newline")
    signatures: list[NoteSignature] = []
    for line in block[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != _DASH or not parts[1]:
            raise InvalidNote("a signature line is an em dash, the key name and the base64 signature")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise InvalidNote("a note signature is not base64") from None
        if len(raw) < 5:
            raise InvalidNote("a note signature is a 4-byte key ID followed by the signature")
        signatures.append(NoteSignature(parts[1], raw[:4], raw[4:]))
    if len(signatures) > _MAX_SIGNATURES:
        raise InvalidNote(f"a signed note carries at most {_MAX_SIGNATURES} signatures")
    return body + "\n", signatures


def sign_note(body: str, name: str, key_id: bytes, sign: Callable[[bytes], bytes]) -> str:
    """The note of `body` signed by one key."""
    if not body.endswith("\n") or "\n\n" in body:
        raise InvalidNote("a note body ends in newline and holds no blank line")
    return body + "\n" + NoteSignature(name, key_id, sign(body.encode())).line()


def open_note(text: str, key: NoteKey) -> tuple[str, list[NoteSignature]]:
    """Body and signatures of a note, after checking the signature of `key` (InvalidNote if absent or bad)."""
    body, signatures = parse_note(text)
    for signature in signatures:
        if signature.name == key.name and signature.key_id == key.key_id:
            try:
                key.suite.verify(key.public_key, body.encode(), signature.signature)
            except InvalidSignature:
                raise InvalidNote(f"the signature of {key.name} on this note does not verify") from None
            return body, signatures
    raise InvalidNote(f"the note is not signed by {key.name}")


@dataclass(frozen=True, slots=True)
class Cosignature:
    """A witness's cosignature of one checkpoint body, at a time (seconds since the epoch)."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes

    def line(self) -> str:
        return NoteSignature(
            self.name, self.key_id, struct.pack(">Q", self.timestamp) + self.signature
        ).line()

    @classmethod
    def parse(cls, line: str) -> Cosignature:
        """A cosignature from its signature line."""
        _, signatures = parse_note("x\n\n" + (line if line.endswith("\n") else line + "\n"))
        if len(signatures) != 1 or len(signatures[0].signature) < 9:
            raise InvalidNote("a cosignature is one signature line: key ID, 8-byte time, signature")
        (timestamp,) = struct.unpack(">Q", signatures[0].signature[:8])
        return cls(signatures[0].name, signatures[0].key_id, timestamp, signatures[0].signature[8:])


def _cosigned_message(body: str, timestamp: int) -> bytes:
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{body}".encode()


def cosign(
    body: str, timestamp: int, name: str, key_id: bytes, sign: Callable[[bytes], bytes]
) -> Cosignature:
    """A witness's cosignature of a checkpoint body."""
    return Cosignature(name, key_id, timestamp, sign(_cosigned_message(body, timestamp)))


def verify_cosignature(body: str, cosignature: Cosignature, keys: Sequence[NoteKey]) -> NoteKey:
    """The witness key that made `cosignature` over `body`; InvalidNote if none of `keys` did."""
    for key in keys:
        if key.cosigner and key.name == cosignature.name and key.key_id == cosignature.key_id:
            try:
                key.suite.verify(
                    key.public_key, _cosigned_message(body, cosignature.timestamp), cosignature.signature
                )
            except InvalidSignature:
                raise InvalidNote(f"the cosignature of {key.name} does not verify") from None
            return key
    raise InvalidNote(f"no trusted witness key named {cosignature.name} with this key ID")
