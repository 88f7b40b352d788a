"""Synthetic citizens: deterministic, valid, eligible, unique, from Poso."""

from __future__ import annotations

from datetime import date
from itertools import islice

import pytest

from kiosk.core.vocabulary import LANGUAGES
from kiosk.enrollment.demographics import validate_demographics
from kiosk.enrollment.nik import parse_kk, parse_nik
from kiosk.enrollment.session import FINGERS, MISSING_FINGER_REASONS
from kiosk.enrollment.synthetic import KECAMATAN, SyntheticCitizen, citizens

FIRST = list(islice(citizens(42), 10_000))


def test_same_seed_gives_the_same_citizens() -> None:
    again = list(islice(citizens(42), 50))
    assert [(c.nik, c.kk, c.demographics) for c in again] == [
        (c.nik, c.kk, c.demographics) for c in FIRST[:50]]


def test_other_seed_gives_other_citizens() -> None:
    other = [c.demographics.full_name for c in islice(citizens(43), 50)]
    assert other != [c.demographics.full_name for c in FIRST[:50]]


@pytest.mark.parametrize("today", [date(2025, 1, 1), date(2030, 6, 15), date(2039, 12, 31)])
def test_every_citizen_is_valid_and_eligible(today: date) -> None:
    for citizen in FIRST[:2000]:
        nik = parse_nik(citizen.nik, today=today)
        kk = parse_kk(citizen.kk, today=today)
        assert (nik.province, nik.regency) == ("72", "02") == (kk.province, kk.regency)
        district, villages = KECAMATAN[citizen.demographics.kecamatan]
        assert nik.district == kk.district == district
        assert citizen.demographics.kelurahan_desa in villages
        assert validate_demographics(citizen.demographics, nik, today) == citizen.demographics


def test_names_and_niks_are_unique_in_the_first_ten_thousand() -> None:
    names = {c.demographics.full_name for c in FIRST}
    niks = {parse_nik(c.nik, today=date(2025, 6, 1)).digits for c in FIRST}
    assert len(names) == len(niks) == 10_000


def test_names_sometimes_carry_apostrophes_and_hyphens() -> None:
    names = [c.demographics.full_name for c in FIRST[:1000]]
    assert any("'" in n for n in names) and any("-" in n for n in names)


def test_number_text_is_sometimes_typed_with_separators() -> None:
    texts = [c.nik for c in FIRST[:1000]]
    assert any(" " in t for t in texts) and any("." in t for t in texts)
    assert sum(t.isdigit() for t in texts) > 700


def test_about_three_percent_miss_one_finger_and_are_assisted() -> None:
    missing = [c for c in FIRST if c.missing_fingers]
    assert 200 <= len(missing) <= 400
    for citizen in missing:
        assert len(citizen.missing_fingers) == 1 and citizen.assisted
        (code, reason), = citizen.missing_fingers.items()
        assert code in FINGERS and reason in MISSING_FINGER_REASONS


def test_both_languages_and_both_sexes_occur() -> None:
    assert {c.language for c in FIRST[:500]} == set(LANGUAGES)
    assert {c.demographics.sex for c in FIRST[:500]} == {"M", "F"}


def test_repr_does_not_leak_the_fake_person() -> None:
    citizen: SyntheticCitizen = FIRST[0]
    shown = repr(citizen) + str(citizen)
    assert citizen.demographics.full_name not in shown and citizen.nik not in shown
