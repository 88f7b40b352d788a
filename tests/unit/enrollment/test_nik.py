"""NIK and No. KK parsing: tables of real-shaped numbers, then properties."""

from __future__ import annotations

import logging
import string
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.enrollment.nik import (
    KK_PARTS,
    NIK_LENGTH,
    NIK_PARTS,
    PROVINCES,
    InvalidFamilyCardNumber,
    InvalidNik,
    Nik,
    parse_kk,
    parse_nik,
)
from kiosk.errors import InvalidInput

TODAY = date(2025, 6, 1)

# text, province, regency, district, birth date, sex, serial
VALID = [
    ("7204011208850001", "72", "04", "01", date(1985, 8, 12), "M", "0001"),
    ("7204015208850001", "72", "04", "01", date(1985, 8, 12), "F", "0001"),
    ("3171014101000002", "31", "71", "01", date(2000, 1, 1), "F", "0002"),
    ("5171010101250001", "51", "71", "01", date(2025, 1, 1), "M", "0001"),
    ("7204010106250001", "72", "04", "01", date(2025, 6, 1), "M", "0001"),  # born today
    ("7204010206250001", "72", "04", "01", date(1925, 6, 2), "M", "0001"),  # 2025 is future
    ("1101012902000001", "11", "01", "01", date(2000, 2, 29), "M", "0001"),  # leap 2000
    ("1101012902960001", "11", "01", "01", date(1996, 2, 29), "M", "0001"),
    ("9601016902880003", "96", "01", "01", date(1988, 2, 29), "F", "0003"),
    ("8201013112999999", "82", "01", "01", date(1999, 12, 31), "M", "9999"),
    ("9201017112990010", "92", "01", "01", date(1999, 12, 31), "F", "0010"),
    ("6571990101700001", "65", "71", "99", date(1970, 1, 1), "M", "0001"),
]

SEPARATED = [
    "7204 0112 0885 0001",
    "7204.01.120885.0001",
    "7204-01-120885-0001",
    "72 04 01 120885 0001",
    "7204 - 01 - 120885 - 0001",
    "7204  0112  0885  0001",
    "  7204011208850001\n",
    "\t7204 0112 0885 0001 ",
]

INVALID = [
    # format
    ("", "format"),
    ("   ", "format"),
    ("7204O11208850001", "format"),  # letter O for zero
    ("7204/01/120885/0001", "format"),
    ("7204_01_120885_0001", "format"),
    ("7204..01.120885.0001", "format"),
    ("7204.-01.120885.0001", "format"),
    ("-7204011208850001", "format"),
    ("7204011208850001.", "format"),
    ("+627204011208850001", "format"),
    ("7204\t0112 0885 0001", "format"),
    ("7204\x0001120885 0001", "format"),
    ("７２０４０１１２０８８５０００１", "format"),  # full-width digits
    ("٧٢٠٤٠١١٢٠٨٨٥٠٠٠١", "format"),  # Arabic-Indic digits
    ("७२०४०११२०८८५०००१", "format"),  # Devanagari digits
    ("7204011208850001\u200b", "format"),  # zero-width space
    ("NIK 7204011208850001", "format"),
    # length
    ("720401120885001", "length"),
    ("72040112088500011", "length"),
    ("7204 0112", "length"),
    ("1", "length"),
    # province
    ("0004011208850001", "province"),
    ("1004011208850001", "province"),
    ("2004011208850001", "province"),
    ("3704011208850001", "province"),
    ("9704011208850001", "province"),
    ("0000000000000000", "province"),
    # regency, district
    ("7200011208850001", "regency"),
    ("7204001208850001", "district"),
    # birth date
    ("7204010008850001", "birth_date"),  # day 00
    ("7204013208850001", "birth_date"),  # day 32
    ("7204014008850001", "birth_date"),  # day 40: neither a man's nor a woman's day
    ("7204017208850001", "birth_date"),  # woman's day 32
    ("7204011213850001", "birth_date"),  # month 13
    ("7204011200850001", "birth_date"),  # month 00
    ("7204012902010001", "birth_date"),  # 29 Feb 2001 / 1901: no leap year
    ("7204016902010001", "birth_date"),  # same for a woman
    ("7204013002960001", "birth_date"),  # 30 Feb
    ("7204013104900001", "birth_date"),  # 31 Apr
    # serial
    ("7204011208850000", "serial"),
]


@pytest.mark.parametrize(("text", "province", "regency", "district", "born", "sex", "serial"),
                         VALID)
def test_parse_nik_reads_every_field(text: str, province: str, regency: str, district: str,
                                     born: date, sex: str, serial: str) -> None:
    nik = parse_nik(text, today=TODAY)
    assert (nik.province, nik.regency, nik.district) == (province, regency, district)
    assert (nik.birth_date, nik.sex, nik.serial) == (born, sex, serial)
    assert nik.digits == text


