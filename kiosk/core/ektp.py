"""What the e-KTP itself prescribes: the colours of its portrait's background.

The portrait check keys the backdrop out and puts one of these behind the citizen
(:mod:`kiosk.enrollment.portrait`); the simulated camera seats its people before them
(:mod:`kiosk.hardware.camera.scene`). sRGB, as the district offices' cloths photograph.
"""

from __future__ import annotations

__all__ = ["BLUE", "RED"]

RED: tuple[int, int, int] = (196, 28, 36)
BLUE: tuple[int, int, int] = (28, 86, 184)
