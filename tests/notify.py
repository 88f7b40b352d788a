"""A stand-in for systemd's notification socket: what a service tells systemd, and when."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path


class NotifySocket:
    """A Unix datagram socket at ``path`` (give it to a service as ``NOTIFY_SOCKET``) that
    records each ``sd_notify`` message with its arrival time (``time.monotonic``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[tuple[float, str]] = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._sock.settimeout(0.2)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._receive, daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._closed.is_set():
            try:
                data = self._sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            for line in data.decode("utf-8", "replace").splitlines():
                self.messages.append((now, line))

    def env(self, watchdog_s: float) -> dict[str, str]:
        """The environment systemd gives a service with ``WatchdogSec=watchdog_s``."""
        return {"NOTIFY_SOCKET": str(self.path),
                "WATCHDOG_USEC": str(int(watchdog_s * 1_000_000))}

    def times(self, message: str) -> list[float]:
        return [t for t, m in list(self.messages) if m == message]

    def wait_for(self, message: str, count: int = 1, timeout: float = 30.0) -> list[float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.times(message)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} x {message!r} not received within {timeout} s; got "
                             f"{[m for _, m in self.messages][-10:]}")

    def close(self) -> None:
        self._closed.set()
        self._sock.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
