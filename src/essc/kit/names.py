"""Names: a person's (aac003), and the display names of parties (apps, organisations, institutions, contacts).

One rule for each, for the import, the command line and every API.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

MAX_NAME_LENGTH = 64
# Letters and combining marks of any script make a name. Between its parts: the ASCII space, the middle
# dots of transcribed minority and foreign names (U+00B7, and U+30FB and U+2022 as often typed), hyphen,
# apostrophe and full stop. Everything else is refused: control and format characters (bidirectional
# overrides, zero-width characters, U+0085) would let a name display as another, and digits or symbols are
# never part of one.
_NAME_CATEGORIES = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me"})
_SEPARATORS = frozenset(" \u00b7\u30fb\u2022-'.")


class InvalidName(ValueError):
    """A value that cannot be a person's name; the message names the rule, never the name."""


def check_person_name(value: str) -> str:
    """The name with surrounding spaces removed, or InvalidName saying which rule it breaks."""
    name = value.strip(" ")
    if not name:
        raise InvalidName("a name must not be blank")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"a name has at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    for character in name:
        category = unicodedata.category(character)
        if category not in _NAME_CATEGORIES and character not in _SEPARATORS:
            raise InvalidName(
                f"a name cannot hold U+{ord(character):04X} (Unicode category {category}): "
                "only letters, combining marks, spaces and the separators · ・ • - ' ."
            )
    if not any(unicodedata.category(character)[0] == "L" for character in name):
        raise InvalidName("a name must hold at least one letter")
    return name


# Display names of parties are freer than a person's: digits, punctuation and symbols belong in "12333 App"
# or "Bank of China (Hong Kong)". Refused are the characters that make a name display as another or break
# the line it is shown on: controls (U+0000-U+001F, U+007F-U+009F, U+0085 among them), format characters
# (bidirectional overrides and isolates, zero-width characters, the byte-order mark, soft hyphen, tags),
# line and paragraph separators, every space but U+0020, surrogates and noncharacters. Private-use
# characters are let through (rare hanzi reach names through GB 18030's private-use mappings), and so are
# unassigned code points: what Unicode assigns them later differs by version.
_REFUSED_IN_DISPLAY_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


class InvalidDisplayName(InvalidName):
    """A value that cannot be a party's display name; the message names the rule."""


def refused_in_display_name(character: str) -> bool:
    """Whether this character may never appear in a display name."""
    category = unicodedata.category(character)
    code = ord(character)
    return (
        category in _REFUSED_IN_DISPLAY_NAMES
        or (category == "Zs" and character != " ")
        or 0xFDD0 <= code <= 0xFDEF
        or code & 0xFFFE == 0xFFFE
    )


def check_display_name(value: str) -> str:
    """The display name with surrounding spaces removed, or InvalidDisplayName saying which rule it breaks."""
    for character in value:
        if refused_in_display_name(character):
            raise InvalidDisplayName(
                f"a display name cannot hold U+{ord(character):04X} (Unicode category "
                f"{unicodedata.category(character)}): no control or format characters, line separators, "
                "spaces other than U+0020 or noncharacters"
            )
    name = value.strip(" ")
    if not name:
        raise InvalidDisplayName("a display name must not be blank")
    return name


def _ranges(refused: list[int]) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for code in refused:
        if spans and spans[-1][1] == code - 1:
            spans[-1] = (spans[-1][0], code)
        else:
            spans.append((code, code))
    return spans


@cache
def display_name_pattern() -> str:
    """The display-name rule as a JSON Schema pattern: no refused character, not blank.

    It promises a little less than the code accepts (no surrounding spaces, which the code strips), in the
    form test generators draw from quickly: a first and a last character, any run between.
    """
    # Written with the characters themselves, not escapes: \uXXXX, \x{...} and \U differ between the
    # regular expression dialects of the languages clients are generated in; a character is one in all.
    # Surrogates are left out: a document in UTF-8 cannot hold them, and no parsed body carries one.
    spans = _ranges(
        [
            code
            for code in range(0x110000)
            if refused_in_display_name(chr(code)) and not 0xD800 <= code <= 0xDFFF
        ]
    )
    refused = "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in spans)
    return f"^[^ {refused}]([^{refused}]*[^ {refused}])?$"


@cache
def display_name_regex() -> re.Pattern[str]:
    """display_name_pattern compiled for Python (for tests and callers that check a name before sending)."""
    return re.compile(display_name_pattern())
