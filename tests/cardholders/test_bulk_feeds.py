"""Daily province feeds: applied twice or out of order they change nothing more; card events reach e-cards."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import select

from essc.cardholders.feeds import apply_feed
from essc.cardholders.importfile import HolderRecord
from essc.core.context import Actor
from essc.core.platform import Platform
from essc.webhooks.models import OutboxMessage
from factories import app_client, channel, holder, issue_request, load, read_clear_holder

OPERATOR = Actor.operator("test")


def _feed(path: Path, *changes: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(change, ensure_ascii=False) + "\n" for change in changes), "utf-8")
    return path


def _renamed(record: HolderRecord, seq: int, name: str) -> dict[str, object]:
    return {"seq": seq, "aac002": record.aac002, "type": "person_changed", "aac003": name}


def test_a_feed_applied_twice_changes_nothing_the_second_time(platform: Platform, tmp_path: Path) -> None:
    record = holder(bank_account_active=False)
    load(platform, record)
    newcomer = holder()
    feed = _feed(
        tmp_path / "day1.ndjson",
        _renamed(record, 1, "王小明"),
        {"seq": 2, "aac002": record.aac002, "type": "bank_account_activated", "aaz500": record.aaz500},
        {"seq": 1, "aac002": newcomer.aac002, "type": "new_person", **asdict(newcomer)},
    )

    first = apply_feed(platform, "44", feed, OPERATOR)
    again = apply_feed(platform, "44", feed, OPERATOR)
    resent_feed = _feed(
        tmp_path / "day1-resent.ndjson", *reversed(_lines(feed))
    )  # another file, same changes
    resent = apply_feed(platform, "44", resent_feed, OPERATOR)

    assert (first.applied, first.ignored, first.bad_rows) == (3, [], [])
    assert (again.batches, again.resumed_batches) == (0, 1)
    assert (resent.applied, [line for line, _ in resent.ignored]) == (0, [1, 2, 3])
    clear = read_clear_holder(platform, record.aac002)
    assert (clear.aac003, clear.cards[record.aaz500]) == ("王小明", ("normal", True))
    assert read_clear_holder(platform, newcomer.aac002).aac003 == newcomer.aac003


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_a_holders_changes_apply_in_their_order_and_an_older_one_later_is_ignored(
    platform: Platform, tmp_path: Path
) -> None:
    record = holder()
    load(platform, record)
    out_of_order = _feed(tmp_path / "day2.ndjson", _renamed(record, 6, "赵六"), _renamed(record, 5, "钱五"))
    late = _feed(tmp_path / "day1.ndjson", _renamed(record, 4, "孙四"))

    first = apply_feed(platform, "44", out_of_order, OPERATOR)
    older = apply_feed(platform, "44", late, OPERATOR)

    assert first.applied == 2
    assert read_clear_holder(platform, record.aac002).aac003 == "赵六"
    assert older.applied == 0
    assert older.ignored == [(1, "seq 4 is not after seq 6 already applied")]
    assert read_clear_holder(platform, record.aac002).aac003 == "赵六"


def test_a_card_event_in_a_feed_makes_the_ecard_unusable_and_tells_its_channel(
    platform: Platform, tmp_path: Path
) -> None:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    party = channel(platform, http)
    sign_no = party.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    event = {
        "eventId": "feed-ev-1",
        "aaz500": record.aaz500,
        "type": "lost",
        "occurredAt": "2026-12-01T08:00:00Z",
    }
    feed = _feed(
        tmp_path / "events.ndjson", {"seq": 1, "aac002": record.aac002, "type": "card_event", "event": event}
    )

    report = apply_feed(platform, "44", feed, OPERATOR)

    assert report.applied == 1
    assert party.client.get(f"/v1/ecards/{sign_no}")["usable"] is False
    with platform.session_factory() as session:
        hooks = [json.loads(r.payload) for r in session.execute(select(OutboxMessage)).scalars()]
    assert [(h["type"], h["data"]["signNo"]) for h in hooks] == [("ecard.status_changed", sign_no)]


def test_bad_changes_are_reported_by_line_and_never_stop_the_good_ones(
    platform: Platform, tmp_path: Path
) -> None:
    record, stranger = holder(), holder()
    load(platform, record)
    feed = tmp_path / "mixed.ndjson"
    feed.write_text(
        "{not json\n"
        + json.dumps({"seq": 1, "aac002": record.aac002, "type": "moved_abroad"})
        + "\n"
        + json.dumps(_renamed(stranger, 1, "周七"))
        + "\n"
        + json.dumps(
            {"seq": 1, "aac002": record.aac002, "type": "bank_account_activated", "aaz500": "Z99999999"}
        )
        + "\n"
        + json.dumps(_renamed(record, 2, "吴八"))
        + "\n",
        "utf-8",
    )

    report = apply_feed(platform, "44", feed, OPERATOR)

    assert [line for line, _ in report.bad_rows] == [1, 2, 3, 4]
    assert report.applied == 1
    shown = " ".join(reason for _, reason in report.bad_rows)
    assert stranger.aac002 not in shown
    assert "Z99999999" not in shown
    assert read_clear_holder(platform, record.aac002).aac003 == "吴八"
