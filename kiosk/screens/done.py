"""Done: the receipt number, its QR code, what happens next; the seconds left before it
goes back to welcome (each touch gives ``receipt_s`` again, up to a bound: flow_privacy),
*More time* and *Finish*."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from kiosk.screens.base import KioskScreen


class DoneScreen(KioskScreen):
    receipt = StringProperty("")
    #: Whole seconds before the receipt goes (the title bar says so).
    left = NumericProperty(0)
    #: A touch (More time) would give it more: not yet at its longest.
    extendable = BooleanProperty(False)

    def refresh(self, flow: Any) -> None:
        self.receipt = flow.receipt_id
        self.left = flow.receipt_left_s
        self.extendable = flow.receipt_extendable

    def wipe(self) -> None:
        self.receipt = ""
        self.left = 0
        self.extendable = False
