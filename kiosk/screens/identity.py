"""Identity: the NIK and the No. KK on the big keypad, grouped as typed. Each field has its
own message line under it (progress while typed, then the domain's verdict), so a wrong
NIK stays named, and its field framed, while the KK is typed; Next only when both are valid.
A written instruction heads the fields where the panel has room for it beside the worst
case of the two messages.

The 7-inch panel with the power-cut banner up is the tightest case: both fields a touch
target high (10 mm) and their messages four lines together, the longest the domain can say
of each (two each, in either language, in the 102 mm column), or the step's refusal (at
most three) beside the other field's "Looks right". There the NIK's two kept lines give way
to the KK's message (:func:`nik_block`)."""

from __future__ import annotations

from typing import Any

from kivy.core.text import Label as CoreLabel
from kivy.properties import BooleanProperty, StringProperty

from kiosk.enrollment.session import NOT_BEGUN_WITH
from kiosk.screens.base import KioskScreen
from kiosk.screens.forms import group_digits
from kiosk.screens.messages import NONE
from kiosk.screens.theme import Theme

#: Lines of body text the fields' messages may take: the longest NIK message two lines and
#: the longest KK message two, in the 7-inch panel's 102 mm column (the step's refusal after
#: OK, said under the focused field, three: the disk is full). The NIK's two are kept even
#: when shorter, where the column has room, so the KK field does not move when a wrong
#: NIK's message comes up.
NIK_NOTE_LINES = 2
KK_NOTE_LINES = 3
#: The height of one line of body text, as a share of the font size (Roboto's ascent and
#: descent are 1.17 em; a little kept for rounding).
LINE = 1.2


def note_room(ui: Theme, lines: int) -> float:
    """The height (px) ``lines`` lines of body text take."""
    return lines * ui.font_body * LINE


def text_line(font_size: float) -> float:
    """The height (px) one line of text at ``font_size`` takes as rendered (a label of
    ``n`` lines is ``n`` times this high)."""
    return float(CoreLabel(text="Ág", font_size=font_size).get_extents("Ág")[1])


def nik_block(nik_note: float, kk_note: float, line: float, spare: float) -> float:
    """The height (px) of the NIK's message block: its message (``nik_note`` px high), kept
    at :data:`NIK_NOTE_LINES` lines of ``line`` px where the column's ``spare`` height (what
    the fields and gaps leave) holds that and the KK's message (``kk_note``); otherwise
    just the message, so the KK's message keeps its room (the banner up on the 7-inch
    panel).

    >>> nik_block(40, 80, 40, 200), nik_block(40, 120, 40, 160), nik_block(80, 80, 40, 160)
    (80, 40, 80)
    """
    kept = max(nik_note, NIK_NOTE_LINES * line)
    return kept if kept + kk_note <= spare else nik_note


def instruction_fits(ui: Theme, column_height: float) -> bool:
    """Whether the fields' column (``column_height`` px) has room for the instruction above
    roomy fields and both messages at their longest. Otherwise (the 7-inch panel) the
    instruction gives way and the fields are a touch target high: the messages may not."""
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
    #: The digits typed refused by the domain (whatever follows): framed as an error.
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
            if flow.message.en_text == NOT_BEGUN_WITH:
                # The two numbers together are not the continued enrollment's: neither
                # field "looks right" beside that (an officer corrected the wrong one).
                other = "kk" if form.focus == "nik" else "nik"
                if notes[other].kind == "ok":
                    notes[other] = NONE
        language = flow.language
        self.nik_note, self.nik_kind = notes["nik"].text(language), notes["nik"].kind
        self.kk_note, self.kk_kind = notes["kk"].text(language), notes["kk"].kind
        self.nik_wrong, self.kk_wrong = form.refused("nik"), form.refused("kk")
        self.valid = form.is_valid
