"""Identity: the NIK and the No. KK on the big keypad, grouped as typed, the domain's
message live under the field, Next only when both are valid."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, StringProperty

from kiosk.screens.base import KioskScreen
from kiosk.screens.forms import group_digits


class IdentityScreen(KioskScreen):
    nik = StringProperty("")
    kk = StringProperty("")
    focus = StringProperty("nik")
    note = StringProperty("")
    note_kind = StringProperty("info")
    valid = BooleanProperty(False)

    def refresh(self, flow: Any) -> None:
        form = flow.identity
        self.nik, self.kk, self.focus = group_digits(form.nik), group_digits(form.kk), form.focus
        msg = flow.message or form.message(form.focus)
        if not msg and form.focus == "kk":
            msg = form.message("nik")  # a NIK error stays in view while the KK is typed
        self.note, self.note_kind = msg.text(flow.language), msg.kind
        self.valid = form.is_valid
