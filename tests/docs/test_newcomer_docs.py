"""What a newcomer and an integrator look up stays in the documents: the glossary, README's first e-card."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from essc.cardholders.lifecycle import CardStatus

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = (ROOT / "docs" / "protocol.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _glossary_terms() -> set[str]:
    section = PROTOCOL.split("## Glossary", 1)[1].split("\n## ", 1)[0]
    return {
        row.split("|")[1].strip() for row in section.splitlines() if row.startswith("| ") and "---" not in row
    }


@pytest.mark.parametrize(
    "term",
    ["`aab301`", "`aac002`", "`aac003`", "`aaz500`", "`signNo`", "`signLevel`", "`busiSeq`", "`busiType`"],
)
def test_the_glossary_explains_each_term_the_wire_uses(term: str) -> None:
    assert term in _glossary_terms()


def test_the_glossary_names_every_card_status() -> None:
    row = next(line for line in PROTOCOL.splitlines() if line.startswith("| card statuses |"))
    assert {status.value for status in CardStatus} <= set(re.findall(r"`([a-z_]+)`", row))


@pytest.mark.parametrize(
    "needed",
    ["--port", '"checkedAt"', '"provider"', '"reference"', '"score"', "/qr-codes", '"images"'],
)
def test_readme_names_what_the_first_e_card_needs(needed: str) -> None:
    # The example itself runs against essc demo in tests/ops/test_demo.py.
    assert needed in README
