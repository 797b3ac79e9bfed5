"""The webhook outbox and its dispatcher: written with the change, signed, retried, leased, logged."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from essc.cardholders.models import Card, CardEvent
from essc.cardholders.schemas import CardEventIn
from essc.cardholders.service import apply_card_event
from essc.channels import repository as channels_repository
from essc.cli import app as cli
from essc.core.outbox import LEASE, OutboxStatus
from essc.core.platform import Platform, build_platform
from essc.kit import wire
from essc.kit.clock import FrozenClock
from essc.kit.crypto.base import PublicKey
from essc.kit.keystore import KeyStore
from essc.kit.keystores import FileKeyStore
from essc.webhooks import repository
from essc.webhooks.dispatcher import HEADER_EVENT_ID, Delivery, deliver_due
from essc.webhooks.models import DeliveryAttempt, OutboxMessage
from essc.webhooks.service import announce
from essc_sdk import WebhookSignatureInvalid, verify_webhook
from factories import Party, app_client, channel, holder, issue_request, load, operator_uow, province

Outcome = int | Exception


class FakeSender:
    """A WebhookSender that records each delivery and answers from a script (a status, or an exception to
    raise), then with `default`. `during` runs while a delivery is in flight (time passing at a slow channel).
    """

    def __init__(
        self,
        *script: Outcome,
        default: Outcome = 204,
        latency: float = 0.0,
        during: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.script = list(script)
        self.default = default
        self.latency = latency
        self.during = during
        self.deliveries: list[Delivery] = []
        self.timeouts: list[float] = []
        self.overlaps: list[str] = []  # event ids posted while already in flight
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    def post(self, delivery: Delivery, timeout: float) -> int:
        event_id = delivery.headers[HEADER_EVENT_ID]
        with self._lock:
            if event_id in self._in_flight:
                self.overlaps.append(event_id)
            self._in_flight.add(event_id)
            self.deliveries.append(delivery)
            self.timeouts.append(timeout)
            outcome = self.script.pop(0) if self.script else self.default
        try:
            if self.latency:
                time.sleep(self.latency)
            if self.during is not None:
                self.during(delivery)
        finally:
            with self._lock:
                self._in_flight.discard(event_id)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def event_ids(self) -> list[str]:
        return [d.headers[HEADER_EVENT_ID] for d in self.deliveries]


# helpers


def _channel(platform: Platform, webhook_url: str | None = "https://channel.test/hooks") -> str:
    return channel(platform, app_client(platform), webhook_url).caller_id  # a channel's id is its caller id


def _queue(platform: Platform, channel_id: str, count: int = 1) -> list[str]:
    with operator_uow(platform) as uow:
        ids = [announce(uow, channel_id, "ecard.status_changed", {"signNo": f"S{n}"}) for n in range(count)]
        uow.commit()
    return ids


def _message(platform: Platform, message_id: str) -> OutboxMessage:
    with platform.session_factory() as session:
        message = repository.message(session, message_id)
    assert message is not None
    return message


def _attempts(platform: Platform, message_id: str) -> list[DeliveryAttempt]:
    with platform.session_factory() as session:
        return repository.attempts_of(session, message_id)


def _outbox(platform: Platform) -> list[OutboxMessage]:
    with platform.session_factory() as session:
        return list(session.execute(select(OutboxMessage).order_by(OutboxMessage.channel_id)).scalars())


def _receiver(platform: Platform, delivery: Delivery) -> str:
    """The caller label of the channel a delivery was made for (what that channel verifies it as)."""
    event_id = {k.lower(): v for k, v in delivery.headers.items()}[HEADER_EVENT_ID.lower()]
    message = _message(platform, event_id)
    with platform.session_factory() as session:
        found = channels_repository.by_id(session, message.channel_id)
    assert found is not None
    return f"channel/{found.channel_no}"


def _platform_keys(platform: Platform) -> dict[str, PublicKey]:
    """What a channel does: fetch the platform's public keys from the API."""
    data = app_client(platform).get("/v1/platform/keys").json()
    return {kid: platform.suite.load_public_key(pem.encode()) for kid, pem in data["keys"].items()}


Verify = Callable[..., dict[str, object]]


