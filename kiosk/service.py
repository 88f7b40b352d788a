"""Telling systemd how a kiosk service is doing: ready, alive, stopping (``sd_notify(3)``).

The three services (``kiosk run``, ``kiosk upload``, ``kiosk power watch``) are
``Type=notify`` units with ``WatchdogSec=`` (``systemd/``). Each one says ``READY=1`` once it
does its job, and ``WATCHDOG=1`` **from its own main loop**: the touchscreen from a Kivy
clock callback on the UI thread, the uploader between requests and while bytes go out, the
power watcher on every poll. A loop that hangs stops the pings, and systemd restarts the
service; a helper thread that kept pinging would hide a dead process.

The messages go through systemd's own Python bindings (``systemd.daemon.notify``, the
``systemd-python`` package). Outside systemd (``NOTIFY_SOCKET`` unset: a shell, the tests,
``make run``) every call does nothing. The watchdog interval comes from ``WATCHDOG_USEC``,
for this process only (``WATCHDOG_PID``, when set, must be ours), as ``sd_watchdog_enabled(3)``
reads it; pings go out every third of it, so one late loop turn is not a restart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

from systemd import daemon

log = logging.getLogger(__name__)

PINGS_PER_INTERVAL = 3  # WATCHDOG=1 at least this often per WatchdogSec


def _watchdog_interval(environ: Mapping[str, str]) -> float | None:
    usec = environ.get("WATCHDOG_USEC", "")
    pid = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None  # meant for another process (a parent that exec'd us without clearing)
    return int(usec) / 1_000_000


class Notifier:
    """``sd_notify`` for one service's main loop.

    ``environ`` is where ``NOTIFY_SOCKET`` and ``WATCHDOG_*`` are read (the process
    environment by default). ``sd_notify`` itself always sends to the process's
    ``NOTIFY_SOCKET``, so a mapping serves to turn the notifier off: ``Notifier({})``.

    >>> notifier = Notifier()          # reads NOTIFY_SOCKET and WATCHDOG_USEC
    >>> notifier.ready("serving")      # once the service does its job
    >>> while running:                 # doctest: +SKIP
    ...     work()
    ...     notifier.alive()           # WATCHDOG=1, at most every interval / 3
    ...     notifier.wait(stop, 30)    # a pause that keeps pinging
    """

    def __init__(self, environ: Mapping[str, str] | None = None, *,
                 send: Callable[[str], object] = daemon.notify,
                 clock: Callable[[], float] = time.monotonic) -> None:
        env = os.environ if environ is None else environ
        self.enabled = bool(env.get("NOTIFY_SOCKET"))
        self.interval_s = _watchdog_interval(env) if self.enabled else None
        self._send = send
        self._clock = clock
        self._last_ping = float("-inf")

    @property
    def tick_s(self) -> float | None:
        """The longest a loop may go between :meth:`alive` calls, or None (no watchdog)."""
        return None if self.interval_s is None else self.interval_s / PINGS_PER_INTERVAL

    def _notify(self, message: str) -> None:
        if not self.enabled:
            return
        try:
            self._send(message)
        except OSError as exc:  # systemd gone (shutting down): nothing to tell
            log.debug("sd_notify failed: %s", exc)

    def ready(self, status: str | None = None) -> None:
        """``READY=1`` (and a first watchdog ping)."""
        self._notify("READY=1" + (f"\nSTATUS={status}" if status else ""))
        self._last_ping = float("-inf")
        self.alive()

    def status(self, text: str) -> None:
        """A one-line ``STATUS=`` for ``systemctl status`` (never personal data)."""
        self._notify(f"STATUS={' '.join(text.split())[:200]}")

    def alive(self) -> None:
        """``WATCHDOG=1`` when a third of the interval passed since the last one."""
        tick = self.tick_s
        if tick is None:
            return
        now = self._clock()
        if now - self._last_ping >= tick:
            self._last_ping = now
            self._notify("WATCHDOG=1")

    def stopping(self) -> None:
        self._notify("STOPPING=1")

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """``stop.wait(seconds)`` in slices no longer than :attr:`tick_s`, pinging between
        them; True when ``stop`` was set."""
        if self.tick_s is None:
            return stop.wait(max(0.0, seconds))
        deadline = self._clock() + max(0.0, seconds)
        while True:
            self.alive()
            left = deadline - self._clock()
            if left <= 0:
                return stop.is_set()
            if stop.wait(min(left, self.tick_s)):
                return True
