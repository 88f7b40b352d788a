"""Picamera2Camera against a fake ``picamera2`` module (``tests/picamera2_fake.py``), so the
real backend code runs here. What every camera backend shares is in
``tests/contract/test_camera.py``, which also runs the real library on a Pi.
"""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

from kiosk.errors import DeviceNotFound, DeviceTimeout
from kiosk.hardware.camera.picam import Picamera2Camera
from kiosk.hardware.registry import create_device
from tests.picamera2_fake import BLUE, RED, FakeAfModeEnum, FakePicamera2, install


@pytest.fixture
def fake(monkeypatch):
    """Install fake ``picamera2`` and ``libcamera`` modules; reset the fake's knobs."""
    return install(monkeypatch)


def names(cam: FakePicamera2) -> list[str]:
    return [c[0] for c in cam.calls]


def decode(jpeg: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(jpeg)) as image:
        assert image.format == "JPEG"
        return np.asarray(image.convert("RGB"))


def near(pixel, colour, tolerance: int = 30) -> bool:
    return all(abs(int(p) - c) <= tolerance for p, c in zip(pixel, colour, strict=True))


# -- opening and configuration ------------------------------------------------------------
def test_picamera2_is_created_without_the_library_and_open_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "picamera2", None)  # import picamera2 -> ImportError
    camera = create_device("camera", {"type": "picamera2"})
    assert camera.closed
    with pytest.raises(DeviceNotFound, match="apt install python3-picamera2"):
        camera.open()
    ok, detail = camera.selftest()
    assert not ok and "python3-picamera2" in detail


def test_picamera2_open_configures_binned_main_and_yuv_lores_and_starts(fake):
    with Picamera2Camera() as camera:
        cam = fake.instances[0]
        _, main, lores, buffers, controls = cam.calls[0]
        assert main == {"size": (2304, 1296), "format": "BGR888"}  # half of 4608x2592
        # Same aspect as main (16:9), YUV so the Pi 4's ISP accepts it.
        assert lores == {"size": (320, 180), "format": "YUV420"}
        assert buffers >= 2
        assert controls == {"FrameDurationLimits": (33_333, 66_666)}  # 15-30 fps
        assert names(cam)[:3] == ["create_still_configuration", "configure", "start"]
        assert ("set_controls", {"AfMode": FakeAfModeEnum.Auto}) in cam.calls
        assert camera.has_autofocus
    assert names(cam)[-2:] == ["stop", "close"]


def test_picamera2_uses_full_resolution_when_half_is_smaller_than_the_still(fake):
    fake.sensor_resolution = (1280, 960)  # half would be 480 high: less than 640
    with Picamera2Camera():
        main = fake.instances[0].calls[0][1]
        assert main["size"] == (1280, 960)


def test_picamera2_without_autofocus_lens_sets_no_af_controls(fake):
    fake.controls = {"ExposureTime": (1, 10, 5)}  # Camera Module 2: fixed focus
    with Picamera2Camera() as camera:
        camera.capture_still()
        cam = fake.instances[0]
        assert not camera.has_autofocus
        assert "autofocus_cycle" not in names(cam)
        assert not any(c[0] == "set_controls" for c in cam.calls)
        assert cam.calls[0][4] == {}  # no FrameDurationLimits control offered either


@pytest.mark.parametrize(("cameras", "match"), [
    ([], "ribbon cable"),
    ([{"Model": "imx219", "Num": 0}], "camera_num = 1, but libcamera lists 1"),
])
def test_picamera2_missing_camera_is_device_not_found_with_the_reason(fake, cameras, match):
    fake.cameras = cameras
    camera = Picamera2Camera(camera_num=1)
    with pytest.raises(DeviceNotFound, match=match):
        camera.open()
    assert camera.closed and fake.instances == []


def test_picamera2_camera_in_use_elsewhere_is_a_device_error_saying_so(fake):
    fake.init_error = RuntimeError("Camera __init__ sequence did not complete.")
    ok, detail = Picamera2Camera().selftest()
    assert not ok
    assert "another program" in detail and "imx708" in detail


