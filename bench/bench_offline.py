"""Print single-core offline code verifications/s through OfflineVerifier.verify, relative to raw SM2 verify.

Two cases per suite: a realistic pool of 1,000 devices whose certificates the terminal has seen before (one
signature verification a code), and the cold case where every code brings a certificate never seen (two).
Both sides are timed in this process's CPU time and interleaved in small chunks, so that other work on a
shared machine neither slows one side more than the other nor counts against either.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from essc.kit.crypto import CryptoSuite, PrivateKey, get_suite
from essc.kit.crypto.openssl_sm2 import openssl_version
from essc.kit.offline import OfflineVerifier, issue_certificate, make_offline_code, sign_status_list

MIN_SECONDS = 1.0
DEVICES = 1_000
COLD_CODES = 2_000
WARM_PER_DEVICE = 4
CHUNK = 50
T0 = 1_800_000_000
KEY_ID = "platform-2026"


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


def codes_of(suite: CryptoSuite, platform: PrivateKey, devices: int, per_device: int) -> list[str]:
    """per_device codes (distinct counters) from each of `devices` fresh devices, interleaved."""
    pool = []
    for _ in range(devices):
        device = suite.generate_private_key()
        certificate = issue_certificate(
            suite, lambda m: suite.sign(platform, m), KEY_ID, device.public_key(), "44", T0 - 3600, 86_400
        )
        pool.append((device, certificate))
    return [
        make_offline_code(suite, device, certificate, T0, counter, "01")
        for counter in range(per_device)
        for device, certificate in pool
    ]


def terminal(suite: CryptoSuite, platform: PrivateKey) -> OfflineVerifier:
    """A terminal holding a fresh status list of 1,000 revoked certificates (a set lookup a code)."""
    verifier = OfflineVerifier(suite, {KEY_ID: platform.public_key()}, lambda: T0)
    revoked = [os.urandom(16) for _ in range(1000)]
    status = sign_status_list(
        suite, lambda m: suite.sign(platform, m), KEY_ID, "44", T0 - 60, T0 + 3600, revoked
    )
    verifier.update_status_list(status.encode())
    return verifier


def verifications(verifier: OfflineVerifier, payloads: list[str]) -> float:
    """CPU seconds to verify payloads, each accepted once."""
    start = time.process_time()
    for payload in payloads:
        verifier.verify(payload)
    return time.process_time() - start


def compare(verifier: OfflineVerifier, payloads: list[str], raw: Callable[[], object]) -> tuple[float, float]:
    """(raw SM2 verify/s, offline verify/s), measured in alternating chunks so load hits both alike."""
    raw_seconds = offline_seconds = 0.0
    for i in range(0, len(payloads), CHUNK):
        chunk = payloads[i : i + CHUNK]
        start = time.process_time()
        for _ in chunk:
            raw()
        raw_seconds += time.process_time() - start
        offline_seconds += verifications(verifier, chunk)
    return len(payloads) / raw_seconds, len(payloads) / offline_seconds


def main() -> None:
    print(f"libcrypto: {openssl_version()}")
    sm = get_suite("sm")
    message = os.urandom(256)
    key = sm.generate_private_key()
    public, signature = key.public_key(), sm.sign(key, message)

    def raw() -> None:
        sm.verify(public, message, signature)

    rate(raw)  # warm-up, and the figure bench_crypto prints
    print("CPU time of this process, raw SM2 verifications interleaved with the offline ones in chunks of 50")
    print(f"{'operation':52} {'ops/s':>10} {'x SM2 verify':>14}")
    for name in ("sm", "intl"):
        suite = get_suite(name)
        platform = suite.generate_private_key()
        warm_payloads = codes_of(suite, platform, DEVICES, 1 + WARM_PER_DEVICE)
        warm_terminal = terminal(suite, platform)
        # The first sight of each device verifies its certificate; time only the codes after that.
        verifications(warm_terminal, warm_payloads[:DEVICES])
        baseline, warm = compare(warm_terminal, warm_payloads[DEVICES:], raw)
        print(f"{f'{name}: SM2 verify (256 B), raw':52} {baseline:10,.0f} {1.0:14.2f}")
        print(
            f"{f'{name}: offline verify, {DEVICES:,} known devices':52} {warm:10,.0f} {warm / baseline:14.2f}"
        )
        baseline, cold = compare(terminal(suite, platform), codes_of(suite, platform, COLD_CODES, 1), raw)
        print(f"{f'{name}: offline verify, every certificate new':52} {cold:10,.0f} {cold / baseline:14.2f}")


if __name__ == "__main__":
    main()
