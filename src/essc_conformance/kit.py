"""The two test plans, run against a channel through its driver, the recording proxy and its webhook URL."""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import orjson

from essc.cardholders.importfile import HolderRecord
from essc.cardholders.lifecycle import CardEventType
from essc.cardholders.schemas import CardEventIn
from essc.cardholders.service import apply_card_event, load_holders
from essc.cardholders.synthetic import synthetic_holders
from essc.channels import service as channels
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.ecards import service as ecards
from essc.ecards.passwords import weakness
from essc.kit import wire
from essc.kit.codes import CodeKind, MalformedCode, parse_code
from essc.kit.ids import new_id, random_token
from essc.shared.callers import Environment
from essc.shared.policy import Function
from essc.webhooks.dispatcher import HEADER_EVENT_ID, Delivery, WebhookSender, deliver_due
from essc_conformance import checks, report
from essc_conformance.driver import ChannelDriver, Step, StepAnswer
from essc_conformance.proxy import Fault, FaultKind, RecordingProxy, body_json
from essc_conformance.report import Case, ChannelKey, Plan

TESTED = (Function.ISSUANCE, Function.PAYMENT, Function.QR)
ALL = TESTED
ISSUANCE = (Function.ISSUANCE,)
WEBHOOK_TIMEOUT = 10.0
# The card events every channel must follow, in an order the card's status machine allows.
CARD_EVENTS: tuple[tuple[str, CardEventType], ...] = (
    ("temporarily-lost", CardEventType.TEMPORARILY_LOST),
    ("loss-cleared", CardEventType.LOSS_CLEARED),
    ("locked", CardEventType.LOCKED),
    ("unlocked", CardEventType.UNLOCKED),
    ("lost", CardEventType.LOST),
    ("lost-cleared", CardEventType.LOSS_CLEARED),
    ("replaced", CardEventType.REPLACED),
    ("cancelled", CardEventType.CANCELLED),
)
_seeds = itertools.count(secrets.randbelow(1 << 30))


def test_persons(platform: Platform, province: str, count: int) -> list[HolderRecord]:
    """Fresh synthetic holders (normal card, active bank account) loaded into the sandbox's province."""
    records = [
        replace(record, card_status="normal", bank_account_active=True)
        for record in synthetic_holders(province, count, seed=next(_seeds))
    ]
    with UnitOfWork(platform, RequestContext(actor=Actor.operator("conformance"))) as uow:
        result = load_holders(uow, province, list(enumerate(records, start=1)))
        uow.commit()
    rejected = {line for line, _ in result.rejected}
    return [r for line, r in enumerate(records, start=1) if line not in rejected]


def password_for(person: HolderRecord) -> str:
    """A six-digit password the platform's rules accept for this person."""
    birth = date(int(person.aac002[6:10]), int(person.aac002[10:12]), int(person.aac002[12:14]))
    while True:
        candidate = f"{secrets.randbelow(10**6):06d}"
        if weakness(candidate, birth) is None:
            return candidate


class RecordingSender:
    """Posts webhooks through the given sender and keeps each answer's status for the report."""

    def __init__(self, inner: WebhookSender) -> None:
        self.inner = inner
        self.statuses: list[tuple[str, int | str]] = []

    def post(self, delivery: Delivery, timeout: float) -> int:
        try:
            status = self.inner.post(delivery, timeout)
        except Exception as exc:
            self.statuses.append((delivery.headers.get(HEADER_EVENT_ID, ""), f"{type(exc).__name__}"))
            raise
        self.statuses.append((delivery.headers.get(HEADER_EVENT_ID, ""), status))
        return status