def test_picamera2_failed_configuration_closes_the_camera(fake, monkeypatch):
    def broken(self, config):
        raise RuntimeError("lores stream must be YUV")

    monkeypatch.setattr(FakePicamera2, "configure", broken)
    with pytest.raises(RuntimeError, match="must be YUV"):
        Picamera2Camera().open()
    assert fake.instances[0].closed


# -- stills -------------------------------------------------------------------------------
def test_picamera2_still_is_480x640_in_rgb_order(fake):
    with Picamera2Camera() as camera:
        photo = camera.capture_still()
    assert (photo.width, photo.height) == (480, 640)
    pixels = decode(photo.jpeg)
    assert pixels.shape == (640, 480, 3)
    assert near(pixels[20, 240], RED) and near(pixels[-20, 240], BLUE)


def test_picamera2_still_size_and_quality_come_from_options(fake):
    with create_device("camera", {"type": "picamera2", "still_width": 600,
                                  "still_height": 800, "jpeg_quality": 95}) as camera:
        photo = camera.capture_still()
    assert (photo.width, photo.height) == (600, 800)
    assert decode(photo.jpeg).shape == (800, 600, 3)


def test_picamera2_rotation_turns_the_still_and_the_preview_clockwise(fake):
    with Picamera2Camera(rotation=90) as camera:
        pixels = decode(camera.capture_still().jpeg)
        frame = camera.preview_frame()
    # Clockwise: what was at the top (red) is now on the right.
    assert near(pixels[320, -20], RED) and near(pixels[320, 20], BLUE)
    assert (frame.width, frame.height) == (180, 320)


def test_picamera2_runs_an_autofocus_cycle_before_each_still(fake):
    with Picamera2Camera() as camera:
        camera.capture_still()
        camera.capture_still()
        calls = names(fake.instances[0])
    af = [i for i, c in enumerate(calls) if c == "autofocus_cycle"]
    main = [i for i, c in enumerate(fake.instances[0].calls)
            if c == ("capture_array", "main")]
    assert len(af) == 2 and af[0] < main[0] < af[1] < main[1]
    assert camera.last_focus_ok is True


def test_picamera2_failed_focus_still_takes_the_photo(fake):
    fake.af_result = False
    with Picamera2Camera() as camera:
        photo = camera.capture_still()
        assert camera.last_focus_ok is False
    assert photo.jpeg


def test_picamera2_autofocus_can_be_switched_off(fake):
    with Picamera2Camera(autofocus=False) as camera:
        camera.capture_still()
    assert "autofocus_cycle" not in names(fake.instances[0])
    assert not any(c[0] == "set_controls" for c in fake.instances[0].calls)


@pytest.mark.parametrize(("hang", "match"), [
    ("main", "no still frame within 1.5 s"),
    ("af", "no autofocus result within 1.5 s"),
])
def test_picamera2_a_camera_that_stops_answering_is_a_device_timeout(fake, hang, match):
    with Picamera2Camera(timeout_s=1.5) as camera:
        fake.hang = {hang}
        with pytest.raises(DeviceTimeout, match=match):
            camera.capture_still()
        assert ("wait", 1.5) in fake.instances[0].calls  # every wait is bounded
        fake.hang = set()
        assert camera.capture_still().jpeg  # the camera is usable again


# -- preview and self-test ---------------------------------------------------------------
def test_picamera2_preview_is_the_lores_stream_as_rgb(fake):
    with Picamera2Camera() as camera:
        frame = camera.preview_frame()
        assert ("capture_array", "lores") in fake.instances[0].calls
    assert (frame.width, frame.height) == (320, 180)
    pixels = np.frombuffer(frame.rgb, dtype=np.uint8).reshape(180, 320, 3)
    assert near(pixels[10, 160], RED, 12) and near(pixels[-10, 160], BLUE, 12)


def test_picamera2_selftest_names_the_main_stream_size_and_closes_the_camera(fake):
    ok, detail = Picamera2Camera().selftest()  # model and autofocus: the contract's
    assert ok, detail
    assert "2304x1296" in detail
    assert fake.instances[0].closed  # selftest closes what it opened


def test_picamera2_selftest_fails_on_black_frames_and_says_why(fake):
    fake.black = True
    ok, detail = Picamera2Camera().selftest()
    assert not ok and "black" in detail and "lens cap" in detail
