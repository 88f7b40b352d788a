"""Device lifecycle, the capture lock, and the image dataclasses."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from kiosk.errors import DeviceBusy, DeviceError
from kiosk.hardware.base import Device, FingerprintImage, Frame, Photo


class Recorder(Device):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def _open(self) -> None:
        self.calls.append("open")

    def _close(self) -> None:
        self.calls.append("close")

    def _selftest(self) -> tuple[bool, str]:
        raise OSError("sensor on fire")


def test_device_is_created_closed_and_opens_once():
    device = Recorder()
    assert device.closed
    device.open()
    device.open()
    assert not device.closed
    assert device.calls == ["open"]


def test_device_close_twice_is_safe_and_closes_once():
    device = Recorder()
    with device:
        pass
    device.close()
    device.close()
    assert device.calls == ["open", "close"]
    assert device.closed


def test_device_close_without_open_does_nothing():
    device = Recorder()
    device.close()
    assert device.calls == []


def test_selftest_never_raises_and_reports_the_error():
    ok, detail = Recorder().selftest()
    assert not ok
    assert "OSError" in detail and "sensor on fire" in detail


def test_selftest_on_a_closed_device_leaves_it_closed():
    device = Recorder()
    device.selftest()
    assert device.closed
    assert device.calls == ["open", "close"]


def test_exclusive_on_closed_device_says_how_to_open():
    with pytest.raises(DeviceError, match="open"), Recorder()._exclusive():
        pass


def test_second_concurrent_exclusive_raises_device_busy():
    device = Recorder()
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with device._exclusive():
            inside.set()
            release.wait(5)

    with device:
        worker = threading.Thread(target=hold)
        worker.start()
        assert inside.wait(5)
        with pytest.raises(DeviceBusy) as info, device._exclusive():
            pass
        assert info.value.temporary
        release.set()
        worker.join(5)
        with device._exclusive():  # free again afterwards
            pass


# -- FingerprintImage ---------------------------------------------------------------------
def test_fingerprint_image_rejects_pixels_of_the_wrong_length():
    with pytest.raises(ValueError, match="expected 12"):
        FingerprintImage(4, 3, 500, bytes(11))


@pytest.mark.parametrize(("w", "h", "ppi"), [(0, 3, 500), (4, -1, 500), (4, 3, 0)])
def test_fingerprint_image_rejects_bad_geometry(w, h, ppi):
    with pytest.raises(ValueError):
        FingerprintImage(w, h, ppi, b"")


def test_fingerprint_png_is_grayscale_with_dpi_and_round_trips_exactly():
    pixels = bytes(range(256)) * 3
    image = FingerprintImage(32, 24, 500, pixels)
    png = image.to_png()
    with Image.open(io.BytesIO(png)) as decoded:
        assert decoded.mode == "L"
        assert decoded.size == (32, 24)
        assert round(decoded.info["dpi"][0]) == 500
    assert FingerprintImage.from_png(png) == image


def test_fingerprint_to_array_has_rows_of_width():
    image = FingerprintImage(3, 2, 500, bytes([1, 2, 3, 4, 5, 6]))
    assert image.to_array().tolist() == [[1, 2, 3], [4, 5, 6]]


# -- Photo and Frame ----------------------------------------------------------------------
def test_photo_requires_jpeg_bytes():
    with pytest.raises(ValueError, match="JPEG"):
        Photo(480, 640, b"\x89PNG\r\n")


def test_frame_rejects_rgb_of_the_wrong_length():
    with pytest.raises(ValueError):
        Frame(2, 2, bytes(11))
    assert Frame(2, 2, bytes(12)).width == 2
