"""Print single-core credential verifications/s (a terminal, offline) beside the bare signatures they need.

A verification of a presentation (essc.kit.sdjwt.verify_presentation, as essc_terminal.verify_credential
runs it) parses the SD-JWT, checks the issuer's ES256 signature, hashes each disclosure, checks the key
binding JWT when the credential names a device key, and reads its entry in a held status list. The floor is
the bare signature work of the same bytes with `cryptography` (one ES256 verification, two with an ES256 key
binding, one ES256 and one SM2 with an SM2 device key): what no implementation can skip. Both sides are timed
in this process's CPU time and interleaved in chunks, so other work on a shared machine hits both alike.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from essc.kit import sdjwt
from essc.kit.crypto import get_suite
from essc.kit.crypto.intl import IntlPrivateKey, IntlPublicKey
from essc.kit.crypto.sm import SmSuite

ROUNDS = 2_000
CHUNK = 50
NOW = 1_800_000_000
KID, URI, AUD, NONCE = "cs-bench", "https://essc.bench/v1/credentials/status-lists/44/1", "office/1", "n-1"


def _jws_parts(token: str) -> tuple[bytes, bytes]:
    """(signing input, DER signature) of a compact ES256 JWS, for the floor."""
    head, body, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    return f"{head}.{body}".encode("ascii"), encode_dss_signature(r, s)


def compare(verify: Callable[[], object], floor: Callable[[], object]) -> tuple[float, float]:
    """(floor ops/s, verifications/s) in alternating chunks of CPU time."""
    for _ in range(CHUNK):
        verify()
        floor()
    floor_seconds = verify_seconds = 0.0
    for _ in range(ROUNDS // CHUNK):
        start = time.process_time()
        for _ in range(CHUNK):
            floor()
        floor_seconds += time.process_time() - start
        start = time.process_time()
        for _ in range(CHUNK):
            verify()
        verify_seconds += time.process_time() - start
    return ROUNDS / floor_seconds, ROUNDS / verify_seconds


def main() -> None:
    p256, sm = get_suite("intl"), SmSuite()
    issuer = p256.generate_private_key()
    assert isinstance(issuer, IntlPrivateKey)
    signer = sdjwt.Es256Signer(KID, lambda message: p256.sign(issuer, message))
    keys = {KID: issuer.public_key()}
    token = sdjwt.StatusListToken.sign(
        signer, URI, {7: 1, 9: 2}, size=1 << 20, bits=2, issued_at=NOW, expires_at=NOW + 86_400, ttl=300
    )
    held = sdjwt.StatusListToken.verify(token, keys, NOW)
    lists = {held.uri: held}
    disclosable = {"maskedName": "王*明", "maskedIdNumber": "4****************X", "aab301": "440106"}
    disclosable |= {"cardStatus": "normal", "aac003": "王小明"}
    claims = {
        "iss": "https://essc.bench",
        "vct": "urn:essc:vct:ecard-identity:1",
        "iat": NOW,
        "exp": NOW + 86_400,
    }
    claims["status"] = {"status_list": {"idx": 1234, "uri": URI}}
    public = issuer.public_key()
    assert isinstance(public, IntlPublicKey)
    ecdsa = ec.ECDSA(hashes.SHA256())

    p256_device, sm_device = p256.generate_private_key(), sm.generate_private_key()
    cases: list[tuple[str, str, Callable[[], object]]] = []
    plain = sdjwt.issue(signer, claims, disclosable, decoys=2)
    shown = sdjwt.present(plain.combined(), ["aab301", "aac003"])
    issuer_input, issuer_der = _jws_parts(plain.jwt)

    def one_es256() -> None:
        public.key.verify(issuer_der, issuer_input, ecdsa)

    cases.append(("unbound, 2 of 5 claims disclosed", shown, one_es256))
    for name, device, suite_name in (("ES256", p256_device, "intl"), ("SM2", sm_device, "sm")):
        suite = p256 if suite_name == "intl" else sm
        bound = sdjwt.issue(signer, claims | {"cnf": {"jwk": sdjwt.jwk_of(device.public_key())}}, disclosable)
        kb_signer = sdjwt.suite_signer(suite_name, "device", lambda m, d=device, s=suite: s.sign(d, m))
        presented = sdjwt.present(
            bound.combined(), ["aab301"], device=kb_signer, nonce=NONCE, aud=AUD, iat=NOW
        )
        bound_input, bound_der = _jws_parts(bound.jwt)
        kb = presented.rsplit("~", 1)[1]
        kb_input = kb.rsplit(".", 1)[0].encode("ascii")
        kb_der = suite.sign(device, kb_input) if suite_name == "sm" else _jws_parts(kb)[1]
        device_public = device.public_key()

        def floor(
            bi: bytes = bound_input,
            bd: bytes = bound_der,
            ki: bytes = kb_input,
            kd: bytes = kb_der,
            s: object = suite,
            dp: object = device_public,
        ) -> None:
            public.key.verify(bd, bi, ecdsa)
            s.verify(dp, ki, kd)  # type: ignore[attr-defined]

        cases.append((f"key-bound ({name} device), 1 disclosed", presented, floor))

    print("CPU time of this process; floor = the bare signature verifications of the same bytes, interleaved")
    print(f"{'presentation':44} {'floor/s':>10} {'verify/s':>10} {'x floor':>8}")
    for label, presentation, floor in cases:

        def verify(p: str = presentation) -> None:
            sdjwt.verify_presentation(
                p, keys, now=NOW, status_lists=lists, expected_aud=AUD, expected_nonce=NONCE
            )

        floor_rate, verify_rate = compare(verify, floor)
        print(f"{label:44} {floor_rate:10,.0f} {verify_rate:10,.0f} {verify_rate / floor_rate:8.2f}")
    start = time.process_time()
    for _ in range(20):
        sdjwt.StatusListToken.verify(token, keys, NOW)
    per_list = (time.process_time() - start) / 20
    print(f"status list of 1,048,576 entries: verified and inflated in {per_list * 1000:.2f} ms CPU")


if __name__ == "__main__":
    main()