@pytest.mark.parametrize("text", SEPARATED)
def test_parse_nik_accepts_typed_separators(text: str) -> None:
    nik = parse_nik(text, today=TODAY)
    assert nik.digits == "7204011208850001"
    assert nik == parse_nik("7204011208850001", today=TODAY)


@pytest.mark.parametrize(("text", "part"), INVALID)
def test_parse_nik_names_the_wrong_part(text: str, part: str) -> None:
    with pytest.raises(InvalidNik) as info:
        parse_nik(text, today=TODAY)
    assert info.value.part == part


def test_parse_nik_refuses_a_birth_date_after_today() -> None:
    # On 1 Jan 1990 a "95" year is 2095 or 1995: both in the future.
    with pytest.raises(InvalidNik) as info:
        parse_nik("7204011208950001", today=date(1990, 1, 1))
    assert info.value.part == "birth_date"
    assert parse_nik("7204011208950001", today=date(1995, 8, 12)).birth_date == date(1995, 8, 12)


def test_parse_nik_picks_the_century_that_keeps_the_birth_date_past() -> None:
    assert parse_nik("7204010106250001", today=date(2025, 6, 1)).birth_date.year == 2025
    assert parse_nik("7204010106250001", today=date(2025, 5, 31)).birth_date.year == 1925


def test_parse_nik_defaults_today_to_the_local_date() -> None:
    assert parse_nik("7204011208850001").birth_date == date(1985, 8, 12)


def test_invalid_nik_is_a_value_error_with_both_languages() -> None:
    with pytest.raises(ValueError, match="province") as info:
        parse_nik("9904011208850001")
    error = info.value
    assert isinstance(error, InvalidInput)
    assert isinstance(error, InvalidNik)
    assert "provinsi" in error.message_id
    assert "province" in error.message_en
    assert error.message_id in str(error)
    assert error.message_en in str(error)
    assert error.message("en") == error.message_en
    assert "9904" not in str(error)


@pytest.mark.parametrize(("part", "word_id", "word_en"), [
    ("length", "16", "16"),
    ("regency", "kabupaten", "regency"),
    ("district", "kecamatan", "district"),
    ("birth_date", "lahir", "birth date"),
    ("serial", "urut", "serial"),
])
def test_invalid_nik_message_names_the_part(part: str, word_id: str, word_en: str) -> None:
    text = {"length": "7204", "regency": "7200011208850001",
            "district": "7204001208850001", "birth_date": "7204013208850001",
            "serial": "7204011208850000"}[part]
    with pytest.raises(InvalidNik) as info:
        parse_nik(text, today=TODAY)
    assert info.value.part == part
    assert word_id in info.value.message_id
    assert word_en in info.value.message_en


def test_nik_repr_and_str_do_not_reveal_the_number(caplog: pytest.LogCaptureFixture) -> None:
    nik = parse_nik("7204015208850001", today=TODAY)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("accidental %s %r", nik, nik)
    for shown in (repr(nik), str(nik), f"{nik}", repr([nik]), caplog.text):
        assert "0001" not in shown
        assert "520885" not in shown
        assert "1985" not in shown
        assert "72-04-01" in shown


def test_province_table_has_the_38_current_provinces() -> None:
    assert len(PROVINCES) == 38
    assert PROVINCES["72"] == "Sulawesi Tengah"
    assert {"11", "19", "21", "31", "36", "51", "53", "61", "65", "71", "76", "81", "82",
            "91", "96"} <= PROVINCES.keys()
    assert parse_nik("7204011208850001", today=TODAY).province_name == "Sulawesi Tengah"


# -- No. KK --------------------------------------------------------------------------------
KK_VALID = [
    ("7204011203150007", date(2015, 3, 12), "0007"),
    ("7204 0112 0315 0007", date(2015, 3, 12), "0007"),
    ("3171.01.010198.0000", date(1998, 1, 1), "0000"),  # serial not over-validated
    ("7204012902000001", date(2000, 2, 29), "0001"),
]

KK_INVALID = [
    ("", "format"),
    ("7204O11203150007", "format"),
    ("７２０４０１１２０３１５０００７", "format"),
    ("72040112031500", "length"),
    ("9904011203150007", "province"),
    ("7200011203150007", "regency"),
    ("7204001203150007", "district"),
    ("7204015203150007", "issue_date"),  # no +40 on a family card
    ("7204010013150007", "issue_date"),
    ("7204012902010007", "issue_date"),
    ("7204013104150007", "issue_date"),
]


@pytest.mark.parametrize(("text", "issued", "serial"), KK_VALID)
def test_parse_kk_reads_region_issue_date_and_serial(text: str, issued: date,
                                                     serial: str) -> None:
    kk = parse_kk(text, today=TODAY)
    assert (kk.province, kk.regency, kk.district) == (text[:2], text[2:4], text.replace(
        " ", "").replace(".", "")[4:6])
    assert kk.issue_date == issued
    assert kk.serial == serial
    assert "".join(c for c in text if c.isascii() and c.isdigit()) == kk.digits


