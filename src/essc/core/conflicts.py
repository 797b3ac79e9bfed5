"""A unique constraint a concurrent request won, answered as a named 409 instead of a 500.

Services that create a row exactly once do it with INSERT ... ON CONFLICT DO NOTHING and answer the winner's
result (issuance) or their own conflict (a first password). This is the net under every other write: a
unique or primary-key violation reaching the request's unit of work becomes the conflict a domain named for
that constraint (`name_conflicts`, wired in essc.wiring), or `ConcurrentWrite`. Other integrity errors
(a foreign key, a NOT NULL) are defects and stay 500.
"""

from __future__ import annotations

import re

from sqlalchemy import PrimaryKeyConstraint, Table, UniqueConstraint
from sqlalchemy.exc import IntegrityError

from essc.core.db import Base
from essc.kit.errors import Conflict, EsscError

_UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE unique_violation
# SQLite names the columns, not the constraint: "UNIQUE constraint failed: ecard_passwords.province, ...".
_SQLITE_UNIQUE = re.compile(r"^UNIQUE constraint failed: (.+)$")


class ConcurrentWrite(Conflict):
    code = "concurrent_write"
    title = "A concurrent request wrote the same record first; send the request again to see its result"


_named: dict[str, type[EsscError]] = {}


def name_conflicts(errors: dict[str, type[EsscError]]) -> None:
    """Answer a violation of each constraint (by its name in the schema) with its domain's named error."""
    _named.update(errors)


def conflict_of(error: IntegrityError) -> EsscError | None:
    """The named conflict of a unique violation, None for any other integrity error."""
    constraint = violated_unique_constraint(error)
    if constraint is None:
        return None
    named = _named.get(constraint, ConcurrentWrite)
    return named("a concurrent request for the same record finished first")


def violated_unique_constraint(error: IntegrityError) -> str | None:
    """The name of the unique or primary-key constraint the statement violated, on every driver."""
    original = error.orig
    # psycopg carries the diagnostics itself; SQLAlchemy's asyncpg adapter keeps asyncpg's error as the cause.
    sources = [source for source in (original, getattr(original, "__cause__", None)) if source is not None]
    diagnostics = [getattr(source, "diag", None) or source for source in sources]
    if any(getattr(diag, "sqlstate", None) == _UNIQUE_VIOLATION for diag in diagnostics):
        names = [getattr(diag, "constraint_name", None) for diag in diagnostics]
        return next((str(name) for name in names if name), "")
    found = _SQLITE_UNIQUE.match(str(original))
    if found is None:
        return None
    qualified = [column.strip() for column in found.group(1).split(",")]
    table_name = qualified[0].split(".", 1)[0]
    columns = {column.split(".", 1)[1] for column in qualified if "." in column}
    table = Base.metadata.tables.get(table_name)
    return _constraint_on(table, columns) if table is not None else ""


def _constraint_on(table: Table, columns: set[str]) -> str:
    for constraint in table.constraints:
        if (
            isinstance(constraint, PrimaryKeyConstraint | UniqueConstraint)
            and {column.name for column in constraint.columns} == columns
        ):
            return str(constraint.name)
    for index in table.indexes:
        if index.unique and {column.name for column in index.columns} == columns:
            return str(index.name)
    return ""
