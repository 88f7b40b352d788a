"""Welcome: the first thing a citizen sees. Language choice (each language named in itself),
what happens here, and an attract loop that cycles through the steps while nobody is there."""

from __future__ import annotations

from typing import Any

from kivy.clock import Clock
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from kiosk.screens.base import KioskScreen
from kiosk.screens.messages import N_

#: What the attract loop shows, one line at a time, every ATTRACT_S seconds.
ATTRACT = (
    N_("Have your NIK and your family card (KK) number ready."),
    N_("1. Your details   2. Photo   3. Ten fingerprints   4. Signature"),
    N_("It takes about five minutes. Your data is sealed for Dukcapil."),
)
ATTRACT_S = 4.0


class WelcomeScreen(KioskScreen):
    keep_rendered = True  # shown between citizens: ready at once
    attract_index = NumericProperty(0)
    #: Why the last session ended, when the kiosk ended it (the flow's ``notice``): shown
    #: in place of the attract loop until a touch or a while.
    notice = StringProperty("")
    #: A staff card is in the reader, nobody logged in (``flow.card_waiting``): the
    #: "Officer login" button shows beside Help.
    card_waiting = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._loop: Any = None

    def on_activate(self) -> None:
        self.attract_index = 0
        self._loop = Clock.schedule_interval(self._next, ATTRACT_S)

    def on_deactivate(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            self._loop = None

    def _next(self, _dt: float) -> None:
        self.attract_index = (self.attract_index + 1) % len(ATTRACT)

    def refresh(self, flow: Any) -> None:
        # The stick's work running with its officer gone comes first: do not remove it.
        notice = getattr(flow, "stick_line", None) or flow.notice
        self.notice = notice.text(flow.language) if notice else ""
        self.card_waiting = bool(getattr(flow, "card_waiting", False))

    @property
    def attract_lines(self) -> tuple[str, ...]:
        return ATTRACT
