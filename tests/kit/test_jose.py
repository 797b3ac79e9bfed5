"""The SM2SM3 JWS algorithm of kit.jose against the openssl command-line tool, an independent SM2."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError

from essc.kit.crypto import openssl_sm2
from essc.kit.errors import MalformedKey
from essc.kit.jose import SM2_SM3, Sm2Key, sm2_private_key_from_scalar

OPENSSL = shutil.which("openssl")
DISTID = "distid:1234567812345678"


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def run(*args: str | Path) -> bytes:
    assert OPENSSL is not None
    done = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_a_jws_we_sign_verifies_with_openssl(tmp_path: Path) -> None:
    key = openssl_sm2.generate_private_key()
    token = jws.serialize_compact({"alg": SM2_SM3}, b'{"sub":"x"}', Sm2Key.of(key), algorithms=[SM2_SM3])
    header, payload, signature = token.split(".")
    raw = _unb64(signature)
    assert len(raw) == 64  # r||s, not DER
    (tmp_path / "pub.pem").write_bytes(key.public_key().to_pem())
    (tmp_path / "input").write_bytes(f"{header}.{payload}".encode())
    (tmp_path / "sig").write_bytes(openssl_sm2.raw_to_der_signature(raw))
    out = run(
        "dgst", "-sm3", "-verify", tmp_path / "pub.pem", "-sigopt", DISTID,
        "-signature", tmp_path / "sig", tmp_path / "input",
    )  # fmt: skip
    assert b"Verified OK" in out


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_a_jws_openssl_signs_verifies_here(tmp_path: Path) -> None:
    run("genpkey", "-algorithm", "SM2", "-out", tmp_path / "key.pem")
    pem = run("pkey", "-in", tmp_path / "key.pem", "-pubout")
    public = openssl_sm2.load_public_key(pem)
    signing_input = _b64(b'{"alg":"SM2SM3"}') + "." + _b64(b"hello")
    (tmp_path / "input").write_bytes(signing_input.encode())
    der = run("dgst", "-sm3", "-sign", tmp_path / "key.pem", "-sigopt", DISTID, tmp_path / "input")
    token = f"{signing_input}.{_b64(openssl_sm2.der_to_raw_signature(der))}"
    jwk = Sm2Key.of(public).as_dict()
    assert (jwk["kty"], jwk["crv"]) == ("EC", "SM2")
    verified = jws.deserialize_compact(token, Sm2Key.from_jwk(dict(jwk)), algorithms=[SM2_SM3])
    assert verified.payload == b"hello"


def test_a_changed_payload_or_another_key_fails() -> None:
    key = Sm2Key.of(openssl_sm2.generate_private_key())
    token = jwt.encode({"alg": SM2_SM3}, {"sub": "a"}, key, algorithms=[SM2_SM3])
    header, _payload, signature = token.split(".")
    forged = ".".join((header, _b64(b'{"sub":"b"}'), signature))
    public = Sm2Key.from_jwk(dict(key.as_dict()))
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, public, algorithms=[SM2_SM3])
    other = Sm2Key.of(openssl_sm2.generate_private_key().public_key())
    with pytest.raises(BadSignatureError):
        jwt.decode(token, other, algorithms=[SM2_SM3])
    assert jwt.decode(token, public, algorithms=[SM2_SM3]).claims == {"sub": "a"}


def test_jwk_round_trip_and_refusals() -> None:
    key = openssl_sm2.generate_private_key()
    jwk = dict(Sm2Key.of(key, kid="k").as_dict())
    assert "d" not in jwk
    assert jwk["kid"] == "k"
    assert Sm2Key.from_jwk(jwk).public_key == key.public_key()
    with pytest.raises(MalformedKey):
        Sm2Key.from_jwk({**jwk, "crv": "P-256"})
    with pytest.raises(MalformedKey):
        Sm2Key.from_jwk({**jwk, "x": _b64(b"short")})


def test_a_scalar_gives_the_same_key_each_time() -> None:
    first, second = sm2_private_key_from_scalar(12345), sm2_private_key_from_scalar(12345)
    assert first.public_key() == second.public_key()
    with pytest.raises(MalformedKey):
        sm2_private_key_from_scalar(0)
