"""Welcome: the first thing a citizen sees. Language choice, what the kiosk does, help."""

from __future__ import annotations

from kiosk.screens.base import KioskScreen


class WelcomeScreen(KioskScreen):
    """Big title, one line on what happens here, two language buttons, the help hint."""
