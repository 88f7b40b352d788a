"""Identity: the NIK and the No. KK on the big keypad, grouped as typed. Each field has its
own message line under it (progress while typed, then the domain's verdict), so a wrong
NIK stays named, and its field framed, while the KK is typed; Next only when both are valid.
A written instruction heads the fields where the panel has room for it beside the worst
case of the two messages."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, StringProperty

from kiosk.screens.base import KioskScreen
from kiosk.screens.forms import group_digits
from kiosk.screens.theme import Theme

#: Lines of body text the fields' messages may take: the longest NIK message two lines and
#: the longest KK message three (English, in the 7-inch panel's 100 mm column; two lines
#: in any wider one). The NIK's two are kept even when shorter, so the KK field does not
#: move when a wrong NIK's message comes up.
NIK_NOTE_LINES = 2
KK_NOTE_LINES = 3
#: The height of one line of body text, as a share of the font size (Roboto's ascent and
#: descent are 1.17 em; a little kept for rounding).
LINE = 1.2


def note_room(ui: Theme, lines: int) -> float:
    """The height (px) ``lines`` lines of body text take."""
    return lines * ui.font_body * LINE


def instruction_fits(ui: Theme, column_height: float) -> bool:
    """Whether the fields' column (``column_height`` px) has room for the instruction above
    roomy fields and both messages at their longest. Otherwise (the 7-inch panel) the
    instruction gives way and the fields are as tall as a key: the messages may not."""
    needed = (note_room(ui, 1) + ui.gap  # the instruction
              + 2 * ui.target * 1.15 + ui.gap
              + note_room(ui, NIK_NOTE_LINES) + note_room(ui, KK_NOTE_LINES))
    return column_height >= needed


class IdentityScreen(KioskScreen):
    nik = StringProperty("")
    kk = StringProperty("")
    focus = StringProperty("nik")
    #: The message under each field, and its kind ("info", "ok", "error": its colour).
    nik_note = StringProperty("")
    nik_kind = StringProperty("info")
    kk_note = StringProperty("")
    kk_kind = StringProperty("info")
    #: All 16 digits typed and refused by the domain: the field is framed as an error.
    nik_wrong = BooleanProperty(False)
    kk_wrong = BooleanProperty(False)
    valid = BooleanProperty(False)
    #: The fields' column has room for the instruction (:func:`instruction_fits`).
    roomy = BooleanProperty(True)

    def refresh(self, flow: Any) -> None:
        form = flow.identity
        self.nik, self.kk, self.focus = group_digits(form.nik), group_digits(form.kk), form.focus
        notes = {name: form.message(name) for name in ("nik", "kk")}
        if flow.message:  # the step refused as a whole (after OK): said where the keys go
            notes[form.focus] = flow.message
        language = flow.language
        self.nik_note, self.nik_kind = notes["nik"].text(language), notes["nik"].kind
        self.kk_note, self.kk_kind = notes["kk"].text(language), notes["kk"].kind
        self.nik_wrong, self.kk_wrong = form.refused("nik"), form.refused("kk")
        self.valid = form.is_valid
