"""A resolution is one statement: on PostgreSQL it checks the session, spends, records and audits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import asyncpg
import orjson
import pytest
from sqlalchemy import delete, func, select, update

from essc.access import service as access
from essc.access.errors import SessionStandingChanged
from essc.access.models import CallerSession, CallerStatus
from essc.audit.models import AuditEntry
from essc.core.context import Actor, RequestContext
from essc.core.platform import Platform
from essc.core.uow import UnitOfWork
from essc.kit import wire
from essc.kit.ids import new_id
from essc.qr import service as qr_service
from essc.qr.models import CardUsage, OnlineCode
from essc.qr.schemas import ResolveRequest
from essc.terminals.schemas import BusiType
from factories import (
    Party,
    TerminalParty,
    app_client,
    authenticated_as,
    card_event,
    channel,
    holder,
    institution,
    issued_sign_no,
    load,
    operator_uow,
    province,
    terminal,
)

_SENT = ("execute", "fetch", "fetchrow", "fetchval", "executemany")


@contextmanager
def _sent_to_postgresql(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement the platform hands asyncpg in the block, BEGIN and COMMIT included."""
    sent: list[str] = []
    with monkeypatch.context() as patch:
        for name in _SENT:
            original = getattr(asyncpg.Connection, name)

            def recording(self: Any, query: str, *args: Any, _original: Any = original, **kw: Any) -> Any:
                # asyncpg ends its own BEGIN and COMMIT with ";" (SQLAlchemy names an isolation level or not)
                sent.append(query.split(None, 1)[0].upper().rstrip(";"))
                return _original(self, query, *args, **kw)

            patch.setattr(asyncpg.Connection, name, recording)
        yield sent


class _Scene:
    def __init__(self, platform: Platform, grant: str) -> None:
        self.record = holder()
        load(platform, self.record)
        http = app_client(platform)
        self.app: Party = channel(platform, http)
        self.province: Party = province(platform, http)
        self.sign_no = issued_sign_no(platform, self.app, self.record)
        owner_code = institution(self.province)
        self.counter: TerminalParty = terminal(platform, http, self.province, owner_code, {"01": grant})

    def code(self) -> str:
        return str(self.app.client.post(f"/v1/ecards/{self.sign_no}/qr-codes", {})["code"])

    def resolve(self, code: str) -> Any:
        """A resolution as a terminal sends it without an Idempotency-Key (the header is optional)."""
        return self.counter.client.raw("POST", "/v1/qr/resolutions", {"code": code, "busiType": "01"})


def _entries(platform: Platform, *actions: str) -> list[AuditEntry]:
    with platform.session_factory() as session:
        query = select(AuditEntry).where(AuditEntry.action.in_(actions)).order_by(AuditEntry.id)
        return list(session.execute(query).scalars())


