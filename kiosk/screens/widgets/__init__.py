"""The kiosk's shared touch widgets: keypad, keyboard, signature pad, hands, QR, chips,
picker. Rules for all of them are in ``widgets.kv``; the app loads it once, before the
screens' ``.kv`` files::

    from kiosk.screens.widgets import load_widgets_kv
    load_widgets_kv()

Every size comes from ``app.ui`` (a :class:`~kiosk.screens.theme.Theme`); the keypad and
the keyboard have a ``language`` of their own (their screen's), the picker's popup follows
``app.language``, so the running app must have both properties. The
widgets do no I/O and talk to no device: screens bind their events.
"""

from __future__ import annotations

from pathlib import Path

from kivy.lang import Builder

from kiosk.screens.widgets.chips import ChoiceChip, ChoiceChips
from kiosk.screens.widgets.hand import HandDiagram, MissingMark
from kiosk.screens.widgets.keyboard import KEY_ROWS, TextKeyboard
from kiosk.screens.widgets.keypad import (
    BackspaceKey,
    CharKey,
    KeyButton,
    NumericKeypad,
    key_colours,
    text_width,
)
from kiosk.screens.widgets.picker import PickerOption, PickerPopup
from kiosk.screens.widgets.qr import QRCodeImage, qr_modules
from kiosk.screens.widgets.signature_pad import SignaturePad

__all__ = [
    "KEY_ROWS",
    "WIDGETS_KV",
    "BackspaceKey",
    "CharKey",
    "ChoiceChip",
    "ChoiceChips",
    "HandDiagram",
    "KeyButton",
    "MissingMark",
    "NumericKeypad",
    "PickerOption",
    "PickerPopup",
    "QRCodeImage",
    "SignaturePad",
    "TextKeyboard",
    "key_colours",
    "load_widgets_kv",
    "qr_modules",
    "text_width",
]

WIDGETS_KV = Path(__file__).with_name("widgets.kv")
_loaded = False


def load_widgets_kv() -> None:
    """Load ``widgets.kv`` into Kivy's Builder; later calls do nothing."""
    global _loaded
    if not _loaded and str(WIDGETS_KV) not in Builder.files:
        Builder.load_file(str(WIDGETS_KV))
    _loaded = True
