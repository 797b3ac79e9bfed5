"""File and HSM key stores: initialisation, rotation, permissions, signers."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from essc.kit.crypto import get_suite
from essc.kit.errors import InvalidSignature, KeyNotFound
from essc.kit.keystore import SYMMETRIC_PURPOSES, KeyPurpose
from essc.kit.keystores import FileKeyStore, HsmKeyStore, SandboxHsm, key_id_prefix


@pytest.mark.parametrize("suite_name", ["sm", "intl"])
def test_file_keystore_initialise_is_idempotent(tmp_path: Path, suite_name: str) -> None:
    suite = get_suite(suite_name)
    FileKeyStore.initialise(tmp_path, suite)
    first = json.loads((tmp_path / "keystore.json").read_text())
    FileKeyStore.initialise(tmp_path, suite)
    assert json.loads((tmp_path / "keystore.json").read_text()) == first
    store = FileKeyStore(tmp_path, suite)
    for purpose in SYMMETRIC_PURPOSES:
        key = store.data_key(purpose)
        assert key.key_id.startswith(key_id_prefix(purpose) + "-")
        assert len(key.secret) == (16 if suite_name == "sm" else 32)
        assert store.data_key_by_id(key.key_id) == key
    assert len({store.data_key(p).secret for p in SYMMETRIC_PURPOSES}) == len(SYMMETRIC_PURPOSES)
    with pytest.raises(ValueError, match="suite"):
        FileKeyStore(tmp_path, get_suite("intl" if suite_name == "sm" else "sm"))


def test_files_are_private(tmp_path: Path) -> None:
    FileKeyStore.initialise(tmp_path / "keys", get_suite("sm"))
    files = [f for f in (tmp_path / "keys").iterdir() if not f.name.startswith(".")]
    assert len(files) == 1 + len(KeyPurpose)
    for file in files:
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert len(list((tmp_path / "keys").glob("ps-*.pem"))) == 1
    assert len(list((tmp_path / "keys").glob("*.key"))) == len(SYMMETRIC_PURPOSES)


def test_signer_and_public_keys(tmp_path: Path) -> None:
    suite = get_suite("sm")
    FileKeyStore.initialise(tmp_path, suite)
    store = FileKeyStore(tmp_path, suite)
    signer = store.signer()
    signature = signer.sign(b"response")
    suite.verify(store.public_key(signer.key_id), b"response", signature)
    assert store.public_keys() == {signer.key_id: signer.public_key()}
    with pytest.raises(KeyNotFound):
        store.public_key("ps-00000000")
    with pytest.raises(KeyNotFound):
        store.data_key_by_id("pd-00000000")
    with pytest.raises(KeyNotFound):
        store.data_key_by_id("../../etc/passwd")
    with pytest.raises(KeyNotFound):
        store.public_key(store.data_key(KeyPurpose.TOKEN).key_id)
    with pytest.raises(ValueError, match="symmetric"):
        store.signer(KeyPurpose.TOKEN)


def test_rotation_keeps_old_keys_readable(tmp_path: Path) -> None:
    suite = get_suite("sm")
    FileKeyStore.initialise(tmp_path, suite)
    store = FileKeyStore(tmp_path, suite)
    old_data = store.data_key(KeyPurpose.PERSONAL_DATA)
    old_signer = store.signer()
    old_signature = old_signer.sign(b"m")

    new_data_id = store.rotate(KeyPurpose.PERSONAL_DATA)
    new_signer_id = store.rotate(KeyPurpose.PLATFORM_SIGNING)

    assert store.data_key(KeyPurpose.PERSONAL_DATA).key_id == new_data_id != old_data.key_id
    assert store.data_key_by_id(old_data.key_id) == old_data
    assert store.signer().key_id == new_signer_id
    assert set(store.public_keys()) == {old_signer.key_id, new_signer_id}
    suite.verify(store.public_key(old_signer.key_id), b"m", old_signature)
    with pytest.raises(InvalidSignature):
        suite.verify(store.public_key(new_signer_id), b"m", old_signature)
    assert store.key_ids(KeyPurpose.PERSONAL_DATA) == [old_data.key_id, new_data_id]

    # A second process sees the rotation after reopening, and old ids on demand.
    other = FileKeyStore(tmp_path, suite)
    assert other.current_key_id(KeyPurpose.PERSONAL_DATA) == new_data_id
    meta = json.loads((tmp_path / "keystore.json").read_text())
    entries = meta["purposes"]["personal-data"]["keys"]
    assert entries[0]["retired"] is not None
    assert entries[1]["retired"] is None


def test_store_without_initialise_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyNotFound, match="initialise"):
        FileKeyStore(tmp_path, get_suite("sm"))


@pytest.mark.parametrize("suite_name", ["sm", "intl"])
def test_hsm_keystore_keeps_signing_keys_in_the_hsm(tmp_path: Path, suite_name: str) -> None:
    suite = get_suite(suite_name)
    hsm = SandboxHsm()
    metadata = tmp_path / "hsm" / "hsm-metadata.json"
    store = HsmKeyStore(hsm, metadata, suite)
    signer = store.signer()
    suite.verify(store.public_key(signer.key_id), b"x", signer.sign(b"x"))
    assert [p.name for p in metadata.parent.iterdir() if not p.name.startswith(".")] == [metadata.name]
    assert stat.S_IMODE(metadata.stat().st_mode) == 0o600
    text = metadata.read_text()
    assert "PRIVATE KEY" not in text
    data = store.data_key(KeyPurpose.PERSONAL_DATA)
    assert data.secret.hex() not in text
    assert len(data.secret) == suite.aead_key_size

    # Reopening with the same HSM unwraps the same keys; rotation keeps old ones.
    again = HsmKeyStore(hsm, metadata, suite)
    assert again.data_key(KeyPurpose.PERSONAL_DATA) == data
    new_id = again.rotate(KeyPurpose.PERSONAL_DATA)
    assert again.data_key(KeyPurpose.PERSONAL_DATA).key_id == new_id
    assert again.data_key_by_id(data.key_id) == data
    again.rotate(KeyPurpose.PLATFORM_SIGNING)
    assert set(again.public_keys()) == {signer.key_id, again.signer().key_id}

    # Another HSM does not hold the KEK: a clear KeyNotFound, not garbage.
    with pytest.raises(KeyNotFound, match="KEK"):
        HsmKeyStore(SandboxHsm(), metadata, suite).data_key(KeyPurpose.PERSONAL_DATA)


def test_sandbox_hsm_state_file_survives_restarts(tmp_path: Path) -> None:
    suite = get_suite("sm")
    state = tmp_path / "sandbox-hsm.json"
    store = HsmKeyStore(SandboxHsm(state), tmp_path / "meta.json", suite)
    signer_id = store.signer().key_id
    secret = store.data_key(KeyPurpose.TOKEN)
    reopened = HsmKeyStore(SandboxHsm(state), tmp_path / "meta.json", suite)
    assert reopened.signer().key_id == signer_id
    assert reopened.data_key(KeyPurpose.TOKEN) == secret
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
