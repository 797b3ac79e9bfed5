"""Deterministic synthetic cardholders of one province (Faker zh_CN names, valid GB 11643 ID numbers).

Faker is slow per call, so it fills fixed pools of surnames and given names once; each stream then draws from
the pools with its own seeded generator. ID numbers (aac002) and card numbers (aaz500) come from keyed
permutations of their code spaces, which makes them unique within a stream without remembering any.
"""

from __future__ import annotations

import csv
import multiprocessing
import random
import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import orjson

from essc.cardholders.importfile import COLUMNS, HolderRecord
from essc.kit.errors import InvalidInput
from essc.kit.idnumber import check_digit
from essc.regions.data import counties_of, valid_since

FIRST_BIRTH_DAY = date(1950, 1, 1)
LAST_BIRTH_DAY = date(2005, 12, 31)
BANK_ACCOUNT_SHARE = 0.8
NORMAL_CARD_SHARE = 0.97
THIRD_GENERATION_SHARE = 0.4
ABNORMAL_STATUSES = ("temp_lost", "lost", "locked")
MOBILE_PREFIXES = tuple(
    [f"13{d}" for d in range(10)]
    + [f"15{d}" for d in (0, 1, 2, 3, 5, 6, 7, 8, 9)]
    + ["170", "171", "173", "175", "176", "177", "178"]
    + [f"18{d}" for d in range(10)]
    + ["191", "193", "195", "196", "197", "198", "199"]
)
_POOL_BITS = 12  # 4,096 Faker draws per pool keep the surname weights and cost about 0.1 s once
_POOL_SEED = 2260
_SEQUENCES = 1000
_CARD_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_CARD_DIGITS = 10**8
_MOBILE_SUFFIXES = 10**8


@cache
def _name_pools() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Surnames, male and female given names drawn from Faker's zh_CN locale with a fixed seed."""
    from faker import Faker  # imported on first use: it takes a noticeable time to load

    fake = Faker("zh_CN")
    fake.seed_instance(_POOL_SEED)
    size = 1 << _POOL_BITS
    surnames = tuple(str(fake.last_name()) for _ in range(size))
    male = tuple(str(fake.first_name_male()) for _ in range(size))
    female = tuple(str(fake.first_name_female()) for _ in range(size))
    return surnames, male, female


