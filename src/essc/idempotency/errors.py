"""Why a request's Idempotency-Key was refused."""

from __future__ import annotations

from essc.kit.errors import Conflict, InvalidInput


class IdempotencyKeyInvalid(InvalidInput):
    code = "idempotency_key_invalid"
    title = "Idempotency-Key must be 8-64 characters of A-Z a-z 0-9 _ -"


class IdempotencyKeyReused(InvalidInput):
    code = "idempotency_key_reused"
    title = "The Idempotency-Key was already used for another request"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    title = "A request with this Idempotency-Key is still in progress"


class IdempotencyAnswerLost(Conflict):
    code = "idempotency_answer_lost"
    title = "The request with this Idempotency-Key took effect but its answer was lost"
