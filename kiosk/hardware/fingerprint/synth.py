"""Synthetic fingerprint impressions for the simulated scanner (and demos, tests, benchmarks).

The pattern is drawn from a *phase field*: ridges are ``cos(2*pi*f/T + minutiae)`` where
``f`` is a distance-like function whose level lines have the shape of a real pattern class
(the Larkin & Fletcher view of fingerprints as holograms):

* loop: the distance to a ray leaving the core towards one lower corner, so ridges come in
  from one side, turn around the core and leave on the same side;
* whorl: an elliptical distance from the core plus an optional one-turn spiral;
* arch / tented arch: horizontal lines with a hump (broad or sharp) in the middle.

Below the pattern area ``f`` blends into horizontal lines (the ridges near the first
crease); where the two disagree the blend makes the deltas. Minutiae (ridge endings and
bifurcations) are spiral phase terms ``+-atan2``, summed as the argument of one complex
product because that is much cheaper than one ``arctan2`` each.

Every impression of the same finger shares the finger's pattern, period and minutiae; it
differs in placement, rotation, pressure, dry patches and noise. Everything is seeded, so
``(seed, finger, impression)`` always gives the same bytes. About 4 ms per image on a
laptop core; the budget on a Pi 4 is 20 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from kiosk.hardware.fingerprint import zfm_protocol as zp

# Pattern classes with roughly their share of real fingers (loops ~65 %, whorls ~30 %,
# arches ~5 %).
_PATTERNS = ("loop_left", "loop_right", "whorl", "arch", "tented_arch")
_PATTERN_P = (0.33, 0.32, 0.29, 0.03, 0.03)


@dataclass(frozen=True)
class FingerPattern:
    """What stays the same between impressions of one finger."""

    kind: str
    period: float  # ridge period in pixels; 8-10 px at 500 ppi (0.4-0.5 mm)
    core: tuple[float, float]  # relative to the image centre, pixels
    axis: tuple[float, float]  # loop: unit vector core -> where the ridges leave
    spiral: int  # whorl: -1, 0 or +1 turns
    hump: tuple[float, float]  # arch: height and width of the hump, pixels
    minutiae: tuple[tuple[float, float, int], ...]  # (x, y, +-1)
    wobble: tuple[tuple[float, float, float, float], ...]  # (kx, ky, phase, amplitude)


def finger_pattern(seed: int, finger: int) -> FingerPattern:
    """The pattern of finger ``finger`` of the person (or device) ``seed``."""
    rng = np.random.default_rng([seed & 0xFFFFFFFF, finger & 0xFFFFFFFF, 0xF1])
    kind = str(rng.choice(_PATTERNS, p=_PATTERN_P))
    angle = np.radians(rng.uniform(55, 75))  # loops leave towards a lower corner
    side = -1.0 if kind == "loop_left" else 1.0
    # Minutiae in +/- pairs a few ridges apart: a pair's phase disturbance fades quickly
    # with distance, so the ridge period elsewhere stays what it should be.
    minutiae = []
    for _ in range(int(rng.integers(9, 18))):
        r = np.sqrt(rng.uniform(0, 1))
        t = rng.uniform(0, 2 * np.pi)
        x, y = r * 110 * np.cos(t), r * 140 * np.sin(t)
        gap, turn = rng.uniform(15, 40), rng.uniform(0, 2 * np.pi)
        sign = int(rng.choice((-1, 1)))
        minutiae.append((float(x), float(y), sign))
        minutiae.append((float(x + gap * np.cos(turn)), float(y + gap * np.sin(turn)), -sign))
    wobble = tuple(
        (float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03)),
         float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(1.0, 3.0)))
        for _ in range(3))
    # Hump height and width. The steepest flank (about 0.6 * height / width) is kept
    # under ~0.75, or ridges on the flanks would crowd to well under the ridge period.
    hump = (float(rng.uniform(15, 30)), float(rng.uniform(45, 70)))
    if kind == "tented_arch":
        hump = (float(rng.uniform(25, 35)), float(rng.uniform(28, 36)))
    return FingerPattern(
        kind=kind,
        period=float(rng.uniform(8.3, 10.0)),
        core=(float(rng.uniform(-20, 20)), float(rng.uniform(-45, 0))),
        axis=(float(side * np.cos(angle)), float(np.sin(angle))),
        spiral=int(rng.choice((-1, 0, 1))),
        hump=hump,
        minutiae=tuple(minutiae),
        wobble=wobble,
    )


@lru_cache(maxsize=4)
def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs -= (width - 1) / 2
    ys -= (height - 1) / 2
    xs.setflags(write=False)
    ys.setflags(write=False)
    return xs, ys


def _level_function(p: FingerPattern, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The distance-like function whose level lines are the ridges (pixels)."""
    u = x - p.core[0]
    v = y - p.core[1]
    if p.kind.startswith("loop"):
        ax, ay = p.axis
        t = np.maximum(u * ax + v * ay, 0.0)
        f = np.hypot(u - t * ax, v - t * ay)
    elif p.kind == "whorl":
        f = np.hypot(u, v * 0.85)
    else:  # arches: no core; the hump sits at the core's x
        height, width = p.hump
        f = v + height * np.exp(-(u * u) / (2 * width * width))
    # Below the pattern, blend into horizontal ridges; the conflict zone forms the deltas.
    # The blend stays low (near the crease): where it happens, ridges spread or crowd
    # because the two functions disagree.
    below = 1.0 / (1.0 + np.exp(-(v - 95.0) / 20.0))
    f = (1.0 - below) * f + below * v
    for kx, ky, phase, amp in p.wobble:
        f = f + amp * np.cos(kx * x + ky * y + phase)
    return f


