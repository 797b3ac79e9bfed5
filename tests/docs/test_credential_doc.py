"""docs/protocol.md, a credential presentation: recomputed, verified by us and by the reference peer."""

from __future__ import annotations

import json
import re
from pathlib import Path

from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from essc.kit import sdjwt
from essc.kit.crypto.intl import IntlSuite

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w.-]+) -->\n```\w*\n(?P<body>.*?)\n```", re.DOTALL)
EXAMPLES = {m["name"]: m["body"] for m in EXAMPLE.finditer(DOC.read_text(encoding="utf-8"))}
SUITE = IntlSuite()
NOW = 1767225700
AUD, NONCE = "office/INST100001", "EXAMPLEnonce0000000001"


def _issuer_keys() -> dict[str, object]:
    return {"cs-example": SUITE.load_public_key(EXAMPLES["credential-issuer-public.pem"].encode())}


def _held() -> sdjwt.StatusListToken:
    return sdjwt.StatusListToken.verify(EXAMPLES["credential-status-list"], _issuer_keys(), NOW)  # type: ignore[arg-type]


def test_the_keys_are_a_pair() -> None:
    private = SUITE.load_private_key(EXAMPLES["credential-issuer-private.pem"].encode())
    assert private.public_key().to_pem().decode().strip() == EXAMPLES["credential-issuer-public.pem"]


def test_each_disclosure_and_digest_is_recomputed_exactly() -> None:
    payload = json.loads(EXAMPLES["credential-payload"])
    for line in EXAMPLES["credential-disclosures"].splitlines():
        array, disclosure, digest = line.rsplit(" ", 2)
        salt, name, value = json.loads(array)
        assert sdjwt.make_disclosure(name, value, salt) == disclosure
        assert sdjwt.digest_of(disclosure) == digest
        assert digest in payload["_sd"]
    assert payload["_sd"] == sorted(payload["_sd"])


def test_the_presentation_is_made_of_the_bytes_shown() -> None:
    issuer_jwt, *disclosures, kb = EXAMPLES["credential-presentation"].split("~")
    head, body, _signature = issuer_jwt.split(".")
    assert head == sdjwt.b64url(EXAMPLES["credential-header"].encode())
    assert body == sdjwt.b64url(EXAMPLES["credential-payload"].encode())
    kb_head, kb_body, _kb_signature = kb.split(".")
    assert kb_head == sdjwt.b64url(EXAMPLES["credential-kb-header"].encode())
    assert kb_body == sdjwt.b64url(EXAMPLES["credential-kb-payload"].encode())
    presented = EXAMPLES["credential-presentation"][: -len(kb)]
    assert json.loads(EXAMPLES["credential-kb-payload"])["sd_hash"] == sdjwt.sd_hash(presented)
    assert len(disclosures) == 2


def test_the_status_list_inflates_to_the_entries_shown() -> None:
    held = _held()
    assert held.packed == bytes([0, 0x40, 0x08]) + bytes(509)
    assert (held.status(7), held.status(9), held.status(1234)) == (1, 2, 0)
    assert EXAMPLES["credential-status-list"].split(".")[1] == sdjwt.b64url(
        EXAMPLES["credential-status-list-payload"].encode()
    )


def test_the_presentation_verifies() -> None:
    held = _held()
    verified = sdjwt.verify_presentation(
        EXAMPLES["credential-presentation"],
        _issuer_keys(),  # type: ignore[arg-type]
        now=NOW,
        status_lists={held.uri: held},
        expected_aud=AUD,
        expected_nonce=NONCE,
        issuer="https://essc.example",
        vct="urn:essc:vct:ecard-identity:1",
    )
    assert verified.disclosed == {"aab301", "cardStatus"}
    assert verified.key_bound


def test_the_reference_implementation_verifies_the_presentation() -> None:
    key = JWK.from_pem(EXAMPLES["credential-issuer-public.pem"].encode())
    verifier = SDJWTVerifier(
        EXAMPLES["credential-presentation"], lambda _iss, _header: key, expected_aud=AUD, expected_nonce=NONCE
    )
    claims = verifier.get_verified_payload()
    assert claims["aab301"] == "440106"
    assert claims["cardStatus"] == "normal"
    assert "maskedName" not in claims
