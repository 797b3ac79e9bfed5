"""A tiny, slow, pure-Python SM2 verifier used only as an independent reference in tests."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

Point = tuple[int, int] | None


@dataclass(frozen=True)
class Curve:
    p: int
    a: int
    b: int
    gx: int
    gy: int
    n: int

    def add(self, p1: Point, p2: Point) -> Point:
        if p1 is None:
            return p2
        if p2 is None:
            return p1
        (x1, y1), (x2, y2) = p1, p2
        if x1 == x2 and (y1 + y2) % self.p == 0:
            return None
        if p1 == p2:
            lam = (3 * x1 * x1 + self.a) * pow(2 * y1, -1, self.p) % self.p
        else:
            lam = (y2 - y1) * pow(x2 - x1, -1, self.p) % self.p
        x3 = (lam * lam - x1 - x2) % self.p
        return x3, (lam * (x1 - x3) - y1) % self.p

    def mul(self, k: int, point: Point) -> Point:
        result: Point = None
        while k:
            if k & 1:
                result = self.add(result, point)
            point = self.add(point, point)
            k >>= 1
        return result


def _b32(value: int) -> bytes:
    return value.to_bytes(32, "big")


def sm3(data: bytes) -> bytes:
    return hashlib.new("sm3", data).digest()


def z_value(curve: Curve, user_id: bytes, px: int, py: int) -> bytes:
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return sm3(
        entl + user_id + _b32(curve.a) + _b32(curve.b) + _b32(curve.gx) + _b32(curve.gy) + _b32(px) + _b32(py)
    )


def verify(curve: Curve, px: int, py: int, user_id: bytes, message: bytes, r: int, s: int) -> bool:
    if not (0 < r < curve.n and 0 < s < curve.n):
        return False
    e = int.from_bytes(sm3(z_value(curve, user_id, px, py) + message), "big")
    t = (r + s) % curve.n
    if t == 0:
        return False
    point = curve.add(curve.mul(s, (curve.gx, curve.gy)), curve.mul(t, (px, py)))
    return point is not None and (e + point[0]) % curve.n == r


# GB/T 32918.2-2016 Annex A: the 256-bit prime-field test curve.
TEST_CURVE = Curve(
    p=0x8542D69E4C044F18E8B92435BF6FF7DE457283915C45517D722EDB8B08F1DFC3,
    a=0x787968B4FA32C3FD2417842E73BBFEFF2F3C848B6831D7E0EC65228B3937E498,
    b=0x63E4C6D3B23B0C849CF84241484BFE48F61D59A5B16BA06E6E12D1DA27C5249A,
    gx=0x421DEBD61B62EAB6746434EBC3CC315E32220B3BADD50BDC4C4E6C147FEDD43D,
    gy=0x0680512BCBB42C07D47349D2153B70C4E5D7FDFCBFA36EA1A85841B9E46E09A2,
    n=0x8542D69E4C044F18E8B92435BF6FF7DD297720630485628D5AE74EE7C32E79B7,
)

# GB/T 32918.5-2017: the recommended curve every real SM2 key uses.
SM2_CURVE = Curve(
    p=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF,
    a=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC,
    b=0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93,
    gx=0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7,
    gy=0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0,
    n=0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123,
)
