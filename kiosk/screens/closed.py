"""Closed: shown whenever the kiosk must not take a recording (fail closed, say why)."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, StringProperty

from kiosk.screens.base import KioskScreen


class ClosedScreen(KioskScreen):
    """A plain apology for the citizen; for the officer, why (by kind, in the screen's
    language) and, set apart and smaller, the check's English reason as the technical
    detail to read to a maintainer."""

    keep_rendered = True  # shown between citizens

    #: The acceptance check's English reason (the technical detail).
    reason = StringProperty("")
    #: Its kind, a ``kiosk.errors.RefusalCategory`` ("" when none was given).
    category = StringProperty("")
    #: A staff card is in the reader, nobody logged in (``flow.card_waiting``): the
    #: officer's card along the bottom offers "Officer login" (the stick button is on the
    #: officer's home).
    card_waiting = BooleanProperty(False)
    #: Said in place of "Please ask an officer": the stick's work running with its officer
    #: gone (do not remove it), or that it is done (``flow.stick_notice``; one line).
    notice = StringProperty("")

    def refresh(self, flow: Any) -> None:
        self.card_waiting = bool(getattr(flow, "card_waiting", False))
        notice = getattr(flow, "stick_notice", None)
        self.notice = notice.text(flow.language) if notice else ""
