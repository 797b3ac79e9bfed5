"""docs/protocol.md is true: its examples are recomputed with the platform's code, its openssl part runs."""

from __future__ import annotations

import base64
import importlib
import json
import pkgutil
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

import essc
from essc.kit import codes, envelope, offline, wire
from essc.kit.crypto import get_suite
from essc.kit.crypto.base import PublicKey
from essc.kit.errors import EsscError

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
TEXT = DOC.read_text(encoding="utf-8")
SUITE = get_suite("sm")
EXAMPLE = re.compile(r"<!-- example: (?P<name>[\w.-]+) -->\n```\w*\n(?P<body>.*?)\n```", re.DOTALL)
COMMANDS = re.compile(r"<!-- openssl: (?P<name>\w+) -->\n```sh\n(?P<body>.*?)\n```", re.DOTALL)
EXAMPLES = {m["name"]: m["body"] for m in EXAMPLE.finditer(TEXT)}

CALLER, KEY_ID, TIMESTAMP, NONCE = "channel/4400000001", "k1", 1767225600, "EXAMPLEnonce0000000001"
PLATFORM_KEY, ENCRYPTION_KEY = "ps-example", "pe-example"


def _bytes(name: str) -> bytes:
    return EXAMPLES[name].encode("utf-8")


def _public(name: str) -> PublicKey:
    return SUITE.load_public_key(_bytes(name))


def _verifies(key: PublicKey, message: bytes, signature_name: str) -> None:
    signature = wire.decode_signature(EXAMPLES[signature_name])
    assert signature is not None
    SUITE.verify(key, message, signature)


def test_the_keys_are_pairs() -> None:
    for who in ("channel", "platform"):
        private = SUITE.load_private_key(_bytes(f"{who}-private.pem"))
        assert private.public_key().to_der() == _public(f"{who}-public.pem").to_der()


def test_the_envelope_is_sealed_exactly_as_written() -> None:
    fields = orjson.loads(_bytes("envelope-plaintext"))
    assert orjson.dumps(fields, option=orjson.OPT_SORT_KEYS) == _bytes("envelope-plaintext")
    context = envelope.Context(envelope.Direction.REQUEST, "POST", "/v1/ecards/issuance", CALLER)
    assert context.aad(ENCRYPTION_KEY) == _bytes("envelope-aad")
    sealed = json.loads(EXAMPLES["envelope"])
    key, iv = bytes(range(16)), bytes(range(0x10, 0x1C))
    assert base64.b64decode(sealed["iv"]) == iv
    data = SUITE.aead_encrypt(key, iv, _bytes("envelope-plaintext"), context.aad(ENCRYPTION_KEY))
    assert base64.b64decode(sealed["data"]) == data
    platform = SUITE.load_private_key(_bytes("platform-private.pem"))
    assert SUITE.decrypt_with(platform, base64.b64decode(sealed["key"])) == key
    opened = envelope.open_envelope(
        SUITE, envelope.unwrap_with(SUITE, ENCRYPTION_KEY, platform), sealed, context
    )
    assert opened == fields
    assert orjson.loads(_bytes("request-body"))["envelope"] == sealed


def test_the_request_string_digest_and_signature() -> None:
    body = _bytes("request-body")
    assert SUITE.hash(body).hex() == EXAMPLES["request-digest"]
    canonical = wire.request_string(
        "POST", "/v1/ecards/issuance", TIMESTAMP, NONCE, body, digest=SUITE.hash, caller=CALLER, key_id=KEY_ID
    )
    assert canonical == _bytes("request-canonical")
    _verifies(_public("channel-public.pem"), canonical, "request-signature")


def test_the_answer_string_and_signature() -> None:
    canonical = wire.response_string(
        201, NONCE, TIMESTAMP + 1, _bytes("response-body"), SUITE.hash, caller=CALLER, key_id=PLATFORM_KEY
    )
    assert canonical == _bytes("response-canonical")
    _verifies(_public("platform-public.pem"), canonical, "response-signature")