@pytest.fixture
def verify(platform: Platform) -> Verify:
    """A channel checking a delivery with the SDK, by default at the platform clock's time."""
    keys = _platform_keys(platform)

    def check(delivery: Delivery, at: datetime | None = None) -> dict[str, object]:
        moment = at or platform.clock.now()
        receiver = _receiver(platform, delivery)
        return verify_webhook(
            platform.suite, keys, delivery.headers, delivery.body, receiver=receiver, now=moment.timestamp()
        )

    return check


def _issued_card(platform: Platform) -> tuple[Party, Party, Party, str, str, str]:
    """A holder whose e-card is issued in two channels, and the province's card system."""
    record = holder()
    load(platform, record)
    http = app_client(platform)
    one, two = channel(platform, http), channel(platform, http)
    first = one.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    second = two.client.post("/v1/ecards/issuance", issue_request(platform, record))["signNo"]
    return province(platform, http), one, two, first, second, record.aaz500


def _card_event(platform: Platform, aaz500: str, kind: str, event_id: str) -> dict[str, object]:
    return {
        "eventId": event_id,
        "aaz500": aaz500,
        "type": kind,
        "occurredAt": platform.clock.now().isoformat(),
    }


@pytest.fixture
def make_platform(platform: Platform) -> Iterator[Callable[..., Platform]]:
    """Another platform on the same database, clock and keys, with some settings changed."""
    built: list[Platform] = []

    def make(**settings: object) -> Platform:
        other = build_platform(
            platform.settings.model_copy(update=settings), clock=platform.clock, keys=platform.keys
        )
        built.append(other)
        return other

    yield make
    for other in built:
        other.close()


# (1) the outbox is written in the transaction of the change


def test_a_card_event_queues_one_webhook_per_channel_with_the_change(platform: Platform) -> None:
    gd, one, two, first, second, aaz500 = _issued_card(platform)
    assert _outbox(platform) == []  # issuance is the channel's own request: nothing to announce

    gd.client.post("/v1/provinces/44/card-events", _card_event(platform, aaz500, "lost", "ev-1"))

    messages = _outbox(platform)
    assert {m.channel_id for m in messages} == {one.caller_id, two.caller_id}
    for message in messages:
        assert message.status == OutboxStatus.PENDING
        assert message.attempts == 0
        assert message.next_attempt_at == platform.clock.now()  # due at once
        body = orjson.loads(message.payload)
        assert body["eventId"] == message.id
        assert body["type"] == message.event_type == "ecard.status_changed"
        assert body["data"]["usable"] is False
    assert {orjson.loads(m.payload)["data"]["signNo"] for m in messages} == {first, second}


class _Abort(Exception):
    pass


def test_a_rolled_back_change_queues_no_webhook(platform: Platform) -> None:
    _, _, _, _, _, aaz500 = _issued_card(platform)
    event = CardEventIn.model_validate(_card_event(platform, aaz500, "lost", "ev-1"))

    def change_then_fail() -> None:
        with operator_uow(platform) as uow:
            apply_card_event(uow, "44", event)
            uow.session.flush()
            pending = uow.session.execute(select(func.count()).select_from(OutboxMessage)).scalar_one()
            assert pending == 2  # written inside the change's transaction ...
            raise _Abort  # ... which then fails

    with pytest.raises(_Abort):
        change_then_fail()

    assert _outbox(platform) == []  # ... so nothing is announced
    with platform.session_factory() as session:
        assert session.execute(select(Card.status).where(Card.aaz500 == aaz500)).scalar_one() == "normal"
        assert session.execute(select(func.count()).select_from(CardEvent)).scalar_one() == 0
    assert deliver_due(platform, FakeSender()) == 0

    with operator_uow(platform) as uow:  # the same change committed announces it
        apply_card_event(uow, "44", event)
        uow.commit()
    assert len(_outbox(platform)) == 2


# (2) signed deliveries a channel can verify


