"""A fake ``picamera2`` module, so the real Picamera2Camera backend runs without a Pi.

The fake records every call the backend makes and answers with numpy arrays laid out as
picamera2 lays them out (``BGR888`` main stream = ``[R, G, B]`` pixels; ``YUV420`` lores =
``(h * 3 / 2, w)``). Used by ``tests/unit/hardware/test_camera_picam.py`` and as the
picamera2 backend's emulator in ``tests/contract/test_camera.py``.
"""

from __future__ import annotations

import sys
import types
from concurrent.futures import TimeoutError as FutureTimeout
from typing import ClassVar

import numpy as np
import pytest

from kiosk.hardware.camera.imaging import rgb_to_yuv420

RED = (200, 30, 30)
BLUE = (30, 30, 200)


def two_tone(width: int, height: int) -> np.ndarray:
    """Top half red, bottom half blue: shows both colour order and orientation."""
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[: height // 2] = RED
    image[height // 2:] = BLUE
    return image


class FakeJob:
    def __init__(self, result=None, *, hang: bool = False) -> None:
        self.result = result
        self.hang = hang


class FakePicamera2:
    """Records calls; configured per test through class attributes."""

    cameras: ClassVar[list[dict]] = [{"Model": "imx708", "Num": 0, "Id": "/base/imx708"}]
    sensor_resolution = (4608, 2592)
    controls: ClassVar[dict] = {"AfMode": (0, 2, 0), "FrameDurationLimits": (33, 120000, 33333),
                "ExposureTime": (1, 10, 5)}
    init_error: Exception | None = None
    af_result = True
    hang: ClassVar[set[str]] = set()  # "main", "lores", "af": these jobs never finish
    black = False
    instances: ClassVar[list[FakePicamera2]] = []

    def __init__(self, camera_num: int = 0) -> None:
        if FakePicamera2.init_error is not None:
            raise FakePicamera2.init_error
        self.camera_num = camera_num
        self.calls: list[tuple] = []
        self.config: dict | None = None
        self.started = False
        self.closed = False
        self.on_wait = None
        FakePicamera2.instances.append(self)

    @staticmethod
    def global_camera_info() -> list[dict]:
        return list(FakePicamera2.cameras)

    @property
    def camera_controls(self) -> dict:
        return dict(FakePicamera2.controls)

    def create_still_configuration(self, main=None, lores=None, raw=None, buffer_count=1,
                                   controls=None, **rest) -> dict:
        self.calls.append(("create_still_configuration", main, lores, buffer_count, controls))
        return {"use_case": "still", "main": dict(main), "lores": dict(lores),
                "buffer_count": buffer_count, "controls": dict(controls or {})}

    def configure(self, config: dict) -> None:
        assert not self.started, "picamera2 refuses to configure a started camera"
        self.calls.append(("configure",))
        self.config = config

    def start(self) -> None:
        assert self.config is not None
        self.calls.append(("start",))
        self.started = True

    def stop(self) -> None:
        self.calls.append(("stop",))
        self.started = False

    def close(self) -> None:
        self.calls.append(("close",))
        self.closed = True

    def set_controls(self, controls: dict) -> None:
        self.calls.append(("set_controls", dict(controls)))

    def autofocus_cycle(self, wait=None, signal_function=None):
        assert self.started and "AfMode" in self.camera_controls
        assert wait is False, "the backend must not block without a timeout"
        self.calls.append(("autofocus_cycle",))
        return FakeJob(FakePicamera2.af_result, hang="af" in FakePicamera2.hang)

    def capture_array(self, name="main", wait=None, signal_function=None):
        assert self.started, "capture on a stopped camera"
        assert wait is False, "the backend must not block without a timeout"
        self.calls.append(("capture_array", name))
        width, height = self.config[name]["size"]
        rgb = two_tone(width, height)
        if FakePicamera2.black:
            rgb[:] = 0
        array = rgb if name == "main" else rgb_to_yuv420(rgb)
        return FakeJob(array, hang=name in FakePicamera2.hang)

    def wait(self, job: FakeJob, timeout=None):
        self.calls.append(("wait", timeout))
        if self.on_wait is not None:
            self.on_wait()
        if job.hang:
            raise FutureTimeout()
        return job.result


class FakeAfModeEnum:
    Manual, Auto, Continuous = 0, 1, 2


def install(monkeypatch: pytest.MonkeyPatch) -> type[FakePicamera2]:
    """Install fake ``picamera2`` and ``libcamera`` modules; reset the fake's knobs."""
    picamera2 = types.ModuleType("picamera2")
    picamera2.Picamera2 = FakePicamera2  # type: ignore[attr-defined]
    libcamera = types.ModuleType("libcamera")
    libcamera.controls = types.SimpleNamespace(  # type: ignore[attr-defined]
        AfModeEnum=FakeAfModeEnum)
    monkeypatch.setitem(sys.modules, "picamera2", picamera2)
    monkeypatch.setitem(sys.modules, "libcamera", libcamera)
    monkeypatch.setattr(FakePicamera2, "instances", [])
    monkeypatch.setattr(FakePicamera2, "hang", set())
    for name in ("cameras", "sensor_resolution", "controls", "init_error", "af_result",
                 "black"):
        monkeypatch.setattr(FakePicamera2, name, getattr(FakePicamera2, name))
    return FakePicamera2
