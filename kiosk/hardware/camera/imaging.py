"""Pixel work the real camera backends share: orientation, the portrait crop, JPEG, YUV.

Pure numpy + Pillow, so it runs (and is tested) anywhere. Arrays are ``(height, width, 3)``
uint8 in RGB order unless a name says otherwise.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from kiosk.errors import ConfigError
from kiosk.hardware.base import Frame, Photo
from kiosk.options import Integer, Number, Option, check

#: A frame whose mean pixel value is below this is black: the lens covered or capped, no
#: light, or a dead sensor (the real backends' self-tests).
BLACK_MEAN = 3.0
#: The e-KTP portrait's aspect ratio, width:height.
PORTRAIT_ASPECT = (3, 4)
ROTATIONS = (0, 90, 180, 270)


def Pixels(default: int, lo: int = 16, hi: int = 8192, *,
           description: str = "") -> Option:
    """A pixel dimension: even (every YUV/JPEG path wants it) and within ``lo``-``hi``."""
    return Integer(default, test=lambda v: lo <= v <= hi and not v % 2,
                   allowed=f"an even number of pixels from {lo} to {hi}",
                   description=description)


#: The options every real camera backend shares: a 3:4 portrait still, a preview width, a
#: quarter-turn rotation, a capture timeout and the JPEG quality.
OUTPUT_OPTIONS: dict[str, Option] = {
    "still_width": Pixels(480, description="the portrait's width in pixels"),
    "still_height": Pixels(640, description="the portrait's height: 4/3 of its width"),
    "preview_width": Pixels(320, 64, 1920, description="the preview's width in pixels"),
    "rotation": Integer(0, choices=ROTATIONS, description=(
        "clockwise degrees, for a camera mounted sideways")),
    "timeout_s": Number(5.0, above=0, maximum=60, allowed="seconds, > 0 and <= 60",
                        description="every wait on the camera"),
    # 85: the usual trade-off, no visible artefacts at a third of q95's size.
    "jpeg_quality": Integer(85, 1, 100, allowed="1 to 100",
                            description="the portrait's JPEG quality"),
}


def check_portrait(still_width: int, still_height: int) -> None:
    """The still is a 3:4 portrait (each side alone: :data:`OUTPUT_OPTIONS`)."""
    if still_width * 4 != still_height * 3:
        raise ConfigError("hardware.camera.still_height", still_height,
                          f"{still_width * 4 // 3} (the e-KTP portrait is 3:4)")


def check_rotation(kind: str, rotation: int) -> int:
    """``rotation`` if it is a quarter turn; ConfigError naming ``hardware.<kind>.rotation``."""
    check(f"hardware.{kind}.rotation", OUTPUT_OPTIONS["rotation"], rotation, types=False)
    return rotation


def check_size(key: str, value: int, lo: int = 16, hi: int = 8192) -> int:
    """A pixel dimension: even (every YUV/JPEG path wants it) and within ``lo``-``hi``."""
    check(key, Pixels(value, lo, hi), value, types=False)
    return value


def rotate(array: np.ndarray, degrees: int) -> np.ndarray:
    """Turn the image clockwise by ``degrees`` (a camera mounted turned the other way)."""
    # np.rot90 turns counter-clockwise for positive k.
    return np.rot90(array, k=-(degrees // 90) % 4) if degrees else array


def crop_portrait(array: np.ndarray) -> np.ndarray:
    """The largest centred 3:4 (portrait) window of an image of any shape."""
    height, width = array.shape[:2]
    aw, ah = PORTRAIT_ASPECT
    if width * ah > height * aw:  # wider than 3:4: trim the sides
        new_w = height * aw // ah
        x0 = (width - new_w) // 2
        return array[:, x0:x0 + new_w]
    new_h = width * ah // aw  # taller than 3:4: trim top and bottom
    y0 = (height - new_h) // 2
    return array[y0:y0 + new_h, :]


def portrait_jpeg(rgb: np.ndarray, size: tuple[int, int], quality: int) -> Photo:
    """Centre-crop ``rgb`` to 3:4, scale it to ``size`` (width, height), encode as JPEG."""
    image = Image.fromarray(np.ascontiguousarray(crop_portrait(rgb)), "RGB")
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality)
    return Photo(size[0], size[1], out.getvalue())


def to_frame(rgb: np.ndarray) -> Frame:
    """A packed RGB :class:`Frame` from an ``(h, w, 3)`` array (any strides)."""
    height, width = rgb.shape[:2]
    return Frame(width, height, np.ascontiguousarray(rgb, dtype=np.uint8).tobytes())


def yuv420_to_rgb(planar: np.ndarray, width: int, height: int) -> np.ndarray:
    """Convert picamera2's YUV420 array to RGB (full-range BT.601, the sYCC/JPEG matrix).

    ``capture_array`` returns YUV420 as a ``(height * 3 // 2, stride)`` uint8 array: ``height``
    rows of Y, then the U plane and the V plane, each ``height // 2`` rows of ``width // 2``
    samples packed two to a row of the array. ``stride`` may exceed ``width`` (row padding).
    """
    if planar.ndim != 2 or planar.shape[0] != height * 3 // 2 or planar.shape[1] < width:
        raise ValueError(f"YUV420 array of shape {planar.shape}; expected "
                         f"({height * 3 // 2}, >= {width}) for {width}x{height}")
    stride = planar.shape[1]
    y = planar[:height, :width].astype(np.float32)
    # The chroma planes are stored contiguously with half the stride per chroma row.
    chroma = planar[height:].reshape(-1)
    half = (stride // 2) * (height // 2)
    u = chroma[:half].reshape(height // 2, stride // 2)[:, :width // 2]
    v = chroma[half:2 * half].reshape(height // 2, stride // 2)[:, :width // 2]
    u = u.repeat(2, axis=0).repeat(2, axis=1).astype(np.float32) - 128.0
    v = v.repeat(2, axis=0).repeat(2, axis=1).astype(np.float32) - 128.0
    rgb = np.empty((height, width, 3), dtype=np.float32)
    rgb[..., 0] = y + 1.402 * v
    rgb[..., 1] = y - 0.344136 * u - 0.714136 * v
    rgb[..., 2] = y + 1.772 * u
    return np.clip(rgb, 0, 255).astype(np.uint8)


def rgb_to_yuv420(rgb: np.ndarray) -> np.ndarray:
    """The inverse of :func:`yuv420_to_rgb` (no padding): for fakes and tests."""
    f = rgb.astype(np.float32)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    v = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    height, width = y.shape

    def sub(plane: np.ndarray) -> np.ndarray:  # 2x2 average, flattened
        return plane.reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)).reshape(-1)

    out = np.concatenate([y.reshape(-1), sub(u), sub(v)]).reshape(height * 3 // 2, width)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
