"""One rule for the display names of parties and short texts people read: nothing that hides or reorders."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from essc.channels.schemas import ChannelIn, ChannelStatusChange, Contact
from essc.kit.names import (
    InvalidDisplayName,
    check_display_name,
    display_name_regex,
)
from essc.terminals.schemas import InstitutionIn, StatusChange

# Written from the rule in words (essc.kit.names), not from the code.
REFUSED_CATEGORIES = {"Cc", "Cf", "Zl", "Zp", "Cs"}


def refused(character: str) -> bool:
    code = ord(character)
    category = unicodedata.category(character)
    noncharacter = 0xFDD0 <= code <= 0xFDEF or code % 0x10000 in (0xFFFE, 0xFFFF)
    return category in REFUSED_CATEGORIES or (category == "Zs" and character != " ") or noncharacter


DOCUMENTED = display_name_regex()  # built once: it walks every code point

# Every kind of code point: any plane, surrogates, private use, unassigned and noncharacters included.
any_character = st.characters(codec=None, categories=None) | st.integers(0, 0x10FFFF).map(chr)
any_text = st.lists(any_character, max_size=40).map("".join) | st.text(max_size=40)


@given(
    any_character, st.sampled_from(["广东人社", "Bank of China (Hong Kong)", "12333 App"]), st.integers(0, 5)
)
def test_a_character_is_accepted_inside_a_display_name_exactly_when_the_rule_allows_it(
    character: str, name: str, at: int
) -> None:
    candidate = name[:at] + character + name[at:]
    if not refused(character):
        assert check_display_name(candidate) == candidate.strip(" ")
        return
    with pytest.raises(InvalidDisplayName, match=f"U\\+{ord(character):04X}"):
        check_display_name(candidate)


@given(any_text)
def test_any_text_is_a_clean_display_name_or_refused_by_name(text: str) -> None:
    if text.strip(" ") == "" or any(refused(c) for c in text):
        with pytest.raises(InvalidDisplayName) as refusal:
            check_display_name(text)
        assert not text.strip(" ") or text.strip(" ") not in str(
            refusal.value
        )  # names the rule, not the value
        return
    checked = check_display_name(text)
    assert checked == text.strip(" ")
    assert checked
    assert not any(refused(c) for c in checked)


@given(any_text.filter(lambda text: not any(0xD800 <= ord(c) <= 0xDFFF for c in text)))
def test_the_documented_pattern_accepts_what_the_rule_accepts_without_surrounding_spaces(text: str) -> None:
    # Surrogates are not in the pattern: UTF-8 cannot carry them and the body parser refuses their escapes.
    try:
        accepted = check_display_name(text) == text
    except InvalidDisplayName:
        accepted = False
    assert (DOCUMENTED.fullmatch(text) is not None) == accepted


@pytest.mark.parametrize(
    "hidden",
    [
        "\u202e",
        "\u2066",
        "\u200b",
        "\u200d",
        "\ufeff",
        "\u0085",
        "\u2028",
        "\u00a0",
        "\u3000",
        "\x00",
        "\t",
        "\u00ad",
        "\U000e0041",
        "\ufdd0",
        "\U0010ffff",
    ],
)
def test_characters_that_hide_or_reorder_text_are_refused_in_every_display_name_a_request_carries(
    hidden: str,
) -> None:
    bad = f"Bank{hidden}App"
    contact = {"name": "Ops desk", "email": "ops@bank.test"}
    builders = [
        lambda: ChannelIn.model_validate(
            {"channelNo": "1100000001", "name": bad, "organisation": "Bank", "channelType": "bank"}
        ),
        lambda: ChannelIn.model_validate(
            {"channelNo": "1100000001", "name": "App", "organisation": bad, "channelType": "bank"}
        ),
        lambda: Contact.model_validate({**contact, "name": bad}),
        lambda: Contact.model_validate({**contact, "role": bad}),
        lambda: InstitutionIn.model_validate({"code": "INST0001", "name": bad, "kind": "hospital"}),
        lambda: ChannelStatusChange.model_validate({"status": "suspended", "reason": bad}),
        lambda: StatusChange.model_validate({"status": "suspended", "reason": bad}),
    ]
    for build in builders:
        with pytest.raises(ValidationError, match="display name cannot hold"):
            build()


@pytest.mark.parametrize(
    "name", ["广东省人力资源和社会保障厅", "Bank of China (Hong Kong)", "12333 App", "Café №1 & Co."]
)
def test_real_display_names_pass(name: str) -> None:
    assert check_display_name(f" {name} ") == name
    assert DOCUMENTED.fullmatch(name)


def test_a_private_use_character_is_a_rare_hanzi_and_passes() -> None:
    # GB 18030 maps characters Unicode lacked to the private-use area; organisation names can hold them.
    assert check_display_name("\ue816县人社局") == "\ue816县人社局"
