"""E-card password rules: six digits, not guessable, stored as argon2id of a keyed pre-hash."""

from __future__ import annotations

import itertools
import re
from datetime import date

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from essc.core.executors import PASSWORD_KDF, off_loop
from essc.ecards.errors import WeakPassword
from essc.kit.crypto.base import CryptoSuite
from essc.kit.errors import InvalidInput

# OWASP's argon2id minimum; the pepper (a key-store key) is what stops offline guessing of 10^6 PINs.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

# ASCII digits only: str.isdigit() also takes superscripts and other scripts' digits, which int() may refuse.
_SIX_DIGITS = re.compile(r"[0-9]{6}")
_COMMON = frozenset(
    {"123123", "112233", "520520", "521521", "147258", "159357", "123321", "111222", "101010"}
)


def weakness(pin: str, birth: date) -> str | None:
    """Why a six-digit password is too weak, or None when it is acceptable."""
    if len(set(pin)) == 1:
        return "all six digits are the same"
    steps = {int(b) - int(a) for a, b in itertools.pairwise(pin)}
    if steps in ({1}, {-1}):
        return "the digits are consecutive"
    if pin[:2] * 3 == pin or pin[:3] * 2 == pin:
        return "the digits repeat a short pattern"
    if pin in _COMMON:
        return "it is among the most common passwords"
    forms = {
        birth.strftime("%y%m%d"),
        birth.strftime("%m%d%y"),
        birth.strftime("%d%m%y"),
        birth.strftime("%Y%m%d")[2:],
        birth.strftime("%Y")[:2] + birth.strftime("%m%d"),
        birth.strftime("%Y") + birth.strftime("%m"),
    }
    if pin in forms:
        return "it is derived from the birth date"
    return None


def check_new_password(pin: str, birth: date) -> None:
    if not _SIX_DIGITS.fullmatch(pin):
        raise InvalidInput("the e-card password must be exactly 6 digits 0-9", field="password")
    reason = weakness(pin, birth)
    if reason:
        raise WeakPassword(f"choose another password: {reason}", field="password")


def _prehash(suite: CryptoSuite, pepper: bytes, ecard_id: str, pin: str) -> bytes:
    return suite.mac(pepper, f"{ecard_id}\x00{pin}".encode())


def hash_password(suite: CryptoSuite, pepper: bytes, ecard_id: str, pin: str) -> str:
    return off_loop(PASSWORD_KDF, _HASHER.hash, _prehash(suite, pepper, ecard_id, pin))


def password_matches(suite: CryptoSuite, pepper: bytes, ecard_id: str, pin: str, stored: str) -> bool:
    return off_loop(PASSWORD_KDF, _verify, stored, _prehash(suite, pepper, ecard_id, pin))


def _verify(stored: str, prehash: bytes) -> bool:
    try:
        return bool(_HASHER.verify(stored, prehash))
    except (VerificationError, InvalidHashError):
        return False
