"""A unique violation reaching a unit of work is the named conflict of its constraint, on every driver."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from essc.core.conflicts import ConcurrentWrite, conflict_of, violated_unique_constraint
from essc.core.db import Session, run_on_loop
from essc.core.platform import Platform
from essc.ecards.errors import PasswordAlreadySet
from essc.regions.models import Region


def _columns(region: Region) -> dict[str, object]:
    return {column.key: getattr(region, column.key) for column in Region.__table__.columns}


def _violation(session: Session, statement: object, row: dict[str, object]) -> IntegrityError:
    """The IntegrityError of inserting `row` a second time."""
    with pytest.raises(IntegrityError) as raised:
        session.execute(statement, row)  # type: ignore[call-overload]
    session.rollback()
    return raised.value


def test_a_duplicate_region_names_its_primary_key(platform: Platform) -> None:
    with platform.session_factory() as session:
        region = session.get(Region, "440100")
        assert region is not None
        error = _violation(session, insert(Region), _columns(region))
    assert violated_unique_constraint(error) == "pk_regions"
    assert isinstance(conflict_of(error), ConcurrentWrite)


def test_the_loop_driver_names_the_constraint_too(platform: Platform) -> None:
    async def on_loop() -> IntegrityError:
        try:
            with platform.loop_engine().sessions() as session:
                region = await run_on_loop(session.get, Region, "440100")
                assert region is not None
                row = _columns(region)
                return await run_on_loop(_violation, session, insert(Region), row)
        finally:
            await platform.close_loop()

    error = asyncio.run(on_loop())
    assert violated_unique_constraint(error) == "pk_regions"


def test_a_constraint_a_domain_named_gives_its_error(platform: Platform) -> None:
    class Fake(IntegrityError):
        def __init__(self, message: str) -> None:
            super().__init__("INSERT", {}, Exception(message))

    sqlite = Fake("UNIQUE constraint failed: ecard_passwords.province, ecard_passwords.ecard_id")
    assert violated_unique_constraint(sqlite) == "pk_ecard_passwords"
    assert isinstance(conflict_of(sqlite), PasswordAlreadySet)
    assert conflict_of(Fake("FOREIGN KEY constraint failed")) is None
