"""The chip string: what a third-generation card's chip signs to answer a platform challenge, written once.

The chip signs with its SM2 key (SM3 digest, default user id ``1234567812345678``), DER-encoded. The string is
four lines of ASCII joined by ``\\n`` (no trailing newline)::

    ESSC-CHIP-1
    <aaz500, the card number, uppercase>
    <aaz501, the chip identifier, as the card system registered it>
    <the 32 challenge bytes in lowercase hex>

Binding the card number and chip identifier means a signature answers one challenge for one card only.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["CHALLENGE_BYTES", "CHIP_STRING_VERSION", "chip_string"]

CHIP_STRING_VERSION: Final = "ESSC-CHIP-1"
CHALLENGE_BYTES: Final = 32
_AAZ500: Final = re.compile(r"[A-Za-z0-9]{9}")
_AAZ501: Final = re.compile(r"[A-Za-z0-9]{1,32}")


def chip_string(aaz500: str, aaz501: str, challenge: bytes) -> bytes:
    """The exact bytes a chip signs for `challenge`; ValueError for what is not a card or a challenge."""
    if not _AAZ500.fullmatch(aaz500):
        raise ValueError("aaz500 is 9 letters or digits")
    if not _AAZ501.fullmatch(aaz501):
        raise ValueError("aaz501 is 1-32 letters or digits")
    if len(challenge) != CHALLENGE_BYTES:
        raise ValueError(f"a challenge is {CHALLENGE_BYTES} bytes")
    return "\n".join((CHIP_STRING_VERSION, aaz500.upper(), aaz501, challenge.hex())).encode("ascii")
