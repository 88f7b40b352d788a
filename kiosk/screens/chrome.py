"""Pieces every step's screen shares: the bottom navigation bar and the overlays (cancel,
idle warning, help; the officer's PIN pad and the reasons a finger cannot be scanned).
Rules in ``common.kv``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from kivy.graphics import Color, Ellipse, InstructionGroup, Line
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.modalview import ModalView
from kivy.uix.widget import Widget

from kiosk.core.vocabulary import LANGUAGES
from kiosk.screens.flow_screens import FINGER_NAMES
from kiosk.screens.flow_staff import MISSING_REASON_NAMES, PIN_MIN


class NavBar(BoxLayout):
    """Cancel (or Back while changing a step from review), Help, Repeat, and the step's own
    forward button (``primary_text``; hidden when empty). ``on_primary`` fires on it."""

    primary_text = StringProperty("")
    primary_enabled = BooleanProperty(True)
    #: How the forward button is drawn: "primary", or "secondary" when another button
    #: (Help, after three failed tries) is the way forward.
    primary_role = StringProperty("primary")
    left_text = StringProperty("")  # "" = Cancel (Back while editing)
    left_enabled = BooleanProperty(True)  # a screen's own left button may be off
    language = StringProperty(LANGUAGES[0])  # its screen's (``language: root.language``)
    busy = BooleanProperty(False)  # its screen's (``busy: root.busy``)
    editing = BooleanProperty(False)  # its screen's (``editing: root.editing``)
    #: Its screen's (``help_wanted: root.help_wanted``): the message on the screen sends
    #: the citizen to HELP, so Help is drawn as the way forward.
    help_wanted = BooleanProperty(False)

    def __init__(self, **kwargs: object) -> None:
        self.register_event_type("on_primary")
        self.register_event_type("on_left")
        super().__init__(**kwargs)

    def on_primary(self) -> None:
        """The forward button was tapped."""

    def on_left(self) -> None:
        """The left button: a screen that sets ``left_text`` binds its own action and
        returns True; otherwise it cancels (asks once), or goes back to review."""
        from kivy.app import App

        flow = App.get_running_app().flow
        if flow.editing:
            flow.cancel_edit()
        else:
            flow.ask_cancel()


class Overlay(ModalView):
    """A question or notice over the screen. Its labels are in :attr:`language`, which the
    app sets as it opens it: a change of language re-renders none while it is closed."""

    language = StringProperty(LANGUAGES[0])

    def refresh(self, flow: Any) -> None:
        """Copy what the overlay shows from ``flow`` (the app calls it while it is wanted)."""


class CancelOverlay(Overlay):
    """"Stop and delete what you entered?": cancel asks once. With an officer logged in
    and an assisted record begun, "Stop this enrollment?" with a third answer: keep it to
    continue later."""

    keep_offered = BooleanProperty(False)

    def refresh(self, flow: Any) -> None:
        self.keep_offered = bool(flow.can_keep_for_later)


class IdleOverlay(Overlay):
    """"Are you still there?" with the seconds left; one tap continues. What happens then:
    the data deleted, or (an assisted session, ``flow.idle_keeps``) kept for the officer."""

    kept = BooleanProperty(False)

    def refresh(self, flow: Any) -> None:
        self.kept = bool(flow.idle_keeps)


class HelpOverlay(Overlay):
    """"An officer has been called.", shown while the help LED blinks; over a session's
    screen, with its language button (the title bar's is under the overlay)."""

    switchable = BooleanProperty(False)

    def refresh(self, flow: Any) -> None:
        self.switchable = bool(flow.can_switch_language)


class PinDots(Widget):
    """The PIN as typed: a filled dot for each digit, never the digit; empty rings up to the
    shortest PIN (:data:`~kiosk.screens.flow_staff.PIN_MIN`) say how many are needed."""

    #: Digits typed.
    length = NumericProperty(0)
    #: The app's :class:`~kiosk.screens.theme.Theme` (``ui: app.ui`` in ``common.kv``).
    ui = ObjectProperty(None, allownone=True)

    def __init__(self, **kwargs: Any) -> None:
        self._group = InstructionGroup()
        super().__init__(**kwargs)
        self.canvas.add(self._group)
        for name in ("pos", "size", "length", "ui"):
            self.fbind(name, self._redraw)

    def _redraw(self, *_args: object) -> None:
        group = self._group
        group.clear()
        ui = self.ui
        if ui is None:
            return
        count = max(int(self.length), PIN_MIN)
        size = min(self.height, ui.mm(5))
        step = size * 1.8
        y = self.center_y - size / 2
        for i in range(count):
            x = self.x + i * step
            group.add(Color(*ui.ink))
            if i < self.length:
                group.add(Ellipse(pos=(x, y), size=(size, size)))
            else:
                group.add(Line(circle=(x + size / 2, y + size / 2, size / 2 - ui.mm(0.3)),
                               width=ui.mm(0.3)))


#: What a PIN key's ``last_touch`` holds once forgotten: no position, no time.
NO_TOUCH = SimpleNamespace()


class PinOverlay(Overlay):
    """The officer's PIN pad, opened when a staff card goes in: dots for the digits typed,
    the card's answer (a wrong PIN with the tries left), the keypad (OK asks the card),
    Cancel. Its keys are disabled while the card checks the PIN."""

    length = NumericProperty(0)
    message = StringProperty("")
    busy = BooleanProperty(False)

    def refresh(self, flow: Any) -> None:
        self.length = flow.pin_length
        self.message = flow.pin_message.text(flow.language) if flow.pin_message else ""
        self.busy = flow.pin_busy
        if not self.length:
            self.forget_touches()

    def on_dismiss(self) -> None:
        self.forget_touches()

    def forget_touches(self) -> None:
        """Each key keeps the last touch that pressed it (Kivy's ``last_touch``, with its
        time): the keys in the order of those times spell the PIN. Dropped as soon as the
        digits are (OK, Cancel, the pad closed)."""
        for widget in self.walk(restrict=True):
            if getattr(widget, "last_touch", None) is not None:
                widget.last_touch = NO_TOUCH  # the property takes no None once set


class MissingOverlay(Overlay):
    """Why the finger shown cannot be scanned, chosen by the officer: the finger's name and
    one button for each reason (:data:`~kiosk.screens.flow_staff.MISSING_REASON_NAMES`),
    and Cancel."""

    finger = StringProperty("")  # the finger's msgid (FINGER_NAMES)
    #: (reason code, its name's msgid), in the vocabulary's order.
    reasons = ListProperty(list(MISSING_REASON_NAMES.items()))

    def refresh(self, flow: Any) -> None:
        self.finger = FINGER_NAMES[flow.current_finger]
