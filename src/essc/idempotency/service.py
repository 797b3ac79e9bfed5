"""Idempotency keys (docs/protocol.md, Idempotency): a retry with the same key gets the first answer.

How a key lives, scoped to (caller id, key):

1. Claim (right after authentication, in statements of its own, each committed at once): an INSERT of an
   `in_progress` row with a fresh claim token and a lease. The primary key makes it atomic on any number of
   workers, on SQLite and PostgreSQL. When the row exists the request is compared with it first (method, path
   with query, suite hash of the body: any difference is `idempotency_key_reused`, naming what differs); then
   a completed row is the answer to replay, and a row in progress is `idempotency_in_progress`.
2. Fence (in the request's own transaction): just before the unit of work commits it sets `applied` on the
   row, matching the claim token. So `applied` is true exactly when the request's changes committed, and a
   request whose claim was taken over cannot commit at all.
3. Finish (one statement of its own, once the answer is known, before it is sent): an answer below 500 is
   stored (problems too: the first answer is the answer). A 5xx or a crash releases the key (the row is
   deleted) when nothing was committed, so a retry runs again; when the changes did commit the work must not
   run twice, so a 5xx answer is stored like any other and a crash ends the lease and leaves
   `idempotency_answer_lost`.
4. A process that dies mid-request leaves its claim in progress until the lease runs out; then the next
   request with the key takes it over (nothing committed, thanks to the fence) or learns the answer was lost.

Answers are sealed under the personal-data key: they can carry clear fields, busiSeqs and live QR codes, of
which the platform otherwise keeps only digests. Work committed outside the request's unit of work (opening a
MAC session) is not fenced: a crash right after it releases the key, which costs at most a spare session.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from essc.core.db import Session, guard_commit
from essc.core.platform import Platform
from essc.idempotency import repository
from essc.idempotency.errors import (
    IdempotencyAnswerLost,
    IdempotencyInProgress,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
)
from essc.kit import wire
from essc.kit.ids import new_id

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]{8,64}\Z")  # \Z: $ would also match before a final newline
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# How long a claim blocks others before it counts as abandoned by a dead process. Safety does not depend on it
# (the fence stops a slow holder from committing after a take-over); it bounds how long a key can be stuck.
LEASE = timedelta(seconds=60)
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a key is bound to: the request it was first used for."""

    method: str
    path: str  # with the query string, as signed
    body_digest: str  # hex suite hash of the body


