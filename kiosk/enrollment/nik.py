"""NIK (Nomor Induk Kependudukan) and No. KK (family-card number) parsing.

A NIK is 16 digits::

    72 04 01 120885 0001
    |  |  |  |      '-- serial (0001..9999)
    |  |  |  '--------- birth date DDMMYY; women add 40 to the day (120885 -> 520885)
    |  |  '------------ district (kecamatan), non-zero
    |  '--------------- regency or city (kabupaten/kota), non-zero
    '------------------ province, one of the 38 current codes

A No. KK has the same region prefix, then the issue date DDMMYY (no +40) and a serial.

People type numbers with spaces, dots or hyphens between groups; those are accepted. Anything
else (letters, other punctuation, full-width or Arabic-Indic digits) is refused: only ASCII
``0``-``9`` count as digits, never ``str.isdigit()``.

>>> nik = parse_nik("7204 0152 0885 0001", today=date(2025, 1, 1))
>>> (nik.province, nik.regency, nik.birth_date, nik.sex)
('72', '04', datetime.date(1985, 8, 12), 'F')
>>> nik
Nik(72-04-01-…)
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from kiosk.core.vocabulary import NIK_LENGTH
from kiosk.errors import InvalidInput
from kiosk.i18n import N_, bilingual

__all__ = [
    "NIK_LENGTH",
    "NIK_PARTS",
    "PROVINCES",
    "FamilyCardNumber",
    "InvalidFamilyCardNumber",
    "InvalidNik",
    "Nik",
    "check_prefix",
    "parse_kk",
    "parse_nik",
]

#: The 38 provinces with their Kemendagri codes (as of the 2022 Papua split).
PROVINCES: dict[str, str] = {
    "11": "Aceh",
    "12": "Sumatera Utara",
    "13": "Sumatera Barat",
    "14": "Riau",
    "15": "Jambi",
    "16": "Sumatera Selatan",
    "17": "Bengkulu",
    "18": "Lampung",
    "19": "Kepulauan Bangka Belitung",
    "21": "Kepulauan Riau",
    "31": "DKI Jakarta",
    "32": "Jawa Barat",
    "33": "Jawa Tengah",
    "34": "DI Yogyakarta",
    "35": "Jawa Timur",
    "36": "Banten",
    "51": "Bali",
    "52": "Nusa Tenggara Barat",
    "53": "Nusa Tenggara Timur",
    "61": "Kalimantan Barat",
    "62": "Kalimantan Tengah",
    "63": "Kalimantan Selatan",
    "64": "Kalimantan Timur",
    "65": "Kalimantan Utara",
    "71": "Sulawesi Utara",
    "72": "Sulawesi Tengah",
    "73": "Sulawesi Selatan",
    "74": "Sulawesi Tenggara",
    "75": "Gorontalo",
    "76": "Sulawesi Barat",
    "81": "Maluku",
    "82": "Maluku Utara",
    "91": "Papua",
    "92": "Papua Barat",
    "93": "Papua Selatan",
    "94": "Papua Tengah",
    "95": "Papua Pegunungan",
    "96": "Papua Barat Daya",
}

#: Every value ``InvalidNik.part`` can take.
NIK_PARTS = ("format", "length", "province", "regency", "district", "birth_date", "serial")
#: Every value ``InvalidFamilyCardNumber.part`` can take.
KK_PARTS = ("format", "length", "province", "regency", "district", "issue_date")

#: Where each part the digits can get wrong lies in a NIK or No. KK: (start, end) digits.
PART_SPANS: dict[str, tuple[int, int]] = {
    "province": (0, 2), "regency": (2, 4), "district": (4, 6), "birth_date": (6, 12),
    "issue_date": (6, 12), "serial": (12, 16)}

_FEMALE_DAY_OFFSET = 40  # Dukcapil adds 40 to a woman's birth day
# Digit groups joined by one separator: a dot or hyphen (spaces around it tolerated) or spaces.
_SHAPE = re.compile(r"[0-9]+(?:(?: *[.-] *| +)[0-9]+)*")
_SEPARATORS = str.maketrans("", "", " .-")


class InvalidNik(InvalidInput):
    """A NIK is wrong; ``part`` is one of :data:`NIK_PARTS` and the message names it."""


class InvalidFamilyCardNumber(InvalidInput):
    """A No. KK is wrong; ``part`` is one of :data:`KK_PARTS` and the message names it."""


# part -> catalog msgid (Indonesian in kiosk/locale); the number itself is never put in a
# message ({digits} is NIK_LENGTH).
_NIK_MESSAGES: dict[str, str] = {
    "format": N_('The NIK may contain only digits 0-9 (spaces, dots or hyphens allowed).'),
    "length": N_('The NIK must be {digits} digits.'),
    "province": N_("The NIK's province code (digits 1-2) is not a known province."),
    "regency": N_("The NIK's regency/city code (digits 3-4) cannot be 00."),
    "district": N_("The NIK's district code (digits 5-6) cannot be 00."),
    "birth_date": N_("The NIK's birth date (digits 7-12) is not a valid past date."),
    "serial": N_("The NIK's serial number (digits 13-16) cannot be 0000."),
}

# The parts the keypad can reach are said under the KK field (the identity screen): each in
# two lines of its column on the 7-inch panel, so "family card's", not "family-card number's".
_KK_MESSAGES: dict[str, str] = {
    "format": N_(
        'The family-card number may contain only digits 0-9 (spaces, dots or hyphens allowed).'),
    "length": N_('The family-card number must be {digits} digits.'),
    "province": N_("The family card's province code (digits 1-2) is not known."),
    "regency": N_("The family card's regency/city code (digits 3-4) cannot be 00."),
    "district": N_("The family card's district code (digits 5-6) cannot be 00."),
    "issue_date": N_("The family card's issue date (digits 7-12) is not a valid past date."),
}


def _nik_error(part: str) -> InvalidNik:
    return InvalidNik(part, *bilingual(_NIK_MESSAGES[part], digits=NIK_LENGTH))


def _kk_error(part: str) -> InvalidFamilyCardNumber:
    return InvalidFamilyCardNumber(part, *bilingual(_KK_MESSAGES[part], digits=NIK_LENGTH))


def _digits_of(text: object) -> str | None:
    """The ASCII digits of ``text`` with typed separators removed; None when not that shape."""
    if not isinstance(text, str):
        return None
    core = text.strip(string.whitespace)
    if not core.isascii() or _SHAPE.fullmatch(core) is None:
        return None
    return core.translate(_SEPARATORS)


def _region_digits(text: object,
                   error: Callable[[str], InvalidInput]) -> tuple[str, str, str, str]:
    """The 16 digits of a NIK or No. KK and its province, regency and district codes.

    The two numbers share this prefix and its rules; the first wrong part, in the order
    format, length, province, regency, district, raises ``error(part)``.
    """
    digits = _digits_of(text)
    if digits is None:
        raise error("format")
    if len(digits) != NIK_LENGTH:
        raise error("length")
    province, regency, district = digits[0:2], digits[2:4], digits[4:6]
    if province not in PROVINCES:
        raise error("province")
    if regency == "00":
        raise error("regency")
    if district == "00":
        raise error("district")
    return digits, province, regency, district


def _two_digit_year_date(day: int, month: int, yy: int, today: date) -> date | None:
    """The latest real date ``day``/``month``/``yy`` that is not after ``today``, or None."""
    for century in (2000, 1900):
        try:
            candidate = date(century + yy, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    return None


@dataclass(frozen=True, repr=False)
class _RegionalNumber:
    """What a NIK and a No. KK share: the region prefix, and a ``repr`` masked to it so a
    stray log line does not leak the number."""

    province: str
    regency: str
    district: str

    @property
    def masked(self) -> str:
        """Region only, e.g. ``72-04-01-…``: safe to show or log."""
        return f"{self.province}-{self.regency}-{self.district}-…"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.masked})"

    __str__ = __repr__


@dataclass(frozen=True, repr=False)
class Nik(_RegionalNumber):
    """A parsed, valid NIK. ``repr`` is masked so a stray log line does not leak it."""

    birth_date: date
    sex: str
    serial: str

    @property
    def digits(self) -> str:
        """The full 16-digit number."""
        day = self.birth_date.day + (_FEMALE_DAY_OFFSET if self.sex == "F" else 0)
        dob = f"{day:02d}{self.birth_date.month:02d}{self.birth_date.year % 100:02d}"
        return f"{self.province}{self.regency}{self.district}{dob}{self.serial}"

    @property
    def province_name(self) -> str:
        """The province's name, e.g. "Sulawesi Tengah"."""
        return PROVINCES[self.province]


