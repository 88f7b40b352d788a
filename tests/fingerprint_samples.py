"""Labelled fingerprint images for tests and benchmarks: good prints and each kind of bad one.

Good prints are the simulated sensor's (:class:`~kiosk.hardware.fingerprint.sim.SimFingerprint`:
256 x 288 at 500 ppi). Each kind of bad print is made from one, the way it happens at a
kiosk: ``partial`` (only a strip of the fingertip on the glass), ``smudged`` (ridges merged
into a dark blot), ``faint`` (a finger barely touching), ``noisy`` (no finger, only sensor
noise), ``blurred`` (a finger that slid) and ``blank`` (nothing on the glass). Each takes a
severity with a default that the quality tests use. The images are float arrays (gray
levels, dark ridges on a light ground); :func:`as_sensor` brings one to the ZFM's 16 levels,
as the sensor would deliver it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from kiosk.hardware.fingerprint import zfm_protocol as zp
from kiosk.hardware.fingerprint.sim import SimFingerprint

W, H = zp.IMAGE_WIDTH, zp.IMAGE_HEIGHT
#: The glass with nothing on it, as the simulated sensor draws it.
GROUND = 230.0


def good(person: int = 1, finger: int = 3) -> np.ndarray:
    """Finger ``finger`` of simulated person ``person``."""
    pixels = SimFingerprint().generate(finger, person=person).pixels
    return np.frombuffer(pixels, np.uint8).reshape(H, W).astype(float)


def as_sensor(img: np.ndarray) -> bytes:
    """To the ZFM's 16 levels, as the sensor would deliver it (8-bit gray bytes)."""
    return zp.unpack_image(zp.pack_image(np.clip(img, 0, 255).astype(np.uint8).tobytes()))


def blank() -> np.ndarray:
    return np.full((H, W), GROUND)


def partial(img: np.ndarray | None = None, width: int = 86, height: int = 188) -> np.ndarray:
    """Only the lower right ``width`` x ``height`` pixels of the finger on the glass."""
    img = good() if img is None else img.copy()
    img[:, : W - width] = GROUND
    img[: H - height] = GROUND
    return img


def smudged(img: np.ndarray | None = None, radius: int = 70) -> np.ndarray:
    """A dark blot of ``radius`` pixels where the ridges merged (wet finger, dirty glass)."""
    img = good() if img is None else img.copy()
    yy, xx = np.mgrid[0:H, 0:W]
    img[(xx - 128) ** 2 + (yy - 150) ** 2 < radius**2] = 40
    return img


def faint(img: np.ndarray | None = None, factor: float = 0.15) -> np.ndarray:
    """The ridges at ``factor`` of their contrast: a finger barely touching."""
    img = good() if img is None else img
    return 200 + (img - 200) * factor


def noisy(sigma: float = 30.0, seed: int = 0) -> np.ndarray:
    """No finger: sensor noise of ``sigma`` gray levels around a light ground."""
    return 200 + np.random.default_rng(seed).normal(0, sigma, (H, W))


def blurred(img: np.ndarray | None = None, radius: float = 4.0) -> np.ndarray:
    """A Gaussian blur of ``radius`` pixels: a finger that moved during the capture."""
    img = good() if img is None else img
    image = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    return np.asarray(image.filter(ImageFilter.GaussianBlur(radius)), float)


#: Each kind of bad print -> the reason the kiosk's quality check gives first (with the
#: defaults above).
BAD_KINDS: dict[str, tuple[Callable[[], np.ndarray], str]] = {
    "blank": (blank, "blank"),
    "partial": (partial, "area"),
    "smudged": (smudged, "smudged"),
    "faint": (faint, "contrast"),
    "noisy": (noisy, "clarity"),
    "blurred": (blurred, "area"),
}


@dataclass(frozen=True)
class Sample:
    """One labelled image: its kind (``good`` or a key of :data:`BAD_KINDS`), how bad
    (``severity``, words), which simulated finger it was made from, and the pixels at the
    sensor's 16 levels (8-bit gray bytes, row-major, W x H)."""

    kind: str
    severity: str
    person: int
    finger: int
    pixels: bytes

    @property
    def name(self) -> str:
        grade = "" if self.severity == "-" else f"-{self.severity}"
        return f"{self.kind}{grade}-p{self.person}f{self.finger}".replace(".", "_")


#: Graded severities of each bad kind, mildest first: (words, image from a good print).
GRADES: dict[str, list[tuple[str, Callable[[np.ndarray], np.ndarray]]]] = {
    "partial": [(f"{w}x{h}px", lambda g, w=w, h=h: partial(g, w, h))
                for w, h in ((170, 230), (128, 200), (86, 188), (60, 120))],
    "smudged": [(f"r{r}", lambda g, r=r: smudged(g, r)) for r in (40, 70, 100)],
    "faint": [(f"x{f}", lambda g, f=f: faint(g, f)) for f in (0.5, 0.3, 0.15, 0.08)],
    "blurred": [(f"r{r}", lambda g, r=r: blurred(g, r)) for r in (1.0, 2.0, 3.0, 4.0)],
}
#: Noise (no finger at all) at several strengths, and the empty glass.
NOISE_SIGMAS = (10.0, 30.0, 60.0)


def labelled_set(people: int = 4, fingers: int = 10, bases: int = 3) -> Iterator[Sample]:
    """Good prints of ``people`` x ``fingers`` simulated fingers, then every bad kind at
    every grade of :data:`GRADES`, each made from ``bases`` of those good prints (other
    people and fingers), then noise at :data:`NOISE_SIGMAS` and a blank glass."""
    for person in range(people):
        for finger in range(fingers):
            yield Sample("good", "-", person, finger, as_sensor(good(person, finger)))
    base_fingers = [(b % people, (3 * b + 1) % fingers) for b in range(bases)]
    for kind, grades in GRADES.items():
        for severity, make in grades:
            for person, finger in base_fingers:
                yield Sample(kind, severity, person, finger,
                             as_sensor(make(good(person, finger))))
    for n, sigma in enumerate(NOISE_SIGMAS):
        yield Sample("noisy", f"sigma{sigma:.0f}", -1, n, as_sensor(noisy(sigma, seed=n)))
    yield Sample("blank", "-", -1, -1, as_sensor(blank()))
