"""A simulated camera: a synthetic person on an e-KTP red or blue background."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

from PIL import Image

from kiosk.errors import DeviceTimeout
from kiosk.hardware.base import Frame, Options, Photo
from kiosk.hardware.camera.base import Camera
from kiosk.options import Integer, Number

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)


class SimCamera(Camera):
    """A camera that photographs a drawn head-and-shoulders person.

    Stills are 480 x 640 JPEGs (quality 85, about 40-50 KB); preview frames are 320 x 240
    RGB with the person centred, cheap enough for well over 15 frames per second on a Pi.
    The person is ``(seed, subject)``: ``subject`` is a plain attribute a demo driver may
    bump for each simulated citizen. The background is red when ``seed + subject`` is odd,
    blue when even (the e-KTP rule by birth year, with the seed standing in for the year).
    Each still differs slightly (pose, light, noise) by its capture number.

    Magic inputs: ``fail_every = N`` makes every Nth still raise
    :class:`~kiosk.errors.DeviceTimeout`; ``capture_delay_s`` slows the still down.
    ``during_capture`` is a test hook run inside the still while the camera is held.
    Example::

        with SimCamera(seed=3) as camera:
            photo = camera.capture_still()       # red background: 3 is odd
    """

    OPTIONS: ClassVar[Options] = {
        "seed": Integer(0, description="which simulated people sit for the camera"),
        "fail_every": Integer(0, 0, allowed="0 (never fail) or a positive integer",
                              description="every Nth capture fails (0: never)"),
        "capture_delay_s": Number(0.0, 0, allowed="a number of seconds >= 0",
                                  description="how long a still takes"),
    }
    STILL_SIZE = (480, 640)  # portrait 3:4, the e-KTP photo's aspect ratio
    PREVIEW_SIZE = (320, 240)
    JPEG_QUALITY = 85  # the usual trade-off: no visible artefacts at a third of q95's size

    def __init__(self, *, seed: int = OPTIONS["seed"].default,
                 fail_every: int = OPTIONS["fail_every"].default,
                 capture_delay_s: float = OPTIONS["capture_delay_s"].default) -> None:
        super().__init__()
        self._check_options(locals())
        self.seed = seed
        self.subject = 0
        self.fail_every = fail_every
        self.capture_delay_s = float(capture_delay_s)
        self.captures = 0
        self.frames = 0
        self.during_capture: Callable[[], None] | None = None
        self._preview_cache: tuple[int, np.ndarray] | None = None

    def capture_still(self) -> Photo:
        # numpy and the scene are imported when first drawn, not when the config is read.
        import numpy as np

        from kiosk.hardware.camera import scene

        with self._exclusive("still capture"):
            number = self.captures
            self.captures += 1
            if self.during_capture is not None:
                self.during_capture()
            if self.fail_every and (number + 1) % self.fail_every == 0:
                raise DeviceTimeout(f"simulated camera timeout (fail_every={self.fail_every},"
                                    f" still {number + 1})")
            if self.capture_delay_s:
                time.sleep(self.capture_delay_s)
            rng = np.random.default_rng([self.seed & 0xFFFFFFFF, self.subject & 0xFFFFFFFF,
                                         number, 0x57])
            width, height = self.STILL_SIZE
            image = scene.draw(scene.person(self.seed, self.subject), width, height,
                               dx=rng.uniform(-10, 10), dy=rng.uniform(-8, 8),
                               light=rng.uniform(0.95, 1.05))
            out = io.BytesIO()
            Image.fromarray(scene.finish(image, rng)).save(
                out, format="JPEG", quality=self.JPEG_QUALITY)
            log.debug("sim still %d", number)
            return Photo(width, height, out.getvalue())

    def preview_frame(self) -> Frame:
        import numpy as np

        from kiosk.hardware.camera import scene

        self._check_open()
        width, height = self.PREVIEW_SIZE
        if self._preview_cache is None or self._preview_cache[0] != self.subject:
            base = scene.draw(scene.person(self.seed, self.subject), width, height)
            self._preview_cache = (self.subject, scene.finish(base, np.random.default_rng(0),
                                                              blur=0.8, noise=0))
        base = self._preview_cache[1]
        number = self.frames
        self.frames += 1
        rng = np.random.default_rng([self.seed & 0xFFFFFFFF, number, 0x9F])
        # The person sways a few pixels from side to side, and the sensor adds noise.
        sway = round(3 * np.sin(number / 7))
        moved = np.roll(base, sway, axis=1).astype(np.int16)
        moved += rng.integers(-4, 5, size=moved.shape, dtype=np.int16)
        return Frame(width, height, np.clip(moved, 0, 255).astype(np.uint8).tobytes())

    def _close(self) -> None:
        self._preview_cache = None

    def _selftest(self) -> tuple[bool, str]:
        frame = self.preview_frame()
        return True, f"simulated camera, preview {frame.width}x{frame.height}, seed {self.seed}"
