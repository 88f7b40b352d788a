"""The ``[fingerprints]`` config options, declared once beside the check that reads them.

:class:`~kiosk.enrollment.fingerprint_quality.FingerprintThresholds` takes its defaults from
here and :mod:`kiosk.config` declares the section with these. A module of its own, importing
only :mod:`kiosk.options`, so loading the config does not load the quality check (numpy,
the message catalogue).

A finger passes with a score (0-100) of at least ``min_quality`` and every measure within
its limit. MOSIP's registration client refuses fingers under 40 (NFIQ 2; its server
classifier: 80).
"""

from __future__ import annotations

from kiosk.options import Integer, Number, Option, String

OPTIONS: dict[str, Option] = {
    "min_quality": Integer(40, 0, 100, description=(
        "a finger's pass mark, 0-100 (MOSIP's registration client: 40)")),
    "min_area": Number(0.30, 0, 1, description="share of the image that must show ridges"),
    "min_contrast": Number(14.0, 0, 255, description=(
        "gray levels: median local contrast of the finger area")),
    "min_clarity": Number(0.30, 0, 1, description=(
        "mean ridge-orientation coherence over the finger area")),
    "max_smudge": Number(0.10, 0, 1, description=(
        "share of the finger's box that is a dark, ridgeless blot")),
    # How a record keeps the prints, both lossless and bit-exact: "png" (4-bit PNG, about
    # 19.8 KB a finger, 12 ms to encode here) or "webp" (lossless WebP, about 17.7 KB, but
    # 100 ms here, 0.3-0.4 s on a Pi 4). On a kiosk the WebP encode hides behind the
    # sensor's own image upload (about 6.4 s a finger at 57600 baud); on the simulated
    # sensor, which answers at once, it would be most of a citizen's time.
    "storage": String("png", choices=("png", "webp"), description=(
        "how a record keeps the prints, both lossless: 4-bit PNG, or WebP (11 % smaller, "
        "0.1-0.4 s of CPU a finger)")),
}
