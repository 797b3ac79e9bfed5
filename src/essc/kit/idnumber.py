"""The 18-character citizen identity number (GB 11643), used as aac002."""

from __future__ import annotations

from datetime import date

from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from essc.kit.errors import InvalidInput


class InvalidIdNumber(InvalidInput):
    code = "invalid_aac002"
    title = "Invalid social security number (aac002)"


def normalise_id_number(value: str) -> str:
    """Validate an ID number (length, region, birth date, GB 11643 check digit) and return it upper-cased."""
    candidate = value.strip().upper()
    if len(candidate) != 18:
        raise InvalidIdNumber(f"aac002 must have 18 characters, got {len(candidate)}", field="aac002")
    try:
        return str(ric.validate(candidate))
    except ValidationError as exc:
        raise InvalidIdNumber(f"aac002 is not a valid GB 11643 number: {exc}", field="aac002") from exc


def birth_date_of(aac002: str) -> date:
    """The birth date carried in positions 7-14 of the ID number."""
    return date(int(aac002[6:10]), int(aac002[10:12]), int(aac002[12:14]))


def check_digit(first17: str) -> str:
    """The GB 11643 (ISO 7064 MOD 11-2) check character of the first 17 digits."""
    return str(ric.calc_check_digit(first17 + "0"))  # stdnum ignores the last character