def test_a_delivery_verifies_with_the_platform_public_key(platform: Platform, verify: Verify) -> None:
    gd, one, _, first, _, aaz500 = _issued_card(platform)
    gd.client.post("/v1/provinces/44/card-events", _card_event(platform, aaz500, "lost", "ev-1"))
    sender = FakeSender()

    assert deliver_due(platform, sender) == 2

    by_id = {m.id: m for m in _outbox(platform)}
    for delivery in sender.deliveries:
        message = by_id[delivery.headers[HEADER_EVENT_ID]]
        assert delivery.url == "https://channel.test/hooks"
        assert delivery.body == message.payload.encode()
        assert delivery.headers["Content-Type"] == "application/json"
        assert delivery.headers[wire.HEADER_TIMESTAMP] == str(int(platform.clock.now().timestamp()))
        assert wire.NONCE_PATTERN.match(delivery.headers[wire.HEADER_NONCE])
        event = verify(delivery)
        assert event["eventId"] == message.id
        # the one canonical string of essc.kit.wire, checked here without the SDK's help
        key = platform.keys.public_key(delivery.headers[wire.HEADER_KEY_ID])
        signed = wire.webhook_string(
            message.id,
            int(delivery.headers[wire.HEADER_TIMESTAMP]),
            delivery.headers[wire.HEADER_NONCE],
            delivery.body,
            platform.suite.hash,
            receiver=_receiver(platform, delivery),
            key_id=delivery.headers[wire.HEADER_KEY_ID],
        )
        signature = wire.decode_signature(delivery.headers[wire.HEADER_SIGNATURE])
        assert signature is not None
        platform.suite.verify(key, signed, signature)
    mine = next(d for d in sender.deliveries if by_id[d.headers[HEADER_EVENT_ID]].channel_id == one.caller_id)
    assert verify(mine)["data"] == {
        "signNo": first,
        "event": "lost",
        "cardStatus": "lost",
        "usable": False,
        "signLevel": 1,
    }


def test_headers_in_any_letter_case_verify(platform: Platform, verify: Verify) -> None:
    _queue(platform, _channel(platform))
    sender = FakeSender()
    deliver_due(platform, sender)
    delivery = sender.deliveries[0]
    lowered = Delivery(delivery.url, {k.lower(): v for k, v in delivery.headers.items()}, delivery.body)
    assert verify(lowered)["eventId"] == delivery.headers[HEADER_EVENT_ID]


def test_a_delivery_made_for_one_channel_does_not_verify_for_another(platform: Platform) -> None:
    _queue(platform, _channel(platform))
    sender = FakeSender()
    deliver_due(platform, sender)
    [delivery] = sender.deliveries
    keys = _platform_keys(platform)
    now = platform.clock.now().timestamp()
    mine = _receiver(platform, delivery)
    other = "channel/4400009999" if mine != "channel/4400009999" else "channel/4400009998"

    assert verify_webhook(platform.suite, keys, delivery.headers, delivery.body, receiver=mine, now=now)
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(platform.suite, keys, delivery.headers, delivery.body, receiver=other, now=now)


def _tampered(delivery: Delivery, body: bytes | None = None, **headers: str) -> Delivery:
    return Delivery(delivery.url, {**delivery.headers, **headers}, delivery.body if body is None else body)


def _rejected(verify: Verify, delivery: Delivery) -> bool:
    try:
        verify(delivery)
    except WebhookSignatureInvalid:
        return True
    return False


def test_a_tampered_or_stale_delivery_fails_verification(platform: Platform, verify: Verify) -> None:
    channel_id = _channel(platform)
    _queue(platform, channel_id, count=2)
    sender = FakeSender()
    deliver_due(platform, sender)
    one, other = sender.deliveries
    sent_at = datetime.fromtimestamp(int(one.headers[wire.HEADER_TIMESTAMP]), UTC)
    h = wire

    forgeries = {
        "body changed": _tampered(one, one.body.replace(b'"signNo":"S', b'"signNo":"X')),
        "body of another event": _tampered(one, other.body),
        "byte appended": _tampered(one, one.body + b" "),
        "timestamp moved": _tampered(one, **{h.HEADER_TIMESTAMP: str(int(sent_at.timestamp()) - 1)}),
        "nonce changed": _tampered(one, **{h.HEADER_NONCE: other.headers[h.HEADER_NONCE]}),
        "signature of another event": _tampered(
            one, **{h.HEADER_SIGNATURE: other.headers[h.HEADER_SIGNATURE]}
        ),
        "unknown key": _tampered(one, **{h.HEADER_KEY_ID: "no-such-key"}),
        "signature not base64": _tampered(one, **{h.HEADER_SIGNATURE: "***"}),
        "timestamp not a number": _tampered(one, **{h.HEADER_TIMESTAMP: "soon"}),
        "body not JSON": _tampered(one, b"not json"),
    }
    accepted = [name for name, forged in forgeries.items() if not _rejected(verify, forged)]
    assert accepted == []

    verify(one, at=sent_at + timedelta(seconds=300))  # within the allowed skew
    verify(one, at=sent_at - timedelta(seconds=300))
    with pytest.raises(WebhookSignatureInvalid, match="timestamp"):
        verify(one, at=sent_at + timedelta(seconds=301))  # replayed later
    with pytest.raises(WebhookSignatureInvalid, match="timestamp"):
        verify(one, at=sent_at - timedelta(seconds=301))


