"""Camera contract suite: one set of checks for every camera backend.

The one suite for the ``Camera`` API (gpiozero's ``tests/test_real_pins.py`` way): the
``camera`` fixture is parametrised over every backend. Always runs against the emulators:

* ``sim``: the simulated camera;
* ``v4l2-clip``: the real ``v4l2`` backend reading a generated MJPG clip through OpenCV;
* ``picamera2-fake``: the real ``picamera2`` backend on a fake ``picamera2`` module
  (``tests/picamera2_fake.py``).

Runs against a real camera (cases marked ``hil``) when ``KIOSK_HIL_CAMERA`` names one:

* ``KIOSK_HIL_CAMERA=picamera2`` (or ``picamera2:1`` for camera 1): the Pi camera;
* ``KIOSK_HIL_CAMERA=/dev/video0`` (or ``0``, or a ``/dev/v4l/by-id/...`` path): a webcam.

Point the real camera at a lit scene (a face or anything not black) before running.
Speed is measured by ``benchmarks/bench_camera.py``; here frames only have to be fresh.
Backend-specific behaviour (sizes, colours, options, the fake's call log) stays in
``tests/unit/hardware/test_camera_*.py``.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from PIL import Image

from kiosk.errors import DeviceBusy, DeviceError
from kiosk.hardware.camera import Camera
from kiosk.hardware.camera.picam import Picamera2Camera
from kiosk.hardware.camera.sim import SimCamera
from kiosk.hardware.camera.v4l2 import V4l2Camera
from kiosk.hardware.registry import create_device
from tests import picamera2_fake
from tests.contract.backends import real_param

REAL = os.environ.get("KIOSK_HIL_CAMERA", "").strip()


def real_options(value: str) -> dict[str, Any]:
    if value.startswith("picamera2"):
        _, _, num = value.partition(":")
        return {"type": "picamera2", "camera_num": int(num or 0)}
    return {"type": "v4l2", "device": value}


@dataclass
class Rig:
    """A camera, opened, and how to make another one like it."""

    camera: Any
    options: dict[str, Any]
    live: bool = True  # successive preview frames differ (a fake picamera2 repeats one)
    selftest_words: list[str] = field(default_factory=list)

    def make(self) -> Any:
        """A new camera of the same backend and options, closed."""
        return create_device("camera", dict(self.options))

    def during_still(self, monkeypatch: pytest.MonkeyPatch, hook: Callable[[], None]) -> None:
        """Run ``hook`` once inside the next still, while the camera is held for it."""
        camera = self.camera
        fired: list[bool] = []

        def once() -> None:
            if not fired:
                fired.append(True)
                hook()

        if isinstance(camera, SimCamera):
            camera.during_capture = once
            return
        # The real backends wait for the camera inside the still: hook that wait.
        waits = {V4l2Camera: "_wait_for_frame", Picamera2Camera: "_wait"}
        name = next((n for cls, n in waits.items() if isinstance(camera, cls)), None)
        if name is None:
            pytest.fail(f"no still hook for {type(camera).__name__}")
        real_wait = getattr(camera, name)

        def wait(*args: Any) -> Any:
            once()
            return real_wait(*args)

        monkeypatch.setattr(camera, name, wait)


@pytest.fixture(params=["sim", "v4l2-clip", "picamera2-fake", real_param(
    "real", named=bool(REAL),
    reason="no real camera: set KIOSK_HIL_CAMERA=picamera2 or /dev/video0")])
def rig(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    live, words = True, []
    if request.param == "sim":
        options: dict[str, Any] = {"type": "sim", "seed": 5}
        words = ["320x240"]
    elif request.param == "v4l2-clip":
        pytest.importorskip("cv2", reason="opencv-python-headless (v4l2 extra) not installed")
        from kiosk.hardware.camera.testclip import write_clip

        clip = write_clip(tmp_path_factory.mktemp("contract-camera") / "clip.avi", frames=30)
        options = {"type": "v4l2", "device": str(clip)}
        words = ["640x480", "MJPG"]
    elif request.param == "picamera2-fake":
        picamera2_fake.install(monkeypatch)
        options = {"type": "picamera2"}
        live, words = False, ["imx708", "autofocus yes"]
    else:
        options = real_options(REAL)
    device = create_device("camera", dict(options))
    with device:
        yield Rig(device, options, live=live, selftest_words=words)


@pytest.fixture
def camera(rig: Rig) -> Any:
    return rig.camera


def rgb_array(frame) -> np.ndarray:
    return np.frombuffer(frame.rgb, dtype=np.uint8).reshape(frame.height, frame.width, 3)


def test_camera_is_a_camera(camera):
    assert isinstance(camera, Camera)


def test_camera_selftest_passes(rig):
    ok, detail = rig.camera.selftest()
    assert ok, detail
    for word in rig.selftest_words:
        assert word in detail


def test_camera_preview_frames_are_small_lit_and_fresh(rig):
    camera = rig.camera
    first = camera.preview_frame()
    assert 64 <= first.width <= 1920 and 64 <= first.height <= 1920
    assert len(first.rgb) == first.width * first.height * 3
    assert rgb_array(first).mean() > 3, "preview is black: light the scene / remove the cap"
    if not rig.live:
        return  # the fake picamera2 shows one picture; the rest of this is for live cameras
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


def test_camera_second_tap_during_a_still_is_busy_and_the_preview_goes_on(rig, monkeypatch):
    """A second still asked for from another thread while one is being taken (a double
    tap) is refused with DeviceBusy, not queued; the preview keeps coming meanwhile; the
    first still completes."""
    camera = rig.camera
    busy: list[DeviceBusy] = []
    frames: list[object] = []
    errors: list[BaseException] = []

    def second_tap_and_preview() -> None:
        try:
            camera.capture_still()
        except DeviceBusy as exc:
            busy.append(exc)
        except BaseException as exc:
            errors.append(exc)
        try:
            frames.append(camera.preview_frame())
        except BaseException as exc:
            errors.append(exc)

    def hook() -> None:
        other = threading.Thread(target=second_tap_and_preview)
        other.start()
        other.join(5)
        assert not other.is_alive(), "the second tap or the preview hung"

    rig.during_still(monkeypatch, hook)
    assert camera.capture_still().jpeg
    assert not errors, errors
    assert len(busy) == 1
    assert len(frames) == 1


def test_camera_closed_refuses_and_closes_and_reopens(rig):
    fresh = rig.make()
    with pytest.raises(DeviceError, match="closed"):
        fresh.preview_frame()  # created closed: nothing touched the hardware yet
    camera = rig.camera
    before = camera.preview_frame()
    for _ in range(2):
        camera.close()
        camera.close()  # twice is safe
        assert camera.closed
        with pytest.raises(DeviceError, match="closed"):
            camera.preview_frame()
        camera.open()
        again = camera.preview_frame()  # reopened as it was
        assert (again.width, again.height) == (before.width, before.height)
