"""Signature: drawn with a finger in a box; clear and redo; Done sends the strokes."""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty

from kiosk.screens.base import KioskScreen


class SignatureScreen(KioskScreen):
    note = StringProperty("")

    def refresh(self, flow: Any) -> None:
        self.note = flow.message.text(flow.language) if flow.message else ""

    def on_activate(self) -> None:
        self.ids.pad.clear()

    def wipe(self) -> None:
        self.ids.pad.clear()
