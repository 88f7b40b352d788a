"""Fingerprint quality 0-100 with reasons: good prints pass, each kind of bad print is refused
with its own instruction; thresholds come from config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

from kiosk.config import load_config
from kiosk.enrollment.fingerprint_quality import (
    REASONS,
    FingerprintThresholds,
    assess_fingerprint,
)
from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.sim import SimFingerprint
from kiosk.i18n import translate

W, H = 256, 288


def good(person: int = 1, finger: int = 3) -> np.ndarray:
    pixels = SimFingerprint().generate(finger, person=person).pixels
    return np.frombuffer(pixels, np.uint8).reshape(H, W).astype(float)


def as_sensor(img: np.ndarray) -> bytes:
    """To the ZFM's 16 levels, as the sensor would deliver it."""
    return zp.unpack_image(zp.pack_image(np.clip(img, 0, 255).astype(np.uint8).tobytes()))


def test_simulated_prints_pass_with_a_high_score() -> None:
    scores = []
    for person in range(3):
        for finger in range(10):
            a = assess_fingerprint(as_sensor(good(person, finger)), W, H)
            assert a.ok, (person, finger, a)
            scores.append(a.score)
    assert min(scores) >= 70  # far above MOSIP's 40


def partial() -> np.ndarray:
    img = good()
    img[:, :170] = 230  # only a strip of the finger on the glass
    img[:100] = 230
    return img


def smudged() -> np.ndarray:
    img = good()
    yy, xx = np.mgrid[0:H, 0:W]
    blot = (xx - 128) ** 2 + (yy - 150) ** 2 < 70**2
    img[blot] = 40  # ridges merged into one dark blot
    return img


def faint() -> np.ndarray:
    return 200 + (good() - 200) * 0.15


def noisy() -> np.ndarray:
    return 200 + np.random.default_rng(0).normal(0, 30, (H, W))


def blurred() -> np.ndarray:
    image = Image.fromarray(good().astype(np.uint8)).filter(ImageFilter.GaussianBlur(4))
    return np.asarray(image, float)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda: np.full((H, W), 230.0), "blank"),
    (partial, "area"),
    (smudged, "smudged"),
    (faint, "contrast"),
    (noisy, "clarity"),
    (blurred, "area"),
], ids=["blank", "partial", "smudged", "faint", "noise", "blurred"])
def test_a_bad_print_is_refused_with_its_reason(make: object, reason: str) -> None:
    a = assess_fingerprint(as_sensor(make()), W, H)  # type: ignore[operator]
    assert not a.ok
    assert a.reasons[0] == reason
    report = a.report
    assert not report.ok and report.score == a.score
    assert report.reason_en == REASONS[reason]
    assert report.reason_id == translate(REASONS[reason], "id") != REASONS[reason]


def test_every_reason_has_its_indonesian() -> None:
    for msgid in REASONS.values():
        assert translate(msgid, "id") != msgid


def test_a_damaged_image_scores_zero() -> None:
    a = assess_fingerprint(b"\x00" * 10, W, H)
    assert (a.score, a.reasons) == (0, ("damaged",))


def test_the_pass_mark_comes_from_config(tmp_path: Path) -> None:
    pixels = as_sensor(good())
    score = assess_fingerprint(pixels, W, H).score
    strict = FingerprintThresholds(min_score=score + 1)
    assert assess_fingerprint(pixels, W, H, strict).reasons == ("score",)
    config = load_config(None, system_path=tmp_path / "none.toml")
    limits = FingerprintThresholds.from_config(config["fingerprints"])
    assert limits.min_score == 40  # MOSIP's registration client, for fingers
    assert limits == FingerprintThresholds()
