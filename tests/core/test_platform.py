from pathlib import Path

import pytest

from essc.core.platform import open_keystore
from essc.core.settings import Settings
from essc.kit.crypto import get_suite
from essc.kit.keystore import KeyPurpose


@pytest.mark.parametrize("kind", ["file", "sandbox-hsm"])
def test_every_worker_opening_the_key_store_sees_the_same_keys(tmp_path: Path, kind: str) -> None:
    settings = Settings(keystore_path=str(tmp_path / "keys"), keystore_kind=kind)
    suite = get_suite("sm")
    first, second = open_keystore(settings, suite), open_keystore(settings, suite)

    assert first.public_keys().keys() == second.public_keys().keys()
    signer = first.signer()
    signature = signer.sign(b"payload")
    suite.verify(second.public_key(signer.key_id), b"payload", signature)
    key = first.data_key(KeyPurpose.PERSONAL_DATA)
    assert second.data_key_by_id(key.key_id).secret == key.secret


def test_an_unknown_key_store_kind_is_refused(tmp_path: Path) -> None:
    settings = Settings(keystore_path=str(tmp_path), keystore_kind="paper")
    with pytest.raises(ValueError, match="ESSC_KEYSTORE_KIND"):
        open_keystore(settings, get_suite("sm"))
