from datetime import timedelta

from sqlalchemy import func, select

from essc.core.platform import Platform
from essc.ecards.models import BusiSeq
from essc.kit.clock import FrozenClock
from essc.ops.maintenance import CODE_GRACE, purge_expired
from essc.qr.models import OnlineCode
from factories import app_client, busi_seq, channel, holder, issued_sign_no, load


def _count(platform: Platform, model: type[OnlineCode] | type[BusiSeq]) -> int:
    with platform.session_factory() as session:
        return int(session.execute(select(func.count()).select_from(model)).scalar_one())


def test_purge_deletes_only_expired_one_time_state(platform: Platform, clock: FrozenClock) -> None:
    record = holder()
    load(platform, record)
    app = channel(platform, app_client(platform))
    sign_no = issued_sign_no(platform, app, record)
    app.client.post(f"/v1/ecards/{sign_no}/qr-codes", {"images": []})
    busi_seq(platform, app, sign_no, "query")

    assert purge_expired(platform).codes == 0
    assert _count(platform, OnlineCode) == 1
    assert _count(platform, BusiSeq) == 1

    clock.advance(CODE_GRACE + timedelta(minutes=10))
    report = purge_expired(platform)

    assert (report.codes, report.busi_seqs) == (1, 1)
    assert _count(platform, OnlineCode) == 0
    assert _count(platform, BusiSeq) == 0


def test_purge_deletes_idempotency_keys_past_their_lifetime(platform: Platform, clock: FrozenClock) -> None:
    record = holder()
    load(platform, record)
    app = channel(platform, app_client(platform))
    issued_sign_no(platform, app, record)  # the SDK sent an Idempotency-Key: one record

    assert purge_expired(platform).idempotency_records == 0
    clock.advance(timedelta(seconds=platform.settings.idempotency_ttl_seconds + 1))
    assert purge_expired(platform).idempotency_records == 1
