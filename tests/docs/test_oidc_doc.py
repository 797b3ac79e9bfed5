"""The worked example of docs/protocol.md, The JWS algorithm SM2SM3, holds."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
from joserfc import jws

from essc.kit.jose import SM2_SM3, Sm2Key, sm2_private_key_from_scalar

TEXT = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text(encoding="utf-8")


def _block(name: str) -> str:
    found = re.search(rf"```\w+ {name}\n(.*?)\n```", TEXT, re.DOTALL)
    assert found is not None, name
    return found.group(1)


def test_the_sm2_jwk_is_the_public_half_of_the_documented_scalar() -> None:
    scalar = re.search(r"private scalar `([0-9a-f]{64})`", TEXT)
    assert scalar is not None
    derived = Sm2Key.of(sm2_private_key_from_scalar(int(scalar.group(1), 16)), kid="example-sm2")
    assert orjson.loads(_block("sm2-jwk")) == dict(derived.as_dict())


def test_the_documented_jws_verifies_under_the_documented_jwk() -> None:
    key = Sm2Key.from_jwk(orjson.loads(_block("sm2-jwk")))
    verified = jws.deserialize_compact(_block("sm2-jws"), key, algorithms=[SM2_SM3])
    assert orjson.loads(verified.payload)["aud"] == "rp-example"
    assert verified.headers()["alg"] == SM2_SM3
