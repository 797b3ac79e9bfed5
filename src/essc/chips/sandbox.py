"""A software stand-in for a third-generation card's chip, for tests, the demo and channel developers."""

from __future__ import annotations

from essc.chips.wire import chip_string
from essc.kit.crypto import get_suite
from essc.kit.crypto.base import PrivateKey


class SandboxCardChip:
    """Holds an SM2 key like a card's chip and signs challenges the way a chip does (see essc.chips.wire)."""

    def __init__(self, aaz500: str, aaz501: str, private_key: PrivateKey | None = None) -> None:
        self.suite = get_suite("sm")
        self.aaz500 = aaz500
        self.aaz501 = aaz501
        self._key = private_key or self.suite.generate_private_key()

    def public_key_pem(self) -> str:
        """What the province loads onto the platform: PUT /v1/provinces/{p}/cards/{aaz500}/chip-key."""
        return self._key.public_key().to_pem().decode("ascii")

    def sign(self, message: bytes) -> bytes:
        """SM2 DER signature over message; a real chip signs only chip strings."""
        return self.suite.sign(self._key, message)

    def answer(self, challenge: bytes) -> bytes:
        """The chip's answer to a platform challenge: its signature over the chip string."""
        return self.sign(chip_string(self.aaz500, self.aaz501, challenge))