def _spiral_phase(p: FingerPattern, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Scaled so every factor's magnitude stays below ~3 and the product of a few dozen
    # factors neither overflows nor underflows complex64; only the argument matters.
    scale = np.float32(1 / 150)
    z = (x * scale + 1j * (y * scale)).astype(np.complex64)
    product = np.ones_like(z)
    terms = list(p.minutiae)
    if p.kind == "whorl" and p.spiral:
        terms.append((p.core[0], p.core[1], p.spiral))
    d = np.empty_like(z)
    for mx, my, sign in terms:
        np.subtract(z, np.complex64(complex(mx, my) / 150), out=d)
        if sign < 0:
            np.conjugate(d, out=d)
        product *= d
    return np.angle(product)


def render(seed: int, finger: int, impression: int = 0, *,
           width: int = zp.IMAGE_WIDTH, height: int = zp.IMAGE_HEIGHT) -> bytes:
    """One impression as ``width * height`` 8-bit gray pixels (dark ridges, light ground)."""
    pattern = finger_pattern(seed, finger)
    rng = np.random.default_rng([seed & 0xFFFFFFFF, finger & 0xFFFFFFFF,
                                 impression & 0xFFFFFFFF, 0x1A])
    xs, ys = _grid(width, height)
    # Placement of this impression: the finger never lands twice in the same spot.
    rot = np.radians(rng.uniform(-8, 8))
    dx, dy = rng.uniform(-12, 12), rng.uniform(-10, 10)
    c, s = np.float32(np.cos(rot)), np.float32(np.sin(rot))
    x = c * (xs - dx) + s * (ys - dy)
    y = -s * (xs - dx) + c * (ys - dy)

    phase = 2 * np.pi * _level_function(pattern, x, y) / pattern.period
    ridges = np.cos(phase + _spiral_phase(pattern, x, y))

    # Pressure: a firm press widens the dark ridges, a light one thins them.
    pressure = rng.uniform(-0.35, 0.35)
    dark = 1.0 / (1.0 + np.exp(-4.0 * (ridges - pressure)))

    # Finger outline: an ellipse, longer than wide, entering from the bottom edge.
    a = rng.uniform(0.40, 0.47) * width
    b = rng.uniform(0.50, 0.58) * height
    cy = rng.uniform(0.05, 0.15) * height
    rho = np.sqrt((x / a) ** 2 + ((y - cy) / b) ** 2)
    contact = np.clip((1.0 - rho) / 0.12, 0.0, 1.0)
    # Contrast fades towards the edge of the contact area, and a dry patch or two.
    contrast = contact * (0.55 + 0.45 * np.clip(1.0 - rho * rho, 0.0, 1.0))
    for _ in range(int(rng.integers(0, 3))):
        px, py = rng.uniform(-0.3, 0.3) * width, rng.uniform(-0.3, 0.3) * height
        r2 = rng.uniform(20, 45) ** 2
        contrast = contrast * (1.0 - 0.6 * np.exp(-((x - px) ** 2 + (y - py) ** 2) / r2))

    background = rng.uniform(225, 240)
    valley = rng.uniform(185, 205)
    ridge = rng.uniform(25, 60)
    image = background + contact * (valley - background) - contrast * (valley - ridge) * dark
    image += rng.standard_normal(image.shape, dtype=np.float32) * rng.uniform(4, 8)
    return np.clip(image, 0, 255).astype(np.uint8).tobytes()