@dataclass(frozen=True, repr=False)
class FamilyCardNumber(_RegionalNumber):
    """A parsed No. KK (family-card number). ``repr`` is masked like :class:`Nik`'s."""

    issue_date: date
    serial: str

    @property
    def digits(self) -> str:
        """The full 16-digit number."""
        d = self.issue_date
        return (f"{self.province}{self.regency}{self.district}"
                f"{d.day:02d}{d.month:02d}{d.year % 100:02d}{self.serial}")


def parse_nik(text: str, *, today: date | None = None) -> Nik:
    """Parse and check a NIK as a person typed it.

    ``today`` (default: the local date) bounds the birth date and picks the century of the
    two-digit year: 20xx unless that would be after ``today``, then 19xx.

    Raises :class:`InvalidNik` whose ``part`` names the first wrong part, in the order
    format, length, province, regency, district, birth_date, serial.
    """
    today = today or date.today()
    digits, province, regency, district = _region_digits(text, _nik_error)
    day, month, yy = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    sex = "F" if day > _FEMALE_DAY_OFFSET else "M"
    if sex == "F":
        day -= _FEMALE_DAY_OFFSET
    birth_date = _two_digit_year_date(day, month, yy, today)
    if birth_date is None:
        raise _nik_error("birth_date")
    serial = digits[12:16]
    if serial == "0000":
        raise _nik_error("serial")
    return Nik(province, regency, district, birth_date, sex, serial)


