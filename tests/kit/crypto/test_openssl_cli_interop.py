"""Interoperability with the openssl command-line tool, both ways."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from essc.kit.crypto import openssl_sm2
from essc.kit.crypto.sm import sm3, sm4_cbc_decrypt, sm4_cbc_encrypt

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
DISTID = "distid:" + openssl_sm2.DEFAULT_DISTID.decode()


def run(*args: str | Path, data: bytes | None = None) -> bytes:
    assert OPENSSL is not None
    done = subprocess.run([OPENSSL, *map(str, args)], input=data, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, openssl_sm2.Sm2PrivateKey]:
    directory = tmp_path_factory.mktemp("cli")
    key = openssl_sm2.generate_private_key()
    (directory / "ours.pem").write_bytes(key.to_pem())
    (directory / "ours.pub").write_bytes(key.public_key().to_pem())
    return directory / "ours.pem", directory / "ours.pub", key


def test_our_signature_verifies_with_openssl(keys: tuple[Path, Path, openssl_sm2.Sm2PrivateKey]) -> None:
    _, pub, key = keys
    message = pub.parent / "msg"
    message.write_bytes(b"interop message")
    signature = pub.parent / "sig"
    signature.write_bytes(key.sign(b"interop message"))
    out = run(
        "pkeyutl",
        "-verify",
        "-rawin",
        "-digest",
        "sm3",
        "-pubin",
        "-inkey",
        pub,
        "-in",
        message,
        "-sigfile",
        signature,
        "-pkeyopt",
        DISTID,
    )
    assert b"Signature Verified Successfully" in out
    run("dgst", "-sm3", "-verify", pub, "-sigopt", DISTID, "-signature", signature, message)


def test_openssl_signature_verifies_with_ours(tmp_path: Path) -> None:
    private = tmp_path / "theirs.pem"
    run("genpkey", "-algorithm", "SM2", "-out", private)
    public = openssl_sm2.load_public_key(run("pkey", "-in", private, "-pubout"))
    message = tmp_path / "msg"
    message.write_bytes(b"signed by openssl")
    signature = tmp_path / "sig"
    run(
        "pkeyutl",
        "-sign",
        "-rawin",
        "-digest",
        "sm3",
        "-inkey",
        private,
        "-in",
        message,
        "-out",
        signature,
        "-pkeyopt",
        DISTID,
    )
    public.verify(b"signed by openssl", signature.read_bytes())
    other = run("dgst", "-sm3", "-sign", private, "-sigopt", "distid:Alice", message)
    public.verify(b"signed by openssl", other, distid=b"Alice")
    assert openssl_sm2.load_private_key(private.read_bytes()).public_key() == public


def test_encryption_interop(keys: tuple[Path, Path, openssl_sm2.Sm2PrivateKey]) -> None:
    private, pub, key = keys
    ciphertext = pub.parent / "ct-ours"
    ciphertext.write_bytes(key.public_key().encrypt(b"for openssl"))
    assert run("pkeyutl", "-decrypt", "-inkey", private, "-in", ciphertext) == b"for openssl"
    theirs = run("pkeyutl", "-encrypt", "-pubin", "-inkey", pub, data=b"from openssl")
    assert key.decrypt(theirs) == b"from openssl"


def test_sm4_cbc_interop() -> None:
    key, iv = os.urandom(16), os.urandom(16)
    data = os.urandom(45)
    theirs = run("enc", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), data=data)
    assert theirs == sm4_cbc_encrypt(key, iv, data)
    assert sm4_cbc_decrypt(key, iv, theirs) == data
    assert (
        run("enc", "-d", "-sm4-cbc", "-K", key.hex(), "-iv", iv.hex(), data=sm4_cbc_encrypt(key, iv, data))
        == data
    )


def test_sm3_matches_openssl_dgst() -> None:
    data = os.urandom(1000)
    assert run("dgst", "-sm3", "-binary", data=data) == sm3(data)
