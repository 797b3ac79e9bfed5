"""A province acts only on its own cards, regions and terminals."""

from __future__ import annotations

from essc.kit.errors import Forbidden


class WrongProvince(Forbidden):
    code = "wrong_province"
    title = "The card or region belongs to another province"


def ensure_same_province(caller_province: str, province: str) -> None:
    if caller_province != province:
        raise WrongProvince(f"province {caller_province} cannot act on province {province}'s cards")
