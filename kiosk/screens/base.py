"""The base screen: activation hooks and the one refresh from the flow."""

from __future__ import annotations

import weakref
from typing import Any

from kivy.animation import Animation
from kivy.clock import Clock
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.label import Label
from kivy.uix.screenmanager import Screen
from kivy.uix.scrollview import ScrollView

from kiosk.core.vocabulary import LANGUAGES
from kiosk.screens.memory import release_label_textures, restore_label_textures


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

    #: The flow is working for this screen (a capture, a durable commit): its buttons are
    #: disabled. Set by the app on the screen shown, and on a screen as it is shown, not on
    #: every screen: a disabled button's label is rendered again, and the flow is busy twice
    #: a step, which re-rendered every hidden screen's buttons (and gave back the textures
    #: they had dropped) in the frame after each tap.
    busy = BooleanProperty(False)

    #: A step is being changed from review: the left button says Back, not Cancel. Set like
    #: :attr:`busy`, on the screen shown only (entering or leaving an edit re-rendered the
    #: left button of every screen built).
    editing = BooleanProperty(False)

    #: The screen's message sends the citizen to HELP (``flow.help_wanted``): its Help
    #: button is drawn as the way forward. Set like :attr:`busy`, on the screen shown only.
    help_wanted = BooleanProperty(False)

    #: Keep the labels rendered while not shown (the screens shown between citizens);
    #: a step's screen drops them when left and renders them again when shown.
    keep_rendered = False

    def on_pre_enter(self, *args: object) -> None:
        restore_label_textures(self)  # rendered before the first frame that shows it

    def on_enter(self, *args: object) -> None:
        self.on_activate()

    def on_leave(self, *args: object) -> None:
        self.on_deactivate()
        if not self.keep_rendered:
            self._release_watched()
            # What on_deactivate changed is laid out before the next frame, and a label
            # whose size changes renders again (``text_size: self.size``): once more after
            # that frame (a screen shown again meanwhile is left as it is).
            Clock.schedule_once(lambda _dt: self.release_if_hidden(), 0)

    def _release_watched(self) -> None:
        """Drop every label's texture and have each label report a render: one while the
        screen is hidden is dropped again before the frame (one walk of the screen for
        both). Labels render after the screen is left for reasons of their own: the button
        tapped to leave it ends its pressed look 35 ms later (Kivy's ``min_state_time``;
        0.2 s later inside a scroll view, which delays the touch), and its text colour
        follows that state."""
        if not hasattr(self, "_watched"):
            self._watched: weakref.WeakSet[Label] = weakref.WeakSet()
            self._release_again = Clock.create_trigger(lambda _dt: self.release_if_hidden(),
                                                       -1)
        release_label_textures(self, each_label=self._watch)

    def _watch(self, label: Label) -> None:
        if label not in self._watched:
            self._watched.add(label)
            label.fbind("texture", self._rendered)

    def _rendered(self, _label: Label, texture: object) -> None:
        manager = self.manager
        if texture is not None and manager is not None and manager.current_screen is not self:
            self._release_again()

    def release_if_hidden(self) -> None:
        """Drop the labels' textures again if this screen is not shown (after a wipe's
        refresh, which renders the texts it changed)."""
        manager = self.manager
        if not self.keep_rendered and (manager is None or manager.current_screen is not self):
            # Watched from now on: a screen never shown yet (a citizen who declined at the
            # consent never saw the details page) renders labels again in the layout pass
            # after a wipe's refresh (a label's width follows another's new text), and
            # had no watch, which only leaving a screen set up (the touch monkey, seed 4).
            self._release_watched()

    def on_activate(self) -> None:
        """Called when the screen becomes visible."""

    def on_deactivate(self) -> None:
        """Called when the screen is left."""

    def refresh(self, flow: Any) -> None:
        """Copy what this screen shows from ``flow``."""

    def wipe(self) -> None:
        """Forget anything a widget holds by itself (called at every wipe)."""

    def reset_view(self) -> None:
        """Every scroll view of the screen back to its top (called at every wipe, before
        :meth:`wipe`): the next citizen's consent opened where the last one had scrolled
        it, at its end, the "what we record" paragraph and the "scroll down" hint gone."""
        for widget in self.walk(restrict=True):
            if isinstance(widget, ScrollView):
                Animation.stop_all(widget)
                widget.scroll_x, widget.scroll_y = 0.0, 1.0
