"""SM2 with SM3 as a JWS algorithm of joserfc ("SM2SM3"), and SM2 keys as JWKs (kty "EC", crv "SM2").

The signature is the 64-byte r||s (each 32 bytes, big-endian, left-padded), as ES256 carries P-256
signatures (RFC 7518 §3.4), over the JWS signing input with the SM2 distinguishing ID 1234567812345678
(GB/T 35276's default), so any SM2 implementation that takes that ID verifies it (docs/protocol.md).
"""

from __future__ import annotations

import base64
from typing import Any, ClassVar, Final

from joserfc._rfc7515.model import JWSAlgModel
from joserfc._rfc7517.models import NativeKeyBinding
from joserfc.errors import InvalidKeyTypeError
from joserfc.jwk import ECKey
from joserfc.jws import JWSRegistry

from essc.kit.crypto import openssl_sm2
from essc.kit.crypto.openssl_sm2 import Sm2PrivateKey, Sm2PublicKey
from essc.kit.errors import InvalidSignature, MalformedKey

__all__ = ["SM2_CURVE", "SM2_SM3", "Sm2Key", "Sm2Sm3Algorithm", "sm2_private_key_from_scalar"]

SM2_SM3: Final = "SM2SM3"
SM2_CURVE: Final = "SM2"
# The SM2 curve's order n (GB/T 32918.5); a private scalar d lies in [1, n - 2].
SM2_ORDER: Final = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
_SPKI_PREFIX: Final = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d03420004")
# PKCS#8 PrivateKeyInfo of an SM2 key up to its 32-byte scalar: version 0, id-ecPublicKey with the SM2
# curve, then an OCTET STRING holding the SEC1 ECPrivateKey (version 1, the scalar; OpenSSL derives Q).
_PKCS8_PREFIX: Final = bytes.fromhex("3041020100301306072a8648ce3d020106082a811ccf5501822d042730250201010420")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sm2_private_key_from_scalar(d: int) -> Sm2PrivateKey:
    """An SM2 private key from its scalar (1 <= d <= n - 2); OpenSSL computes the public point."""
    if not 1 <= d <= SM2_ORDER - 2:
        raise MalformedKey("an SM2 private scalar must lie in [1, n - 2]")
    return openssl_sm2.load_private_key(_PKCS8_PREFIX + d.to_bytes(32, "big"))


class _Sm2Binding(NativeKeyBinding):
    """Converts SM2 keys of essc.kit.crypto to and from the JWK members crv, x, y."""

    @classmethod
    def convert_raw_key_to_dict(cls, raw_key: Any, private: bool) -> Any:
        public = raw_key.public_key() if isinstance(raw_key, Sm2PrivateKey) else raw_key
        point = public.raw_point()
        return {"crv": SM2_CURVE, "x": _b64(point[1:33]), "y": _b64(point[33:])}

    @classmethod
    def import_from_dict(cls, value: Any) -> Any:
        if value.get("crv") != SM2_CURVE:
            raise MalformedKey("an SM2 JWK has crv SM2")
        if "d" in value:
            raise MalformedKey("SM2 private keys are not accepted as JWKs; load them from the key store")
        x, y = _unb64(str(value["x"])), _unb64(str(value["y"]))
        if len(x) != 32 or len(y) != 32:
            raise MalformedKey("SM2 JWK coordinates are 32 bytes each")
        return openssl_sm2.load_public_key(_SPKI_PREFIX + x + y)

    @classmethod
    def import_from_bytes(cls, value: bytes, password: str | bytes | None = None) -> Any:
        try:
            return openssl_sm2.load_private_key(value)
        except MalformedKey:
            return openssl_sm2.load_public_key(value)


class Sm2Key(ECKey):
    """An SM2 key as a JWK of kty EC, crv SM2 (a subclass of ECKey, so joserfc's key lookup accepts it)."""

    binding: ClassVar[type[NativeKeyBinding]] = _Sm2Binding  # type: ignore[assignment]

    @property
    def is_private(self) -> bool:
        return isinstance(self.raw_value, Sm2PrivateKey)

    @property
    def public_key(self) -> Any:
        raw: Any = self.raw_value
        return raw.public_key() if isinstance(raw, Sm2PrivateKey) else raw

    @property
    def private_key(self) -> Any:
        raw: Any = self.raw_value
        return raw if isinstance(raw, Sm2PrivateKey) else None

    @property
    def curve_name(self) -> str:
        return SM2_CURVE

    @property
    def curve_key_size(self) -> int:
        return 256

    def exchange_derive_key(self, key: Any) -> bytes:
        raise InvalidKeyTypeError("SM2 keys sign only here; JWE to an SM2 key is not offered")

    @classmethod
    def of(cls, key: Sm2PrivateKey | Sm2PublicKey, kid: str | None = None) -> Sm2Key:
        """A JWK of an SM2 key from the crypto kit (private for signing, public for verifying)."""
        return cls(key, key, {"kid": kid} if kid else None)  # type: ignore[arg-type]

    @classmethod
    def from_jwk(cls, value: dict[str, Any]) -> Sm2Key:
        """The public SM2 key of a JWK {kty EC, crv SM2, x, y}; MalformedKey otherwise."""
        if value.get("kty") != "EC":
            raise MalformedKey("an SM2 JWK has kty EC")
        raw = _Sm2Binding.import_from_dict(value)
        params = {k: v for k, v in value.items() if k in ("kid", "use", "alg")}
        return cls(raw, raw, params or None)  # type: ignore[arg-type]


class Sm2Sm3Algorithm(JWSAlgModel):
    """JWS "SM2SM3": SM2 signature with SM3 under the default distinguishing ID, r||s 64 bytes."""

    name = SM2_SM3
    description = "SM2 signature with SM3 (GB/T 32918.2, distinguishing ID 1234567812345678)"
    key_type = "EC"
    algorithm_security = 256

    def check_key(self, key: Any) -> None:
        super().check_key(key)
        if not isinstance(key, Sm2Key):
            raise InvalidKeyTypeError(f"Algorithm '{self.name}' requires an SM2 key (crv SM2)")

    def sign(self, msg: bytes, key: Any) -> bytes:
        private: Sm2PrivateKey = key.get_op_key("sign")
        return openssl_sm2.der_to_raw_signature(openssl_sm2.sign(private, msg))

    def verify(self, msg: bytes, sig: bytes, key: Any) -> bool:
        public: Sm2PublicKey = key.get_op_key("verify")
        if len(sig) != 64:
            return False
        try:
            openssl_sm2.verify(public, msg, openssl_sm2.raw_to_der_signature(sig))
        except InvalidSignature:
            return False
        return True


JWSRegistry.register(Sm2Sm3Algorithm())