def test_without_an_idempotency_key_postgresql_gets_one_statement_once_the_session_is_known(
    platform: Platform, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip(
            "SQLite has no data-modifying CTEs: it resolves in a local transaction of three statements"
        )
    scene = _Scene(platform, "masked")
    first, second = scene.code(), scene.code()

    with _sent_to_postgresql(monkeypatch) as sent:
        answer = scene.resolve(first)
    assert answer.status_code == 200, answer.text
    assert sent == ["SELECT", "WITH"]  # the session's first request here reads its key, then the statement

    with _sent_to_postgresql(monkeypatch) as sent:
        answer = scene.resolve(second)
    assert answer.status_code == 200, answer.text
    assert sent == ["WITH"]  # the statement checks that the session holds, spends, records and audits
    assert len(_entries(platform, "ecard.used")) == 2


def test_with_an_idempotency_key_the_statement_commits_with_the_keys_fence(
    platform: Platform, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip(
            "SQLite has no data-modifying CTEs: it resolves in a local transaction of three statements"
        )
    scene = _Scene(platform, "masked")
    code = scene.code()

    assert scene.resolve(scene.code()).status_code == 200  # the session is known to this worker now

    with _sent_to_postgresql(monkeypatch) as sent:
        answer = scene.counter.client.post("/v1/qr/resolutions", {"code": code, "busiType": "01"})

    assert answer["usable"] is True
    # A key's claim outlives the route, so it is made only for a session that was looked up first.
    assert sent[0] == "SELECT", sent
    spend = sent.index("WITH")
    assert sent[spend - 1] == "BEGIN", sent
    assert sent[spend + 1 : spend + 3] == ["UPDATE", "COMMIT"]  # the key's fence, then the commit


@pytest.mark.parametrize("grant", ["presence", "masked", "clear"])
def test_postgresql_and_sqlite_write_the_same_use_and_audit_entries(platform: Platform, grant: str) -> None:
    scene = _Scene(platform, grant)
    code = scene.code()
    before = {entry.id for entry in _entries(platform, "person.clear_read")}  # issuance reads clear fields

    answer = scene.resolve(code)

    assert answer.status_code == 200, answer.text
    with platform.session_factory() as session:
        usage = session.execute(select(CardUsage)).scalar_one()
    assert (usage.busi_type, usage.method, usage.disclosure) == ("01", "online_code", grant)
    entries = [e for e in _entries(platform, "person.clear_read", "ecard.used") if e.id not in before]
    # Entries of one request made in the same millisecond have no order among them (the sequencer's is by id).
    expected_actions = {"person.clear_read", "ecard.used"} if grant == "clear" else {"ecard.used"}
    assert len(entries) == len(expected_actions)
    assert {entry.action for entry in entries} == expected_actions
    by_action = {entry.action: entry for entry in entries}
    used = by_action["ecard.used"]
    assert (used.subject_kind, used.subject_id, used.province, used.log) == (
        "ecard",
        usage.ecard_id,
        "44",
        "44",
    )
    assert (used.actor_kind, used.actor_id) == ("terminal", scene.counter.terminal_no)
    assert used.at == usage.at
    assert used.source_ip is not None
    assert used.request_id is not None
    assert orjson.loads(used.details) == {
        "busi_type": "01",
        "disclosure": grant,
        "institution": scene.counter.institution_code,
        "method": "online_code",
        "terminal": scene.counter.terminal_no,
        "usage": usage.id,
    }
    assert used.details == orjson.dumps(orjson.loads(used.details), option=orjson.OPT_SORT_KEYS).decode()
    if grant == "clear":
        read = by_action["person.clear_read"]
        assert (read.subject_kind, read.province) == ("person", "44")
        assert orjson.loads(read.details) == {"purpose": "qr_resolution:01"}


def test_a_refusal_for_an_unusable_card_is_audited_by_the_statement_too(platform: Platform) -> None:
    scene = _Scene(platform, "masked")
    code = scene.code()
    card_event(platform, scene.province, scene.record.aaz500, "lost")

    refused = scene.resolve(code)

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "card_not_usable"
    (entry,) = _entries(platform, "qr.refused")
    assert orjson.loads(entry.details) == {
        "busi_type": "01",
        "card_status": "lost",
        "issuance_status": "active",
        "terminal": scene.counter.terminal_no,
    }
    assert _entries(platform, "ecard.used") == []
    with platform.session_factory() as session:
        assert session.execute(select(CardUsage)).first() is None
    again = scene.resolve(code)
    assert again.json()["code"] == "code_already_used"  # the refused attempt spent the code, as before


def _stop_standing(platform: Platform, counter: TerminalParty, how: str) -> None:
    """End the standing of the terminal's MAC session in one of the ways authentication refuses by name."""
    assert counter.client.session is not None
    session_id = counter.client.session[0]
    with operator_uow(platform) as uow:
        if how == "session_expired":
            uow.session.execute(
                update(CallerSession)
                .where(CallerSession.id == session_id)
                .values(expires_at=uow.clock.now() - timedelta(seconds=1))
            )
        elif how == "unknown_session":
            uow.session.execute(delete(CallerSession).where(CallerSession.id == session_id))
        elif how == "key_revoked":
            access.revoke_key(uow, "terminal", counter.terminal_no, counter.key_id)
        else:
            access.set_caller_status(uow, "terminal", counter.terminal_no, CallerStatus.SUSPENDED)
        uow.commit()


@pytest.mark.parametrize(
    ("how", "status"),
    [("session_expired", 401), ("unknown_session", 401), ("key_revoked", 401), ("caller_suspended", 403)],
)
def test_a_known_session_that_stopped_standing_is_refused_by_name_and_spends_nothing(
    platform: Platform, how: str, status: int
) -> None:
    scene = _Scene(platform, "masked")
    assert scene.resolve(scene.code()).status_code == 200  # the session's key is known to this worker now
    code = scene.code()
    _stop_standing(platform, scene.counter, how)
    nonce = new_id()

    refused = scene.counter.client.raw(
        "POST", "/v1/qr/resolutions", {"code": code, "busiType": "01"}, nonce=nonce
    )

    assert (refused.status_code, refused.json()["code"]) == (status, how), refused.text
    # Signed by the platform as any refused request, not MACed under the session it refuses.
    assert wire.HEADER_SESSION not in refused.headers
    scene.counter.client.verify_response(refused, nonce)
    with platform.session_factory() as session:
        assert session.execute(select(func.count()).select_from(CardUsage)).scalar_one() == 1
        unspent = select(func.count()).select_from(OnlineCode).where(OnlineCode.used_at.is_(None))
        assert session.execute(unspent).scalar_one() == 1  # the code it named is still live
    assert len(_entries(platform, "ecard.used")) == 1


def test_a_session_request_with_a_bad_mac_is_refused_before_the_statement(platform: Platform) -> None:
    scene = _Scene(platform, "masked")
    assert scene.resolve(scene.code()).status_code == 200
    code = scene.code()
    assert scene.counter.client.session is not None
    session_id, secret = scene.counter.client.session
    scene.counter.client.session = (session_id, bytes(b ^ 0xFF for b in secret))

    refused = scene.resolve(code)

    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_request_signature")
    scene.counter.client.session = (session_id, secret)
    assert scene.resolve(code).status_code == 200  # the code was not spent by the refused request


def test_a_known_session_named_by_another_terminal_is_refused(platform: Platform) -> None:
    scene = _Scene(platform, "masked")
    assert scene.resolve(scene.code()).status_code == 200
    other = terminal(
        platform, app_client(platform), scene.province, institution(scene.province), {"01": "masked"}
    )
    other.client.session = scene.counter.client.session  # its key leaked, but the session is bound to one

    refused = other.client.raw("POST", "/v1/qr/resolutions", {"code": scene.code(), "busiType": "01"})

    assert (refused.status_code, refused.json()["code"]) == (401, "unknown_session"), refused.text


@pytest.mark.parametrize("body", [{"code": "not a code", "busiType": "01"}, {"busiType": "99"}])
def test_a_session_that_stopped_standing_is_refused_by_name_when_the_route_refuses_first(
    platform: Platform, body: dict[str, str]
) -> None:
    scene = _Scene(platform, "masked")
    assert scene.resolve(scene.code()).status_code == 200  # the session's key is known to this worker now
    _stop_standing(platform, scene.counter, "key_revoked")
    nonce = new_id()

    refused = scene.counter.client.raw("POST", "/v1/qr/resolutions", body, nonce=nonce)

    assert (refused.status_code, refused.json()["code"]) == (401, "key_revoked"), refused.text
    assert wire.HEADER_SESSION not in refused.headers
    scene.counter.client.verify_response(refused, nonce)


def test_a_standing_session_gets_the_route_s_own_refusal_maced(platform: Platform) -> None:
    scene = _Scene(platform, "masked")
    assert scene.resolve(scene.code()).status_code == 200
    nonce = new_id()

    refused = scene.counter.client.raw(
        "POST", "/v1/qr/resolutions", {"code": "not a code", "busiType": "01"}, nonce=nonce
    )

    assert refused.status_code in (400, 422), refused.text
    assert refused.headers[wire.HEADER_SESSION] == scene.counter.client.session[0]  # type: ignore[index]
    scene.counter.client.verify_response(refused, nonce)


def test_a_statement_that_finds_an_unchecked_session_not_holding_spends_nothing_and_says_so(
    platform: Platform,
) -> None:
    scene = _Scene(platform, "masked")
    code = scene.code()
    # A session the protocol layer left to the statement, which no longer holds (here: none by that id).
    caller = replace(authenticated_as(scene.counter), session_id=new_id(), session_checked=False)

    with UnitOfWork(platform, RequestContext(actor=Actor(kind="terminal", id=scene.counter.label))) as uow:
        with pytest.raises(SessionStandingChanged):
            qr_service.resolve(uow, caller, ResolveRequest(code=code, busi_type=BusiType.QUERY))
        uow.rollback()

    assert scene.resolve(code).status_code == 200  # the refused resolution did not spend the code
