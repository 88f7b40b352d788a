"""Capture quality gates: portraits (exposure) and signatures."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from kiosk.core import ektp
from kiosk.enrollment.quality import (
    PortraitThresholds,
    portrait_quality,
    portrait_quality_rgb,
    signature_quality,
)
from kiosk.hardware.camera.sim import SimCamera


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


# The drawings below have no face a detector finds: they test the exposure checks alone.
EXPOSURE_ONLY = PortraitThresholds(face=False)


def test_portrait_of_a_face_is_accepted() -> None:
    report = portrait_quality(encode(portrait()), EXPOSURE_ONLY)
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


# The e-KTP backgrounds the scene seats people before: luma 79 (red) and 80 (blue).
E_KTP_RED, E_KTP_BLUE = ektp.RED, ektp.BLUE


def luma_std(data: bytes) -> float:
    with Image.open(io.BytesIO(data)) as image:
        return float(np.asarray(image.convert("L"), dtype=np.float64).std())


def darker_skin_portrait(background: tuple[int, int, int] = E_KTP_RED) -> Image.Image:
    """Brown skin, dark brown hair, maroon clothes on the e-KTP background: all luma 38-90."""
    img = Image.new("RGB", (480, 640), background)
    draw = ImageDraw.Draw(img)
    draw.ellipse((20, 420, 460, 880), fill=(90, 30, 40))     # clothes
    draw.rectangle((192, 330, 288, 440), fill=(96, 64, 43))  # neck, in shadow
    draw.ellipse((135, 90, 345, 300), fill=(62, 44, 30))     # hair
    draw.ellipse((143, 115, 337, 378), fill=(120, 80, 54))   # face
    for x in (200, 280):                                     # eyes
        draw.ellipse((x - 8, 233, x + 8, 245), fill=(50, 35, 25))
    draw.chord((214, 310, 266, 330), 0, 180, fill=(150, 60, 60))  # mouth
    return img


@pytest.mark.parametrize("background", [E_KTP_RED, E_KTP_BLUE], ids=["red", "blue"])
def test_darker_skin_on_the_e_ktp_background_is_not_blank(
        background: tuple[int, int, int]) -> None:
    # The demo's face 41: in luma alone this photo is nearly flat (the backgrounds' luma
    # equals darker skin's), yet anyone sees the person. It must not be called blank.
    data = encode(darker_skin_portrait(background))
    assert luma_std(data) < PortraitThresholds().min_std  # what used to reject it
    report = portrait_quality(data, EXPOSURE_ONLY)
    assert report.ok, report


def backdrop(color: tuple[int, int, int], seed: int = 0) -> Image.Image:
    """The empty e-KTP backdrop: one colour, lit brighter at the top, plus sensor noise."""
    rows = np.linspace(1.0, 0.85, 640)[:, None, None]
    noise = np.random.default_rng(seed).normal(0, 6, (640, 480, 3))
    pixels = np.asarray(color, dtype=np.float64) * rows + noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


@pytest.mark.parametrize("color", [E_KTP_RED, E_KTP_BLUE, (200, 160, 130)],
                         ids=["red", "blue", "a-hand-over-the-lens"])
def test_an_empty_coloured_picture_is_still_blank(color: tuple[int, int, int]) -> None:
    report = portrait_quality(encode(backdrop(color)))
    assert not report.ok
    assert "blank" in report.reason_en


def raw(image: Image.Image) -> tuple[bytes, int, int]:
    return image.convert("RGB").tobytes(), image.width, image.height


def test_preview_frame_of_the_sim_camera_passes() -> None:
    with SimCamera(seed=1) as camera:
        frames = [camera.preview_frame() for _ in range(3)]
        camera.subject = 41  # darker skin on red: the demo's face 41
        frames.append(camera.preview_frame())
    for frame in frames:
        assert (frame.width, frame.height) == (320, 240)
        report = portrait_quality_rgb(frame.rgb, frame.width, frame.height)
        assert report.ok, report


@pytest.mark.parametrize(("color", "word"), [
    ((0, 0, 0), "too dark"),
    ((128, 128, 128), "blank"),
    ((255, 255, 255), "too bright"),
], ids=["black", "gray", "white"])
def test_preview_frame_problems_are_rejected(color: tuple[int, int, int], word: str) -> None:
    report = portrait_quality_rgb(bytes(color) * (320 * 240), 320, 240)
    assert not report.ok
    assert word in report.reason_en
    assert report.reason_id and report.reason_id != report.reason_en


def test_preview_frame_gets_the_same_verdict_as_the_same_still() -> None:
    for image in (portrait(), portrait(brightness=80), darker_skin_portrait(),
                  backdrop(E_KTP_BLUE)):
        lossless = encode(image, "PNG")
        assert portrait_quality_rgb(*raw(image)) == portrait_quality(lossless)


def test_preview_frame_has_its_own_size_floor() -> None:
    small = portrait().resize((120, 160))  # too small for a still, fine for a preview
    assert not portrait_quality(encode(small, "PNG"), EXPOSURE_ONLY).ok
    assert portrait_quality_rgb(*raw(small), EXPOSURE_ONLY).ok
    tiny = portrait().resize((48, 64))
    assert "too small" in portrait_quality_rgb(*raw(tiny)).reason_en
    lenient = PortraitThresholds(min_frame_side=32, face=False)
    assert portrait_quality_rgb(*raw(tiny), lenient).ok


@pytest.mark.parametrize(("size", "length"), [
    ((320, 240), 320 * 240 * 3 - 1),
    ((320, 240), 0),
    ((0, 240), 0),
    ((-320, 240), 320 * 240 * 3),
], ids=["short", "empty", "zero-width", "negative"])
def test_preview_frame_of_the_wrong_size_cannot_be_read(size: tuple[int, int],
                                                       length: int) -> None:
    report = portrait_quality_rgb(bytes(length), *size)
    assert not report.ok
    assert "cannot be read" in report.reason_en


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
