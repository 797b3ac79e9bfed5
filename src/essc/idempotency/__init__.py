"""Idempotency keys: a retried state-changing request gets the first answer instead of running again."""
