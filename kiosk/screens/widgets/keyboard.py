"""The on-screen keyboard for names and addresses, in capitals as on the e-KTP.

Five rows, ten keys wide on the 155 mm panel (about 14.5 mm a key, 10.5 mm high, 1 mm
apart; about 57 mm tall in all)::

    1 2 3 4 5 6 7 8 9 0
    Q W E R T Y U I O P
    A S D F G H J K L '
    Z X C V B N M - . ,
    / [   Space   ] [Delete] [ Next ]
"""

from __future__ import annotations

from typing import Any

from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button

from kiosk.screens.widgets.keypad import ActionKeys, CharKey

__all__ = ["KEY_ROWS", "TextKeyboard"]

#: The character rows, top to bottom; the bottom row ("/", space, Delete, action) is in kv.
KEY_ROWS: tuple[str, ...] = ("1234567890", "QWERTYUIOP", "ASDFGHJKL'", "ZXCVBNM-.,")


class TextKeyboard(ActionKeys, BoxLayout):
    """Capital letters A-Z, digits and ``' - . , /``, Space, Delete and an action key.

    It sets its own height (five rows of ``app.ui.key``); its width comes from the layout.
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

    def __init__(self, **kwargs: Any) -> None:
        self._keys: dict[str, Button] = {}
        super().__init__(**kwargs)

    def on_kv_post(self, base_widget: object) -> None:
        rows = [self.ids.row0, self.ids.row1, self.ids.row2, self.ids.row3]
        for row, chars in zip(rows, KEY_ROWS, strict=True):
            for char in chars:
                key = CharKey(text=char)
                key.bind(on_release=lambda _key, c=char: self.dispatch("on_text_key", c))
                row.add_widget(key)
                self._keys[char] = key
        self._keys["/"] = self.ids.slash
        self._keys[" "] = self.ids.space
        self._keys["backspace"] = self.ids.backspace
        self._keys["action"] = self.ids.action

    def key_for(self, name: str) -> Button:
        """The key typing ``name`` (a character, ``" "``), or ``"backspace"``/``"action"``."""
        return self._keys[name]

    def on_text_key(self, char: str) -> None:
        """A character key (or Space, as ``" "``) was tapped."""
