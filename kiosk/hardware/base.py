"""What every device has in common, and the data the devices hand back.

A :class:`Device` follows gpiozero's habits: it is a context manager, ``close()`` twice is
safe, state is read through ``is_*`` properties and blocking waits are ``wait_for_*``.
It adds two things an enrollment kiosk needs:

* ``selftest()`` returns ``(ok, detail)`` and never raises, so ``kiosk hw selftest`` and
  ``kiosk status`` can report every device even when one is broken;
* ``_exclusive()`` guards a capture: a second tap while a capture runs raises
  :class:`~kiosk.errors.DeviceBusy` at once instead of queueing a second capture.

Devices are created closed (``create_device`` in :mod:`kiosk.hardware.registry` does not
touch hardware); ``open()`` or ``with device:`` opens them. Backends override the hooks
``_open``, ``_close`` and ``_selftest``, never ``open``/``close`` themselves.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from kiosk.errors import DeviceBusy, DeviceError
from kiosk.options import Option, check_values

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

#: A backend's config options: name -> :class:`~kiosk.options.Option` (type, default, what
#: is allowed, description), declared once on the backend class.
Options = dict[str, Option]


class Device:
    """Base of every kiosk device: lifecycle, self-test and the one-capture-at-a-time lock.

    Subclasses declare ``OPTIONS`` (config option -> :class:`~kiosk.options.Option`), take
    those options as keyword arguments with the declared defaults, check their values with
    ``_check_options(locals())``, and implement ``_open``/``_close``/``_selftest``.
    ``SECTION`` is the config section of the device kind (``hardware.fingerprint``), which
    names the keys in errors. Example::

        with SimFingerprint(seed=7) as scanner:
            ok, detail = scanner.selftest()
            image = scanner.capture(timeout=5.0)
    """

    OPTIONS: ClassVar[Options] = {}
    SECTION: ClassVar[str] = "hardware"

    def __init__(self) -> None:
        self._closed = True
        self._state_lock = threading.Lock()  # guards open/close
        self._busy = threading.Lock()  # held for the length of one capture/transaction

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True until ``open()`` and again after ``close()``."""
        return self._closed

    def open(self) -> None:
        """Open the device. Calling it on an open device does nothing."""
        with self._state_lock:
            if not self._closed:
                return
            self._open()
            self._closed = False
            log.debug("%s opened", type(self).__name__)

    def close(self) -> None:
        """Release the device. Safe to call more than once, and on a never-opened device."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._close()
            finally:
                log.debug("%s closed", type(self).__name__)

    def __enter__(self) -> Any:  # Any: so `with SimCamera() as cam` keeps the subclass type
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def selftest(self) -> tuple[bool, str]:
        """``(ok, detail)`` for maintainers; never raises.

        A closed device is opened for the test and closed again afterwards.
        """
        was_closed = self._closed
        try:
            if was_closed:
                self.open()
            return self._selftest()
        except Exception as exc:
            return False, f"{type(exc).__name__}: {exc}"
        finally:
            if was_closed:
                try:
                    self.close()
                except Exception as exc:  # a failing close must not turn into a raise
                    log.warning("%s close after selftest failed: %s", type(self).__name__, exc)

    # -- hooks for backends --------------------------------------------------------------
    def _open(self) -> None:
        """Acquire the hardware. Raise DeviceNotFound/DeviceError with what to do."""

    def _close(self) -> None:
        """Release the hardware. Must not raise for an already-gone device."""

    def _selftest(self) -> tuple[bool, str]:
        return True, "ok"

    # -- helpers for backends -------------------------------------------------------------
    @classmethod
    def _check_options(cls, values: Mapping[str, Any]) -> None:
        """Check the constructor's option values against ``OPTIONS`` (the one checker,
        :func:`kiosk.options.check`): ConfigError names ``<SECTION>.<option>``. The types
        are left to ``create_device``: Python callers may hand an int for a float."""
        check_values(cls.SECTION, cls.OPTIONS, values, types=False)

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceError(
                f"{type(self).__name__} is closed; call open() or use it in a with-block")

    def _poll_until(self, condition: Callable[[], bool], timeout: float | None,
                    interval: float) -> bool:
        """On an open device, check ``condition`` every ``interval`` seconds: True once it
        holds, False when ``timeout`` seconds pass first (None: wait for ever)."""
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not condition():
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(interval)
        return True

    @contextmanager
    def _exclusive(self, what: str = "capture") -> Iterator[None]:
        """Hold the device for one operation; a concurrent second one raises DeviceBusy."""
        self._check_open()
        if not self._busy.acquire(blocking=False):
            raise DeviceBusy(f"{type(self).__name__} is busy with another {what}")
        try:
            yield
        finally:
            self._busy.release()


#: libwebp's lossless effort for stored fingerprints (Pillow's ``method`` and ``quality``).
#: At method 5 and quality 75 or more libwebp also tries a palette with spatial prediction,
#: which is what wins on 16 gray levels: about 16.9 KB per simulated print against 19.5 KB
#: at method 4 or 6 with quality 75 and 19.4 KB as 4-bit PNG (medians of 50 prints), for
#: about 0.1 s of one x86 core (method 6 at quality 100 saves 0.3 % more for 50 times the
#: time). Lossless at any setting; only size and time depend on these.
WEBP_METHOD = 5
WEBP_EFFORT = 75
_EXIF_X_RESOLUTION, _EXIF_Y_RESOLUTION, _EXIF_RESOLUTION_UNIT = 0x011A, 0x011B, 0x0128


def _webp_image_chunk(data: bytes) -> bytes:
    """The FourCC of a WebP file's image chunk: b"VP8L" (lossless), b"VP8 " (lossy), or b""."""
    offset = 12
    while offset + 8 <= len(data):
        fourcc = data[offset:offset + 4]
        if fourcc in (b"VP8L", b"VP8 ", b"ANMF"):
            return fourcc
        size = int.from_bytes(data[offset + 4:offset + 8], "little")
        offset += 8 + size + (size & 1)
    return b""


