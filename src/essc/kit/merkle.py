"""RFC 9162 Merkle tree hashing, inclusion and consistency proofs, parameterised by the suite's hash.

A log is an append-only list of leaves; MTH of n leaves is hash(0x00 || leaf) for one leaf and
hash(0x01 || MTH(left) || MTH(right)) above, the left part the largest power of two below n (RFC 9162 2.1.1).
Proofs are built from the hashes of perfect subtrees (a `NodeReader`: level, index -> hash), so a log stored
as tiles and a tree held in memory serve them the same way. Stored trees are tiles of height 8 (C2SP
tlog-tiles): tile (L, N) holds the hashes of tree level 8L, nodes 256N .. 256N + 255.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from essc.kit.errors import EsscError

__all__ = [
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "InvalidProof",
    "MemoryTree",
    "NodeReader",
    "TileReader",
    "TreeHasher",
    "consistency_proof",
    "extend_tiles",
    "inclusion_proof",
    "root_of",
    "tile_node_reader",
    "tiles_of",
    "verify_consistency",
    "verify_inclusion",
]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT

NodeReader = Callable[[int, int], bytes]
"""The hash of the perfect subtree at (level, index): 2**level leaves starting at index * 2**level."""
TileReader = Callable[[int, int], bytes]
"""The stored bytes of tile (tile level, tile index): concatenated hashes, b"" when there is none."""


class InvalidProof(EsscError):
    """A proof does not lead from what it proves to the tree head it is checked against."""

    status = 422
    code = "invalid_proof"
    title = "Invalid proof"


@dataclass(frozen=True, slots=True)
class TreeHasher:
    """RFC 9162 domain separation over one hash function: leaves 0x00, interior nodes 0x01."""

    digest: Callable[[bytes], bytes]

    @property
    def size(self) -> int:
        """Bytes of one hash."""
        return len(self.digest(b""))

    def empty_root(self) -> bytes:
        """MTH of the empty tree: the hash of the empty string."""
        return self.digest(b"")

    def leaf(self, data: bytes) -> bytes:
        return self.digest(b"\x00" + data)

    def node(self, left: bytes, right: bytes) -> bytes:
        return self.digest(b"\x01" + left + right)

    def fold(self, hashes: Sequence[bytes]) -> bytes:
        """MTH over consecutive node hashes of one level, their count a power of two."""
        level = list(hashes)
        while len(level) > 1:
            level = [self.node(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _subtree(hasher: TreeHasher, nodes: NodeReader, start: int, end: int) -> bytes:
    """MTH of leaves [start, end); start is aligned to the largest power of two the range holds."""
    count = end - start
    if count & (count - 1) == 0:
        level = count.bit_length() - 1
        return nodes(level, start >> level)
    k = _split(count)
    return hasher.node(_subtree(hasher, nodes, start, start + k), _subtree(hasher, nodes, start + k, end))


def root_of(hasher: TreeHasher, size: int, nodes: NodeReader) -> bytes:
    """MTH of the first `size` leaves."""
    if size == 0:
        return hasher.empty_root()
    return _subtree(hasher, nodes, 0, size)


def inclusion_proof(hasher: TreeHasher, index: int, size: int, nodes: NodeReader) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1, leaf-side first."""
    if not 0 <= index < size:
        raise InvalidProof(f"leaf {index} is not in a tree of {size} leaves")
    proof: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            proof.append(_subtree(hasher, nodes, start + k, end))
            end = start + k
        else:
            proof.append(_subtree(hasher, nodes, start, start + k))
            start += k
    proof.reverse()
    return proof


def consistency_proof(hasher: TreeHasher, size1: int, size2: int, nodes: NodeReader) -> list[bytes]:
    """PROOF(size1, D[size2]) of RFC 9162 2.1.4.1; empty when either tree is empty or both are the same."""
    if not 0 <= size1 <= size2:
        raise InvalidProof(f"no consistency proof from {size1} leaves to {size2}")
    if size1 in (0, size2):
        return []
    proof: list[bytes] = []
    start, end, m, complete = 0, size2, size1, True
    while True:
        n = end - start
        if m == n:
            if not complete:
                proof.append(_subtree(hasher, nodes, start, end))
            break
        k = _split(n)
        if m <= k:
            proof.append(_subtree(hasher, nodes, start + k, end))
            end = start + k
        else:
            proof.append(_subtree(hasher, nodes, start, start + k))
            start, m, complete = start + k, m - k, False
    proof.reverse()
    return proof


def _check_sizes(hasher: TreeHasher, *hashes: bytes) -> None:
    size = hasher.size
    for value in hashes:
        if len(value) != size:
            raise InvalidProof(f"a hash of {len(value)} bytes where the suite's hash has {size}")


