"""A full-screen list to pick one of many (province, regency, district, village)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from kivy.properties import ObjectProperty, StringProperty
from kivy.uix.modalview import ModalView

from kiosk.screens.widgets.keypad import KeyButton

__all__ = ["PickerOption", "PickerPopup"]


class PickerOption(KeyButton):
    """One row of the list (a RecycleView view: reused as the list scrolls)."""

    #: The option's value, handed to ``on_pick``.
    value = StringProperty("")
    #: The popup the row belongs to.
    picker = ObjectProperty(None, allownone=True)

    def on_release(self) -> None:
        if self.picker is not None:
            self.picker.pick(self.value)


class PickerPopup(ModalView):
    """Title, a scrolling list of big buttons (a RecycleView: fine for 100s of villages) and
    Back. Tapping an option closes the popup, then calls ``on_pick(value)``; Back closes
    it and calls nothing.

    Usage (a screen's Python)::

        self.picker = PickerPopup()
        self.picker.open_with(tr("Choose your village", app.language),
                              [(v.code, v.name) for v in villages],
                              self.set_village, selected=self.village_code)
    """

    #: The question over the list.
    title = StringProperty("")
    #: The value drawn as chosen (primary colours), "" for none.
    selected = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        self._on_pick: Callable[[str], object] | None = None
        kwargs.setdefault("auto_dismiss", False)
        super().__init__(**kwargs)

    def open_with(self, title: str, options: Sequence[tuple[str, str]],
                  on_pick: Callable[[str], object], selected: str = "") -> None:
        """Show ``options`` (``(value, label)`` pairs) under ``title``; scrolled so that
        ``selected`` (if among them) is in view."""
        self.title = title
        self.selected = selected
        self._on_pick = on_pick
        values = [str(value) for value, _label in options]
        self.ids.list.data = [
            {"text": str(label), "value": value, "picker": self,
             "role": "primary" if value == selected else "key"}
            for value, (_v, label) in zip(values, options, strict=True)]
        rv = self.ids.list
        if selected in values and len(values) > 1:
            rv.scroll_y = 1.0 - values.index(selected) / (len(values) - 1)
        else:
            rv.scroll_y = 1.0
        self.open(animation=False)

    def pick(self, value: str) -> None:
        """Choose ``value``: close, then call ``on_pick(value)`` (which may reopen us)."""
        callback, self._on_pick = self._on_pick, None
        self.dismiss(animation=False)
        if callback is not None:
            callback(value)

    def cancel(self) -> None:
        """Close without a choice."""
        self._on_pick = None
        self.dismiss(animation=False)
