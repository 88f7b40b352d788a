"""Capture quality gates: fingerprints, portraits, signatures."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from kiosk.enrollment.quality import (
    FingerprintThresholds,
    QualityReport,
    fingerprint_quality,
    portrait_quality,
    signature_quality,
)

W, H = 256, 288  # a 500 ppi optical sensor's window, about 13 x 15 mm


def ridge_image(*, period: float = 9.0, invert: bool = False, straight: bool = False,
                noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Dark/light ridges inside a fingertip-shaped ellipse on a light background."""
    y, x = np.mgrid[0:H, 0:W]
    distance = x + 0.3 * y if straight else np.hypot(x - W / 2, (y - H / 2) * 1.2)
    ridges = 128 + 90 * np.sin(2 * np.pi * distance / period)
    if invert:
        ridges = 255 - ridges
    ridges += np.random.default_rng(seed).normal(0, noise, ridges.shape) if noise else 0
    finger = ((x - W / 2) / (W * 0.42)) ** 2 + ((y - H / 2) / (H * 0.45)) ** 2 < 1
    return np.clip(np.where(finger, ridges, 235), 0, 255).astype(np.uint8)


def judge(img: np.ndarray) -> QualityReport:
    return fingerprint_quality(img.tobytes(), img.shape[1], img.shape[0])


@pytest.mark.parametrize("img", [
    ridge_image(),
    ridge_image(invert=True),
    ridge_image(straight=True),
    ridge_image(period=12),
    ridge_image(noise=25, seed=3),
], ids=["whorl", "inverted", "straight", "wide", "noisy"])
def test_fingerprint_with_ridges_is_accepted(img: np.ndarray) -> None:
    report = judge(img)
    assert report.ok, report
    assert report.score > 0.7
    assert report.reason_id == report.reason_en == ""


rng = np.random.default_rng(7)
corner = np.full((H, W), 235, np.uint8)
corner[:48, :48] = ridge_image()[120:168, 100:148]


@pytest.mark.parametrize(("img", "word"), [
    (np.full((H, W), 255, np.uint8), "No fingerprint"),
    (np.zeros((H, W), np.uint8), "No fingerprint"),
    (np.full((H, W), 128, np.uint8), "No fingerprint"),
    (rng.integers(0, 256, (H, W), dtype=np.uint8), "ridges are not clear"),
    (np.clip(128 + rng.normal(0, 40, (H, W)), 0, 255).astype(np.uint8), "ridges are not clear"),
    (corner, "Too little of the finger"),
], ids=["white", "black", "gray", "noise", "smudge", "corner"])
def test_fingerprint_without_ridges_is_rejected(img: np.ndarray, word: str) -> None:
    report = judge(img)
    assert not report.ok
    assert word in report.reason_en
    assert report.reason_id and report.reason_id != report.reason_en


def test_fingerprint_rejects_a_buffer_of_the_wrong_size() -> None:
    img = ridge_image()
    assert not fingerprint_quality(img.tobytes()[:-1], W, H).ok
    assert not fingerprint_quality(img[:32, :32].tobytes(), 32, 32).ok


def test_fingerprint_thresholds_are_adjustable() -> None:
    noisy = np.clip(128 + rng.normal(0, 40, (H, W)), 0, 255).astype(np.uint8)
    lenient = FingerprintThresholds(min_coherence=0.0)
    assert fingerprint_quality(noisy.tobytes(), W, H, lenient).ok


def encode(image: Image.Image, fmt: str = "JPEG") -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def portrait(brightness: int = 0) -> Image.Image:
    """A face-ish drawing: gray background, skin oval, dark eyes and hair."""
    img = Image.new("RGB", (480, 640), (150 + brightness, 160 + brightness, 170 + brightness))
    draw = ImageDraw.Draw(img)
    draw.ellipse((120, 120, 360, 460), fill=(200, 160, 130))
    draw.ellipse((110, 80, 370, 230), fill=(30, 25, 20))
    draw.ellipse((170, 260, 210, 290), fill=(20, 20, 20))
    draw.ellipse((270, 260, 310, 290), fill=(20, 20, 20))
    draw.rectangle((0, 520, 480, 640), fill=(40, 60, 120))
    return img


def test_portrait_of_a_face_is_accepted() -> None:
    report = portrait_quality(encode(portrait()))
    assert report.ok, report
    assert 0 < report.score <= 1


@pytest.mark.parametrize(("data", "word"), [
    (encode(Image.new("RGB", (480, 640), (5, 5, 5))), "too dark"),
    (encode(Image.new("RGB", (480, 640), (250, 250, 250))), "too bright"),
    (encode(Image.new("RGB", (480, 640), (120, 130, 125))), "blank"),
    (encode(portrait().resize((100, 120))), "too small"),
    (b"\xff\xd8\xff\xe0 not really a jpeg", "cannot be read"),
    (b"", "cannot be read"),
], ids=["dark", "bright", "uniform", "small", "garbage", "empty"])
def test_portrait_problems_are_rejected(data: bytes, word: str) -> None:
    report = portrait_quality(data)
    assert not report.ok
    assert word in report.reason_en
    assert report.reason("id") == report.reason_id


def signature(strokes: int = 1, mode: str = "L") -> bytes:
    img = Image.new(mode, (600, 200), 255 if mode == "L" else (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    ink = 0 if mode == "L" else (0, 0, 0, 255)
    for n in range(strokes):
        draw.line((40, 120 + n, 300, 60 + n, 560, 140 + n), fill=ink, width=4)
    return encode(img, "PNG")


@pytest.mark.parametrize("data", [signature(), signature(mode="RGBA")],
                         ids=["gray", "transparent-pad"])
def test_signature_with_ink_is_accepted(data: bytes) -> None:
    assert signature_quality(data).ok


@pytest.mark.parametrize(("data", "word"), [
    (signature(strokes=0), "empty"),
    (signature(strokes=0, mode="RGBA"), "empty"),
    (encode(Image.new("L", (600, 200), 0), "PNG"), "not clear"),  # all ink
    (encode(Image.new("L", (600, 200), 255)), "cannot be read"),  # a JPEG, not a PNG
    (b"\x89PNG\r\n\x1a\n truncated", "cannot be read"),
    (b"", "cannot be read"),
], ids=["blank", "blank-transparent", "black", "jpeg", "truncated", "empty"])
def test_signature_problems_are_rejected(data: bytes, word: str) -> None:
    report = signature_quality(data)
    assert not report.ok
    assert word in report.reason_en


def test_signature_covered_in_ink_is_rejected() -> None:
    img = Image.new("L", (600, 200), 255)
    ImageDraw.Draw(img).rectangle((0, 0, 420, 200), fill=0)
    report = signature_quality(encode(img, "PNG"))
    assert not report.ok and "not clear" in report.reason_en