# (3) retries with backoff, every attempt logged; (4) success stops them


def test_failures_are_retried_with_growing_backoff_and_every_attempt_is_logged(
    platform: Platform, clock: FrozenClock, verify: Verify
) -> None:
    [message_id] = _queue(platform, _channel(platform))
    sender = FakeSender(
        500, httpx.ConnectError("connection refused"), OSError("connection reset"), 302, 200, latency=0.003
    )
    attempted_at = []
    gaps: list[timedelta] = []

    for attempt in range(1, 5):
        attempted_at.append(clock.now())
        assert deliver_due(platform, sender) == 1
        message = _message(platform, message_id)
        assert message.status == OutboxStatus.PENDING
        assert message.attempts == attempt
        gap = message.next_attempt_at - clock.now()
        base = timedelta(seconds=5 * 2 ** (attempt - 1))  # 5 s, 10 s, 20 s, 40 s, plus up to 20 % jitter
        assert base <= gap < base * 1.2
        assert not gaps or gap > gaps[-1]
        gaps.append(gap)

        clock.set(message.next_attempt_at - timedelta(milliseconds=1))
        assert deliver_due(platform, sender) == 0  # not before it is due
        clock.set(message.next_attempt_at)

    attempted_at.append(clock.now())
    assert deliver_due(platform, sender) == 1  # due: the fifth attempt succeeds

    message = _message(platform, message_id)
    assert message.status == OutboxStatus.DELIVERED
    assert message.delivered_at == clock.now()
    assert message.last_error is None
    log = _attempts(platform, message_id)
    assert [a.attempt_no for a in log] == [1, 2, 3, 4, 5]
    assert [a.attempted_at for a in log] == attempted_at
    assert [a.status_code for a in log] == [500, None, None, 302, 200]
    assert [a.error for a in log] == [
        "HTTP 500",
        "ConnectError: connection refused",
        "OSError: connection reset",
        "HTTP 302",
        None,
    ]
    assert all(a.duration_ms >= 3 for a in log)  # the sender's latency is measured
    assert sender.timeouts == [platform.settings.webhook_timeout_seconds] * 5
    # each attempt is signed afresh and verifies at its own time
    assert len({d.headers[wire.HEADER_NONCE] for d in sender.deliveries}) == 5
    for delivery, moment in zip(sender.deliveries, attempted_at, strict=True):
        assert verify(delivery, at=moment)["eventId"] == message_id

    clock.advance(timedelta(days=30))
    assert deliver_due(platform, sender) == 0  # delivered means never again
    assert len(sender.deliveries) == 5


def test_last_error_keeps_the_latest_failure(platform: Platform, clock: FrozenClock) -> None:
    [message_id] = _queue(platform, _channel(platform))
    sender = FakeSender(503, httpx.ReadTimeout("timed out"))
    deliver_due(platform, sender)
    assert _message(platform, message_id).last_error == "HTTP 503"
    clock.set(_message(platform, message_id).next_attempt_at)
    deliver_due(platform, sender)
    assert _message(platform, message_id).last_error == "ReadTimeout: timed out"


@pytest.mark.parametrize(
    ("status", "delivered"),
    [
        (200, True),
        (202, True),
        (204, True),
        (299, True),
        (199, False),
        (301, False),
        (400, False),
        (410, False),
        (500, False),
    ],
)
def test_only_2xx_counts_as_delivered(platform: Platform, status: int, delivered: bool) -> None:
    [message_id] = _queue(platform, _channel(platform))
    deliver_due(platform, FakeSender(status))
    message = _message(platform, message_id)
    assert message.status == (OutboxStatus.DELIVERED if delivered else OutboxStatus.PENDING)
    assert _attempts(platform, message_id)[0].status_code == status