@cache
def _birth_days() -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Every birth day of the range as YYYYMMDD, with its year."""
    days = [FIRST_BIRTH_DAY + timedelta(n) for n in range((LAST_BIRTH_DAY - FIRST_BIRTH_DAY).days + 1)]
    return tuple(day.strftime("%Y%m%d") for day in days), tuple(day.year for day in days)


class _Permutation:
    """A keyed pseudo-random bijection of range(size): a balanced Feistel network with cycle walking."""

    __slots__ = ("_half", "_keys", "_mask", "_size")

    def __init__(self, size: int, rng: random.Random) -> None:
        bits = max(2, (size - 1).bit_length())
        bits += bits & 1
        self._size = size
        self._half = bits // 2
        self._mask = (1 << self._half) - 1
        self._keys = tuple(rng.getrandbits(32) for _ in range(4))

    def __call__(self, value: int) -> int:
        half, mask = self._half, self._mask
        while True:
            left, right = value >> half, value & mask
            for key in self._keys:
                mixed = ((right ^ key) * 0x45D9F3B) & 0xFFFFFFFF
                left, right = right, left ^ ((mixed ^ (mixed >> 16)) & mask)
            value = (left << half) | right
            # The network permutes a power-of-two range; walking the cycle lands back inside range(size).
            if value < self._size:
                return value


def synthetic_holders(
    province: str, count: int, seed: int = 0, *, shard: int = 0, shards: int = 1
) -> Iterator[HolderRecord]:
    """`count` valid holders of a province, equal for equal seeds; aac002 and aaz500 unique in the stream.

    Shard i of n draws from every n-th county and card letter only, so the n shards of one seed are disjoint
    and can be made in parallel; a single shard is the whole stream.
    """
    last_birth_year = LAST_BIRTH_DAY.year
    counties = [c for c in counties_of(province) if (valid_since(c) or 0) <= last_birth_year]
    if not counties:
        raise InvalidInput(
            f"province {province!r} has no GB/T 2260 counties to place holders in", field="province"
        )
    if count < 0:
        raise InvalidInput(f"count must not be negative, got {count}", field="count")
    if not 0 <= shard < shards <= min(len(counties), len(_CARD_LETTERS)):
        raise InvalidInput(
            f"shard {shard} of {shards} is not possible for province {province}", field="shards"
        )
    stream = f"{seed}" if shards == 1 else f"{seed}/{shard}of{shards}"
    return _holders(province, counties[shard::shards], _CARD_LETTERS[shard::shards], count, stream)


def _holders(
    province: str, counties: list[str], letters: str, count: int, seed: str
) -> Iterator[HolderRecord]:
    surnames, male, female = _name_pools()
    day_codes, day_years = _birth_days()
    since = [valid_since(county) or 0 for county in counties]
    prefectures = [county[:4] + "00" for county in counties]
    per_county = len(day_codes) * _SEQUENCES
    space = len(counties) * per_county
    # Reproducible test data, never secrets: a seeded non-cryptographic generator is the point.
    rng = random.Random(f"essc-synthetic/{province}/{seed}")  # noqa: S311
    person_order = _Permutation(space, rng)
    card_order = _Permutation(len(letters) * _CARD_DIGITS, rng)
    pool_mask = (1 << _POOL_BITS) - 1
    index = 0
    for produced in range(count):
        while True:
            if index >= space:
                raise InvalidInput(f"province {province} cannot hold {count:,} distinct synthetic holders")
            slot = person_order(index)
            index += 1
            county, rest = divmod(slot, per_county)
            day, sequence = divmod(rest, _SEQUENCES)
            # ric accepts a county only for birth years in which the code existed.
            if day_years[day] >= since[county]:
                break
        first17 = f"{counties[county]}{day_codes[day]}{sequence:03d}"
        bits = rng.getrandbits(2 * _POOL_BITS + 2)
        given_names = male if sequence & 1 else female  # GB 11643: odd sequence numbers are men
        given = given_names[bits & pool_mask]
        if len(given) == 1 and bits >> (2 * _POOL_BITS + 1):
            # Faker's zh_CN given names are mostly one character; half of those get a second one.
            second = given_names[(bits >> _POOL_BITS) & pool_mask]
            if len(second) == 1:
                given += second
        card = card_order(produced)
        roll = rng.random()
        yield HolderRecord(
            aac002=first17 + check_digit(first17),
            aac003=surnames[rng.getrandbits(_POOL_BITS)] + given,
            aac067=f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(_MOBILE_SUFFIXES):08d}",
            aaz500=f"{letters[card // _CARD_DIGITS]}{card % _CARD_DIGITS:08d}",
            aaz501=f"{rng.getrandbits(128):032x}",
            aab301=prefectures[county],
            generation=3 if rng.random() < THIRD_GENERATION_SHARE else 2,
            bank_account_active=rng.random() < BANK_ACCOUNT_SHARE,
            card_status="normal" if roll < NORMAL_CARD_SHARE else ABNORMAL_STATUSES[int(roll * 1000) % 3],
        )


def write_csv(path: Path, records: Iterable[HolderRecord]) -> int:
    """Write records as an import CSV (UTF-8, header row); returns the number of records written."""
    written = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for r in records:
            writer.writerow(
                (
                    r.aac002,
                    r.aac003,
                    r.aac067 or "",
                    r.aaz500,
                    r.aaz501,
                    r.aab301,
                    r.generation,
                    "true" if r.bank_account_active else "false",
                    r.card_status,
                )
            )
            written += 1
    return written


def write_ndjson(path: Path, records: Iterable[HolderRecord]) -> int:
    """Write records as an import NDJSON file (one object per line); returns the number written."""
    written = 0
    with path.open("wb") as handle:
        for record in records:
            handle.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
            written += 1
    return written


def _write_shard(out: str, province: str, count: int, *, seed: int, shard: int, shards: int) -> int:
    """Write one shard's rows without a header (a worker process's part of write_parallel)."""
    records = synthetic_holders(province, count, seed, shard=shard, shards=shards)
    path = Path(out)
    if path.suffix == ".ndjson":
        return write_ndjson(path, records)
    written = write_csv(path, records)
    with path.open("rb") as handle:
        data = handle.read()
    path.write_bytes(data[data.index(b"\n") + 1 :])
    return written


def write_parallel(path: Path, province: str, count: int, seed: int = 0, workers: int = 2) -> int:
    """Write `count` holders made by `workers` processes, one shard each, into one CSV or NDJSON file."""
    if workers <= 1:
        writer = write_ndjson if path.suffix in (".ndjson", ".jsonl") else write_csv
        return writer(path, synthetic_holders(province, count, seed))
    suffix = ".ndjson" if path.suffix in (".ndjson", ".jsonl") else ".csv"
    parts = [path.with_name(f"{path.name}.part{shard}{suffix}") for shard in range(workers)]
    sizes = [count // workers + (1 if shard < count % workers else 0) for shard in range(workers)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = [
            pool.submit(_write_shard, str(part), province, size, seed=seed, shard=shard, shards=workers)
            for shard, (part, size) in enumerate(zip(parts, sizes, strict=True))
        ]
        written = sum(future.result() for future in futures)
    with path.open("wb") as out:
        if suffix == ".csv":
            out.write((",".join(COLUMNS) + "\n").encode("utf-8"))
        for part in parts:
            with part.open("rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
            part.unlink()
    return written
