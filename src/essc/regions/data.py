"""GB/T 2260 division codes, read from python-stdnum's maintained data file ``stdnum/cn/loc.dat``.

python-stdnum ships the code table that its ``stdnum.cn.ric`` validator uses, so the regions we
accept are exactly those an ID number (aac002) can carry. Entries look like ``11 province="北京市"``
followed by indented county rows ``  0101 county="东城区"``; a ``[start-end]`` prefix dates a name,
and a code is currently valid when one of its names has no end year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

Level = Literal["province", "prefecture"]

_PROVINCE_LINE = re.compile(r'^(\d{2}) province="([^"]*)"')
_COUNTY_LINE = re.compile(r'^\s+(\d{4}) county="([^"]*)"')
_DATED_NAME = re.compile(r"^\[(\d*)-(\d*)\](.*)$")
_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True, slots=True)
class RegionRecord:
    """A province (XX0000) or prefecture-level division (XXXX00) as stored in the ``regions`` table."""

    code: str
    name: str
    level: Level
    province: str
    parent_code: str | None


@dataclass(frozen=True, slots=True)
class _Current:
    """A currently valid code: its present name and the first year of unbroken validity (None = always)."""

    name: str
    since: int | None


@dataclass(frozen=True, slots=True)
class _Tables:
    regions: tuple[RegionRecord, ...]
    names: dict[str, str]
    known: frozenset[str]
    counties: dict[str, tuple[str, ...]]
    since: dict[str, int | None]


def _current(value: str) -> _Current | None:
    """The present name and validity start of a loc.dat value such as ``[-1991]东郊区,[1992-]东丽区``."""
    spans: list[tuple[int | None, int | None, str]] = []
    for entry in value.split(","):
        dated = _DATED_NAME.match(entry)
        if dated is None:
            spans.append((None, None, entry))
        else:
            start, end, name = dated.groups()
            spans.append((int(start) if start else None, int(end) if end else None, name))
    open_spans = [span for span in spans if span[1] is None]
    if not open_spans:
        return None
    name = open_spans[-1][2]
    since = open_spans[-1][0]
    # A renamed code stays valid across the rename (东郊区 until 1991, 东丽区 from 1992), so walk back over
    # adjoining spans; ric accepts a birth year that falls in any of them.
    while since is not None:
        starts = [
            start for start, end, _ in spans if end is not None and end >= since - 1 and (start or 0) < since
        ]
        if not starts:
            break
        since = None if None in starts else min(start for start in starts if start is not None)
    return _Current(name, since)


def _read_loc_dat() -> str:
    return resources.files("stdnum.cn").joinpath("loc.dat").read_text(encoding="utf-8")


@cache
def _tables() -> _Tables:
    provinces: dict[str, str] = {}
    current: dict[str, _Current] = {}
    province = ""
    for line in _read_loc_dat().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if match := _PROVINCE_LINE.match(line):
            province = match.group(1)
            found = _current(match.group(2))
            if found is not None:
                provinces[province] = found.name
            continue
        if (match := _COUNTY_LINE.match(line)) and province:
            found = _current(match.group(2))
            if found is not None:
                current[province + match.group(1)] = found
    regions: list[RegionRecord] = []
    for province, name in provinces.items():
        code = province + "0000"
        regions.append(RegionRecord(code, name, "province", province, None))
        regions.extend(
            RegionRecord(sub, entry.name, "prefecture", province, code)
            for sub, entry in sorted(current.items())
            if sub.startswith(province) and sub.endswith("00") and sub != code
        )
    prefectures = {record.code for record in regions if record.level == "prefecture"}
    counties: dict[str, list[str]] = {province: [] for province in provinces}
    for code in sorted(current):
        # Synthetic cards carry the county's prefecture as aab301, so the prefecture must be current too.
        if not code.endswith("00") and code[:4] + "00" in prefectures and code[:2] in counties:
            counties[code[:2]].append(code)
    names = {code: entry.name for code, entry in current.items()} | {r.code: r.name for r in regions}
    return _Tables(
        regions=tuple(regions),
        names=names,
        known=frozenset(names),
        counties={province: tuple(codes) for province, codes in counties.items()},
        since={code: entry.since for code, entry in current.items()},
    )


def load_regions() -> list[RegionRecord]:
    """Every current province and prefecture-level division, provinces each followed by their prefectures."""
    return list(_tables().regions)


def province_codes() -> list[str]:
    """The two-digit codes of every province-level division."""
    return [record.province for record in _tables().regions if record.level == "province"]


def is_known_region(aab301: str) -> bool:
    """Whether a six-digit code is a current province, prefecture or county-level division."""
    return isinstance(aab301, str) and _CODE.match(aab301) is not None and aab301 in _tables().known


def region_name(code: str) -> str | None:
    """The current name of a province, prefecture or county code, or None when it is not current."""
    return _tables().names.get(code)


def counties_of(province: str) -> list[str]:
    """Current county-level codes (not ending in 00) of a province whose prefecture is also current."""
    return list(_tables().counties.get(province, ()))


def valid_since(code: str) -> int | None:
    """The first year since which a current code has been valid without a break (None = always)."""
    tables = _tables()
    if code not in tables.since:
        raise KeyError(code)
    return tables.since[code]