def test_an_unexpected_sender_error_is_logged_and_retried_without_stopping_the_round(
    platform: Platform, clock: FrozenClock
) -> None:
    bad, good = _queue(platform, _channel(platform), count=2)
    # httpx.InvalidURL is not an httpx.HTTPError; nor is a bug in a transport
    sender = FakeSender(httpx.InvalidURL("bad url"), RuntimeError("boom"), default=204)

    assert deliver_due(platform, sender) == 2

    results = {m: _message(platform, m) for m in (bad, good)}
    errors = sorted(_attempts(platform, m)[0].error or "" for m in (bad, good))
    assert errors == ["InvalidURL: bad url", "RuntimeError: boom"]
    assert all(r.status == OutboxStatus.PENDING and r.attempts == 1 for r in results.values())
    clock.set(max(r.next_attempt_at for r in results.values()))
    assert deliver_due(platform, sender) == 2
    assert all(_message(platform, m).status == OutboxStatus.DELIVERED for m in (bad, good))


def test_a_channel_without_webhook_url_is_logged_as_a_failed_attempt(platform: Platform) -> None:
    [message_id] = _queue(platform, _channel(platform, webhook_url=None))
    sender = FakeSender()

    assert deliver_due(platform, sender) == 1

    assert sender.deliveries == []
    [attempt] = _attempts(platform, message_id)
    assert attempt.status_code is None
    assert attempt.error == "the channel has no webhook URL"
    assert _message(platform, message_id).status == OutboxStatus.PENDING


# (5) dead after the maximum attempts


@pytest.mark.parametrize("max_attempts", [1, 3, None])
def test_after_max_attempts_the_message_is_dead_and_never_retried(
    platform: Platform, clock: FrozenClock, make_platform: Callable[..., Platform], max_attempts: int | None
) -> None:
    the_platform = platform if max_attempts is None else make_platform(webhook_max_attempts=max_attempts)
    limit = the_platform.settings.webhook_max_attempts
    assert limit == (max_attempts or 12)
    [message_id] = _queue(the_platform, _channel(the_platform))
    sender = FakeSender(default=500)

    for attempt in range(1, limit + 1):
        assert deliver_due(the_platform, sender) == 1
        message = _message(the_platform, message_id)
        assert message.attempts == attempt
        if attempt < limit:
            assert message.status == OutboxStatus.PENDING
            assert message.next_attempt_at - clock.now() <= timedelta(hours=1.2)  # capped at an hour
            clock.set(message.next_attempt_at)

    message = _message(the_platform, message_id)
    assert message.status == OutboxStatus.DEAD
    assert message.last_error == "HTTP 500"
    assert len(_attempts(the_platform, message_id)) == limit
    clock.advance(timedelta(days=365))
    assert deliver_due(the_platform, sender) == 0
    assert len(sender.deliveries) == limit


# (6) the lease: one dispatcher at a time per message


def test_a_message_in_flight_is_not_delivered_by_another_dispatcher(platform: Platform) -> None:
    [message_id] = _queue(platform, _channel(platform))
    other = FakeSender()
    seen_by_other: list[int] = []
    first = FakeSender(500, during=lambda _d: seen_by_other.append(deliver_due(platform, other)))

    assert deliver_due(platform, first) == 1

    assert seen_by_other == [0]
    assert other.deliveries == []
    assert len(_attempts(platform, message_id)) == 1


def test_the_lease_of_a_dispatcher_that_died_runs_out(platform: Platform, clock: FrozenClock) -> None:
    [message_id] = _queue(platform, _channel(platform))
    with platform.session_factory() as session:  # a dispatcher leases the message, then its process dies
        repository.claim_due(session, clock.now(), clock.now() + LEASE, 10)
        session.commit()
    sender = FakeSender()

    clock.advance(LEASE - timedelta(seconds=1))
    assert deliver_due(platform, sender) == 0
    clock.advance(timedelta(seconds=1))
    assert deliver_due(platform, sender) == 1
    assert _message(platform, message_id).status == OutboxStatus.DELIVERED
    assert [a.attempt_no for a in _attempts(platform, message_id)] == [1]


def test_a_long_round_of_slow_channels_does_not_outlive_its_leases(
    platform: Platform, clock: FrozenClock
) -> None:
    """Each post takes the full timeout, so the round outlasts LEASE; a second dispatcher starting then must
    not deliver what the first still means to deliver."""
    ids = _queue(platform, _channel(platform), count=20)
    timeout = timedelta(seconds=platform.settings.webhook_timeout_seconds)
    started = clock.now()
    second = FakeSender()
    second_ran: list[int] = []

    def slow(_delivery: Delivery) -> None:
        clock.advance(timeout)
        if not second_ran and clock.now() - started > LEASE:
            second_ran.append(deliver_due(platform, second))

    first = FakeSender(during=slow)
    deliver_due(platform, first)

    assert second_ran
    assert second_ran[0] > 0
    delivered = first.event_ids() + second.event_ids()
    assert sorted(delivered) == sorted(ids)  # every message exactly once
    assert first.overlaps == second.overlaps == []
    assert all(len(_attempts(platform, m)) == 1 for m in ids)


