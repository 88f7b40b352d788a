"""A handwritten signature: the pen's time series drawn to a PNG (no Kivy here).

The signature pad keeps what the finger did as strokes of ``(x, y, t)`` points, in the
manner of ISO/IEC 19794-7 time series: ``x`` and ``y`` normalised to 0..1 of the pad's box
(``y`` upwards, as on the screen), ``t`` in seconds since the first point of the signature.
:func:`render_signature_png` draws them as dark ink on white for the card and for
:func:`kiosk.enrollment.quality.signature_quality`.

The pad's box maps onto the image (less a margin) as a whole, so where the citizen signed
in the box is kept; give the pad about the aspect of ``size`` (3:1 by default) for
undistorted ink.

>>> png = render_signature_png([[(0.1, 0.5, 0.0), (0.9, 0.5, 0.4)]])
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence

from PIL import Image, ImageDraw

__all__ = ["INK", "PAPER", "Point", "Stroke", "render_signature_png"]

Point = tuple[float, float, float]
Stroke = Sequence[Point]

#: Gray levels of the ink and the paper (8-bit).
INK = 0
PAPER = 255
#: The stored image's gray levels are multiples of this (2 bits: 0, 85, 170, 255).
_STEP = 85
#: Drawn this many times larger, then scaled down: smooth (antialiased) ink edges.
_SUPERSAMPLE = 4
#: The margin around the pad's box, as a share of the image's shorter side (and never
#: less than 1.5 pen widths, so a stroke along the box's edge stays whole and clear).
_MARGIN = 0.05


def _clamp01(value: float) -> float:
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def _finite_points(stroke: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    points = []
    for point in stroke:
        x, y = float(point[0]), float(point[1])
        if math.isfinite(x) and math.isfinite(y):
            points.append((_clamp01(x), _clamp01(y)))
    return points


def render_signature_png(strokes: Iterable[Stroke], size: tuple[int, int] = (600, 200),
                         width_px: float = 4) -> bytes:
    """Draw ``strokes`` as a grayscale PNG of 2 bits per pixel (four levels, smoothed
    edges): ``INK`` lines on ``PAPER``.

    Consecutive points of a stroke are joined by lines ``width_px`` wide with round joins
    and ends; a stroke of one point is a dot. Coordinates outside 0..1 are clamped to the
    box and non-finite points skipped. No strokes (or only empty ones) give a blank white
    image, which the signature quality check refuses as empty.

    >>> from PIL import Image
    >>> Image.open(io.BytesIO(render_signature_png([], size=(30, 10)))).getextrema()
    (255, 255)
    """
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, not {size!r}")
    if not (math.isfinite(width_px) and width_px > 0):
        raise ValueError(f"stroke width must be positive, not {width_px!r}")
    scale = _SUPERSAMPLE
    big_w, big_h = width * scale, height * scale
    pen = max(1.0, width_px * scale)
    margin = min(max(_MARGIN * min(big_w, big_h), 1.5 * pen), min(big_w, big_h) / 4)
    box_w, box_h = big_w - 2 * margin, big_h - 2 * margin
    radius = pen / 2

    image = Image.new("L", (big_w, big_h), PAPER)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        # y up on the pad, down in the image.
        points = [(margin + x * box_w, margin + (1.0 - y) * box_h)
                  for x, y in _finite_points(stroke)]
        if len(points) >= 2:
            draw.line(points, fill=INK, width=round(pen), joint="curve")
        for px, py in (points[0], points[-1]) if points else ():
            # Round ends (and a lone dot); Pillow's joint="curve" only rounds the joins.
            draw.ellipse((px - radius, py - radius, px + radius, py + radius), fill=INK)
    image = image.reduce(scale)  # a box filter: smooth edges, no ringing on the paper
    # Four gray levels (0, 85, 170, 255) keep the smoothed edge at a third of the bytes of
    # 256: a PNG at 2 bits per pixel, which any reader scales back to those 8-bit values.
    image = image.point(lambda v: (v + _STEP // 2) // _STEP * _STEP)
    out = io.BytesIO()
    image.save(out, format="PNG", bits=2, optimize=True)
    return out.getvalue()
