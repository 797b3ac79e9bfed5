"""SM4-GCM sealing of many short messages under one key, for bulk loads: one SM4 context for all of them.

`cryptography` makes a fresh OpenSSL cipher context for every message (about 10 us of a core, most of a short
field's sealing), and the system OpenSSL 3.0 has no SM4-GCM to reuse one through. GCM is counter mode plus
GHASH (NIST SP 800-38D), so a batch is sealed with one SM4-ECB context: every message's counter blocks are
enciphered by one call, and GHASH runs here, bit-sliced across the messages of a large batch (`_SlicedGhash`)
and over tables of multiples of H for a few. The output is byte for byte what `SmSuite.aead_encrypt` makes
(tests compare them on arbitrary input), and `SmSuite.aead_decrypt` opens it.

The tables are indexed by data (as OpenSSL's portable `gcm_init_4bit` tables are): fine for a batch job on
the platform's own machines, not for code that a caller on the same machine can time. The bit-sliced path
reads no memory at an address that depends on the data."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from functools import reduce
from operator import xor

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["SLICED_FROM", "Sm4GcmSealer"]

_BLOCK = 16
_NONCE = 12
_R = 0xE1 << 120  # x^128 + x^7 + x^2 + x + 1, bit-reflected as GCM writes it
_MASK128 = (1 << 128) - 1
# A message's counter blocks are numbered from 1 (J0, for the tag) up; short fields need a handful.
_COUNTERS = [struct.pack(">I", number) for number in range(1, 257)]
# nonce.join(_COUNTER_JOINS[k]) is a message's first k counter blocks: nonce || 1, nonce || 2, ...
_COUNTER_JOINS = [[b"", *_COUNTERS[:blocks]] for blocks in range(18)]
# GCM's 32-bit counter: at most 2^32 - 2 blocks of plaintext under one nonce (SP 800-38D 5.2.1.1).
_MAX_PLAINTEXT = (2**32 - 2) * 16
_PAD = bytes(_BLOCK)
# AAD prefixes remembered: how many at once, and up to which length (longer AADs are hashed whole).
_PREFIXES_KEPT = 4096
_PREFIX_KEPT = 4 * _BLOCK
# Bit-sliced GHASH for batches of at least this many messages of at most this many blocks (AAD, ciphertext
# and lengths): below it, the fixed cost of a sliced step (some 4,500 XORs) is more than the tables' work.
SLICED_FROM = 256
_SLICED_BLOCKS = 16


def _gf_multiply(x: int, y: int) -> int:
    """The GCM product of two blocks (SP 800-38D algorithm 1), bit by bit: to build the tables only."""
    product, v = 0, y
    for bit in range(127, -1, -1):
        if (x >> bit) & 1:
            product ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return product


def _tables(h: int) -> tuple[list[int], ...]:
    """For each byte j of a block, T[j][b] = (b in byte j) * H: the product is linear in the block."""
    # Bytes, not 16-bit words: 16 tables of 256 stay in the CPU's cache; 8 tables of 65,536 measured 4x
    # slower on random blocks for the cache misses.
    tables = []
    for lane in range(_BLOCK):
        shift = 8 * (_BLOCK - 1 - lane)
        basis = [_gf_multiply(1 << (shift + bit), h) for bit in range(8)]
        table = [0] * 256
        for byte in range(1, 256):
            low = byte & -byte
            table[byte] = table[byte ^ low] ^ basis[low.bit_length() - 1]
        tables.append(table)
    return tuple(tables)


class Sm4GcmSealer:
    """Seals (nonce, plaintext, aad) triples under one SM4 key: ciphertext || 16-byte tag, as SM4-GCM does."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("SM4 keys are 16 bytes")
        # ECB only as GCM's block function: it enciphers counter blocks, never data.
        self._ecb = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()  # noqa: S305
        h = int.from_bytes(self._ecb.update(_PAD), "big")
        self._t = _tables(h)
        self._sliced = _SlicedGhash(h)
        self._prefixes: dict[bytes, int] = {}

    def _absorb(self, y: int, data: bytes) -> int:
        """GHASH state y after the blocks of data (its last block zero-padded)."""
        t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, t13, t14, t15 = self._t
        blocks = (len(data) + _BLOCK - 1) // _BLOCK
        value = int.from_bytes(data, "big") << 8 * (blocks * _BLOCK - len(data))
        for shift in range(128 * (blocks - 1), -1, -128):
            b = (y ^ (value >> shift) & _MASK128).to_bytes(_BLOCK, "big")
            y = (
                t0[b[0]] ^ t1[b[1]] ^ t2[b[2]] ^ t3[b[3]]
                ^ t4[b[4]] ^ t5[b[5]] ^ t6[b[6]] ^ t7[b[7]]
                ^ t8[b[8]] ^ t9[b[9]] ^ t10[b[10]] ^ t11[b[11]]
                ^ t12[b[12]] ^ t13[b[13]] ^ t14[b[14]] ^ t15[b[15]]
            )  # fmt: skip
        return y

    def _after_aad(self, aad: bytes) -> int:
        """GHASH state after the padded AAD; the states after its short block-aligned prefixes are kept."""
        # The AADs of a batch often share their leading blocks (a row's three fields share all but the last;
        # ids made in one batch share their leading characters), so each shared block is multiplied once.
        cut = (len(aad) - 1) // _BLOCK * _BLOCK if aad else 0
        if cut > _PREFIX_KEPT:
            return self._absorb(0, aad)
        y, prefixes = 0, self._prefixes
        for end in range(_BLOCK, cut + 1, _BLOCK):
            known = prefixes.get(aad[:end])
            if known is None:
                if len(prefixes) >= _PREFIXES_KEPT:
                    prefixes.clear()
                known = prefixes[aad[:end]] = self._absorb(y, aad[end - _BLOCK : end])
            y = known
        return self._absorb(y, aad[cut:])

    def seal_many(self, items: Sequence[tuple[bytes, bytes, bytes]]) -> list[bytes]:
        """Each (12-byte nonce, plaintext, aad) sealed: ciphertext with the tag appended."""
        counters: list[bytes] = []
        for nonce, plaintext, _aad in items:
            if len(nonce) != _NONCE:
                raise ValueError("SM4-GCM nonces are 12 bytes")
            if len(plaintext) > _MAX_PLAINTEXT:
                raise ValueError("SM4-GCM takes at most 2^32 - 2 blocks under one nonce")
            # J0 = nonce || 1 enciphers the tag; nonce || 2, 3, ... the plaintext.
            blocks = (len(plaintext) + _BLOCK - 1) // _BLOCK + 1
            if blocks < len(_COUNTER_JOINS):
                counters.append(nonce.join(_COUNTER_JOINS[blocks]))
            else:
                counters.extend(nonce + struct.pack(">I", number) for number in range(1, blocks + 1))
        stream = self._ecb.update(b"".join(counters))
        bodies, masks, inputs, at = [], [], [], 0
        for _nonce, plaintext, aad in items:
            size = len(plaintext)
            masks.append(int.from_bytes(stream[at : at + _BLOCK], "big"))
            pad = int.from_bytes(stream[at + _BLOCK : at + _BLOCK + size], "big")
            at += _BLOCK * ((size + _BLOCK - 1) // _BLOCK + 1)
            body = (int.from_bytes(plaintext, "big") ^ pad).to_bytes(size, "big")
            bodies.append(body)
            # GHASH's input: the AAD and the ciphertext, each zero-padded to whole blocks, then their lengths.
            inputs.append(
                b"".join(
                    (
                        aad,
                        _PAD[: -len(aad) % _BLOCK],
                        body,
                        _PAD[: -size % _BLOCK],
                        (8 * len(aad) << 64 | 8 * size).to_bytes(_BLOCK, "big"),
                    )
                )
            )
        hashes = self._ghash_many(inputs)
        return [
            body + (y ^ mask).to_bytes(_BLOCK, "big")
            for body, mask, y in zip(bodies, masks, hashes, strict=True)
        ]

    def _ghash_many(self, inputs: list[bytes]) -> list[int]:
        """GHASH of each input: bit-sliced across the inputs when there are enough short ones."""
        short = [i for i, data in enumerate(inputs) if len(data) <= _SLICED_BLOCKS * _BLOCK]
        hashes = [0] * len(inputs)
        rest: Iterable[int] = range(len(inputs))
        if len(short) >= SLICED_FROM:
            for i, y in zip(short, self._sliced.ghash([inputs[i] for i in short]), strict=True):
                hashes[i] = y
            rest = sorted(set(rest) - set(short))
        for i in rest:
            data = inputs[i]
            # The AAD's leading blocks may be remembered; the rest is hashed from there.
            aad_size = int.from_bytes(data[-_BLOCK:-8], "big") // 8
            aad_end = aad_size + -aad_size % _BLOCK
            hashes[i] = self._absorb(self._after_aad(data[:aad_size]), data[aad_end:])
        return hashes


class _SlicedGhash:
    """GHASH of many messages at once, bit-sliced: bit i of every message's block in one int (a plane).

    Multiplying by H is linear over GF(2), so it acts on the 128 planes of all the messages at once: each
    output plane is the XOR of the input planes that feed that bit (found once, from H). With the planes
    grouped by four and the XORs of each group's subsets tabled (the "four Russians" method), one step of
    Horner's rule costs about 4,500 XORs of ints as wide as the batch, whatever its size; moving bytes into
    planes and back is a few shifts and masks per plane. Shorter messages are padded with zero blocks in
    front, which leaves GHASH unchanged (its state starts at zero).
    """

    def __init__(self, h: int) -> None:
        # Column i of the linear map: the product of H and the block whose only set bit is GCM bit i.
        columns = [_gf_multiply(1 << (127 - i), h) for i in range(128)]
        rows: list[list[int]] = []
        for j in range(128):
            indexes = []
            for group in range(32):
                subset = 0
                for k in range(4):
                    if (columns[4 * group + k] >> (127 - j)) & 1:
                        subset |= 1 << k
                if subset:
                    indexes.append(16 * group + subset)
            rows.append(indexes)
        self._rows = rows

    def _times_h(self, planes: list[int]) -> list[int]:
        table: list[int] = []
        for group in range(32):
            a, b, c, d = planes[4 * group : 4 * group + 4]
            ab, cd = a ^ b, c ^ d
            table += (
                0,
                a,
                b,
                ab,
                c,
                a ^ c,
                b ^ c,
                ab ^ c,
                d,
                a ^ d,
                b ^ d,
                ab ^ d,
                cd,
                a ^ cd,
                b ^ cd,
                ab ^ cd,
            )
        pick = table.__getitem__
        return [reduce(xor, map(pick, indexes), 0) for indexes in self._rows]

    def ghash(self, inputs: list[bytes]) -> list[int]:
        """GHASH of each input (whole blocks, at most _SLICED_BLOCKS of them)."""
        count = len(inputs)
        steps = max(len(data) for data in inputs) // _BLOCK
        width = steps * _BLOCK
        # Eight lanes of a plane's bytes: message m of the batch is bit 8 * (m % lane) + m // lane of a plane.
        lane = -(-count // 8)
        padding = bytes(width)
        buffer = b"".join(padding[len(data) :] + data for data in inputs) + padding * (8 * lane - count)
        spread = int.from_bytes(b"\x01" * lane, "little")  # bit 0 of every byte
        y = [0] * 128
        for step in range(steps):
            planes = []
            for byte in range(_BLOCK):
                first = step * _BLOCK + byte
                raws = [
                    int.from_bytes(
                        buffer[first + part * lane * width : first + (part + 1) * lane * width : width],
                        "little",
                    )
                    for part in range(8)
                ]
                for bit in range(7, -1, -1):  # GCM numbers a byte's bits from its most significant
                    plane = 0
                    for part, raw in enumerate(raws):
                        plane |= ((raw >> bit) & spread) << part
                    planes.append(plane)
            y = self._times_h([a ^ b for a, b in zip(y, planes, strict=True)])
        out = bytearray(8 * lane * _BLOCK)
        for byte in range(_BLOCK):
            for part in range(8):
                raw = 0
                for bit in range(8):
                    raw |= ((y[8 * byte + bit] >> part) & spread) << (7 - bit)
                out[part * lane * _BLOCK + byte : (part + 1) * lane * _BLOCK : _BLOCK] = raw.to_bytes(
                    lane, "little"
                )
        return [int.from_bytes(out[m * _BLOCK : (m + 1) * _BLOCK], "big") for m in range(count)]
