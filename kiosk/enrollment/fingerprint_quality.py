"""Fingerprint quality, 0-100, with the reasons a person can act on.

NFIQ 2 (NIST, ISO/IEC 29794-4) is the reference score for 500 ppi plain impressions, and
MOSIP's registration client refuses a finger under 40 on it (its server classifier wants 80).
The kiosk does not run NFIQ 2 (NIST's C++ program, with no Debian package); this is a smaller
score on the same 0-100 range, though not the same scale (README's "Against NFIQ 2" compares
the two, ``benchmarks/compare_nfiq2.py``), built from measures that each name something the
citizen can fix:

* **area**: the share of the image in 16 x 16 blocks that show ridges (local contrast
  of at least 15 gray levels).
  A fingertip laid flat on a ZFM's 13 x 15 mm window covers 60-80 %; a tip touched on an
  edge, 20-30 %. -> "Press the whole fingertip down."
* **contrast**: the median local contrast of those blocks (gray levels). A finger barely
  touching, or very dry, gives faint ridges. -> "Press a little harder."
* **clarity**: the mean ridge-orientation coherence of those blocks (gradient structure
  tensor): parallel ridges give about 0.7, noise or smeared ridges about 0.1.
  -> "Wipe your finger and the sensor."
* **smudge**: the share of the finger's area that is dark and flat, ridges merged into a
  blot (a wet or greasy finger, pressed too hard, or a dirty window). -> "Dry your finger."

The score is ``100 * area^0.3 * contrast^0.3 * clarity^0.4 * (1 - 2 smudge)``, each measure
first scaled to 0-1 between "useless" and "good" (area 0.1-0.75, contrast 6-45 gray levels,
clarity 0.1-0.75): a weighted geometric mean, so one useless measure sinks the score.
A capture passes when the score reaches ``min_score`` (MOSIP's 40 by default) *and* no
measure is below its own floor; the first failing measure, in the order above, is the one
instruction the citizen is shown. On the simulated sensor's prints (4-bit, like the ZFM)
good impressions score 86-100 (4 people x 10 fingers; the test holds them to at least 70,
``tests/unit/enrollment/test_fingerprint_quality.py``), graded bad ones as README's "Against
NFIQ 2" table shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kiosk.enrollment.fingerprint_options import OPTIONS
from kiosk.enrollment.quality import QualityReport
from kiosk.i18n import N_, bilingual

__all__ = ["REASONS", "FingerprintAssessment", "FingerprintThresholds", "assess_fingerprint"]

#: Reason code -> the one instruction the citizen reads (English msgid; Indonesian in the
#: catalogue). The order is the order of priority.
REASONS: dict[str, str] = {
    "damaged": N_("The fingerprint image is damaged. Please try again."),
    "blank": N_("No fingerprint seen. Place your finger on the sensor."),
    "area": N_("Too little of the finger touches. Press the whole fingertip down."),
    "smudged": N_("The print is smudged. Dry your finger and wipe the sensor, then try "
                  "again."),
    "contrast": N_("The print is too faint. Press a little harder."),
    "clarity": N_("The ridges are not clear. Wipe your finger and the sensor, then try again."),
    "score": N_("The print is not clear enough. Place the finger flat and still, then try "
                "again."),
}


@dataclass(frozen=True)
class FingerprintThresholds:
    """Limits for :func:`assess_fingerprint` (config ``[fingerprints]``; defaults for 500 ppi
    optical sensors at 16 levels, like the ZFM)."""

    #: The pass mark, 0-100, and the measures' limits: the config's defaults
    #: (:mod:`kiosk.enrollment.fingerprint_options`, which says what each is).
    min_score: int = OPTIONS["min_quality"].default
    min_area: float = OPTIONS["min_area"].default
    min_contrast: float = OPTIONS["min_contrast"].default
    min_clarity: float = OPTIONS["min_clarity"].default
    max_smudge: float = OPTIONS["max_smudge"].default
    # Fixed parts of the measures, not configuration: the block size (about 1.5 ridge
    # periods at 500 ppi), the local contrast that marks finger area, the gray level under
    # which a flat block counts as a blot.
    min_side: int = 64
    block: int = 16
    # 15: a 4-bit sensor's background flickers between two levels (17 apart), which alone
    # gives a block up to about 9 of deviation; ridges give 25-55.
    block_std: float = 15.0
    blot_level: float = 110.0

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> FingerprintThresholds:
        """From the ``[fingerprints]`` config section."""
        return cls(min_score=int(section["min_quality"]), min_area=section["min_area"],
                   min_contrast=section["min_contrast"], min_clarity=section["min_clarity"],
                   max_smudge=section["max_smudge"])


@dataclass(frozen=True)
class FingerprintAssessment:
    """The score (0-100), every measure, and the reasons a capture fails (codes of
    :data:`REASONS`, most important first; empty when it passes)."""

    score: int
    area: float
    contrast: float
    clarity: float
    smudge: float
    reasons: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def report(self) -> QualityReport:
        """As the session's :class:`QualityReport` (score 0-100), the first reason as its
        bilingual instruction."""
        if self.ok:
            return QualityReport(True, float(self.score), "", "")
        return QualityReport(False, float(self.score), *bilingual(REASONS[self.reasons[0]]))


def _scaled(value: float, useless: float, good: float) -> float:
    return min(1.0, max(0.0, (value - useless) / (good - useless)))


def assess_fingerprint(pixels: bytes, width: int, height: int,
                       limits: FingerprintThresholds | None = None) -> FingerprintAssessment:
    """Judge an 8-bit gray, row-major fingerprint image (dark ridges on a light ground)."""
    import numpy as np

    limits = limits or FingerprintThresholds()
    if width < limits.min_side or height < limits.min_side or len(pixels) != width * height:
        return FingerprintAssessment(0, 0.0, 0.0, 0.0, 0.0, ("damaged",))
    img = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width).astype(np.float64)
    b = limits.block
    rows, cols = height // b, width // b
    img = img[: rows * b, : cols * b]
    tiles = img.reshape(rows, b, cols, b).swapaxes(1, 2)
    local = tiles.std(axis=(2, 3))
    means = tiles.mean(axis=(2, 3))
    finger = local >= limits.block_std
    if not finger.any():
        # Something on the glass but no ridges anywhere: a finger barely touching (faint);
        # under a quarter of a 4-bit step of variation: nothing at all.
        faint = float(img.std()) >= 4.0
        return FingerprintAssessment(0, 0.0, round(float(np.median(local)), 1), 0.0, 0.0,
                                     ("contrast",) if faint else ("blank",))
    area = float(finger.mean())
    contrast = float(np.median(local[finger]))
    gy, gx = np.gradient(img)

    def block_sum(a: np.ndarray) -> np.ndarray:
        return a.reshape(rows, b, cols, b).sum(axis=(1, 3))

    gxx, gyy, gxy = block_sum(gx * gx), block_sum(gy * gy), block_sum(gx * gy)
    coherence = np.sqrt((gxx - gyy) ** 2 + 4 * gxy**2) / np.maximum(gxx + gyy, 1e-9)
    clarity = float(coherence[finger].mean())
    # A blot: dark and flat. Counted over the finger's rows and columns (its bounding box),
    # since a blot has no ridges and so is not "finger area" itself.
    ys, xs = np.nonzero(finger)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    blot = (~finger[box]) & (means[box] < limits.blot_level)
    smudge = float(blot.sum()) / float(blot.size)
    # A weighted geometric mean: one useless measure makes a useless print, however good
    # the others are.
    quality = (_scaled(area, 0.1, 0.75) ** 0.3 * _scaled(contrast, 6.0, 45.0) ** 0.3
               * _scaled(clarity, 0.1, 0.75) ** 0.4)
    score = round(100 * quality * max(0.0, 1.0 - 2.0 * smudge))
    reasons = [code for code, failed in (
        ("area", area < limits.min_area),
        ("smudged", smudge > limits.max_smudge),
        ("contrast", contrast < limits.min_contrast),
        ("clarity", clarity < limits.min_clarity),
        ("score", score < limits.min_score),
    ) if failed]
    return FingerprintAssessment(score, round(area, 3), round(contrast, 1), round(clarity, 3),
                                 round(smudge, 3), tuple(reasons))
