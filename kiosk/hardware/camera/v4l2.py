"""A USB webcam (UVC, /dev/videoN) through OpenCV, for the field kits.

``cv2`` (pip: ``opencv-python-headless``, the ``v4l2`` extra) is imported in ``_open`` only.
OpenCV opens a video *file* the same way as a device, which is how the unit tests and the
benchmark run this backend without a webcam: ``device = "/path/clip.avi"`` (a file source
plays at its own frame rate and loops).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kiosk.errors import DeviceError, DeviceNotFound, DeviceTimeout
from kiosk.hardware.base import Frame, Options, Photo
from kiosk.hardware.camera import imaging
from kiosk.hardware.camera.base import Camera
from kiosk.options import Integer, Option, String

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire.camera")

# A webcam that fails this many reads in a row (about 1 s) is taken as unplugged.
_MAX_READ_FAILURES = 20
_RETRY_SLEEP_S = 0.05


class V4l2Camera(Camera):
    """A UVC webcam read with OpenCV's V4L2 backend, served from a capture thread.

    Wiring: any UVC webcam on a USB port; it appears as ``/dev/video0`` (plus a metadata
    node ``/dev/video1``). Stable names live in ``/dev/v4l/by-id/``, better for config when
    there are two cameras. The kiosk user needs the ``video`` group. ``v4l2-ctl
    --list-formats-ext -d /dev/video0`` shows what the camera offers; MJPEG at 1280x720
    reaches 30 fps over USB 2 where raw YUYV manages 10.

    Protocol: ``open()`` asks for ``fourcc`` (default MJPG) at ``width`` x ``height`` and
    ``fps`` and starts a thread that reads frames as fast as the camera delivers them,
    keeping only the newest (the UI never waits on USB, and OpenCV's own queue never fills
    with stale frames). :meth:`preview_frame` returns the newest frame scaled to
    ``preview_width`` without blocking; :meth:`capture_still` waits (at most ``timeout_s``)
    for a frame exposed *after* the call, then centre-crops it to 3:4, turns it by
    ``rotation`` first if the camera is mounted sideways, scales it to ``still_width`` x
    ``still_height`` and JPEG-encodes it. About 1 s without a frame marks the camera as
    gone: both calls then raise :class:`~kiosk.errors.DeviceError` saying so.

    ``device`` is a path (``/dev/video0``, ``/dev/v4l/by-id/...``, or a video file for
    tests) or an index (``0``). Example::

        with create_device("camera", {"type": "v4l2", "device": "/dev/video0"}) as camera:
            frame = camera.preview_frame()
            photo = camera.capture_still()       # Photo(480, 640, jpeg)
    """

    OPTIONS: ClassVar[Options] = {
        "device": Option((str, int), "/dev/video0", "a /dev/video path, a video file, or "
                         "an index", "a /dev/video path or index >= 0",
                         lambda v: not isinstance(v, int) or v >= 0),
        "width": imaging.Pixels(1280, description="the size asked of the camera"),
        "height": imaging.Pixels(720, description="the size asked of the camera"),
        "fps": Integer(30, 1, 120, allowed="1 to 120 frames per second",
                       description="the frame rate asked of the camera"),
        "fourcc": String("MJPG", test=lambda v: len(v) == 4,
                         allowed="a four-character code: 'MJPG' or 'YUYV'",
                         description="the pixel format asked of the camera"),
        **imaging.OUTPUT_OPTIONS,
    }

    def __init__(self, *, device: str | int = OPTIONS["device"].default,
                 width: int = OPTIONS["width"].default, height: int = OPTIONS["height"].default,
                 fps: int = OPTIONS["fps"].default, fourcc: str = OPTIONS["fourcc"].default,
                 still_width: int = OPTIONS["still_width"].default,
                 still_height: int = OPTIONS["still_height"].default,
                 preview_width: int = OPTIONS["preview_width"].default,
                 rotation: int = OPTIONS["rotation"].default,
                 timeout_s: float = OPTIONS["timeout_s"].default,
                 jpeg_quality: int = OPTIONS["jpeg_quality"].default) -> None:
        super().__init__()
        self._check_options(locals())
        imaging.check_portrait(still_width, still_height)
        self.device = device
        self.size = (width, height)
        self.fps = fps
        self.fourcc = fourcc
        self.still_size = (still_width, still_height)
        self.preview_width = preview_width
        self.rotation = rotation
        self.timeout_s = float(timeout_s)
        self.jpeg_quality = jpeg_quality
        self._cap: Any = None
        self._cv2: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._new_frame = threading.Condition()
        self._latest: np.ndarray | None = None  # BGR, as OpenCV delivers it
        self._seq = 0
        self._stamp = 0.0  # monotonic time of the latest frame
        self._error: str | None = None
        self._interval = 0.0  # smoothed seconds between frames
        self._is_file = False

    # -- lifecycle --------------------------------------------------------------------------
    @property
    def frames_read(self) -> int:
        """Frames the capture thread has read since ``open()``."""
        return self._seq

    @property
    def measured_fps(self) -> float:
        """The camera's delivered frame rate (smoothed), 0.0 before two frames arrived."""
        return 1.0 / self._interval if self._interval > 0 else 0.0

    def _source(self) -> tuple[str | int, bool]:
        """(what to pass to VideoCapture, whether it is a V4L2 device)."""
        device = self.device
        if isinstance(device, int):
            return device, True
        if device.isdigit():
            return int(device), True
        path = Path(device)
        if str(path).startswith("/dev/"):
            if not path.exists():
                raise DeviceNotFound(f"{device} does not exist: is the webcam plugged in? "
                                     "(`v4l2-ctl --list-devices` lists cameras)")
            if not os.access(path, os.R_OK | os.W_OK):
                raise DeviceError(f"no permission to open {device}: add the kiosk user to "
                                  "the 'video' group (`sudo adduser kiosk video`)")
            return str(path), True
        if not path.is_file():
            raise DeviceNotFound(f"hardware.camera.device = {device!r}: neither a /dev/ "
                                 "device, an index, nor an existing video file")
        return str(path), False

    def _open(self) -> None:
        source, is_device = self._source()
        try:
            import cv2
        except ImportError as exc:
            raise DeviceNotFound("OpenCV is not installed: `pip install "
                                 f"'ektp-kiosk[v4l2]'` (opencv-python-headless) ({exc})"
                                 ) from exc
        self._cv2 = cv2
        self._is_file = not is_device
        api = cv2.CAP_V4L2 if is_device else cv2.CAP_ANY
        cap = cv2.VideoCapture(source, api)
        if not cap.isOpened():
            cap.release()
            raise DeviceNotFound(f"OpenCV could not open {source!r}: not a video device, "
                                 "or busy in another program (`fuser -v /dev/video*`)")
        if is_device:
            # Order matters for UVC: the pixel format first, then size, then rate.
            cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*self.fourcc))
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.size[0])
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.size[1])
            cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the thread drains it; keep latency low
        wire.debug("%s opened: %dx%d @ %.1f fps, fourcc %r", source,
                   cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT),
                   cap.get(cv2.CAP_PROP_FPS), _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC)))
        self._cap = cap
        self._stop.clear()
        self._latest, self._seq, self._error, self._interval = None, 0, None, 0.0
        pace = 0.0
        if self._is_file:  # a file plays at its own rate, like a camera would
            rate = cap.get(cv2.CAP_PROP_FPS) or self.fps
            pace = 1.0 / rate
        self._thread = threading.Thread(target=self._run, args=(pace,),
                                        name=f"v4l2-{self.device}", daemon=True)
        self._thread.start()
        try:
            self._wait_for_frame(0, "first frame")
        except DeviceError:
            self._close()
            raise

    def _close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=self.timeout_s)
            if thread.is_alive():
                log.warning("v4l2 capture thread for %s did not stop", self.device)
        cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()
        with self._new_frame:
            self._latest = None
            self._new_frame.notify_all()

    def _selftest(self) -> tuple[bool, str]:
        # Give the thread a moment to measure the frame rate.
        deadline = time.monotonic() + 1.0
        while self._seq < 10 and time.monotonic() < deadline and self._error is None:
            time.sleep(0.05)
        frame = self._newest()
        height, width = frame.shape[:2]
        detail = (f"v4l2 {self.device}: {width}x{height} "
                  f"{_fourcc_text(self._cap.get(self._cv2.CAP_PROP_FOURCC))} at "
                  f"{self.measured_fps:.0f} fps")
        mean = float(frame.mean())
        if mean < imaging.BLACK_MEAN:
            return False, f"{detail}; frames are black (mean {mean:.1f}): lens covered or no light"
        if (width, height) != self.size and not self._is_file:
            detail += f" (asked for {self.size[0]}x{self.size[1]}; the camera chose this)"
        return True, detail

    # -- the capture thread ----------------------------------------------------------------
    def _run(self, pace: float) -> None:
        cv2, cap = self._cv2, self._cap
        failures = 0
        rewound = False
        next_due = time.monotonic()
        while not self._stop.is_set():
            ok, frame = cap.read()
            if not ok or frame is None:
                if self._is_file and self._seq and not rewound:  # end of the clip: loop
                    cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    rewound = True
                    continue
                failures += 1
                if failures >= _MAX_READ_FAILURES:
                    self._fail(f"{self.device} stopped delivering frames "
                               f"({failures} failed reads): unplugged or broken?")
                    return
                self._stop.wait(_RETRY_SLEEP_S)
                continue
            failures, rewound = 0, False
            if pace:
                next_due += pace
                delay = next_due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                if delay < -1.0:  # fell far behind (a slow machine): do not burst to catch up
                    next_due = time.monotonic()
            now = time.monotonic()
            with self._new_frame:
                if self._seq:
                    gap = now - self._stamp
                    self._interval = gap if not self._interval else (
                        0.9 * self._interval + 0.1 * gap)
                self._latest, self._stamp = frame, now
                self._seq += 1
                self._new_frame.notify_all()

    def _fail(self, reason: str) -> None:
        log.error("%s", reason)
        with self._new_frame:
            self._error = reason
            self._new_frame.notify_all()

    def _wait_for_frame(self, after: int, what: str) -> np.ndarray:
        """The first frame numbered above ``after``; DeviceTimeout after ``timeout_s``."""
        deadline = time.monotonic() + self.timeout_s
        with self._new_frame:
            while self._seq <= after or self._latest is None:
                if self._error is not None:
                    raise DeviceError(self._error)
                if self._closed and after > 0:
                    raise DeviceError(f"{type(self).__name__} was closed")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise DeviceTimeout(f"{self.device}: no {what} within {self.timeout_s:g} s")
                self._new_frame.wait(left)
            return self._latest

    def _newest(self) -> np.ndarray:
        with self._new_frame:
            if self._error is not None:
                raise DeviceError(self._error)
            if self._latest is None:
                raise DeviceError(f"{self.device}: no frame yet")
            if time.monotonic() - self._stamp > self.timeout_s:
                raise DeviceTimeout(f"{self.device}: no new frame for {self.timeout_s:g} s")
            return self._latest

    # -- the Camera API ---------------------------------------------------------------------
    def preview_frame(self) -> Frame:
        self._check_open()
        bgr = self._newest()
        height, width = bgr.shape[:2]
        cv2 = self._cv2
        if width != self.preview_width:
            new_h = max(2, round(height * self.preview_width / width) // 2 * 2)
            bgr = cv2.resize(bgr, (self.preview_width, new_h), interpolation=cv2.INTER_AREA)
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return imaging.to_frame(imaging.rotate(rgb, self.rotation))

    def capture_still(self) -> Photo:
        with self._exclusive("still capture"):
            with self._new_frame:
                seen = self._seq
            bgr = self._wait_for_frame(seen, "fresh frame for the still")
            cv2 = self._cv2
            rgb = imaging.rotate(bgr[:, :, ::-1], self.rotation)  # BGR -> RGB, a view
            portrait = np.ascontiguousarray(imaging.crop_portrait(rgb))
            if portrait.shape[1] < self.still_size[0]:
                log.warning("webcam frame %dx%d is smaller than the still; upscaling",
                            bgr.shape[1], bgr.shape[0])
            out = cv2.resize(portrait, self.still_size, interpolation=cv2.INTER_AREA)
            ok, jpeg = cv2.imencode(".jpg", out[:, :, ::-1],  # imencode wants BGR
                                    [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
            if not ok:
                raise DeviceError(f"{self.device}: JPEG encoding failed")
            photo = Photo(self.still_size[0], self.still_size[1], jpeg.tobytes())
            log.debug("still %dx%d, %d bytes", photo.width, photo.height, len(photo.jpeg))
            return photo


def _fourcc_text(code: float) -> str:
    value = int(code)
    text = "".join(chr((value >> (8 * i)) & 0xFF) for i in range(4))
    return text if text.isprintable() and text.strip() else f"0x{value:08x}"
