"""The fingerprint scanner the enrollment session sees."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from kiosk.hardware.base import Device, FingerprintImage

__all__ = ["CAPTURE_TIMEOUT_S", "FingerprintImage", "FingerprintScanner"]

#: How long :meth:`FingerprintScanner.capture` waits for a finger unless told, in seconds.
CAPTURE_TIMEOUT_S = 10.0


class FingerprintScanner(Device):
    """A single-finger optical or capacitive scanner.

    Protocol notes for backends: the ZFM family (ZhianTec ZFM-20/60, sold as R30x/AS608)
    talks a framed packet protocol over a 3.3 V UART (default 57600 baud, 8N1): ``GenImg``
    (0x01) polls the prism and answers 0x02 while no finger is on it; ``UpImage`` (0x0A)
    then streams the 256 x 288 image as 4-bit pixels in data packets. A backend therefore
    implements ``is_finger_present`` with one ``GenImg`` and ``capture`` as "poll until a
    finger is present or the timeout passes, then upload"; the simulator does the same on
    its synthetic prism. Telling fingers apart is the sensor's job too: ``Img2Tz``/GenChar
    (0x02) turns the image into a template, ``UpChar``/``DownChar`` (0x08/0x09) move templates
    between the host and the sensor's two character buffers, ``Match`` (0x03) compares the
    two buffers (:meth:`extract_template`, :meth:`find_match`).

    Wiring (Pi 40-pin header): sensor TX -> GPIO15/RXD (pin 10), sensor RX -> GPIO14/TXD
    (pin 8), 3.3 V and GND; disable the serial console (``raspi-config``) so
    ``/dev/ttyAMA0`` (or ``/dev/serial0``) is free.

    ``capture`` raises :class:`~kiosk.errors.DeviceTimeout` when no finger arrives in time,
    :class:`~kiosk.errors.DeviceBusy` when a capture is already running. Example::

        with create_device("fingerprint", {"type": "sim"}) as scanner:
            if scanner.wait_for_finger(timeout=10):
                png = scanner.capture().to_png()
    """

    SECTION: ClassVar[str] = "hardware.fingerprint"

    #: How often ``wait_for_finger`` polls the sensor, in seconds.
    poll_interval: float = 0.05

    def capture(self, *, timeout: float = CAPTURE_TIMEOUT_S) -> FingerprintImage:
        """Wait up to ``timeout`` seconds for a finger and return its image."""
        raise NotImplementedError

    @property
    def is_finger_present(self) -> bool:
        """True while a finger lies on the sensor."""
        raise NotImplementedError

    def extract_template(self) -> bytes:
        """The sensor's template (features) of the image :meth:`capture` returned last.

        Opaque bytes in the sensor's own format, meaningful only to :meth:`find_match` of a
        sensor of the same kind. Biometric data: keep it in memory, never log or store it.
        Raises :class:`~kiosk.errors.CaptureRejected` when the image holds too few features.
        """
        raise NotImplementedError

    def find_match(self, probe: bytes, enrolled: Sequence[bytes]) -> int | None:
        """The index of the first of ``enrolled`` the sensor judges the same finger as
        ``probe`` (all from :meth:`extract_template`), or None."""
        raise NotImplementedError

    def wait_for_finger(self, timeout: float | None = None) -> bool:
        """Block until a finger is on the sensor; False if ``timeout`` seconds pass first."""
        return self._poll_until(lambda: self.is_finger_present, timeout, self.poll_interval)
