"""Masking of personal data wherever it is shown or logged to a caller not entitled to the clear value."""

from __future__ import annotations


def mask_id_number(aac002: str) -> str:
    """Keep the first and the last character of an ID number: 1****************X."""
    # No more: the mask is stored in the clear beside the card's region, and every digit it kept would narrow
    # the number (the first and last four left two county digits and, with the clear birth date then kept,
    # the check digit brought it to 1-3 candidates). The first digit is the province's, the last a check.
    if len(aac002) <= 2:
        return "*" * len(aac002)
    return aac002[0] + "*" * (len(aac002) - 2) + aac002[-1]


def mask_name(aac003: str) -> str:
    """Keep only the last character of a name: **三."""
    if len(aac003) <= 1:
        return "*"
    return "*" * (len(aac003) - 1) + aac003[-1]


def mask_mobile(aac067: str) -> str:
    """Keep the first three and last four digits of a mobile number: 138****1234."""
    if len(aac067) < 8:
        return "*" * len(aac067)
    return aac067[:3] + "*" * (len(aac067) - 7) + aac067[-4:]


def mask_card_number(aaz500: str) -> str:
    """Keep the first and last two characters of a card number: A1*****89."""
    if len(aaz500) <= 4:
        return "*" * len(aaz500)
    return aaz500[:2] + "*" * (len(aaz500) - 4) + aaz500[-2:]


def mask_bank_account(account: str) -> str:
    """Keep the last four digits of a bank account."""
    if len(account) <= 4:
        return "*" * len(account)
    return "*" * (len(account) - 4) + account[-4:]
