"""A simulated fingerprint scanner with realistic synthetic impressions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import ClassVar

from kiosk.errors import CaptureRejected, DeviceTimeout
from kiosk.hardware.base import FingerprintImage, Options
from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.base import CAPTURE_TIMEOUT_S, FingerprintScanner
from kiosk.options import Boolean, Integer, Number

log = logging.getLogger(__name__)


def _is_level(value: int) -> bool:
    """One of the matcher's security levels (imported here: numpy costs 0.1 s)."""
    from kiosk.hardware.fingerprint.minutiae import LEVEL_THRESHOLDS

    return value in LEVEL_THRESHOLDS


class SimFingerprint(FingerprintScanner):
    """A scanner that "reads" synthetic fingers: 256 x 288, 16 gray levels, 500 ppi, like a ZFM.

    Which finger lies on the prism: :meth:`present` puts finger ``finger`` of person
    ``person`` there (the demo does, per citizen and finger); each capture of it is a new
    impression (placed, turned and pressed a little differently, with new noise; see
    :mod:`kiosk.hardware.fingerprint.synth`). Until :meth:`present` is called, capture number
    ``n`` (counting from 0) shows finger ``n`` of the person ``seed``: a citizen who always
    presents the finger asked for. The same ``seed`` replays the same images. Images are
    quantized to the ZFM's 16 levels (``bits`` 4). :meth:`generate` gives any
    finger/impression directly.

    Templates: :meth:`extract_template` and :meth:`find_match` run the same minutiae
    extraction and matcher as the emulated ZFM (:mod:`~kiosk.hardware.fingerprint.minutiae`),
    in process; ``security_level`` (1-5) picks the match threshold as on the module.

    Magic inputs reach the error paths (Mopidy's dummy-backend idea):

    * ``fail_every = N``: every Nth capture raises :class:`~kiosk.errors.DeviceTimeout`;
    * ``no_finger = true``: no finger ever arrives; ``capture`` times out. The attribute
      may be flipped at run time to put a finger down or lift it;
    * ``capture_delay_s``: how long the sensor takes, like the ~0.5 s of a real ZFM upload.

    Tests may set ``during_capture`` to a callable run inside the capture, while the device
    is held (to make a second, concurrent capture meet ``DeviceBusy``). Example::

        with SimFingerprint(seed=42) as scanner:
            scanner.present(3)                   # person 42's finger 3 on the prism
            first = scanner.capture()            # impression 0 of finger 3
            probe = scanner.extract_template()
            second = scanner.capture()           # impression 1: the same finger again
            assert scanner.find_match(scanner.extract_template(), [probe]) == 0
    """

    OPTIONS: ClassVar[Options] = {
        "seed": Integer(0, description="which simulated people the fingers belong to"),
        "fail_every": Integer(0, 0, allowed="0 (never fail) or a positive integer",
                              description="every Nth capture fails (0: never)"),
        "no_finger": Boolean(False, description="no finger on the prism: captures time out"),
        "capture_delay_s": Number(0.0, 0, allowed="a number of seconds >= 0",
                                  description="how long the sensor takes (a ZFM: ~0.5 s)"),
        "security_level": Integer(zp.DEFAULT_SECURITY_LEVEL, test=_is_level,
                                  allowed="1 (accepts most) to 5 (refuses most)",
                                  description="the matcher's strictness, as the ZFM's"),
    }

    def __init__(self, *, seed: int = OPTIONS["seed"].default,
                 fail_every: int = OPTIONS["fail_every"].default,
                 no_finger: bool = OPTIONS["no_finger"].default,
                 capture_delay_s: float = OPTIONS["capture_delay_s"].default,
                 security_level: int = OPTIONS["security_level"].default) -> None:
        super().__init__()
        self._check_options(locals())
        self.seed = seed
        self.fail_every = fail_every
        self.no_finger = no_finger
        self.capture_delay_s = float(capture_delay_s)
        self.security_level = security_level
        self.captures = 0  # capture attempts so far, failed ones included
        self.during_capture: Callable[[], None] | None = None
        self._presented: tuple[int, int] | None = None  # (person, finger) on the prism
        self._impressions: dict[tuple[int, int], int] = {}
        self._last: FingerprintImage | None = None

    def present(self, finger: int, person: int | None = None) -> None:
        """Put finger ``finger`` of ``person`` (default: ``seed``) on the prism."""
        self._presented = (self.seed if person is None else person, finger)

    @property
    def is_finger_present(self) -> bool:
        self._check_open()
        return not self.no_finger

    def capture(self, *, timeout: float = CAPTURE_TIMEOUT_S) -> FingerprintImage:
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
            person, finger = self._presented or (self.seed, number)
            impression = self._impressions.get((person, finger), 0)
            self._impressions[(person, finger)] = impression + 1
            log.debug("sim capture %d", number)
            self._last = self.generate(finger, impression, person=person)
            return self._last

    def generate(self, finger: int, impression: int = 0, *,
                 person: int | None = None) -> FingerprintImage:
        """Impression ``impression`` of finger ``finger`` of ``person`` (default ``seed``),
        at the ZFM's 16 levels."""
        # Imported here: numpy and the synthesis cost 0.1 s that `kiosk config check` and
        # the touchscreen's first frame need not pay.
        from kiosk.hardware.fingerprint import synth

        pixels = synth.render(self.seed if person is None else person, finger, impression)
        return FingerprintImage(zp.IMAGE_WIDTH, zp.IMAGE_HEIGHT, zp.IMAGE_PPI,
                                zp.unpack_image(zp.pack_image(pixels)), bits=4)

    def extract_template(self) -> bytes:
        from kiosk.hardware.fingerprint import minutiae

        with self._exclusive("feature extraction"):
            image = self._last
            if image is None:
                raise CaptureRejected("no image captured to extract features from")
            found = minutiae.extract(image.pixels, image.width, image.height)
            if len(found) < minutiae.MIN_MINUTIAE:
                raise CaptureRejected("the sensor found too few feature points; place the "
                                      "finger again")
            return minutiae.encode_template(found)

    def find_match(self, probe: bytes, enrolled: Sequence[bytes]) -> int | None:
        from kiosk.hardware.fingerprint import minutiae

        threshold = minutiae.LEVEL_THRESHOLDS[self.security_level]
        with self._exclusive("template match"):
            for index, template in enumerate(enrolled):
                if minutiae.match_score(probe, template) >= threshold:
                    return index
        return None

    def _selftest(self) -> tuple[bool, str]:
        image = self.generate(0)
        return True, (f"simulated scanner, {image.width}x{image.height} at {image.ppi} ppi, "
                      f"seed {self.seed}")
