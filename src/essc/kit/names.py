"""Personal names (aac003): which characters a name may hold, one rule for the import and every API."""

from __future__ import annotations

import unicodedata

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
