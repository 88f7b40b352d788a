"""Fingerprint quality 0-100 with reasons: good prints pass, each kind of bad print is refused
with its own instruction; thresholds come from config."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiosk.config import load_config
from kiosk.enrollment.fingerprint_quality import (
    REASONS,
    FingerprintThresholds,
    assess_fingerprint,
)
from kiosk.i18n import translate
from tests.fingerprint_samples import (
    H,
    W,
    as_sensor,
    blank,
    blurred,
    faint,
    good,
    noisy,
    partial,
    smudged,
)


def test_simulated_prints_pass_with_a_high_score() -> None:
    scores = []
    for person in range(3):
        for finger in range(10):
            a = assess_fingerprint(as_sensor(good(person, finger)), W, H)
            assert a.ok, (person, finger, a)
            scores.append(a.score)
    assert min(scores) >= 70  # far above MOSIP's 40


@pytest.mark.parametrize(("make", "reason"), [
    (blank, "blank"),
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
