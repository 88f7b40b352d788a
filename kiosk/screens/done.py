"""Done: the receipt number, its QR code, what happens next; back to welcome after a while."""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty

from kiosk.screens.base import KioskScreen


class DoneScreen(KioskScreen):
    receipt = StringProperty("")

    def refresh(self, flow: Any) -> None:
        self.receipt = flow.receipt_id

    def wipe(self) -> None:
        self.receipt = ""
