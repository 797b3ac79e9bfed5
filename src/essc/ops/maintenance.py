"""Periodic housekeeping: expired one-time state is deleted so hot tables stay small."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from essc.access import repository as access_repository
from essc.core.platform import Platform
from essc.ecards import repository as ecards_repository
from essc.idempotency import repository as idempotency_repository
from essc.qr import repository as qr_repository

# Expired codes are kept a day so that "code expired" (not "unknown") can still be answered for a while.
CODE_GRACE = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PurgeReport:
    codes: int
    busi_seqs: int
    sessions_and_nonces: int
    idempotency_records: int


def purge_expired(platform: Platform) -> PurgeReport:
    """Delete expired codes, busiSeqs, sessions, nonces and idempotency keys in one transaction."""
    now = platform.clock.now()
    with platform.session_factory() as session:
        report = PurgeReport(
            codes=qr_repository.purge_codes(session, now - CODE_GRACE),
            busi_seqs=ecards_repository.purge_busi_seqs(session, now),
            sessions_and_nonces=access_repository.purge_sessions_and_nonces(session, now),
            idempotency_records=idempotency_repository.purge(session, now),
        )
        session.commit()
    return report