@dataclass
class Kit:
    """One conformance run of a channel in the sandbox."""

    platform: Platform
    proxy: RecordingProxy
    platform_url: str  # where the channel reaches the platform: the proxy
    channel_no: str
    driver: ChannelDriver
    webhooks: WebhookSender
    province: str = "44"
    environment: str = Environment.SANDBOX.value
    validity: timedelta = report.DEFAULT_VALIDITY
    cases: list[Case] = field(default_factory=list)
    persons: list[HolderRecord] = field(default_factory=list)

    def run(self) -> dict[str, Any]:
        """Run both plans and return the unsigned report."""
        started, clock_started = self.platform.clock.now(), time.monotonic()
        self.persons = test_persons(self.platform, self.province, 3)
        self._functional()
        self._security()
        finished = max(self.platform.clock.now(), started)
        return report.build(
            report_id=new_id(),
            channel_no=self.channel_no,
            environment=self.environment,
            platform_url=self.platform_url,
            keys=self._channel_keys(),
            signed_with=[
                e.header(wire.HEADER_KEY_ID) or ""
                for e in self.proxy.exchanges
                if e.header(wire.HEADER_KEY_ID)
            ],
            cases=self.cases,
            tested=TESTED,
            started_at=started,
            finished_at=finished,
            run_seconds=time.monotonic() - clock_started,
            validity=self.validity,
        )

    def run_signed(self) -> dict[str, Any]:
        return report.sign(self.run(), self.platform.keys.signer())

    # --- helpers -------------------------------------------------------------------------------------

    def _case(
        self, case_id: str, plan: Plan, title: str, functions: tuple[Function, ...], outcome: str | None
    ) -> bool:
        """Record a case: outcome None passed, else it says what went wrong and what was expected."""
        self.cases.append(Case(case_id, plan, title, outcome is None, outcome or "as expected", functions))
        return outcome is None

    def _drive(self, case_id: str, step: Step, payload: dict[str, Any]) -> StepAnswer:
        self.proxy.step = case_id
        return self.driver.step(step, payload)

    def _uow(self, actor: Actor) -> UnitOfWork:
        return UnitOfWork(self.platform, RequestContext(actor=actor))

    def _truth(self, sign_no: str) -> dict[str, Any]:
        """The platform's own view of an e-card in the channel, as the channel would read it."""
        context = RequestContext(
            actor=Actor(kind="channel", id=self.channel_no),
            function=Function.ISSUANCE.value,
            environment=self.environment,
        )
        with UnitOfWork(self.platform, context) as uow:
            view = ecards.view(uow, channels.by_number(uow, self.channel_no), sign_no)
            return {
                "status": view.status,
                "cardStatus": view.card_status,
                "usable": view.usable,
                "signLevel": view.sign_level,
            }

    def _channel_keys(self) -> list[ChannelKey]:
        with self._uow(Actor.operator("conformance")) as uow:
            channel = channels.by_number(uow, self.channel_no)
            now = uow.clock.now()
            return [
                ChannelKey(
                    k.key_id, k.environment, self.platform.suite.load_public_key(k.public_key).fingerprint()
                )
                for k in channels.keys(uow, channel)
                if channels.key_status(k, now) == "active"
            ]

    def _card_event(self, aaz500: str, kind: CardEventType) -> str | None:
        """Apply a card event as the province's card system; returns the new card number of a replacement."""
        new_card = None
        if kind is CardEventType.REPLACED:
            new_card = {
                "aaz500": f"R{secrets.randbelow(10**8):08d}",
                "aaz501": secrets.token_hex(8).upper(),
                "aab301": self.persons[0].aab301,
                "generation": 3,
                "bankAccountActive": True,
            }
        event = CardEventIn.model_validate(
            {
                "eventId": f"conformance-{new_id()}",
                "aaz500": aaz500,
                "type": kind.value,
                "occurredAt": self.platform.clock.now().isoformat(),
                "newCard": new_card,
            }
        )
        with self._uow(Actor(kind="province", id=self.province, province=self.province)) as uow:
            apply_card_event(uow, self.province, event)
            uow.commit()
        return str(new_card["aaz500"]) if new_card else None

    def _follows(self, case_id: str, title: str, sign_no: str, sender: RecordingSender) -> None:
        """Deliver what the platform announced, then check the channel's view against the platform's."""
        sender.statuses.clear()
        deliver_due(self.platform, sender)
        truth = self._truth(sign_no)
        seen = self._drive(case_id, Step.ECARD, {"signNo": sign_no})
        delivered = ", ".join(f"{status}" for _, status in sender.statuses) or "nothing delivered"
        outcome = None
        if not seen.ok:
            outcome = f"the ecard step answered {seen.describe()} (webhook answers: {delivered})"
        else:
            wrong = {k: seen.data.get(k) for k, v in truth.items() if seen.data.get(k) != v}
            if wrong:
                outcome = (
                    f"after the webhook (answers: {delivered}) the channel shows {wrong}; "
                    f"the platform's e-card is { ({k: truth[k] for k in wrong}) }"
                )
        self._case(case_id, Plan.FUNCTIONAL, title, ISSUANCE, outcome)

    # --- functional plan -----------------------------------------------------------------------------

    def _functional(self) -> None:
        plan = Plan.FUNCTIONAL
        setup = self._drive(
            "functional.setup", Step.SETUP, {"platformUrl": self.platform_url, "channelNo": self.channel_no}
        )
        self._case(
            "functional.setup",
            plan,
            "The channel connects to the sandbox platform",
            ALL,
            None if setup.ok else f"setup answered {setup.describe()}; expected ok",
        )
        a, b = self.persons[0], self.persons[1]
        sign_no = self._issuance("functional.issuance", a)
        if sign_no is None:
            self._case(
                "functional.password",
                plan,
                "E-card password set and verified",
                ISSUANCE,
                "no e-card: issuance failed",
            )
        else:
            self._password_and_busi_seq(sign_no, a)
            level2 = self._drive("functional.level2", Step.LEVEL2, {"signNo": sign_no})
            outcome = None
            if not level2.ok:
                outcome = f"level2 answered {level2.describe()}; expected signLevel 2"
            elif (platform_level := self._truth(sign_no)["signLevel"]) != 2 or level2.data.get(
                "signLevel"
            ) != 2:
                outcome = (
                    f"after level2 the channel answered signLevel {level2.data.get('signLevel')}, "
                    f"the platform has {platform_level}; expected 2 in both"
                )
            self._case(
                "functional.level2",
                plan,
                "二级签发 (payment enabled) with a busiSeq",
                (Function.PAYMENT,),
                outcome,
            )
            self._qr(sign_no, a)
            self._webhooks(sign_no, a)
        self._unlink(b)

    def _issuance(self, case_id: str, person: HolderRecord, plan: Plan = Plan.FUNCTIONAL) -> str | None:
        answer = self._drive(
            case_id,
            Step.ISSUE,
            {
                "person": {
                    "aab301": person.aab301,
                    "aac002": person.aac002,
                    "aac003": person.aac003,
                    "aaz500": person.aaz500,
                }
            },
        )
        sign_no = answer.data.get("signNo") if answer.ok else None
        outcome = None
        if not isinstance(sign_no, str):
            outcome = f"issue answered {answer.describe()}; expected ok with the signNo"
            sign_no = None
        else:
            try:
                truth = self._truth(sign_no)
            except Exception as exc:  # the platform does not know the signNo the channel reported
                outcome = f"the channel answered signNo {sign_no!r}, which the platform does not know ({exc})"
            else:
                if truth["status"] != "active" or truth["signLevel"] != 1:
                    outcome = f"the platform's e-card {sign_no} is {truth}; expected active at sign level 1"
        self._case(case_id, plan, "一级签发 of a sandbox test person", ALL, outcome)
        return sign_no if outcome is None else None

    def _password_and_busi_seq(self, sign_no: str, person: HolderRecord) -> None:
        plan = Plan.FUNCTIONAL
        password = password_for(person)
        answer = self._drive(
            "functional.password-set", Step.SET_PASSWORD, {"signNo": sign_no, "password": password}
        )
        self._case(
            "functional.password-set",
            plan,
            "E-card password setting",
            ISSUANCE,
            None if answer.ok else f"set-password answered {answer.describe()}; expected ok",
        )
        right = self._drive(
            "functional.password-verify",
            Step.BUSI_SEQ,
            {"signNo": sign_no, "purpose": "query", "method": "password", "password": password},
        )
        wrong_password = f"{(int(password) + 1) % 10**6:06d}"
        wrong = self._drive(
            "functional.password-verify",
            Step.BUSI_SEQ,
            {"signNo": sign_no, "purpose": "query", "method": "password", "password": wrong_password},
        )
        outcome = None
        if not right.ok or not isinstance(right.data.get("busiSeq"), str):
            outcome = f"busi-seq with the right password answered {right.describe()}; expected a busiSeq"
        elif wrong.ok or wrong.error_code != "wrong_password":
            outcome = (
                f"busi-seq with a wrong password answered {wrong.describe()}; expected error wrong_password"
            )
        self._case(
            "functional.password-verify",
            plan,
            "E-card password verification (right and wrong)",
            ISSUANCE,
            outcome,
        )
        face = self._drive(
            "functional.busi-seq", Step.BUSI_SEQ, {"signNo": sign_no, "purpose": "login", "method": "face"}
        )
        self._case(
            "functional.busi-seq",
            plan,
            "busiSeq after a face check",
            ISSUANCE,
            None
            if face.ok and isinstance(face.data.get("busiSeq"), str)
            else f"busi-seq answered {face.describe()}; expected a busiSeq",
        )
        fault = self.proxy.arm(FaultKind.UNAVAILABLE, "POST", rf"^/v1/ecards/{sign_no}/busi-seqs$")
        retried = self._drive(
            "functional.retry", Step.BUSI_SEQ, {"signNo": sign_no, "purpose": "query", "method": "face"}
        )
        self.proxy.disarm()
        outcome = None
        if not self.proxy.spent(fault):
            outcome = (
                "the channel sent no POST /v1/ecards/{signNo}/busi-seqs, so no failure could be injected"
            )
        elif not retried.ok:
            outcome = (
                f"after an injected 503 the step answered {retried.describe()}; expected a retry to succeed"
            )
        self._case("functional.retry", plan, "Retry after a 5xx completes the call", ISSUANCE, outcome)
        self._lost_answer(sign_no)

    def _lost_answer(self, sign_no: str) -> None:
        """The platform completes a call and its answer is lost: the retry must get that first answer."""
        fault = self.proxy.arm(FaultKind.ANSWER_LOST, "POST", rf"^/v1/ecards/{sign_no}/busi-seqs$")
        answer = self._drive(
            "functional.lost-answer", Step.BUSI_SEQ, {"signNo": sign_no, "purpose": "query", "method": "face"}
        )
        self.proxy.disarm()
        self._case(
            "functional.lost-answer",
            Plan.FUNCTIONAL,
            "A call whose answer was lost is retried under its key and gets the first answer",
            ISSUANCE,
            self._lost_answer_outcome(fault, answer),
        )

    def _lost_answer_outcome(self, fault: Fault, answer: StepAnswer) -> str | None:
        if not self.proxy.spent(fault):
            return "the channel sent no POST /v1/ecards/{signNo}/busi-seqs, so no answer could be lost"
        exchanges = self.proxy.exchanges
        dropped = next(e for e in reversed(exchanges) if e.fault is FaultKind.ANSWER_LOST)
        retry = next(
            (e for e in exchanges[dropped.seq + 1 :] if (e.method, e.path) == (dropped.method, dropped.path)),
            None,
        )
        if retry is None:
            return "after the platform completed the call and its answer was lost, the channel never retried"
        if not retry.replayed and retry.status >= 400:
            return (
                f"the retry after the lost answer was answered {retry.status}; expected the platform's "
                "replay of the first answer (the same Idempotency-Key and body, a fresh nonce)"
            )
        if not retry.replayed:
            return (
                f"the retry after the lost answer was answered {retry.status} as a new request, not as the "
                "replay of the first (Idempotent-Replayed absent): the platform did the work twice; expected "
                "the same Idempotency-Key and body"
            )
        if not answer.ok:
            return f"after a lost answer the step answered {answer.describe()}; expected the first answer"
        first = body_json(replace(dropped, body=dropped.lost_answer))
        lost_seq = first.get("busiSeq") if isinstance(first, dict) else None
        if answer.data.get("busiSeq") != lost_seq:
            return (
                f"the channel answered busiSeq {answer.data.get('busiSeq')!r}; the platform's first answer, "
                f"replayed on the retry, was {lost_seq!r}"
            )
        return None

    def _qr(self, sign_no: str, person: HolderRecord) -> None:
        answer = self._drive("functional.qr-code", Step.QR_CODE, {"signNo": sign_no})
        code = answer.data.get("code") if answer.ok else None
        outcome = None
        if not isinstance(code, str):
            outcome = f"qr-code answered {answer.describe()}; expected the payload ESSC:1:..."
        else:
            try:
                parsed = parse_code(code)
            except MalformedCode as exc:
                outcome = f"the code {code[:40]!r} is not a platform payload: {exc.detail}"
            else:
                if parsed.kind is not CodeKind.ONLINE:
                    outcome = f"the code is a {parsed.kind.value} code; expected an online code"
                elif person.aac002 in code or person.aaz500 in code:
                    outcome = "the code carries personal data"
        self._case(
            "functional.qr-code", Plan.FUNCTIONAL, "Dynamic QR code for the holder", (Function.QR,), outcome
        )

    def _webhooks(self, sign_no: str, person: HolderRecord) -> None:
        sender = RecordingSender(self.webhooks)
        deliver_due(self.platform, sender)  # whatever issuance and level2 announced
        aaz500 = person.aaz500
        for suffix, kind in CARD_EVENTS:
            case_id = f"functional.webhook.{suffix}"
            try:
                aaz500 = self._card_event(aaz500, kind) or aaz500
            except Exception as exc:  # the sandbox itself failed: say so instead of blaming the channel
                self._case(
                    case_id,
                    Plan.FUNCTIONAL,
                    f"Follows card event {kind.value}",
                    ISSUANCE,
                    f"the sandbox could not apply {kind.value}: {exc}",
                )
                continue
            self._follows(case_id, f"Follows the webhook of card event {kind.value}", sign_no, sender)

    def _unlink(self, person: HolderRecord) -> None:
        sign_no = self._issuance("functional.unlink.issuance", person)
        if sign_no is None:
            self._case(
                "functional.unlink",
                Plan.FUNCTIONAL,
                "解除关联 with a busiSeq",
                ISSUANCE,
                "no e-card: issuance failed",
            )
            return
        answer = self._drive("functional.unlink", Step.UNLINK, {"signNo": sign_no})
        truth = self._truth(sign_no)
        outcome = None
        if not answer.ok:
            outcome = f"unlink answered {answer.describe()}; expected ok"
        elif truth["status"] != "unlinked":
            outcome = f"the platform's e-card {sign_no} is still {truth['status']} after the unlink step"
        self._case("functional.unlink", Plan.FUNCTIONAL, "解除关联 with a busiSeq", ISSUANCE, outcome)
        self._follows(
            "functional.webhook.unlinked",
            "Follows the webhook ecard.unlinked",
            sign_no,
            RecordingSender(self.webhooks),
        )

    # --- security plan -------------------------------------------------------------------------------

    def _security(self) -> None:
        plan = Plan.SECURITY
        person = self.persons[2]
        sign_no = self._issuance("security.issuance", person, Plan.SECURITY)
        target = sign_no or "0" * 16
        fault = self.proxy.arm(FaultKind.BAD_SIGNATURE, "POST", rf"^/v1/ecards/{target}/busi-seqs$")
        tampered = self._drive(
            "security.response-signature",
            Step.BUSI_SEQ,
            {"signNo": target, "purpose": "query", "method": "face"},
        )
        self.proxy.disarm()
        outcome = None
        if not self.proxy.spent(fault):
            outcome = (
                "the channel sent no POST /v1/ecards/{signNo}/busi-seqs, so no bad signature could be served"
            )
        elif tampered.ok:
            outcome = (
                "the channel accepted an answer whose platform signature does not verify "
                f"(it answered {tampered.data}); expected the driver to answer an error"
            )
        self._case("security.response-signature", plan, "Verifies platform response signatures", ALL, outcome)
        self._forged_webhooks(target if sign_no else None)
        exchanges = self.proxy.exchanges
        known = [v for p in self.persons for v in (p.aac002, p.aac003, p.aac067) if v]
        problems = checks.clear_personal_fields(exchanges, known)
        self._case(
            "security.personal-fields",
            plan,
            "Personal fields never travel in the clear",
            ALL,
            "; ".join(problems) + "; expected every personal field inside an envelope" if problems else None,
        )
        problems = checks.missing_nonces(exchanges) + checks.reused_nonces(exchanges)
        self._case(
            "security.nonces", plan, "A fresh nonce on every request", ALL, "; ".join(problems) or None
        )
        problems = checks.idempotency_faults(exchanges)
        if not any(e.fault is FaultKind.UNAVAILABLE for e in exchanges):
            problems.append("no retry could be observed (no request met the injected 503)")
        self._case(
            "security.idempotency-keys",
            plan,
            "Idempotency-Key on every state-changing call, kept on retries",
            ALL,
            "; ".join(problems) or None,
        )

    def _delivery(
        self,
        body: bytes,
        event_id: str,
        *,
        timestamp: int,
        nonce: str,
        sign: Callable[[bytes], bytes],
        key_id: str,
        receiver: str | None = None,
    ) -> Delivery:
        # The platform's webhook headers over wire.webhook_string, the one definition of the format.
        message = wire.webhook_string(
            event_id,
            timestamp,
            nonce,
            body,
            self.platform.suite.hash,
            receiver=receiver or f"channel/{self.channel_no}",
            key_id=key_id,
        )
        headers = {
            "Content-Type": "application/json",
            HEADER_EVENT_ID: event_id,
            wire.HEADER_KEY_ID: key_id,
            wire.HEADER_TIMESTAMP: str(timestamp),
            wire.HEADER_NONCE: nonce,
            wire.HEADER_SIGNATURE: wire.encode_signature(sign(message)),
        }
        return Delivery(url=self._webhook_url(), headers=headers, body=body)

    def _webhook_url(self) -> str:
        with self._uow(Actor.operator("conformance")) as uow:
            url = channels.by_number(uow, self.channel_no).webhook_url
        return url or ""

    def _event(self, sign_no: str, card_status: str, usable: bool) -> tuple[str, bytes]:
        event_id = new_id()
        body = {
            "eventId": event_id,
            "type": "ecard.status_changed",
            "occurredAt": self.platform.clock.now().isoformat(),
            "data": {
                "signNo": sign_no,
                "event": "conformance",
                "cardStatus": card_status,
                "usable": usable,
                "signLevel": 1,
            },
        }
        return event_id, orjson.dumps(body)

    def _forged_webhooks(self, sign_no: str | None) -> None:
        plan = Plan.SECURITY
        signer = self.platform.keys.signer()
        now = int(self.platform.clock.now().timestamp())
        target = sign_no or "0" * 16

        def genuine(card_status: str, usable: bool) -> Delivery:
            event_id, body = self._event(target, card_status, usable)
            return self._delivery(
                body, event_id, timestamp=now, nonce=random_token(18), sign=signer.sign, key_id=signer.key_id
            )

        stranger = self.platform.suite.generate_private_key()
        forgeries: list[tuple[str, str, Delivery]] = []
        honest = genuine("lost", False)
        _, altered = self._event(target, "cancelled", False)
        altered_body = orjson.dumps(
            {**orjson.loads(altered), "eventId": orjson.loads(honest.body)["eventId"]}
        )
        forgeries.append(
            (
                "bad-signature",
                "a webhook whose body was changed after the platform signed it",
                replace(honest, body=altered_body),
            )
        )
        event_id, body = self._event(target, "lost", False)
        forgeries.append(
            (
                "old-timestamp",
                "a genuinely signed webhook with a timestamp 15 minutes old",
                self._delivery(
                    body,
                    event_id,
                    timestamp=now - 900,
                    nonce=random_token(18),
                    sign=signer.sign,
                    key_id=signer.key_id,
                ),
            )
        )
        event_id, body = self._event(target, "lost", False)
        forgeries.append(
            (
                "unknown-key",
                "a webhook signed by a key the platform does not have, under an unknown key id",
                self._delivery(
                    body,
                    event_id,
                    timestamp=now,
                    nonce=random_token(18),
                    sign=lambda m: self.platform.suite.sign(stranger, m),
                    key_id="conformance-unknown-key",
                ),
            )
        )
        event_id, body = self._event(target, "lost", False)
        other = "9999999999" if self.channel_no != "9999999999" else "9999999998"
        forgeries.append(
            (
                "other-receiver",
                "a webhook genuinely signed by the platform, but for another channel",
                self._delivery(
                    body,
                    event_id,
                    timestamp=now,
                    nonce=random_token(18),
                    sign=signer.sign,
                    key_id=signer.key_id,
                    receiver=f"channel/{other}",
                ),
            )
        )
        for suffix, what, delivery in forgeries:
            self._refused(
                f"security.webhook.{suffix}",
                title=f"Refuses a forged webhook: {suffix}",
                what=what,
                delivery=delivery,
                sign_no=sign_no,
            )
        first = genuine("locked", False)
        status = self._post_webhook(first)
        outcome = None
        if not isinstance(status, int) or not 200 <= status < 300:
            outcome = f"a genuine webhook got {status}; expected a 2xx"
        elif sign_no is not None:
            view = self._drive("security.webhook.genuine", Step.ECARD, {"signNo": sign_no})
            shown = view.data.get("cardStatus") if view.ok else view.describe()
            if shown != "locked":
                outcome = f"after a genuine webhook saying cardStatus locked the channel shows {shown}"
        self._case("security.webhook.genuine", plan, "Accepts a genuine webhook", ALL, outcome)
        second = genuine("normal", True)
        self._post_webhook(second)
        self._refused(
            "security.webhook.replayed-nonce",
            title="Refuses a replayed webhook (same nonce)",
            what="the first genuine delivery sent again byte for byte (same nonce)",
            delivery=first,
            sign_no=sign_no,
            expect_status="normal",
        )

    def _post_webhook(self, delivery: Delivery) -> int | str:
        self.proxy.step = "security.webhooks"
        try:
            return self.webhooks.post(delivery, WEBHOOK_TIMEOUT)
        except Exception as exc:  # an unreachable receiver is an outcome to report
            return f"{type(exc).__name__}: {exc}"

    def _refused(
        self,
        case_id: str,
        *,
        title: str,
        what: str,
        delivery: Delivery,
        sign_no: str | None,
        expect_status: str | None = None,
    ) -> None:
        before = self._drive(case_id, Step.ECARD, {"signNo": sign_no}) if sign_no else None
        status = self._post_webhook(delivery)
        outcome = None
        if isinstance(status, int) and 200 <= status < 300:
            outcome = f"the channel accepted {what} with HTTP {status}; expected a refusal (4xx)"
        elif sign_no is not None and before is not None and before.ok:
            after = self._drive(case_id, Step.ECARD, {"signNo": sign_no})
            if after.data.get("cardStatus") != (expect_status or before.data.get("cardStatus")):
                outcome = f"the channel refused {what} but changed its view to {after.data}"
        self._case(case_id, Plan.SECURITY, title, ALL, outcome)
