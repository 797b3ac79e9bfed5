"""Synthetic holders: deterministic, valid through the import parser, unique where a province needs it."""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric

from essc.cardholders.importfile import GoodRow, parse_file
from essc.cardholders.synthetic import (
    _Permutation,
    synthetic_holders,
    write_csv,
    write_ndjson,
    write_parallel,
)
from essc.kit.errors import InvalidInput
from essc.kit.idnumber import birth_date_of, normalise_id_number
from essc.regions.data import counties_of, is_known_region, province_codes

PROVINCES_WITH_COUNTIES = [p for p in province_codes() if counties_of(p)]


def test_same_seed_same_holders_other_seed_other_holders() -> None:
    first = list(synthetic_holders("44", 200, seed=5))
    assert first == list(synthetic_holders("44", 200, seed=5))
    other = list(synthetic_holders("44", 200, seed=6))
    assert not {r.aac002 for r in first} & {r.aac002 for r in other}


def test_count_is_honoured() -> None:
    assert list(synthetic_holders("11", 0)) == []
    assert len(list(synthetic_holders("11", 37))) == 37


def test_records_are_valid_and_unique() -> None:
    records = list(synthetic_holders("44", 20_000, seed=1))
    assert len({r.aac002 for r in records}) == len(records)
    assert len({r.aaz500 for r in records}) == len(records)
    assert len({r.aaz501 for r in records}) == len(records)
    for r in records[:2000]:
        assert normalise_id_number(r.aac002) == r.aac002
    for r in records:
        assert ric.is_valid(r.aac002), r.aac002
        assert 1950 <= birth_date_of(r.aac002).year <= 2005
        assert r.aab301 == r.aac002[:4] + "00"
        assert r.aab301.startswith("44")
        assert is_known_region(r.aab301)
        assert re.fullmatch(r"[A-Z][0-9]{8}", r.aaz500)
        assert re.fullmatch(r"[0-9a-f]{32}", r.aaz501)
        assert r.aac067 is not None
        assert re.fullmatch(r"1[35789][0-9]{9}", r.aac067)
        assert 2 <= len(r.aac003) <= 4
        assert r.generation in (2, 3)
        assert r.card_status in ("normal", "temp_lost", "lost", "locked")


def test_shares_are_as_documented() -> None:
    records = list(synthetic_holders("32", 20_000, seed=2))
    n = len(records)
    assert abs(sum(r.bank_account_active for r in records) / n - 0.8) < 0.02
    statuses = Counter(r.card_status for r in records)
    assert abs(statuses["normal"] / n - 0.97) < 0.01
    assert set(statuses) == {"normal", "temp_lost", "lost", "locked"}
    assert {r.generation for r in records} == {2, 3}
    men = sum(int(r.aac002[16]) % 2 for r in records)
    assert abs(men / n - 0.5) < 0.02
    assert len({r.aab301 for r in records}) > 5
    assert len({r.aac003 for r in records}) > n // 4


@settings(max_examples=40, deadline=None)
@given(province=st.sampled_from(PROVINCES_WITH_COUNTIES), seed=st.integers(0, 2**32))
def test_every_province_yields_holders_of_its_own(province: str, seed: int) -> None:
    for r in synthetic_holders(province, 20, seed):
        assert ric.is_valid(r.aac002)
        assert r.aab301[:2] == province
        assert is_known_region(r.aab301)


@pytest.mark.parametrize("province", ["71", "99", "4"])
def test_provinces_without_counties_are_refused_at_once(province: str) -> None:
    with pytest.raises(InvalidInput):
        synthetic_holders(province, 1)


def test_negative_count_is_refused() -> None:
    with pytest.raises(InvalidInput):
        synthetic_holders("44", -1)


@pytest.mark.parametrize("size", [1, 2, 3, 10, 1000, 4097])
def test_permutation_is_a_bijection(size: int) -> None:
    permute = _Permutation(size, random.Random(size))
    assert sorted(permute(i) for i in range(size)) == list(range(size))


def test_csv_round_trip(tmp_path: Path) -> None:
    records = list(synthetic_holders("44", 3000, seed=9))
    path = tmp_path / "holders.csv"
    assert write_csv(path, records) == len(records)
    rows = list(parse_file(path))
    assert rows == [GoodRow(line=i + 2, record=r) for i, r in enumerate(records)]


def test_ndjson_round_trip(tmp_path: Path) -> None:
    records = list(synthetic_holders("51", 3000, seed=9))
    path = tmp_path / "holders.ndjson"
    assert write_ndjson(path, records) == len(records)
    rows = list(parse_file(path))
    assert rows == [GoodRow(line=i + 1, record=r) for i, r in enumerate(records)]


def test_generation_is_fast() -> None:
    list(synthetic_holders("44", 10, seed=0))  # build the name pools first
    started = time.perf_counter()
    produced = sum(1 for _ in synthetic_holders("44", 50_000, seed=3))
    elapsed = time.perf_counter() - started
    assert produced == 50_000
    # About 100,000/s on a development machine; the bound leaves room for slow CI runners.
    assert elapsed < 5.0, f"{produced / elapsed:,.0f} records/s"


def test_shards_of_one_seed_are_disjoint_and_a_single_shard_is_the_whole_stream() -> None:
    shards = [list(synthetic_holders("44", 300, seed=5, shard=i, shards=3)) for i in range(3)]
    rows = [record for shard in shards for record in shard]

    assert len({r.aac002 for r in rows}) == len({r.aaz500 for r in rows}) == 900
    assert list(synthetic_holders("44", 50, seed=5, shard=0, shards=1)) == list(
        synthetic_holders("44", 50, seed=5)
    )


def test_write_parallel_makes_one_importable_file_of_distinct_holders(tmp_path: Path) -> None:
    path = tmp_path / "holders.csv"

    written = write_parallel(path, "44", 101, seed=2, workers=2)

    rows = list(parse_file(path))
    assert written == len(rows) == 101
    assert all(isinstance(row, GoodRow) for row in rows)
    assert len({row.record.aac002 for row in rows if isinstance(row, GoodRow)}) == 101
