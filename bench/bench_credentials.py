"""Print single-core credential verifications/s (a terminal, offline) beside the bare signatures they need.

A verification of a presentation (essc.kit.sdjwt.verify_presentation, as essc_terminal.verify_credential
runs it) parses the SD-JWT, checks the issuer's ES256 signature, hashes each disclosure, checks the key
binding JWT when the credential names a device key, and reads its entry in a held status list. The floor is
the bare signature work of the same bytes with `cryptography` (one ES256 verification, two with an ES256 key
binding, one ES256 and one SM2 with an SM2 device key): what no implementation can skip. Both sides are timed
in this process's CPU time and interleaved in chunks, so other work on a shared machine hits both alike.

With --issuances N it also times N issuances through the platform's service (credentials.service.issue in one
unit of work each, committed; SQLite in this process, so the database's CPU is counted too), beside the one
ES256 signature an issuance cannot avoid. HTTP, authentication and the sealed answer are not included.
"""

from __future__ import annotations

import argparse
import base64
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from essc.authorisations import service as authorisations
from essc.cardholders.service import load_holders
from essc.cardholders.synthetic import synthetic_holders
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.migrate import upgrade
from essc.core.platform import Platform, build_platform
from essc.core.settings import Settings
from essc.core.uow import UnitOfWork
from essc.credentials import service as credentials
from essc.credentials.schemas import CredentialRequest
from essc.ecards import service as ecards
from essc.ecards.schemas import Attestation, IssueRequest, Purpose
from essc.kit import sdjwt
from essc.kit.crypto import get_suite
from essc.kit.crypto.intl import IntlPrivateKey, IntlPublicKey
from essc.kit.crypto.sm import SmSuite
from essc.shared.policy import Function
from essc.wiring import register_handlers

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


def _uow(platform: Platform, function: Function | None = None) -> UnitOfWork:
    context = RequestContext(actor=Actor.operator("bench"), function=function.value if function else None)
    return UnitOfWork(platform, context)


def issuances(count: int) -> None:
    """CPU per credential issued through the service, and the bare ES256 signature beside it."""
    register_handlers()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        upgrade(url)
        settings = Settings(
            database_url=url, keystore_path=Path(folder) / "keys", run_dispatcher=False, run_sequencer=False
        )
        platform = build_platform(settings)
        try:
            _issue_credentials(platform, count)
        finally:
            platform.close()


def _issue_credentials(platform: Platform, count: int) -> None:
    records = [replace(r, card_status="normal") for r in synthetic_holders("44", count, seed=7)]
    with _uow(platform) as uow:
        load_holders(uow, "44", list(enumerate(records, start=1)))
        key = platform.suite.generate_private_key()
        channel = channels.register(
            uow,
            "4400000999",
            "Bench channel",
            channels.ChannelType.HRSS_APP,
            public_key=key.public_key().to_pem(),
            key_id="k1",
            webhook_url=None,
        )
        channels.commission(uow, channel, list(Function), attested_by="bench")
        authorisations.open_everywhere(uow, channel, list(Function), ["44"], by="operator/bench")
        uow.commit()
    tokens = []
    for record in records:
        with _uow(platform, Function.ISSUANCE) as uow:
            now = platform.clock.now()
            attestation = Attestation(
                method="face", provider="bench", reference="r", score=95, checked_at=now
            )
            request = IssueRequest(
                aab301=record.aab301,
                aac002=record.aac002,
                aac003=record.aac003,
                aaz500=record.aaz500,
                attestation=attestation,
            )
            issued = ecards.issue(uow, channel, request, "bench", "bench")
            _issuance, ecard, _person, _card = ecards.authorise_sign_no(uow, channel, issued.sign_no)
            seq = ecards.issue_busi_seq(uow, ecard, channel, Purpose.CREDENTIAL, "face")
            tokens.append((issued.sign_no, seq.busi_seq))
            uow.commit()
    signer = credentials.signer(platform)
    spent = 0.0
    for sign_no, busi_seq in tokens:
        start = time.process_time()
        with _uow(platform, Function.QUERIES) as uow:
            credentials.issue(uow, channel, sign_no, CredentialRequest(busiSeq=busi_seq))
            uow.commit()
        spent += time.process_time() - start
    start = time.process_time()
    for _ in range(count):
        signer.sign(b"x" * 900)
    floor = (time.process_time() - start) / count
    per = spent / count
    print(
        f"issuance through the service: {per * 1e6:,.0f} us CPU per credential ({count} issuances, "
        f"SQLite in-process); bare ES256 signature {floor * 1e6:,.0f} us; x floor {floor / per:.2f}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--issuances", type=int, default=0, help="also time this many issuances")
    arguments = parser.parse_args()
    main()
    if arguments.issuances:
        issuances(arguments.issuances)
