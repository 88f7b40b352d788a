"""V4l2Camera with OpenCV reading a generated MJPG clip: the real backend, no webcam.

OpenCV's VideoCapture opens a file the way it opens /dev/video0, so everything above the
V4L2 ioctls (capture thread, newest-frame hand-off, crop, JPEG) runs here. What every camera
backend shares is in the contract suite, which with a webcam covers the rest:
``KIOSK_HIL_CAMERA=/dev/video0 pytest tests/contract/test_camera.py``.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kiosk.errors import ConfigError, DeviceError, DeviceNotFound
from kiosk.hardware.camera.v4l2 import V4l2Camera
from kiosk.hardware.registry import create_device

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless (the v4l2 extra) not installed")
REAL_VIDEO_CAPTURE = cv2.VideoCapture

from kiosk.hardware.camera.testclip import write_clip  # noqa: E402  (needs cv2)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_clip(tmp_path_factory.mktemp("v4l2") / "clip.avi", frames=30, fps=30)


def pixels(frame) -> np.ndarray:
    return np.frombuffer(frame.rgb, dtype=np.uint8).reshape(frame.height, frame.width, 3)


def decode(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB"))


def reddish(pixel) -> bool:
    r, g, b = (int(c) for c in pixel)
    return r > 120 and r > 2 * g and r > 2 * b


def white_at(array: np.ndarray) -> bool:
    return bool((array.min(axis=-1) > 200).any())


def test_v4l2_preview_is_scaled_rgb_from_the_newest_frame(clip):
    with create_device("camera", {"type": "v4l2", "device": str(clip)}) as camera:
        frame = camera.preview_frame()
    assert (frame.width, frame.height) == (320, 240)
    image = pixels(frame)
    assert reddish(image[5, 5]), image[5, 5]  # the e-KTP red background, in RGB order
    assert white_at(image[-4:])  # the clip's marker runs along the bottom


def test_v4l2_preview_never_waits_for_the_camera(clip):
    with V4l2Camera(device=str(clip)) as camera:
        started = time.monotonic()
        for _ in range(50):
            camera.preview_frame()
        per_call = (time.monotonic() - started) / 50
    assert per_call < 1 / 30  # faster than the clip delivers frames: nothing blocked


def test_v4l2_preview_frames_are_fresh(clip):
    with V4l2Camera(device=str(clip)) as camera:
        first = camera.preview_frame()
        before = camera.frames_read
        time.sleep(0.2)
        second = camera.preview_frame()
        assert camera.frames_read > before
    assert first.rgb != second.rgb  # the marker moved


def test_v4l2_still_is_480x640_red_and_from_a_frame_read_after_the_call(clip):
    with V4l2Camera(device=str(clip)) as camera:
        before = camera.frames_read
        photo = camera.capture_still()
        assert camera.frames_read > before
    assert (photo.width, photo.height) == (480, 640)
    image = decode(photo.jpeg)
    assert image.shape == (640, 480, 3)
    assert reddish(image[10, 10])


def test_v4l2_rotation_turns_preview_and_still_clockwise(clip):
    with V4l2Camera(device=str(clip), rotation=90) as camera:
        frame = camera.preview_frame()
        photo = camera.capture_still()
    assert (frame.width, frame.height) == (240, 320)
    image = pixels(frame)
    assert white_at(image[:, :4])  # the bottom edge is now on the left
    assert not white_at(image[:, -4:])
    assert (photo.width, photo.height) == (480, 640)


def test_v4l2_still_options_set_size_and_quality(clip):
    with create_device("camera", {"type": "v4l2", "device": str(clip), "still_width": 300,
                                  "still_height": 400, "jpeg_quality": 60}) as camera:
        photo = camera.capture_still()
    assert decode(photo.jpeg).shape == (400, 300, 3)


def test_v4l2_selftest_reports_the_clip_frame_rate(clip):
    ok, detail = V4l2Camera(device=str(clip)).selftest()  # size and codec: the contract's
    assert ok, detail
    fps = float(detail.rsplit(" at ", 1)[1].split()[0])
    assert 15 <= fps <= 45  # the clip's own 30 fps, paced like a camera


def test_v4l2_selftest_fails_on_black_frames(tmp_path):
    path = tmp_path / "black.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (320, 240))
    for _ in range(10):
        writer.write(np.zeros((240, 320, 3), dtype=np.uint8))
    writer.release()
    ok, detail = V4l2Camera(device=str(path)).selftest()
    assert not ok and "black" in detail


def test_v4l2_close_stops_the_capture_thread(clip):
    camera = V4l2Camera(device=str(clip))
    camera.open()
    thread = camera._thread
    camera.close()
    assert thread is not None and not thread.is_alive()


class FailingCapture:
    """A VideoCapture that delivers ``good`` frames, then fails every read (unplugged)."""

    def __init__(self, source, api, *, good: int) -> None:
        self.inner = REAL_VIDEO_CAPTURE(source, api)
        self.good = good

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def read(self):
        if self.good <= 0:
            return False, None
        self.good -= 1
        return self.inner.read()


def test_v4l2_unplugged_camera_is_a_device_error_saying_so(clip, monkeypatch):
    monkeypatch.setattr(cv2, "VideoCapture", lambda s, a: FailingCapture(s, a, good=3))
    with V4l2Camera(device=str(clip)) as camera:
        deadline = time.monotonic() + 5
        while camera._error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(DeviceError, match="stopped delivering frames"):
            camera.preview_frame()
        with pytest.raises(DeviceError, match="stopped delivering frames"):
            camera.capture_still()


def test_v4l2_no_first_frame_is_a_timeout_and_closes(clip, monkeypatch):
    monkeypatch.setattr(cv2, "VideoCapture", lambda s, a: FailingCapture(s, a, good=0))
    camera = V4l2Camera(device=str(clip), timeout_s=0.5)
    with pytest.raises(DeviceError, match=r"stopped delivering|no first frame"):
        camera.open()
    assert camera.closed and camera._thread is None


@pytest.mark.parametrize(("device", "error", "match"), [
    ("/dev/video-kiosk-test-none", DeviceNotFound, "plugged in"),
    ("no-such-clip.avi", DeviceNotFound, "neither a /dev/ device"),
])
def test_v4l2_missing_device_says_what_is_wrong(device, error, match):
    ok, detail = V4l2Camera(device=device).selftest()
    assert not ok and match in detail
    with pytest.raises(error, match=match):
        V4l2Camera(device=device).open()


def test_v4l2_a_file_that_is_not_video_is_device_not_found(tmp_path):
    junk = tmp_path / "junk.avi"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(DeviceError):
        V4l2Camera(device=str(junk), timeout_s=1).open()


def test_v4l2_device_given_as_index_or_digits_is_an_index():
    assert V4l2Camera(device=2)._source() == (2, True)
    assert V4l2Camera(device="0")._source() == (0, True)


def test_v4l2_device_option_accepts_a_string_or_an_index():
    assert create_device("camera", {"type": "v4l2", "device": 0}).device == 0
    with pytest.raises(ConfigError):
        create_device("camera", {"type": "v4l2", "device": 1.5})
