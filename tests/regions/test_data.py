"""GB/T 2260 regions read from python-stdnum's loc.dat, and their storage in the regions table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from stdnum.cn import ric

from essc.kit.idnumber import check_digit
from essc.regions.data import (
    counties_of,
    is_known_region,
    load_regions,
    province_codes,
    region_name,
    valid_since,
)
from essc.regions.models import Region
from essc.regions.repository import list_regions, sync_regions

if TYPE_CHECKING:
    from essc.core.platform import Platform


def test_provinces_are_the_34_province_level_divisions() -> None:
    codes = province_codes()
    assert len(codes) == 34
    assert {"11", "44", "65", "71", "81", "82"} <= set(codes)
    assert region_name("440000") == "广东省"


def test_every_region_is_well_formed_and_unique() -> None:
    regions = load_regions()
    assert len({r.code for r in regions}) == len(regions)
    provinces = {r.code for r in regions if r.level == "province"}
    for r in regions:
        assert len(r.code) == 6
        assert r.code.isdigit()
        assert r.province == r.code[:2]
        if r.level == "province":
            assert r.code.endswith("0000")
            assert r.parent_code is None
        else:
            assert r.code.endswith("00")
            assert not r.code.endswith("0000")
            assert r.parent_code == r.province + "0000"
            assert r.parent_code in provinces
        assert r.name
        assert "[" not in r.name


def test_prefectures_carry_their_current_names() -> None:
    assert region_name("440100") == "广州市"
    assert region_name("440300") == "深圳市"
    assert region_name("110100") == "市辖区"  # municipalities list their districts under 市辖区
    assert region_name("210200") == "大连市"  # renamed from 旅大市 in 1981


def test_historical_codes_are_not_current() -> None:
    assert not is_known_region("110103")  # 崇文区, merged in 2010
    assert not is_known_region("110200")  # Beijing's 县, gone in 2015
    assert region_name("110103") is None
    assert "110200" not in {r.code for r in load_regions()}


def test_known_region_accepts_provinces_prefectures_and_counties() -> None:
    for code in ("440000", "440100", "440106", "110101", "659001"):
        assert is_known_region(code), code
    for code in ("999900", "440199", "44010", "4401000", "", "abcdef", "44 100"):
        assert not is_known_region(code), code


def test_counties_of_a_province() -> None:
    beijing = counties_of("11")
    assert "110101" in beijing
    assert "110103" not in beijing
    assert beijing == sorted(beijing)
    for code in beijing:
        assert code.startswith("11")
        assert not code.endswith("00")
        assert is_known_region(code)
        assert is_known_region(code[:4] + "00")
    assert counties_of("71") == []
    assert counties_of("99") == []


def test_valid_since_follows_renames_and_gaps() -> None:
    assert valid_since("110101") is None
    assert valid_since("120110") is None  # 东郊区 until 1991, then 东丽区: one unbroken code
    assert valid_since("130502") == 1983  # 桥东区 from 1983, 襄都区 from 2020
    assert valid_since("419001") == 1997  # 义马市 1986-1989, then unused until 济源市 in 1997


def _id_number(county: str, year: int, sequence: int = 123) -> str:
    first17 = f"{county}{year:04d}0615{sequence:03d}"
    return first17 + check_digit(first17)


def test_ric_accepts_every_current_county_from_its_start_year() -> None:
    for province in province_codes():
        for county in counties_of(province):
            year = max(valid_since(county) or 1950, 1950)
            assert ric.is_valid(_id_number(county, year)), county


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_ric_agrees_with_valid_since(data: st.DataObject) -> None:
    province = data.draw(st.sampled_from([p for p in province_codes() if counties_of(p)]))
    county = data.draw(st.sampled_from(counties_of(province)))
    year = data.draw(st.integers(min_value=1940, max_value=2024))
    since = valid_since(county)
    if since is None or year >= since:
        assert ric.is_valid(_id_number(county, year))


def test_sync_regions_fills_and_repairs_the_table(platform: Platform) -> None:
    expected = {r.code: r for r in load_regions()}
    with platform.session_factory() as session:
        assert sync_regions(session) == 0  # the fixture already synced
        session.execute(update(Region).where(Region.code == "440300").values(name="wrong"))
        session.commit()
        assert sync_regions(session) == 1
        session.commit()
        stored = list_regions(session)
        assert [r.code for r in stored] == sorted(expected)
        shenzhen = next(r for r in stored if r.code == "440300")
        assert shenzhen.name == "深圳市"
        assert shenzhen.level == "prefecture"
        assert shenzhen.parent_code == "440000"


def test_list_regions_of_one_province(platform: Platform) -> None:
    with platform.session_factory() as session:
        guangdong = list_regions(session, "44")
    assert guangdong[0].code == "440000"
    assert {r.province for r in guangdong} == {"44"}
    assert len(guangdong) == sum(1 for r in load_regions() if r.province == "44")
