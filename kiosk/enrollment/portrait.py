"""The portrait check's face rules, the ICAO-style crop and the e-KTP background.

:func:`judge_face` runs after the exposure checks of :mod:`kiosk.enrollment.quality` and
gives the *first* thing the citizen should change, as one short instruction in both
languages and a stable code (the order is the order a person can fix things in: be there,
alone, at the right distance, in the middle, in good light, in focus, head straight, eyes
open, looking at the camera, nothing behind).

The kept photo (:func:`finish_portrait`) is cut to ISO/IEC 19794-5's token geometry,
scaled from the pupils: 360 x 480 (3:4), eyes level, their midpoint centred across and at
0.6 of the width from the top, 90 px apart (the standard's full-frontal minimum). A head is
about 3.6 eye distances high, so it fills about 70 % of the picture's height.

Background: the kiosk stands before a plain backdrop of any one colour. The check refuses a
busy one; the kept photo has it replaced by the e-KTP colour for the citizen's birth year
(blue for even, red for odd years, :func:`background_for_year`). The backdrop is keyed out
by colour: a pixel is backdrop when its colour lies on the backdrop's colour line (any
brightness from 0.75 to 1.3 of it, for the light's fall-off) and it is joined to the top or
the sides of the picture. Clothes of exactly the backdrop's colour would be replaced too,
as at any colour key: the backdrop is best a colour people rarely wear.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kiosk.core.ektp import BLUE, RED  # the e-KTP backgrounds (sRGB)
from kiosk.enrollment.face import FaceGeometry, FaceThresholds, find_faces, measure_face
from kiosk.i18n import N_, bilingual

if TYPE_CHECKING:
    import numpy as np

__all__ = ["BLUE", "INSTRUCTIONS", "PORTRAIT_SIZE", "RED", "FaceVerdict",
           "background_for_year", "finish_portrait", "judge_face"]

#: The kept portrait: width, height.
PORTRAIT_SIZE = (360, 480)
_EYE_DISTANCE = 90            # px in the kept portrait (ISO/IEC 19794-5 full frontal minimum)
_KEY_RUN = 1 << 15  # pixels keyed at a time (finish_portrait): 0.4 MB as floats
_EYE_LINE = 0.6 * PORTRAIT_SIZE[0]  # px from the top (token geometry: 0.6 x width)
#: Baseline JPEG, optimised Huffman tables (smaller at no loss), quality 85 and 4:2:0 chroma:
#: about 15 KB on the simulated faces against 20 KB at quality 90, 39.9 dB PSNR against
#: 41.1 (docs/packet.md, "Record size": what it buys toward issue #11's 200 KB record).
JPEG_QUALITY = 85
JPEG_SUBSAMPLING = 2  # 4:2:0, libjpeg's default: chroma at half the resolution each way

#: code -> the instruction (English msgid; Indonesian from the catalogue).
INSTRUCTIONS: dict[str, str] = {
    "no_face": N_("Sit in front of the camera and look at it."),
    "many_faces": N_("Only one person in the photo, please."),
    "too_far": N_("Move closer to the camera."),
    "too_near": N_("Move back a little."),
    "off_centre": N_("Move so your face is inside the oval."),
    "blurred": N_("Hold still: the photo is blurred."),
    "backlit": N_("Too much light behind you. Face the light."),
    "dark_face": N_("Your face is too dark. Face the light."),
    "uneven_light": N_("Light falls from one side. Face the light."),
    "roll": N_("Keep your head straight."),
    "eyes_closed": N_("Open your eyes."),
    "pose": N_("Look straight at the camera."),
    "background": N_("Sit in front of the plain backdrop."),
}


@dataclass(frozen=True)
class FaceVerdict:
    """What :func:`judge_face` found: ``code`` is "" when the face passes."""

    code: str
    face: FaceGeometry | None
    score: float

    @property
    def ok(self) -> bool:
        return not self.code

    def instruction(self) -> tuple[str, str]:
        """(Indonesian, English) of the instruction; ("", "") when ok."""
        return bilingual(INSTRUCTIONS[self.code]) if self.code else ("", "")


def background_for_year(year: int) -> tuple[int, int, int]:
    """The e-KTP rule: blue behind people born in an even year, red for an odd year."""
    return BLUE if year % 2 == 0 else RED


def _strips(rgb: np.ndarray, face_bottom: int) -> tuple[np.ndarray, ...]:
    """The backdrop's strips: along the top, and along both sides down to the chin."""
    import numpy as np

    height, width = rgb.shape[:2]
    side_w, bottom = max(2, width // 12), max(height // 10 + 1, min(height, face_bottom))
    return tuple(np.ascontiguousarray(strip) for strip in (
        rgb[: max(2, height // 10)], rgb[:bottom, :side_w], rgb[:bottom, -side_w:]))


def _backdrop_colour(strips: tuple[np.ndarray, ...]) -> tuple[np.ndarray, float]:
    """The median colour of the strips (as ``np.median`` gives it) and its luma.

    Counted in histograms (OpenCV, no copy of the pixels): the median of a colour channel
    of 8-bit pixels is found in its cumulative counts, about 0.1 ms instead of 3 ms for
    sorting the 60,000 pixels of a 640x480 frame's strips.
    """
    import cv2
    import numpy as np

    colour = np.empty(3, dtype=np.float32)
    for channel in range(3):
        counts = sum(cv2.calcHist([strip], [channel], None, [256], [0, 256])[:, 0]
                     for strip in strips)
        cumulative = np.cumsum(counts)
        total = int(cumulative[-1])
        # np.median: the middle value, or the mean of the two middle ones.
        low = int(np.searchsorted(cumulative, (total - 1) // 2, side="right"))
        high = int(np.searchsorted(cumulative, total // 2, side="right"))
        colour[channel] = (low + high) / 2
    luma = float(colour @ np.array([0.299, 0.587, 0.114], dtype=np.float32))
    return colour, luma


def _backdrop_stats(rgb: np.ndarray, face_bottom: int) -> tuple[np.ndarray, float, float]:
    """The backdrop's median colour, its luma and the share of the strips along the top
    and the sides (down to the chin) that have that colour (1.0: perfectly plain)."""

    strips = _strips(rgb, face_bottom)
    colour, luma = _backdrop_colour(strips)
    return colour, luma, _plain(strips, colour)


def _plain(strips: tuple[np.ndarray, ...], colour: np.ndarray) -> float:
    """The share of the strips' pixels that have the backdrop's ``colour``."""
    import numpy as np

    on_line = sum(int(_on_colour_line(strip.reshape(-1, 3).astype(np.float32), colour).sum())
                  for strip in strips)
    return on_line / sum(strip.shape[0] * strip.shape[1] for strip in strips)


def _on_colour_line(pixels: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """True where a pixel is ``colour`` at 0.75-1.3 times its brightness (N x 3 float).

    One pass of ``cv2.transform`` into the pixel's brightness along the colour line and
    its two components across it (an orthonormal pair): the distance from the line without
    an N x 3 array of differences (a sixth of the time; no BLAS thread is woken).
    """
    import cv2
    import numpy as np

    colour = np.asarray(colour, dtype=np.float64)
    norm = float(colour @ colour)
    if norm == 0.0:  # a black backdrop: no brightness to scale, nothing on its line
        return np.zeros(len(pixels), dtype=bool)
    along = colour / norm**0.5
    axis = np.eye(3)[int(np.argmin(np.abs(along)))]
    across = axis - (axis @ along) * along
    across /= np.linalg.norm(across)
    parts = cv2.transform(np.ascontiguousarray(pixels, dtype=np.float32).reshape(-1, 1, 3),
                          np.stack([colour / norm, across, np.cross(along, across)])
                          .astype(np.float32)).reshape(-1, 3)
    k, u, v = parts[:, 0], parts[:, 1], parts[:, 2]
    limit = max(22.0, 0.12 * norm**0.5)
    return (k > 0.75) & (k < 1.3) & (u * u + v * v < limit * limit)


def judge_face(rgb: np.ndarray, limits: FaceThresholds | None = None,
               gray: np.ndarray | None = None) -> FaceVerdict:
    """Judge the face in an HxWx3 uint8 RGB frame (a preview frame or the still); ``gray``
    is its 8-bit luma when the caller has it already."""
    import cv2

    limits = limits or FaceThresholds()
    if gray is None:
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    height, width = gray.shape
    boxes, found_roll = find_faces(gray, limits)
    if not boxes:
        _, backdrop_luma = _backdrop_colour(_strips(rgb, height // 2))
        # A camera exposed for a bright window sees a dark shape where the head is.
        return FaceVerdict("backlit" if backdrop_luma >= 200 else "no_face", None, 0.0)
    if len(boxes) > 1:
        return FaceVerdict("many_faces", None, 0.0)
    x, y, w, h = boxes[0]
    size = h / height
    score = max(0.0, 1.0 - abs(size - 0.36) / 0.36)
    if found_roll:  # found only with the picture turned: a head tilted past 15 degrees
        return FaceVerdict("roll", None, score)
    if size < limits.min_face:
        return FaceVerdict("too_far", None, score)
    if size > limits.max_face:
        return FaceVerdict("too_near", None, score)
    centre_x, centre_y = (x + w / 2 - width / 2) / height, (y + h / 2) / height
    if (abs(centre_x) > limits.max_offset_x
            or not limits.min_centre_y <= centre_y <= limits.max_centre_y):
        return FaceVerdict("off_centre", None, score)
    face = measure_face(rgb, gray, boxes[0])
    strips = _strips(rgb, y + h)
    colour, backdrop_luma = _backdrop_colour(strips)
    # In the order a person can fix them; the backdrop's plainness, the one measure that
    # reads every pixel of the strips, only when everything before it passed.
    checks = (
        ("backlit", lambda: face.face_luma < limits.backlit_ratio * backdrop_luma),
        ("uneven_light", lambda: face.side_ratio < limits.min_side_ratio),
        ("dark_face", lambda: face.face_luma < limits.min_face_luma),
        ("blurred", lambda: face.sharpness < limits.min_sharpness),
        ("roll", lambda: face.roll is not None and abs(face.roll) > limits.max_roll),
        ("eyes_closed", lambda: face.eyes is None),
        ("pose", lambda: face.yaw is None or face.pitch is None
         or abs(face.yaw) > limits.max_yaw or abs(face.pitch) > limits.max_pitch),
        ("background", lambda: _plain(strips, colour) < limits.min_plain),
    )
    for code, failed in checks:
        if failed():
            return FaceVerdict(code, face, score)
    return FaceVerdict("", face, score)


def finish_portrait(rgb: np.ndarray, face: FaceGeometry,
                    background: tuple[int, int, int]) -> bytes:
    """The kept portrait: cut to the token geometry, backdrop replaced, as a JPEG.

    ``face`` is the judged still's face (its pupils place the crop); ``background`` the
    e-KTP colour (:func:`background_for_year`).
    """
    import cv2
    import numpy as np
    from PIL import Image

    if face.eyes is None:
        raise ValueError("the face has no pupils to place the portrait by")
    (lx, ly), (rx, ry) = face.eyes
    # The colour only (the plainness, a float copy of the strips, is not wanted here).
    colour, _ = _backdrop_colour(_strips(rgb, face.box[1] + face.box[3]))
    # Rotate about the eyes' midpoint so they are level, scale to 90 px apart, and move
    # the midpoint to its place in the portrait.
    mid = ((lx + rx) / 2, (ly + ry) / 2)
    angle = float(np.degrees(np.arctan2(ry - ly, rx - lx)))
    scale = _EYE_DISTANCE / max(float(np.hypot(rx - lx, ry - ly)), 1.0)
    warp = cv2.getRotationMatrix2D(mid, angle, scale)
    warp[0, 2] += PORTRAIT_SIZE[0] / 2 - mid[0]
    warp[1, 2] += _EYE_LINE - mid[1]
    out = cv2.warpAffine(rgb, warp, PORTRAIT_SIZE, flags=cv2.INTER_AREA if scale < 1
                         else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # Backdrop: on the backdrop's colour line and joined to the top or the sides.
    # Judged _KEY_RUN pixels at a time: a float copy of the whole portrait is 2 MB, and
    # the colour line's measures three more (the same verdict for every pixel).
    soft = cv2.GaussianBlur(out, (3, 3), 0).reshape(-1, 3)
    keyed = np.empty(len(soft), dtype=np.uint8)
    colour = colour.astype(np.float32)
    for start in range(0, len(soft), _KEY_RUN):
        keyed[start:start + _KEY_RUN] = _on_colour_line(
            soft[start:start + _KEY_RUN].astype(np.float32), colour)
    keyed = keyed.reshape(out.shape[:2])
    _, labels = cv2.connectedComponents(keyed, connectivity=4)
    edge = np.unique(np.concatenate([labels[0], labels[:, 0], labels[:, -1]]))
    mask = np.isin(labels, edge[edge > 0]).astype(np.float32)
    # Soften the seam by a pixel or so, as a lens would have.
    alpha = cv2.GaussianBlur(mask, (0, 0), 1.0)[..., None]
    fill = np.array(background, dtype=np.float32)
    # out * (1 - alpha) + fill * alpha, rounded and clipped: the same float32 operations
    # in the same order, in place, a band of rows at a time (the whole expression made
    # five 2 MB arrays at once, the touchscreen process's peak while a still was judged).
    rows = max(1, _KEY_RUN // out.shape[1])
    for top in range(0, out.shape[0], rows):
        band = out[top:top + rows].astype(np.float32)
        weight = alpha[top:top + rows]
        band *= 1 - weight
        band += fill * weight
        band += 0.5
        out[top:top + rows] = np.clip(band, 0, 255, out=band)
    buffer = io.BytesIO()
    Image.fromarray(out, "RGB").save(
        buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=JPEG_SUBSAMPLING,
        optimize=True)
    return buffer.getvalue()
