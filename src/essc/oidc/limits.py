"""Rate limits of holder login attempts per relying party and per source address (in each worker process)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class SlidingWindow:
    """At most `limit` events per key in any `seconds`; counts are per process, which a deployment multiplies
    by its workers (a limit an attacker can spread over workers is still a hard ceiling per worker)."""

    limit: int
    seconds: float = 60.0
    _events: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count one event for key; False (and not counted) when the window is full."""
        at = time.monotonic() if now is None else now
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= at - self.seconds:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(at)
            if len(self._events) > 100_000:  # forget idle keys so a scan of addresses cannot grow memory
                for stale in [k for k, v in self._events.items() if not v]:
                    del self._events[stale]
            return True
