"""Pieces every step's screen shares: the bottom navigation bar and the three overlays
(cancel, idle warning, help). Rules in ``common.kv``."""

from __future__ import annotations

from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.modalview import ModalView

from kiosk.core.vocabulary import LANGUAGES


class NavBar(BoxLayout):
    """Cancel (or Back while changing a step from review), Help, Repeat, and the step's own
    forward button (``primary_text``; hidden when empty). ``on_primary`` fires on it."""

    primary_text = StringProperty("")
    primary_enabled = BooleanProperty(True)
    #: How the forward button is drawn: "primary", or "secondary" when another button
    #: (Help, after three failed tries) is the way forward.
    primary_role = StringProperty("primary")
    left_text = StringProperty("")  # "" = Cancel (Back while editing)
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


class CancelOverlay(Overlay):
    """"Stop and delete what you entered?": cancel asks once."""


class IdleOverlay(Overlay):
    """"Are you still there?" with the seconds left; one tap continues."""


class HelpOverlay(Overlay):
    """"An officer has been called.", shown while the help LED blinks."""
