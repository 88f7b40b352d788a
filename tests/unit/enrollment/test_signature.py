"""The signature's strokes drawn to a PNG, and judged by the signature quality check."""

from __future__ import annotations

import doctest
import io
import math

import numpy as np
import pytest
from PIL import Image

from kiosk.enrollment import signature
from kiosk.enrollment.quality import signature_quality
from kiosk.enrollment.signature import render_signature_png


def _pixels(png: bytes) -> tuple[Image.Image, np.ndarray]:
    image = Image.open(io.BytesIO(png))
    return image, np.asarray(image)


def scrawl(points: int = 120) -> list[list[tuple[float, float, float]]]:
    """A plausible signature: a looping first stroke and a short underline."""
    loop = [(0.1 + 0.75 * i / points,
             0.55 + 0.25 * math.sin(i / points * 6 * math.pi),
             i * 0.012) for i in range(points)]
    underline = [(0.15 + 0.6 * i / 20, 0.2, 2.0 + i * 0.01) for i in range(21)]
    return [loop, underline]


def test_png_is_2_bit_grayscale_of_the_asked_size() -> None:
    png = render_signature_png(scrawl(), size=(600, 200))
    assert png[24] == 2 and png[25] == 0  # IHDR: bit depth 2, colour type 0 (gray)
    image, pixels = _pixels(png)
    assert image.format == "PNG"
    assert image.mode == "L"
    assert image.size == (600, 200)
    assert pixels.dtype == np.uint8
    assert pixels.min() == 0 and pixels.max() == 255  # dark ink on white
    # Four levels: ink, two edge shades (the smoothing kept), paper.
    assert set(np.unique(pixels)) == {0, 85, 170, 255}


def test_real_stroke_passes_signature_quality() -> None:
    report = signature_quality(render_signature_png(scrawl()))
    assert report.ok, report.reason_en


@pytest.mark.parametrize("strokes", [[], [[]], [[], []]])
def test_no_ink_is_a_blank_white_png_that_quality_refuses(strokes: list) -> None:
    png = render_signature_png(strokes)
    image, pixels = _pixels(png)
    assert image.size == (600, 200)
    assert (pixels == 255).all()
    report = signature_quality(png)
    assert not report.ok
    assert report.reason_en == "The signature is empty. Please sign in the box."


def test_a_lone_tap_is_a_dot_too_small_to_pass() -> None:
    png = render_signature_png([[(0.5, 0.5, 0.0)]])
    _image, pixels = _pixels(png)
    assert (pixels < 128).any()
    assert not signature_quality(png).ok


def test_y_is_flipped_to_image_rows_and_x_kept() -> None:
    # A short horizontal stroke high on the pad (y = 0.9) on the left (x 0.1 .. 0.3).
    _image, pixels = _pixels(render_signature_png([[(0.1, 0.9, 0.0), (0.3, 0.9, 0.1)]],
                                                  size=(400, 200)))
    rows, cols = np.nonzero(pixels < 128)
    assert rows.max() < 200 * 0.25  # in the top quarter of the image
    assert cols.min() > 400 * 0.05 and cols.max() < 400 * 0.4


def test_margin_keeps_ink_off_the_edges() -> None:
    corners = [[(0.0, 0.0, 0.0), (1.0, 0.0, 0.1), (1.0, 1.0, 0.2), (0.0, 1.0, 0.3),
                (0.0, 0.0, 0.4)]]
    _image, pixels = _pixels(render_signature_png(corners, size=(300, 100), width_px=4))
    assert (pixels[:3, :] == 255).all() and (pixels[-3:, :] == 255).all()
    assert (pixels[:, :3] == 255).all() and (pixels[:, -3:] == 255).all()
    assert (pixels < 128).mean() > 0.01  # the frame was drawn


def test_points_outside_the_box_are_clamped_and_nan_skipped() -> None:
    strokes = [[(-5.0, 0.5, 0.0), (float("nan"), 0.5, 0.1), (7.0, 0.5, 0.2)]]
    _image, pixels = _pixels(render_signature_png(strokes, size=(200, 100)))
    rows, cols = np.nonzero(pixels < 128)
    assert cols.min() > 0 and cols.max() < 199
    assert abs(rows.mean() - 50) < 3


def test_width_px_sets_the_line_thickness() -> None:
    line = [[(0.1, 0.5, 0.0), (0.9, 0.5, 1.0)]]
    thin = (_pixels(render_signature_png(line, width_px=2))[1] < 128).sum()
    thick = (_pixels(render_signature_png(line, width_px=8))[1] < 128).sum()
    assert thick > 3 * thin


def test_rendering_is_deterministic() -> None:
    assert render_signature_png(scrawl()) == render_signature_png(scrawl())


@pytest.mark.parametrize("kwargs", [{"size": (0, 100)}, {"size": (100, -1)},
                                    {"width_px": 0}, {"width_px": float("nan")}])
def test_bad_arguments_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        render_signature_png(scrawl(), **kwargs)


def test_docstring_examples() -> None:
    failures, tried = doctest.testmod(signature)
    assert tried > 0 and failures == 0
