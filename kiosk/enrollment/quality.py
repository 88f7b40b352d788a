"""Simple, honest image checks run before a capture is accepted.

These are gates against the obvious failures a person can fix by trying again (no finger on
the sensor, a smudge, a covered or dazzled camera, an empty signature pad). They are *not*
NFIQ or a face detector and do not claim to be: a capture that passes may still be a poor
one, and the central system runs its own quality assessment.

Fingerprint check, on 8-bit gray pixels (dark ridges on a light background or the reverse):

1. contrast: global standard deviation, else the image is blank;
2. coverage: the share of 16x16 blocks with local contrast (finger area on the sensor);
3. ridge structure: the mean orientation *coherence* of those blocks from the gradient
   structure tensor. Parallel ridges give coherence near 1; noise or a smudge gives ~0.1.

Every threshold lives in a dataclass with its default, so config can override it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

__all__ = [
    "FingerprintThresholds",
    "PortraitThresholds",
    "QualityReport",
    "SignatureThresholds",
    "fingerprint_quality",
    "portrait_quality",
    "signature_quality",
]

# A 24-megapixel ceiling: far above any kiosk camera, far below a decompression bomb.
_MAX_PIXELS = 24_000_000
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class QualityReport:
    """The verdict on one capture: ``reason_*`` is what to tell the person (empty when ok)."""

    ok: bool
    score: float
    reason_id: str
    reason_en: str

    def reason(self, language: str) -> str:
        """The reason in ``language`` ("id" or "en")."""
        return self.reason_en if language == "en" else self.reason_id


def _accept(score: float) -> QualityReport:
    return QualityReport(True, round(float(score), 3), "", "")


def _reject(score: float, reason_id: str, reason_en: str) -> QualityReport:
    return QualityReport(False, round(float(score), 3), reason_id, reason_en)


@dataclass(frozen=True)
class FingerprintThresholds:
    """Limits for :func:`fingerprint_quality` (defaults suit 500 ppi optical sensors)."""

    min_side: int = 64          # px; smaller cannot hold a usable fingerprint at 500 ppi
    min_std: float = 12.0       # gray levels; below this the sensor saw nothing
    block: int = 16             # px; about 1.5 ridge periods at 500 ppi
    block_std: float = 8.0      # gray levels of local contrast that mark finger area
    min_coverage: float = 0.25  # share of blocks that must be finger area
    min_coherence: float = 0.3  # mean ridge-orientation coherence over finger blocks


@dataclass(frozen=True)
class PortraitThresholds:
    """Limits for :func:`portrait_quality`."""

    min_width: int = 160
    min_height: int = 160
    min_mean: float = 50.0      # mean luma below this: too dark
    max_mean: float = 215.0     # mean luma above this: too bright
    min_std: float = 15.0       # luma std-dev below this: uniform (covered lens, a wall)
    max_clipped: float = 0.35   # share of fully black or fully white pixels


@dataclass(frozen=True)
class SignatureThresholds:
    """Limits for :func:`signature_quality`."""

    min_ink: float = 0.002      # share of pixels darker than the background (a stroke)
    max_ink: float = 0.6        # a pad covered in ink is a palm, not a signature


def fingerprint_quality(pixels: bytes, width: int, height: int,
                        limits: FingerprintThresholds | None = None) -> QualityReport:
    """Judge an 8-bit gray, row-major fingerprint image."""
    limits = limits or FingerprintThresholds()
    if width < limits.min_side or height < limits.min_side or len(pixels) != width * height:
        return _reject(0.0, "Gambar sidik jari rusak. Silakan ulangi.",
                       "The fingerprint image is damaged. Please try again.")
    img = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width).astype(np.float64)
    if float(img.std()) < limits.min_std:
        return _reject(0.0, "Sidik jari tidak terbaca. Letakkan jari di atas sensor.",
                       "No fingerprint seen. Place your finger on the sensor.")
    b = limits.block
    rows, cols = height // b, width // b
    tiles = img[: rows * b, : cols * b].reshape(rows, b, cols, b).swapaxes(1, 2)
    finger = tiles.std(axis=(2, 3)) >= limits.block_std
    coverage = float(finger.mean())
    gy, gx = np.gradient(img[: rows * b, : cols * b])

    def block_sum(a: np.ndarray) -> np.ndarray:
        return a.reshape(rows, b, cols, b).sum(axis=(1, 3))

    gxx, gyy, gxy = block_sum(gx * gx), block_sum(gy * gy), block_sum(gx * gy)
    energy = gxx + gyy
    coherence = np.sqrt((gxx - gyy) ** 2 + 4 * gxy**2) / np.maximum(energy, 1e-9)
    mean_coherence = float(coherence[finger].mean()) if finger.any() else 0.0
    score = 0.5 * min(coverage / 0.8, 1.0) + 0.5 * min(mean_coherence / 0.7, 1.0)
    if coverage < limits.min_coverage:
        return _reject(score, "Jari kurang menempel. Tekan seluruh ujung jari ke sensor.",
                       "Too little of the finger touches. Press the whole fingertip down.")
    if mean_coherence < limits.min_coherence:
        return _reject(score, "Guratan sidik jari tidak jelas. Bersihkan jari dan sensor, "
                       "lalu ulangi.",
                       "The ridges are not clear. Wipe your finger and the sensor, then "
                       "try again.")
    return _accept(score)


def _decode(data: bytes) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > _MAX_PIXELS:
            return None
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return image


def portrait_quality(jpeg: bytes, limits: PortraitThresholds | None = None) -> QualityReport:
    """Judge a portrait photo (JPEG or any Pillow-readable RGB image)."""
    limits = limits or PortraitThresholds()
    image = _decode(jpeg)
    if image is None:
        return _reject(0.0, "Foto tidak dapat dibaca. Silakan ulangi.",
                       "The photo cannot be read. Please try again.")
    if image.width < limits.min_width or image.height < limits.min_height:
        return _reject(0.0, "Foto terlalu kecil. Silakan ulangi.",
                       "The photo is too small. Please try again.")
    luma = np.asarray(image.convert("L"), dtype=np.float64)
    mean, std = float(luma.mean()), float(luma.std())
    clipped = float(((luma <= 2) | (luma >= 253)).mean())
    # Best around mid-gray with plenty of detail.
    score = max(0.0, 1.0 - abs(mean - 128.0) / 128.0) * min(std / 50.0, 1.0)
    if mean < limits.min_mean:
        return _reject(score, "Foto terlalu gelap. Hadap ke lampu.",
                       "The photo is too dark. Face the light.")
    if mean > limits.max_mean:
        return _reject(score, "Foto terlalu terang. Jauhi cahaya dari belakang.",
                       "The photo is too bright. Move away from light behind you.")
    if std < limits.min_std:
        return _reject(score, "Foto polos. Pastikan kamera tidak tertutup dan wajah terlihat.",
                       "The photo is blank. Make sure the camera is clear and your face "
                       "is in view.")
    if clipped > limits.max_clipped:
        return _reject(score, "Pencahayaan foto tidak rata. Silakan ulangi.",
                       "The photo is badly exposed. Please try again.")
    return _accept(score)


def signature_quality(png: bytes, limits: SignatureThresholds | None = None) -> QualityReport:
    """Judge a signature: a PNG, with some ink, not a filled pad."""
    limits = limits or SignatureThresholds()
    image = _decode(png) if png.startswith(_PNG_MAGIC) else None
    if image is None or image.format != "PNG":
        return _reject(0.0, "Tanda tangan tidak dapat dibaca. Silakan ulangi.",
                       "The signature cannot be read. Please sign again.")
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        # Ink on a transparent pad: composite on white so strokes count as dark.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    # Pads draw dark ink on white (transparent pads were composited on white above).
    ink = float((np.asarray(image.convert("L")) < 128).mean())
    score = min(ink / (limits.min_ink * 10), 1.0)
    if ink < limits.min_ink:
        return _reject(score, "Tanda tangan kosong. Silakan tanda tangan di kotak.",
                       "The signature is empty. Please sign in the box.")
    if ink > limits.max_ink:
        return _reject(score, "Tanda tangan tidak jelas. Hapus dan ulangi.",
                       "The signature is not clear. Clear it and sign again.")
    return _accept(score)
