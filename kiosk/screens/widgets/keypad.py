"""The big numeric keypad (NIK, No. KK, postcode, RT/RW) and the keys all widgets share.

Every key is a :class:`KeyButton`: flat colours from the theme, a role that picks the pair
(``key``, ``primary`` or ``secondary``), the pressed state drawn in another pair so a tap is
seen, and the disabled pair when disabled. :class:`BackspaceKey` says ``tr('Delete')`` and,
where there is room, draws a backspace sign before it (Roboto has no ⌫ glyph).
"""

from __future__ import annotations

from typing import Any

from kivy.core.text import Label as CoreLabel
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    OptionProperty,
    StringProperty,
)
from kivy.uix.button import Button
from kivy.uix.gridlayout import GridLayout

from kiosk.core.vocabulary import LANGUAGES
from kiosk.screens.theme import Colour, Theme

__all__ = ["ActionKeys", "BackspaceKey", "CharKey", "KeyButton", "NumericKeypad", "key_colours",
           "text_width"]

#: The colour pair (background, text) of a key's role, at rest and while pressed.
_ROLE_PAIRS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "key": (("key_bg", "key_ink"), ("primary_bg", "primary_ink")),
    "primary": (("primary_bg", "primary_ink"), ("secondary_bg", "secondary_ink")),
    "secondary": (("secondary_bg", "secondary_ink"), ("primary_bg", "primary_ink")),
    # What cannot be undone (stop and delete): red, never the blue of the way forward.
    "danger": (("danger_bg", "danger_ink"), ("secondary_bg", "secondary_ink")),
}


def key_colours(ui: Theme | None, role: str, state: str, disabled: bool
                ) -> tuple[Colour, Colour]:
    """(background, text) colours of a key: one of the theme's checked text pairs."""
    if ui is None:  # before the app's theme is bound: invisible rather than wrong
        return (0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0, 0.0)
    if disabled:
        bg, ink = "disabled_bg", "disabled_ink"
    else:
        rest, down = _ROLE_PAIRS[role]
        bg, ink = down if state == "down" else rest
    return getattr(ui, bg), getattr(ui, ink)


def text_width(text: str, font_size: float, bold: bool = False) -> float:
    """The width in px of ``text`` set in the default font at ``font_size``."""
    if not text:
        return 0.0
    return float(CoreLabel(text=text, font_size=font_size, bold=bold).get_extents(text)[0])


class KeyButton(Button):
    """A flat key or button in the theme's colours (rules in ``widgets.kv``).

    >>> KeyButton(text="7", role="key")            # doctest: +SKIP
    >>> KeyButton(text=tr("Next"), role="primary")  # doctest: +SKIP
    """

    #: ``key`` (keyboards), ``primary`` (the way forward), ``secondary`` (other choices).
    role = OptionProperty("key", options=list(_ROLE_PAIRS))
    #: The app's :class:`Theme`, bound in ``widgets.kv`` to ``app.ui``.
    ui = ObjectProperty(None, allownone=True)


class CharKey(KeyButton):
    """A key that types one character: set in ``app.ui.font_big`` to be read at a glance."""


class BackspaceKey(KeyButton):
    """The delete-last-character key: ``tr('Delete')`` with a drawn backspace sign.

    With room for both the sign stands before the word; with room for only one, the word
    (``show_text``) wins over the sign; a key too narrow for the word shows the sign alone.
    """

    #: The language of its word (its keypad's).
    language = StringProperty(LANGUAGES[0])
    #: Whether the drawn sign and the word are shown (set from the key's width).
    show_icon = BooleanProperty(True)
    show_text = BooleanProperty(True)
    #: The sign's outline and its cross, in window-independent widget coordinates.
    icon_outline = ListProperty([])
    icon_cross_a = ListProperty([])
    icon_cross_b = ListProperty([])
    icon_line_width = NumericProperty(1.0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        refit = self._refit
        for name in ("pos", "size", "text", "font_size", "bold", "ui"):
            self.fbind(name, refit)
        self._refit()

    def _refit(self, *_args: object) -> None:
        ui = self.ui
        if ui is None:
            return
        icon_h = self.font_size * 0.62
        icon_w = icon_h * 1.45
        gap = icon_h * 0.45
        room = self.width - 2 * ui.mm(1.5)
        word = text_width(self.text, self.font_size, self.bold)
        self.show_text = word <= room or word == 0
        self.show_icon = word + gap + icon_w <= room or not self.show_text
        if self.show_icon and self.show_text and word:
            self.padding = [icon_w + gap, 0, 0, 0]  # the word moves right of the sign
            left = self.center_x - (icon_w + gap + word) / 2
        else:
            self.padding = [0, 0, 0, 0]
            left = self.center_x - icon_w / 2
        cy, half, tip = self.center_y, icon_h / 2, icon_h * 0.45
        right = left + icon_w
        self.icon_outline = [left, cy, left + tip, cy + half, right, cy + half,
                             right, cy - half, left + tip, cy - half]
        cx, arm = (left + tip + right) / 2, icon_h * 0.18
        self.icon_cross_a = [cx - arm, cy - arm, cx + arm, cy + arm]
        self.icon_cross_b = [cx - arm, cy + arm, cx + arm, cy - arm]
        self.icon_line_width = ui.mm(0.3)


class ActionKeys:
    """What the keypad and the keyboard share: their words' language, a Delete key and an
    action key (``on_backspace()``, ``on_action()``), mixed into each widget class."""

    #: The language of its words (Delete, Next; the keyboard's Space): its screen's.
    language = StringProperty(LANGUAGES[0])
    #: The action key's text; empty for ``tr('Next')`` in :attr:`language`.
    action_text = StringProperty("")
    #: Whether the action key can be pressed (drawn in the disabled colours when not).
    action_enabled = BooleanProperty(True)

    __events__ = ("on_backspace", "on_action")

    def on_backspace(self) -> None:
        """The Delete key was tapped."""

    def on_action(self) -> None:
        """The action key was tapped (only while ``action_enabled``)."""


class NumericKeypad(ActionKeys, GridLayout):
    """A 3x4 keypad: 1-9, then Delete, 0 and the action key; keys ``app.ui.key`` high.

    It sets its own height (four keys and the gaps); its width comes from the layout and
    should be at least ``fit_width`` (keys of 20 mm or more, the action word fitting).
    Events: ``on_digit(digit: str)``, ``on_backspace()``, ``on_action()``.

    Usage (a screen's ``.kv``)::

        NumericKeypad:
            size_hint_x: None
            width: max(self.fit_width, app.ui.mm(90))
            language: root.language                  # the screen's
            action_text: tr('Next', root.language)   # "" shows tr('Next')
            action_enabled: len(root.nik) == NIK_LENGTH
            on_digit: root.type_digit(args[1])
            on_backspace: root.delete_digit()
            on_action: root.go_next()
    """

    #: The width (px) at which every key's word fits: give the keypad at least this.
    fit_width = NumericProperty(0)

    __events__ = ("on_digit",)

    def key_for(self, name: str) -> Button:
        """The key for ``"0"``..``"9"``, ``"backspace"`` or ``"action"`` (tests, focus)."""
        return self.ids[{"backspace": "backspace", "action": "action"}.get(name, f"k{name}")]

    def on_digit(self, digit: str) -> None:
        """A digit key was tapped."""
