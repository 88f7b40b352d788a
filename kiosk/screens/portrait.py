"""Portrait: the live camera preview with a face guide and the quality check's message,
a 3-2-1 countdown, the photo to keep or retake, and "call an officer" after three tries."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty

from kiosk.screens.base import KioskScreen
from kiosk.screens.images import FrameTexture, texture_from_bytes
from kiosk.screens.messages import CALL_OFFICER


class PortraitScreen(KioskScreen):
    preview_texture = ObjectProperty(None, allownone=True)
    photo_texture = ObjectProperty(None, allownone=True)
    live = StringProperty("")
    live_kind = StringProperty("info")
    note = StringProperty("")
    note_kind = StringProperty("info")  # the Note's colour: the message's kind
    failed = BooleanProperty(False)
    countdown = NumericProperty(0)
    need_officer = BooleanProperty(False)
    #: Beside the photo taken: the e-KTP background colour of the year of birth.
    background_note = StringProperty("")
    #: The written instruction shows: no photo taken, no failed try, nothing to correct.
    instructed = BooleanProperty(True)
    frames_shown = NumericProperty(0)  # counted for the preview benchmark and tests

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._frame = FrameTexture()
        self._photo: bytes = b""

    def refresh(self, flow: Any) -> None:
        lang = flow.language
        self.live, self.live_kind = flow.preview_msg.text(lang), flow.preview_msg.kind
        self.failed = bool(flow.message)  # the last try's message replaces the live one
        self.instructed = not (self.failed or flow.portrait_jpeg) and (
            not flow.preview_msg or flow.preview_msg.kind == "ok")
        note = flow.message.text(lang) if flow.message else ""
        officer = flow.t(CALL_OFFICER)
        # Three tries: the citizen cannot do this alone (unless the text shown says so).
        if flow.need_officer and officer not in (note if self.failed else self.live):
            note = f"{note} {officer}".strip()
        self.note = note
        self.note_kind = flow.message.kind if self.failed else "error"  # the officer line
        self.background_note = flow.background_note.text(lang)
        self.countdown = flow.countdown
        self.need_officer = flow.need_officer
        if flow.portrait_jpeg != self._photo:
            self._photo = flow.portrait_jpeg
            self.photo_texture = texture_from_bytes(self._photo, "jpg")

    def show_frame(self, frame: Any) -> None:
        """A new preview frame (on the UI thread, from the flow's preview loop)."""
        self.preview_texture = self._frame.update(frame.width, frame.height, frame.rgb)
        self.ids.preview.canvas.ask_update()
        self.frames_shown += 1

    def on_deactivate(self) -> None:
        # Shown nowhere else: not kept in memory while the other steps show (the flow
        # still has the photo until it is accepted; a return here refreshes from it).
        self.wipe()

    def wipe(self) -> None:
        self._photo = b""
        self.photo_texture = None
        self.preview_texture = None
        self._frame = FrameTexture()  # the last preview frame (the citizen's face) too
