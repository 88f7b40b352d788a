"""The family-card (Kartu Keluarga) data of one person, its validation and its JSON form.

:meth:`Demographics.validate` checks every field and the consistency with the NIK, then
returns a normalized copy (NFC, surrounding whitespace trimmed, runs of spaces collapsed,
RT/RW zero-padded). Errors are :class:`InvalidDemographics` with ``part`` set to the field
name (or ``"eligibility"`` via :class:`NotEligible`) and messages in Indonesian and English.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import asdict, dataclass, fields, replace
from datetime import date
from typing import Any

from kiosk.core.canonical import compact_json
from kiosk.enrollment.nik import Nik
from kiosk.errors import InvalidInput
from kiosk.i18n import N_, bilingual, bilingual_with

__all__ = [
    "BLOOD_TYPES",
    "CITIZENSHIPS",
    "MARITAL_STATUSES",
    "MINIMUM_AGE",
    "RELIGIONS",
    "SEXES",
    "Demographics",
    "InvalidDemographics",
    "NotEligible",
    "age_on",
    "demographics_problems",
    "validate_demographics",
]

BLOOD_TYPES = ("A", "B", "AB", "O", "A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-", "-")
RELIGIONS = ("Islam", "Kristen", "Katolik", "Hindu", "Buddha", "Khonghucu",
             "Kepercayaan terhadap Tuhan YME")
MARITAL_STATUSES = ("Belum Kawin", "Kawin", "Cerai Hidup", "Cerai Mati")
CITIZENSHIPS = ("WNI", "WNA")
SEXES = ("M", "F")
#: e-KTP age: 17, or younger when married or ever married (UU Adminduk art. 63).
MINIMUM_AGE = 17

# field -> (label msgid, as on the demographics screen; max length)
_TEXT_FIELDS: dict[str, tuple[str, int]] = {
    "full_name": (N_("Full name"), 100),
    "place_of_birth": (N_("Place of birth"), 60),
    "address": (N_("Address"), 120),
    "kelurahan_desa": (N_("Village"), 60),
    "kecamatan": (N_("Kecamatan"), 60),
    "occupation": (N_("Occupation"), 60),
}
_NAME_FIELDS = frozenset({"full_name"})
_PLACE_FIELDS = frozenset({"place_of_birth", "kelurahan_desa", "kecamatan"})
_NAME_PUNCT = frozenset(" '’-.")
_PLACE_PUNCT = _NAME_PUNCT | frozenset("()/,")
_SPACES = re.compile(r" {2,}")
_RT_RW = re.compile(r"[0-9]{1,3}")


class InvalidDemographics(InvalidInput):
    """A demographic field is wrong; ``part`` is the field name."""


class NotEligible(InvalidDemographics):
    """The person may not (yet) hold an e-KTP; ``part`` is ``"eligibility"``."""


@dataclass(frozen=True, repr=False)
class Demographics:
    """The family-card fields of one person. ``repr`` is masked: it holds personal data."""

    full_name: str
    place_of_birth: str
    date_of_birth: date
    sex: str
    blood_type: str
    address: str
    rt: str
    rw: str
    kelurahan_desa: str
    kecamatan: str
    religion: str
    marital_status: str
    occupation: str
    citizenship: str

    def __repr__(self) -> str:
        return "Demographics(…)"

    __str__ = __repr__

    def validate(self, nik: Nik, today: date) -> Demographics:
        """Check every field against the rules and ``nik``; return the normalized copy."""
        return validate_demographics(self, nik, today)

    def to_json(self) -> bytes:
        """UTF-8 JSON, keys sorted, the date as ISO 8601."""
        data: dict[str, Any] = asdict(self)
        data["date_of_birth"] = self.date_of_birth.isoformat()
        return compact_json(data)

    @classmethod
    def from_json(cls, raw: bytes) -> Demographics:
        """Inverse of :meth:`to_json`; structural checks only (call :meth:`validate`)."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _error("format", *bilingual('The data cannot be read.')) from None
        if not isinstance(data, dict):
            raise _error("format", *bilingual('The data cannot be read.'))
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(names))
        if unknown:
            raise _error("format", *bilingual('The data has unknown fields.'))
        values: dict[str, Any] = {}
        for name in names:
            value = data.get(name)
            if not isinstance(value, str):
                raise _error(name, *bilingual(N_("Field {name} is missing or not text."),
                                              name=name))
            values[name] = value
        try:
            values["date_of_birth"] = date.fromisoformat(values["date_of_birth"])
        except ValueError:
            raise _error("date_of_birth", *bilingual('The date of birth is not valid.')) from None
        return cls(**values)


def _error(part: str, message_id: str, message_en: str) -> InvalidDemographics:
    return InvalidDemographics(part, message_id, message_en)


