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
from kiosk.screens.messages import N_, NONE, Msg

log = logging.getLogger(__name__)


class FormSteps:
    """Identity and demographics verbs (``app.flow.identity_digit(...)`` and so on)."""

    # -- identity --------------------------------------------------------------------------
    def identity_digit(self, digit: str) -> None:
        self.touch()
        self.identity.type_digit(digit)
        self._numbers_changed()
        self.view.update()

    def identity_backspace(self) -> None:
        self.touch()
        self.identity.backspace()
        self._numbers_changed()
        self.view.update()

    def _numbers_changed(self) -> None:
        """A key on the numbers: the step's refusal of the numbers as they were ("Not the
        NIK and No. KK this enrollment was begun with") goes, the field's own message
        follows what is typed now. A fault that asks for HELP (the disk full) stays."""
        if self.message and self.message.msgid not in m.ASKS_FOR_HELP:
            self.message = NONE

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
        home = (self.settings.province, self.settings.regency)

        def work() -> tuple[Nik, tuple[str, str, str] | None, Any]:
            nik = session.enter_identity(nik_text, kk_text)
            region = session.family_card_region
            villages = None
            if region is not None and region[:2] != home:
                # Another regency's villages, read here, off the UI thread, not when the
                # list is opened.
                villages = self._region(lambda: regions.regency_villages(*region[:2]))
            return nik, region, villages

        def then(result: tuple[Nik, tuple[str, str, str] | None, Any]) -> None:
            nik, region, villages = result
            self.nik = nik
            self.identity.clear()  # the digits live on only inside the session
            self._set_family_card_region(region, villages)
            self._show_step()
            if before is not None and (before.birth_date, before.sex) != (nik.birth_date,
                                                                          nik.sex):
                # Changed from review: what the details page shows from the NIK changed
                # too. Said at its top, where those facts are (the page goes there).
                self.message = Msg.of(m.NIK_CHANGED_DETAILS, "info")
                self.problems_shown += 1
                self.view.update()

        self._run(work, then)

    # -- demographics ----------------------------------------------------------------------
    def _set_family_card_region(self, region: tuple[str, str, str] | None,
                                villages: dict[str, list[tuple[str, str]]] | None) -> None:
        """The address "as on your family card" is of the No. KK's region, not the NIK's
        (a citizen born in Poso whose family card is of Banyumas): its kecamatan filled in
        from the KK's code, the lists of its regency offered. A KK changed from review to
        another region empties the kecamatan and village chosen for the one before."""
        changed = region != self.kk_region
        self.kk_region = region
        self._kk_villages = villages or None
        if not changed:
            return
        if self.form.values["kecamatan"] or self.form.values["kelurahan_desa"]:
            self.form.choose("kecamatan", "")
            self.form.choose("kelurahan_desa", "")
            self.form.kecamatan_code = ""
        if region is None:
            return
        (province, regency), district = self.kk_regency, region[2]
        if (province, regency) != region[:2]:
            return  # a regency the region data does not know: nothing to fill in
        name = self._region(lambda: regions.district_name(province, regency, district))
        if name:
            self.form.choose("kecamatan", name)
            self.form.kecamatan_code = district

    @property
    def kk_regency(self) -> tuple[str, str]:
        """(province, regency) whose kecamatan and villages the pickers offer: the No.
        KK's, or the kiosk's own (``[kiosk] regency``) before the KK is known or when the
        region data does not know the KK's regency (a code newer than the data)."""
        region, home = self.kk_region, (self.settings.province, self.settings.regency)
        if region is None or region[:2] == home:
            return home
        if self._kk_villages is None and not self._region(
                lambda: regions.districts(*region[:2])):
            return home
        return region[0], region[1]

    def kk_facts(self) -> list[tuple[str, str]]:
        """The family card's region, above its address (label msgid, value): the regency
        (and province) whose kecamatan and villages the lists offer."""
        if self.nik is None:
            return []
        province, regency = self.kk_regency
        regency_name = self._region(lambda: regions.regency_name(province, regency))
        province_name = self._region(lambda: regions.province_name(province))
        value = ", ".join(n for n in (regency_name, province_name) if n)
        return [(N_("Regency"), value or f"{province}.{regency}")]

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
        """The kecamatan of the family card's regency (:attr:`kk_regency`)."""
        province, regency = self.kk_regency
        return self._region(lambda: regions.districts(province, regency)) or []

    def picker_options(self, name: str) -> list[tuple[str, str]]:
        """(value, label) for a long list: kecamatan, kelurahan/desa (of the family card's
        regency), occupation."""
        if name == "kecamatan":
            return [(n, n) for _code, n in self.district_options()]
        if name == "kelurahan_desa":
            code = self.form.kecamatan_code
            if not code:
                return []
            province, regency = self.kk_regency
            if self._kk_villages is not None and (province, regency) != (
                    self.settings.province, self.settings.regency):
                found = self._kk_villages.get(code, [])
            else:
                found = self._region(lambda: regions.villages(province, regency, code)) or []
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

