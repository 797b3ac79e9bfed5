"""A resolution is one statement: on PostgreSQL it spends, records and audits without a transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import orjson
import pytest
from sqlalchemy import select

from essc.audit.models import AuditEntry
from essc.core.platform import Platform
from essc.qr.models import CardUsage
from factories import (
    Party,
    TerminalParty,
    app_client,
    card_event,
    channel,
    holder,
    institution,
    issued_sign_no,
    load,
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
                sent.append(query.split(None, 1)[0].upper())
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


def test_without_an_idempotency_key_postgresql_gets_the_session_read_and_one_statement(
    platform: Platform, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip(
            "SQLite has no data-modifying CTEs: it resolves in a local transaction of three statements"
        )
    scene = _Scene(platform, "masked")
    code = scene.code()

    with _sent_to_postgresql(monkeypatch) as sent:
        answer = scene.resolve(code)

    assert answer.status_code == 200, answer.text
    assert sent == ["SELECT", "WITH"]  # the caller's session, then spend + usage + audit entries
    assert len(_entries(platform, "ecard.used")) == 1


def test_with_an_idempotency_key_the_statement_commits_with_the_keys_fence(
    platform: Platform, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend != "postgresql":
        pytest.skip(
            "SQLite has no data-modifying CTEs: it resolves in a local transaction of three statements"
        )
    scene = _Scene(platform, "masked")
    code = scene.code()

    with _sent_to_postgresql(monkeypatch) as sent:
        answer = scene.counter.client.post("/v1/qr/resolutions", {"code": code, "busiType": "01"})

    assert answer["usable"] is True
    spend = sent.index("WITH")
    assert sent[spend - 1] == "BEGIN"
    assert sent[spend + 1 : spend + 3] == ["UPDATE", "COMMIT;"]  # the key's fence, then the commit


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
