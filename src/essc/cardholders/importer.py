"""Streaming bulk load of a province's holder file: batches of rows, one transaction each."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Literal

from essc.cardholders.importfile import BadRow, GoodRow, HolderRecord, ParsedRow, parse_file
from essc.cardholders.service import load_holders
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    persons_added: int = 0
    persons_updated: int = 0
    cards_added: int = 0
    cards_updated: int = 0
    unchanged: int = 0
    bad_rows: list[tuple[int, str]] = field(default_factory=list)

    @property
    def loaded(self) -> int:
        return self.rows - len(self.bad_rows)


Progress = Callable[[ImportReport], None]


def _batches(rows: Iterator[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    while batch := list(islice(rows, size)):
        yield batch


def import_rows(
    platform: Platform,
    province: str,
    rows: Iterator[ParsedRow],
    actor: Actor,
    *,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> ImportReport:
    """Load good rows batch by batch and collect every bad row with its line number and reason."""
    report = ImportReport()
    for batch in _batches(rows, batch_size):
        good: list[tuple[int, HolderRecord]] = []
        for row in batch:
            report.rows += 1
            if isinstance(row, BadRow):
                report.bad_rows.append((row.line, row.reason))
            elif isinstance(row, GoodRow):
                good.append((row.line, row.record))
        with UnitOfWork(platform, RequestContext(actor=actor)) as uow:
            result = load_holders(uow, province, good)
            uow.audit(
                "holders.batch_loaded",
                "province",
                province,
                province,
                first_line=batch[0].line,
                last_line=batch[-1].line,
                added=result.persons_added,
                updated=result.persons_updated,
                rejected=len(result.rejected),
            )
            uow.commit()
        report.persons_added += result.persons_added
        report.persons_updated += result.persons_updated
        report.cards_added += result.cards_added
        report.cards_updated += result.cards_updated
        report.unchanged += result.unchanged
        report.bad_rows.extend(result.rejected)
        if progress:
            progress(report)
    report.bad_rows.sort()
    return report


def import_file(
    platform: Platform,
    province: str,
    path: Path,
    actor: Actor,
    *,
    fmt: Literal["csv", "ndjson"] | None = None,
    batch_size: int = 1000,
    progress: Progress | None = None,
) -> ImportReport:
    return import_rows(
        platform, province, parse_file(path, fmt), actor, batch_size=batch_size, progress=progress
    )
