"""The power-cut banner, laid over every screen while the kiosk runs on battery."""

from __future__ import annotations

from kivy.properties import BooleanProperty
from kivy.uix.boxlayout import BoxLayout


class PowerBanner(BoxLayout):
    """A strip across the top: "the mains is off, the kiosk runs on battery".

    Shown (``active``) from the power check; it tells a citizen why recording may stop and
    an officer that the UPS is carrying the kiosk.
    """

    active = BooleanProperty(False)
