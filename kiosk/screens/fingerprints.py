"""Fingerprints: which finger to place (hand diagram and its name), progress over the ten,
the captured image, the quality message, Try again, and "call an officer" after three.

With an officer logged in, "Cannot be scanned" opens the reasons (the flow's
``ask_missing``), also while the sensor waits for the finger; a finger recorded so is
greyed and crossed out on the hands, with a legend, and counts as done."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty

from kiosk.core.vocabulary import FINGERS
from kiosk.screens.base import KioskScreen
from kiosk.screens.flow_screens import FINGER_NAMES
from kiosk.screens.images import texture_from_bytes
from kiosk.screens.messages import CALL_OFFICER


class FingerprintsScreen(KioskScreen):
    current = StringProperty("R1")
    done = ListProperty()
    finger_name = StringProperty("")
    progress = StringProperty("")
    note = StringProperty("")
    note_kind = StringProperty("info")  # the Note's: "error", "ok" (a finger taken), "info"
    failed = BooleanProperty(False)
    need_officer = BooleanProperty(False)
    waiting = BooleanProperty(False)  # the sensor waits for a finger (Cancel stays on)
    image = ObjectProperty(None, allownone=True)
    #: An officer is logged in: "Cannot be scanned" is offered (``flow.can_record_missing``).
    officer = BooleanProperty(False)
    #: Codes of the fingers the officer recorded as impossible to scan.
    missing = ListProperty()

    def refresh(self, flow: Any) -> None:
        self.current = flow.current_finger
        self.done = list(flow.fingers_done)
        self.missing = [code for code in FINGERS if code in flow.fingers_missing]
        self.officer = flow.can_record_missing
        self.finger_name = flow.t(FINGER_NAMES[self.current])
        self.progress = flow.t("{done} of {total} fingers done").format(
            done=len(set(self.done) | set(self.missing)), total=len(FINGERS))
        self.note = flow.message.text(flow.language) if flow.message else ""
        self.note_kind = flow.message.kind if flow.message else "info"
        if flow.need_officer and not flow.staff_id:
            # three tries: the citizen cannot do this alone (unless the officer is here)
            self.note += " " + flow.t(CALL_OFFICER)
        self.failed = self.note_kind == "error" and not flow.busy
        self.need_officer = flow.need_officer
        self.waiting = flow.waiting_finger
        if flow.finger_png != self._png:
            self._png = flow.finger_png
            self.image = texture_from_bytes(self._png, "png")

    def __init__(self, **kwargs: Any) -> None:
        self._png = b""
        super().__init__(**kwargs)

    def on_deactivate(self) -> None:
        self.wipe()  # the last finger's image: not kept while the other steps show

    def wipe(self) -> None:
        self._png = b""
        self.image = None