def age_on(birth: date, today: date) -> int:
    """Completed years of age on ``today`` (a 29 February birthday counts from 1 March)."""
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _has_control(text: str) -> bool:
    # Cc: C0 and C1 controls incl. NUL; Cf: format chars (bidi overrides, zero-width);
    # Zl/Zp: line and paragraph separators; Cs/Co/Cn: surrogates, private use, unassigned.
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
               for ch in text)


def _field_error(name: str, msgid: str, label: str, **args: object) -> InvalidDemographics:
    """``msgid`` with ``{field}`` the field's label, in both languages."""
    return _error(name, *bilingual_with(msgid, {"field": label}, **args))


def _check_text(name: str, value: str) -> tuple[str, InvalidDemographics | None]:
    label, limit = _TEXT_FIELDS[name]
    if not isinstance(value, str):
        return value, _field_error(name, N_("{field} must be text."), label)
    if _has_control(value):
        return value, _field_error(name, N_("{field} contains control characters."), label)
    text = _SPACES.sub(" ", unicodedata.normalize("NFC", value).strip())
    if not text:
        return text, _field_error(name, N_("{field} is required."), label)
    if len(text) > limit:
        return text, _field_error(name, N_("{field} must be at most {limit} characters."),
                                  label, limit=limit)
    if name in _NAME_FIELDS or name in _PLACE_FIELDS:
        allowed = _NAME_PUNCT if name in _NAME_FIELDS else _PLACE_PUNCT
        digits_ok = name in _PLACE_FIELDS
        for ch in text:
            category = unicodedata.category(ch)
            if category[0] in "LM" or ch in allowed:
                continue
            if digits_ok and "0" <= ch <= "9":
                continue
            if name in _NAME_FIELDS:
                return text, _field_error(name, N_(
                    "{field} may contain only letters, spaces, apostrophes, hyphens and "
                    "dots."), label)
            return text, _field_error(
                name, N_("{field} contains a character that is not allowed."), label)
        if not any(unicodedata.category(ch)[0] == "L" for ch in text):
            return text, _field_error(name, N_("{field} must contain letters."), label)
    return text, None


def _check_choice(name: str, value: object, allowed: tuple[str, ...],
                  label: str) -> InvalidDemographics | None:
    if value in allowed:
        return None
    return _field_error(name, N_("{field} must be one of: {allowed}."), label,
                        allowed=", ".join(allowed))


def demographics_problems(d: Demographics, nik: Nik, today: date
                          ) -> tuple[Demographics, list[InvalidDemographics]]:
    """Every problem with ``d`` (empty when valid), with the normalized copy.

    For a form that marks all wrong fields at once; :func:`validate_demographics` raises
    the first.
    """
    problems: list[InvalidDemographics] = []
    changes: dict[str, str] = {}
    for name in _TEXT_FIELDS:
        text, problem = _check_text(name, getattr(d, name))
        changes[name] = text
        if problem is not None:
            problems.append(problem)
    for name, label in (("rt", N_("RT")), ("rw", N_("RW"))):
        value = getattr(d, name)
        if isinstance(value, str) and _RT_RW.fullmatch(value.strip()):
            changes[name] = value.strip().zfill(3)
        else:
            problems.append(_field_error(name, N_("{field} must be 1-3 digits, e.g. 001."),
                                         label))
    for problem in (
        _check_choice("sex", d.sex, SEXES, N_("Sex")),
        _check_choice("blood_type", d.blood_type, BLOOD_TYPES, N_("Blood type")),
        _check_choice("religion", d.religion, RELIGIONS, N_("Religion")),
        _check_choice("marital_status", d.marital_status, MARITAL_STATUSES,
                      N_("Marital status")),
        _check_choice("citizenship", d.citizenship, CITIZENSHIPS, N_("Citizenship")),
    ):
        if problem is not None:
            problems.append(problem)
    if not isinstance(d.date_of_birth, date):
        problems.append(_error("date_of_birth", *bilingual('The date of birth is not valid.')))
    elif d.date_of_birth != nik.birth_date:
        problems.append(_error("date_of_birth", *bilingual(
            'The date of birth does not match the NIK.')))
    elif d.date_of_birth > today:
        problems.append(_error("date_of_birth", *bilingual('The date of birth is in the future.')))
    if d.sex in SEXES and d.sex != nik.sex:
        problems.append(_error("sex", *bilingual('The sex does not match the NIK.')))
    if (not problems and age_on(d.date_of_birth, today) < MINIMUM_AGE
            and d.marital_status == "Belum Kawin"):
        problems.append(NotEligible("eligibility", *bilingual(N_(
            "The e-KTP is for residents aged {age} or over, or married or once married. "
            "Please come back when you are {age}."), age=MINIMUM_AGE)))
    return replace(d, **changes), problems


def validate_demographics(d: Demographics, nik: Nik, today: date) -> Demographics:
    """Check ``d`` (fields, NIK consistency, eligibility); return the normalized copy.

    Raises the first :class:`InvalidDemographics` (or :class:`NotEligible`) found.
    """
    normalized, problems = demographics_problems(d, nik, today)
    if problems:
        raise problems[0]
    return normalized
