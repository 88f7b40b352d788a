"""The base screen: activation hooks and the one refresh from the flow."""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty
from kivy.uix.screenmanager import Screen

from kiosk.core.vocabulary import LANGUAGES


class KioskScreen(Screen):
    """A kiosk step. The app calls :meth:`refresh` with the flow whenever the flow changed;
    a screen copies what it shows from there and calls only ``app.flow.<verb>`` back. It
    never talks to a device or the journal. Everything personal a screen shows comes from
    the flow, so a wiped flow leaves nothing behind on the next refresh; :meth:`wipe` also
    clears what a widget holds of its own (a drawn signature).

    Its labels are in :attr:`language`, not ``app.language``: the app sets it when the
    screen is shown (and while it is shown, when the citizen's language changes), so a
    change of language re-renders the screen on view, not every screen built."""

    #: The language this screen's labels are in (the ``.kv`` files' ``tr(..., root.language)``).
    language = StringProperty(LANGUAGES[0])

    def on_enter(self, *args: object) -> None:
        self.on_activate()

    def on_leave(self, *args: object) -> None:
        self.on_deactivate()

    def on_activate(self) -> None:
        """Called when the screen becomes visible."""

    def on_deactivate(self) -> None:
        """Called when the screen is left."""

    def refresh(self, flow: Any) -> None:
        """Copy what this screen shows from ``flow``."""

    def wipe(self) -> None:
        """Forget anything a widget holds by itself (called at every wipe)."""
