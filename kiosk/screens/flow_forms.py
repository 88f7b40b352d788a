"""The flow's typing steps: identity (NIK, No. KK on the keypad) and demographics
(keyboard, chips, pickers). A mixin of :class:`~kiosk.screens.flow.Flow`, split out to
keep each module to one job; it uses the flow's state and helpers."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kiosk.enrollment import regions
from kiosk.enrollment.nik import Nik
from kiosk.screens import messages as m
from kiosk.screens.forms import CHOICE_FIELDS, OCCUPATIONS
from kiosk.screens.messages import N_, Msg

log = logging.getLogger(__name__)


class FormSteps:
    """Identity and demographics verbs (``app.flow.identity_digit(...)`` and so on)."""

    # -- identity --------------------------------------------------------------------------
    def identity_digit(self, digit: str) -> None:
        self.touch()
        self.identity.type_digit(digit)
        self.view.update()

    def identity_backspace(self) -> None:
        self.touch()
        self.identity.backspace()
        self.view.update()

    def identity_focus(self, name: str) -> None:
        self.touch()
        self.identity.set_focus(name)
        self.view.update()

    def submit_identity(self) -> None:
        self.touch()
        session = self.session
        if session is None or self.screen != "identity" or not self.identity.is_valid:
            return
        nik_text, kk_text = self.identity.nik, self.identity.kk

        before = self.nik

        def then(nik: Nik) -> None:
            self.nik = nik
            self.identity.clear()  # the digits live on only inside the session
            self._prefill_form(nik)
            self._show_step()
            if before is not None and (before.birth_date, before.sex) != (nik.birth_date,
                                                                          nik.sex):
                # Changed from review: what the details page shows from the NIK changed
                # too. Said at its top, where those facts are (the page goes there).
                self.message = Msg.of(m.NIK_CHANGED_DETAILS, "info")
                self.problems_shown += 1
                self.view.update()

        self._run(lambda: session.enter_identity(nik_text, kk_text), then)

    # -- demographics ----------------------------------------------------------------------
    def _prefill_form(self, nik: Nik) -> None:
        s = self.settings
        if not self.form.values["kecamatan"] and (nik.province, nik.regency) == (
                s.province, s.regency):
            name = self._region(lambda: regions.district_name(nik.province, nik.regency,
                                                              nik.district))
            if name:
                self.form.choose("kecamatan", name)
                self.form.kecamatan_code = nik.district

    @staticmethod
    def _region(lookup: Callable[[], Any]) -> Any:
        try:
            return lookup()
        except regions.RegionDataError as exc:
            log.error("region names unavailable: %s", exc)
            return None

    def nik_facts(self) -> list[tuple[str, str]]:
        """What the NIK says, for the demographics screen: (label msgid, value)."""
        nik = self.nik
        if nik is None:
            return []
        born = nik.birth_date.strftime("%d-%m-%Y")
        sex = self.t(N_("Female") if nik.sex == "F" else N_("Male"))
        province = self._region(lambda: regions.province_name(nik.province)) or nik.province
        regency = self._region(lambda: regions.regency_name(nik.province, nik.regency)) or (
            nik.regency)
        district = self._region(lambda: regions.district_name(
            nik.province, nik.regency, nik.district)) or nik.district
        return [(N_("Date of birth"), born), (N_("Sex"), sex),
                (N_("Province"), province), (N_("Regency"), regency),
                (N_("Kecamatan"), district)]

    def form_type(self, char: str) -> None:
        self.touch()
        self.form.type_char(char)
        self._form_changed()

    def _form_changed(self) -> None:
        if self.form.errors or self.message:  # the message follows what is still wrong
            self.message = self.form.first_error()
        self.view.update()

    def form_backspace(self) -> None:
        self.touch()
        self.form.backspace()
        self.view.update()

    def form_focus(self, name: str | None) -> None:
        self.touch()
        self.form.set_focus(name)
        self.view.update()

    def form_next(self) -> None:
        self.touch()
        self.form.next_field()
        self.view.update()

    def form_choose(self, name: str, value: str) -> None:
        self.touch()
        if name == "kecamatan":
            code = next((c for c, n in self.district_options() if n == value), "")
            if value != self.form.values["kecamatan"]:
                self.form.choose("kelurahan_desa", "")
            self.form.kecamatan_code = code
        self.form.choose(name, value)
        self._form_changed()

    def choice_options(self, name: str) -> list[tuple[str, str]]:
        """(value, label in the citizen's language) for a chip field."""
        return [(value, self.t(label)) for value, label in CHOICE_FIELDS[name][1].items()]

    def district_options(self) -> list[tuple[str, str]]:
        s = self.settings
        return self._region(lambda: regions.districts(s.province, s.regency)) or []

    def picker_options(self, name: str) -> list[tuple[str, str]]:
        """(value, label) for a long list: kecamatan, kelurahan/desa, occupation."""
        s = self.settings
        if name == "kecamatan":
            return [(n, n) for _code, n in self.district_options()]
        if name == "kelurahan_desa":
            code = self.form.kecamatan_code
            if not code:
                return []
            found = self._region(lambda: regions.villages(s.province, s.regency, code)) or []
            return [(n, n) for _c, n in found]
        if name == "occupation":
            return [(value, self.t(label)) for value, label in OCCUPATIONS.items()]
        return []

    def submit_demographics(self) -> None:
        self.touch()
        session, nik = self.session, self.nik
        if session is None or nik is None or self.screen != "demographics":
            return
        checked = self.form.check(nik, self.today())
        if checked is None:
            self.message = self.form.first_error()
            self.problems_shown += 1
            self.view.update()
            return

        def refused(error: BaseException) -> None:  # the session's own check: shown on top
            self._fail(error)
            self.problems_shown += 1

        self._run(lambda: session.confirm_demographics(checked), lambda _r: self._show_step(),
                  on_error=refused)