def test_the_session_string_and_its_exact_mac() -> None:
    session_id = re.search(r"in session `(\w+)`", TEXT)
    assert session_id is not None
    body = b'{"code":"ESSC:1:AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQT","busiType":"01"}'
    canonical = wire.request_string(
        "POST",
        "/v1/qr/resolutions",
        TIMESTAMP,
        NONCE,
        body,
        digest=SUITE.hash,
        caller="terminal/T44000000001",
        session_id=session_id[1],
    )
    assert canonical == _bytes("session-canonical")
    mac = SUITE.mac(bytes.fromhex("00112233445566778899aabbccddeeff"), canonical)
    assert wire.encode_signature(mac) == EXAMPLES["session-mac"]


def test_the_webhook_string_and_signature() -> None:
    body = _bytes("webhook-body")
    event_id = orjson.loads(body)["eventId"]
    canonical = wire.webhook_string(
        event_id, TIMESTAMP, NONCE, body, SUITE.hash, receiver=CALLER, key_id=PLATFORM_KEY
    )
    assert canonical == _bytes("webhook-canonical")
    _verifies(_public("platform-public.pem"), canonical, "webhook-signature")


def test_the_endorsement_string() -> None:
    assert envelope.endorsement_string(ENCRYPTION_KEY, _public("platform-public.pem"), SUITE.hash) == _bytes(
        "endorsement-canonical"
    )


def test_the_qr_payload() -> None:
    payload = codes.token_payload(
        codes.CodeKind.ONLINE, bytes.fromhex("000102030405060708090a0b0c0d0e0f10111213")
    )
    assert payload == EXAMPLES["qr-payload"]
    assert codes.parse_code(payload).body == bytes(range(20))


def test_the_status_list_decodes_and_verifies() -> None:
    listed = offline.StatusList.decode(bytes.fromhex(EXAMPLES["status-list-hex"]))
    assert (listed.province, listed.issued_at, listed.next_update) == ("44", TIMESTAMP, TIMESTAMP + 300)
    assert listed.revoked_serials == (bytes(range(16)),)
    listed.verify(SUITE, {PLATFORM_KEY: _public("platform-public.pem")})


def _every_error() -> Iterator[type[EsscError]]:
    for module in pkgutil.walk_packages(essc.__path__, "essc."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    pending: list[type[EsscError]] = [EsscError]
    while pending:
        error = pending.pop()
        pending.extend(error.__subclasses__())
        if error.__module__.startswith("essc."):
            yield error


def test_every_error_code_is_in_the_table() -> None:
    table = set(re.findall(r"^\| `([a-z0-9_]+)` \| (\d{3}) \|", TEXT, re.MULTILINE))
    errors = {(e.code, str(e.status)) for e in _every_error()}
    missing = sorted(errors - table)
    assert not missing, "add to docs/protocol.md, Error codes: " + ", ".join(f"{c} ({s})" for c, s in missing)
    assert {"internal_error", "method_not_allowed", "not_found"} <= {code for code, _ in table}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command line is required (Debian's openssl package)")
    (tmp_path / "channel.pem").write_bytes(_bytes("channel-private.pem"))
    (tmp_path / "platform.pem").write_bytes(_bytes("platform-public.pem"))
    (tmp_path / "body.json").write_bytes(_bytes("request-body"))
    (tmp_path / "answer.body").write_bytes(_bytes("response-body"))
    (tmp_path / "answer.sig.b64").write_bytes(_bytes("response-signature"))
    return tmp_path


def _run(name: str, workdir: Path) -> str:
    commands = {m["name"]: m["body"] for m in COMMANDS.finditer(TEXT)}
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", commands[name] + '\nprintf "%s" "${signature:-}" > signature.b64'],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_openssl_walk_through_signs_what_the_platform_verifies(workdir: Path) -> None:
    _run("sign", workdir)
    assert (workdir / "request.txt").read_bytes() == _bytes("request-canonical")
    signature = wire.decode_signature((workdir / "signature.b64").read_text())
    assert signature is not None
    SUITE.verify(_public("channel-public.pem"), _bytes("request-canonical"), signature)


def test_the_openssl_walk_through_verifies_the_platforms_answer(workdir: Path) -> None:
    assert "Verified OK" in _run("verify", workdir)
