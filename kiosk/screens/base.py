"""The base screen: translation helpers and activation hooks for every step's screen."""

from __future__ import annotations

from kivy.uix.screenmanager import Screen


class KioskScreen(Screen):
    """A kiosk step. Subclasses get ``on_activate``/``on_deactivate`` as the screen shows
    and hides; they talk to the app (and through it the session), never to devices."""

    def on_enter(self, *args: object) -> None:
        self.on_activate()

    def on_leave(self, *args: object) -> None:
        self.on_deactivate()

    def on_activate(self) -> None:
        """Called when the screen becomes visible."""

    def on_deactivate(self) -> None:
        """Called when the screen is left; wipe anything personal shown on it."""
