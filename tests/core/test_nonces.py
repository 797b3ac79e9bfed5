from essc.core.nonces import DatabaseNonceStore
from essc.core.platform import Platform


def test_the_database_nonce_store_claims_a_nonce_once_on_every_backend(platform: Platform) -> None:
    store = DatabaseNonceStore(platform.session_factory, platform.clock)
    assert store.claim("caller-1", "nonce-aaaaaaaaaaaaaaaa", 600) is True
    assert store.claim("caller-1", "nonce-aaaaaaaaaaaaaaaa", 600) is False
    assert store.claim("caller-2", "nonce-aaaaaaaaaaaaaaaa", 600) is True