@dataclass(frozen=True)
class FingerprintImage:
    """One fingerprint impression: 8-bit grayscale, row-major, ``width * height`` bytes.

    Dark pixels are ridges, light pixels valleys and background, as the sensor delivers
    them. ``ppi`` is the sensor's resolution (500 for the ZFM family and FBI-style capture).
    ``bits`` is the sensor's true depth: a ZFM sends 16 levels (4 bits), held here as
    ``level * 17`` so every check reads ordinary 8-bit gray, and :meth:`to_png` writes
    them back at 4 bits (lossless, about 19 KB instead of 54 KB for a 256 x 288 print).
    :meth:`to_webp` is what a record keeps: lossless WebP, about 17 KB (``docs/packet.md``,
    "The fingerprints step"); :meth:`decode` reads either.
    """

    width: int
    height: int
    ppi: int
    pixels: bytes
    bits: int = 8

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.ppi <= 0:
            raise ValueError(f"bad fingerprint geometry {self.width}x{self.height}@{self.ppi}")
        if len(self.pixels) != self.width * self.height:
            raise ValueError(f"fingerprint pixels: {len(self.pixels)} bytes for "
                             f"{self.width}x{self.height}; expected {self.width * self.height}")
        if self.bits not in (4, 8):
            raise ValueError(f"fingerprint depth {self.bits} bits; 4 or 8")

    def _check_levels(self) -> None:
        """A 4-bit image whose pixel is not ``level * 17`` would not come back as it was."""
        if self.bits == 4:
            import numpy as np

            gray = np.frombuffer(self.pixels, dtype=np.uint8)
            if np.any(gray % 17):
                raise ValueError("a 4-bit fingerprint holds a pixel that is not level * 17")

    def to_png(self) -> bytes:
        """Lossless PNG, grayscale at ``bits`` per pixel, the resolution in the pHYs chunk.

        At 4 bits a pixel that is not ``level * 17`` would be silently rounded by the PNG
        encoder, so it raises ValueError instead: lossless or nothing.
        """
        from PIL import Image

        self._check_levels()
        image = Image.frombytes("L", (self.width, self.height), self.pixels)
        options: dict[str, object] = {"dpi": (self.ppi, self.ppi)}
        if self.bits == 4:
            options["bits"] = 4  # PNG gray at depth 4: the decoder scales n back to n * 17
        out = io.BytesIO()
        image.save(out, format="PNG", **options)
        return out.getvalue()

    def to_webp(self) -> bytes:
        """Lossless WebP (``VP8L``), the resolution in EXIF (XResolution, YResolution, inch).

        What a record keeps: bit-exact like :meth:`to_png` and about 12 % smaller on a
        ZFM's 16 levels, because WebP's lossless coder, at the effort chosen here, codes the
        image as 16 palette entries with spatial prediction (``docs/packet.md``). WebP has no
        depth field; :meth:`decode` tells a 4-bit image by its pixels (all ``level * 17``).
        A 4-bit image with a pixel between levels raises ValueError, as in :meth:`to_png`.
        """
        from PIL import Image

        self._check_levels()
        image = Image.frombytes("L", (self.width, self.height), self.pixels)
        exif = Image.Exif()
        exif[_EXIF_X_RESOLUTION] = exif[_EXIF_Y_RESOLUTION] = self.ppi
        exif[_EXIF_RESOLUTION_UNIT] = 2  # inches
        out = io.BytesIO()
        image.save(out, format="WEBP", lossless=True, method=WEBP_METHOD,
                   quality=WEBP_EFFORT, exif=exif)
        return out.getvalue()

    @classmethod
    def decode(cls, data: bytes, *, ppi: int | None = None) -> FingerprintImage:
        """Read a fingerprint a record keeps: lossless WebP (:meth:`to_webp`) or PNG
        (:meth:`to_png`, and records sealed before WebP). Lossy WebP is refused."""
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return cls.from_webp(data, ppi=ppi)
        return cls.from_png(data, ppi=ppi)

    @classmethod
    def from_webp(cls, data: bytes, *, ppi: int | None = None) -> FingerprintImage:
        """Read a lossless WebP written by :meth:`to_webp`: the same pixels, ``ppi`` from its
        EXIF (else 500), ``bits`` 4 when every pixel is ``level * 17``."""
        import numpy as np
        from PIL import Image

        if _webp_image_chunk(data) != b"VP8L":
            raise ValueError("a fingerprint must be lossless WebP (VP8L), not lossy VP8")
        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            found = exif.get(_EXIF_X_RESOLUTION)
            if found is not None and exif.get(_EXIF_RESOLUTION_UNIT, 2) == 3:  # per cm
                found = float(found) * 2.54
            # WebP decodes to RGB (R = G = B for gray); "L" of R = G = B is that value exactly.
            gray = image.convert("L")
            pixels = gray.tobytes()
        depth = 4 if not np.any(np.frombuffer(pixels, dtype=np.uint8) % 17) else 8
        return cls(gray.width, gray.height, ppi or round(float(found or 500)), pixels, depth)

    @classmethod
    def from_png(cls, data: bytes, *, ppi: int | None = None) -> FingerprintImage:
        """Read a PNG written by :meth:`to_png` (or any grayscale PNG); a 4-bit gray PNG
        comes back with ``bits`` 4 and the same pixels it was written from."""
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            dpi = image.info.get("dpi")
            # IHDR's bit depth (byte 24 of the file): Pillow reports a 4-bit gray PNG as "L".
            depth = 4 if image.mode == "L" and data[24:26] == b"\x04\x00" else 8
            gray = image.convert("L")
            found = round(dpi[0]) if dpi else 500
            return cls(gray.width, gray.height, ppi or found, gray.tobytes(), depth)

    def to_array(self) -> np.ndarray:
        """The pixels as a read-only ``(height, width)`` uint8 numpy array."""
        import numpy as np

        return np.frombuffer(self.pixels, dtype=np.uint8).reshape(self.height, self.width)


@dataclass(frozen=True)
class Photo:
    """A still portrait as JPEG bytes, with the size it decodes to."""

    width: int
    height: int
    jpeg: bytes

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"bad photo size {self.width}x{self.height}")
        if not self.jpeg.startswith(b"\xff\xd8"):  # SOI marker: every JPEG starts with it
            raise ValueError("photo data is not a JPEG (no SOI marker)")


@dataclass(frozen=True)
class Frame:
    """One preview frame: packed 8-bit RGB, row-major, ``width * height * 3`` bytes."""

    width: int
    height: int
    rgb: bytes

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"bad frame size {self.width}x{self.height}")
        if len(self.rgb) != self.width * self.height * 3:
            raise ValueError(f"frame: {len(self.rgb)} bytes for {self.width}x{self.height} RGB")
