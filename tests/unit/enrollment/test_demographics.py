"""Demographics: field rules, NIK consistency, eligibility, normalization and JSON."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk.enrollment.demographics import (
    Demographics,
    InvalidDemographics,
    NotEligible,
    age_on,
    demographics_problems,
    validate_demographics,
)
from kiosk.enrollment.nik import parse_nik
from kiosk.errors import InvalidInput

TODAY = date(2025, 6, 1)
NIK = parse_nik("7204015208850001", today=TODAY)  # woman born 12 Aug 1985

BASE = Demographics(
    full_name="Nur'aini Tobondo",
    place_of_birth="Poso",
    date_of_birth=date(1985, 8, 12),
    sex="F",
    blood_type="O",
    address="Jl. Pulau Sumatera No. 12",
    rt="001",
    rw="003",
    kelurahan_desa="Gebangrejo",
    kecamatan="Poso Kota",
    religion="Islam",
    marital_status="Kawin",
    occupation="Wiraswasta",
    citizenship="WNI",
)

ACCEPTED = [
    ("full_name", "Nur'aini"),
    ("full_name", "Nur’aini"),
    ("full_name", "Siti Al-Hamid"),
    ("full_name", "I Gusti Ngurah"),
    ("full_name", "Ni Luh Putu Ayu"),
    ("full_name", "Muh. Rizal"),
    ("full_name", "Ñoño Pérez"),
    ("full_name", "林 美玲"),
    ("full_name", "A" * 100),
    ("place_of_birth", "Ujung Pandang"),
    ("place_of_birth", "Kota Palu (Sulteng)"),
    ("address", "Jl. Trans Sulawesi Km. 5, Lorong 2/B"),
    ("kelurahan_desa", "Lawanga Tawongan"),
    ("kecamatan", "Poso Pesisir Utara"),
    ("occupation", "Petani/Pekebun"),
    ("blood_type", "-"),
    ("blood_type", "AB-"),
    ("blood_type", "O+"),
    ("religion", "Kepercayaan terhadap Tuhan YME"),
    ("religion", "Khonghucu"),
    ("marital_status", "Cerai Mati"),
    ("citizenship", "WNA"),
    ("rt", "000"),
]

REFUSED = [
    ("full_name", ""),
    ("full_name", "   "),
    ("full_name", "Siti 2"),
    ("full_name", "R1zal"),
    ("full_name", "Siti\x00Aminah"),
    ("full_name", "Siti\n"),
    ("full_name", "Siti\x85Aminah"),  # C1 control (NEL)
    ("full_name", "Siti\u202eAminah"),  # bidi override
    ("full_name", "Siti\u200bAminah"),  # zero-width space
    ("full_name", "Siti@Aminah"),
    ("full_name", "Siti_Aminah"),
    ("full_name", "Siti, Aminah"),
    ("full_name", "..."),
    ("full_name", "'-"),
    ("full_name", "A" * 101),
    ("full_name", "Siti ٢"),  # Arabic-Indic digit: a digit, not a letter
    ("place_of_birth", ""),
    ("place_of_birth", "Poso\t"),
    ("place_of_birth", "Poso; DROP"),
    ("address", "Jl. Kartini\r\nNo. 3"),
    ("address", "x" * 121),
    ("address", "\x1b[31m"),
    ("kelurahan_desa", ""),
    ("kecamatan", "Poso\x7f"),
    ("occupation", ""),
    ("occupation", "x" * 61),
    ("rt", ""),
    ("rt", "0001"),
    ("rt", "A01"),
    ("rt", "１"),
    ("rw", "-1"),
    ("blood_type", "C"),
    ("blood_type", "a"),
    ("blood_type", ""),
    ("religion", "islam"),
    ("religion", "Atheis"),
    ("marital_status", "Menikah"),
    ("citizenship", "WNI "),
    ("citizenship", "Indonesia"),
    ("sex", "L"),
    ("sex", "M"),  # the NIK says F
    ("date_of_birth", date(1985, 8, 13)),  # the NIK says 12 Aug
]


@pytest.mark.parametrize(("name", "value"), ACCEPTED)
def test_validate_accepts_real_values(name: str, value: str) -> None:
    checked = validate_demographics(replace(BASE, **{name: value}), NIK, TODAY)
    assert getattr(checked, name) == unicodedata.normalize("NFC", value)


@pytest.mark.parametrize(("name", "value"), REFUSED)
def test_validate_refuses_with_the_field_as_part(name: str, value: object) -> None:
    with pytest.raises(InvalidDemographics) as info:
        validate_demographics(replace(BASE, **{name: value}), NIK, TODAY)
    assert info.value.part == name
    assert isinstance(info.value, InvalidInput) and isinstance(info.value, ValueError)
    assert info.value.message_id and info.value.message_en
    assert info.value.message_id != info.value.message_en


def test_method_form_matches_the_function() -> None:
    assert BASE.validate(NIK, TODAY) == validate_demographics(BASE, NIK, TODAY) == BASE


def test_validate_normalizes_nfc_whitespace_and_rt_rw() -> None:
    messy = replace(BASE, full_name="  Jose\u0301   Tobondo ", rt="1", rw="12",
                    address=" Jl. Kartini  No. 3 ")
    checked = validate_demographics(messy, NIK, TODAY)
    assert checked.full_name == "José Tobondo"
    assert unicodedata.is_normalized("NFC", checked.full_name)
    assert (checked.rt, checked.rw) == ("001", "012")
    assert checked.address == "Jl. Kartini No. 3"


def test_problems_lists_every_wrong_field() -> None:
    _, problems = demographics_problems(
        replace(BASE, full_name="R2D2", religion="Jedi", rt="x"), NIK, TODAY)
    assert [p.part for p in problems] == ["full_name", "rt", "religion"]


# born, marital status, today, eligible
ELIGIBILITY = [
    (date(2010, 1, 1), "Belum Kawin", TODAY, False),
    (date(2010, 1, 1), "Kawin", TODAY, True),
    (date(2010, 1, 1), "Cerai Hidup", TODAY, True),
    (date(2008, 6, 1), "Belum Kawin", TODAY, True),  # 17th birthday today
    (date(2008, 6, 2), "Belum Kawin", TODAY, False),  # 17 tomorrow
    (date(2008, 2, 29), "Belum Kawin", date(2025, 2, 28), False),
    (date(2008, 2, 29), "Belum Kawin", date(2025, 3, 1), True),
    (date(1940, 1, 1), "Cerai Mati", TODAY, True),
]


@pytest.mark.parametrize(("born", "marital", "today", "eligible"), ELIGIBILITY)
def test_eligibility_is_age_17_or_married(born: date, marital: str, today: date,
                                         eligible: bool) -> None:
    nik = parse_nik(f"720401{born:%d%m%y}0001", today=today)
    person = replace(BASE, date_of_birth=born, sex="M", marital_status=marital)
    if eligible:
        validate_demographics(person, nik, today)
        return
    with pytest.raises(NotEligible) as info:
        validate_demographics(person, nik, today)
    assert info.value.part == "eligibility"
    assert "17" in info.value.message_id and "17" in info.value.message_en


def test_age_on_counts_completed_years() -> None:
    assert age_on(date(1985, 8, 12), date(2025, 8, 11)) == 39
    assert age_on(date(1985, 8, 12), date(2025, 8, 12)) == 40


def test_demographics_repr_hides_personal_data() -> None:
    shown = repr(BASE) + str(BASE) + repr([BASE])
    assert "Nur" not in shown and "Tobondo" not in shown and "1985" not in shown


def test_json_round_trips() -> None:
    raw = BASE.to_json()
    assert isinstance(raw, bytes)
    assert Demographics.from_json(raw) == BASE
    accented = replace(BASE, full_name="José Tobondo").to_json()
    assert "José".encode() in accented  # UTF-8, not \\u escapes


@pytest.mark.parametrize(("raw", "part"), [
    (b"not json", "format"),
    (b"\xff\xfe", "format"),
    (b"[]", "format"),
    (BASE.to_json().replace(b'"rt":"001",', b""), "rt"),
    (BASE.to_json().replace(b'"rt":"001"', b'"rt":1'), "rt"),
    (BASE.to_json().replace(b'"rt":"001"', b'"rt":"001","extra":"x"'), "format"),
    (BASE.to_json().replace(b'"1985-08-12"', b'"12-08-1985"'), "date_of_birth"),
])
def test_from_json_refuses_malformed_data(raw: bytes, part: str) -> None:
    with pytest.raises(InvalidDemographics) as info:
        Demographics.from_json(raw)
    assert info.value.part == part


@given(st.text(max_size=200), st.text(max_size=50), st.dates())
def test_json_round_trips_any_text(name: str, occupation: str, born: date) -> None:
    person = replace(BASE, full_name=name, occupation=occupation, date_of_birth=born)
    assert Demographics.from_json(person.to_json()) == person
