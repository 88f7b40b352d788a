"""The two forms a citizen types into, as plain models (no Kivy): identity and
demographics. The on-screen keypad and keyboard send keys here through the flow; the
screens only show what these hold. Validation is the domain's own
(:func:`~kiosk.enrollment.nik.parse_nik`,
:func:`~kiosk.enrollment.demographics.demographics_problems`), so the messages under a
field are the domain's bilingual ones.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from kiosk.enrollment.demographics import (
    BLOOD_TYPES,
    CITIZENSHIPS,
    MARITAL_STATUSES,
    RELIGIONS,
    Demographics,
    demographics_problems,
)
from kiosk.enrollment.nik import (
    NIK_LENGTH,
    InvalidFamilyCardNumber,
    InvalidNik,
    Nik,
    check_prefix,
    parse_kk,
    parse_nik,
)
from kiosk.screens.messages import N_, NONE, Msg

#: How a NIK or No. KK is shown while typed: region 6, date 6, serial 4 (the parts the
#: domain's messages name: "digits 7-12"); three groups fit one line on the 7-inch panel.
GROUPS = (6, 6, 4)


def group_digits(digits: str) -> str:
    """``7202015208850001`` -> ``720201 520885 0001`` (partial input grouped as far as it
    goes)."""
    parts, start = [], 0
    for size in GROUPS:
        if start >= len(digits):
            break
        parts.append(digits[start:start + size])
        start += size
    return " ".join(parts)


@dataclass
class IdentityForm:
    """NIK and No. KK typed on the keypad; ``focus`` is the field the keys go to."""

    today: Callable[[], date] = date.today
    nik: str = ""
    kk: str = ""
    focus: str = "nik"

    def type_digit(self, digit: str) -> None:
        if len(digit) != 1 or digit not in "0123456789":
            return
        value = getattr(self, self.focus)
        if len(value) >= NIK_LENGTH:
            return
        setattr(self, self.focus, value + digit)
        if (self.focus == "nik" and len(self.nik) == NIK_LENGTH and len(self.kk) < NIK_LENGTH
                and not self.refused("nik")):
            self.focus = "kk"  # one tap saved: the KK follows a NIK the domain takes

    def backspace(self) -> None:
        value = getattr(self, self.focus)
        if not value and self.focus == "kk":
            self.focus = "nik"
            value = self.nik
        setattr(self, self.focus, value[:-1])

    def set_focus(self, name: str) -> None:
        if name in ("nik", "kk"):
            self.focus = name

    def message(self, name: str) -> Msg:
        """The live message under field ``name``: progress while typing, then the domain's
        verdict."""
        value = getattr(self, name)
        if not value:
            return NONE
        # The domain's verdict as soon as the digits typed show a fault (a province code
        # that does not exist, after two digits), and while it is corrected: a backspace
        # past the last digit does not hide the reason behind "15 of 16 digits".
        try:
            check_prefix(value, parse_nik if name == "nik" else parse_kk, today=self.today())
        except (InvalidNik, InvalidFamilyCardNumber) as exc:
            return Msg.pair(exc.message_id, exc.message_en)
        if len(value) < NIK_LENGTH:
            return Msg.of(N_("{typed} of {total} digits"), "info", typed=len(value),
                          total=NIK_LENGTH)
        return Msg.of(N_("Looks right"), "ok")

    def refused(self, name: str) -> bool:
        """The domain refuses the digits of field ``name`` typed so far, whatever follows
        (its message is the domain's reason): the screen frames it as an error."""
        return bool(getattr(self, name)) and self.message(name).kind == "error"

    @property
    def is_valid(self) -> bool:
        try:
            parse_nik(self.nik, today=self.today())
            parse_kk(self.kk, today=self.today())
        except (InvalidNik, InvalidFamilyCardNumber):
            return False
        return True

    def clear(self) -> None:
        self.nik = self.kk = ""
        self.focus = "nik"


# -- demographics -----------------------------------------------------------------------------
#: Text fields in the order "Next" walks them: field -> (label msgid, keyboard layout, max).
TEXT_FIELDS: dict[str, tuple[str, str, int]] = {
    "full_name": (N_("Full name"), "name", 100),
    "place_of_birth": (N_("Place of birth"), "place", 60),
    "address": (N_("Address"), "letters", 120),
    "rt": (N_("RT"), "digits", 3),
    "rw": (N_("RW"), "digits", 3),
}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: The characters each layout types (``" "``: Space); empty: every key of the keyboard.
#: As the domain takes them: a name letters, spaces, apostrophes, hyphens and dots; a
#: place those, digits and ``( ) / ,``. "digits" is the numeric keypad (RT, RW).
LAYOUT_CHARS: dict[str, str] = {
    "name": _LETTERS + " '-.",
    "place": _LETTERS + "0123456789 '-.,/()",
    "letters": "",
    "digits": "0123456789",
}

#: Fields chosen from a list: field -> (label msgid, [(value, label msgid or name)]).
RELIGION_LABELS = {
    "Islam": N_("Islam"), "Kristen": N_("Protestant"), "Katolik": N_("Catholic"),
    "Hindu": N_("Hindu"), "Buddha": N_("Buddhist"), "Khonghucu": N_("Confucian"),
    "Kepercayaan terhadap Tuhan YME": N_("Belief in God (Kepercayaan)"),
}
MARITAL_LABELS = {
    "Belum Kawin": N_("Not married"), "Kawin": N_("Married"),
    "Cerai Hidup": N_("Divorced"), "Cerai Mati": N_("Widowed"),
}
CITIZENSHIP_LABELS = {"WNI": N_("Indonesian (WNI)"), "WNA": N_("Foreign (WNA)")}
#: The common occupations of the family card, from Dukcapil's SIAK list (89 "jenis
#: pekerjaan"; three here without its bracketed abbreviation: "Pegawai Negeri Sipil (PNS)"),
#: and its last, "Lainnya" (Other), for every occupation not here: the field is required,
#: and a citizen whose work is not listed must be able to go on. The record keeps the value
#: (Indonesian text, at most 60 characters; docs/packet.md).
OCCUPATIONS = {
    "Belum/Tidak Bekerja": N_("Not working"),
    "Mengurus Rumah Tangga": N_("Homemaker"),
    "Pelajar/Mahasiswa": N_("Student"),
    "Pensiunan": N_("Retired"),
    "Pegawai Negeri Sipil": N_("Civil servant"),
    "Tentara Nasional Indonesia": N_("Armed forces"),
    "Kepolisian RI": N_("Police"),
    "Petani/Pekebun": N_("Farmer"),
    "Nelayan/Perikanan": N_("Fisher"),
    "Peternak": N_("Livestock farmer"),
    "Pedagang": N_("Trader"),
    "Wiraswasta": N_("Self-employed"),
    "Karyawan Swasta": N_("Private employee"),
    "Buruh Harian Lepas": N_("Day labourer"),
    "Guru": N_("Teacher"),
    "Perawat": N_("Nurse"),
    "Bidan": N_("Midwife"),
    "Dokter": N_("Doctor"),
    "Sopir": N_("Driver"),
    "Tukang Kayu": N_("Carpenter"),
    "Pendeta": N_("Pastor"),
    "Ustadz/Mubaligh": N_("Islamic teacher"),
    "Lainnya": N_("Other"),  # SIAK's own last entry: kept last, after the named ones
}
CHOICE_FIELDS: dict[str, tuple[str, dict[str, str]]] = {
    "religion": (N_("Religion"), {v: RELIGION_LABELS[v] for v in RELIGIONS}),
    "marital_status": (N_("Marital status"), {v: MARITAL_LABELS[v] for v in MARITAL_STATUSES}),
    # "-" is the family card's "not known": said so on its chip, not a bare dash.
    "blood_type": (N_("Blood type"), {"A": "A", "B": "B", "AB": "AB", "O": "O",
                                      "-": N_("Don't know")}),
    "citizenship": (N_("Citizenship"), {v: CITIZENSHIP_LABELS[v] for v in CITIZENSHIPS}),
}
PICKER_FIELDS = {"kecamatan": N_("Kecamatan"),
                 "kelurahan_desa": N_("Village"),
                 "occupation": N_("Occupation")}
assert set(BLOOD_TYPES) >= set(CHOICE_FIELDS["blood_type"][1])  # noqa: S101
#: The demographics form's rows top to bottom, each with the parts of the domain's problems
#: shown under it (RT and RW share a row). A problem of no row (the date of birth or sex
#: against the NIK, eligibility) is about what the NIK says, shown above every row.
FORM_ROWS: dict[str, tuple[str, ...]] = {
    "full_name": ("full_name",), "place_of_birth": ("place_of_birth",),
    "address": ("address",), "rt": ("rt", "rw"), "kecamatan": ("kecamatan",),
    "kelurahan_desa": ("kelurahan_desa",), "occupation": ("occupation",),
    "religion": ("religion",), "marital_status": ("marital_status",),
    "blood_type": ("blood_type",), "citizenship": ("citizenship",),
}
ROW_OF_PART = {part: row for row, parts in FORM_ROWS.items() for part in parts}
#: What a field chosen on a chip or from a list says when it is not right: nothing chosen
#: yet (or a value the list does not hold). Never the domain's own message, which lists
#: the record's values ("must be one of: Belum Kawin, Kawin, ...") and not the chips'.
CHOOSE = {
    "religion": N_("Choose your religion."),
    "marital_status": N_("Choose your marital status."),
    "blood_type": N_("Choose your blood type."),
    "citizenship": N_("Choose your citizenship."),
    "kecamatan": N_("Choose your kecamatan."),
    "kelurahan_desa": N_("Choose your village."),
    "occupation": N_("Choose your occupation."),
}
assert set(CHOOSE) == set(CHOICE_FIELDS) | set(PICKER_FIELDS)  # noqa: S101


@dataclass
class DemographicsForm:
    """The family-card fields as typed and chosen. Date of birth and sex come from the NIK
    and are shown, not typed."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, Msg] = field(default_factory=dict)
    focus: str | None = "full_name"
    kecamatan_code: str = ""  # the chosen district's code, for its villages

    @classmethod
    def blank(cls) -> DemographicsForm:
        values = {name: "" for name in (*TEXT_FIELDS, *CHOICE_FIELDS, *PICKER_FIELDS)}
        values["citizenship"] = "WNI"
        return cls(values=values)

    def type_char(self, char: str) -> None:
        if self.focus is None or len(char) != 1:
            return
        _label, layout, limit = TEXT_FIELDS[self.focus]
        allowed = LAYOUT_CHARS[layout]
        if allowed and char not in allowed:
            return
        value = self.values[self.focus]
        if len(value) < limit and not (char == " " and (not value or value.endswith(" "))):
            self.values[self.focus] = value + char
            self.errors.pop(self.focus, None)

    def backspace(self) -> None:
        if self.focus is not None:
            self.values[self.focus] = self.values[self.focus][:-1]

    def set_focus(self, name: str | None) -> None:
        if name is None or name in TEXT_FIELDS:
            self.focus = name

    def next_field(self) -> None:
        """Focus the next text field (none after the last)."""
        names = list(TEXT_FIELDS)
        if self.focus is None:
            return
        index = names.index(self.focus) + 1
        self.focus = names[index] if index < len(names) else None

    def choose(self, name: str, value: str) -> None:
        if name in CHOICE_FIELDS or name in PICKER_FIELDS:
            self.values[name] = value
            self.errors.pop(name, None)

    def build(self, nik: Nik) -> Demographics:
        v = self.values
        return Demographics(
            full_name=v["full_name"], place_of_birth=v["place_of_birth"],
            date_of_birth=nik.birth_date, sex=nik.sex, blood_type=v["blood_type"] or "-",
            address=v["address"], rt=v["rt"], rw=v["rw"],
            kelurahan_desa=v["kelurahan_desa"], kecamatan=v["kecamatan"],
            religion=v["religion"], marital_status=v["marital_status"],
            occupation=v["occupation"], citizenship=v["citizenship"])

    def check(self, nik: Nik, today: date) -> Demographics | None:
        """The demographics when every field is right, else None with ``errors`` set."""
        demographics, problems = demographics_problems(self.build(nik), nik, today)
        self.errors = {}
        for problem in problems:
            choose = CHOOSE.get(problem.part)
            self.errors.setdefault(problem.part, Msg.of(choose) if choose else Msg.pair(
                problem.message_id, problem.message_en))
        return None if problems else demographics

    def first_problem(self) -> str | None:
        """The part of the first problem as the citizen reads the screen, top to bottom
        (a problem of no row first: it is shown above the rows); None when none."""
        rows = list(FORM_ROWS)
        return min(self.errors, default=None,
                   key=lambda part: (rows.index(ROW_OF_PART[part]) + 1
                                     if part in ROW_OF_PART else 0))

    def typing_note(self) -> Msg:
        """What the keyboard page says under the focused field: its problem."""
        name = self.focus
        return self.errors.get(name, NONE) if name is not None else NONE

    def limit_note(self) -> Msg:
        """That the focused field holds as many characters as it takes (a key more types
        nothing): said after its value, in place of the caret; NONE below the limit."""
        name = self.focus
        if name is None or len(self.values[name]) < TEXT_FIELDS[name][2]:
            return NONE
        return Msg.of(N_("(full: {limit} characters)"), "info", limit=TEXT_FIELDS[name][2])

    def first_error(self) -> Msg:
        """The message of :meth:`first_problem` (shown at the top of the form)."""
        part = self.first_problem()
        return NONE if part is None else self.errors[part]
