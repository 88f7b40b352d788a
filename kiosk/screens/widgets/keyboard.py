"""The on-screen keyboard for names and addresses, in capitals as on the e-KTP.

Four rows, thirteen keys wide: the letters and marks on the left, the digits in a block on
the right, as on a phone's number pad (on the 155 mm panel about 11 mm a key, 10.5 mm high,
1 mm apart; about 45 mm tall in all, a row less than a digits row on top would take: the
room goes to the field's value, shown whole above it)::

    Q W E R T Y U I O P  7 8 9
    A S D F G H J K L '  4 5 6
    Z X C V B N M - . ,  1 2 3
    / ( ) [ Space ] [Delete] 0 [Next]

A field that takes only some of the characters (a name: letters, spaces, apostrophes,
hyphens and dots) sets :attr:`TextKeyboard.allowed`: the other keys are drawn disabled.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button

from kiosk.screens.widgets.keypad import ActionKeys, CharKey

__all__ = ["KEY_ROWS", "TextKeyboard"]

#: The character rows, top to bottom; the bottom row ("/", "(", ")", Space, Delete, "0",
#: action) is in kv.
KEY_ROWS: tuple[str, ...] = ("QWERTYUIOP789", "ASDFGHJKL'456", "ZXCVBNM-.,123")
#: The characters of the bottom row's character keys.
BOTTOM_CHARS = "/()0"


class TextKeyboard(ActionKeys, BoxLayout):
    """Capital letters A-Z, digits and ``' - . , / ( )``, Space, Delete and an action key.

    It sets its own height (four rows of ``app.ui.key``); its width comes from the layout.
    Events: ``on_text_key(char: str)`` (``" "`` for Space), ``on_backspace()``,
    ``on_action()``.

    Usage (a screen's ``.kv``)::

        TextKeyboard:
            language: root.language                  # the screen's
            action_text: tr('OK', root.language)     # "" shows tr('Next')
            action_enabled: bool(root.name.strip())
            on_text_key: root.type_char(args[1])
            on_backspace: root.delete_char()
            on_action: root.go_next()
    """

    __events__ = ("on_text_key",)

    #: The characters the field takes (``" "`` for Space); empty: all. The others' keys are
    #: disabled (a name has no digits: its keys say so before the form would refuse them).
    allowed = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        self._keys: dict[str, Button] = {}
        super().__init__(**kwargs)

    def on_kv_post(self, base_widget: object) -> None:
        rows = [self.ids.row0, self.ids.row1, self.ids.row2]
        for row, chars in zip(rows, KEY_ROWS, strict=True):
            for char in chars:
                key = CharKey(text=char)
                key.bind(on_release=lambda _key, c=char: self.dispatch("on_text_key", c))
                row.add_widget(key)
                self._keys[char] = key
        for char, name in zip(BOTTOM_CHARS, ("slash", "open", "close", "zero"), strict=True):
            self._keys[char] = self.ids[name]
        self._keys[" "] = self.ids.space
        self._keys["backspace"] = self.ids.backspace
        self._keys["action"] = self.ids.action
        self.fbind("allowed", self._enable)
        self._enable()

    def _enable(self, *_args: object) -> None:
        allowed = self.allowed
        for char, key in self._keys.items():
            if len(char) == 1:
                key.disabled = bool(allowed) and char not in allowed

    def key_for(self, name: str) -> Button:
        """The key typing ``name`` (a character, ``" "``), or ``"backspace"``/``"action"``."""
        return self._keys[name]

    def on_text_key(self, char: str) -> None:
        """A character key (or Space, as ``" "``) was tapped."""
