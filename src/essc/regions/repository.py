"""Storage of the GB/T 2260 reference table ``regions``."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from essc.core.db import insert_ignoring_conflicts
from essc.regions.data import load_regions
from essc.regions.models import Region


def sync_regions(session: Session) -> int:
    """Insert missing regions and correct changed ones from the shipped data; returns the rows written."""
    rows: list[dict[str, Any]] = [
        {
            "code": r.code,
            "name": r.name,
            "level": r.level,
            "province": r.province,
            "parent_code": r.parent_code,
        }
        for r in load_regions()
    ]
    stored = {
        row.code: (row.name, row.level, row.province, row.parent_code)
        for row in session.execute(
            select(Region.code, Region.name, Region.level, Region.province, Region.parent_code)
        )
    }
    # Declarative models type __table__ as a FromClause although it is the Table.
    table = cast(Table, Region.__table__)
    inserted = insert_ignoring_conflicts(session, table, [r for r in rows if r["code"] not in stored])
    changed = [
        r
        for r in rows
        if r["code"] in stored
        and stored[r["code"]] != (r["name"], r["level"], r["province"], r["parent_code"])
    ]
    if changed:
        # ORM bulk UPDATE by primary key: one executemany on every backend.
        session.execute(update(Region), changed)
    # Codes that left the data stay: cards issued under a retired code must still resolve their region.
    return inserted + len(changed)


def list_regions(session: Session, province: str | None = None) -> list[Region]:
    """Regions ordered by code, optionally those of one province only."""
    query = select(Region).order_by(Region.code)
    if province is not None:
        query = query.where(Region.province == province)
    return list(session.scalars(query))
