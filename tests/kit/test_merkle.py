"""RFC 9162 tree hashing and proofs: RFC 6962 vectors with SHA-256, SM3 values from openssl, random trees."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from essc.kit.crypto.sm import sm3
from essc.kit.merkle import (
    InvalidProof,
    MemoryTree,
    TreeHasher,
    extend_tiles,
    root_of,
    tile_node_reader,
    tiles_of,
    verify_consistency,
    verify_inclusion,
)

SHA256 = TreeHasher(lambda data: hashlib.sha256(data).digest())
SM3 = TreeHasher(sm3)

# Test vectors of RFC 6962 trees with SHA-256, from github.com/transparency-dev/merkle, proof/verify_test.go
# (the same as certificate-transparency-go's merkletree tests): eight leaves, the root of every prefix.
LEAVES = [bytes.fromhex(x) for x in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                      "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size, proof); the source numbers leaves from 1, these from 0.
INCLUSION = [
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _tree(hasher: TreeHasher, leaves: list[bytes]) -> MemoryTree:
    tree = MemoryTree(hasher)
    for leaf in leaves:
        tree.append(leaf)
    return tree


def test_the_roots_of_the_rfc6962_vectors() -> None:
    tree = _tree(SHA256, LEAVES)
    assert [tree.root(n).hex() for n in range(1, 9)] == ROOTS
    assert tree.root(0).hex() == EMPTY_SHA256


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_of_the_rfc6962_vectors(index: int, size: int, proof: list[str]) -> None:
    tree = _tree(SHA256, LEAVES)
    assert [p.hex() for p in tree.inclusion_proof(index, size)] == proof
    root = bytes.fromhex(ROOTS[size - 1])
    verify_inclusion(
        SHA256, index, size, SHA256.leaf(LEAVES[index]), [bytes.fromhex(p) for p in proof], root=root
    )


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_consistency_proofs_of_the_rfc6962_vectors(size1: int, size2: int, proof: list[str]) -> None:
    tree = _tree(SHA256, LEAVES)
    assert [p.hex() for p in tree.consistency_proof(size1, size2)] == proof
    root1, root2 = bytes.fromhex(ROOTS[size1 - 1]), bytes.fromhex(ROOTS[size2 - 1])
    verify_consistency(SHA256, size1, size2, [bytes.fromhex(p) for p in proof], root1=root1, root2=root2)


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_a_corrupted_inclusion_proof_of_the_vectors_fails(index: int, size: int, proof: list[str]) -> None:
    leaf, path, root = (
        SHA256.leaf(LEAVES[index]),
        [bytes.fromhex(p) for p in proof],
        bytes.fromhex(ROOTS[size - 1]),
    )
    other = bytes.fromhex(EMPTY_SHA256)
    probes = [
        (index + 1, size, leaf, path, root),
        (index, size * 2, leaf, path, root),
        (index, size, other, path, root),
        (index, size, leaf, path, other),
        (index, size, leaf, [*path, root], root),
        (index, size, leaf, [b"", *path], root),
        (index, size, leaf, path[:-1], root),
    ]
    for probe in probes:
        with pytest.raises(InvalidProof):
            verify_inclusion(SHA256, *probe[:4], root=probe[4])


def test_a_corrupted_consistency_proof_of_the_vectors_fails() -> None:
    size1, size2, proof = CONSISTENCY[2]
    path = [bytes.fromhex(p) for p in proof]
    root1, root2 = bytes.fromhex(ROOTS[size1 - 1]), bytes.fromhex(ROOTS[size2 - 1])
    probes = [
        (size1 - 1, size2, path, root1, root2),
        (size1, size2 * 2, path, root1, root2),
        (size1, size2, path, root2, root1),
        (size1, size2, [], root1, root2),
        (size1, size2, [*path, root1], root1, root2),
        (size1, size2, [path[0], *path], root1, root2),
        (size1, size2, path[:-1], root1, root2),
        (size2, size1, path, root2, root1),
    ]
    for probe in probes:
        with pytest.raises(InvalidProof):
            verify_consistency(SHA256, *probe[:3], root1=probe[3], root2=probe[4])


def test_sm3_tree_hashes_match_openssl() -> None:
    # Computed with `openssl dgst -sm3` over the exact bytes: printf '\x00' (leaf ""), printf '\x00\x00'
    # (leaf 00), then 0x01 || left || right for the nodes, printf '\x00\x10' for leaf 10.
    tree = _tree(SM3, LEAVES[:3])
    assert tree.root(0).hex() == "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"
    assert tree.root(1).hex() == "2daef60e7a0b8f5e024c81cd2ab3109f2b4f155cf83adeb2ae5532f74a157fdf"
    assert tree.node(0, 1).hex() == "af83a966222057ac761246a7543c580d9111014f4e5e3cb1281db33151160335"
    assert tree.root(2).hex() == "0b990fe0c7ad70f1bf1a1262f2c7908ea48146b14253a6db99f2917ab1f5cc4d"
    assert tree.root(3).hex() == "209ec96a210d662a964772680e8544d18cab7b88ffec3e00962220349b56ea56"


_leaves = st.lists(st.binary(max_size=8), min_size=1, max_size=70)


@settings(max_examples=60, deadline=None)
@given(_leaves)
def test_every_inclusion_proof_of_a_random_tree_verifies(leaves: list[bytes]) -> None:
    tree = _tree(SM3, leaves)
    for size in range(1, tree.size + 1):
        root = tree.root(size)
        for index in range(size):
            verify_inclusion(
                SM3, index, size, tree.node(0, index), tree.inclusion_proof(index, size), root=root
            )


@settings(max_examples=60, deadline=None)
@given(_leaves)
def test_every_consistency_proof_of_a_random_tree_verifies(leaves: list[bytes]) -> None:
    tree = _tree(SM3, leaves)
    for size2 in range(tree.size + 1):
        for size1 in range(size2 + 1):
            proof = tree.consistency_proof(size1, size2)
            verify_consistency(SM3, size1, size2, proof, root1=tree.root(size1), root2=tree.root(size2))


@settings(max_examples=200, deadline=None)
@given(_leaves, st.data())
def test_any_changed_byte_fails_an_inclusion_proof(leaves: list[bytes], data: st.DataObject) -> None:
    tree = _tree(SM3, leaves)
    size = data.draw(st.integers(1, tree.size))
    index = data.draw(st.integers(0, size - 1))
    parts = [tree.node(0, index), *tree.inclusion_proof(index, size), tree.root(size)]
    which = data.draw(st.integers(0, len(parts) - 1))
    at = data.draw(st.integers(0, 31))
    bit = data.draw(st.integers(0, 7))
    changed = bytearray(parts[which])
    changed[at] ^= 1 << bit
    parts[which] = bytes(changed)
    with pytest.raises(InvalidProof):
        verify_inclusion(SM3, index, size, parts[0], parts[1:-1], root=parts[-1])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=8), min_size=2, max_size=70), st.data())
def test_any_changed_byte_fails_a_consistency_proof(leaves: list[bytes], data: st.DataObject) -> None:
    tree = _tree(SM3, leaves)
    size2 = data.draw(st.integers(2, tree.size))
    size1 = data.draw(st.integers(1, size2 - 1))
    parts = [tree.root(size1), *tree.consistency_proof(size1, size2), tree.root(size2)]
    which = data.draw(st.integers(0, len(parts) - 1))
    changed = bytearray(parts[which])
    changed[data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
    parts[which] = bytes(changed)
    with pytest.raises(InvalidProof):
        verify_consistency(SM3, size1, size2, parts[1:-1], root1=parts[0], root2=parts[-1])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 300), min_size=1, max_size=6))
def test_tiles_grown_in_batches_hold_the_same_tree(batches: list[int]) -> None:
    tiles: dict[tuple[int, int], bytes] = {}
    tree = MemoryTree(SM3)
    for count in batches:
        hashes = [SM3.leaf(str(tree.size + i).encode()) for i in range(count)]
        tiles.update(
            extend_tiles(SM3, tree.size, hashes, lambda level, index: tiles.get((level, index), b""))
        )
        for leaf_hash in hashes:
            tree.append_hash(leaf_hash)
        nodes = tile_node_reader(SM3, lambda level, index: tiles.get((level, index), b""))
        assert root_of(SM3, tree.size, nodes) == tree.root()
    assert tiles == tiles_of(tree)
