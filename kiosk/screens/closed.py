"""Closed: shown whenever the kiosk must not take a recording (fail closed, say why)."""

from __future__ import annotations

from kivy.properties import StringProperty

from kiosk.screens.base import KioskScreen


class ClosedScreen(KioskScreen):
    """A plain apology for the citizen and the technical reason for the officer."""

    keep_rendered = True  # shown between citizens

    reason = StringProperty("")
