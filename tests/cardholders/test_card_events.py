"""Card events from a province: transitions, idempotency, province isolation, the e-card following at once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from essc.core.platform import Platform
from essc.webhooks.models import OutboxMessage
from essc_sdk import PlatformError
from factories import Party, app_client, channel, holder, issue_request, load, province


def _event(platform: Platform, aaz500: str, kind: str, event_id: str, **extra: object) -> dict[str, object]:
    return {
        "eventId": event_id,
        "aaz500": aaz500,
        "type": kind,
        "occurredAt": platform.clock.now().isoformat(),
        **extra,
    }


def _setup(platform: Platform) -> tuple[Party, Party, Party, str, str, str]:
    record = holder()
    load(platform, record)
    http = app_client(platform)
    one, two = channel(platform, http), channel(platform, http)
    first = one.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    second = two.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    return province(platform, http), one, two, first, second, record.aaz500


def _webhooks(platform: Platform) -> list[dict[str, object]]:
    with platform.session_factory() as session:
        rows = session.execute(select(OutboxMessage).order_by(OutboxMessage.created_at)).scalars()
        return [json.loads(r.payload) for r in rows]


def test_lost_card_makes_ecard_unusable_in_every_channel_and_announces_it(platform: Platform) -> None:
    gd, one, two, first, second, aaz500 = _setup(platform)

    result = gd.client.post("/v1/provinces/44/card-events", _event(platform, aaz500, "lost", "ev-1"))

    assert result["previousStatus"] == "normal"
    assert result["status"] == "lost"
    assert one.client.get(f"/v1/ecards/{first}")["usable"] is False
    assert two.client.get(f"/v1/ecards/{second}")["usable"] is False
    hooks = _webhooks(platform)
    assert {h["data"]["signNo"] for h in hooks} == {first, second}  # type: ignore[index]
    assert all(h["type"] == "ecard.status_changed" and h["data"]["usable"] is False for h in hooks)  # type: ignore[index]


def test_loss_cleared_restores_use(platform: Platform) -> None:
    gd, one, _, first, _, aaz500 = _setup(platform)
    gd.client.post("/v1/provinces/44/card-events", _event(platform, aaz500, "temporarily_lost", "ev-1"))
    gd.client.post("/v1/provinces/44/card-events", _event(platform, aaz500, "loss_cleared", "ev-2"))
    assert one.client.get(f"/v1/ecards/{first}")["usable"] is True


def test_same_event_id_twice_is_applied_once(platform: Platform) -> None:
    gd, _, _, _, _, aaz500 = _setup(platform)
    body = _event(platform, aaz500, "locked", "ev-9")
    gd.client.post("/v1/provinces/44/card-events", body)
    replay = gd.client.post("/v1/provinces/44/card-events", body)
    assert replay["replayed"] is True
    assert replay["status"] == "locked"
    assert len(_webhooks(platform)) == 2  # one per channel, not two


def test_event_id_reused_for_another_event_is_refused(platform: Platform) -> None:
    gd, _, _, _, _, aaz500 = _setup(platform)
    gd.client.post("/v1/provinces/44/card-events", _event(platform, aaz500, "locked", "ev-9"))
    with pytest.raises(PlatformError) as refused:
        gd.client.post("/v1/provinces/44/card-events", _event(platform, aaz500, "lost", "ev-9"))
    assert refused.value.code == "event_id_conflict"


def test_transition_not_allowed_from_current_status(platform: Platform) -> None:
    gd, _, _, _, _, aaz500 = _setup(platform)
    gd.client.post("/v1/provinces/44/card-events", _event(platform, aaz500, "cancelled", "ev-1"))
    with pytest.raises(PlatformError) as refused:
        gd.client.post("/v1/provinces/44/card-events", _event(platform, aaz500, "loss_cleared", "ev-2"))
    assert refused.value.status == 409
    assert refused.value.code == "card_transition_refused"


def test_replacement_rebinds_the_same_ecard_to_the_new_card(platform: Platform) -> None:
    gd, one, _two, first, second, aaz500 = _setup(platform)
    new_card = {
        "aaz500": "N12345678",
        "aaz501": "ab" * 16,
        "aab301": "440100",
        "generation": 3,
        "bankAccountActive": False,
    }
    result = gd.client.post(
        "/v1/provinces/44/card-events", _event(platform, aaz500, "replaced", "ev-r", newCard=new_card)
    )
    assert result["status"] == "cancelled"
    assert result["replacementAaz500"] == "N12345678"
    view = one.client.get(f"/v1/ecards/{first}")
    assert view["signNo"] == first
    assert view["usable"] is True
    assert view["cardStatus"] == "normal"
    assert view["aaz500"].startswith("N1")
    assert view["aaz500"].endswith("78")
    hooks = _webhooks(platform)
    assert {h["type"] for h in hooks} == {"ecard.card_replaced"}
    assert {h["data"]["signNo"] for h in hooks} == {first, second}  # type: ignore[index]


def test_replacement_without_new_card_is_refused(platform: Platform) -> None:
    gd, _, _, _, _, aaz500 = _setup(platform)
    with pytest.raises(PlatformError) as refused:
        gd.client.post("/v1/provinces/44/card-events", _event(platform, aaz500, "replaced", "ev-r"))
    assert refused.value.code == "replacement_card_missing"


def test_a_province_cannot_touch_another_provinces_cards(platform: Platform) -> None:
    _, _, _, _, _, aaz500 = _setup(platform)
    beijing = province(platform, app_client(platform), "11")
    with pytest.raises(PlatformError) as other_path:
        beijing.client.post("/v1/provinces/44/card-events", _event(platform, aaz500, "lost", "ev-x"))
    assert other_path.value.status == 403
    assert other_path.value.code == "wrong_province"
    with pytest.raises(PlatformError) as own_path:
        beijing.client.post("/v1/provinces/11/card-events", _event(platform, aaz500, "lost", "ev-y"))
    assert own_path.value.code == "card_not_found"


def test_a_channel_cannot_send_card_events(platform: Platform) -> None:
    _, one, _, _, _, aaz500 = _setup(platform)
    with pytest.raises(PlatformError) as refused:
        one.client.post("/v1/provinces/44/card-events", _event(platform, aaz500, "lost", "ev-1"))
    assert refused.value.code == "wrong_caller_kind"
