"""Envelopes of personal fields: round trips, tampering, binding to the call, openssl interop, key purpose."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from essc.kit import envelope
from essc.kit.crypto import get_suite
from essc.kit.crypto.base import CryptoSuite, PrivateKey
from essc.kit.envelope import (
    Context,
    Direction,
    EnvelopeInvalid,
    EnvelopeKeyUnknown,
    PersonalFieldInClear,
    open_envelope,
    seal,
    unwrap_with,
)
from essc.kit.errors import KeyNotFound
from essc.kit.keystore import KeyPurpose
from essc.kit.keystores import FileKeyStore, HsmKeyStore, SandboxHsm

OPENSSL = shutil.which("openssl")
CALL = Context(Direction.REQUEST, "POST", "/v1/ecards/issuance", "channel/4400000101")
FIELDS = {"aac002": "44010619900307123X", "aac003": "王小明", "aac067": "13800138000"}
SM = get_suite("sm")
PRIVATE = SM.generate_private_key()
INTL_PRIVATE = get_suite("intl").generate_private_key()


def _open(suite: CryptoSuite, key: PrivateKey, sealed: Any, context: Context = CALL) -> dict[str, Any]:
    return open_envelope(suite, unwrap_with(suite, "k1", key), sealed, context)


@pytest.mark.parametrize("suite_name", ["sm", "intl"])
def test_round_trip_in_both_suites(suite_name: str) -> None:
    suite = get_suite(suite_name)
    key = suite.generate_private_key()
    sealed = seal(suite, key.public_key(), "k1", FIELDS, CALL)
    assert set(sealed) == set(envelope.PARTS)
    assert sealed["v"] == 1
    assert sealed["kid"] == "k1"
    assert len(base64.b64decode(sealed["iv"])) == suite.aead_nonce_size
    assert "王小明" not in json.dumps(sealed, ensure_ascii=False)
    assert _open(suite, key, sealed) == FIELDS


def test_the_wrapped_key_is_a_fresh_sm4_key_per_envelope() -> None:
    one, two = (seal(SM, PRIVATE.public_key(), "k1", FIELDS, CALL) for _ in range(2))
    assert one["key"] != two["key"]
    assert one["data"] != two["data"]
    assert len(SM.decrypt_with(PRIVATE, base64.b64decode(one["key"]))) == 16


def _flip(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize(
    ("part", "change", "error", "named"),
    [
        ("v", 2, EnvelopeInvalid, "v"),
        ("kid", "k2", EnvelopeKeyUnknown, "kid"),
        ("kid", "", EnvelopeInvalid, "kid"),
        ("key", _flip, EnvelopeInvalid, "key"),
        ("key", "not base64!", EnvelopeInvalid, "key"),
        # A changed nonce is caught by the tag, like changed data: the two cannot be told apart.
        ("iv", _flip, EnvelopeInvalid, "data"),
        ("iv", base64.b64encode(b"short").decode(), EnvelopeInvalid, "iv"),
        ("data", _flip, EnvelopeInvalid, "data"),
        ("data", 42, EnvelopeInvalid, "data"),
    ],
)
def test_tampering_with_each_part_fails_and_names_it(
    part: str, change: Any, error: type[EnvelopeInvalid | EnvelopeKeyUnknown], named: str
) -> None:
    sealed = seal(SM, PRIVATE.public_key(), "k1", FIELDS, CALL)
    sealed[part] = change(sealed[part]) if callable(change) else change
    with pytest.raises(error) as refused:
        _open(SM, PRIVATE, sealed)
    assert refused.value.extensions["part"] == named


def test_missing_and_unknown_members_and_non_objects_are_invalid() -> None:
    sealed = seal(SM, PRIVATE.public_key(), "k1", FIELDS, CALL)
    for broken in ({k: v for k, v in sealed.items() if k != "data"}, {**sealed, "extra": 1}, "sealed", None):
        with pytest.raises(EnvelopeInvalid):
            _open(SM, PRIVATE, broken)


def test_a_key_of_another_receiver_does_not_open_it() -> None:
    sealed = seal(SM, SM.generate_private_key().public_key(), "k1", FIELDS, CALL)
    with pytest.raises(EnvelopeInvalid) as refused:
        _open(SM, PRIVATE, sealed)
    assert refused.value.extensions["part"] == "key"


@pytest.mark.parametrize(
    "other",
    [
        Context(Direction.RESPONSE, CALL.method, CALL.path, CALL.caller),
        Context(CALL.direction, "PUT", CALL.path, CALL.caller),
        Context(CALL.direction, CALL.method, "/v1/ecards/issuance?again=1", CALL.caller),
        Context(CALL.direction, CALL.method, "/v1/ecards/X/level2", CALL.caller),
        Context(CALL.direction, CALL.method, CALL.path, "channel/4400000102"),
    ],
)
def test_an_envelope_opens_only_in_its_own_call(other: Context) -> None:
    sealed = seal(SM, PRIVATE.public_key(), "k1", FIELDS, CALL)
    with pytest.raises(EnvelopeInvalid) as refused:
        _open(SM, PRIVATE, sealed, other)
    assert refused.value.extensions["part"] == "data"


def test_only_personal_fields_may_travel_inside() -> None:
    sealed = seal(SM, PRIVATE.public_key(), "k1", {"aac002": "x", "aaz500": "A12345678"}, CALL)
    with pytest.raises(EnvelopeInvalid, match="aaz500"):
        _open(SM, PRIVATE, sealed)


personal_values = st.dictionaries(
    st.sampled_from(sorted(envelope.PERSONAL_FIELDS)), st.text(max_size=40), min_size=1
)


@settings(max_examples=40, deadline=None)
@given(
    fields=personal_values, path=st.text(min_size=1, max_size=30), suite_name=st.sampled_from(["sm", "intl"])
)
def test_property_round_trip(fields: dict[str, str], path: str, suite_name: str) -> None:
    suite = get_suite(suite_name)
    key = PRIVATE if suite_name == "sm" else INTL_PRIVATE
    context = Context(Direction.RESPONSE, "POST", "/" + path, "terminal/T44000000001")
    assert _open(suite, key, seal(suite, key.public_key(), "k1", fields, context), context) == fields


def test_bodies_are_sealed_and_opened_object_by_object() -> None:
    body = {
        "aaz500": "A12345678",
        "aac002": FIELDS["aac002"],
        "aac067": None,
        "payee": {"aae010": "6222020200112233445", "aae009": "王小明", "bankAccountActive": True},
        "items": [{"aac003": "李四"}, {"note": "nothing personal"}],
    }
    sealed = envelope.seal_fields(body, lambda fields: seal(SM, PRIVATE.public_key(), "k1", fields, CALL))
    assert envelope.clear_field(sealed) is None
    assert sealed["aac067"] is None
    assert "envelope" in sealed["payee"]
    assert "envelope" in sealed["items"][0]
    assert sealed["items"][1] == {"note": "nothing personal"}
    text = json.dumps(sealed, ensure_ascii=False)
    assert "6222020200112233445" not in text
    assert "李四" not in text
    assert FIELDS["aac002"] not in text
    assert envelope.open_fields(sealed, lambda e: _open(SM, PRIVATE, e)) == body


def test_clear_personal_fields_are_found_anywhere_and_named() -> None:
    assert envelope.clear_field({"a": [{"b": {"aac003": "王小明"}}]}) == "a[0].b.aac003"
    assert envelope.clear_field({"aac002": None, "bankAccountActive": True}) is None
    with pytest.raises(PersonalFieldInClear) as refused:
        envelope.refuse_clear_fields({"holder": {"aac002": "44010619900307123X"}})
    assert refused.value.extensions["field"] == "holder.aac002"
    assert refused.value.status == 400
    assert refused.value.code == "personal_field_in_clear"
    assert "envelope" in refused.value.detail


def test_the_byte_search_never_misses_a_personal_field() -> None:
    assert not envelope.may_hold_personal_fields(b'{"busiSeq":"abc","aaz500":"A12345678"}')
    assert envelope.may_hold_personal_fields(b'{"aac002":"x"}')
    assert envelope.may_hold_personal_fields(b'{"envelope":{}}')
    escaped = b'{"aac\\u0030\\u00302":"44010619900307123X"}'
    assert envelope.may_hold_personal_fields(escaped)
    assert envelope.clear_field(json.loads(escaped)) == "aac002"


def test_an_object_with_an_envelope_and_the_same_field_beside_it_is_refused() -> None:
    sealed = seal(SM, PRIVATE.public_key(), "k1", {"aac002": "x"}, CALL)
    with pytest.raises(EnvelopeInvalid, match="beside"):
        envelope.open_fields({"aac002": "y", "envelope": sealed}, lambda e: _open(SM, PRIVATE, e))


def _openssl(*args: str | Path, data: bytes | None = None) -> bytes:
    assert OPENSSL is not None
    done = subprocess.run([OPENSSL, *map(str, args)], input=data, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_a_key_wrapped_by_the_openssl_cli_opens_with_ours(tmp_path: Path) -> None:
    public = tmp_path / "receiver.pub"
    public.write_bytes(PRIVATE.public_key().to_pem())
    sm4_key, iv = b"\x01" * 16, b"\x02" * 12
    wrapped = _openssl("pkeyutl", "-encrypt", "-pubin", "-inkey", public, data=sm4_key)
    data = SM.aead_encrypt(sm4_key, iv, json.dumps(FIELDS).encode(), CALL.aad("k1"))
    sealed = {
        "v": 1,
        "kid": "k1",
        "key": base64.b64encode(wrapped).decode(),
        "iv": base64.b64encode(iv).decode(),
        "data": base64.b64encode(data).decode(),
    }
    assert _open(SM, PRIVATE, sealed) == FIELDS


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_our_wrapped_key_opens_with_the_openssl_cli(tmp_path: Path) -> None:
    private = tmp_path / "receiver.pem"
    private.write_bytes(PRIVATE.to_pem())
    sealed = seal(SM, PRIVATE.public_key(), "k1", FIELDS, CALL)
    sm4_key = _openssl("pkeyutl", "-decrypt", "-inkey", private, data=base64.b64decode(sealed["key"]))
    assert len(sm4_key) == 16
    plaintext = SM.aead_decrypt(
        sm4_key, base64.b64decode(sealed["iv"]), base64.b64decode(sealed["data"]), CALL.aad("k1")
    )
    assert json.loads(plaintext) == FIELDS


@pytest.mark.parametrize("kind", ["file", "hsm"])
def test_key_stores_hold_a_platform_encryption_key_with_rotation(tmp_path: Path, kind: str) -> None:
    if kind == "file":
        FileKeyStore.initialise(tmp_path, SM)
        store: FileKeyStore | HsmKeyStore = FileKeyStore(tmp_path, SM)
    else:
        store = HsmKeyStore(SandboxHsm(tmp_path / "hsm.json"), tmp_path / "meta.json", SM)
    old = store.decrypter()
    assert old.key_id.startswith("pe-")
    sealed = seal(SM, old.public_key(), old.key_id, FIELDS, CALL)

    def unwrap(kid: str, wrapped: bytes) -> bytes:
        return store.decrypter(kid).decrypt(wrapped)

    new_id = store.rotate(KeyPurpose.PLATFORM_ENCRYPTION)
    assert store.decrypter().key_id == new_id != old.key_id
    assert set(store.encryption_keys()) == {old.key_id, new_id}
    assert open_envelope(SM, unwrap, sealed, CALL) == FIELDS  # sealed before the rotation, still opens
    assert store.public_keys().keys().isdisjoint(store.encryption_keys())
    with pytest.raises(ValueError, match="decrypter"):
        store.signer(KeyPurpose.PLATFORM_ENCRYPTION)
    with pytest.raises(ValueError, match="asymmetric"):
        store.data_key(KeyPurpose.PLATFORM_ENCRYPTION)
    for not_encryption in (store.signer().key_id, store.data_key(KeyPurpose.TOKEN).key_id):
        with pytest.raises(KeyNotFound, match="not an encryption key"):
            store.decrypter(not_encryption)
    with pytest.raises(KeyNotFound, match="not a signing key"):
        store.public_key(new_id)
