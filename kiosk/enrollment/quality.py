"""Simple, honest image checks run before a capture is accepted: the portrait's exposure
and the signature's ink (a fingerprint is judged by :mod:`kiosk.enrollment.fingerprint_quality`).

These are gates against the obvious failures a person can fix by trying again (a covered or
dazzled camera, an empty signature pad). The face rules are :mod:`kiosk.enrollment.portrait`;
the central system runs its own quality assessment.

Portrait check, on the decoded RGB pixels (the same for a still and a live preview frame):

1. exposure: mean luma, else too dark or too bright;
2. contrast: the standard deviation of the most varied colour channel (R, G or B), else the
   picture is blank (a covered lens, a wall). Colour, not luma alone: the e-KTP red and blue
   backgrounds have a luma of about 80, the same as darker skin, dark hair and dark clothes,
   so a real head-and-shoulders photo of a darker-skinned person can be nearly flat in luma
   while its colours differ plainly. The largest channel deviation is never below the luma
   deviation (luma is a weighted mean of the channels; up to rounding), so this only stops
   false rejections: a uniform picture of any colour is still blank;
3. clipping: the share of fully black or fully white pixels.

Every threshold lives in a dataclass with its default, so config can override it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

from kiosk.enrollment.face import FaceThresholds
from kiosk.i18n import bilingual

if TYPE_CHECKING:  # numpy is imported where it is used: the touchscreen's start need not wait
    import numpy as np

    from kiosk.enrollment.portrait import FaceVerdict

__all__ = [
    "PortraitThresholds",
    "QualityReport",
    "SignatureThresholds",
    "portrait_quality",
    "portrait_quality_rgb",
    "prepare_portrait",
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
    code: str = ""  # what failed, for tests and logs ("dark", "too_far", ...; "" when ok)

    def reason(self, language: str) -> str:
        """The reason in ``language`` ("id" or "en")."""
        return self.reason_en if language == "en" else self.reason_id


def _accept(score: float) -> QualityReport:
    return QualityReport(True, round(float(score), 3), "", "")


def _reject(score: float, reason_id: str, reason_en: str, code: str = "") -> QualityReport:
    return QualityReport(False, round(float(score), 3), reason_id, reason_en, code)


@dataclass(frozen=True)
class PortraitThresholds:
    """Limits for :func:`portrait_quality` and :func:`portrait_quality_rgb`."""

    min_width: int = 160        # px, for a still (a preview frame: min_frame_side)
    min_height: int = 160
    # A live preview frame only frames the person; it never becomes the record, so it has its
    # own, lower floor: enough pixels (64 x 64 = 4,096) for the statistics below to mean
    # something, far under the usual 320 x 240 preview.
    min_frame_side: int = 64
    min_mean: float = 50.0      # mean luma below this: too dark
    max_mean: float = 215.0     # mean luma above this: too bright
    # Std-dev of the most varied colour channel below this: uniform (covered lens, a wall).
    # The simulated camera's portraits measure 36 or more (4,000 faces, seeds 0-3); their
    # luma alone goes down to 8, which is why luma is not the measure.
    min_std: float = 15.0
    max_clipped: float = 0.35   # share of fully black or fully white pixels
    # The face rules (one face, size, centre, pose, eyes, focus, light, backdrop): see
    # kiosk.enrollment.portrait. ``face = False`` leaves only the exposure checks above.
    face: bool = True
    faces: FaceThresholds = field(default_factory=FaceThresholds)


@dataclass(frozen=True)
class SignatureThresholds:
    """Limits for :func:`signature_quality`."""

    min_ink: float = 0.002      # share of pixels darker than the background (a stroke)
    max_ink: float = 0.6        # a pad covered in ink is a palm, not a signature


def _decode(data: bytes) -> Image.Image | None:
    try:
        image = Image.open(io.BytesIO(data))
        if image.width * image.height > _MAX_PIXELS:
            return None
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    return image


def _histogram_stats(histogram: np.ndarray) -> tuple[float, float]:
    """Mean and std-dev of the 8-bit values counted in a 256-bin ``histogram``."""
    import numpy as np

    levels = np.arange(256, dtype=np.float64)
    total = float(histogram.sum())
    mean = float(histogram @ levels) / total
    variance = float(histogram @ (levels - mean) ** 2) / total
    return mean, variance**0.5


def _judge_portrait(image: Image.Image, limits: PortraitThresholds,
                    pixels: np.ndarray | None = None) -> QualityReport:
    """The checks shared by stills and preview frames, on an RGB image."""
    return _judge(image, limits, pixels)[0]


def _judge(image: Image.Image, limits: PortraitThresholds, pixels: np.ndarray | None = None,
           ) -> tuple[QualityReport, FaceVerdict | None]:
    """The report, and the face's verdict when the exposure passed and faces are checked.
    ``pixels`` is the image as an HxWx3 array when the caller has one (not copied again).

    Everything is read from histograms (Pillow counts in C, no per-pixel float arrays): about
    1 ms for a 480 x 640 still and well under that for a 320 x 240 preview frame.
    """
    import numpy as np

    luma = np.asarray(image.convert("L").histogram(), dtype=np.float64)  # ITU-R 601-2 luma
    channels = np.asarray(image.histogram(), dtype=np.float64).reshape(3, 256)
    mean, _ = _histogram_stats(luma)
    # The contrast is that of the most varied colour channel: see the module docstring for
    # why luma alone misjudges darker skin on the red/blue background.
    contrast = max(_histogram_stats(channel)[1] for channel in channels)
    # Luma 0-2 and 253-255: black or white with only JPEG/sensor noise left.
    clipped = float(luma[:3].sum() + luma[253:].sum()) / float(luma.sum())
    # Best around mid-gray with plenty of detail.
    score = max(0.0, 1.0 - abs(mean - 128.0) / 128.0) * min(contrast / 50.0, 1.0)
    if mean < limits.min_mean:
        return _reject(score, *bilingual('The photo is too dark. Face the light.'),
                       "dark"), None
    if mean > limits.max_mean:
        return _reject(score, *bilingual(
            'The photo is too bright. Move away from light behind you.'), "bright"), None
    if contrast < limits.min_std:
        return _reject(score, *bilingual(
            'The photo is blank. Make sure the camera is clear and your face is in view.'),
            "blank"), None
    if clipped > limits.max_clipped:
        return _reject(score, *bilingual('The photo is badly exposed. Please try again.'),
                       "exposure"), None
    if not limits.face:
        return _accept(score), None
    from kiosk.enrollment.portrait import judge_face

    verdict = judge_face(np.asarray(image) if pixels is None else pixels, limits.faces)
    if not verdict.ok:
        return _reject(min(score, verdict.score), *verdict.instruction(),
                       verdict.code), verdict
    return _accept(min(score, verdict.score)), verdict


def _unreadable() -> QualityReport:
    return _reject(0.0, *bilingual('The photo cannot be read. Please try again.'))


def _too_small() -> QualityReport:
    return _reject(0.0, *bilingual('The photo is too small. Please try again.'))


def portrait_quality(jpeg: bytes, limits: PortraitThresholds | None = None) -> QualityReport:
    """Judge a portrait photo (JPEG or any Pillow-readable RGB image)."""
    limits = limits or PortraitThresholds()
    image = _decode(jpeg)
    if image is None:
        return _unreadable()
    if image.width < limits.min_width or image.height < limits.min_height:
        return _too_small()
    return _judge_portrait(image if image.mode == "RGB" else image.convert("RGB"), limits)


def prepare_portrait(jpeg: bytes, birth_year: int, limits: PortraitThresholds | None = None,
                     ) -> tuple[QualityReport, bytes]:
    """Judge a still and make the portrait to keep: (report, JPEG; b"" when refused).

    The kept JPEG is cut to the ICAO-style geometry with the e-KTP background for
    ``birth_year`` (:func:`kiosk.enrollment.portrait.finish_portrait`); with
    ``limits.face`` off there is no face to place it by, and the still is kept as taken.
    """
    import numpy as np

    from kiosk.enrollment.portrait import background_for_year, finish_portrait

    limits = limits or PortraitThresholds()
    image = _decode(jpeg)
    if image is None:
        return _unreadable(), b""
    if image.width < limits.min_width or image.height < limits.min_height:
        return _too_small(), b""
    image = image if image.mode == "RGB" else image.convert("RGB")
    report, verdict = _judge(image, limits)
    if not report.ok:
        return report, b""
    if verdict is None or verdict.face is None:
        return report, jpeg
    return report, finish_portrait(np.asarray(image), verdict.face,
                                   background_for_year(birth_year))


def portrait_quality_rgb(rgb: bytes, width: int, height: int,
                         limits: PortraitThresholds | None = None) -> QualityReport:
    """Judge a live preview frame: packed 8-bit RGB, row-major (a ``Frame``'s ``rgb``).

    The same checks as :func:`portrait_quality`, so the portrait screen can show the message
    live. The size floor is ``limits.min_frame_side`` (not the still's ``min_width`` and
    ``min_height``): a 320 x 240 preview only frames the person. The bytes are wrapped, not
    copied or encoded, for Pillow's histograms and for the face check alike.
    """
    import numpy as np

    limits = limits or PortraitThresholds()
    if width <= 0 or height <= 0 or len(rgb) != width * height * 3:
        return _unreadable()
    if min(width, height) < limits.min_frame_side:
        return _too_small()
    return _judge_portrait(Image.frombuffer("RGB", (width, height), rgb, "raw", "RGB", 0, 1),
                           limits, np.frombuffer(rgb, dtype=np.uint8).reshape(height, width, 3))


def signature_quality(png: bytes, limits: SignatureThresholds | None = None) -> QualityReport:
    """Judge a signature: a PNG, with some ink, not a filled pad."""
    import numpy as np

    limits = limits or SignatureThresholds()
    image = _decode(png) if png.startswith(_PNG_MAGIC) else None
    if image is None or image.format != "PNG":
        return _reject(0.0, *bilingual('The signature cannot be read. Please sign again.'))
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        # Ink on a transparent pad: composite on white so strokes count as dark.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    # Pads draw dark ink on white (transparent pads were composited on white above).
    ink = float((np.asarray(image.convert("L")) < 128).mean())
    score = min(ink / (limits.min_ink * 10), 1.0)
    if ink < limits.min_ink:
        return _reject(score, *bilingual('The signature is empty. Please sign in the box.'))
    if ink > limits.max_ink:
        return _reject(score, *bilingual('The signature is not clear. Clear it and sign again.'))
    return _accept(score)