def test_a_dispatcher_that_outlived_its_lease_does_not_overturn_the_outcome(
    platform: Platform, clock: FrozenClock, make_platform: Callable[..., Platform]
) -> None:
    """The lease is time-bound: a post hanging past it lets another dispatcher deliver the message; the late
    failure is still logged but the message stays delivered (not dead, not retried)."""
    the_platform = make_platform(webhook_max_attempts=2)
    [message_id] = _queue(the_platform, _channel(the_platform))
    second = FakeSender(204)

    def hang(_delivery: Delivery) -> None:
        clock.advance(LEASE + timedelta(seconds=1))
        assert deliver_due(the_platform, second) == 1

    deliver_due(the_platform, FakeSender(500, during=hang))

    message = _message(the_platform, message_id)
    assert message.status == OutboxStatus.DELIVERED
    assert [(a.attempt_no, a.status_code) for a in _attempts(the_platform, message_id)] == [
        (1, 204),
        (2, 500),
    ]
    clock.advance(timedelta(days=1))
    assert deliver_due(the_platform, FakeSender()) == 0


def test_concurrent_dispatchers_never_deliver_a_message_twice(platform: Platform) -> None:
    ids = _queue(platform, _channel(platform), count=40)
    sender = FakeSender(latency=0.001)
    start = threading.Barrier(4)

    def dispatcher() -> int:
        start.wait(timeout=10)
        total = 0
        while attempted := deliver_due(platform, sender, limit=3):
            total += attempted
        return total

    with ThreadPoolExecutor(max_workers=4) as pool:
        totals = [f.result(timeout=60) for f in [pool.submit(dispatcher) for _ in range(4)]]

    assert sender.overlaps == []
    assert sorted(sender.event_ids()) == sorted(ids)  # each exactly once
    assert sum(totals) == len(ids)
    with platform.session_factory() as session:
        assert repository.count_by_status(session) == {OutboxStatus.DELIVERED: len(ids)}
        assert session.execute(select(func.count()).select_from(DeliveryAttempt)).scalar_one() == len(ids)


# (7) the CLI


class _Hooks(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[tuple[str, list[tuple[str, dict[str, str], bytes]]]]:
    """A channel's webhook endpoint on localhost."""
    received: list[tuple[str, dict[str, str], bytes]] = []
    handler = type("Hooks", (_Hooks,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    finally:
        server.shutdown()
        server.server_close()


def test_cli_delivers_what_is_due_once(
    platform: Platform, keystore: KeyStore, hook_server: tuple[str, list[tuple[str, dict[str, str], bytes]]]
) -> None:
    url, received = hook_server
    [message_id] = _queue(platform, _channel(platform, webhook_url=url))
    assert isinstance(keystore, FileKeyStore)
    env = {
        "ESSC_DATABASE_URL": platform.settings.database_url,
        "ESSC_KEYSTORE_PATH": str(Path(keystore.path)),
        "ESSC_KEYSTORE_KIND": "file",
        "ESSC_CRYPTO_SUITE": platform.suite.name,
    }

    result = CliRunner().invoke(cli, ["webhooks", "deliver"], env=env)

    assert result.exit_code == 0, result.output
    assert "1 webhook(s) attempted" in result.output
    [(path, headers, body)] = received
    assert path == "/hooks"
    receiver = _receiver(platform, Delivery(url, headers, body))
    event = verify_webhook(
        platform.suite, _platform_keys(platform), headers, body, receiver=receiver
    )  # real time: the CLI's clock
    assert event["eventId"] == message_id
    assert _message(platform, message_id).status == OutboxStatus.DELIVERED
    assert [a.status_code for a in _attempts(platform, message_id)] == [204]

    again = CliRunner().invoke(cli, ["webhooks", "deliver"], env=env)
    assert again.exit_code == 0, again.output
    assert "0 webhook(s) attempted" in again.output
    assert len(received) == 1
