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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from kiosk.errors import DeviceBusy, DeviceError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

#: Option name -> the Python type(s) a config value must have. ``(int, float)`` for numbers,
#: because TOML writes ``100`` as an integer.
OptionTypes = dict[str, type | tuple[type, ...]]


class Device:
    """Base of every kiosk device: lifecycle, self-test and the one-capture-at-a-time lock.

    Subclasses declare ``OPTIONS`` (config option -> type), take those options as keyword
    arguments, and implement ``_open``/``_close``/``_selftest``. Example::

        with SimFingerprint(seed=7) as scanner:
            ok, detail = scanner.selftest()
            image = scanner.capture(timeout=5.0)
    """

    OPTIONS: ClassVar[OptionTypes] = {}

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
    def _check_open(self) -> None:
        if self._closed:
            raise DeviceError(
                f"{type(self).__name__} is closed; call open() or use it in a with-block")

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


@dataclass(frozen=True)
class FingerprintImage:
    """One fingerprint impression: 8-bit grayscale, row-major, ``width * height`` bytes.

    Dark pixels are ridges, light pixels valleys and background, as the sensor delivers
    them. ``ppi`` is the sensor's resolution (500 for the ZFM family and FBI-style capture).
    ``bits`` is the sensor's true depth: a ZFM sends 16 levels (4 bits), held here as
    ``level * 17`` so every check reads ordinary 8-bit gray, and :meth:`to_png` writes
    them back at 4 bits (lossless, about 19 KB instead of 54 KB for a 256 x 288 print).
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

    def to_png(self) -> bytes:
        """Lossless PNG, grayscale at ``bits`` per pixel, the resolution in the pHYs chunk.

        At 4 bits a pixel that is not ``level * 17`` would be silently rounded by the PNG
        encoder, so it raises ValueError instead: lossless or nothing.
        """
        from PIL import Image

        image = Image.frombytes("L", (self.width, self.height), self.pixels)
        options: dict[str, object] = {"dpi": (self.ppi, self.ppi)}
        if self.bits == 4:
            import numpy as np

            gray = np.frombuffer(self.pixels, dtype=np.uint8)
            if np.any(gray % 17):
                raise ValueError("a 4-bit fingerprint holds a pixel that is not level * 17")
            options["bits"] = 4  # PNG gray at depth 4: the decoder scales n back to n * 17
        out = io.BytesIO()
        image.save(out, format="PNG", **options)
        return out.getvalue()

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
