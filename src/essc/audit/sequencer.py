"""The sequencer in the background of an API process, or in a worker of its own (essc audit sequence)."""

from __future__ import annotations

import logging
import threading

from essc.audit import service
from essc.core.platform import Platform

log = logging.getLogger(__name__)


class SequencerThread:
    """Sequences every log at most once per interval; a failing round is logged and tried again."""

    def __init__(self, platform: Platform, interval: float = 1.0) -> None:
        self._platform = platform
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="essc-audit-sequencer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                service.sequence_all(self._platform)
            except Exception:  # the next round takes what this one left; nothing was committed half
                log.exception("audit sequencing round failed")