def verify_inclusion(
    hasher: TreeHasher, index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], *, root: bytes
) -> None:
    """Return if `proof` shows leaf `index` with `leaf_hash` in the tree of `size` leaves with `root`
    (RFC 9162 2.1.3.2); raise InvalidProof otherwise."""
    _check_sizes(hasher, leaf_hash, root, *proof)
    if not 0 <= index < size:
        raise InvalidProof(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise InvalidProof("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = hasher.node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hasher.node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("the inclusion proof is shorter than the tree is deep")
    if r != root:
        raise InvalidProof(f"leaf {index} with this proof does not lead to the tree head's root")


def verify_consistency(
    hasher: TreeHasher, size1: int, size2: int, proof: Sequence[bytes], *, root1: bytes, root2: bytes
) -> None:
    """Return if `proof` shows the tree (size1, root1) is a prefix of (size2, root2) (RFC 9162 2.1.4.2);
    raise InvalidProof otherwise."""
    _check_sizes(hasher, *proof)
    if size2 < size1 or size1 < 0:
        raise InvalidProof(f"a tree of {size2} leaves cannot extend one of {size1}")
    if size1 == size2:
        if proof or root1 != root2:
            raise InvalidProof(f"two different trees of {size1} leaves: the log forked")
        return
    if size1 == 0:
        if proof:
            raise InvalidProof("a consistency proof from the empty tree must be empty")
        return
    _check_sizes(hasher, root1, root2)
    if not proof:
        raise InvalidProof(f"an empty consistency proof from {size1} leaves to {size2}")
    fr, sr = _consistency_roots(hasher, size1, size2, list(proof), root1)
    if fr != root1 or sr != root2:
        raise InvalidProof(f"the tree of {size2} leaves does not extend the tree of {size1}: the log forked")


def _consistency_roots(
    hasher: TreeHasher, size1: int, size2: int, path: list[bytes], root1: bytes
) -> tuple[bytes, bytes]:
    """The two roots a consistency path leads to (RFC 9162 2.1.4.2, steps 2-7)."""
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise InvalidProof("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr = hasher.node(c, fr)
            sr = hasher.node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hasher.node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidProof("the consistency proof is shorter than the tree is deep")
    return fr, sr


# -- tiles --------------------------------------------------------------------------------------------


def tile_node_reader(hasher: TreeHasher, read_tile: TileReader) -> NodeReader:
    """Perfect subtree hashes computed from tiles (a node between tile levels folds up to 128 hashes)."""
    cache: dict[tuple[int, int], bytes] = {}
    size = hasher.size

    def tile(level: int, index: int) -> bytes:
        key = (level, index)
        if key not in cache:
            cache[key] = read_tile(level, index)
        return cache[key]

    def node(level: int, index: int) -> bytes:
        tile_level, within = divmod(level, TILE_HEIGHT)
        first = index << within
        data = tile(tile_level, first // TILE_WIDTH)
        offset = first % TILE_WIDTH
        count = 1 << within
        if len(data) < (offset + count) * size:
            raise InvalidProof(f"the stored tree has no node at level {level}, index {index}")
        hashes = [data[(offset + i) * size : (offset + i + 1) * size] for i in range(count)]
        return hasher.fold(hashes)

    return node


def extend_tiles(
    hasher: TreeHasher, old_size: int, leaf_hashes: Sequence[bytes], read_tile: TileReader
) -> dict[tuple[int, int], bytes]:
    """The tiles that change when `leaf_hashes` are appended to a tree of `old_size` leaves, new bytes."""
    size = hasher.size
    changed: dict[tuple[int, int], bytes] = {}
    level, start, new = 0, old_size, list(leaf_hashes)
    while new:
        first_tile, filled = divmod(start, TILE_WIDTH)
        prefix = read_tile(level, first_tile)[: filled * size] if filled else b""
        if len(prefix) != filled * size:
            raise InvalidProof(f"stored tile ({level}, {first_tile}) is shorter than the tree it belongs to")
        data = prefix + b"".join(new)
        end = start + len(new)
        for offset in range(0, len(data), TILE_WIDTH * size):
            changed[(level, first_tile + offset // (TILE_WIDTH * size))] = data[
                offset : offset + TILE_WIDTH * size
            ]
        # Tiles completed by this append give the nodes of the tile level above (none was complete before).
        new = [
            hasher.fold([changed[(level, index)][i * size : (i + 1) * size] for i in range(TILE_WIDTH)])
            for index in range(first_tile, end // TILE_WIDTH)
        ]
        level, start = level + 1, start // TILE_WIDTH
    return changed


class MemoryTree:
    """A whole tree in memory: for tests, the witness and the verifier's recomputation."""

    def __init__(self, hasher: TreeHasher, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.hasher = hasher
        self.levels: list[list[bytes]] = [[]]
        for leaf_hash in leaf_hashes:
            self.append_hash(leaf_hash)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, data: bytes) -> int:
        """Append a leaf's data; return its index."""
        return self.append_hash(self.hasher.leaf(data))

    def append_hash(self, leaf_hash: bytes) -> int:
        index = self.size
        self.levels[0].append(leaf_hash)
        level, i = 0, index
        while i & 1:  # every perfect subtree this leaf completes
            parent = self.hasher.node(self.levels[level][i - 1], self.levels[level][i])
            level, i = level + 1, i >> 1
            if len(self.levels) == level:
                self.levels.append([])
            self.levels[level].append(parent)
        return index

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        return root_of(self.hasher, self.size if size is None else size, self.node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self.hasher, index, self.size if size is None else size, self.node)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        return consistency_proof(self.hasher, size1, self.size if size2 is None else size2, self.node)


def tiles_of(tree: MemoryTree) -> Mapping[tuple[int, int], bytes]:
    """Every tile of a tree held in memory, for comparison with stored tiles."""
    tiles: dict[tuple[int, int], bytes] = {}
    level = 0
    while level * TILE_HEIGHT < len(tree.levels):
        hashes = tree.levels[level * TILE_HEIGHT]
        if not hashes:
            break
        for index in range(0, len(hashes), TILE_WIDTH):
            tiles[(level, index // TILE_WIDTH)] = b"".join(hashes[index : index + TILE_WIDTH])
        level += 1
    return tiles
