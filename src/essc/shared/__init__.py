"""Vocabulary every domain shares: functions, parties, callers, provinces, events, one-time tokens."""
