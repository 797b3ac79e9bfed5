"""What the database holds in the clear about holders leaves every ID number at least 1,000 candidates.

An attacker with a copy of the database and no key reads every column of persons, cards and e-cards that is
not a ciphertext or a keyed digest, and counts the GB 11643 numbers that agree with it: a county of the
holder's province under the card's region (as the synthetic holders are placed), a birth day in the synthetic
range on which that county code existed, any characters a mask keeps, any clear birth date, and the check
character.
"""

from __future__ import annotations

import contextlib
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy import LargeBinary, Table, select

from essc.cardholders.models import Card, Person
from essc.cardholders.service import load_holders
from essc.cardholders.synthetic import FIRST_BIRTH_DAY, LAST_BIRTH_DAY, synthetic_holders
from essc.core.db import table_of
from essc.core.platform import Platform
from essc.ecards.models import Ecard
from essc.kit.idnumber import check_digit
from essc.regions.data import counties_of, is_known_region, valid_since
from factories import operator_uow

HOLDERS = 2_000
MIN_CANDIDATES = 1_000
# GB 11643 (ISO 7064 MOD 11-2): the weight of each of the first 17 digits.
WEIGHTS = tuple(pow(2, 17 - position, 11) for position in range(17))
CHECK_CHARACTERS = "10X98765432"  # by the weighted sum modulo 11


Day = tuple[int, str, int]  # year, YYYYMMDD, its part of the weighted sum


def _day(day: date) -> Day:
    code = day.strftime("%Y%m%d")
    return day.year, code, _partial(code, 6)


def _days() -> list[Day]:
    return [_day(FIRST_BIRTH_DAY + timedelta(n)) for n in range((LAST_BIRTH_DAY - FIRST_BIRTH_DAY).days + 1)]


def _partial(digits: str, start: int) -> int:
    return sum(int(d) * WEIGHTS[start + i] for i, d in enumerate(digits))


def _fits(value: str, pattern: str) -> bool:
    return all(p in ("*", v) for v, p in zip(value, pattern, strict=True))


class Evidence:
    """What the clear columns of one holder's rows say about their ID number."""

    def __init__(self, province: str) -> None:
        self.province = province
        self.pattern = "*" * 18
        self.region_prefixes: set[str] = set()
        self.birth_days: set[date] = set()

    def read(self, value: Any) -> None:
        """Take any clear value of a recognisable shape as evidence, whatever its column is called."""
        if isinstance(value, date) and not hasattr(value, "hour"):
            self.birth_days.add(value)
        if not isinstance(value, str):
            return
        if len(value) == 18 and "*" in value:
            self.pattern = "".join(k if k != "*" else p for k, p in zip(value, self.pattern, strict=True))
        elif re.fullmatch(r"[0-9]{8}", value):
            with contextlib.suppress(ValueError):
                self.birth_days.add(date(int(value[:4]), int(value[4:6]), int(value[6:])))
        elif re.fullmatch(r"[0-9]{6}", value) and is_known_region(value):
            self.region_prefixes.add(value[:4] if value.endswith("00") else value)

    def candidates(self, days: list[Day], cap: int) -> int:
        """How many ID numbers agree with the evidence (counting stops at cap)."""
        pattern = self.pattern
        sequences = [f"{n:03d}" for n in range(1000) if _fits(f"{n:03d}", pattern[14:17])]
        by_residue = [0] * 11
        for sequence in sequences:
            by_residue[_partial(sequence, 14) % 11] += 1
        found = 0
        for county in counties_of(self.province):
            if not _fits(county, pattern[:6]) or not all(county.startswith(p) for p in self.region_prefixes):
                continue
            since = valid_since(county) or 0
            head = _partial(county, 0)
            for year, code, part in [_day(day) for day in self.birth_days] or days:
                if year < since or not _fits(code, pattern[6:14]):
                    continue
                partial = head + part
                if pattern[17] == "*":
                    found += len(sequences)
                else:
                    wanted = CHECK_CHARACTERS.index(pattern[17])
                    found += by_residue[(wanted - partial) % 11]
                if found >= cap:
                    return found
        return found


def _clear_rows(platform: Platform, model: type[Any]) -> Iterator[dict[str, Any]]:
    table: Table = table_of(model)
    clear = [column for column in table.columns if not isinstance(column.type, LargeBinary)]
    with platform.session_factory() as session:
        for row in session.execute(select(*clear)).mappings():
            yield dict(row)


def test_the_clear_columns_leave_every_id_number_at_least_1000_candidates(platform: Platform) -> None:
    records = list(synthetic_holders("44", HOLDERS, seed=11))
    with operator_uow(platform) as uow:
        assert not load_holders(uow, "44", list(enumerate(records, start=1))).rejected
        uow.commit()
    evidence: dict[tuple[str, str], Evidence] = defaultdict(lambda: Evidence("44"))
    for person in _clear_rows(platform, Person):
        for value in person.values():
            evidence[(person["province"], person["id"])].read(value)
    for model in (Card, Ecard):
        for row in _clear_rows(platform, model):
            for name, value in row.items():
                if name != "province":  # the province is the person's too: read above
                    evidence[(row["province"], row["person_id"])].read(value)

    days = _days()
    counts = [found.candidates(days, cap=MIN_CANDIDATES) for found in evidence.values()]

    assert len(counts) == HOLDERS
    assert min(counts) >= MIN_CANDIDATES, sorted(counts)[:20]


def test_the_count_finds_what_the_former_columns_gave_away() -> None:
    # Before 0005: a clear birth date beside a mask of the first and last four, under the card's region.
    days = _days()
    counts = []
    for record in synthetic_holders("44", 50, seed=11):
        former = Evidence("44")
        for value in (record.aac002[:4] + "*" * 10 + record.aac002[-4:], record.aac002[6:14], record.aab301):
            former.read(value)
        counts.append(former.candidates(days, cap=MIN_CANDIDATES))
    assert max(counts) <= 3
    assert min(counts) >= 1  # the true number is always among them


def test_the_count_agrees_with_the_standard_check_digit() -> None:
    # The counting above computes check characters itself; it must be the standard's.
    for first17 in ("44010619850301123", "11010519491231002", "65010220051231999"):
        assert CHECK_CHARACTERS[(_partial(first17[:14], 0) + _partial(first17[14:], 14)) % 11] == check_digit(
            first17
        )
