"""Choice chips: one big toggle-like button per option of a short fixed list."""

from __future__ import annotations

from typing import Any

from kivy.properties import BooleanProperty, ListProperty, NumericProperty, StringProperty
from kivy.uix.stacklayout import StackLayout

from kiosk.screens.widgets.keypad import KeyButton, text_width

__all__ = ["ChoiceChip", "ChoiceChips"]


class ChoiceChip(KeyButton):
    """One option: as wide as its label (wrapped when wider than ``max_width``)."""

    #: The option's value (``ChoiceChips.selected`` when chosen).
    value = StringProperty("")
    #: Drawn with the primary colours when True, the secondary ones otherwise.
    selected = BooleanProperty(False)
    #: The widest the chip may be (the row's width), set by :class:`ChoiceChips`.
    max_width = NumericProperty(0)

    def label_width(self) -> float:
        """The label's width in px on one line."""
        return text_width(self.text, self.font_size, self.bold)


class ChoiceChips(StackLayout):
    """Wrapping rows of chips; tap one to select it. Height follows the content.

    ``options`` are ``(value, label)`` pairs; ``selected`` is the chosen value ("" for
    none). A tap selects its chip and dispatches ``on_select(value)`` (also when tapping
    the chip already selected). Setting ``selected`` from code dispatches nothing.

    Usage (a screen's ``.kv``, e.g. in a ScrollView)::

        ChoiceChips:
            options: [('M', tr('Male', root.language)), ('F', tr('Female', root.language))]
            selected: root.sex
            on_select: root.set_sex(args[1])
    """

    #: ``(value, label)`` pairs, in the order shown.
    options = ListProperty([])
    #: The selected option's value, or "".
    selected = StringProperty("")

    __events__ = ("on_select",)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fbind("options", self._rebuild)
        self.fbind("selected", self._mark)
        self.fbind("width", self._limit)
        self.fbind("padding", self._limit)
        self._rebuild()

    def chips(self) -> list[ChoiceChip]:
        """The chips, in the order of ``options``."""
        return [c for c in reversed(self.children) if isinstance(c, ChoiceChip)]

    def chip_for(self, value: str) -> ChoiceChip:
        """The chip of the option ``value``."""
        return next(c for c in self.chips() if c.value == value)

    def on_select(self, value: str) -> None:
        """A chip was tapped; ``selected`` is already ``value``."""

    def _rebuild(self, *_args: object) -> None:
        chips = self.chips()
        if [c.value for c in chips] == [str(value) for value, _label in self.options]:
            # The same options in another language: relabel, do not build the chips again.
            for chip, (_value, label) in zip(chips, self.options, strict=True):
                chip.text = str(label)
            return
        self.clear_widgets()
        for value, label in self.options:
            chip = ChoiceChip(value=str(value), text=str(label))
            chip.bind(on_release=self._tapped)
            self.add_widget(chip)
        self._limit()
        self._mark()

    def _tapped(self, chip: ChoiceChip) -> None:
        self.selected = chip.value
        self.dispatch("on_select", chip.value)

    def _mark(self, *_args: object) -> None:
        for chip in self.chips():
            chip.selected = chip.value == self.selected

    def _limit(self, *_args: object) -> None:
        left, _top, right, _bottom = self.padding
        for chip in self.chips():
            chip.max_width = max(0.0, self.width - left - right)