@pytest.mark.parametrize(("text", "part"), KK_INVALID)
def test_parse_kk_names_the_wrong_part(text: str, part: str) -> None:
    with pytest.raises(InvalidFamilyCardNumber) as info:
        parse_kk(text, today=TODAY)
    assert info.value.part == part
    assert isinstance(info.value, InvalidInput)


def test_parse_kk_refuses_an_issue_date_after_today() -> None:
    # On 1 Jan 1990 a "95" year is 2095 or 1995: both in the future.
    with pytest.raises(InvalidFamilyCardNumber) as info:
        parse_kk("7204011203950007", today=date(1990, 1, 1))
    assert info.value.part == "issue_date"


def test_family_card_number_repr_is_masked() -> None:
    kk = parse_kk("7204011203150007", today=TODAY)
    assert "0007" not in repr(kk) and "120315" not in str(kk)


# -- properties ----------------------------------------------------------------------------
def _ddmmyy(born: date, sex: str) -> str:
    return f"{born.day + (40 if sex == 'F' else 0):02d}{born.month:02d}{born.year % 100:02d}"


nik_fields = st.tuples(
    st.sampled_from(sorted(PROVINCES)),
    st.integers(1, 99).map("{:02d}".format),
    st.integers(1, 99).map("{:02d}".format),
    # The century rule is unambiguous over the 100 years ending today.
    st.dates(min_value=date(TODAY.year - 99, 1, 1), max_value=TODAY),
    st.sampled_from(["M", "F"]),
    st.integers(1, 9999).map("{:04d}".format),
)
NOT_ACCEPTED = st.characters(
    blacklist_characters=string.digits + string.whitespace + ".-", blacklist_categories=["Cs"])


@given(nik_fields)
def test_any_valid_nik_parses_to_its_fields(fields: tuple[str, str, str, date, str, str]
                                            ) -> None:
    province, regency, district, born, sex, serial = fields
    text = f"{province}{regency}{district}{_ddmmyy(born, sex)}{serial}"
    nik = parse_nik(text, today=TODAY)
    assert nik == Nik(province, regency, district, born, sex, serial)
    assert nik.digits == text
    assert parse_nik(nik.digits, today=TODAY) == nik


@given(nik_fields, NOT_ACCEPTED, st.integers(0, 16))
def test_any_other_character_is_a_format_error(fields: tuple[str, str, str, date, str, str],
                                               bad: str, at: int) -> None:
    province, regency, district, born, sex, serial = fields
    text = f"{province}{regency}{district}{_ddmmyy(born, sex)}{serial}"
    with pytest.raises(InvalidNik) as info:
        parse_nik(text[:at] + bad + text[at:], today=TODAY)
    assert info.value.part == "format"


@given(st.text())
def test_parse_nik_raises_only_invalid_nik_with_a_known_part(text: str) -> None:
    try:
        nik = parse_nik(text, today=TODAY)
    except InvalidNik as error:
        assert error.part in NIK_PARTS
    else:
        assert len(nik.digits) == NIK_LENGTH


@given(st.text(alphabet=string.digits + " .-", max_size=24))
def test_parse_nik_on_digit_strings_raises_only_known_parts(text: str) -> None:
    try:
        parse_nik(text, today=TODAY)
    except InvalidNik as error:
        assert error.part in NIK_PARTS


@given(st.text(alphabet=string.digits + " .-x", max_size=24))
def test_parse_kk_raises_only_invalid_kk_with_a_known_part(text: str) -> None:
    try:
        parse_kk(text, today=TODAY)
    except InvalidFamilyCardNumber as error:
        assert error.part in KK_PARTS


@pytest.mark.parametrize(("typed", "part"), [
    ("99", "province"), ("9902015", "province"), ("7200", "regency"),
    ("720200", "district"), ("720201991299", "birth_date"),
    ("720201520885000", None), ("7", None), ("720", None), ("72020152", None),
    ("7202015208850000", "serial"), ("7202015208850001", None)])
def test_check_prefix_names_a_fault_once_its_part_is_typed_in_full(
        typed: str, part: str | None) -> None:
    """The identity screen names a wrong part as soon as it is typed (the province after two
    digits), with the parser's own rules (kiosk.enrollment.nik.check_prefix)."""
    from kiosk.enrollment.nik import check_prefix

    if part is None:
        check_prefix(typed, parse_nik, today=date(2025, 1, 1))
        return
    with pytest.raises(InvalidNik) as caught:
        check_prefix(typed, parse_nik, today=date(2025, 1, 1))
    assert caught.value.part == part


def test_check_prefix_takes_the_family_card_s_rules_from_its_parser() -> None:
    from kiosk.enrollment.nik import check_prefix

    with pytest.raises(InvalidFamilyCardNumber) as caught:
        check_prefix("720201321315", parse_kk, today=date(2025, 1, 1))
    assert caught.value.part == "issue_date"
    check_prefix("7202015", parse_kk, today=date(2025, 1, 1))  # a day 52 begun: not yet
