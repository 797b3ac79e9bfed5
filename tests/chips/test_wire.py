"""The chip string, written once for the platform and every chip (sandbox or real)."""

from __future__ import annotations

import pytest

from essc.chips.sandbox import SandboxCardChip
from essc.chips.wire import CHALLENGE_BYTES, chip_string
from essc.kit.crypto import get_suite
from essc.kit.errors import InvalidSignature


def test_the_chip_string_is_four_ascii_lines() -> None:
    challenge = bytes(range(32))
    assert chip_string("a1b2c3d4e", "0f" * 16, challenge) == (
        b"ESSC-CHIP-1\nA1B2C3D4E\n" + b"0f" * 16 + b"\n" + challenge.hex().encode()
    )


@pytest.mark.parametrize(
    ("aaz500", "aaz501", "challenge"),
    [
        ("A1B2C3D4", "CHIP1", bytes(CHALLENGE_BYTES)),  # card number too short
        ("A1B2C3D4E\n", "CHIP1", bytes(CHALLENGE_BYTES)),  # a newline would forge another line
        ("A1B2C3D4E", "", bytes(CHALLENGE_BYTES)),
        ("A1B2C3D4E", "CHIP\n1", bytes(CHALLENGE_BYTES)),
        ("A1B2C3D4E", "CHIP1", bytes(CHALLENGE_BYTES - 1)),
        ("A1B2C3D4E", "CHIP1", bytes(CHALLENGE_BYTES + 1)),
    ],
)
def test_anything_but_a_card_and_a_challenge_is_refused(aaz500: str, aaz501: str, challenge: bytes) -> None:
    with pytest.raises(ValueError, match=r"aaz50|challenge"):
        chip_string(aaz500, aaz501, challenge)


def test_the_sandbox_chip_signs_the_chip_string_with_sm2() -> None:
    suite = get_suite("sm")
    chip = SandboxCardChip("A1B2C3D4E", "CHIP1")
    challenge = bytes(range(32))
    public = suite.load_public_key(chip.public_key_pem().encode())
    suite.verify(public, chip_string("A1B2C3D4E", "CHIP1", challenge), chip.answer(challenge))
    with pytest.raises(InvalidSignature):
        suite.verify(public, chip_string("A1B2C3D4E", "CHIP1", bytes(32)), chip.answer(challenge))
