"""Batches of new holders copied straight into persons and cards; any other batch goes through the merge."""

from __future__ import annotations

import gc
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, text

from essc.cardholders import repository
from essc.cardholders.bulk import (
    Prepared,
    Preparer,
    WorkerSetup,
    _prepare_in_worker,
    _start_worker,
    bulk_import,
    split_lines,
)
from essc.cardholders.importfile import read_csv_header
from essc.cardholders.models import Card, Person
from essc.cardholders.synthetic import synthetic_holders, write_csv
from essc.core.context import Actor
from essc.core.db import Session
from essc.core.platform import Platform
from essc.kit.fieldcrypt import PinnedKeys
from factories import read_clear_holder

OPERATOR = Actor.operator("test")
STAMP = datetime(2026, 12, 4, 18, 59, 7, 123456, tzinfo=UTC)


def _setup(platform: Platform, path: Path) -> WorkerSetup:
    copy = platform.engine.dialect.name == "postgresql"
    keys = PinnedKeys.of(platform.keys)
    return WorkerSetup(platform.suite.name, keys, "44", "csv", tuple(read_csv_header(path)), copy)


def _prepared(platform: Platform, path: Path) -> Prepared:
    data = path.read_bytes().split(b"\n", 1)[1]
    return Preparer(_setup(platform, path)).prepare(split_lines(2, data), now=STAMP)


def _holder_rows(session: Session) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    persons = session.execute(select(*Person.__table__.columns).order_by(Person.id)).all()
    cards = session.execute(select(*Card.__table__.columns).order_by(Card.id)).all()
    return [tuple(row) for row in persons], [tuple(row) for row in cards]


def test_a_batch_of_new_holders_copied_straight_writes_the_rows_the_merge_writes(
    platform: Platform, tmp_path: Path
) -> None:
    records = list(synthetic_holders("44", 40, seed=41))
    second_card = replace(records[5], aaz500="B00000041")  # a person's second row: no second person row
    path = tmp_path / "holders.csv"
    write_csv(path, [*records, second_card])
    prepared = _prepared(platform, path)

    with platform.session_factory() as session:
        assert repository.insert_new_holders(session, "44", prepared.rows, prepared.streams, STAMP)
        copied = _holder_rows(session)
        session.rollback()
    with platform.session_factory() as session:
        repository.stage(session, prepared.rows, prepared.streams.staged if prepared.streams else b"")
        assert repository.resolve_staged_persons(session, "44").existing == set()
        repository.insert_staged_persons(session, STAMP)
        repository.insert_staged_cards(session, "44", STAMP)
        merged = _holder_rows(session)
        session.rollback()

    assert copied == merged
    assert (len(copied[0]), len(copied[1])) == (40, 41)
    assert {row[-1] for row in copied[0]} == {STAMP}  # updated_at, stamped as the worker was told


def test_a_batch_naming_a_loaded_holder_is_undone_and_merged_through_staging(
    platform: Platform, tmp_path: Path
) -> None:
    records = list(synthetic_holders("44", 12, seed=42))
    write_csv(tmp_path / "day1.csv", records[:3])
    first = bulk_import(platform, "44", tmp_path / "day1.csv", OPERATOR, workers=0)
    # Nine new holders, then one loaded unchanged and one loaded with a new name: the copy fails only there.
    write_csv(tmp_path / "day2.csv", [*records[3:], records[0], replace(records[1], aac003="李四")])

    second = bulk_import(platform, "44", tmp_path / "day2.csv", OPERATOR, workers=0)

    assert "copy new holders" in first.phases
    assert "stage" not in first.phases
    assert {"copy refused", "stage"} <= second.phases.keys()
    counts = (second.persons_added, second.cards_added, second.persons_updated, second.unchanged)
    assert counts == (9, 9, 1, 1)
    with platform.session_factory() as session:
        persons = session.execute(select(func.count()).select_from(Person)).scalar_one()
        cards = session.execute(select(func.count()).select_from(Card)).scalar_one()
    assert (persons, cards) == (12, 12)
    assert read_clear_holder(platform, records[1].aac002).aac003 == "李四"
    assert read_clear_holder(platform, records[11].aac002).aac003 == records[11].aac003


def test_a_refused_copy_leaves_the_transaction_usable_and_nothing_of_the_batch(
    platform: Platform, tmp_path: Path
) -> None:
    records = list(synthetic_holders("44", 5, seed=43))
    write_csv(tmp_path / "loaded.csv", records[:1])
    bulk_import(platform, "44", tmp_path / "loaded.csv", OPERATOR, workers=0)
    path = tmp_path / "holders.csv"
    write_csv(path, [*records[1:], records[0]])  # four new holders copied before the loaded one fails
    prepared = _prepared(platform, path)

    with platform.session_factory() as session:
        assert not repository.insert_new_holders(session, "44", prepared.rows, prepared.streams, STAMP)
        assert session.execute(text("SELECT count(*) FROM persons")).scalar_one() == 1
        assert session.execute(text("SELECT count(*) FROM cards")).scalar_one() == 1


def test_a_worker_prepares_with_the_collector_off_and_turns_it_back_on(
    platform: Platform, tmp_path: Path
) -> None:
    path = tmp_path / "holders.csv"
    write_csv(path, synthetic_holders("44", 30, seed=44))
    setup = _setup(platform, path)
    _start_worker(setup)
    data = path.read_bytes().split(b"\n", 1)[1]

    prepared = _prepare_in_worker(2, data, STAMP)

    assert gc.isenabled()
    assert (len(prepared.keys), prepared.bad) == (30, [])