def parse_kk(text: str, *, today: date | None = None) -> FamilyCardNumber:
    """Parse and check a No. KK (Nomor Kartu Keluarga) as a person typed it.

    Checks the region prefix like :func:`parse_nik` and that digits 7-12 are a real issue
    date DDMMYY not after ``today``; the serial is not checked (issuers vary).
    Raises :class:`InvalidFamilyCardNumber`.
    """
    today = today or date.today()
    digits, province, regency, district = _region_digits(text, _kk_error)
    issue_date = _two_digit_year_date(int(digits[6:8]), int(digits[8:10]), int(digits[10:12]),
                                      today)
    if issue_date is None:
        raise _kk_error("issue_date")
    return FamilyCardNumber(province, regency, district, issue_date, digits[12:16])


def check_prefix(typed: str, parse: Callable[..., object], *,
                 today: date | None = None) -> None:
    """Check the digits of a NIK or No. KK typed so far with its own parser (``parse``:
    :func:`parse_nik` or :func:`parse_kk`, so no rule is written twice): raise its error when
    a part typed in full is already wrong, whatever digits follow (the province after two
    digits, the birth date after twelve); nothing while every part typed in full is right.
    All 16 digits: as ``parse``.

    The parts are checked in the order they lie in the number, so the rest is filled in
    with any digits and an error is kept only when its part has been typed in full.

    >>> try:
    ...     check_prefix("99", parse_nik)
    ... except InvalidNik as exc:
    ...     exc.part
    'province'
    >>> check_prefix("720", parse_nik)  # the regency begun: nothing wrong yet
    """
    if len(typed) >= NIK_LENGTH:
        parse(typed, today=today)
        return
    try:
        parse(typed + "1" * (NIK_LENGTH - len(typed)), today=today)
    except InvalidInput as exc:
        _start, end = PART_SPANS.get(exc.part, (0, NIK_LENGTH))
        if end <= len(typed):
            raise
