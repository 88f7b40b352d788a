"""The one way background work comes back to the UI thread.

Blocking work (hardware captures, journal commits, power checks) runs on a worker thread;
its result is queued and handed to a callback on the Kivy thread by a Clock trigger. Widgets
are never touched from a worker.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kivy.clock import Clock

log = logging.getLogger(__name__)

Callback = Callable[[Any, BaseException | None], None]


class UiBridge:
    """Run ``work`` off the UI thread; call ``done(result, error)`` on the UI thread."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kiosk-work")
        self._results: queue.SimpleQueue[tuple[Callback, Any, BaseException | None]] = (
            queue.SimpleQueue())
        # -1: answers are handed over before the next frame is drawn, not a frame later.
        self._trigger = Clock.create_trigger(self._drain, -1)

    def submit(self, work: Callable[[], Any], done: Callback) -> None:
        def run() -> None:
            try:
                result, error = work(), None
            except BaseException as exc:  # handed to the UI, which decides what to show
                result, error = None, exc
            self._results.put((done, result, error))
            self._trigger()

        self._pool.submit(run)

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call ``fn(*args)`` on the UI thread soon; safe from any thread.

        Device events arrive on their own threads (the card monitor, gpiozero callbacks);
        they reach widgets only through here, e.g.
        ``reader.when_card_inserted = lambda event: bridge.post(screen.on_card, event)``.
        """
        self._results.put((lambda _result, _error: fn(*args), None, None))
        self._trigger()

    def call_later(self, delay: float, fn: Callable[[], None]) -> Any:
        """Call ``fn()`` on the UI thread after ``delay`` seconds; ``.cancel()`` stops it."""
        return Clock.schedule_once(lambda _dt: fn(), delay)

    def _drain(self, _dt: float) -> None:
        while True:
            try:
                done, result, error = self._results.get_nowait()
            except queue.Empty:
                return
            try:
                done(result, error)
            except Exception:
                log.exception("UI callback failed")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
