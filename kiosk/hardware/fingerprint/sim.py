"""A simulated fingerprint scanner with realistic synthetic impressions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import ClassVar

from kiosk.errors import ConfigError, DeviceTimeout
from kiosk.hardware.base import FingerprintImage, OptionTypes
from kiosk.hardware.fingerprint.base import FingerprintScanner

log = logging.getLogger(__name__)


class SimFingerprint(FingerprintScanner):
    """A scanner that "reads" synthetic fingers: 256 x 288, 8-bit gray, 500 ppi, like a ZFM.

    Capture number ``n`` (counting from 0 since construction) returns finger ``n`` of the
    simulated person ``seed`` (see :mod:`kiosk.hardware.fingerprint.synth`), so every
    capture shows a different finger and the same ``seed`` replays the same images.
    :meth:`generate` gives any finger/impression directly.

    Magic inputs reach the error paths (Mopidy's dummy-backend idea):

    * ``fail_every = N``: every Nth capture raises :class:`~kiosk.errors.DeviceTimeout`;
    * ``no_finger = true``: no finger ever arrives; ``capture`` times out. The attribute
      may be flipped at run time to put a finger down or lift it;
    * ``capture_delay_s``: how long the sensor takes, like the ~0.5 s of a real ZFM upload.

    Tests may set ``during_capture`` to a callable run inside the capture, while the device
    is held (to make a second, concurrent capture meet ``DeviceBusy``). Example::

        with SimFingerprint(seed=42, fail_every=3) as scanner:
            first = scanner.capture()            # finger 0
            second = scanner.capture()           # finger 1
            scanner.capture()                    # raises DeviceTimeout
    """

    OPTIONS: ClassVar[OptionTypes] = {
        "seed": int,
        "fail_every": int,
        "no_finger": bool,
        "capture_delay_s": (int, float),
    }

    def __init__(self, *, seed: int = 0, fail_every: int = 0, no_finger: bool = False,
                 capture_delay_s: float = 0.0) -> None:
        super().__init__()
        if fail_every < 0:
            raise ConfigError("hardware.fingerprint.fail_every", fail_every,
                              "0 (never fail) or a positive integer")
        if capture_delay_s < 0:
            raise ConfigError("hardware.fingerprint.capture_delay_s", capture_delay_s,
                              "a number of seconds >= 0")
        self.seed = seed
        self.fail_every = fail_every
        self.no_finger = no_finger
        self.capture_delay_s = float(capture_delay_s)
        self.captures = 0  # capture attempts so far, failed ones included
        self.during_capture: Callable[[], None] | None = None

    @property
    def is_finger_present(self) -> bool:
        self._check_open()
        return not self.no_finger

    def capture(self, *, timeout: float = 10.0) -> FingerprintImage:
        with self._exclusive():
            number = self.captures
            self.captures += 1
            if self.during_capture is not None:
                self.during_capture()
            started = time.monotonic()
            if not self.wait_for_finger(timeout):
                raise DeviceTimeout(f"no finger on the sensor within {timeout:g} s")
            if self.fail_every and (number + 1) % self.fail_every == 0:
                raise DeviceTimeout(f"simulated sensor timeout (fail_every={self.fail_every},"
                                    f" capture {number + 1})")
            if self.capture_delay_s:
                time.sleep(max(0.0, min(self.capture_delay_s,
                                        timeout - (time.monotonic() - started))))
            log.debug("sim capture %d", number)
            return self.generate(number)

    def generate(self, finger: int, impression: int = 0) -> FingerprintImage:
        """Impression ``impression`` of finger ``finger`` of this scanner's person."""
        # Imported here: numpy and the synthesis cost 0.1 s that `kiosk config check` and
        # the touchscreen's first frame need not pay.
        from kiosk.hardware.fingerprint import synth

        pixels = synth.render(self.seed, finger, impression)
        return FingerprintImage(synth.WIDTH, synth.HEIGHT, synth.PPI, pixels)

    def _selftest(self) -> tuple[bool, str]:
        image = self.generate(0)
        return True, (f"simulated scanner, {image.width}x{image.height} at {image.ppi} ppi, "
                      f"seed {self.seed}")
