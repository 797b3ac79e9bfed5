"""Crypto suites: ``sm`` (SM2/SM3/SM4, the default) and ``intl`` (ECDSA P-256/SHA-256/AES-GCM)."""

from __future__ import annotations

from essc.kit.crypto.base import CryptoSuite, PrivateKey, PublicKey
from essc.kit.crypto.intl import IntlSuite
from essc.kit.crypto.sm import SmSuite

__all__ = ["SUITES", "CryptoSuite", "IntlSuite", "PrivateKey", "PublicKey", "SmSuite", "get_suite"]

SUITES: dict[str, type[SmSuite] | type[IntlSuite]] = {"sm": SmSuite, "intl": IntlSuite}


def get_suite(name: str = "sm") -> CryptoSuite:
    """The crypto suite called name ("sm" or "intl"); ValueError for anything else."""
    try:
        return SUITES[name]()
    except KeyError:
        raise ValueError(f"unknown crypto suite {name!r}; choose one of: {', '.join(SUITES)}") from None
