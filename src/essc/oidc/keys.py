"""The ID-token signing keys, derived from the key store's ID-token seed (KeyPurpose.ID_TOKEN_SEED)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import ec
from joserfc.jwk import ECKey

from essc.kit.jose import SM2_ORDER, SM2_SM3, Sm2Key, sm2_private_key_from_scalar
from essc.kit.keystore import DataKey, KeyPurpose, KeyStore

ES256: Final = "ES256"
ID_TOKEN_ALGORITHMS: Final = (ES256, SM2_SM3)
_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _scalar(seed: bytes, label: bytes, order: int) -> int:
    # 512 bits reduced modulo an order of 256 bits: the bias is about 2^-256 (FIPS 186-5 A.2.1's method).
    wide = hmac.digest(seed, label + b"\x01", hashlib.sha512)
    return int.from_bytes(wide, "big") % (order - 2) + 1


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The current ES256 and SM2SM3 keys of one seed, with their key ids."""

    es256: ECKey
    sm2: Sm2Key

    def for_algorithm(self, alg: str) -> ECKey:
        return self.sm2 if alg == SM2_SM3 else self.es256

    def public_jwks(self) -> dict[str, Any]:
        """The jwks_uri set: standard keys only, so an unchanged client library can parse every member."""
        return {"keys": [self.es256.as_dict(private=False, use="sig", alg=ES256)]}

    def sm2_jwks(self) -> dict[str, Any]:
        """The SM2 keys (kty EC, crv SM2), a set of their own: libraries that know no SM2 refuse the set."""
        return {"keys": [self.sm2.as_dict(private=False, use="sig", alg=SM2_SM3)]}


_cache: dict[str, SigningKeys] = {}


def _derive(seed: DataKey) -> SigningKeys:
    p256 = ec.derive_private_key(_scalar(seed.secret, b"essc-oidc ES256", _P256_ORDER), ec.SECP256R1())
    es256 = ECKey.import_key(p256, {"kid": f"{seed.key_id}-es256"})
    sm2 = Sm2Key.of(
        sm2_private_key_from_scalar(_scalar(seed.secret, b"essc-oidc SM2SM3", SM2_ORDER)),
        kid=f"{seed.key_id}-sm2",
    )
    return SigningKeys(es256, sm2)


def signing_keys(keys: KeyStore) -> SigningKeys:
    """The keys of the current seed (derived once per seed and process: a derivation costs ~0.2 ms)."""
    seed = keys.data_key(KeyPurpose.ID_TOKEN_SEED)
    found = _cache.get(seed.key_id)
    if found is None:
        found = _cache[seed.key_id] = _derive(seed)
    return found
