"""One rule for personal names: letters and marks of any script, a few separators, nothing that hides."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from essc.kit.names import MAX_NAME_LENGTH, InvalidName, check_person_name

NAME_CATEGORIES = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me"}
SEPARATORS = set(" ·・•-'.")


@given(st.characters(codec=None), st.sampled_from(["张伟", "阿依古丽", "Li Na"]), st.integers(0, 2))
def test_a_character_is_accepted_inside_a_name_exactly_when_names_use_its_category(
    character: str, name: str, at: int
) -> None:
    position = min(at, len(name) - 1)
    candidate = name[:position] + character + name[position:]
    allowed = unicodedata.category(character) in NAME_CATEGORIES or character in SEPARATORS
    if allowed:
        assert check_person_name(candidate) == candidate.strip(" ")
        return
    with pytest.raises(InvalidName) as refused:
        check_person_name(candidate)
    assert candidate not in str(refused.value)  # the reason names the rule, never the name


@given(st.text(max_size=80))
def test_any_text_is_a_clean_name_or_refused_by_name(text: str) -> None:
    try:
        checked = check_person_name(text)
    except InvalidName:
        return
    assert 1 <= len(checked) <= MAX_NAME_LENGTH
    assert all(unicodedata.category(c) in NAME_CATEGORIES or c in SEPARATORS for c in checked)
    assert any(unicodedata.category(c).startswith("L") for c in checked)


@pytest.mark.parametrize(
    "hidden",
    [
        "\u202e",  # right-to-left override
        "\u2066",  # left-to-right isolate
        "\u200b",  # zero-width space
        "\u200d",  # zero-width joiner
        "\ufeff",  # byte-order mark
        "\u0085",  # next line
        "\u2028",  # line separator
        "\u00a0",  # no-break space
        "\x00",
        "\t",
    ],
)
def test_characters_that_hide_or_reorder_text_are_refused(hidden: str) -> None:
    with pytest.raises(InvalidName, match=f"U\\+{ord(hidden):04X}"):
        check_person_name(f"张{hidden}伟")


@pytest.mark.parametrize("name", ["张伟", "买买提·艾力", "Zhang Wei", "O'Neil-Smith", "Nguyễn"])
def test_real_names_pass(name: str) -> None:
    assert check_person_name(f" {name} ") == name


@pytest.mark.parametrize("name", ["", "   ", "·", "-'.", "张" * (MAX_NAME_LENGTH + 1), "张3"])
def test_blank_letterless_long_and_digit_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidName):
        check_person_name(name)
