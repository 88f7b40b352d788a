"""Camera hardware-in-the-loop suite: one set of checks for every camera backend.

Always runs against the emulators: the simulated camera, and the real ``v4l2`` backend
reading a generated MJPG clip through OpenCV. Runs against a real camera when
``KIOSK_HIL_CAMERA`` names one:

* ``KIOSK_HIL_CAMERA=picamera2`` (or ``picamera2:1`` for camera 1): the Pi camera;
* ``KIOSK_HIL_CAMERA=/dev/video0`` (or ``0``, or a ``/dev/v4l/by-id/...`` path): a webcam.

Point the real camera at a lit scene (a face or anything not black) before running.
Speed is measured by ``benchmarks/bench_camera.py``; here frames only have to be fresh.
"""

from __future__ import annotations

import io
import os
import threading
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image

from kiosk.errors import DeviceBusy
from kiosk.hardware.registry import create_device

pytestmark = pytest.mark.hil

REAL = os.environ.get("KIOSK_HIL_CAMERA", "").strip()


def real_options(value: str) -> dict[str, Any]:
    if value.startswith("picamera2"):
        _, _, num = value.partition(":")
        return {"type": "picamera2", "camera_num": int(num or 0)}
    return {"type": "v4l2", "device": value}


@pytest.fixture(params=["sim", "v4l2-clip", "real"])
def camera(request, tmp_path_factory):
    if request.param == "sim":
        options: dict[str, Any] = {"type": "sim", "seed": 5}
    elif request.param == "v4l2-clip":
        pytest.importorskip("cv2", reason="opencv-python-headless (v4l2 extra) not installed")
        from kiosk.hardware.camera.testclip import write_clip

        clip = write_clip(tmp_path_factory.mktemp("hil-camera") / "clip.avi", frames=30)
        options = {"type": "v4l2", "device": str(clip)}
    else:
        if not REAL:
            pytest.skip("no real camera: set KIOSK_HIL_CAMERA=picamera2 or /dev/video0")
        options = real_options(REAL)
    device = create_device("camera", options)
    with device:
        yield device


def rgb_array(frame) -> np.ndarray:
    return np.frombuffer(frame.rgb, dtype=np.uint8).reshape(frame.height, frame.width, 3)


def test_camera_selftest_passes(camera):
    ok, detail = camera.selftest()
    assert ok, detail


def test_camera_preview_frames_are_small_lit_and_fresh(camera):
    first = camera.preview_frame()
    assert 64 <= first.width <= 1920 and 64 <= first.height <= 1920
    assert rgb_array(first).mean() > 3, "preview is black: light the scene / remove the cap"
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        time.sleep(0.1)
        if camera.preview_frame().rgb != first.rgb:
            break
    else:
        pytest.fail("the preview showed the same frame for 5 s")


def test_camera_preview_keeps_coming(camera):
    started = time.monotonic()
    for _ in range(30):
        camera.preview_frame()
    assert time.monotonic() - started < 10.0  # a sanity bound; fps is the benchmark's job


def test_camera_still_is_a_portrait_jpeg(camera):
    photo = camera.capture_still()
    with Image.open(io.BytesIO(photo.jpeg)) as image:
        assert image.format == "JPEG"
        assert image.size == (photo.width, photo.height)
        pixels = np.asarray(image.convert("RGB"))
    assert photo.width * 4 == photo.height * 3  # e-KTP portrait, 3:4
    assert pixels.mean() > 3, "still is black"


def test_camera_stills_in_a_row(camera):
    sizes = {camera.capture_still().jpeg[:2] for _ in range(3)}
    assert sizes == {b"\xff\xd8"}


def test_camera_preview_runs_during_a_still(camera):
    frames: list[object] = []
    errors: list[BaseException] = []

    def preview() -> None:
        try:
            for _ in range(5):
                frames.append(camera.preview_frame())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=preview)
    thread.start()
    camera.capture_still()
    thread.join(timeout=15)
    assert not thread.is_alive() and not errors and len(frames) == 5


def test_camera_second_still_while_busy_is_refused(camera):
    with camera._exclusive("still capture"), pytest.raises(DeviceBusy):
        camera.capture_still()
    assert camera.capture_still().jpeg  # free again afterwards


def test_camera_closes_and_reopens(camera):
    for _ in range(2):
        camera.close()
        assert camera.closed
        camera.open()
        assert camera.preview_frame().width > 0
