"""The pixel helpers the real camera backends share."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk.errors import ConfigError
from kiosk.hardware.camera import imaging


@pytest.mark.parametrize(("shape", "expected"), [
    ((480, 640), (480, 360)),   # landscape 4:3: sides trimmed
    ((720, 1280), (720, 540)),  # 16:9
    ((800, 300), (400, 300)),   # taller than 3:4: top and bottom trimmed
    ((640, 480), (640, 480)),   # already 3:4
])
def test_crop_portrait_keeps_the_largest_centred_3_by_4(shape, expected):
    image = np.zeros((*shape, 3), dtype=np.uint8)
    assert imaging.crop_portrait(image).shape[:2] == expected


def test_crop_portrait_is_centred():
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    image[:, 320] = 255
    cropped = imaging.crop_portrait(image)
    assert cropped[:, 180].min() == 255  # column 320 is the middle of 140..500


def test_rotate_turns_clockwise():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)  # [[0 1 2], [3 4 5]]
    assert imaging.rotate(image, 90).tolist() == [[3, 0], [4, 1], [5, 2]]
    assert imaging.rotate(image, 180).tolist() == [[5, 4, 3], [2, 1, 0]]
    assert imaging.rotate(image, 0) is image


@pytest.mark.parametrize(("width", "height"), [(320, 240), (320, 180), (64, 38)])
def test_yuv420_round_trip_keeps_colours(width, height):
    rng = np.random.default_rng(1)
    blocks = rng.integers(0, 256, size=(height // 2, width // 2, 3), dtype=np.uint8)
    rgb = blocks.repeat(2, axis=0).repeat(2, axis=1)  # flat 2x2 blocks: chroma is exact
    planar = imaging.rgb_to_yuv420(rgb)
    assert planar.shape == (height * 3 // 2, width)
    back = imaging.yuv420_to_rgb(planar, width, height)
    assert np.abs(back.astype(int) - rgb.astype(int)).max() <= 3


def test_yuv420_with_row_padding_ignores_the_padding():
    rgb = np.full((240, 320, 3), (10, 200, 30), dtype=np.uint8)
    planar = imaging.rgb_to_yuv420(rgb)
    # Re-lay the planes with a stride of 384 (picamera2 pads rows to the ISP's alignment).
    y, chroma = planar[:240], planar[240:].reshape(-1)
    u, v = chroma[:120 * 160].reshape(120, 160), chroma[120 * 160:].reshape(120, 160)
    pad = np.full((120, 192), 77, dtype=np.uint8)
    pu, pv = pad.copy(), pad.copy()
    pu[:, :160], pv[:, :160] = u, v
    padded_y = np.full((240, 384), 77, dtype=np.uint8)
    padded_y[:, :320] = y
    padded = np.concatenate([padded_y.reshape(-1), pu.reshape(-1), pv.reshape(-1)])
    back = imaging.yuv420_to_rgb(padded.reshape(360, 384), 320, 240)
    assert np.abs(back.astype(int) - rgb.astype(int)).max() <= 3


def test_yuv420_wrong_shape_is_a_value_error():
    with pytest.raises(ValueError, match="expected"):
        imaging.yuv420_to_rgb(np.zeros((240, 320), dtype=np.uint8), 320, 240)


def test_portrait_jpeg_has_the_asked_size():
    photo = imaging.portrait_jpeg(np.zeros((720, 1280, 3), dtype=np.uint8), (480, 640), 85)
    assert (photo.width, photo.height) == (480, 640) and photo.jpeg[:2] == b"\xff\xd8"


def test_checks_name_the_key():
    with pytest.raises(ConfigError) as info:
        imaging.check_rotation("camera", 45)
    assert info.value.key == "hardware.camera.rotation"
    with pytest.raises(ConfigError):
        imaging.check_size("hardware.camera.width", 641)
