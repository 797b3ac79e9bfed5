"""The worked example of a bulk-import row digest in docs/bulk-import.md is what the importer computes."""

from __future__ import annotations

import re
from pathlib import Path

from essc.cardholders.bulk import row_leaf
from essc.cardholders.importfile import HolderRecord
from essc.kit.crypto import get_suite
from essc.kit.merkle import TreeHasher

DOC = Path(__file__).resolve().parents[2] / "docs" / "bulk-import.md"


def test_the_documented_row_digest_is_the_importers() -> None:
    match = re.search(r"row digest: ([0-9a-f]{64})", DOC.read_text(encoding="utf-8"))
    assert match is not None
    card = HolderRecord("440104198503011234", "x", None, "A00000001", "0" * 32, "440100", 3, True, "normal")

    leaf = row_leaf("44", bytes([1]) * 32, bytes([2]) * 32, card)

    assert TreeHasher(get_suite("sm").hash).leaf(leaf).hex() == match.group(1)
