"""The Raspberry Pi camera (CSI ribbon) through picamera2/libcamera.

``picamera2`` and ``libcamera`` are imported in ``_open`` only, so this module imports on any
machine (config validation loads it). On a Pi they come from apt (``python3-picamera2``),
not pip: the venv must be made with ``--system-site-packages`` to see them.

Tested here with a fake ``picamera2`` module (``tests/unit/hardware/test_camera_picam.py``)
that records the calls this backend makes; on hardware the same code is exercised by the
contract suite (``KIOSK_HIL_CAMERA=picamera2 pytest tests/contract/test_camera.py``).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, ClassVar

import numpy as np

from kiosk.errors import DeviceError, DeviceNotFound, DeviceTimeout
from kiosk.hardware.base import Frame, Options, Photo
from kiosk.hardware.camera import imaging
from kiosk.hardware.camera.base import Camera
from kiosk.options import Boolean, Integer

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire.camera")

# Frame duration limits in microseconds: at most 1/30 s (no point going faster for a
# preview), at least 1/15 s so the preview never drops below the UI's 15 fps in dim light.
_FRAME_DURATION_LIMITS = (33_333, 66_666)


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


class Picamera2Camera(Camera):
    """A Raspberry Pi camera module (v2, v3, HQ) on the CSI connector, via picamera2.

    Wiring: the ribbon goes into the CAMERA/CAM0 connector, contacts towards the HDMI ports
    on a Pi 4 (towards the board on a Pi 5 with the 22-pin cable); Pi OS Bookworm detects it
    (``camera_auto_detect=1`` in ``/boot/firmware/config.txt``). ``rpicam-hello
    --list-cameras`` must list it before the kiosk can.

    Protocol: one libcamera *still* configuration with two streams, started once in
    ``open()`` and kept running:

    * ``main``: ``BGR888`` (numpy ``[R, G, B]`` per pixel) at half the sensor's resolution
      (the 2x2-binned mode: full field of view at video frame rates), or the full resolution
      when half would be smaller than the still. The still is the centre 3:4 of it, scaled
      to ``still_width`` x ``still_height`` and JPEG-encoded with Pillow.
    * ``lores``: ``YUV420`` ``preview_width`` wide with the main stream's aspect ratio (so
      the picture is not squashed), converted to RGB for :meth:`preview_frame`. YUV because
      the Pi 4's ISP (VC4) accepts nothing else on lores; the conversion costs ~2 ms.

    ``FrameDurationLimits`` keeps the sensor between 15 and 30 frames per second. With an
    autofocus lens (Camera Module 3: ``AfMode`` in ``camera_controls``) ``AfMode`` is set to
    Auto at open, and every still first runs ``autofocus_cycle()`` (bounded by
    ``timeout_s``); a failed focus is logged and the still taken anyway, since the portrait
    quality check downstream rejects a blurred face. Every wait on the camera is bounded by
    ``timeout_s`` and raises :class:`~kiosk.errors.DeviceTimeout`.

    ``rotation`` (clockwise degrees) turns stills and preview for a camera mounted sideways.
    Example::

        with create_device("camera", {"type": "picamera2", "rotation": 90}) as camera:
            frame = camera.preview_frame()
            photo = camera.capture_still()      # Photo(480, 640, jpeg)
    """

    OPTIONS: ClassVar[Options] = {
        "camera_num": Integer(0, 0, allowed="an index >= 0",
                              description="which camera (Picamera2's camera_num)"),
        "autofocus": Boolean(True, description="run an autofocus cycle before each still"),
        **imaging.OUTPUT_OPTIONS,
    }

    def __init__(self, *, camera_num: int = OPTIONS["camera_num"].default,
                 still_width: int = OPTIONS["still_width"].default,
                 still_height: int = OPTIONS["still_height"].default,
                 preview_width: int = OPTIONS["preview_width"].default,
                 rotation: int = OPTIONS["rotation"].default,
                 autofocus: bool = OPTIONS["autofocus"].default,
                 timeout_s: float = OPTIONS["timeout_s"].default,
                 jpeg_quality: int = OPTIONS["jpeg_quality"].default) -> None:
        super().__init__()
        self._check_options(locals())
        imaging.check_portrait(still_width, still_height)
        self.camera_num = camera_num
        self.still_size = (still_width, still_height)
        self.preview_width = preview_width
        self.rotation = rotation
        self.autofocus = autofocus
        self.timeout_s = float(timeout_s)
        self.jpeg_quality = jpeg_quality
        self._cam: Any = None
        self._model = "?"
        self._main_size = (0, 0)
        self._lores_size = (0, 0)
        self._has_af = False
        self._lock = threading.Lock()  # picamera2 calls from the preview and capture threads
        self.last_focus_ok: bool | None = None

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def has_autofocus(self) -> bool:
        """True when the lens can focus itself (known after ``open()``)."""
        return self._has_af

    def _open(self) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as exc:
            raise DeviceNotFound(
                "picamera2 is not installed: `sudo apt install python3-picamera2` and make "
                f"the venv with --system-site-packages ({exc})") from exc
        cameras = Picamera2.global_camera_info()
        if not cameras:
            raise DeviceNotFound(
                "libcamera finds no camera: check the ribbon cable (both ends, contacts the "
                "right way round), camera_auto_detect=1 in /boot/firmware/config.txt, then "
                "`rpicam-hello --list-cameras`")
        if self.camera_num >= len(cameras):
            raise DeviceNotFound(f"hardware.camera.camera_num = {self.camera_num}, but "
                                 f"libcamera lists {len(cameras)} camera(s)")
        self._model = str(cameras[self.camera_num].get("Model", "?"))
        try:
            cam = Picamera2(self.camera_num)
        except RuntimeError as exc:
            raise DeviceError(
                f"camera {self._model} could not be opened ({exc}): is another program "
                "(a second kiosk, rpicam-*) using it?") from exc
        try:
            self._configure(cam)
        except BaseException:
            _stop_and_close(cam)
            raise
        self._cam = cam

    def _configure(self, cam: Any) -> None:
        sensor_w, sensor_h = cam.sensor_resolution
        half = (_even(sensor_w / 2), _even(sensor_h / 2))
        full = (_even(sensor_w), _even(sensor_h))
        main = half if self._portrait_height(half) >= self.still_size[1] else full
        lores = (self.preview_width, _even(self.preview_width * main[1] / main[0]))
        camera_controls = cam.camera_controls
        controls: dict[str, Any] = {}
        if "FrameDurationLimits" in camera_controls:
            controls["FrameDurationLimits"] = _FRAME_DURATION_LIMITS
        config = cam.create_still_configuration(
            main={"size": main, "format": "BGR888"},
            lores={"size": lores, "format": "YUV420"},
            buffer_count=3,  # one for us, one being filled, one spare: no stalls at 30 fps
            controls=controls)
        wire.debug("configure %s", config)
        cam.configure(config)
        self._main_size = tuple(config["main"]["size"])
        self._lores_size = tuple(config["lores"]["size"])
        cam.start()
        self._has_af = "AfMode" in camera_controls
        if self._has_af and self.autofocus:
            from libcamera import controls as lc

            cam.set_controls({"AfMode": lc.AfModeEnum.Auto})
        log.info("camera %s: sensor %dx%d, main %s, lores %s, autofocus %s", self._model,
                 sensor_w, sensor_h, self._main_size, self._lores_size,
                 "yes" if self._has_af else "no")

    def _portrait_height(self, size: tuple[int, int]) -> int:
        """Height of the 3:4 crop of a ``size`` main stream, after rotation."""
        width, height = size if self.rotation in (0, 180) else (size[1], size[0])
        return min(height, width * 4 // 3)

    def _close(self) -> None:
        cam, self._cam = self._cam, None
        if cam is not None:
            _stop_and_close(cam)

    def _selftest(self) -> tuple[bool, str]:
        frame = self.preview_frame()
        mean = float(np.frombuffer(frame.rgb, dtype=np.uint8).mean())
        detail = (f"picamera2 {self._model}: still {self.still_size[0]}x{self.still_size[1]} "
                  f"from {self._main_size[0]}x{self._main_size[1]}, preview "
                  f"{frame.width}x{frame.height}, autofocus "
                  f"{'yes' if self._has_af else 'no'}")
        if mean < imaging.BLACK_MEAN:
            return False, (f"{detail}; frames are black (mean {mean:.1f}): lens cap on, "
                           "no light, or a dead sensor")
        return True, detail

    # -- capture ----------------------------------------------------------------------------
    def _wait(self, what: str, job: Any) -> Any:
        try:
            return self._cam.wait(job, timeout=self.timeout_s)
        except (FutureTimeout, TimeoutError) as exc:
            raise DeviceTimeout(f"camera {self._model}: no {what} within "
                                f"{self.timeout_s:g} s") from exc

    def _focus(self) -> None:
        if not (self._has_af and self.autofocus):
            return
        with self._lock:
            job = self._cam.autofocus_cycle(wait=False)
        ok = bool(self._wait("autofocus result", job))
        self.last_focus_ok = ok
        if not ok:
            log.warning("camera %s: autofocus did not lock; taking the still anyway",
                        self._model)

    def capture_still(self) -> Photo:
        with self._exclusive("still capture"):
            self._focus()
            with self._lock:
                job = self._cam.capture_array("main", wait=False)
            array = self._wait("still frame", job)
            if array.ndim != 3 or array.shape[2] < 3:
                raise DeviceError(f"camera {self._model}: main stream gave an array of "
                                  f"shape {array.shape}; expected (h, w, 3)")
            rgb = imaging.rotate(array[:, :, :3], self.rotation)
            photo = imaging.portrait_jpeg(rgb, self.still_size, self.jpeg_quality)
            log.debug("still %dx%d, %d bytes", photo.width, photo.height, len(photo.jpeg))
            return photo

    def preview_frame(self) -> Frame:
        self._check_open()
        with self._lock:
            job = self._cam.capture_array("lores", wait=False)
        planar = self._wait("preview frame", job)
        width, height = self._lores_size
        rgb = imaging.yuv420_to_rgb(planar, width, height)
        return imaging.to_frame(imaging.rotate(rgb, self.rotation))


def _stop_and_close(cam: Any) -> None:
    for step in ("stop", "close"):
        try:
            getattr(cam, step)()
        except Exception as exc:  # a camera already gone must not stop the close
            log.warning("camera %s failed: %s", step, exc)
