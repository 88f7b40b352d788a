"""Demographics: what the NIK says (shown, not typed), the family-card fields typed on the
on-screen keyboard, and pickers for the fixed lists and the kiosk's own kecamatan and
kelurahan/desa (names from the Kemendagri dataset)."""

from __future__ import annotations

from typing import Any

from kivy.app import App
from kivy.properties import DictProperty, ListProperty, StringProperty

from kiosk.screens.base import KioskScreen
from kiosk.screens.forms import CHOICE_FIELDS, PICKER_FIELDS, TEXT_FIELDS
from kiosk.screens.widgets import PickerPopup


class DemographicsScreen(KioskScreen):
    facts = ListProperty()  # [(label, value)] from the NIK
    values = DictProperty()
    errors = DictProperty()  # field -> message in the citizen's language
    focus = StringProperty("")
    note = StringProperty("")
    chips = DictProperty()  # field -> [(value, label)]

    def refresh(self, flow: Any) -> None:
        lang = flow.language
        self.facts = [(flow.t(label), value) for label, value in flow.nik_facts()]
        self.values = dict(flow.form.values)
        self.errors = {k: v.text(lang) for k, v in flow.form.errors.items()}
        self.focus = flow.form.focus or ""
        self.note = flow.message.text(lang) if flow.message else ""
        self.chips = {name: flow.choice_options(name) for name in CHOICE_FIELDS}
        for name, options in self.chips.items():  # set here: a kv binding on a dynamic
            self.ids[name].options = options      # class's list default does not follow

    @staticmethod
    def label(name: str) -> str:
        if name in TEXT_FIELDS:
            return TEXT_FIELDS[name][0]
        if name in CHOICE_FIELDS:
            return CHOICE_FIELDS[name][0]
        return PICKER_FIELDS[name]

    def pick(self, name: str) -> None:
        """Open the list for a picker field; the choice goes to the flow."""
        flow = App.get_running_app().flow
        flow.touch()
        options = flow.picker_options(name)
        if not options:
            return
        PickerPopup().open_with(flow.t(self.label(name)), options,
                                lambda value: flow.form_choose(name, value))

    def display(self, name: str) -> str:
        """A picker or chip field's value as shown (translated label, or the name)."""
        value = self.values.get(name, "")
        flow = App.get_running_app().flow
        if name == "occupation":
            return dict(flow.picker_options("occupation")).get(value, value)
        return value
