"""Print single-core ops/s of the platform's primitives, each also relative to SM2 verify in the same run."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from essc.kit.crypto import IntlSuite, SmSuite
from essc.kit.crypto.openssl_sm2 import openssl_version

MIN_SECONDS = 1.0


def rate(operation: Callable[[], object]) -> float:
    """Operations per second, measured over at least MIN_SECONDS after a short warm-up."""
    for _ in range(20):
        operation()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < MIN_SECONDS:
        for _ in range(50):
            operation()
        count += 50
    return count / elapsed


def main() -> None:
    sm, intl = SmSuite(), IntlSuite()
    message = os.urandom(256)
    kib = os.urandom(1024)
    sm_key = sm.generate_private_key()
    sm_public = sm_key.public_key()
    sm_signature = sm.sign(sm_key, message)
    intl_key = intl.generate_private_key()
    intl_signature = intl.sign(intl_key, message)
    sm4_key, aes_key, nonce = os.urandom(16), os.urandom(32), os.urandom(12)

    cases: list[tuple[str, Callable[[], object]]] = [
        ("SM2 verify (256 B)", lambda: sm.verify(sm_public, message, sm_signature)),
        ("SM2 sign (256 B)", lambda: sm.sign(sm_key, message)),
        ("SM2 encrypt (32 B)", lambda: sm.encrypt_to(sm_public, message[:32])),
        ("SM3 (1 KiB)", lambda: sm.hash(kib)),
        ("HMAC-SM3 (1 KiB)", lambda: sm.mac(sm4_key, kib)),
        ("SM4-GCM encrypt (1 KiB)", lambda: sm.aead_encrypt(sm4_key, nonce, kib)),
        ("ECDSA P-256 verify (256 B)", lambda: intl.verify(intl_key.public_key(), message, intl_signature)),
        ("ECDSA P-256 sign (256 B)", lambda: intl.sign(intl_key, message)),
        ("SHA-256 (1 KiB)", lambda: intl.hash(kib)),
        ("HMAC-SHA256 (1 KiB)", lambda: intl.mac(aes_key, kib)),
        ("AES-256-GCM encrypt (1 KiB)", lambda: intl.aead_encrypt(aes_key, nonce, kib)),
    ]
    print(f"libcrypto: {openssl_version()}")
    baseline = 0.0
    print(f"{'operation':32} {'ops/s':>12} {'x SM2 verify':>14}")
    for name, operation in cases:
        ops = rate(operation)
        baseline = baseline or ops
        print(f"{name:32} {ops:12,.0f} {ops / baseline:14.2f}")


if __name__ == "__main__":
    main()
