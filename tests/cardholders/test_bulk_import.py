"""The bulk import: what it loads, a second run changing nothing, bad rows by line, changed rows updated."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import func, select

from essc.audit.models import AuditEntry
from essc.cardholders.bulk import BATCH_ACTION, bulk_import
from essc.cardholders.models import Card, ImportBatch, Person
from essc.cardholders.synthetic import synthetic_holders, write_csv, write_ndjson
from essc.core.context import Actor
from essc.core.platform import Platform
from factories import holder, load, read_clear_holder

OPERATOR = Actor.operator("test")


def _counts(platform: Platform) -> tuple[int, int, int, int]:
    with platform.session_factory() as session:
        persons = session.execute(select(func.count()).select_from(Person)).scalar_one()
        cards = session.execute(select(func.count()).select_from(Card)).scalar_one()
        batches = session.execute(select(func.count()).select_from(ImportBatch)).scalar_one()
        entries = session.execute(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == BATCH_ACTION)
        ).scalar_one()
    return persons, cards, batches, entries


def test_loads_every_row_once_in_batches_with_one_audit_entry_each(
    platform: Platform, tmp_path: Path
) -> None:
    path = tmp_path / "holders.csv"
    records = list(synthetic_holders("44", 250, seed=7))
    write_csv(path, records)

    report = bulk_import(platform, "44", path, OPERATOR, batch_size=100, workers=0)

    assert (report.rows, report.persons_added, report.cards_added, report.bad_rows) == (250, 250, 250, [])
    assert _counts(platform) == (250, 250, 3, 3)
    assert read_clear_holder(platform, records[123].aac002).aac003 == records[123].aac003


def test_a_second_run_of_the_same_file_changes_nothing(platform: Platform, tmp_path: Path) -> None:
    path = tmp_path / "holders.ndjson"
    write_ndjson(path, synthetic_holders("44", 120, seed=8))
    bulk_import(platform, "44", path, OPERATOR, batch_size=50, workers=0)
    before = _counts(platform)

    again = bulk_import(platform, "44", path, OPERATOR, batch_size=50, workers=0)

    assert _counts(platform) == before
    assert (again.batches, again.resumed_batches, again.rows, again.persons_added) == (0, 3, 120, 0)


def test_the_same_rows_in_another_file_leave_equal_rows_untouched_and_update_changed_ones(
    platform: Platform, tmp_path: Path
) -> None:
    records = list(synthetic_holders("44", 60, seed=9))
    write_csv(tmp_path / "day1.csv", records)
    bulk_import(platform, "44", tmp_path / "day1.csv", OPERATOR, batch_size=25, workers=0)
    changed = [replace(records[0], aac003="李四"), replace(records[1], aaz501="0" * 32), *records[2:]]
    write_csv(tmp_path / "day2.csv", changed)

    report = bulk_import(platform, "44", tmp_path / "day2.csv", OPERATOR, batch_size=25, workers=0)

    assert (report.persons_added, report.persons_updated, report.cards_updated, report.unchanged) == (
        0,
        1,
        1,
        58,
    )
    assert read_clear_holder(platform, records[0].aac002).aac003 == "李四"
    assert _counts(platform)[:2] == (60, 60)


def test_worker_processes_load_the_same_as_in_process(platform: Platform, tmp_path: Path) -> None:
    path = tmp_path / "holders.csv"
    write_csv(path, synthetic_holders("44", 300, seed=10))

    report = bulk_import(platform, "44", path, OPERATOR, batch_size=64, workers=2)

    assert (report.rows, report.persons_added, report.batches) == (300, 300, 5)
    assert _counts(platform) == (300, 300, 5, 5)


def test_rows_the_database_refuses_are_reported_by_line_and_the_rest_load(
    platform: Platform, tmp_path: Path
) -> None:
    elsewhere = holder("11")
    load(platform, elsewhere)
    records = list(synthetic_holders("44", 6, seed=12))
    write_csv(tmp_path / "day1.csv", records[:3])
    bulk_import(platform, "44", tmp_path / "day1.csv", OPERATOR, workers=0)
    rows = [
        replace(records[3], aac002=elsewhere.aac002),  # a person of province 11
        replace(records[4], aaz500=records[0].aaz500),  # a card another person holds
        replace(records[5], aab301="110101"),  # a region outside the province
        records[1],
    ]
    write_csv(tmp_path / "day2.csv", rows)

    report = bulk_import(platform, "44", tmp_path / "day2.csv", OPERATOR, workers=0)

    assert [line for line, _ in report.bad_rows] == [2, 3, 4]
    reasons = " | ".join(reason for _, reason in report.bad_rows)
    assert "already held by province 11" in reasons
    assert "belongs to another person" in reasons
    assert "not in province 44" in reasons
    assert records[0].aaz500 not in reasons
    assert elsewhere.aac002 not in reasons
    assert (report.unchanged, _counts(platform)[:2]) == (1, (4, 4))


def test_a_new_person_whose_first_row_is_refused_is_inserted_from_the_next_one(
    platform: Platform, tmp_path: Path
) -> None:
    held = holder("44")
    load(platform, held)
    newcomer = next(synthetic_holders("44", 1, seed=13))
    rows = [
        replace(newcomer, aaz500=held.aaz500),  # the newcomer's first row names a card another person holds
        replace(newcomer, aaz500="B00000013"),
    ]
    write_csv(tmp_path / "holders.csv", rows)

    report = bulk_import(platform, "44", tmp_path / "holders.csv", OPERATOR, workers=0)

    assert ([line for line, _ in report.bad_rows], report.persons_added, report.cards_added) == ([2], 1, 1)
    assert read_clear_holder(platform, newcomer.aac002).aac003 == newcomer.aac003
    assert _counts(platform)[:2] == (2, 2)
