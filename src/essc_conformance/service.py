"""A verified conformance report recorded as the certifications that production activation checks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from essc.access.models import CallerKey
from essc.channels import service as channels
from essc.channels.models import ChannelCertification
from essc.core.uow import UnitOfWork
from essc.shared.callers import Environment
from essc_conformance import report
from essc_conformance.report import ReportBeforeKeyChange, ReportKeyMismatch


def _last_key_change(keys: list[CallerKey], now: datetime) -> datetime | None:
    moments = [k.created_at for k in keys]
    moments += [k.revoked_at for k in keys if k.revoked_at is not None]
    moments += [k.not_after for k in keys if k.not_after is not None and k.not_after <= now]
    return max(moments, default=None)


def record_report(
    uow: UnitOfWork, document: Mapping[str, Any], environment: Environment = Environment.PRODUCTION
) -> list[ChannelCertification]:
    """Verify a report and record a certification per passed function on each current key it names.

    Refused when the signature does not verify, the report has expired, it was run before the channel's last
    key change in `environment`, or it names none of the channel's current keys there.
    """
    verified = report.verify(document, uow.platform.suite, uow.platform.keys.public_keys())
    now = uow.clock.now()
    rows = report.certification_rows(verified, environment=environment.value, now=now)
    channel = channels.by_number(uow, str(verified["channelNo"]))
    keys = [k for k in channels.keys(uow, channel) if k.environment == environment.value]
    finished = datetime.fromisoformat(str(verified["finishedAt"]))
    changed = _last_key_change(keys, now)
    if changed is not None and finished < changed:
        raise ReportBeforeKeyChange(
            f"report {verified['reportId']} finished at {finished.isoformat()}, before channel "
            f"{channel.channel_no}'s key change at {changed.isoformat()}; "
            "run the access tests with the new key",
            key_changed_at=changed.isoformat(),
        )
    current = {
        uow.platform.suite.load_public_key(k.public_key).fingerprint()
        for k in keys
        if channels.key_status(k, now) == "active"
    }
    usable = [row for row in rows if row.key_fingerprint in current]
    if not usable:
        raise ReportKeyMismatch(
            f"report {verified['reportId']} names no current {environment.value} key of channel "
            f"{channel.channel_no} (it names {sorted({r.key_fingerprint[:16] for r in rows}) or 'none'})",
        )
    return [
        channels.record_certification(
            uow,
            channel,
            row.function,
            environment,
            passed_at=row.passed_at,
            expires_at=row.expires_at,
            key_fingerprint=row.key_fingerprint,
            report_ref=f"conformance:{row.report_ref}",
        )
        for row in usable
    ]
