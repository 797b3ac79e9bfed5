"""The one-time-token helper: the digest every token kind is stored and looked up by, and its lifetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from essc.core.platform import Platform
from essc.kit.keystore import KeyPurpose
from essc.shared.tokens import OneTimeTokens


def test_the_digest_is_the_platforms_keyed_mac_and_never_the_token(platform: Platform) -> None:
    tokens = OneTimeTokens.of(platform)
    key = platform.keys.data_key(KeyPurpose.TOKEN).secret
    assert tokens.digest("abc") == platform.suite.mac(key, b"abc")
    assert tokens.digest("abc") != tokens.digest("abd")
    assert b"abc" not in tokens.digest("abc")


def test_an_issued_token_keeps_its_text_digest_and_expiry(platform: Platform) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    issued = OneTimeTokens.of(platform).issue("t0ken", now, timedelta(seconds=60))
    assert issued.token == "t0ken"
    assert issued.digest == OneTimeTokens.of(platform).digest("t0ken")
    assert issued.expires_at == now + timedelta(seconds=60)