@dataclass(frozen=True, slots=True)
class Claim:
    """A key this request holds while it runs."""

    caller_id: str
    key: str
    token: str


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer as stored and replayed: status, content type and the exact body bytes."""

    status: int
    content_type: str | None
    body: bytes


def _aad(caller_id: str, key: str) -> str:
    return f"idempotency_records/{caller_id}/{key}"


def _differences(stored: Fingerprint, fingerprint: Fingerprint) -> list[str]:
    pairs = [
        ("method", stored.method, fingerprint.method),
        ("path", stored.path, fingerprint.path),
        ("body", stored.body_digest, fingerprint.body_digest),
    ]
    return [name for name, first, now in pairs if first != now]


def claim(platform: Platform, caller_id: str, key: str, fingerprint: Fingerprint) -> Claim | Answer:
    """Claim the key for this request, or return the first answer to replay; refusals are raised."""
    if not KEY_PATTERN.match(key):
        raise IdempotencyKeyInvalid(
            f"header {wire.HEADER_IDEMPOTENCY_KEY} must be 8-64 characters of A-Z a-z 0-9 _ -",
            header=wire.HEADER_IDEMPOTENCY_KEY,
        )
    now = platform.clock.now()
    token = new_id()
    with platform.single_statement_factory() as session:
        for _ in range(_CLAIM_ATTEMPTS):
            row: dict[str, Any] = {
                "caller_id": caller_id,
                "idempotency_key": key,
                "method": fingerprint.method,
                "path": fingerprint.path,
                "body_digest": fingerprint.body_digest,
                "state": repository.IN_PROGRESS,
                "claim_token": token,
                "applied": False,
                "locked_until": now + LEASE,
                "created_at": now,
                "expires_at": now + timedelta(seconds=platform.settings.idempotency_ttl_seconds),
            }
            if repository.insert_claim(session, row):
                session.commit()
                return Claim(caller_id, key, token)
            found = repository.record(session, caller_id, key)
            if found is None:  # released between the insert and the read: claim it again
                session.rollback()
                continue
            if found.expires_at <= now:  # past its lifetime, only not purged yet: a new use of the key
                repository.delete_expired(session, caller_id, key, now)
                session.commit()
                continue
            stored = Fingerprint(found.method, found.path, found.body_digest)
            differs = _differences(stored, fingerprint)
            if differs:
                raise IdempotencyKeyReused(
                    f"{wire.HEADER_IDEMPOTENCY_KEY} {key!r} was first used for {found.method} {found.path}; "
                    f"this request differs in {', '.join(differs)}: use a new key for a new request",
                    header=wire.HEADER_IDEMPOTENCY_KEY,
                    differs=differs,
                )
            if found.state == repository.COMPLETED:
                assert found.status is not None
                assert found.body_cipher is not None
                plain = platform.fields.decrypt(found.body_cipher, _aad(caller_id, key))
                return Answer(found.status, found.content_type, base64.b64decode(plain))
            if found.locked_until > now:
                raise _in_progress(key)
            if found.applied:
                raise IdempotencyAnswerLost(
                    f"the request with {wire.HEADER_IDEMPOTENCY_KEY} {key!r} took effect but the platform "
                    "failed before storing its answer; read the current state instead of repeating it",
                    header=wire.HEADER_IDEMPOTENCY_KEY,
                )
            # The lease ran out, nothing committed: the holder's process died, or it will fail at the fence.
            taken = repository.take_over(
                session,
                caller_id,
                key,
                old_token=found.claim_token,
                new_token=token,
                now=now,
                until=now + LEASE,
            )
            if taken:
                session.commit()
                return Claim(caller_id, key, token)
            session.rollback()
    raise _in_progress(key)


def _in_progress(key: str) -> IdempotencyInProgress:
    return IdempotencyInProgress(
        f"a request with {wire.HEADER_IDEMPOTENCY_KEY} {key!r} is still running; retry soon for its answer",
        header=wire.HEADER_IDEMPOTENCY_KEY,
    )


def fence(session: Session, held: Claim) -> None:
    """Make every commit of the request's session also mark the claim applied, or fail if it was lost."""

    def _check(committing: Session) -> None:
        if not repository.mark_applied(committing, held.caller_id, held.key, held.token):
            raise IdempotencyInProgress(
                f"the claim on {wire.HEADER_IDEMPOTENCY_KEY} {held.key!r} ran out and another request "
                "took it over; nothing of this request was kept, retry for that request's answer",
                header=wire.HEADER_IDEMPOTENCY_KEY,
            )

    guard_commit(session, _check)


def finish(platform: Platform, held: Claim, answer: Answer | None) -> None:
    """Store the request's answer, or release the key when it failed (None: crashed) and committed nothing."""
    with platform.single_statement_factory() as session:
        failed = answer is None or answer.status >= 500
        if failed and repository.release(session, held.caller_id, held.key, held.token):
            session.commit()
            return
        if answer is None:
            repository.end_lease(session, held.caller_id, held.key, held.token, platform.clock.now())
        else:
            sealed = platform.fields.encrypt(
                base64.b64encode(answer.body).decode("ascii"), _aad(held.caller_id, held.key)
            )
            repository.complete(
                session,
                held.caller_id,
                held.key,
                held.token,
                status=answer.status,
                content_type=answer.content_type,
                body_cipher=sealed,
            )
        session.commit()
