"""Prepare a database and key store for use: migrations, reference data, keys."""

from __future__ import annotations

from essc.core import migrate
from essc.core.platform import Platform
from essc.regions.repository import sync_regions


def prepare(platform: Platform) -> None:
    """Idempotent: bring the schema to head and load the GB/T 2260 regions."""
    migrate.upgrade(platform.settings.database_url)
    with platform.session_factory() as session:
        sync_regions(session)
        session.commit()
