"""The ZFM sensor's serial line: a pyserial port that never blocks long, and reconnecting.

pyserial is imported only inside :meth:`SerialLink.open`, so nothing but the real fingerprint
backend (:mod:`kiosk.hardware.fingerprint.zfm`) needs it. No bytes are logged here; the
driver logs frames on ``kiosk.wire.fingerprint``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from kiosk.errors import DeviceNotFound, DeviceProtocolError, DeviceTimeout

log = logging.getLogger(__name__)

READ_SLICE_S = 0.02  # one blocking read waits at most this long; deadlines are checked between


class LinkLost(DeviceNotFound):
    """The serial port failed or vanished (an unplugged USB adapter, a dropped pty)."""


class SerialLink:
    """A pyserial port opened on demand: write bytes, read what has arrived, never block long.

    Every OS or pyserial error becomes :class:`LinkLost`, which the driver answers by
    reconnecting. Example::

        link = SerialLink("/dev/ttyAMA0", 57600)
        link.open()
        link.write(frame)
        data = link.read_some()      # b"" after READ_SLICE_S without bytes
    """

    def __init__(self, port: str, baudrate: int) -> None:
        self.port = port
        self.baudrate = baudrate
        self._serial: Any = None

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        import serial  # pyserial: only the real backend needs it

        try:
            self._serial = serial.Serial(self.port, self.baudrate, timeout=READ_SLICE_S,
                                         write_timeout=2.0, exclusive=True)
        except (OSError, ValueError) as exc:  # SerialException is an OSError
            self._serial = None
            raise LinkLost(f"cannot open {self.port}: {exc}") from exc

    def close(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except OSError as exc:  # already gone: nothing left to release
                log.debug("closing %s: %s", self.port, exc)

    def _port(self) -> Any:
        if self._serial is None:
            raise LinkLost(f"{self.port} is not open")
        return self._serial

    def write(self, data: bytes) -> None:
        try:
            self._port().write(data)
        except OSError as exc:
            raise LinkLost(f"write to {self.port} failed: {exc}") from exc

    def read_some(self) -> bytes:
        """What has arrived (up to 4 KiB), waiting at most READ_SLICE_S for the first byte."""
        port = self._port()
        try:
            waiting = port.in_waiting
            return bytes(port.read(max(1, min(waiting, 4096))))
        except OSError as exc:
            raise LinkLost(f"read from {self.port} failed: {exc}") from exc

    def discard_input(self) -> None:
        try:
            self._port().reset_input_buffer()
        except OSError as exc:
            raise LinkLost(f"{self.port}: {exc}") from exc


def reopen(link: SerialLink, handshake: Callable[[], None], reset: Callable[[], None],
           timeout_s: float, reason: Exception) -> None:
    """Reopen ``link`` with backoff until ``handshake`` succeeds on it, or raise DeviceNotFound.

    ``reset`` forgets what was received on the old line (the driver's packet parser); it is
    called whenever the link is closed. Example::

        reopen(link, scanner._handshake, parser.clear, 5.0, reason=exc)
    """
    log.warning("fingerprint sensor on %s lost (%s); reconnecting", link.port, reason)
    link.close()
    reset()
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            link.open()
            handshake()
        except (LinkLost, DeviceTimeout, DeviceProtocolError) as exc:
            link.close()
            reset()
            last: Exception = exc
        else:
            log.info("fingerprint sensor on %s is back", link.port)
            return
        if time.monotonic() + delay >= deadline:
            raise DeviceNotFound(f"fingerprint sensor on {link.port} lost ({reason}) and "
                                 f"not back within {timeout_s:g} s: {last}")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)
